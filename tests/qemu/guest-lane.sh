#!/bin/sh
# The second-kernel lane, inside the guest (run by /init, see tests/qemu/init). It only runs
# things and collects what they said into /results; tools/qemu/run-lane.sh checks it all on the
# host. Lines starting with "LANE:" go to the console, which the host shows as progress;
# "LANE-BALLOON-REQUEST" asks the host to inflate the balloon through QMP.
#
# /lane/config (written by run-lane.sh) sets: KLEAK_BIN, KLEAK_PLANTER, KLEAK_TESTS,
# BALLOON_BYTES, TEST_TIMEOUT, SCENARIO_TIMEOUT, EXTRA_TIMEOUT, GTEST_FILTER, SCENARIOS, LEAK_* (the leaky
# driver's requests), BULK_LEAK, BULK_FORKS (the bulk scenario's).
set -u
. /lane/config
export KLEAK_REQUIRE_BPF=1
# The tests' KLEAK_NEEDS (tests/integration/harness.h): HostOnly and NativeSpeed skip here.
export KLEAK_LANE=tcg
if grep -q " /scratch " /proc/mounts; then export TEST_TMPDIR=/scratch/ TMPDIR=/scratch; fi
R=/results
mkdir -p "$R/gtest" "$R/leaky" "$R/balloon"
echo "$SCENARIOS" >"$R/scenarios.txt"
echo "$GTEST_FILTER" >"$R/gtest-filter.txt"

say() { echo "LANE: $*" >/dev/console; echo "LANE: $*"; }
now() { cut -d. -f1 /proc/uptime; }

# ---- what this kernel offers (for the report) ---------------------------------------------
{
  echo "release=$(uname -r)"
  echo "version=$(cat /proc/version)"
  echo "cmdline=$(cat /proc/cmdline)"
  echo "possible_cpus=$(cat /sys/devices/system/cpu/possible)"
  for s in alloc_vmap_area free_vmap_area_noflush pipe_write anon_pipe_write balloon_page_alloc \
           fill_balloon __vmalloc_node_range kmalloc_large_node_notrace; do
    if grep -q " $s\$\| $s	" /proc/kallsyms; then echo "kallsyms.$s=yes"; else echo "kallsyms.$s=no"; fi
  done
  for e in kmem/kmalloc kmem/kmem_cache_alloc vmalloc/alloc_vmap_area percpu/percpu_alloc_percpu; do
    if [ -d "/sys/kernel/tracing/events/$e" ]; then echo "tracepoint.$e=yes"; else echo "tracepoint.$e=no"; fi
  done
  echo "kmem_cache_alloc.format:"
  cat /sys/kernel/tracing/events/kmem/kmem_cache_alloc/format 2>&1 | sed -n 's/^\s*field:/  field:/p'
  echo "percpu_alloc_percpu.format:"
  cat /sys/kernel/tracing/events/percpu/percpu_alloc_percpu/format 2>&1 | sed -n 's/^\s*field:/  field:/p'
  echo "kmem_events=$(ls /sys/kernel/tracing/events/kmem | paste -sd' ' -)"
  echo "kprobe_pmu=$([ -e /sys/bus/event_source/devices/kprobe/type ] && echo yes || echo no)"
  echo "modules:"
  cat /proc/modules
} >"$R/env.txt" 2>&1

# ---- an investigation script passed with KLEAK_LANE_EXTRA_SCRIPT (none by default) ---------
if [ -x /lane/extra.sh ]; then
  say "running the extra script"
  timeout -s KILL "${EXTRA_TIMEOUT:-$SCENARIO_TIMEOUT}" /lane/extra.sh >"$R/extra.log" 2>&1
  say "extra script exited $?"
fi

# ---- kleak's integration tests, one process per test so that a hang costs one test --------
t0=$(now)
tests=
# None on the arm64 lane (KLEAK_TESTS empty, GTEST_FILTER -*: no arm64 build of the tests).
if [ -n "$KLEAK_TESTS" ] && [ "$GTEST_FILTER" != "-*" ]; then
  tests=$("$KLEAK_TESTS" --gtest_list_tests --gtest_filter="${GTEST_FILTER:-*}" |
    awk '/^[^ ]/ { suite = $1 } /^  [^ ]/ { print suite $1 }')
fi
ntests=$(echo "$tests" | grep -c .)
say "integration tests: $ntests to run (timeout ${TEST_TIMEOUT}s each)"
: >"$R/gtest.tsv"
i=0
for t in $tests; do
  i=$((i + 1))
  s=$(now)
  timeout -s KILL "$TEST_TIMEOUT" "$KLEAK_TESTS" --gtest_filter="$t" --gtest_color=no \
    >"$R/gtest/$t.log" 2>&1
  rc=$?
  d=$(($(now) - s))
  if [ $rc -eq 137 ]; then
    st=TIMEOUT
    killall -9 kleak kleak-planter 2>/dev/null
  elif [ $rc -eq 0 ] && grep -q '^\[  SKIPPED \]' "$R/gtest/$t.log"; then
    st=SKIP
  elif [ $rc -eq 0 ] && grep -q '^\[  PASSED  \] 1 test' "$R/gtest/$t.log"; then
    st=PASS
  else
    st=FAIL
  fi
  if [ "$st" = FAIL ]; then
    # Once more: under TCG a test that races the emulated clock can fail where the host never
    # does. A pass on the retry is reported by name (check-results.sh), never silently.
    killall -9 kleak kleak-planter 2>/dev/null
    if timeout -s KILL "$TEST_TIMEOUT" "$KLEAK_TESTS" --gtest_filter="$t" --gtest_color=no \
         >"$R/gtest/$t.retry.log" 2>&1 && grep -q '^\[  PASSED  \] 1 test' "$R/gtest/$t.retry.log"; then
      st=PASS
      echo "$t" >>"$R/gtest-flaky.txt"
    fi
  fi
  printf '%s\t%s\t%s\n' "$t" "$st" "$d" >>"$R/gtest.tsv"
  say "[$i/$ntests] $st $t (${d}s)"
done
say "integration tests done in $(($(now) - t0))s"

# ---- the root without Debian libraries ----------------------------------------------------------
# STATIC_ROOT holds only static executables (run-lane.sh checks that on the host): the attach
# survey and the scenarios run the static kleak there, chrooted, as on a machine it was not built
# on. The integration tests above ran the dynamic build from the initramfs root (set up after
# them, so that they see no second set of mounts).
KLEAK_RUN=$KLEAK_BIN
if [ -n "${STATIC_ROOT:-}" ] && [ -x "$STATIC_ROOT/usr/bin/kleak" ]; then
  (cd "$STATIC_ROOT" && find . | sort) >"$R/static-root.txt"
  for m in proc sys dev; do mount -o rbind "/$m" "$STATIC_ROOT/$m"; done
  mount -o bind "$R" "$STATIC_ROOT/results"
  KLEAK_RUN="chroot $STATIC_ROOT /usr/bin/kleak"
  chroot "$STATIC_ROOT" /usr/bin/kleak --version >"$R/static-version.txt" 2>&1
  echo "$?" >>"$R/static-version.txt"
fi
echo "$KLEAK_RUN" >"$R/kleak-run.txt"

# ---- which variant kleak attaches per family, for every --attach mode ----------------------
mkdir -p "$R/attach"
for mode in auto raw_tp tracepoint kprobe; do
  timeout -s KILL 120 $KLEAK_RUN trace --attach "$mode" --duration 1s --top 1 \
    >"$R/attach/$mode.txt" 2>"$R/attach/$mode.err"
  echo $? >"$R/attach/$mode.rc"
done
say "attach modes surveyed"

# ---- helpers for the scenarios -------------------------------------------------------------
# await_ready FILE PID SECONDS: until the kleak at PID (started with `--ready-fd 3 3>FILE`) has
# written its ready line to FILE: every program attached. 0 then; 1 when it exited without one,
# 2 after SECONDS. A file rather than a fifo: a fifo's writer blocks in open() until the reader
# comes, which would start the bulk scenario's two tracers one after the other.
await_ready() {
  ar_w=0
  while ! grep -q '"ready":true' "$1" 2>/dev/null; do
    if ! kill -0 "$2" 2>/dev/null; then
      grep -q '"ready":true' "$1" 2>/dev/null && return 0
      return 1
    fi
    ar_w=$((ar_w + 1))
    [ $ar_w -gt $(($3 * 5)) ] && return 2
    sleep 0.2
  done
}
# start_trace DIR [ARGS]: `kleak trace` in the background, JSON report to DIR/trace.json; waits
# until it is ready (DIR/trace.ready). Sets TRACE_PID.
start_trace() {
  sd=$1
  shift
  $KLEAK_RUN trace --ready-fd 3 --duration 1h --format json --top 1000 -o "$sd/trace.json" "$@" \
    2>"$sd/trace.err" 3>"$sd/trace.ready" &
  TRACE_PID=$!
  await_ready "$sd/trace.ready" "$TRACE_PID" "$SCENARIO_TIMEOUT"
  case $? in
    0) ;;
    1) say "kleak trace exited before tracing"; return 1 ;;
    *) say "kleak trace did not start"; return 1 ;;
  esac
}
stop_trace() {
  kill -INT "$TRACE_PID"
  wait "$TRACE_PID"
  echo "$?" >"$1/trace.rc"
}
vmstat_get() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }

# ---- scenario 1: a leaky out-of-tree driver ------------------------------------------------
# leak_under_trace DIR [kleak trace args]: the driver leaks while kleak traces; DIR gets the
# report (trace.json), what the driver says it holds (stats.txt), and the driver frees it all.
leak_under_trace() {
  d=$1
  shift
  mkdir -p "$d"
  if start_trace "$d" "$@"; then
    {
      echo "kmalloc ${LEAK_KMALLOC}" >/sys/kernel/debug/leaky/leak &&
        echo "cache ${LEAK_CACHE} 0" >/sys/kernel/debug/leaky/leak &&
        echo "kmalloc_node ${LEAK_KMALLOC_NODE}" >/sys/kernel/debug/leaky/leak &&
        echo "cache_node ${LEAK_CACHE_NODE} 0" >/sys/kernel/debug/leaky/leak &&
        echo "vmalloc ${LEAK_VMALLOC}" >/sys/kernel/debug/leaky/leak &&
        echo "pages ${LEAK_PAGES0}" >/sys/kernel/debug/leaky/leak &&
        echo "pages ${LEAK_PAGES2}" >/sys/kernel/debug/leaky/leak
    } 2>"$d/leak.err" || say "writing to /sys/kernel/debug/leaky/leak failed"
    {
      tr -d '\n' </sys/kernel/debug/leaky/stats
      echo " cache_slab_size=$(cat /sys/kernel/slab/leaky_cache/slab_size 2>/dev/null || echo 0)"
    } >"$d/stats.txt"
    sleep 1
    stop_trace "$d"
  fi
  echo 1 >/sys/kernel/debug/leaky/free
}
case " $SCENARIOS " in *" leaky "*) ;; *) say "leaky scenario not selected"; skip_leaky=1 ;; esac
if [ -z "${skip_leaky:-}" ]; then
  s=$(now)
  say "leaky module scenario"
  if insmod /lane/leaky.ko 2>"$R/leaky/insmod.err"; then
    grep '[[:space:]]\[leaky\]$' /proc/kallsyms >"$R/leaky/kallsyms.txt"  # "addr t name\t[leaky]"
    leak_under_trace "$R/leaky"                                  # the best attach mode
    leak_under_trace "$R/leaky-tracepoint" --attach tracepoint   # classic tracepoints (CO-RE)
    rmmod leaky || say "rmmod leaky failed"
  else
    say "insmod leaky.ko failed: $(cat "$R/leaky/insmod.err")"
  fi
  say "leaky module scenario done in $(($(now) - s))s"
fi

# ---- scenario: frees without a per-object event (kmem_cache_free_bulk, kfree_rcu) ------------
# Two `kleak trace` at once over the same window, the default one ("on") and one with
# --bulk-frees off ("off"), so that both see the same allocations and frees. The driver's leaks
# are made by /lane/leakyctl (a script: its comm, "leakyctl", is what the reports are filtered on,
# so that they stay small; the filter is a view of the records, every free still reaches BPF).
# BULK_LEAK="A E M S": A objects of leaky_cache from kmem_cache_alloc_bulk and E from
# kmem_cache_alloc, all in one array given back by one kmem_cache_free_bulk (A + E <= 512), and M
# kmallocs of S bytes given to kfree_rcu. Conditions, never sleeps: the leaks are awaited in both
# instances' reports (one a second, --interval), and after the frees the default instance's until
# it holds none of them (kfree_rcu frees after a grace period, from a worker); the off instance is
# stopped at the same moment, so it has seen every free the other one saw.
# Then unseen frees under the lane's churn (BULK_FORKS fork+exec of a `cat` of a sysfs file:
# kernfs frees the file's open node with kfree_rcu), each instance alone with the same loop: a
# pair would trace each other's start (the verifier's allocations), which one of them then finds
# freed unseen (measured on 5.10: ~700 of ~1450).
#
# last_report FILE: the newest complete report of a --interval JSON stream (each report is
# pretty-printed: "{" and "}" alone on their lines open and close it). By line numbers, on the
# stream's last 400 kB (a report filtered to leakyctl is ~90 kB, mostly the churn list; an awk
# that gathered each report's lines took minutes under TCG).
last_report() {
  tail -c 400000 "$1" >/tmp/last-report.$$ 2>/dev/null
  lr_c=$(grep -n '^}$' /tmp/last-report.$$ | tail -n 1 | cut -d: -f1)
  lr_o=$(head -n "${lr_c:-0}" /tmp/last-report.$$ | grep -n '^{$' | tail -n 1 | cut -d: -f1)
  [ -n "$lr_c" ] && [ -n "$lr_o" ] && sed -n "${lr_o},${lr_c}p" /tmp/last-report.$$
  rm -f /tmp/last-report.$$
}
# leaky_held FILE FUNCTION...: "FUNCTION=N ..." with N the objects outstanding under stacks whose
# first frame is FUNCTION in the newest report of FILE (one jq for all); N is -1 without a report.
leaky_held() {
  lh_f=$1
  shift
  last_report "$lh_f" | jq -r '[$ARGS.positional[] as $f | "\($f)=\([.stacks[] | select((.frames[0] // "") | startswith($f + "+")) | .count] | add // 0)"] | join(" ")' --args "$@" 2>/dev/null | grep . ||
    for lh_fn in "$@"; do printf '%s=-1 ' "$lh_fn"; done
}
# start_trace_in DIR ARGS: `kleak trace` in the background into DIR (trace.json, trace.err,
# trace.ready).
start_trace_in() {
  st_d=$1
  shift
  mkdir -p "$st_d"
  $KLEAK_RUN trace --ready-fd 3 --duration 1h --format json --top 1000 -o "$st_d/trace.json" "$@" \
    2>"$st_d/trace.err" 3>"$st_d/trace.ready" &
}
# await_tracing DIR PID [DIR PID]: until each DIR's kleak (PID) is ready (DIR/trace.ready); 1 when
# one exits first or after SCENARIO_TIMEOUT (for them all).
await_tracing() {
  at_t0=$(cut -d. -f1 /proc/uptime)
  while [ $# -ge 2 ]; do
    at_left=$((SCENARIO_TIMEOUT - ($(cut -d. -f1 /proc/uptime) - at_t0)))
    [ $at_left -gt 0 ] || at_left=1
    await_ready "$1/trace.ready" "$2" "$at_left"
    case $? in
      0) ;;
      1) say "bulk: kleak trace exited before tracing: $(tail -n 1 "$1/trace.err")"; return 1 ;;
      *) say "bulk: kleak trace did not start"; return 1 ;;
    esac
    shift 2
  done
}
stop_trace_pid() {  # PID DIR
  kill -INT "$1" 2>/dev/null
  wait "$1"
  echo "$?" >"$2/trace.rc"
}
# wait_held SECONDS DIR... -- FUNCTION=COUNT...: until the newest report of every DIR/trace.json
# holds COUNT objects under each FUNCTION. Each DIR gets held.txt (what it saw last); 1 on timeout.
wait_held() {
  wh_s=$1
  shift
  wh_dirs=""
  while [ "$1" != -- ]; do wh_dirs="$wh_dirs $1"; shift; done
  shift
  wh_fns=""
  for fc in "$@"; do wh_fns="$wh_fns ${fc%=*}"; done
  t=$(now)
  while :; do
    ok=1
    for wd in $wh_dirs; do
      seen=$(leaky_held "$wd/trace.json" $wh_fns)
      echo "$seen waited_s=$(($(now) - t))" >"$wd/held.txt"
      for fc in "$@"; do case " $seen " in *" $fc "*) ;; *) ok=0 ;; esac; done
    done
    [ $ok = 1 ] && return 0
    [ $(($(now) - t)) -ge "$wh_s" ] && return 1
    sleep 0.5
  done
}
leaky_stats() { tr -d '\n' </sys/kernel/debug/leaky/stats; echo; }
bulk_under_trace() {
  B=$R/bulk
  mkdir -p "$B"
  s=$(now)
  set -- $BULK_LEAK
  n_bulk=$1 n_each=$2 n_rcu=$3 rcu_size=$4
  say "bulk scenario: $n_bulk kmem_cache_alloc_bulk + $n_each kmem_cache_alloc objects freed by kmem_cache_free_bulk, $n_rcu kmallocs of $rcu_size B by kfree_rcu; then $BULK_FORKS forks"
  if ! insmod /lane/leaky.ko 2>"$B/insmod.err"; then say "bulk: insmod leaky.ko failed: $(cat "$B/insmod.err")"; return; fi
  printf '#!/bin/sh\necho "$*" >/sys/kernel/debug/leaky/leak\n' >/lane/leakyctl
  chmod 755 /lane/leakyctl
  echo "n_bulk=$n_bulk n_each=$n_each n_rcu=$n_rcu rcu_size=$rcu_size" >"$B/want.txt"
  start_trace_in "$B/on" --interval 1s --filter 'comm == "leakyctl"'
  on_pid=$!
  start_trace_in "$B/off" --interval 1s --filter 'comm == "leakyctl"' --bulk-frees off
  off_pid=$!
  if await_tracing "$B/on" "$on_pid" "$B/off" "$off_pid"; then
    say "bulk: both traces started after $(($(now) - s))s"
    { /lane/leakyctl cache_bulk "$n_bulk" && /lane/leakyctl cache_each "$n_each" &&
        /lane/leakyctl kmalloc_rcu "$n_rcu" "$rcu_size"; } 2>"$B/leak.err" || say "bulk: leakyctl failed: $(cat "$B/leak.err")"
    leaky_stats >"$B/stats-leaked.txt"
    # Leaked: both instances must show them (kmem_cache_alloc_bulk's objects are not awaited:
    # SLUB fires no allocation event for them).
    wait_held 120 "$B/on" "$B/off" -- leaky_cache_each_one="$n_each" leaky_kmalloc_rcu_one="$n_rcu" ||
      say "bulk: leaks not found: on: $(cat "$B/on/held.txt"), off: $(cat "$B/off/held.txt")"
    for i in on off; do
      cp "$B/$i/held.txt" "$B/$i/held-leaked.txt"
      last_report "$B/$i/trace.json" >"$B/$i/leaked.json"
    done
    t_free=$(now)
    { /lane/leakyctl free_cache_bulk && /lane/leakyctl free_rcu; } 2>>"$B/leak.err" || say "bulk: leakyctl free failed: $(cat "$B/leak.err")"
    leaky_stats >"$B/stats-freed.txt"
    # Freed: the default instance's reports until none is held (the kfree_rcu batch is freed after
    # a grace period). The --bulk-frees off instance keeps what went through kmem_cache_free_bulk.
    if wait_held 180 "$B/on" -- leaky_cache_each_one=0 leaky_kmalloc_rcu_one=0 leaky_cache_bulk=0; then
      echo "gone_after_s=$(($(now) - t_free))" >"$B/gone.txt"
    else
      echo "gone_after_s=timeout" >"$B/gone.txt"; say "bulk: still held after the frees: $(cat "$B/on/held.txt")"
    fi
  fi
  stop_trace_pid "$on_pid" "$B/on"
  stop_trace_pid "$off_pid" "$B/off"
  for i in on off; do last_report "$B/$i/trace.json" >"$B/$i/final.json"; done
  say "bulk: leaked: $(cut -d' ' -f1-2 "$B/off/held-leaked.txt" 2>/dev/null); after the frees ($(cat "$B/gone.txt" 2>/dev/null)): on: $(leaky_held "$B/on/final.json" leaky_cache_each_one leaky_kmalloc_rcu_one) off: $(leaky_held "$B/off/final.json" leaky_cache_each_one leaky_kmalloc_rcu_one)"
  rmmod leaky || say "bulk: rmmod leaky failed"
  # The churn: the same fork loop under each instance alone.
  U=$B/unseen
  for i in on off; do
    if [ $i = off ]; then start_trace_in "$U/$i" --bulk-frees off; else start_trace_in "$U/$i"; fi
    u_pid=$!
    if await_tracing "$U/$i" "$u_pid"; then
      t=$(now)
      n=0
      while [ $n -lt "$BULK_FORKS" ]; do /bin/busybox cat /sys/devices/system/cpu/online >/dev/null; n=$((n + 1)); done
      echo "forks=$BULK_FORKS seconds=$(($(now) - t))" >"$U/$i/forks.txt"
    fi
    stop_trace_pid "$u_pid" "$U/$i"
  done
  echo "forks=$BULK_FORKS seconds_on=$(kv_of "$U/on/forks.txt" seconds) seconds_off=$(kv_of "$U/off/forks.txt" seconds) unseen_on=$(jq '.unseen_frees' "$U/on/trace.json" 2>/dev/null) unseen_off=$(jq '.unseen_frees' "$U/off/trace.json" 2>/dev/null) frees_in_bulk_on=$(jq '.events.frees_in_bulk // 0' "$U/on/trace.json" 2>/dev/null) frees_in_bulk_off=$(jq '.events.frees_in_bulk // 0' "$U/off/trace.json" 2>/dev/null)" >"$U/unseen.txt"
  say "bulk: churn: $(cat "$U/unseen.txt")"
  say "bulk scenario done in $(($(now) - s))s"
}
kv_of() { tr ' ' '\n' <"$1" 2>/dev/null | sed -n "s/^$2=//p"; }
case " $SCENARIOS " in *" bulk "*) bulk_under_trace ;; *) say "bulk scenario not selected" ;; esac

# ---- scenario 2: the host inflates the virtio balloon while kleak traces ---------------------
balloon_bound() { ls -d /sys/bus/virtio/drivers/virtio_balloon/virtio* >/dev/null 2>&1; }
balloon_under_trace() {
s=$(now)
say "balloon scenario: $BALLOON_BYTES bytes"
if ! balloon_bound; then
  say "virtio_balloon is not bound to a device"
  echo "no device" >"$R/balloon/error.txt"
elif start_trace "$R/balloon"; then
  pages=$((BALLOON_BYTES / $(getconf PAGESIZE 2>/dev/null || echo 4096)))
  inflate0=$(vmstat_get balloon_inflate)
  $KLEAK_RUN meminfo --format json >"$R/balloon/meminfo-before.json" 2>"$R/balloon/meminfo-before.err"
  $KLEAK_RUN meminfo >"$R/balloon/meminfo-before.txt" 2>&1
  cp /proc/meminfo "$R/balloon/proc-meminfo-before.txt"
  echo "LANE-BALLOON-REQUEST $BALLOON_BYTES" >/dev/console
  w=0
  while :; do
    done_pages=$(($(vmstat_get balloon_inflate) - inflate0))
    [ "$done_pages" -ge "$pages" ] && break
    w=$((w + 1))
    if [ $w -gt "$SCENARIO_TIMEOUT" ]; then say "balloon: only $done_pages of $pages pages after ${w}s"; break; fi
    sleep 1
  done
  sleep 2  # let the last batch settle
  echo "inflate_pages=$(($(vmstat_get balloon_inflate) - inflate0)) wanted_pages=$pages waited_s=$w" \
    >"$R/balloon/inflate.txt"
  $KLEAK_RUN meminfo --format json >"$R/balloon/meminfo-after.json" 2>"$R/balloon/meminfo-after.err"
  $KLEAK_RUN meminfo >"$R/balloon/meminfo-after.txt" 2>&1
  cp /proc/meminfo "$R/balloon/proc-meminfo-after.txt"
  stop_trace "$R/balloon"
  say "balloon: $(cat "$R/balloon/inflate.txt")"
fi
say "balloon scenario done in $(($(now) - s))s"
}
case " $SCENARIOS " in *" balloon "*) balloon_under_trace ;; *) say "balloon scenario not selected" ;; esac

# ---- scenario 3: `kleak hunt` while the balloon grows slowly --------------------------------
# The hunt watches /proc while the guest asks the host for 2 MiB more balloon every second
# (LANE-BALLOON-TARGET <balloon bytes>; the host sends QMP `balloon`); once the hunt says what it
# will trace, the requests pause until the balloon has settled; once it has attached, the
# inflation counted so far is noted and the balloon grows again for HUNT_INFLATE_S seconds, within
# the trace's HUNT_TRACE_S:
# what the hunt explains must be those pages, under the balloon driver, in the unaccounted line
# (6.1 has no Balloon: line in /proc/meminfo).
page_size=$(getconf PAGESIZE 2>/dev/null || echo 4096)
balloon_now() { echo $((($(vmstat_get balloon_inflate) - $(vmstat_get balloon_deflate)) * page_size)); }
# wait_for FILE PATTERN PID SECONDS: until FILE matches, PID exits, or SECONDS pass.
wait_for() {
  w=0
  while ! grep -q "$2" "$1" 2>/dev/null; do
    kill -0 "$3" 2>/dev/null || return 1
    w=$((w + 1)); [ $w -gt $(($4 * 5)) ] && return 1
    sleep 0.2
  done
}
# settle BYTES: until the balloon holds BYTES (or 30 s).
settle() {
  w=0
  while [ "$(balloon_now)" -lt "$1" ] && [ $w -lt 150 ]; do w=$((w + 1)); sleep 0.2; done
  sleep 1
}
hunt_balloon() {
  H=$R/hunt-balloon
  mkdir -p "$H"
  s=$(now)
  step=$((2 * 1024 * 1024))
  say "hunt scenario: balloon +$((step / 1048576)) MiB/s, watch ${HUNT_WATCH_S}s, trace ${HUNT_TRACE_S}s"
  if ! balloon_bound; then
    echo "no device" >"$H/error.txt"; say "virtio_balloon is not bound to a device"; return
  fi
  target=$(balloon_now)
  $KLEAK_RUN hunt --ready-fd 3 --watch "${HUNT_WATCH_S}s" --duration "${HUNT_TRACE_S}s" --format json \
    -o /results/hunt-balloon/hunt.json 2>"$H/hunt.err" 3>"$H/hunt.ready" &
  hpid=$!
  wait_for "$H/hunt.err" 'kleak: watching' "$hpid" 60 || say "hunt did not start watching"
  # Grow during the watch, until the hunt says what it will trace.
  while kill -0 "$hpid" 2>/dev/null && ! grep -q 'kleak: tracing only' "$H/hunt.err"; do
    target=$((target + step)); echo "LANE-BALLOON-TARGET $target" >/dev/console; sleep 1
  done
  # Settled before the attach line is awaited: a page inflated between the attach and the count
  # below would be traced but not counted (one 2 MiB step, +5%, when the host lagged).
  settle "$target"
  if await_ready "$H/hunt.ready" "$hpid" 120; then
    a=$(vmstat_get balloon_inflate); ta=$(now)
    while [ $(($(now) - ta)) -lt "$HUNT_INFLATE_S" ] && kill -0 "$hpid" 2>/dev/null; do
      target=$((target + step)); echo "LANE-BALLOON-TARGET $target" >/dev/console; sleep 1
    done
    settle "$target"
    b=$(vmstat_get balloon_inflate)
    echo "trace_inflate_pages=$((b - a)) inflate_s=$(($(now) - ta)) balloon_bytes=$(balloon_now)" >"$H/inflate.txt"
  else
    say "hunt did not trace (see hunt-balloon/hunt.err)"
  fi
  wait "$hpid"
  echo "$?" >"$H/hunt.rc"
  say "hunt scenario done in $(($(now) - s))s: $(cat "$H/inflate.txt" 2>/dev/null)"
}
case " $SCENARIOS " in *" hunt-balloon "*) hunt_balloon ;; *) say "hunt-balloon scenario not selected" ;; esac
