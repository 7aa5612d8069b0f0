#!/usr/bin/env bash
# What tools/bench.sh needs beyond kleak's own dependencies (tools/install-deps.sh):
#   bpftrace    the bpftrace comparison scripts (bench/memleak.bt, bench/count.bt)
#   linux-perf  the profile of where the traced time goes (optional: skipped if it cannot run)
#   python3     the driver (bench/bench.py)
#   util-linux  taskset
#   libbenchmark-dev  google-benchmark
# Idempotent: only packages dpkg-query does not show as installed are fetched.
set -euo pipefail
exec "$(dirname "$0")/../tools/install-deps.sh" bpftrace linux-perf python3 util-linux libbenchmark-dev
