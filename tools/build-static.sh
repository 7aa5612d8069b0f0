#!/usr/bin/env bash
# Builds one fully static x86_64 kleak (and kleak-planter) into build-static/:
#
#   tools/build-static.sh          -> build-static/kleak, stripped, the BPF object embedded
#
# for machines kleak was not built on: it needs no shared library, not even the C library. It
# installs what is missing (tools/install-deps.sh, as root or through sudo) and configures CMake
# with -DKLEAK_STATIC=ON -DKLEAK_BUILD_TESTS=OFF: every library it links has a static archive in
# Debian 12 (libbpf, libelf, zlib, protobuf, OpenSSL, yaml-cpp, libxcrypt, glibc).
# Name resolution is glibc's static one: `--serve` takes numeric addresses or names in
# /etc/hosts (NSS modules are not loaded).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out="${KLEAK_STATIC_BUILD_DIR:-$here/build-static}"
sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
# file: the check below.
"${sudo_cmd[@]}" "$here/tools/install-deps.sh" file

cmake -S "$here" -B "$out" -DCMAKE_BUILD_TYPE=Release -DKLEAK_STATIC=ON -DKLEAK_BUILD_TESTS=OFF >/dev/null
cmake --build "$out" -j"$(nproc)" --target kleak kleak-planter
file -L "$out/kleak" | grep -q 'statically linked' ||
  { echo "build-static: $out/kleak is not statically linked" >&2; file "$out/kleak" >&2; exit 1; }
echo "build-static: $out/kleak ($(du -k "$out/kleak" | cut -f1) KiB, static, stripped)" >&2
