#!/usr/bin/env bash
# Installs every Debian (bookworm) package that building, running and testing kproxy needs.
# Idempotent: packages already present are skipped, and apt-get update runs only when something is missing.
#
#   scripts/setup.sh               everything: build, tests (kernel, VM, API), fuzzing, the image
#   scripts/setup.sh --build-only  what building the binary (cmake -DKPROXY_BUILD_TESTS=OFF) and its
#                                  image (scripts/image.sh) need: no GoogleTest, qemu, haproxy, nginx
set -euo pipefail

build_only=0
case "${1:-}" in
  --build-only) build_only=1 ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--build-only]" >&2; exit 2 ;;
esac

packages=(
  # build
  build-essential cmake ninja-build pkg-config ccache git
  # libraries (see BUILD.md for why each is there)
  libabsl-dev libsimdjson-dev libyaml-cpp-dev libcurl4-openssl-dev libssl-dev
  libnl-3-dev libnl-genl-3-dev libnl-route-3-dev libmnl-dev libnftnl-dev
  libevent-dev prometheus-cpp-dev
  # the image's root filesystem (scripts/image.sh)
  mmdebstrap
)
test_packages=(
  clang libclang-rt-14-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  # kernel tests (network namespaces, real traffic)
  iproute2 iptables ipset conntrack socat curl haproxy nginx-light nftables python3 procps psmisc
  # API tests: the fake apiserver's CA and certificates
  openssl
  # IPVS tests in a VM
  qemu-system-x86 busybox-static ipvsadm kmod cpio
  # manifest tests: YAML parsing
  python3-yaml
)
if ((!build_only)); then
  packages+=("${test_packages[@]}")
  # The kustomize overlay test renders with `kubectl kustomize`; Debian's kubectl is in
  # kubernetes-client. A kubectl already installed (another package owns /usr/bin/kubectl) is kept.
  command -v kubectl >/dev/null || packages+=(kubernetes-client)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all packages present"
