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
# 6.1 (default) or 5.10: the lane's kernel. Each has its own directory.
case "${KLEAK_QEMU_KERNEL:-6.1}" in
  6.1) out="${KLEAK_QEMU_DIR:-$here/build/qemu}" ;;
  5.10) out="${KLEAK_QEMU_DIR:-$here/build/qemu-5.10}" ;;
  *) echo "qemu-install: KLEAK_QEMU_KERNEL must be 6.1 or 5.10" >&2; exit 1 ;;
esac
mkdir -p "$out"
log() { echo "qemu-install: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  echo "qemu-install: must run as root (apt-get)" >&2
  exit 1
fi

pkgs=(qemu-system-x86 busybox-static cpio socat jq kmod gcc make util-linux coreutils file)
kernel="${KLEAK_QEMU_KERNEL:-6.1}"

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
kernel_ready() {  # $1 = abi
  [ -n "$1" ] && [ -s "$out/kernel/$1/boot/vmlinuz-$1" ] && [ -d "$out/kernel/$1/lib/modules/$1" ] &&
    [ -e "$out/kernel/$1/.unpacked" ] && [ -s "$out/kernel/$1/lib/modules/$1/modules.dep" ] && pkg_installed "linux-headers-$1" &&
    [ -e "/usr/src/linux-headers-$1/Makefile" ]
}

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
