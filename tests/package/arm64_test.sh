#!/usr/bin/env bash
# The arm64 artifacts of tools/build-static.sh --arch aarch64 (build-static-aarch64/). This test
# never builds them: tools/test.sh builds them once (~13 min cold on this 2-core box) and the arm64
# qemu lane reuses the same binary; without them it skips (77), a failure under
# KLEAK_REQUIRE_TOOLS (CI).
#  - kleak and kleak-planter are static, stripped aarch64 executables;
#  - the embedded BPF object was compiled for arm64 (its BTF reads pt_regs->syscallno, not x86's
#    orig_ax, and holds arm64's user_pt_regs of the kprobe macros);
#  - under qemu-user (qemu-aarch64-static), kleak prints the x86 build's --version line and --help
#    text, and reports every golden recording byte for byte as stored (tests/golden/golden.sh:
#    the x86 build's outputs, checked by the golden_reports test), and kleak-planter runs;
#  - cpack there makes kleak_<version>_arm64.deb: Architecture arm64, its kleak the static aarch64
#    binary, no Depends, and lintian finds no error in it.
#   arm64_test.sh AARCH64_BUILD_DIR X86_KLEAK SOURCE_DIR
set -euo pipefail
dir=$(realpath "$1") x86=$(realpath "$2") src=$(realpath "$3")
fail() { echo "FAIL: $*"; exit 1; }
if [ ! -x "$dir/kleak" ] || [ ! -s "$dir/CPackConfig.cmake" ]; then
  [ -n "${KLEAK_REQUIRE_TOOLS:-}" ] && fail "no arm64 build in $dir (tools/build-static.sh --arch aarch64) and KLEAK_REQUIRE_TOOLS is set"
  echo "skipped: no arm64 build in $dir (tools/build-static.sh --arch aarch64)"; exit 77
fi
qemu=$(command -v qemu-aarch64-static) || fail "qemu-aarch64-static is missing (tools/install-deps.sh --arm64)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- the binaries -----------------------------------------------------------------------------
for bin in kleak kleak-planter; do
  desc=$(file -L "$dir/$bin")
  for want in 'ELF 64-bit LSB executable' 'ARM aarch64' 'statically linked' 'stripped'; do
    grep -q "$want" <<<"$desc" || fail "$bin is not '$want': $desc"
  done
  if readelf -l "$dir/$bin" | grep -q INTERP; then fail "$bin asks for a program interpreter"; fi
  echo "$bin: ${desc#*: }"
done
btf=$(bpftool btf dump file "$dir/bpf/kleak.bpf.o")
grep -q "'syscallno'" <<<"$btf" || fail "the BPF object does not read pt_regs->syscallno (not built for arm64?)"
grep -q "STRUCT 'user_pt_regs'" <<<"$btf" || fail "the BPF object has no arm64 user_pt_regs (kprobe arguments)"
if grep -q "'orig_ax'" <<<"$btf"; then fail "the BPF object reads x86's orig_ax"; fi
echo "BPF object: __TARGET_ARCH_arm64 (pt_regs->syscallno, user_pt_regs)"

# ---- under qemu-user: the x86 build's answers --------------------------------------------------
arm() { "$qemu" -0 kleak "$dir/kleak" "$@"; }
x86() { (exec -a kleak "$x86" "$@"); }
[ "$(arm --version | head -1)" = "$(x86 --version | head -1)" ] ||
  fail "--version: arm64 '$(arm --version | head -1)', x86 '$(x86 --version | head -1)'"
arm --help >"$work/help.arm64"
x86 --help >"$work/help.x86"
cmp -s "$work/help.arm64" "$work/help.x86" || { diff "$work/help.x86" "$work/help.arm64"; fail "--help differs from x86's"; }
echo "qemu-aarch64: $(arm --version | head -1); --help as x86's ($(wc -l <"$work/help.arm64") lines)"
"$qemu" "$dir/kleak-planter" --help >/dev/null || fail "kleak-planter --help under qemu-aarch64 failed"
# golden.sh takes the binary's path: a wrapper that runs it under qemu-user.
printf '#!/bin/sh\nexec %q %q "$@"\n' "$qemu" "$dir/kleak" >"$work/kleak"
chmod +x "$work/kleak"
"$src/tests/golden/golden.sh" check "$work/kleak" || fail "the arm64 kleak's reports of the golden recordings differ"
echo "golden: every report of tests/golden byte for byte as stored"

# ---- the .deb ---------------------------------------------------------------------------------
(cd "$dir" && cpack -G DEB -B "$work/out" >"$work/cpack.log") || { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/out/kleak_*_arm64.deb) || fail "cpack made no kleak_*_arm64.deb: $(ls "$work/out")"
[ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ] || fail "$deb says Architecture: $(dpkg-deb -f "$deb" Architecture)"
[ -z "$(dpkg-deb -f "$deb" Depends)" ] || fail "$deb depends on $(dpkg-deb -f "$deb" Depends)"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/kleak >"$work/deb-kleak"
file "$work/deb-kleak" | grep 'ARM aarch64' | grep -q 'statically linked' || fail "the .deb's kleak: $(file "$work/deb-kleak")"
lintian --fail-on error --tag-display-limit 0 "$deb"
echo "deb: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB), Architecture: arm64, lintian: no error"
