#!/usr/bin/env bash
# What tools/bench.sh needs beyond kleak's own dependencies (tools/install-deps.sh):
#   bpftrace    the bpftrace comparison scripts (bench/memleak.bt, bench/count.bt)
#   linux-perf  the profile of where the traced time goes (optional: skipped if it cannot run)
#   python3     the driver (bench/bench.py)
#   util-linux  taskset
#   libbenchmark-dev  google-benchmark
#   redis-server redis-tools  the redis workload (redis-server, redis-benchmark; bench/servers.py)
#   nginx-light wrk           the nginx workload (one nginx process serving a 4 KiB file to wrk)
# The packages' own services (if an init system starts them) are left alone: the bench starts its
# own servers on free loopback ports from throwaway configs in its temporary directory.
# Idempotent: only packages dpkg-query does not show as installed are fetched.
set -euo pipefail
exec "$(dirname "$0")/../tools/install-deps.sh" bpftrace linux-perf python3 util-linux libbenchmark-dev \
  redis-server redis-tools nginx-light wrk
