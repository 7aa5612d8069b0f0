#!/usr/bin/env bash
# Builds one fully static x86_64 kleak (and kleak-planter) into build-static/:
#
#   tools/build-static.sh          -> build-static/kleak, stripped, the BPF object embedded
#
# for machines kleak was not built on: it needs no shared library, not even the C library. It
# installs what is missing (tools/install-deps.sh, as root or through sudo), fetches Debian's
# cpp-httplib source package once (its full header-only httplib.h: Debian's libcpp-httplib-dev
# ships only a header that declares what its shared library defines) into
# build-static/_deps/, and configures CMake with -DKLEAK_STATIC=ON -DKLEAK_BUILD_TESTS=OFF.
# Name resolution is glibc's static one: `serve --listen` takes numeric addresses or names in
# /etc/hosts (NSS modules are not loaded).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out="${KLEAK_STATIC_BUILD_DIR:-$here/build-static}"
sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
# file: the check below; dpkg-dev: dpkg-source unpacks the cpp-httplib source.
"${sudo_cmd[@]}" "$here/tools/install-deps.sh" file dpkg-dev

deps="$out/_deps"
hdr="$deps/cpp-httplib/src"
if [ ! -s "$hdr/httplib.h" ]; then
  rm -rf "$deps/cpp-httplib"
  mkdir -p "$deps/cpp-httplib/dl"
  echo "build-static: apt-get source cpp-httplib (Debian 12)" >&2
  (cd "$deps/cpp-httplib/dl" &&
    "$here/tools/apt-suite.sh" "$deps/apt-bookworm-src" "deb-src bookworm main" \
      -qq source --download-only cpp-httplib >/dev/null)
  # dpkg-source applies Debian's patches (security fixes) to the upstream header.
  dpkg-source --no-check -x "$deps"/cpp-httplib/dl/cpp-httplib_*.dsc "$hdr" >/dev/null
  [ -s "$hdr/httplib.h" ] || { echo "build-static: no httplib.h in Debian's cpp-httplib source" >&2; exit 1; }
fi

cmake -S "$here" -B "$out" -DCMAKE_BUILD_TYPE=Release -DKLEAK_STATIC=ON -DKLEAK_BUILD_TESTS=OFF \
  -DKLEAK_HTTPLIB_HEADER_DIR="$hdr" >/dev/null
cmake --build "$out" -j"$(nproc)" --target kleak kleak-planter
file -L "$out/kleak" | grep -q 'statically linked' ||
  { echo "build-static: $out/kleak is not statically linked" >&2; file "$out/kleak" >&2; exit 1; }
echo "build-static: $out/kleak ($(du -k "$out/kleak" | cut -f1) KiB, static, stripped)" >&2
