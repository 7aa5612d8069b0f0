#!/usr/bin/env bash
# Installs every build, test and run dependency of kleak on a fresh Debian 12 machine.
# Idempotent: packages already present are not fetched again.
set -euo pipefail
# Extra package names on the command line are installed the same way (tools/bench.sh uses it).
pkgs=("$@"
  build-essential cmake pkg-config
  clang llvm libclang-rt-14-dev libbpf-dev bpftool libelf-dev zlib1g-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev libcpp-httplib-dev python3-prometheus-client
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libprotobuf-dev protobuf-compiler golang-github-google-pprof-dev
  golang-go chromium
  libboost-dev libyaml-cpp-dev libcrypt-dev libssl-dev prometheus apache2-utils openssl curl
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
