#!/usr/bin/env bash
# Downloads (through apt only) and unpacks Debian's cloud kernel for the IPVS VM test, cached:
#   fetch_kernel.sh CACHE_DIR  ->  prints the unpacked root (CACHE_DIR/linux-<ver>) on stdout.
# The root holds boot/vmlinuz-<ver> and lib/modules/<ver> with modules.dep (depmod run here).
set -euo pipefail
cache=${1:?usage: fetch_kernel.sh CACHE_DIR}
mkdir -p "$cache"
resolve() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ && !found {print $2; found = 1}'; }
pkg=$(resolve || true)
if [[ -z "$pkg" ]] && ! ls -d "$cache"/linux-image-*-cloud-amd64 >/dev/null 2>&1; then
  apt-get update -qq >&2 || true  # a fresh machine has no package lists yet
  pkg=$(resolve || true)
fi
if [[ -z "$pkg" ]]; then
  # Fall back to a kernel already cached (e.g. the package index was not refreshed).
  root=$(ls -d "$cache"/linux-image-*-cloud-amd64 2>/dev/null | tail -1 || true)
  [[ -n "$root" ]] || { echo "fetch_kernel: cannot resolve linux-image-cloud-amd64 (apt-get update?)" >&2; exit 1; }
  echo "$root"
  exit 0
fi
root="$cache/$pkg"
kver=${pkg#linux-image-}
if [[ ! -f "$root/.done" ]]; then
  rm -rf "$root" && mkdir -p "$root"
  (cd "$cache" && ls ${pkg}_*.deb >/dev/null 2>&1 || apt-get download "$pkg" >&2)
  deb=$(ls "$cache"/${pkg}_*.deb | tail -1)
  dpkg-deb -x "$deb" "$root"
  depmod -b "$root" "$kver"
  touch "$root/.done"
fi
echo "$root"
