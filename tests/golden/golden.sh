#!/usr/bin/env bash
# Golden reports: `kleak report` and `kleak diff` of the recordings in tests/golden/ must
# print byte for byte what is stored next to them. A change of the code's shape must not change a
# report; a change of behaviour updates the stored outputs in the same commit (`update`).
#
#   tests/golden/golden.sh check  KLEAK_BIN     compare (ctest: golden_reports)
#   tests/golden/golden.sh update KLEAK_BIN     write the outputs again from KLEAK_BIN
#   tests/golden/golden.sh record KLEAK_BIN PLANTER   trace anew (root): new recordings, then update
set -euo pipefail

mode=${1:?check, update or record}
kleak=$(realpath "${2:?path to kleak}")
dir=$(cd "$(dirname "$0")" && pwd)

# name|arguments after `kleak report` (or `kleak diff`), recordings named by their base name.
VIEWS=(
  "pipes.text|report pipes"
  "pipes.json|report pipes --format json"
  "pipes.folded|report pipes --format folded"
  "pipes.pprof|report pipes --format pprof"
  "pipes.svg|report pipes --format svg"
  "pipes.callsite.text|report pipes --by callsite --top 20"
  "pipes.comm-cache.json|report pipes --by comm,cache --sort bytes"
  "pipes.full.text|report pipes --full-stacks --top 5 --user-pages"
  "pipes.filter.text|report pipes --filter 'bytes_req >= 256 && bytes_req <= 512' --sort count"
  "box.text|report box --top 30"
  "box.json|report box --format json --sort age"
  "box.folded|report box --format folded"
  "box.pprof|report box --format pprof"
  "box.svg|report box --format svg"
  "box.pid.text|report box --by pid --top 5"
  "diff.text|diff box pipes"
  "diff.json|diff pipes box --format json --top 5"
)

render() {  # render ARGS... -> stdout
  local args=() w
  for w in "$@"; do
    case $w in pipes|box) args+=("$w.kleak") ;; *) args+=("$w") ;; esac
  done
  # diff prints the recordings' paths: run from the fixture folder with relative names.
  (cd "$dir" && "$kleak" "${args[@]}")
}

case $mode in
  record)
    planter=${3:?path to kleak-planter}
    # The planter in a cgroup of its own, traced 3 s filtered in the kernel to that cgroup (small,
    # no other process's names), planting and leaking a pipe every 100 ms inside the window; and
    # an unfiltered 1 s of this box with another planter.
    cg=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)/kleak-golden
    mkdir -p "$cg"
    "$kleak" trace --duration 3s --cgroup kleak-golden --record "$dir/pipes.kleak" >/dev/null &
    sleep 1
    sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$cg" "$planter" --pipes 40 \
      --resized-pipes 30 --eventfds 20 --churn-seconds 1 --leak-every 100 --leak-pipes-max 10 --hold 2.5
    wait
    "$planter" --pipes 10 --sockets 10 --hold 3 &
    sleep 0.5
    "$kleak" trace --duration 1s --record "$dir/box.kleak" >/dev/null
    wait
    chmod 0644 "$dir"/*.kleak
    exec "$0" update "$kleak"
    ;;
  update)
    for v in "${VIEWS[@]}"; do
      eval "set -- ${v#*|}"
      render "$@" >"$dir/${v%%|*}"
    done
    ;;
  check)
    fail=0
    tmp=$(mktemp)
    trap 'rm -f "$tmp"' EXIT
    for v in "${VIEWS[@]}"; do
      eval "set -- ${v#*|}"
      if ! render "$@" >"$tmp"; then
        echo "golden: kleak ${v#*|} failed" >&2
        fail=1
      elif ! cmp -s "$tmp" "$dir/${v%%|*}"; then
        echo "golden: kleak ${v#*|} differs from ${v%%|*}:" >&2
        diff <(od -c "$dir/${v%%|*}" | head -2000) <(od -c "$tmp" | head -2000) | head -20 >&2 || true
        fail=1
      fi
    done
    [[ $fail == 0 ]] && echo "golden: ${#VIEWS[@]} reports identical"
    exit $fail
    ;;
  *) echo "golden.sh: unknown mode '$mode'" >&2; exit 2 ;;
esac
