#!/usr/bin/env bash
# Builds one fully static kleak (and kleak-planter):
#
#   tools/build-static.sh                 -> build-static/kleak, x86_64, stripped, the BPF object embedded
#   tools/build-static.sh --arch aarch64  -> build-static-aarch64/kleak, cross-built for arm64
#
# for machines kleak was not built on: it needs no shared library, not even the C library. It
# installs what is missing (tools/install-deps.sh, as root or through sudo) and configures CMake
# with -DKLEAK_STATIC=ON -DKLEAK_BUILD_TESTS=OFF: every library it links has a static archive in
# Debian 12 (libbpf, libelf, zlib, protobuf, OpenSSL, yaml-cpp, libxcrypt, glibc).
# Name resolution is glibc's static one: `--serve` takes numeric addresses or names in
# /etc/hosts (NSS modules are not loaded).
#
# aarch64: Debian's g++-aarch64-linux-gnu against the arm64 multiarch archives
# (tools/install-deps.sh --arm64; toolchain cmake/aarch64-linux-gnu.cmake). clang, bpftool and
# protoc are the host's; the BPF object is built with -D__TARGET_ARCH_arm64 against
# vmlinux/aarch64/vmlinux.h. libyaml-cpp-dev is not Multi-Arch: same (its arm64 package would
# replace the host's), so its arm64 archive is taken from the downloaded .deb into the build tree.
# `cpack` there makes kleak_<version>_arm64.deb (the man page is rendered under qemu-aarch64-static).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
arch=x86_64
if [ "${1:-}" = --arch ]; then arch=${2:?--arch needs x86_64 or aarch64}; shift 2; fi
[ $# -eq 0 ] || { echo "build-static: unexpected argument $1 (usage: build-static.sh [--arch x86_64|aarch64])" >&2; exit 2; }
sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DKLEAK_STATIC=ON -DKLEAK_BUILD_TESTS=OFF)
case $arch in
  x86_64)
    out="${KLEAK_STATIC_BUILD_DIR:-$here/build-static}" want='x86-64'
    # file: the check below.
    "${sudo_cmd[@]}" "$here/tools/install-deps.sh" file ;;
  aarch64)
    out="${KLEAK_STATIC_BUILD_DIR:-$here/build-static-aarch64}" want='ARM aarch64'
    "${sudo_cmd[@]}" "$here/tools/install-deps.sh" --arm64 file
    yaml_deb_dir=$out/deps/libyaml-cpp-dev
    yaml_a=$yaml_deb_dir/root/usr/lib/aarch64-linux-gnu/libyaml-cpp.a
    if [ ! -e "$yaml_a" ]; then
      mkdir -p "$yaml_deb_dir"
      (cd "$yaml_deb_dir" && apt-get -qq -o APT::Sandbox::User=root download libyaml-cpp-dev:arm64)
      dpkg-deb -x "$yaml_deb_dir"/libyaml-cpp-dev_*_arm64.deb "$yaml_deb_dir/root"
    fi
    cmake_args+=(-DCMAKE_TOOLCHAIN_FILE="$here/cmake/aarch64-linux-gnu.cmake" -DYAML_CPP_LIB="$yaml_a") ;;
  *) echo "build-static: unsupported --arch $arch (x86_64 or aarch64)" >&2; exit 2 ;;
esac

cmake -S "$here" -B "$out" "${cmake_args[@]}" >/dev/null
cmake --build "$out" -j"$(nproc)" --target kleak kleak-planter
for bin in kleak kleak-planter; do
  file -L "$out/$bin" | grep 'statically linked' | grep -q "$want" ||
    { echo "build-static: $out/$bin is not a static $want executable" >&2; file "$out/$bin" >&2; exit 1; }
done
echo "build-static: $out/kleak ($(du -k "$out/kleak" | cut -f1) KiB, static $arch, stripped)" >&2
