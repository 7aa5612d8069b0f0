#!/usr/bin/env bash
# Regenerates vmlinux/<arch>/vmlinux.h from the running kernel's BTF (or a BTF file given as $1).
# The committed header is only a type source for CO-RE: field offsets are relocated at load time
# against the target kernel's own BTF, so one header serves every kernel with BTF.
set -euo pipefail
btf=${1:-/sys/kernel/btf/vmlinux}
arch=$(uname -m)
here=$(cd "$(dirname "$0")/.." && pwd)
out="$here/vmlinux/$arch/vmlinux.h"
mkdir -p "$(dirname "$out")"
bpftool btf dump file "$btf" format c > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out ($(wc -l < "$out") lines) from $btf" >&2
