#!/usr/bin/env bash
# The second-kernel lane: kleak on Debian's 6.1 cloud kernel (or Debian 11's 5.10 one), booted
# under qemu (TCG, no KVM).
#
#   tools/qemu/run-lane.sh                           as root, from any clean clone on a Debian 12 host
#   KLEAK_QEMU_KERNEL=5.10 tools/qemu/run-lane.sh    the same on 5.10.0-N-cloud-amd64 (bullseye)
#   KLEAK_QEMU_ARCH=aarch64 tools/qemu/run-lane.sh   arm64: 6.1.0-N-cloud-arm64 under
#                                                    qemu-system-aarch64 -M virt (also
#                                                    KLEAK_QEMU_KERNEL=6.1-arm64), the static
#                                                    aarch64 kleak (tools/build-static.sh --arch
#                                                    aarch64), no integration tests (see README)
#
# 1. installs what is missing (tools/qemu/install.sh: qemu, busybox, the 6.1 image unpacked
#    under build/qemu/kernel/, its headers) and builds kleak (tools/build.sh) and the static kleak
#    (tools/build-static.sh);
# 2. builds tests/kmod/leaky.ko against the kernel's headers (in build/qemu/kmod/);
# 3. builds an initramfs: busybox, /init (tests/qemu/init), the lane script
#    (tests/qemu/guest-lane.sh), kleak, kleak-planter and kleak_integration_tests at the absolute
#    paths compiled into the tests, every shared library they need (ldd), bpftool, dd, setpriv,
#    python3 with prometheus_client (when the host has them), the virtio modules (balloon, blk,
#    pci) and leaky.ko; and /static, a root holding only static binaries (busybox, the static
#    kleak and kleak-planter: no shared library at all), where the scenarios run kleak (chroot);
# 4. boots it (qemu-system-x86_64 -accel tcg, -device virtio-balloon-pci, a raw results disk
#    (vda), a scratch disk for the tests' temporary files (vdb), QMP on a unix socket), shows the
#    guest's progress, inflates the balloon through QMP when the guest asks, and kills qemu if the
#    guest is not done within KLEAK_LANE_TIMEOUT seconds;
# 5. reads the results off the raw disk (a tar stream) into build/qemu/results/ and checks them
#    (tools/qemu/check-results.sh): every integration test passed, the leaky driver's kmalloc,
#    vmalloc and page leaks were found under its own functions with the right bytes (10%), the
#    balloon's pages were found under the balloon driver by `kleak trace` and as unaccounted
#    memory by `kleak meminfo` (5%), the driver's objects freed by kmem_cache_free_bulk and
#    kfree_rcu were found, then forgotten by `kleak trace` and kept by `--bulk-frees off`.
# Exit status 0 when every check passed, 1 otherwise (a summary says which).
#
# Knobs (environment): KLEAK_LANE_TIMEOUT (qemu is killed after it, default 780 s),
# KLEAK_LANE_MEM_MIB (2048), KLEAK_LANE_SMP (2), KLEAK_LANE_BALLOON_MIB (128),
# KLEAK_LANE_TEST_TIMEOUT (per test, 240 s), KLEAK_LANE_GTEST_FILTER (default all),
# KLEAK_LANE_BUILD_DIR (default build/, built with tools/build.sh; another directory is configured
# and built there), KLEAK_LANE_SKIP_BUILD=1 (use the build directory as it is),
# KLEAK_LANE_SCENARIOS (default "leaky bulk balloon hunt-balloon"; "" runs none), KLEAK_LANE_BULK_FORKS
# (300: the bulk scenario's fork loop), KLEAK_LANE_EXTRA_SCRIPT (a shell
# script run in the guest before the tests, its output in results/extra.log: for investigating
# something on the 6.1 kernel; KLEAK_LANE_EXTRA_TIMEOUT, default 300 s, bounds it), KLEAK_LANE_GUEST_TIMEOUT (the guest's own limit for its lane,
# default KLEAK_LANE_TIMEOUT minus 10%, 10..60 s), KLEAK_QEMU_DIR (default build/qemu, or
# build/qemu-5.10), KLEAK_QEMU_KERNEL (6.1 or 5.10), KLEAK_LANE_STATIC_DIR (default
# build-static/, built with tools/build-static.sh unless KLEAK_LANE_SKIP_BUILD=1).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/tools/qemu/lane-kernel.sh"
lane_kernel lane
arm64=0
case "$kernel" in
  6.1) out="${KLEAK_QEMU_DIR:-$here/build/qemu}" ;;
  5.10) out="${KLEAK_QEMU_DIR:-$here/build/qemu-5.10}" ;;
  6.1-arm64) out="${KLEAK_QEMU_DIR:-$here/build/qemu-arm64}"; arm64=1 ;;
  *) echo "lane: KLEAK_QEMU_KERNEL must be 6.1, 5.10 or 6.1-arm64" >&2; exit 1 ;;
esac
export KLEAK_QEMU_KERNEL="$kernel" KLEAK_QEMU_DIR="$out"
arm64_tests="${KLEAK_LANE_ARM64_TESTS:-0}"
if [ $arm64 = 1 ]; then
  sdir="${KLEAK_LANE_STATIC_DIR:-$here/build-static-aarch64}"
  if [ "$arm64_tests" = 1 ]; then
    # KLEAK_LANE_ARM64_TESTS=1: a dynamic arm64 build of kleak and kleak_integration_tests
    # (build-aarch64/, Debian's arm64 multiarch libraries, which go into the initramfs) runs the
    # kernel-dependent suites. The tests that run bpftool or util-linux setpriv, absent from the
    # arm64 guest, say so themselves (KLEAK_NEEDS(Bpftool), KLEAK_NEEDS(Setpriv): skipped in a
    # lane without the tool, tests/integration/harness.h). Not in CI: a second arm64 build of
    # everything (tools/qemu/README.md).
    : "${KLEAK_LANE_GTEST_FILTER:=Trace.*:Hunt.*:Groups.*:Meminfo.*:Handlers.*:CacheAliases.*:Formats.*:Verdict.*:Recording.*:DaemonReports.*:Doctor.*:Errors.*:Privileges.*:Soak.*}"
  else
    # By default no arm64 build of the integration tests: the lane proves the static binary,
    # the leaky driver, the balloon and hunt (KLEAK_LANE_GTEST_FILTER=-*: not run, and said so).
    : "${KLEAK_LANE_GTEST_FILTER:=-*}"
  fi
  # The bulk scenario reads kleak's reports with jq in the guest: not in the arm64 root (yet).
  : "${KLEAK_LANE_SCENARIOS=leaky balloon hunt-balloon}"
  timeout_s="${KLEAK_LANE_TIMEOUT:-1500}"
else
  sdir="${KLEAK_LANE_STATIC_DIR:-$here/build-static}"
  timeout_s="${KLEAK_LANE_TIMEOUT:-780}"
fi
mem_mib="${KLEAK_LANE_MEM_MIB:-2048}"
smp="${KLEAK_LANE_SMP:-2}"
balloon_mib="${KLEAK_LANE_BALLOON_MIB:-128}"
test_timeout="${KLEAK_LANE_TEST_TIMEOUT:-240}"
gtest_filter="${KLEAK_LANE_GTEST_FILTER:-*}"
t_start=$(date +%s)

say() { echo "lane: $*" >&2; }
die() { echo "lane: FAILED: $*" >&2; exit 1; }
elapsed() { echo $(($(date +%s) - t_start)); }

[ "$(id -u)" -eq 0 ] || die "run as root (apt-get, mknod, BPF in the guest is root anyway)"

# ---- 1. install and build --------------------------------------------------------------------
say "installing what is missing (tools/qemu/install.sh)"
"$here/tools/qemu/install.sh"
abi=$(cat "$out/kernel-abi")
kheaders=$(cat "$out/kernel-headers")
kdir="$out/kernel/$abi"
vmlinuz="$kdir/boot/vmlinuz-$abi"
moddir="$kdir/lib/modules/$abi"
bdir="${KLEAK_LANE_BUILD_DIR:-$here/build}"
[ $arm64 = 1 ] && bdir="${KLEAK_LANE_BUILD_DIR:-$here/build-aarch64}"
if [ "${KLEAK_LANE_SKIP_BUILD:-0}" != 1 ] && [ $arm64 = 0 ]; then
  if [ "$bdir" = "$here/build" ]; then
    say "building kleak (tools/build.sh)"
    "$here/tools/build.sh" >"$out/build.log" 2>&1 || { tail -n 40 "$out/build.log" >&2; die "kleak build failed (log: $out/build.log)"; }
  else
    say "building kleak in $bdir"
    { cmake -S "$here" -B "$bdir" -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build "$bdir" -j"$(nproc)" \
        --target kleak kleak-planter kleak_integration_tests; } >"$out/build.log" 2>&1 ||
      { tail -n 40 "$out/build.log" >&2; die "kleak build failed (log: $out/build.log)"; }
  fi
fi
static_args=(); [ $arm64 = 1 ] && static_args=(--arch aarch64)
if [ "${KLEAK_LANE_SKIP_BUILD:-0}" != 1 ]; then
  say "building the static kleak (tools/build-static.sh ${static_args[*]})"
  KLEAK_STATIC_BUILD_DIR="$sdir" "$here/tools/build-static.sh" "${static_args[@]}" >"$out/build-static.log" 2>&1 ||
    { tail -n 40 "$out/build-static.log" >&2; die "static build failed (log: $out/build-static.log)"; }
fi
if [ $arm64 = 1 ]; then
  # The guest's busybox is arm64's busybox-static (unpacked by install.sh, never installed).
  busybox="$out/busybox/bin/busybox"
  static_bins=("$sdir/kleak" "$busybox")
  [ -e "$sdir/kleak-planter" ] && static_bins+=("$sdir/kleak-planter")
  want_machine='ARM aarch64'
  bins=()
  if [ "$arm64_tests" = 1 ]; then
    if [ "${KLEAK_LANE_SKIP_BUILD:-0}" != 1 ]; then
      # yaml-cpp's arm64 archive: the one build-static.sh took from its .deb (its -dev package
      # is not Multi-Arch: same).
      say "building kleak and its integration tests for arm64 in $bdir (dynamic)"
      { cmake -S "$here" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DKLEAK_BUILD_TESTS=ON \
          -DCMAKE_TOOLCHAIN_FILE="$here/cmake/aarch64-linux-gnu.cmake" \
          -DYAML_CPP_LIB="$sdir/deps/libyaml-cpp-dev/root/usr/lib/aarch64-linux-gnu/libyaml-cpp.a" &&
        cmake --build "$bdir" -j"$(nproc)" --target kleak kleak-planter kleak_integration_tests; } \
        >"$out/build.log" 2>&1 || { tail -n 40 "$out/build.log" >&2; die "arm64 test build failed (log: $out/build.log)"; }
    fi
    bins=("$bdir/kleak" "$bdir/kleak-planter" "$bdir/kleak_integration_tests")
    for b in "${bins[@]}"; do
      file -L "$b" | grep -q 'ARM aarch64' || die "$b is not an arm64 executable: $(file -L "$b")"
    done
  fi
else
  busybox=/bin/busybox
  static_bins=("$sdir/kleak" "$sdir/kleak-planter" /bin/busybox)
  want_machine='x86-64'
  bins=("$bdir/kleak" "$bdir/kleak-planter" "$bdir/kleak_integration_tests")
fi
for b in "${static_bins[@]}"; do
  file -L "$b" | grep -q 'statically linked' || die "$b is not a static executable"
  file -L "$b" | grep -q "$want_machine" || die "$b is not an $want_machine executable: $(file -L "$b")"
done
for b in "${bins[@]}"; do [ -x "$b" ] || die "$b is missing: build kleak first"; done
# The integration tests run kleak and the planter through these absolute paths.
for b in "${bins[@]:0:2}"; do
  grep -qaF "$b" "$bdir/kleak_integration_tests" ||
    die "kleak_integration_tests does not refer to $b (built in another directory?)"
done

# ---- 2. the leaky module ---------------------------------------------------------------------
say "building tests/kmod/leaky.ko against linux-headers-$abi"
rm -rf "$out/kmod"
mkdir -p "$out/kmod"
cp "$here/tests/kmod/leaky.c" "$here/tests/kmod/Kbuild" "$here/tests/kmod/Makefile" "$out/kmod/"
# CC: 5.10's headers name bullseye's gcc-10; Debian 12's gcc builds the module as well.
# arm64: the headers set ARCH=arm64 and CC=$(CROSS_COMPILE)gcc-12; kbuild's host tools are the
# host's linux-kbuild (install.sh).
kcc=(); [ "$kernel" = 5.10 ] && kcc=(CC=gcc)
[ $arm64 = 1 ] && kcc=(CROSS_COMPILE=aarch64-linux-gnu-)
make -C "$out/kmod" KDIR="$kheaders" "${kcc[@]}" >"$out/kmod/build.log" 2>&1 ||
  { tail -n 30 "$out/kmod/build.log" >&2; die "leaky.ko did not build"; }
[ "$(modinfo -F vermagic "$out/kmod/leaky.ko" | cut -d' ' -f1)" = "$abi" ] ||
  die "leaky.ko vermagic is not $abi"

# ---- 3. the initramfs ------------------------------------------------------------------------
say "building the initramfs"
root="$out/initramfs"
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,results,lane,etc}
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3

# copy_bin SRC [DEST]: the file (debug info stripped) and every library ldd names, at the same
# paths as on the host.
copy_libs() {
  ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
    while read -r lib; do
      [ -e "$root$lib" ] && continue
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
}
copy_bin() {
  local src=$1 dst=${2:-$1}
  mkdir -p "$root$(dirname "$dst")"
  strip --strip-debug -o "$root$dst" "$src" 2>/dev/null || cp -L "$src" "$root$dst"
  chmod 755 "$root$dst"
  copy_libs "$src"
}
# copy_bin_arm64 SRC: an arm64 executable (stripped) and the arm64 libraries it needs, from the
# host's multiarch directories (ldd cannot run it here: its NEEDED entries, read with readelf).
copy_libs_arm64() {
  local lib path
  for lib in $(aarch64-linux-gnu-readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    path=
    for d in /lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu; do
      [ -e "$d/$lib" ] && { path="$d/$lib"; break; }
    done
    [ -n "$path" ] || die "$1 needs $lib: no arm64 $lib in /usr/lib/aarch64-linux-gnu"
    [ -e "$root$path" ] && continue
    mkdir -p "$root$(dirname "$path")"
    cp -L "$path" "$root$path"
    copy_libs_arm64 "$path"
  done
}
copy_bin_arm64() {
  mkdir -p "$root$(dirname "$1")"
  aarch64-linux-gnu-strip --strip-debug -o "$root$1" "$1"
  chmod 755 "$root$1"
  copy_libs_arm64 "$1"
}
if [ $arm64 = 1 ] && [ ${#bins[@]} -gt 0 ]; then
  for b in "${bins[@]}"; do copy_bin_arm64 "$b"; done
  interp=$(aarch64-linux-gnu-readelf -l "${bins[0]}" | sed -n 's/.*interpreter: \(.*\)\]/\1/p')
  mkdir -p "$root$(dirname "$interp")"
  cp -L "$interp" "$root$interp"
  chmod -R a+rX "$root/$(echo "$bdir" | cut -d/ -f2)"
fi
if [ $arm64 = 0 ]; then  # the host's executables and libraries: the x86 guests only
for b in "${bins[@]}"; do copy_bin "$b"; done
copy_bin "$(command -v bpftool)" /usr/sbin/bpftool   # the tests count kleak's objects with it
copy_bin /usr/bin/setpriv /usr/bin/setpriv           # Errors.NotRoot drops privileges with it
copy_bin /usr/bin/unshare /usr/bin/unshare           # Privileges.InAPidNamespaceNeverReportsItself
copy_bin "$(readlink -f /bin/dd)" /bin/dd            # coreutils dd: status=none
copy_bin "$(command -v jq)" /usr/bin/jq              # the bulk scenario reads kleak's reports
# Python 3 and the reference parsers some tests check kleak's output with (Debian's
# python3-prometheus-client), when the host has them: the standard library without its tests,
# GUI, static library and 2to3 (about 26 MB).
if [ -x /usr/bin/python3 ]; then
  py=$(readlink -f /usr/bin/python3)
  pyver=$(basename "$py")
  copy_bin "$py"
  ln -sf "$pyver" "$root/usr/bin/python3"
  mkdir -p "$root/usr/lib/$pyver" "$root/usr/lib/python3/dist-packages"
  tar -C "/usr/lib/$pyver" --exclude=./test --exclude=./idlelib --exclude=./tkinter \
    --exclude=./turtledemo --exclude=./lib2to3 --exclude=./ensurepip --exclude=./pydoc_data \
    --exclude='./config-*' --exclude=./site-packages --exclude=./dist-packages -cf - . |
    tar -C "$root/usr/lib/$pyver" -xf -
  for so in "/usr/lib/$pyver"/lib-dynload/*.so; do copy_libs "$so"; done
  # The packages, and whatever they import from dist-packages (prometheus_client: decorator).
  dist=/usr/lib/python3/dist-packages
  for top in $(/usr/bin/python3 -S -c "
import importlib, sys
sys.path.append('$dist')
for name in ('prometheus_client.parser',):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
for m in list(sys.modules.values()):
    f = getattr(m, '__file__', None) or ''
    if f.startswith('$dist/'):
        print(f[len('$dist/'):].split('/')[0])" | sort -u); do
    cp -r "$dist/$top" "$root$dist/"
  done
fi
chmod -R a+rX "$root/$(echo "$bdir" | cut -d/ -f2)"
fi
cp "$busybox" "$root/bin/busybox"
# The applet list from the host's busybox: the arm64 one cannot run here, and both are Debian 12's
# busybox-static (same version, same configuration).
/bin/busybox --list-full | while read -r a; do
  [ -e "$root/$a" ] || [ -L "$root/$a" ] || ln -s /bin/busybox "$root/$a"
done
# Fixtures some tests read (small).
mkdir -p "$root$here/tests"
cp -r "$here/tests/fixtures" "$here/tests/golden" "$root$here/tests/"
chmod -R a+rX "$root$here/tests"

# Kernel modules: virtio transport, the results disk, the balloon; in dependency order.
mods=()
add_mod() {  # $1 = path relative to $moddir, as in modules.dep
  local m=$1 d
  for x in "${mods[@]}"; do [ "$x" = "$m" ] && return; done
  for d in $(awk -v m="$m:" '$1 == m { for (i = 2; i <= NF; i++) print $i }' "$moddir/modules.dep"); do
    add_mod "$d"
  done
  mods+=("$m")
}
for name in virtio_pci virtio_blk virtio_balloon; do
  m=$(awk -F: -v n="/$name.ko" 'index($1, n) && substr($1, length($1) - length(n) + 1) == n { print $1 }' "$moddir/modules.dep" | head -n1)
  [ -n "$m" ] || die "$name.ko is not in $moddir"
  add_mod "$m"
done
: >"$root/lane/modules"
for m in "${mods[@]}"; do
  mkdir -p "$root/lib/modules/$abi/$(dirname "$m")"
  cp "$moddir/$m" "$root/lib/modules/$abi/$m"
  echo "$m" >>"$root/lane/modules"
done
cp "$out/kmod/leaky.ko" "$root/lane/leaky.ko"
# /static: the root the scenarios run kleak in (tests/qemu/guest-lane.sh chroots into it, with
# /proc, /sys, /dev and /results bound in). Static executables only: no ld.so, no library.
sroot="$root/static"
mkdir -p "$sroot"/{bin,usr/bin,proc,sys,dev,tmp,results,etc}
install -m 755 "$sdir/kleak" "$sroot/usr/bin/kleak"
[ -e "$sdir/kleak-planter" ] && install -m 755 "$sdir/kleak-planter" "$sroot/usr/bin/kleak-planter"
install -m 755 "$busybox" "$sroot/bin/busybox"
ln -s busybox "$sroot/bin/sh"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$sroot/etc/passwd"
if find "$sroot" -name '*.so*' | grep -q . || [ -e "$sroot/lib" ] || [ -e "$sroot/lib64" ]; then
  die "$sroot holds a shared library"
fi
install -m 755 "$here/tests/qemu/init" "$root/init"
install -m 755 "$here/tests/qemu/guest-lane.sh" "$root/lane/guest-lane.sh"
if [ -n "${KLEAK_LANE_EXTRA_SCRIPT:-}" ]; then
  install -m 755 "$KLEAK_LANE_EXTRA_SCRIPT" "$root/lane/extra.sh"
fi
balloon_bytes=$((balloon_mib * 1024 * 1024))
if [ $arm64 = 1 ] && [ ${#bins[@]} -eq 0 ]; then
  guest_kleak=/static/usr/bin/kleak guest_planter=/static/usr/bin/kleak-planter guest_tests=
else
  guest_kleak=$bdir/kleak guest_planter=$bdir/kleak-planter guest_tests=$bdir/kleak_integration_tests
fi
cat >"$root/lane/config" <<EOF
KLEAK_BIN=$guest_kleak
KLEAK_PLANTER=$guest_planter
KLEAK_TESTS=$guest_tests
STATIC_ROOT=/static
BALLOON_BYTES=$balloon_bytes
TEST_TIMEOUT=$test_timeout
SCENARIO_TIMEOUT=300
EXTRA_TIMEOUT=${KLEAK_LANE_EXTRA_TIMEOUT:-300}
GTEST_FILTER='$gtest_filter'
SCENARIOS='${KLEAK_LANE_SCENARIOS-leaky bulk balloon hunt-balloon}'
HUNT_WATCH_S=20
HUNT_TRACE_S=30
HUNT_INFLATE_S=20
LEAK_KMALLOC='2000 3000'
LEAK_CACHE=3000
LEAK_KMALLOC_NODE='1000 1500'
LEAK_CACHE_NODE=1000
LEAK_VMALLOC='8 1048576'
LEAK_PAGES0='1024 0'
LEAK_PAGES2='64 2'
BULK_LEAK='100 400 1000 200'
BULK_FORKS=${KLEAK_LANE_BULK_FORKS:-300}
EOF
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >>"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
(cd "$root" && find . -print0 | cpio --null -o -H newc --owner=0:0 --quiet) >"$out/initramfs.cpio"
say "initramfs: $(du -m "$out/initramfs.cpio" | cut -f1) MiB, modules: ${mods[*]##*/}"

# ---- 4. boot ---------------------------------------------------------------------------------
res_img="$out/results.img"
qmp="$out/qmp.sock"
console="$out/console.log"
scratch_img="$out/scratch.img"
rm -f "$res_img" "$scratch_img" "$qmp" "$console"
truncate -s 256M "$res_img"
truncate -s 1G "$scratch_img"  # sparse; the guest makes an ext2/4 filesystem on it
# The guest stops its own lane a little before qemu is killed, so that its results still come out.
margin=$((timeout_s / 10)); [ $margin -lt 10 ] && margin=10; [ $margin -gt 60 ] && margin=60
guest_timeout="${KLEAK_LANE_GUEST_TIMEOUT:-$((timeout_s - margin))}"
[ "$guest_timeout" -gt 0 ] || die "KLEAK_LANE_TIMEOUT=$timeout_s is too short"
# loglevel=5: warnings reach the console, so a soft lockup's stack is there to read (a 5.10 guest
# hung once in Soak.ChurnAndForksForAWhile, 2026-11-30, with only the BUG lines to show for it).
if [ $arm64 = 1 ]; then
  # -M virt boots the arm64 Image directly (no firmware); its console is the PL011 (ttyAMA0); the
  # disks and the balloon are virtio-pci on its generic PCIe host, in this order (vda, vdb).
  # pauth-impdef: -cpu max's pointer authentication with QEMU's cheap hash instead of QARMA
  # (the architected algorithm costs TCG a large share of its time; the guest cannot tell).
  qemu_cmd=(qemu-system-aarch64 -M virt -accel tcg,thread=multi -cpu max,pauth-impdef=on -smp "$smp" -m "$mem_mib"
    -nodefaults -no-user-config -display none -no-reboot
    -kernel "$vmlinuz" -initrd "$out/initramfs.cpio"
    -append "console=ttyAMA0 panic=-1 quiet loglevel=5 LANE_GUEST_TIMEOUT=$guest_timeout"
    -serial "file:$console"
    -drive "file=$res_img,format=raw,if=none,id=results,cache=unsafe" -device virtio-blk-pci,drive=results
    -drive "file=$scratch_img,format=raw,if=none,id=scratch,cache=unsafe" -device virtio-blk-pci,drive=scratch
    -device virtio-balloon-pci,id=balloon0,deflate-on-oom=on
    -qmp "unix:$qmp,server=on,wait=off")
else
qemu_cmd=(qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp "$smp" -m "$mem_mib"
  -nodefaults -no-user-config -display none -no-reboot
  -kernel "$vmlinuz" -initrd "$out/initramfs.cpio"
  -append "console=ttyS0 panic=-1 quiet loglevel=5 LANE_GUEST_TIMEOUT=$guest_timeout"
  -serial "file:$console"
  -drive "file=$res_img,format=raw,if=virtio,cache=unsafe"
  -drive "file=$scratch_img,format=raw,if=virtio,cache=unsafe"
  -device virtio-balloon-pci,id=balloon0,deflate-on-oom=on
  -qmp "unix:$qmp,server=on,wait=off")
fi
echo "${qemu_cmd[*]}" >"$out/qemu.cmd"
say "booting Linux $abi under TCG (${smp} CPUs, ${mem_mib} MiB, timeout ${timeout_s}s)"
t_boot=$(date +%s)
timeout -k 10 "$timeout_s" "${qemu_cmd[@]}" >"$out/qemu.log" 2>&1 &
qpid=$!

# qmp_balloon TARGET [query]: QMP `balloon` to a guest size of TARGET bytes; `query` also logs
# query-balloon (the one-shot 128 MiB inflation). The hunt scenario's slow balloon asks for a
# total balloon size once a second (LANE-BALLOON-TARGET <bytes>): only the newest is sent, so a
# late poll skips none that matter.
qmp_balloon() {
  { echo '{"execute":"qmp_capabilities"}'; sleep 0.2
    echo "{\"execute\":\"balloon\",\"arguments\":{\"value\":$1}}"; sleep 0.3
    if [ "${2:-}" = query ]; then sleep 0.7; echo '{"execute":"query-balloon"}'; sleep 0.5; fi; } |
    socat -t 1 - "UNIX-CONNECT:$qmp" 2>&1
}

seen=0
balloon_sent=0
balloon_target=
: >"$out/qmp.log"
while kill -0 "$qpid" 2>/dev/null; do
  sleep 1
  [ -e "$console" ] || continue
  n=$(wc -l <"$console")
  [ "$n" -gt "$seen" ] || continue
  # The console's new lines, read once: progress for the user, and the guest's balloon requests.
  lines=$(sed -n "$((seen + 1)),${n}p" "$console" | tr -d '\r' | grep -a '^LANE' || true)
  seen=$n
  echo "$lines" | grep -av '^LANE-BALLOON-TARGET' | grep . | sed "s/^/  [$(($(date +%s) - t_boot))s] guest: /" >&2 || true
  if [ $balloon_sent = 0 ] && echo "$lines" | grep -aq '^LANE-BALLOON-REQUEST'; then
    target=$((mem_mib * 1024 * 1024 - balloon_bytes))
    say "QMP: balloon to $target bytes (inflate by $balloon_bytes)"
    qmp_balloon "$target" query >"$out/qmp.log" || true
    balloon_sent=1
  fi
  t=$(echo "$lines" | grep -a '^LANE-BALLOON-TARGET ' | tail -n 1 | tr -dc '0-9' || true)
  if [ -n "$t" ] && [ "$t" != "$balloon_target" ]; then
    qmp_balloon $((mem_mib * 1024 * 1024 - t)) >>"$out/qmp.log" || true
    balloon_target=$t
  fi
done
set +e
wait "$qpid"
qrc=$?
set -e
boot_s=$(($(date +%s) - t_boot))
# Any lines the loop did not show yet.
sed -n "$((seen + 1)),\$p" "$console" 2>/dev/null | tr -d '\r' | grep -a '^LANE' | grep -av '^LANE-BALLOON-TARGET' | sed 's/^/  guest: /' >&2 || true
if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
  say "qemu was killed after ${timeout_s}s: the guest hung or was too slow (console: $console)"
  # What CI keeps of a log is its end: the guest's last step and the kernel's first complaint
  # (its header names it: soft lockup, RCU stall, hung task) with its top frames come first.
  say "the guest's last step: $(tr -d '\r' <"$console" | grep -a '^LANE' | grep -av '^LANE-BALLOON' | tail -n 1)"
  tr -d '\r' <"$console" | grep -a -m 3 -A 25 -E 'watchdog: |rcu: INFO|rcu_.* self-detected stall|BUG: |blocked for more than|WARNING: ' >&2 || true
  tail -n 30 "$console" | tr -d '\r' >&2 || true
elif [ $qrc -ne 0 ]; then
  say "qemu exited with status $qrc (log: $out/qemu.log)"
  tail -n 10 "$out/qemu.log" >&2 || true
fi

# ---- 5. results ------------------------------------------------------------------------------
rm -rf "$out/results"
mkdir -p "$out/results"
if ! tar -xf "$res_img" -C "$out/results" 2>/dev/null || [ ! -s "$out/results/guest-lane.log" ]; then
  say "no results came back from the guest (console: $console)"
  tail -n 40 "$console" | tr -d '\r' >&2 || true
  echo >&2
  echo "lane: FAILED after $(elapsed)s: no results (qemu status $qrc)" >&2
  exit 1
fi
cp "$console" "$out/results/console.log"
set +e
"$here/tools/qemu/check-results.sh" "$out/results" "$balloon_bytes"
crc=$?
set -e
echo >&2
if [ $crc -eq 0 ] && [ $qrc -eq 0 ]; then
  echo "lane: PASSED in $(elapsed)s (guest ${boot_s}s); results in $out/results" >&2
  exit 0
fi
echo "lane: FAILED in $(elapsed)s (guest ${boot_s}s, qemu status $qrc); results in $out/results" >&2
exit 1
