#!/bin/sh
# Issue 22's hang study, run in the guest as the lane's extra script (tools/qemu/hang-study.sh
# prepends ARM=, ROUNDS= and STUDY_KLEAK_ARGS=, the kleak arm's extra trace flags). Each round is Soak.ChurnAndForksForAWhile's load: 300 filled pipes
# held while the planter churns pipes for 20 s and a shell forks /bin/true as fast as it can.
# ARM=kleak runs it under the same `kleak trace` the soak test runs; ARM=control runs the load
# alone. After each round the kernel's complaints so far are counted (soft lockup, RCU stall,
# hung task), so a run that does not hang outright still shows a stall.
. /lane/config
say() { echo "LANE: $*" >/dev/console; echo "LANE: $*"; }
complaints() { dmesg | grep -cE 'soft lockup|rcu_.*detected stall|rcu: INFO|blocked for more than'; }
S=${STUDY_SECONDS:-20}
out=${TMPDIR:-/tmp}
i=0
while [ $i -lt "$ROUNDS" ]; do
  i=$((i + 1))
  kpid=
  if [ "$ARM" = kleak ]; then
    rm -f "$out/study.err" "$out/study.ready"
    "$KLEAK_BIN" trace --ready-fd 3 --duration 1h --format json --top 1000 --interval 5s -o "$out/study.json" \
      $STUDY_KLEAK_ARGS 2>"$out/study.err" 3>"$out/study.ready" &
    kpid=$!
    # Ready when its --ready-fd line is written (every program attached), or gone; 2 min at most.
    w=0
    while kill -0 $kpid 2>/dev/null && ! grep -q '"ready":true' "$out/study.ready" && [ $w -lt 600 ]; do
      w=$((w + 1)); sleep 0.2
    done
  fi
  "$KLEAK_PLANTER" --pipes 300 --fill 60000 --churn-seconds "$S" --hold "$S" >/dev/null &
  ppid=$!
  end=$(($(cut -d. -f1 /proc/uptime) + S))
  n=0
  while [ "$(cut -d. -f1 /proc/uptime)" -lt $end ]; do /bin/true; n=$((n + 1)); done
  wait $ppid
  prc=$?
  krc=-
  if [ -n "$kpid" ]; then kill -INT $kpid; wait $kpid; krc=$?; fi
  say "study $ARM round $i/$ROUNDS: forks=$n planter=$prc kleak=$krc complaints=$(complaints)"
done
say "study $ARM done: complaints=$(complaints)"
dmesg | grep -E -A 30 'soft lockup|rcu_.*detected stall|rcu: INFO|blocked for more than' | head -n 200
