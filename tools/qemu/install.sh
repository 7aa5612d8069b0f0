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
out="${KLEAK_QEMU_DIR:-$here/build/qemu}"
mkdir -p "$out"
log() { echo "qemu-install: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  echo "qemu-install: must run as root (apt-get)" >&2
  exit 1
fi

pkgs=(qemu-system-x86 busybox-static cpio socat jq kmod gcc make util-linux coreutils)

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
kernel_ready() {  # $1 = abi
  [ -n "$1" ] && [ -s "$out/kernel/$1/boot/vmlinuz-$1" ] && [ -d "$out/kernel/$1/lib/modules/$1" ] &&
    [ -e "$out/kernel/$1/.unpacked" ] && [ -s "$out/kernel/$1/lib/modules/$1/modules.dep" ] && pkg_installed "linux-headers-$1" &&
    [ -e "/usr/src/linux-headers-$1/Makefile" ]
}

# kleak's own build dependencies (clang, libbpf, gtest, ...): the lane builds kleak first.
"$here/tools/install-deps.sh" --test  # the lane builds and runs the integration tests

abi="${KLEAK_QEMU_KABI:-}"
[ -n "$abi" ] || abi=$(cat "$out/kernel-abi" 2>/dev/null || true)
missing=()
for p in "${pkgs[@]}"; do pkg_installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ] && kernel_ready "$abi"; then
  echo "$abi" >"$out/kernel-abi"
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
log "ready: $kdir (version $(cat "$kdir/.unpacked")), headers /usr/src/linux-headers-$abi"
