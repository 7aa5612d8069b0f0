# Sourced by install.sh and run-lane.sh: the lane's kernel from KLEAK_QEMU_KERNEL (6.1, the
# default; 5.10; 6.1-arm64) and KLEAK_QEMU_ARCH (x86_64, the default; aarch64 means 6.1-arm64).
# lane_kernel WHO: sets $kernel, or says why not (prefixed WHO:) and exits 1.
lane_kernel() {
  kernel="${KLEAK_QEMU_KERNEL:-}"
  case "${KLEAK_QEMU_ARCH:-x86_64}" in
    x86_64) ;;
    aarch64|arm64) [ -z "$kernel" ] || [ "$kernel" = 6.1-arm64 ] ||
        { echo "$1: KLEAK_QEMU_ARCH=aarch64 runs 6.1-arm64, not KLEAK_QEMU_KERNEL=$kernel" >&2; exit 1; }
      kernel=6.1-arm64 ;;
    *) echo "$1: KLEAK_QEMU_ARCH must be x86_64 or aarch64" >&2; exit 1 ;;
  esac
  kernel="${kernel:-6.1}"
}
