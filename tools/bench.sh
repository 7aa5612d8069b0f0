#!/usr/bin/env bash
# What does tracing cost? Installs what the bench needs, builds kleak and the bench programs,
# and runs bench/bench.py (as root): allocation-heavy loops bare / under `kleak trace` / under
# bpftrace (A/B alternated, medians), kleak's userspace cost for 1M outstanding allocations,
# and the tracer's own CPU and RSS over 60 s. See bench/README.md.
#
#   tools/bench.sh             full run (~10-15 min), writes bench/results.json
#   tools/bench.sh --quick     pipe loop only, short runs (~2 min), writes build/bench/results-quick.json
#   tools/bench.sh --help      every option (rounds, seconds, workloads, CPU, output file)
#   --no-build                 use build/ as it is
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "bench: must run as root (BPF, perf, bpftrace)" >&2
  exit 1
fi
build=1
args=()
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    -h|--help) exec python3 "$here/bench/bench.py" --help ;;
    *) args+=("$a") ;;
  esac
done
"$here/tools/install-deps.sh"
"$here/bench/deps.sh"
if [ "$build" = 1 ]; then
  "$here/tools/build.sh" >/dev/null
  cmake --build "$here/build" -j"$(nproc)" --target kleak-bench-wl kleak-bench-agg kleak-bench-tracer >/dev/null
fi
exec /usr/bin/python3 "$here/bench/bench.py" "${args[@]}"
