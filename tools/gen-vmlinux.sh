#!/usr/bin/env bash
# Regenerates vmlinux/<arch>/vmlinux.h:
#
#   tools/gen-vmlinux.sh [BTF_FILE]     x86_64 (this machine's arch): the running kernel's BTF
#   tools/gen-vmlinux.sh --arch aarch64 Debian 12's arm64 cloud kernel's BTF (no arm64 box needed)
#
# The committed header is only a type source for CO-RE: field offsets are relocated at load time
# against the target kernel's own BTF, so one header serves every kernel with BTF of its arch.
#
# aarch64: the kernel is Debian 12's linux-image-6.12-cloud-arm64 (another package with
# KLEAK_ARM64_KERNEL=linux-image-cloud-arm64 for 6.1), fetched with `apt-get download`
# (dpkg --add-architecture arm64, which tools/install-deps.sh --arm64 does). 6.12, not the 6.1 the
# arm64 qemu lane boots: the BPF program names types 6.1 lacks (alloc_vmap_area's tracepoint
# record); CO-RE checks them against the running kernel's BTF at load. Its /boot/vmlinuz is a raw
# arm64 Image, not an ELF file (measured on 6.1.0-57 and 6.12.118: uncompressed, 27 and 35 MB;
# gzip-compressed ones are unpacked first), so there is no .BTF section for bpftool to read: the
# BTF blob is cut out of the Image at its header (magic 0xeB9F, version 1, hdr_len 24; size
# hdr_len + the end of the type or string section, whichever is last). Exactly one such header is
# accepted, and bpftool then parses the blob. vmlinux/aarch64/vmlinux.h says which package it
# came from on its first line.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
arch=$(uname -m) btf=/sys/kernel/btf/vmlinux
if [ "${1:-}" = --arch ]; then arch=${2:?--arch needs x86_64 or aarch64}; shift 2; fi
[ $# -eq 0 ] || btf=$1

# aarch64_btf DIR: the BTF of linux-image-cloud-arm64's kernel, cut out of its Image, in DIR/btf.
aarch64_btf() {
  local dir=$1 pkg
  pkg=$(apt-cache depends ${KLEAK_ARM64_KERNEL:-linux-image-6.12-cloud-arm64}:arm64 | awk '/Depends: linux-image-6/ { print $2; exit }')
  [ -n "$pkg" ] || { echo "gen-vmlinux: no ${KLEAK_ARM64_KERNEL:-linux-image-6.12-cloud-arm64}:arm64 (run tools/install-deps.sh --arm64)" >&2; exit 1; }
  (cd "$dir" && apt-get -qq -o APT::Sandbox::User=root download "$pkg")
  dpkg-deb -x "$dir"/linux-image-*_arm64.deb "$dir/root"
  python3 - "$dir"/root/boot/vmlinuz-* "$dir/btf" <<'EOF'
import gzip, struct, sys
image = open(sys.argv[1], 'rb').read()
if image[:2] == b'\x1f\x8b':
    image = gzip.decompress(image)
# struct btf_header: u16 magic, u8 version, u8 flags, u32 hdr_len, type_off, type_len, str_off, str_len
head = b'\x9f\xeb\x01\x00\x18\x00\x00\x00'
at = image.find(head)
if at < 0 or image.find(head, at + 1) >= 0:
    sys.exit(f"gen-vmlinux: {sys.argv[1]}: not exactly one BTF header")
_, _, _, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from('<HBBIIIII', image, at)
size = hdr_len + max(type_off + type_len, str_off + str_len)
open(sys.argv[2], 'wb').write(image[at:at + size])
print(f"gen-vmlinux: {sys.argv[1]}: {len(image)} bytes, BTF at offset {at}, {size} bytes", file=sys.stderr)
EOF
  echo "$pkg" >"$dir/package"
}

source_of=$btf
if [ "$arch" = aarch64 ] && [ $# -eq 0 ]; then
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  aarch64_btf "$work"
  btf=$work/btf source_of=$(cat "$work/package")
fi
out="$here/vmlinux/$arch/vmlinux.h"
mkdir -p "$(dirname "$out")"
{
  # Where an arm64 header came from (x86_64's: the machine that ran this).
  [ "$source_of" = "$btf" ] || echo "/* tools/gen-vmlinux.sh --arch $arch: the BTF of $source_of */"
  bpftool btf dump file "$btf" format c
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out ($(wc -l < "$out") lines) from $source_of" >&2
