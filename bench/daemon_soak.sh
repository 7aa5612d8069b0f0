#!/usr/bin/env bash
# Soak: kleak as a daemon (--serve, a short --interval) under allocation churn, scraped like
# Prometheus would. Prints RSS, CPU and BPF map fill over time, then the slope per hour of each
# after the warm-up (the first quarter). Not a CI test: 30 minutes by default.
# RSS is read every second: rss_min_kib is what the daemon keeps between samples (a leak shows
# there), rss_max_kib adds a sample's or report's working memory (a full map's drain, report and
# renders: ~25 MB), which one reading per row catches or misses at random.
#   KLEAK_SOAK_SECONDS=600 bench/daemon_soak.sh [build-dir]
# KLEAK_SOAK_ARGS: more `kleak trace` flags. --serve brings a 5% --max-cpu budget, which on a
# busy box detaches families and samples (map ~1k records); KLEAK_SOAK_ARGS="--max-cpu 0" keeps
# the map full (262144 records), the case that measures the drain and report memory.
# Needs root (BPF). Traffic stays on loopback.
set -euo pipefail
build=${1:-build}
secs=${KLEAK_SOAK_SECONDS:-1800}
every=${KLEAK_SOAK_EVERY:-30}     # seconds between rows
port=${KLEAK_SOAK_PORT:-19479}
tmp=$(mktemp -d)
: >"$tmp/failed"
cleanup() {
  [ -n "${kpid:-}" ] && kill -INT "$kpid" 2>/dev/null && wait "$kpid" 2>/dev/null || true
  [ -n "${ppid_:-}" ] && kill "$ppid_" 2>/dev/null || true
  [ -n "${scr:-}" ] && kill "$scr" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
# Churn: pipes created, filled and closed in a loop the whole time (kernel stacks that come and go).
"$build/kleak-planter" --pipes 50 --churn-seconds "$((secs + 60))" --hold "$((secs + 60))" >"$tmp/planter" &
ppid_=$!
# shellcheck disable=SC2086 # KLEAK_SOAK_ARGS is a list of flags
"$build/kleak" trace --duration "$((secs + 30))s" --interval 10s --serve ":$port" --format json ${KLEAK_SOAK_ARGS:-} \
  >/dev/null 2>"$tmp/err" &
kpid=$!
for _ in $(seq 100); do grep -q "serving" "$tmp/err" 2>/dev/null && break; sleep 0.2; done
# A scraper every second, like Prometheus with scrape_interval: 1s, profile included.
# Timeouts, and failures counted: a stuck endpoint must show, not freeze the columns.
( while sleep 1; do
    if curl -sf -m 5 "http://127.0.0.1:$port/metrics" >"$tmp/metrics.new"; then mv "$tmp/metrics.new" "$tmp/metrics"
    else echo x >>"$tmp/failed"; fi
    curl -sf -m 5 "http://127.0.0.1:$port/debug/pprof/heap" >/dev/null || echo x >>"$tmp/failed"
  done ) &
scr=$!
hz=$(getconf CLK_TCK)
start=$(date +%s)
printf '%8s %11s %11s %8s %12s %10s %10s %14s\n' t_s rss_min_kib rss_max_kib cpu_pct map_records groups window_s \
  failed_scrapes
rows=()
prev_ticks=0 prev_t=$start
while :; do
  rmin=0 rmax=0
  for _ in $(seq "$every"); do
    sleep 1
    [ -d /proc/$kpid ] || { echo "daemon died: $(cat "$tmp/err")"; exit 1; }
    r=$(awk '/^VmRSS/ {print $2}' /proc/$kpid/status)
    if [ "$rmin" -eq 0 ] || [ "$r" -lt "$rmin" ]; then rmin=$r; fi
    if [ "$r" -gt "$rmax" ]; then rmax=$r; fi
  done
  now=$(date +%s); t=$((now - start))
  ticks=$(awk '{print $14 + $15}' /proc/$kpid/stat)
  cpu=$(awk -v d=$((ticks - prev_ticks)) -v dt=$((now - prev_t)) -v hz="$hz" 'BEGIN {printf "%.1f", 100 * d / hz / dt}')
  prev_ticks=$ticks prev_t=$now
  recs=$(awk '/^kleak_outstanding_records / {print $2}' "$tmp/metrics" 2>/dev/null || echo 0)
  groups=$(awk '/^kleak_groups / {print $2}' "$tmp/metrics" 2>/dev/null || echo 0)
  win=$(awk '/^kleak_window_seconds / {printf "%.0f", $2}' "$tmp/metrics" 2>/dev/null || echo 0)
  failed=$(wc -l <"$tmp/failed" 2>/dev/null || echo 0)
  printf '%8d %11d %11d %8s %12s %10s %10s %14s\n' "$t" "$rmin" "$rmax" "$cpu" "$recs" "$groups" "$win" "$failed"
  rows+=("$t $rmin $cpu $recs $rmax")
  [ "$t" -ge "$secs" ] && break
done
# Least-squares slope per hour after the warm-up (first quarter of the rows dropped).
printf '%s\n' "${rows[@]}" | awk -v n="${#rows[@]}" '
  NR > n / 4 { k++; x[k] = $1; r[k] = $2; c[k] = $3; m[k] = $4; p[k] = $5 }
  function slope(y,   i, sx, sy, sxx, sxy) {
    for (i = 1; i <= k; i++) { sx += x[i]; sy += y[i]; sxx += x[i] * x[i]; sxy += x[i] * y[i] }
    return (k * sxy - sx * sy) / (k * sxx - sx * sx) * 3600
  }
  END {
    if (k < 2) { print "too short for a slope"; exit }
    printf "after warm-up (%d rows): RSS min %+.0f KiB/h, RSS max %+.0f KiB/h, CPU %+.2f %%/h, map records %+.0f /h\n",
           k, slope(r), slope(p), slope(c), slope(m)
  }'
