#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test suite (unit, BPF, integration) with ctest.
# BPF and integration tests need root; with KLEAK_REQUIRE_BPF=1 (CI) they fail instead of skipping
# when they cannot run. A test that fails is run once more (--repeat until-pass:2): both attempts
# stay in the log, so a flaky test shows as one.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
# Each step's wall time on stderr: CI's log says which of the builds or the tests grew.
step() {
  local name=$1 t0=$SECONDS
  shift
  "$@"
  echo "test.sh: $name took $((SECONDS - t0)) s" >&2
}
step install-deps "${sudo_cmd[@]}" "$here/tools/install-deps.sh" --test
step build "$here/tools/build.sh"
# The bench's programs (tools/bench.sh) link the stage libraries: built here so that a change to
# them fails the tests, not the next benchmark (a merge broke kleak-bench-tracer unseen once).
step build-bench cmake --build "$here/build" -j"$(nproc)" --target kleak-bench-wl kleak-bench-agg kleak-bench-tracer
# The .deb and the container image tests (tests/package/) package the static build.
step build-static "$here/tools/build-static.sh"
# The arm64 artifacts, built once here and reused by package.arm64, package.container_manifest and
# the arm64 qemu lane (13 min cold on the 2-core box under load, seconds when up to date).
step build-static-aarch64 "$here/tools/build-static.sh" --arch aarch64
cd "$here/build"
t0=$SECONDS
trap 'echo "test.sh: ctest took $((SECONDS - t0)) s" >&2' EXIT
"${sudo_cmd[@]}" env ${KLEAK_REQUIRE_BPF:+KLEAK_REQUIRE_BPF=1} ${KLEAK_REQUIRE_TOOLS:+KLEAK_REQUIRE_TOOLS=1} ctest --output-on-failure --timeout 600 --repeat until-pass:2 "$@"
