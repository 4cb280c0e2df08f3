#!/usr/bin/env bash
# Builds kproxy's kube-proxy OCI image archive from this checkout, reproducibly:
#
#   scripts/image.sh [--out FILE] [--build-dir DIR] [--rootfs DIR] [--binary FILE]
#
# 1. the binary, without tests (cmake -DKPROXY_BUILD_TESTS=OFF; `scripts/setup.sh --build-only`
#    installs what that needs), checkout paths mapped away, stripped;
# 2. a Debian bookworm root filesystem from Debian packages (mmdebstrap --variant=essential) with the
#    binary's runtime libraries (found from its NEEDED entries and dpkg), iptables (legacy and nft),
#    ipset, conntrack and kmod; no docs, man pages or locales;
# 3. one layer, packed by scripts/oci_pack.py into an OCI layout archive with docker's manifest.json
#    (podman load, docker load, ctr images import, skopeo take it), named kproxy/kube-proxy:VERSION,
#    labelled with org.opencontainers.image.{version,revision,source,created,licenses}.
#
# SOURCE_DATE_EPOCH is the commit's time unless set; the same commit gives the same digest.
# Default output: build/image/kube-proxy-VERSION.oci.tar. Needs root (mmdebstrap --mode=root) and
# Debian's mirror (KPROXY_IMAGE_MIRRORS: sources lines separated by '|' to use others).
# KPROXY_IMAGE_SOURCE: the source label's URL; KPROXY_IMAGE_JOBS: ninja's -j (2).
# --rootfs DIR keeps the root filesystem there (tests run the image's own programs from it).
# --binary FILE packs that kube-proxy instead of building one (its revision label is still HEAD's).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

out="" build_dir="$repo/build-image" keep_rootfs="" binary=""
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --rootfs) keep_rootfs=$2; shift 2 ;;
    --binary) binary=$(realpath "$2"); shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "image.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (mmdebstrap --mode=root builds the root filesystem)"
for tool in mmdebstrap cmake ninja git python3 dpkg-query; do
  command -v "$tool" >/dev/null || die "$tool missing: run scripts/setup.sh --build-only"
done

# shellcheck source=/dev/null
version=$(sed -n 's/^KPROXY_VERSION=//p' VERSION)
release_line=$(sed -n 's/^KUBERNETES_RELEASE_LINE=//p' VERSION)
[[ -n $version ]] || die "VERSION has no KPROXY_VERSION"
commit=$(git rev-parse HEAD 2>/dev/null || echo "${KPROXY_GIT_COMMIT:-unknown}")
revision=$commit
if git rev-parse HEAD >/dev/null 2>&1 && [[ -n $(git status --porcelain --untracked-files=no) ]]; then
  revision="$commit-dirty"
  echo "image.sh: WARNING: the work tree has uncommitted changes; the image is not reproducible from $commit" >&2
fi
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
# Where the source is: KPROXY_IMAGE_SOURCE, else origin's URL when it is a network one (a local
# path would make the label, and so the digest, depend on where the clone sits), else "unknown".
source_url=${KPROXY_IMAGE_SOURCE:-$(git config --get remote.origin.url 2>/dev/null || true)}
[[ $source_url =~ ^(https?://|ssh://|git@) ]] || source_url=${KPROXY_IMAGE_SOURCE:-unknown}
out=${out:-$repo/build/image/kube-proxy-$version.oci.tar}
mkdir -p "$(dirname "$out")"
started=$(date +%s)

# ---- 1. the binary -----------------------------------------------------------------------------
if [[ -z $binary ]]; then
  echo "image.sh: building kube-proxy (tests off) in $build_dir"
  # Source paths mapped away (__FILE__ in log lines, debug info and so the build ID): the same
  # commit gives the same binary wherever it is checked out.
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKPROXY_BUILD_TESTS=OFF \
    "-DCMAKE_CXX_FLAGS=-ffile-prefix-map=$repo/=" "-DCMAKE_C_FLAGS=-ffile-prefix-map=$repo/=" >/dev/null
  nice ninja -C "$build_dir" -j "${KPROXY_IMAGE_JOBS:-2}" kube-proxy >/dev/null
  binary=$build_dir/bin/kube-proxy
fi
[[ -x $binary ]] || die "no kube-proxy binary at $binary"

# The Debian packages that hold the binary's shared libraries (ldd: NEEDED, transitively). One
# dpkg-query for all of them (each call reads every package's file list); usrmerge means a library
# ldd finds under /lib may be registered under /usr/lib, or the other way round.
mapfile -t libs < <(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
owners() { dpkg-query -S "$@" 2>/dev/null | sed -n 's/^\([^:,]*\)[^ ]*: \(.*\)$/\1 \2/p'; }
declare -A owner=()
while read -r pkg path; do owner[$path]=$pkg; done < <(owners "${libs[@]}")
alternates=()
for lib in "${libs[@]}"; do
  [[ -n ${owner[$lib]:-} ]] || alternates+=("$(realpath "$lib")" "${lib#/usr}" "/usr$lib")
done
if ((${#alternates[@]})); then
  while read -r pkg path; do owner[$path]=$pkg; done < <(owners "${alternates[@]}")
fi
runtime_packages=()
for lib in "${libs[@]}"; do
  pkg=${owner[$lib]:-${owner[$(realpath "$lib")]:-${owner[${lib#/usr}]:-${owner[/usr$lib]:-}}}}
  [[ -n $pkg ]] || die "no Debian package owns $lib (needed by kube-proxy)"
  runtime_packages+=("$pkg")
done
mapfile -t runtime_packages < <(printf '%s\n' "${runtime_packages[@]}" | sort -u)
echo "image.sh: runtime packages: ${runtime_packages[*]}"

# ---- 2. the root filesystem --------------------------------------------------------------------
work=$(mktemp -d /tmp/kproxy-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rootfs=$work/rootfs
mirrors=()
if [[ -n ${KPROXY_IMAGE_MIRRORS:-} ]]; then
  IFS='|' read -r -a mirrors <<<"$KPROXY_IMAGE_MIRRORS"
else
  mirrors=("deb http://deb.debian.org/debian bookworm main"
           "deb http://deb.debian.org/debian bookworm-updates main"
           "deb http://deb.debian.org/debian-security bookworm-security main")
fi
include=$(IFS=,; echo "iptables,ipset,conntrack,kmod,${runtime_packages[*]}")
echo "image.sh: mmdebstrap bookworm (essential + $include)"
excludes=()
for p in /usr/share/doc/'*' /usr/share/man/'*' /usr/share/info/'*' /usr/share/locale/'*' \
         /usr/share/lintian/'*' /usr/share/linda/'*' /usr/share/common-licenses/'*'; do
  excludes+=("--dpkgopt=path-exclude=$p")
done
# merged-usr hook: /usr merged by mmdebstrap itself, not by the usrmerge package (which pulls in
# perl: 50 MB). The .debs are kept in build/image-cache so a second build downloads nothing.
cache=$repo/build/image-cache
mkdir -p "$cache"
mmdebstrap --quiet --mode=root --format=directory --variant=essential --include="$include" \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  "${excludes[@]}" --dpkgopt=path-include=/usr/share/doc/'*'/copyright \
  --dpkgopt=path-include=/usr/share/locale/locale.alias \
  --skip=download/empty --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
  --setup-hook="sync-in $cache /var/cache/apt/archives" \
  --customize-hook="sync-out /var/cache/apt/archives $cache" \
  bookworm "$rootfs" "${mirrors[@]}" >&2

install -D -m 0755 "$binary" "$rootfs/usr/local/bin/kube-proxy"
strip --strip-unneeded "$rootfs/usr/local/bin/kube-proxy"
install -D -m 0644 LICENSE "$rootfs/usr/share/doc/kproxy/copyright"
# What a run leaves behind (logs, caches, backups) would make two builds differ; the image needs none.
rm -rf "$rootfs"/var/log/* "$rootfs"/var/cache/* "$rootfs"/var/lib/apt/lists/* \
       "$rootfs"/var/lib/dpkg/*-old "$rootfs"/dev/* "$rootfs"/tmp/* "$rootfs"/run/*
: >"$rootfs/etc/machine-id"
find "$rootfs" -name '*.pyc' -delete

# ---- 3. the archive ----------------------------------------------------------------------------
python3 scripts/oci_pack.py "$rootfs" "$out" --name docker.io/kproxy/kube-proxy --tag "$version" \
  --epoch "$SOURCE_DATE_EPOCH" --arch "$(dpkg --print-architecture)" \
  --label "org.opencontainers.image.title=kproxy kube-proxy" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" \
  --label "org.opencontainers.image.source=$source_url" \
  --label "org.opencontainers.image.licenses=Apache-2.0" \
  --label "org.opencontainers.image.created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)" \
  --label "io.kproxy.kubernetes-release-line=$release_line" >"$work/pack.txt"
cat "$work/pack.txt"
if [[ -n $keep_rootfs ]]; then
  rm -rf "$keep_rootfs"
  mkdir -p "$(dirname "$keep_rootfs")"
  mv "$rootfs" "$keep_rootfs"
fi
echo "archive=$out"
echo "archive_sha256=$(sha256sum "$out" | cut -d' ' -f1)"
echo "archive_bytes=$(stat -c %s "$out")"
echo "image.sh: done in $(($(date +%s) - started)) s"
