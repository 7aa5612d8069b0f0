#!/bin/sh
# What the bulk-free programs cost, measured where they attach: inside a qemu lane guest (this
# VM refuses fentry and has no kprobes). Run as the lane's extra script:
#   KLEAK_LANE_EXTRA_SCRIPT=bench/bulk_cost_guest.sh KLEAK_LANE_EXTRA_TIMEOUT=300 tools/qemu/run-lane.sh
# kleak traces while tests/kmod/leaky.ko allocates `leaky_cache` objects with
# kmem_cache_alloc_bulk and gives them back with kmem_cache_free_bulk, and kmallocs objects that
# kfree_rcu frees in the kernel's batches; kernel.bpf_stats_enabled gives each of kleak's
# programs its run count and time. Under TCG the absolute times are inflated (~10-50x); what
# carries over is the ratio to the per-object programs of the same run. Output: build/qemu-*/
# results/extra.log.
set -u
. /lane/config
R=$(mktemp -d)  # private (0700): the fifo and kleak's output are nobody else's to plant
insmod /lane/leaky.ko || { echo "insmod leaky.ko failed"; exit 1; }
leak() { echo "$*" >/sys/kernel/debug/leaky/leak; }
mkfifo $R/ready
"$KLEAK_BIN" trace --duration 10m --ready-fd 3 3>$R/ready >$R/report.txt 2>$R/trace.err &
pid=$!
read -r line <$R/ready || { echo "kleak did not start: $(tail -n 3 $R/trace.err)"; exit 1; }
echo "kleak ready: $line"
ids=$(for f in /proc/$pid/fdinfo/*; do sed -n 's/^prog_id:\s*//p' "$f"; done | sort -n | paste -sd, -)
echo 1 >/proc/sys/kernel/bpf_stats_enabled
rounds=${BULK_COST_ROUNDS:-100}
i=0
while [ $i -lt $rounds ]; do
  leak cache_bulk 256 && leak cache_each 64 && leak free_cache_bulk && leak kmalloc_rcu 128 96 && leak free_rcu
  i=$((i + 1))
done
# (kfree_rcu's last batch may run after the snapshot: the runs counted are what the rows show.)
bpftool -j prog show >$R/progs.json
echo 0 >/proc/sys/kernel/bpf_stats_enabled
kill -INT $pid
wait $pid
echo "kleak exit $?"
rmmod leaky
python3 - "$ids" $R/progs.json <<'PY'
import json, sys
ids = {int(x) for x in sys.argv[1].split(",") if x}
rows = [p for p in json.load(open(sys.argv[2])) if p["id"] in ids and p.get("run_cnt")]
rows.sort(key=lambda p: -p.get("run_time_ns", 0))
print(f"{'program':<28}{'runs':>10}{'ns/run':>10}")
for p in rows:
    print(f"{p['name']:<28}{p['run_cnt']:>10}{p['run_time_ns'] / p['run_cnt']:>10.0f}")
PY
grep -E "bulk|unseen|missed" $R/report.txt | head -n 20
