#!/bin/sh
# The second-kernel lane, inside the guest (run by /init, see tests/qemu/init). It only runs
# things and collects what they said into /results; tools/qemu/run-lane.sh checks it all on the
# host. Lines starting with "LANE:" go to the console, which the host shows as progress;
# "LANE-BALLOON-REQUEST" asks the host to inflate the balloon through QMP.
#
# /lane/config (written by run-lane.sh) sets: KLEAK_BIN, KLEAK_PLANTER, KLEAK_TESTS,
# BALLOON_BYTES, TEST_TIMEOUT, SCENARIO_TIMEOUT, GTEST_FILTER, SCENARIOS, LEAK_* (the leaky
# driver's requests).
set -u
. /lane/config
export KLEAK_REQUIRE_BPF=1
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
  timeout -s KILL "$SCENARIO_TIMEOUT" /lane/extra.sh >"$R/extra.log" 2>&1
  say "extra script exited $?"
fi

# ---- kleak's integration tests, one process per test so that a hang costs one test --------
t0=$(now)
tests=$("$KLEAK_TESTS" --gtest_list_tests --gtest_filter="${GTEST_FILTER:-*}" |
  awk '/^[^ ]/ { suite = $1 } /^  [^ ]/ { print suite $1 }')
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
# start_trace DIR [ARGS]: `kleak trace` in the background, JSON report to DIR/trace.json; waits
# until it says it is tracing. Sets TRACE_PID.
start_trace() {
  sd=$1
  shift
  $KLEAK_RUN trace --duration 1h --format json --top 1000 -o "$sd/trace.json" "$@" 2>"$sd/trace.err" &
  TRACE_PID=$!
  w=0
  while ! grep -q 'kleak: tracing' "$sd/trace.err" 2>/dev/null; do
    if ! kill -0 "$TRACE_PID" 2>/dev/null; then say "kleak trace exited before tracing"; return 1; fi
    w=$((w + 1))
    if [ $w -gt $((SCENARIO_TIMEOUT * 2)) ]; then say "kleak trace did not start"; return 1; fi
    sleep 0.5
  done
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
    grep ' \[leaky\]' /proc/kallsyms >"$R/leaky/kallsyms.txt"
    leak_under_trace "$R/leaky"                                  # the best attach mode
    leak_under_trace "$R/leaky-tracepoint" --attach tracepoint   # classic tracepoints (CO-RE)
    rmmod leaky || say "rmmod leaky failed"
  else
    say "insmod leaky.ko failed: $(cat "$R/leaky/insmod.err")"
  fi
  say "leaky module scenario done in $(($(now) - s))s"
fi

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
  $KLEAK_RUN hunt --watch "${HUNT_WATCH_S}s" --duration "${HUNT_TRACE_S}s" --format json \
    -o /results/hunt-balloon/hunt.json 2>"$H/hunt.err" &
  hpid=$!
  wait_for "$H/hunt.err" 'kleak: watching' "$hpid" 60 || say "hunt did not start watching"
  # Grow during the watch, until the hunt says what it will trace.
  while kill -0 "$hpid" 2>/dev/null && ! grep -q 'kleak: tracing only' "$H/hunt.err"; do
    target=$((target + step)); echo "LANE-BALLOON-TARGET $target" >/dev/console; sleep 1
  done
  # Settled before the attach line is awaited: a page inflated between the attach and the count
  # below would be traced but not counted (one 2 MiB step, +5%, when the host lagged).
  settle "$target"
  if wait_for "$H/hunt.err" 'kleak: tracing [0-9]* events' "$hpid" 120; then
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
