#!/usr/bin/env bash
# Installs what building and running kleak needs on a fresh Debian 12 machine (tools/run.sh);
# with --test also what only the tests use (tools/test.sh, CI).
# Idempotent: packages already present are not fetched again.
set -euo pipefail
test_deps=0
if [ "${1:-}" = --test ]; then test_deps=1; shift; fi
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
