#!/usr/bin/env bash
# Checks what the second-kernel lane's guest brought back (tools/qemu/run-lane.sh calls it; it
# can be re-run by hand on a kept results directory):
#
#   tools/qemu/check-results.sh build/qemu/results BALLOON_BYTES
#
# Prints one PASS/FAIL line per check and a summary; exit status 0 only when all passed.
set -uo pipefail
R=${1:?results directory}
balloon_bytes=${2:?balloon bytes}
fails=0
checks=0
pass() { checks=$((checks + 1)); printf '  PASS  %s\n' "$*"; }
fail() { checks=$((checks + 1)); fails=$((fails + 1)); printf '  FAIL  %s\n' "$*"; }
info() { printf '        %s\n' "$*"; }
# within GOT WANT PERCENT: |got - want| <= want * percent / 100 (integers)
within() { local d=$(($1 - $2)); [ $d -lt 0 ] && d=$((-d)); [ "$2" -gt 0 ] && [ $((d * 100)) -le $(($2 * $3)) ]; }
pct() { awk -v g="$1" -v w="$2" 'BEGIN { if (w == 0) print "n/a"; else printf "%+.1f%%", (g - w) * 100 / w }'; }
kv() { tr ' ' '\n' <"$1" | sed -n "s/^$2=//p"; }

echo "== kernel"
if [ -f "$R/env.txt" ]; then
  sed -n 's/^release=/  release /p; s/^kprobe_pmu=/  kprobes: /p' "$R/env.txt"
  grep -E '^(kallsyms|tracepoint)\.' "$R/env.txt" | sed 's/^/  /' | paste -sd' ' | fold -s -w 100 | sed 's/^/  /'
fi

echo "== the guest's lane script"
ge=$(sed -n 's/^guest-lane exit //p' "$R/guest-lane.log" 2>/dev/null | tail -n1)
case "$ge" in
  0) pass "tests/qemu/guest-lane.sh ran to its end" ;;
  137) fail "tests/qemu/guest-lane.sh was killed at the guest's time limit (LANE_GUEST_TIMEOUT): what follows is partial" ;;
  *) fail "tests/qemu/guest-lane.sh exited ${ge:-?} (results/guest-lane.log)" ;;
esac

scenarios=$(cat "$R/scenarios.txt" 2>/dev/null || echo "leaky balloon")
selected() { case " $scenarios " in *" $1 "*) return 0 ;; esac; return 1; }
filter=$(cat "$R/gtest-filter.txt" 2>/dev/null || echo '*')

echo "== integration tests (kleak_integration_tests in the guest, KLEAK_REQUIRE_BPF=1${filter:+, filter $filter})"
if [ "$filter" = "-*" ]; then
  echo "        not run in this lane (KLEAK_LANE_GTEST_FILTER=-*)"
elif [ -s "$R/gtest.tsv" ]; then
  n=$(grep -c . "$R/gtest.tsv")
  np=$(awk -F'\t' '$2 == "PASS"' "$R/gtest.tsv" | grep -c .)
  ns=$(awk -F'\t' '$2 == "SKIP"' "$R/gtest.tsv" | grep -c .)
  awk -F'\t' '$2 == "SKIP" { print $1 }' "$R/gtest.tsv" | while read -r t; do
    info "skipped $t: $(grep -h -A1 '^\[  SKIPPED \]' "$R/gtest/$t.log" | head -n1; grep -h 'Skipped' -A1 "$R/gtest/$t.log" | tail -n1)"
  done
  if [ -s "$R/gtest-flaky.txt" ]; then
    printf '  NOTE  failed once and passed on retry (see gtest/<name>.log): %s\n' "$(paste -sd' ' "$R/gtest-flaky.txt")"
  fi
  bad=$(awk -F'\t' '$2 != "PASS" && $2 != "SKIP" { print $1 " (" $2 ")" }' "$R/gtest.tsv")
  if [ -z "$bad" ]; then
    pass "$np of $n tests passed, $ns skipped by the test itself"
  else
    fail "$np of $n tests passed, $ns skipped; not passed: $(echo "$bad" | paste -sd' ')"
    for t in $(awk -F'\t' '$2 != "PASS" && $2 != "SKIP" { print $1 }' "$R/gtest.tsv"); do
      info "--- $t (build/qemu/results/gtest/$t.log):"
      grep -a -E 'Failure|error|Expected|Which is|actual|not within|kleak:' "$R/gtest/$t.log" | head -n 12 | cut -c1-300 | sed 's/^/          /'
    done
  fi
else
  fail "no integration test results (gtest.tsv missing or empty)"
fi

echo "== the static kleak in a root without Debian libraries (/static, chroot)"
if [ -s "$R/static-root.txt" ]; then
  info "it holds: $(grep -v '^\.$' "$R/static-root.txt" | paste -sd' ' | cut -c1-200)"
  if grep -qE '\.so(\.|$)|^\./(lib|lib64|usr/lib)(/|$)' "$R/static-root.txt"; then
    fail "/static holds libraries: $(grep -E '\.so|lib' "$R/static-root.txt" | head -n 3 | paste -sd' ')"
  elif [ "$(tail -n1 "$R/static-version.txt" 2>/dev/null)" != 0 ]; then
    fail "the static kleak did not run in /static: $(head -n 2 "$R/static-version.txt" 2>/dev/null | paste -sd' ')"
  else
    pass "/static holds no shared library; scenarios ran: $(cat "$R/kleak-run.txt") ($(head -n1 "$R/static-version.txt"))"
  fi
else
  fail "no static root in the guest (static-root.txt missing)"
fi
# The BPF variant the programs were loaded with: 5.10 lacks bpf_get_current_task_btf (5.11) and
# bpf_task_pt_regs (5.15); kleak probes for them and must have loaded the probe-read variant there.
for j in "$R/leaky/trace.json" "$R/balloon/trace.json"; do
  [ -s "$j" ] || continue
  got=$(jq -r '.bpf_variant // ""' "$j")
  case "$(sed -n 's/^release=//p' "$R/env.txt" 2>/dev/null)" in
    5.10.*) want="task: bpf_get_current_task + bpf_probe_read_kernel, syscall: pt_regs at the task's stack top" ;;
    *) want="task: bpf_get_current_task_btf, syscall: bpf_task_pt_regs" ;;
  esac
  [ "$got" = "$want" ] && pass "programs loaded as: $got" || fail "programs loaded as '$got', want '$want'"
  break
done

echo "== attach modes kleak chose on this kernel"
for j in "$R/leaky/trace.json" "$R/balloon/trace.json"; do
  [ -s "$j" ] || continue
  jq -r '.attach_mode | to_entries | group_by(.value) | .[] | "  \(.[0].value): \(map(.key) | join(" "))"' "$j"
  jq -r '.sources | to_entries | map(select(.value != "attached")) | .[] | "  not attached: \(.key): \(.value)"' "$j"
  jq -r '.warnings[]? | "  warning: \(.)"' "$j"
  break
done

echo "== every --attach mode, as kleak printed its sources (kleak trace --attach MODE --duration 1s)"
for mode in auto raw_tp tracepoint kprobe; do
  [ -f "$R/attach/$mode.rc" ] || continue
  rc=$(cat "$R/attach/$mode.rc")
  echo "  --attach $mode: exit $rc"
  sed -n '/^sources:/,/^events:/p' "$R/attach/$mode.txt" | grep -v '^sources:\|^events:' | cut -c1-220 | sed 's/^/      /'
  grep -v 'kleak: tracing\|reporting what was collected' "$R/attach/$mode.err" | cut -c1-220 | sed 's/^/      /'
done

# ---- the leaky driver ------------------------------------------------------------------------
# leak_check JSON KIND FUNCTION WANT_BYTES WANT_BYTES_REQ CATEGORY [CACHE]: the stacks of KIND
# whose first shown frame is FUNCTION (in module leaky) hold WANT_BYTES (10%), WANT_BYTES_REQ
# (10%, "" = not checked), all of category CATEGORY and, when CACHE is given, slab cache CACHE
# ("null": no name known).
leak_check() {
  local J=$1 kind=$2 fn=$3 want=$4 want_req=$5 cat=$6 cache=${7:-}
  local sel=".stacks[] | select(.kind == \"$kind\" and (.frames[0] // \"\" | startswith(\"$fn+\")))"
  local bytes req count groups mod cats caches
  bytes=$(jq "[$sel | .bytes] | add // 0" "$J")
  req=$(jq "[$sel | .bytes_req] | add // 0" "$J")
  count=$(jq "[$sel | .count] | add // 0" "$J")
  groups=$(jq "[$sel] | length" "$J")
  mod=$(jq -r "[$sel | .frames[0]] | map(select(endswith(\" [leaky]\"))) | length" "$J")
  cats=$(jq -r "[$sel | .category] | unique | join(\",\")" "$J")
  caches=$(jq -r "[$sel | .cache | tostring] | unique | join(\",\")" "$J")
  if [ "$groups" -eq 0 ]; then
    fail "$kind: no $kind stack starts with $fn"
    info "$kind stacks naming [leaky] anywhere:"
    jq -r ".stacks[] | select(.kind == \"$kind\" and any(.frames[]; test(\"\\\\[leaky\\\\]\"))) | \"  \(.bytes) B \(.count)x: \(.frames[0:6] | join(\" <- \"))\"" "$J" | head -n 5 | sed 's/^/        /'
    return
  fi
  local ok=1 why=""
  within "$bytes" "$want" 10 || { ok=0; why="$why bytes $bytes vs $want;"; }
  if [ -n "$want_req" ]; then within "$req" "$want_req" 10 || { ok=0; why="$why bytes_req $req vs $want_req;"; }; fi
  [ "$mod" -eq "$groups" ] || { ok=0; why="$why frames not marked [leaky];"; }
  [ "$cats" = "$cat" ] || { ok=0; why="$why category $cats, want $cat;"; }
  if [ -n "$cache" ] && [ "$caches" != "$cache" ]; then ok=0; why="$why cache $caches, want $cache;"; fi
  local msg="$kind: $bytes bytes ($(pct "$bytes" "$want") of $want)${want_req:+, bytes_req $req ($(pct "$req" "$want_req"))}, $count allocations in $groups stack(s), category $cats${cache:+, cache $caches}"
  if [ $ok = 1 ]; then pass "$msg"; else fail "$msg:$why"; fi
  info "stack: $(jq -r "[$sel][0].frames[0:5] | join(\" <- \")" "$J")"
}

# leaky_run DIR MODE: the driver's four leaks against one kleak report.
leaky_run() {
  local L=$1 mode=$2
  echo "== leaky driver (tests/kmod/leaky.ko) under kleak trace${mode:+ --attach $mode}"
  if [ ! -s "$L/trace.json" ] || [ ! -s "$L/stats.txt" ]; then
    fail "no trace report or no stats ($(cat "$R/leaky/insmod.err" "$L/leak.err" "$L/trace.err" 2>/dev/null | tail -n 3 | paste -sd' '))"
    return
  fi
  info "the driver holds: $(cat "$L/stats.txt")"
  local rc J="$L/trace.json" st="$L/stats.txt"
  rc=$(cat "$L/trace.rc" 2>/dev/null || echo '?')
  [ "$rc" = 0 ] && pass "kleak trace exited 0" || fail "kleak trace exited $rc: $(tail -n 2 "$L/trace.err")"
  if [ -n "$mode" ]; then
    local modes
    modes=$(jq -r '[.attach_mode | to_entries[] | select(.key | startswith("kmem:")) | .value] | unique | join(",")' "$J")
    [ "$modes" = "$mode" ] && pass "kmem events attached as $modes" || fail "kmem events attached as $modes, not $mode"
  else
    # Every lane's kernel has kprobes, so kmem_cache_free_bulk is followed: by fentry where its
    # trampoline attaches, else by its kprobe (arm64's 6.1 loads fentry but refuses to attach it).
    jq -e '.sources["kmem_cache_free_bulk"] == "attached"' "$J" >/dev/null &&
      pass "kmem_cache_free_bulk followed ($(jq -r '.attach_mode["kmem_cache_free_bulk"]' "$J"))" ||
      fail "kmem_cache_free_bulk not followed: $(jq -r '.sources["kmem_cache_free_bulk"]' "$J")"
  fi
  leak_check "$J" kmalloc leaky_kmalloc_one "$(kv "$st" kmalloc_bytes_alloc)" "$(kv "$st" kmalloc_bytes_req)" slab
  # The slab cache's name: read from struct kmem_cache (raw_tp), from the event's `name` field
  # (classic tracepoint, kernels whose event has one), else unknown (classic tracepoint on 6.1;
  # on 5.10 even the best mode is the classic tracepoint).
  local want_cache=leaky_cache slab_mode
  slab_mode=$(jq -r '.attach_mode["kmem:kmem_cache_alloc"] // ""' "$J")
  if [ "$slab_mode" = tracepoint ] && ! sed -n '/^kmem_cache_alloc.format:/,/^[a-z]/p' "$R/env.txt" | grep -q 'char name\|__data_loc.*name'; then
    want_cache=null
  fi
  leak_check "$J" slab leaky_cache_one "$(($(kv "$st" cache_count) * $(kv "$st" cache_slab_size)))" "$(kv "$st" cache_bytes_req)" slab "$want_cache"
  # The _node allocators: their own events before 6.0 (kmem:kmalloc_node, kmem:kmem_cache_alloc_node),
  # attached only where the kernel has them; folded into kmalloc / kmem_cache_alloc since.
  if [ -n "$(kv "$st" knode_count)" ]; then
    leak_check "$J" kmalloc leaky_kmalloc_node_one "$(kv "$st" knode_bytes_alloc)" "$(kv "$st" knode_bytes_req)" slab
    leak_check "$J" slab leaky_cache_node_one "$(($(kv "$st" cnode_count) * $(kv "$st" cache_slab_size)))" \
      "$(($(kv "$st" cnode_count) * $(kv "$st" cache_bytes_req) / $(kv "$st" cache_count)))" slab "$want_cache"
    if grep -q '^release=5\.10\.' "$R/env.txt"; then
      for ev in kmalloc_node kmem_cache_alloc_node; do
        jq -e ".sources[\"kmem:$ev\"] == \"attached\"" "$J" >/dev/null &&
          pass "kmem:$ev attached ($(jq -r ".attach_mode[\"kmem:$ev\"]" "$J"))" ||
          fail "kmem:$ev not attached: $(jq -r ".sources[\"kmem:$ev\"]" "$J")"
      done
    fi
  fi
  if jq -e '.sources["vmalloc:alloc_vmap_area"] == "attached" and .attach_mode["vmalloc:alloc_vmap_area"] == "kprobe"' "$J" >/dev/null &&
     grep -q '^release=5\.10\.' "$R/env.txt"; then
    # 5.10's unwinder stops at the kretprobe trampoline (fixed in 5.14): a kretprobe's stack walk
    # gives one meaningless frame there, shared by every area of the window: so only the areas
    # and their bytes can be checked (the driver's, and the odd area someone else took: 10%).
    local n b want
    n=$(jq '[.stacks[] | select(.kind == "vmalloc") | .count] | add // 0' "$J")
    b=$(jq '[.stacks[] | select(.kind == "vmalloc") | .bytes] | add // 0' "$J")
    want=$(kv "$st" vmalloc_area_bytes)
    if within "$b" "$want" 10 && [ "$n" -ge "$(kv "$st" vmalloc_count)" ]; then
      pass "vmalloc (kretprobe; 5.10 gives no stack behind its trampoline): $n areas, $b bytes ($(pct "$b" "$want") of the driver's $want)"
    else
      fail "vmalloc (kretprobe): $n areas, $b bytes, the driver holds $(kv "$st" vmalloc_count) areas, $want bytes"
    fi
    info "stack: $(jq -r '[.stacks[] | select(.kind == "vmalloc")][0].frames[0:3] | join(" <- ")' "$J")"
  elif jq -e '.sources["vmalloc:alloc_vmap_area"] == "attached"' "$J" >/dev/null; then
    leak_check "$J" vmalloc leaky_vmalloc_one "$(kv "$st" vmalloc_area_bytes)" "" vmalloc
  elif [ "$mode" = tracepoint ] && grep -q '^tracepoint.vmalloc/alloc_vmap_area=no' "$R/env.txt"; then
    pass "vmalloc: not traced, as this kernel has no vmalloc tracepoints ($(jq -r '.sources["vmalloc:alloc_vmap_area"]' "$J"))"
  else
    fail "vmalloc: not attached: $(jq -r '.sources["vmalloc:alloc_vmap_area"]' "$J")"
  fi
  leak_check "$J" page leaky_pages_one "$(kv "$st" page_bytes)" "" page_direct
}
if selected leaky; then
  leaky_run "$R/leaky" ""
  leaky_run "$R/leaky-tracepoint" tracepoint
else
  echo "== leaky driver: not selected (KLEAK_LANE_SCENARIOS)"
fi

# ---- frees without a per-object event ----------------------------------------------------------
# held JSON FUNCTION: objects outstanding under stacks whose first shown frame is FUNCTION.
held() { jq "[.stacks[] | select((.frames[0] // \"\") | startswith(\"$2+\")) | .count] | add // 0" "$1" 2>/dev/null || echo '?'; }
echo "== frees with no per-object event: kmem_cache_free_bulk and kfree_rcu (leaky.ko; two kleak trace at once, default and --bulk-frees off; then a fork loop under each)"
K="$R/bulk"
if ! selected bulk; then
  echo "        not selected (KLEAK_LANE_SCENARIOS)"
elif [ ! -s "$K/on/final.json" ] || [ ! -s "$K/off/final.json" ]; then
  fail "bulk: no reports ($(cat "$K/insmod.err" "$K/leak.err" "$K/on/trace.err" "$K/off/trace.err" 2>/dev/null | grep -v 'kleak: tracing' | tail -n 4 | paste -sd' '))"
else
  n_bulk=$(kv "$K/want.txt" n_bulk); n_each=$(kv "$K/want.txt" n_each); n_rcu=$(kv "$K/want.txt" n_rcu)
  On="$K/on/final.json" Off="$K/off/final.json"
  info "the driver: leaked: $(cut -d" " -f16- "$K/stats-leaked.txt" 2>/dev/null)"
  info "            freed:  $(cut -d" " -f16- "$K/stats-freed.txt" 2>/dev/null)"
  for i in on off; do
    rc=$(cat "$K/$i/trace.rc" 2>/dev/null || echo '?')
    [ "$rc" = 0 ] || fail "bulk: kleak trace ($i) exited $rc: $(tail -n 2 "$K/$i/trace.err")"
  done
  # The bulk programs: attached in the default instance (fentry where it loads, else a kprobe),
  # off in the other. 5.10 and 6.1 have BTF and trampolines on x86-64: fentry must load there.
  src=$(jq -r '.sources.kmem_cache_free_bulk // "absent from the report"' "$On")
  mode=$(jq -r '.attach_mode.kmem_cache_free_bulk // "none"' "$On")
  if [ "$src" = attached ] && [ "$mode" = fentry ]; then
    pass "kmem_cache_free_bulk attached as fentry"
  elif [ "$src" = attached ]; then
    fail "kmem_cache_free_bulk attached as $mode, not fentry: $(jq -r '[.warnings[]? | select(test("fentry|kmem_cache_free_bulk"))] | join("; ")' "$On")"
  else
    fail "kmem_cache_free_bulk not attached: $src"
  fi
  info "__kfree_rcu_sheaf (6.18): $(jq -r '.sources.__kfree_rcu_sheaf // "absent from the report"' "$On")"
  info "--bulk-frees off: kmem_cache_free_bulk: $(jq -r '.sources.kmem_cache_free_bulk // "absent from the report"' "$Off")"
  # Before the frees: each instance found the traced allocations exactly.
  for i in on off; do
    L="$K/$i/leaked.json"
    e=$(held "$L" leaky_cache_each_one); r=$(held "$L" leaky_kmalloc_rcu_one); b=$(held "$L" leaky_cache_bulk)
    msg="bulk ($i) before the frees: $e of $n_each kmem_cache_alloc objects, $r of $n_rcu kmalloc_rcu objects outstanding ($(cat "$K/$i/held-leaked.txt" 2>/dev/null | sed 's/.*waited_s=/awaited /')s)"
    [ "$e" = "$n_each" ] && [ "$r" = "$n_rcu" ] && pass "$msg" || fail "$msg"
    [ "$i" = on ] && info "kmem_cache_alloc_bulk's $n_bulk objects: $b outstanding (SLUB fires no allocation event for a bulk allocation)"
  done
  jq -r '[.stacks[] | select((.frames[0] // "") | test("^leaky_(cache_each_one|kmalloc_rcu_one)\\+"))][] | "stack: \(.count)x \(.frames[0:4] | join(" <- "))"' "$K/on/leaked.json" | sed 's/^/        /'
  # After the frees: the default instance holds none of them; --bulk-frees off still holds every
  # object kmem_cache_free_bulk freed (the defect the bulk programs fix) and the kfree_rcu objects
  # the kernel's batch freed with kfree_bulk (those whose address was not taken again meanwhile).
  e=$(held "$On" leaky_cache_each_one); r=$(held "$On" leaky_kmalloc_rcu_one); b=$(held "$On" leaky_cache_bulk)
  msg="bulk (default) after the frees: $e kmem_cache_free_bulk'd, $r kfree_rcu'd, $b bulk-allocated objects outstanding (gone $(sed -n 's/^gone_after_s=//p' "$K/gone.txt" 2>/dev/null)s after the frees)"
  [ "$e" = 0 ] && [ "$r" = 0 ] && [ "$b" = 0 ] && pass "$msg" || fail "$msg"
  eo=$(held "$Off" leaky_cache_each_one); ro=$(held "$Off" leaky_kmalloc_rcu_one)
  msg="bulk (--bulk-frees off) after the frees: $eo of the $n_each kmem_cache_free_bulk'd objects still reported outstanding, $ro of $n_rcu kfree_rcu'd"
  [ "$eo" = "$n_each" ] && pass "$msg (the defect, shown)" || fail "$msg: want all $n_each (without the bulk programs nothing sees them freed)"
  fb_on=$(jq '.events.frees_in_bulk // 0' "$On"); fb_off=$(jq '.events.frees_in_bulk // 0' "$Off")
  want_fb=$((n_each + n_bulk))
  msg="frees_in_bulk: $fb_on (default; the driver's kmem_cache_free_bulk alone gave $want_fb), $fb_off (--bulk-frees off)"
  [ "$fb_on" -ge "$want_fb" ] && [ "$fb_off" = 0 ] && pass "$msg" || fail "$msg"
  jq -r '.stacks[] | select((.frames[0] // "") | startswith("leaky_")) | "off keeps: \(.count)x \(.frames[0]), unseen_frees \(.unseen_frees // 0), verdict \(.verdict // "")"' "$Off" | sed 's/^/        /'
  # The lane's churn (a fork loop) under each alone: frees kleak found only when the address came
  # back. Informational: the bulk programs can only lower it.
  U="$K/unseen"
  if [ -s "$U/unseen.txt" ]; then
    for i in on off; do
      rc=$(cat "$U/$i/trace.rc" 2>/dev/null || echo '?')
      [ "$rc" = 0 ] || fail "bulk churn: kleak trace ($i) exited $rc: $(tail -n 2 "$U/$i/trace.err")"
    done
    uo=$(kv "$U/unseen.txt" unseen_on); uf=$(kv "$U/unseen.txt" unseen_off)
    info "churn ($(kv "$U/unseen.txt" forks) forks under each trace alone, $(kv "$U/unseen.txt" seconds_on)s and $(kv "$U/unseen.txt" seconds_off)s): unseen_frees $uo with the bulk programs ($(kv "$U/unseen.txt" frees_in_bulk_on) frees followed in bulk), $uf with --bulk-frees off ($(pct "$uo" "$uf"))"
    jq -r '[.stacks[] | select((.unseen_frees // 0) > 0)] | sort_by(-.unseen_frees)[0:3][] | "on: unseen \(.unseen_frees) \(.verdict // "") \(.frames[0:3] | join(" <- "))"' "$U/on/trace.json" 2>/dev/null | sed 's/^/        /'
    jq -r '[.stacks[] | select((.unseen_frees // 0) > 0)] | sort_by(-.unseen_frees)[0:3][] | "off: unseen \(.unseen_frees) \(.verdict // "") \(.frames[0:3] | join(" <- "))"' "$U/off/trace.json" 2>/dev/null | sed 's/^/        /'
  else
    fail "bulk churn: no unseen.txt ($(tail -n 2 "$U/on/trace.err" "$U/off/trace.err" 2>/dev/null | paste -sd' '))"
  fi
fi

# ---- the balloon -----------------------------------------------------------------------------
echo "== virtio balloon inflated by $((balloon_bytes / 1048576)) MiB through QMP while kleak traced"
B="$R/balloon"
if ! selected balloon; then
  echo "        not selected (KLEAK_LANE_SCENARIOS)"
elif [ ! -s "$B/trace.json" ]; then
  fail "balloon: no trace report ($(cat "$B/error.txt" "$B/trace.err" 2>/dev/null | tail -n 3 | paste -sd' '))"
else
  info "guest: $(cat "$B/inflate.txt" 2>/dev/null)"
  rc=$(cat "$B/trace.rc" 2>/dev/null || echo '?')
  [ "$rc" = 0 ] && pass "balloon: kleak trace exited 0" || fail "balloon: kleak trace exited $rc: $(tail -n 2 "$B/trace.err")"
  sel='.stacks[] | select(.kind == "page" and .category == "balloon")'
  bytes=$(jq "[$sel | .bytes] | add // 0" "$B/trace.json")
  groups=$(jq "[$sel] | length" "$B/trace.json")
  # The driver's own frames: virtio_balloon's functions (fill_balloon is inlined into
  # update_balloon_size_func in Debian's 6.1 build) or the balloon core's.
  named=$(jq "[$sel | select(any(.frames[]; test(\" \\\\[virtio_balloon\\\\]$|^(balloon_page_alloc|balloon_page_enqueue|fill_balloon|virtballoon_)\")))] | length" "$B/trace.json")
  msg="balloon trace: $bytes bytes in $groups stack(s) classified balloon ($(pct "$bytes" "$balloon_bytes") of $balloon_bytes)"
  if within "$bytes" "$balloon_bytes" 5 && [ "$named" -eq "$groups" ]; then pass "$msg"; else fail "$msg${groups:+, $named name the balloon driver}"; fi
  jq -r "[$sel][0:2][] | \"stack: \(.frames[0:7] | join(\" <- \"))\"" "$B/trace.json" | sed 's/^/        /'
  # Where else the inflated pages may have landed (another category would be a classification bug).
  jq -r '.stacks[] | select(.kind == "page" and .category != "balloon" and .bytes > 1048576) | "other page stack > 1 MiB: \(.bytes) B [\(.category)] \(.frames[0:4] | join(" <- "))"' "$B/trace.json" | head -n 3 | sed 's/^/        /'
  if [ -s "$B/meminfo-before.json" ] && [ -s "$B/meminfo-after.json" ]; then
    u0=$(jq '.unaccounted_kb' "$B/meminfo-before.json")
    u1=$(jq '.unaccounted_kb' "$B/meminfo-after.json")
    t0=$(jq '.mem_total_kb' "$B/meminfo-before.json")
    t1=$(jq '.mem_total_kb' "$B/meminfo-after.json")
    want_kb=$((balloon_bytes / 1024))
    d=$((u1 - u0))
    msg="balloon meminfo: unaccounted grew by $d kB ($(pct "$d" "$want_kb") of $want_kb kB inflated): $u0 -> $u1 kB, MemTotal $t0 -> $t1 kB"
    # The growth is the balloon (5%); the whole remainder holds it too (the guest is started with
    # deflate-on-oom=on, so virtio_balloon leaves the pages in MemTotal).
    if within "$d" "$want_kb" 5 && [ "$u1" -ge $((want_kb * 95 / 100)) ]; then pass "$msg"; else fail "$msg"; fi
    info "balloon evidence: $(jq -c '.balloon' "$B/meminfo-after.json")"
  else
    fail "balloon meminfo: no kleak meminfo JSON ($(cat "$B/meminfo-before.err" "$B/meminfo-after.err" 2>/dev/null | head -n 2 | paste -sd' '))"
  fi
fi

# ---- kleak hunt while the balloon grows ---------------------------------------------------------
echo "== kleak hunt while the host inflates the balloon by 2 MiB a second"
H="$R/hunt-balloon"
if ! selected hunt-balloon; then
  echo "        not selected (KLEAK_LANE_SCENARIOS)"
elif [ ! -s "$H/hunt.json" ]; then
  fail "hunt: no answer ($(cat "$H/error.txt" 2>/dev/null; tail -n 3 "$H/hunt.err" 2>/dev/null | paste -sd' '))"
else
  rc=$(cat "$H/hunt.rc" 2>/dev/null || echo '?')
  [ "$rc" = 0 ] && pass "hunt: exited 0" || fail "hunt: exited $rc: $(tail -n 2 "$H/hunt.err")"
  info "guest: $(cat "$H/inflate.txt" 2>/dev/null)"
  # The watch: unaccounted memory grows (6.1 has no Balloon: line), at about 2 MiB/s.
  line=$(jq -c '[.watch.lines[] | select(.growing and (.name == "unaccounted" or .name == "balloon"))][0] // empty' "$H/hunt.json")
  if [ -n "$line" ]; then
    pass "hunt watch: $(echo "$line" | jq -r '"\(.name) grows at \(.rate_kb_per_min | floor) kB/min"')"
  else
    fail "hunt watch: neither unaccounted nor balloon grows; growing: $(jq -c '[.watch.lines[] | select(.growing) | .name]' "$H/hunt.json")"
  fi
  fam=$(jq -r '[.attached[].family] | sort | join(",")' "$H/hunt.json")
  case ",$fam," in *,page,*) pass "hunt attached pages (families: $fam)" ;; *) fail "hunt did not attach pages (families: $fam)" ;; esac
  # The explanation: stacks under the balloon driver, in the growing line, with the pages the
  # guest counted as inflated while the trace ran (balloon_inflate, 5%).
  want=$(( $(kv "$H/inflate.txt" trace_inflate_pages 2>/dev/null || echo 0) * 4096 ))
  sel='.explained[] | select(.line == "unaccounted" or .line == "balloon") | .stacks[] | select(any(.frames[]; test(" \\[virtio_balloon\\]$|^(balloon_page_alloc|balloon_page_enqueue|fill_balloon|virtballoon_)")))'
  got=$(jq "[$sel | .bytes] | add // 0" "$H/hunt.json")
  n=$(jq "[$sel] | length" "$H/hunt.json")
  msg="hunt explained: $got bytes in $n balloon-driver stack(s) ($(pct "$got" "$want") of $want inflated while it traced)"
  if [ "$want" -gt 0 ] && within "$got" "$want" 5; then pass "$msg"; else fail "$msg"; fi
  jq -r "[$sel][0:1][] | \"stack: \(.verdict) \(.frames[0:6] | join(\" <- \"))\"" "$H/hunt.json" | sed 's/^/        /'
  jq -r '.command_line // empty | "equivalent: \(.)"' "$H/hunt.json" | sed 's/^/        /'
fi

echo "== $((checks - fails)) of $checks checks passed"
[ $fails -eq 0 ]
