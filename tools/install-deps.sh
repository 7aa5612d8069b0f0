#!/usr/bin/env bash
# Installs what building and running kleak needs on a fresh Debian 12 machine (tools/run.sh);
# with --test also what only the tests use (tools/test.sh, CI); with --arm64 also the aarch64
# cross compiler, the arm64 static archives the static link uses and qemu-user to run the result
# (tools/build-static.sh --arch aarch64).
# Idempotent: packages already present are not fetched again.
set -euo pipefail
test_deps=0 arm64=0
while :; do
  case "${1:-}" in
    --test) test_deps=1; shift ;;
    --arm64) arm64=1; shift ;;
    *) break ;;
  esac
done
# Extra package names on the command line are installed the same way (tools/bench.sh uses it).
pkgs=("$@"
  build-essential cmake pkg-config
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev
  libprotobuf-dev protobuf-compiler golang-github-google-pprof-dev
  libboost-dev libssl-dev libyaml-cpp-dev libcrypt-dev
)
# Test-only: gtest, the libFuzzer runtime (tools/fuzz.sh), the pprof and svg checks (go,
# chromium), the Prometheus client, cpp-httplib as the tests' HTTP client, a real Prometheus
# server with promtool, htpasswd (bcrypt) and openssl for the serve tests, and the packaging tests (tests/package/: lintian, a clean
# Debian root with mmdebstrap, podman with runc and catatonit (kube play's pause image),
# systemd-analyze, groff for the man page, zsh and fish to run their completions).
[ $test_deps = 0 ] || pkgs+=(
  libgtest-dev libgmock-dev googletest libclang-rt-14-dev python3-prometheus-client libcpp-httplib-dev
  golang-go chromium
  lintian mmdebstrap gpgv podman runc catatonit systemd groff python3-yaml zsh fish
  prometheus apache2-utils openssl curl
)
# arm64: the cross compiler, the arm64 multiarch -dev packages holding the archives the static
# link takes (libbpf, libelf, zlib, zstd for libelf, protobuf, OpenSSL, libxcrypt, fmt's CMake
# package; libc6-dev:arm64 comes with them) and qemu-user-static: the man page and completions
# are rendered by running the arm64 kleak (CMAKE_CROSSCOMPILING_EMULATOR). Not libyaml-cpp-dev:arm64:
# it is not Multi-Arch: same, installing it removes the host's (tools/build-static.sh takes its
# archive from the downloaded .deb). Build-time tools (clang, bpftool, protoc) stay the host's.
if [ $arm64 = 1 ]; then
  pkgs+=(g++-aarch64-linux-gnu qemu-user-static
    libbpf-dev:arm64 libelf-dev:arm64 zlib1g-dev:arm64 libzstd-dev:arm64 libprotobuf-dev:arm64
    libssl-dev:arm64 libcrypt-dev:arm64 libfmt-dev:arm64)
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
  fi
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# tracefs is needed by the classic tracepoint fallback and by the feature probes.
if [ ! -e /sys/kernel/tracing/events ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi
