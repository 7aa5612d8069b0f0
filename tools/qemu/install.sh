#!/usr/bin/env bash
# Installs what the second-kernel lane (tools/qemu/run-lane.sh) needs on a Debian 12 host, as root:
#   * host packages: qemu-system-x86 (TCG is enough), busybox-static, cpio, socat (QMP), jq (the
#     checks), kmod (depmod), coreutils dd and util-linux setpriv (the tests call them), gcc and
#     make, plus kleak's own build dependencies (tools/install-deps.sh);
#   * linux-headers-<abi> for Debian's 6.1 cloud kernel, to build tests/kmod/leaky.ko (installed:
#     it only adds /usr/src/linux-headers-<abi> and /usr/lib/modules/<abi>/build);
#   * linux-image-<abi> of the same version, fetched with `apt-get download` and unpacked with
#     `dpkg-deb -x` into build/qemu/kernel/<abi>/ (never installed on the host: no bootloader,
#     no initramfs hooks, the host kernel is left alone).
# <abi> is what Debian's `linux-image-cloud-amd64` meta-package currently depends on (6.1.0-N-
# cloud-amd64); set KLEAK_QEMU_KABI=6.1.0-N-cloud-amd64 to pin one. The chosen ABI is written to
# build/qemu/kernel-abi, which run-lane.sh reads.
#
# Idempotent: when the recorded kernel, its headers and every package are already there it does
# nothing (and touches no network); otherwise it runs `apt-get update` once.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
# 6.1 (default), 5.10 or 6.1-arm64 (also KLEAK_QEMU_ARCH=aarch64): the lane's kernel. Each has
# its own directory.
. "$here/tools/qemu/lane-kernel.sh"
lane_kernel qemu-install
case "$kernel" in
  6.1) out="${KLEAK_QEMU_DIR:-$here/build/qemu}" ;;
  5.10) out="${KLEAK_QEMU_DIR:-$here/build/qemu-5.10}" ;;
  6.1-arm64) out="${KLEAK_QEMU_DIR:-$here/build/qemu-arm64}" ;;
  *) echo "qemu-install: KLEAK_QEMU_KERNEL must be 6.1, 5.10 or 6.1-arm64" >&2; exit 1 ;;
esac
mkdir -p "$out"
log() { echo "qemu-install: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  echo "qemu-install: must run as root (apt-get)" >&2
  exit 1
fi

pkgs=(qemu-system-x86 busybox-static cpio socat jq kmod gcc make util-linux coreutils file)

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
kernel_ready() {  # $1 = abi
  [ -n "$1" ] && [ -s "$out/kernel/$1/boot/vmlinuz-$1" ] && [ -d "$out/kernel/$1/lib/modules/$1" ] &&
    [ -e "$out/kernel/$1/.unpacked" ] && [ -s "$out/kernel/$1/lib/modules/$1/modules.dep" ] && pkg_installed "linux-headers-$1" &&
    [ -e "/usr/src/linux-headers-$1/Makefile" ]
}

if [ "$kernel" = 6.1-arm64 ]; then
  # Debian 12's arm64 cloud kernel, booted by qemu-system-aarch64 (-M virt, TCG). Its packages
  # come from this machine's own apt sources (bookworm, -updates, -security: the same kernel
  # upload as the x86 lane's) through a private apt state that also lists arm64: nothing arm64 is
  # installed on the host, and no foreign architecture is added to dpkg. Unpacked under $out:
  #   kernel/<abi>/   linux-image-<abi> (vmlinuz is a plain arm64 Image: qemu boots it with
  #                   -kernel, no firmware) and its modules, depmod'ed;
  #   headers/<abi>/  linux-headers-<abi>, its -common half, and linux-kbuild-6.1 of the *host*
  #                   architecture at the same version: the headers' scripts/ and tools/ are
  #                   relative links into linux-kbuild, whose fixdep/modpost must run here, and
  #                   the module is built with ARCH=arm64 (the headers' .kernelvariables) and
  #                   CROSS_COMPILE=aarch64-linux-gnu- (gcc-aarch64-linux-gnu, gcc 12 as Debian's);
  #   busybox/        busybox-static:arm64, the guest's shell and tools.
  # The ABI is whatever linux-image-cloud-arm64 depends on now (KLEAK_QEMU_KABI pins one).
  pkgs=(qemu-system-arm gcc-aarch64-linux-gnu busybox-static cpio socat jq kmod make file)
  if [ "${KLEAK_LANE_ARM64_TESTS:-0}" = 1 ]; then
    # The dynamic arm64 build of the integration tests (run-lane.sh): the arm64 multiarch -dev
    # packages of the static build (install-deps.sh --arm64 adds the arm64 architecture to dpkg)
    # and the tests' own, gtest and cpp-httplib (both Multi-Arch: same).
    "$here/tools/install-deps.sh" --arm64
    pkgs+=(libgtest-dev:arm64 libcpp-httplib-dev:arm64 binutils-aarch64-linux-gnu)
  fi
  missing=()
  for p in "${pkgs[@]}"; do pkg_installed "$p" || missing+=("$p"); done
  abi="${KLEAK_QEMU_KABI:-$(cat "$out/kernel-abi" 2>/dev/null || true)}"
  kdir="$out/kernel/$abi" hdir="$out/headers/$abi"
  if [ ${#missing[@]} -eq 0 ] && [ -n "$abi" ] && [ -e "$kdir/.unpacked" ] && [ -e "$hdir/.unpacked" ] &&
     [ -e "$out/busybox/.unpacked" ]; then
    echo "$hdir/usr/src/linux-headers-$abi" >"$out/kernel-headers"
    log "up to date (kernel $abi)"
    exit 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    log "installing ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  host_arch=$(dpkg --print-architecture)
  st="$out/apt"
  mkdir -p "$st/lists/partial" "$st/archives/partial"
  A() {
    apt-get -o "Dir::State::Lists=$st/lists" -o "Dir::Cache::Archives=$st/archives" \
      -o APT::Sandbox::User=root -o Debug::NoLocking=1 \
      -o "APT::Architectures::=$host_arch" -o APT::Architectures::=arm64 "$@"
  }
  log "apt-get update (private state with arm64: $st)"
  A -qq update
  if [ -z "${KLEAK_QEMU_KABI:-}" ]; then
    abi=$(apt-cache -o "Dir::State::Lists=$st/lists" -o APT::Architectures::=arm64 depends linux-image-cloud-arm64:arm64 2>/dev/null |
      sed -n 's/^ *Depends: linux-image-\(6\.1\.[0-9]*-[0-9]*-cloud-arm64\)\(:arm64\)\?$/\1/p' | head -n1)
    [ -n "$abi" ] || { echo "qemu-install: cannot tell which linux-image-6.1.*-cloud-arm64 Debian offers; set KLEAK_QEMU_KABI" >&2; exit 1; }
  fi
  case "$abi" in
    6.1.*-cloud-arm64) ;;
    *) echo "qemu-install: unexpected kernel ABI '$abi' (want 6.1.0-N-cloud-arm64)" >&2; exit 1 ;;
  esac
  log "kernel ABI $abi"
  kdir="$out/kernel/$abi" hdir="$out/headers/$abi" dl="$out/debs"
  rm -rf "$dl"
  mkdir -p "$dl"
  chown _apt "$dl" 2>/dev/null || true
  (cd "$dl" && A -qq download "linux-image-$abi:arm64" "linux-headers-$abi:arm64" busybox-static:arm64)
  hdeb=$(ls "$dl"/linux-headers-"$abi"_*.deb)
  ver=$(dpkg-deb -f "$hdeb" Version)
  common=$(dpkg-deb -f "$hdeb" Depends | tr ',' '\n' | sed -n 's/^ *\(linux-headers-[^ ]*-common\)\( .*\)\?$/\1/p')
  kbuild=$(dpkg-deb -f "$hdeb" Depends | tr ',' '\n' | sed -n 's/^ *\(linux-kbuild-[^ ]*\)\( .*\)\?$/\1/p')
  [ -n "$common" ] && [ -n "$kbuild" ] || { echo "qemu-install: $hdeb names no -common or linux-kbuild" >&2; exit 1; }
  (cd "$dl" && A -qq download "$common=$ver" "$kbuild:$host_arch=$ver")
  rm -rf "$kdir" "$hdir" "$out/busybox"
  mkdir -p "$kdir" "$hdir" "$out/busybox"
  dpkg-deb -x "$dl"/linux-image-"$abi"_*.deb "$kdir"
  for deb in "$dl"/linux-headers-*.deb "$dl"/linux-kbuild-*.deb; do dpkg-deb -x "$deb" "$hdir"; done
  dpkg-deb -x "$dl"/busybox-static_*_arm64.deb "$out/busybox"
  # Its Makefile includes the -common half by absolute path (/usr/src/...): point it here.
  sed -i "s|^include /usr/src/|include $hdir/usr/src/|" "$hdir/usr/src/linux-headers-$abi/Makefile"
  depmod -b "$kdir" "$abi"
  [ -s "$kdir/boot/vmlinuz-$abi" ] && [ -s "$kdir/lib/modules/$abi/modules.dep" ] &&
    [ -x "$hdir/usr/src/linux-headers-$abi/scripts/basic/fixdep" ] && [ -x "$out/busybox/bin/busybox" ] ||
    { echo "qemu-install: kernel $abi is incomplete in $kdir / $hdir" >&2; exit 1; }
  echo "$ver" >"$kdir/.unpacked"
  touch "$hdir/.unpacked" "$out/busybox/.unpacked"
  rm -rf "$dl"
  echo "$abi" >"$out/kernel-abi"
  echo "$hdir/usr/src/linux-headers-$abi" >"$out/kernel-headers"
  log "ready: $kdir (version $ver), headers $hdir (kbuild for $host_arch)"
  exit 0
fi

# kleak's own build dependencies (clang, libbpf, gtest, ...): the lane builds kleak first.
"$here/tools/install-deps.sh" --test  # the lane builds and runs the integration tests

if [ "$kernel" = 5.10 ]; then
  # Debian 11's cloud kernel from bullseye, through a private apt state (tools/apt-suite.sh) on
  # the mirror this machine uses: image, headers and kbuild are unpacked under $out, nothing of
  # bullseye is installed on the host. The ABI is pinned: bullseye is frozen (LTS point releases
  # may add one; KLEAK_QEMU_KABI picks another).
  abi="${KLEAK_QEMU_KABI:-5.10.0-32-cloud-amd64}"
  kdir="$out/kernel/$abi"
  hdir="$out/headers/$abi"
  missing=()
  for p in "${pkgs[@]}"; do pkg_installed "$p" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ ! -e "$kdir/.unpacked" ] || [ ! -e "$hdir/.unpacked" ]; then
    dl="$out/bullseye-debs"
    mkdir -p "$dl"
    suite() { "$here/tools/apt-suite.sh" "$out/apt-bullseye" "deb bullseye main" "$@"; }
    log "apt-get download linux-image-$abi linux-headers-$abi (bullseye)"
    (cd "$dl" && suite -qq download "linux-image-$abi" "linux-headers-$abi")
    # The headers package needs its -common half and the kbuild tools (fixdep, modpost).
    deps=$(dpkg-deb -f "$dl"/linux-headers-"$abi"_*.deb Depends | tr ',' '\n' |
      sed -n 's/^ *\(linux-headers-[^ ]*-common\|linux-kbuild-[^ ]*\)\( .*\)\?$/\1/p')
    (cd "$dl" && suite -qq download $deps)
    rm -rf "$kdir" "$hdir"
    mkdir -p "$kdir" "$hdir"
    dpkg-deb -x "$dl"/linux-image-"$abi"_*.deb "$kdir"
    for deb in "$dl"/linux-headers-*.deb "$dl"/linux-kbuild-*.deb; do dpkg-deb -x "$deb" "$hdir"; done
    # Its Makefile includes the -common half by absolute path (/usr/src/...): point it here.
    sed -i "s|^include /usr/src/|include $hdir/usr/src/|" "$hdir/usr/src/linux-headers-$abi/Makefile"
    depmod -b "$kdir" "$abi"
    dpkg-deb -f "$dl"/linux-image-"$abi"_*.deb Version >"$kdir/.unpacked"
    touch "$hdir/.unpacked"
  fi
  [ -s "$kdir/boot/vmlinuz-$abi" ] && [ -s "$kdir/lib/modules/$abi/modules.dep" ] &&
    [ -e "$hdir/usr/src/linux-headers-$abi/Makefile" ] ||
    { echo "qemu-install: kernel $abi is incomplete in $kdir / $hdir" >&2; exit 1; }
  echo "$abi" >"$out/kernel-abi"
  echo "$hdir/usr/src/linux-headers-$abi" >"$out/kernel-headers"
  log "ready: $kdir (version $(cat "$kdir/.unpacked")), headers $hdir"
  exit 0
fi

abi="${KLEAK_QEMU_KABI:-}"
[ -n "$abi" ] || abi=$(cat "$out/kernel-abi" 2>/dev/null || true)
missing=()
for p in "${pkgs[@]}"; do pkg_installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ] && kernel_ready "$abi"; then
  echo "$abi" >"$out/kernel-abi"
  echo "/usr/src/linux-headers-$abi" >"$out/kernel-headers"
  log "up to date (kernel $abi)"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
log "apt-get update"
apt-get update -qq

if [ -z "${KLEAK_QEMU_KABI:-}" ]; then
  # The ABI Debian's cloud kernel meta-package points at now (the previous ABI's packages leave
  # the archive after a point release, so never hard-code it).
  abi=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    sed -n 's/^ *Depends: linux-image-\(6\.1\.[0-9]*-[0-9]*-cloud-amd64\)$/\1/p' | head -n1)
  if [ -z "$abi" ]; then
    echo "qemu-install: cannot tell which linux-image-6.1.*-cloud-amd64 Debian offers" \
      "(apt-cache depends linux-image-cloud-amd64); set KLEAK_QEMU_KABI" >&2
    exit 1
  fi
fi
case "$abi" in
  6.1.*-cloud-amd64) ;;
  *) echo "qemu-install: unexpected kernel ABI '$abi' (want 6.1.0-N-cloud-amd64)" >&2; exit 1 ;;
esac
log "kernel ABI $abi"

missing=()
for p in "${pkgs[@]}" "linux-headers-$abi"; do pkg_installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

kdir="$out/kernel/$abi"
if [ ! -e "$kdir/.unpacked" ]; then
  tmp=$(mktemp -d)
  chown _apt "$tmp" 2>/dev/null || chmod 777 "$tmp"  # apt-get downloads as _apt where it can
  trap 'rm -rf "$tmp"' EXIT
  log "apt-get download linux-image-$abi"
  (cd "$tmp" && apt-get download -qq "linux-image-$abi")
  deb=$(ls "$tmp"/linux-image-"$abi"_*.deb)
  rm -rf "$kdir"
  mkdir -p "$kdir"
  dpkg-deb -x "$deb" "$kdir"
  # Debian puts modules under /lib or /usr/lib depending on the release: make lib/ the one place.
  if [ ! -d "$kdir/lib/modules/$abi" ] && [ -d "$kdir/usr/lib/modules/$abi" ]; then
    mkdir -p "$kdir/lib/modules"
    ln -s "../../usr/lib/modules/$abi" "$kdir/lib/modules/$abi"
  fi
  # The package's postinst would run depmod: modules.dep is what the guest's loader reads.
  depmod -b "$kdir" "$abi"
  dpkg-deb -f "$deb" Version >"$kdir/.unpacked"
fi
kernel_ready "$abi" || { echo "qemu-install: kernel $abi is incomplete in $kdir" >&2; exit 1; }
echo "$abi" >"$out/kernel-abi"
echo "/usr/src/linux-headers-$abi" >"$out/kernel-headers"
log "ready: $kdir (version $(cat "$kdir/.unpacked")), headers /usr/src/linux-headers-$abi"
