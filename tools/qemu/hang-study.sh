#!/usr/bin/env bash
# Issue 22's hang study: does kleak take part in the 5.10 guest's RCU stalls and soft lockups?
# Boots the 5.10 lane RUNS times, alternating two arms, each running ROUNDS rounds of the soak
# test's load (tests/qemu/churn-study.sh): under `kleak trace` (arm kleak) and alone (arm control).
# Load the host as CI's first hang did (a build running) while it runs. One line per run goes to
# STUDY_DIR/runs.tsv: arm, qemu status (124/137: killed, the guest hung), rounds done, kernel
# complaints counted in the guest, seconds; each run's console and extra.log are kept.
#
# STUDY_TESTS=FILTER runs those integration tests instead (arm "tests", every run): the tests the
# hangs happened in, as the lane runs them. STUDY_KLEAK_ARGS adds flags to the kleak arm's trace,
# e.g. "--kinds kmalloc,slab,page,percpu --bulk-frees off": the arm without the vmalloc kretprobe
# and the bulk fentry, to tell their part from the tracepoints'.
#
#   tools/qemu/hang-study.sh [RUNS] [ROUNDS]     (as root; needs build/ and build-static/)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-6}
rounds=${2:-12}
dir=${STUDY_DIR:-$here/build/hang-study}
kernel=${KLEAK_QEMU_KERNEL:-5.10}
mkdir -p "$dir"
[ -s "$dir/runs.tsv" ] || printf 'arm\tqemu_status\trounds_done\tcomplaints\tseconds\tloadavg\n' >"$dir/runs.tsv"
for i in $(seq 1 "$runs"); do
  arm=kleak; [ $((i % 2)) -eq 0 ] && arm=control
  script="$dir/extra-$arm.sh"
  { echo "ARM=$arm ROUNDS=$rounds STUDY_KLEAK_ARGS='${STUDY_KLEAK_ARGS:-}'"; cat "$here/tests/qemu/churn-study.sh"; } >"$script"
  filter='NoTest.Selected'
  if [ -n "${STUDY_TESTS:-}" ]; then
    arm=tests filter=$STUDY_TESTS
    echo 'exit 0' >"$script"
  fi
  t0=$(date +%s)
  set +e
  KLEAK_QEMU_KERNEL=$kernel KLEAK_LANE_SKIP_BUILD=1 KLEAK_LANE_SCENARIOS="" \
    KLEAK_LANE_GTEST_FILTER="$filter" KLEAK_LANE_EXTRA_SCRIPT="$script" \
    KLEAK_LANE_EXTRA_TIMEOUT=$((rounds * 90)) KLEAK_LANE_TIMEOUT=$((rounds * 90 + 300)) \
    "$here/tools/qemu/run-lane.sh" >"$dir/run-$i-$arm.log" 2>&1
  set -e
  qdir=$here/build/qemu; [ "$kernel" = 5.10 ] && qdir=$here/build/qemu-5.10
  cp "$qdir/console.log" "$dir/console-$i-$arm.log" 2>/dev/null || true
  cp "$qdir/results/extra.log" "$dir/extra-$i-$arm.log" 2>/dev/null || true
  qrc=$(sed -n 's/.*qemu status \([0-9]*\).*/\1/p' "$dir/run-$i-$arm.log" | tail -n 1)
  grep -q 'qemu was killed' "$dir/run-$i-$arm.log" && qrc=killed
  done_rounds=$(tr -d '\r' <"$dir/console-$i-$arm.log" | grep -cE "LANE: study $arm round|LANE: \[[0-9]+/[0-9]+\] PASS" || true)
  complaints=$(tr -d '\r' <"$dir/console-$i-$arm.log" | grep -cE 'soft lockup|rcu_.*detected stall|rcu: INFO|blocked for more than' || true)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$arm" "${qrc:-0}" "$done_rounds" "$complaints" "$(($(date +%s) - t0))" \
    "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$dir/runs.tsv"
done
