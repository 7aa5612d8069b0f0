#!/usr/bin/env bash
# What tools/bench.sh needs beyond kleak's own dependencies (tools/install-deps.sh):
#   bpftrace    the bpftrace comparison scripts (bench/memleak.bt, bench/count.bt)
#   linux-perf  the profile of where the traced time goes (optional: skipped if it cannot run)
#   python3     the driver (bench/bench.py)
#   util-linux  taskset
# Idempotent: only packages dpkg-query does not show as installed are fetched.
set -euo pipefail
pkgs=(bpftrace linux-perf python3 util-linux)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
