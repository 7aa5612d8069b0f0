#!/usr/bin/env python3
"""What kleak costs: the driver behind tools/bench.sh (run that; it installs and builds first).

1. Tracing cost. Two real servers on loopback (bench/servers.py: redis-server loaded by
   redis-benchmark SET+GET with 50 clients, nginx serving a 4 KiB file to wrk with 32
   connections, server and client pinned to one CPU) and allocation-heavy loops
   (build/bench/kleak-bench-wl: pipe, socket, open), pinned to one CPU, run bare and under each tracer, the configurations alternated round by round
   (the order rotates every round), medians over the rounds:
     kleak            build/kleak trace --duration 1h (started first, SIGINT after)
     kleak-sample     the same with --sample 100 (1 in 100 allocations tracked, size-aware)
     kleak-exact      the same with --stack-reuse 1 (a stack walk for every tracked allocation)
     kleak-nostack    kleak's own Tracer with bpf_get_stackid() switched off (kleak-bench-tracer)
     bpftrace-memleak bench/memleak.bt: pointer -> kstack map, deleted on free
     bpftrace-count   bench/count.bt: counts the six tracepoints, no stacks (the floor)
   ns/op is the loop's CPU time per operation (other tasks sharing the box do not count; BPF
   programs run in the loop's context and do). Slowdown = traced ns/op / bare ns/op of the same
   round. Events per op: the six tracepoints counted by `perf stat` on the loop's task before
   the rounds (bench/count.bt's per-CPU counts of the same run are kept as a cross-check);
   added ns per event = (traced ns/op - bare ns/op) / events per op.
   Then a profile of the heaviest workload: per-program BPF run time (kernel.bpf_stats_enabled)
   and a perf cpu-clock profile of the loop split into stack walk / BPF program / tracepoint
   dispatch / the workload itself.
2. Userspace cost: kleak-bench-agg (aggregate + symbolize + render 1M records over 10k stacks)
   and kleak-bench-tracer drain (Tracer::drain() of a real allocation map holding 1M records).
3. The tracer's own cost: `kleak trace` during 60 s of the heaviest loop, its CPU from
   /proc/<pid>/stat and its VmHWM.

Prints a table on stdout and writes the results as JSON (bench/results.json for a full run).
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from servers import SERVERS, Server, calibrate_redis, server_kind

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
KLEAK = os.path.join(BUILD, "kleak")
WL = os.path.join(BUILD, "bench", "kleak-bench-wl")
AGG = os.path.join(BUILD, "bench", "kleak-bench-agg")
PLANTER = os.path.join(BUILD, "kleak-planter")
BTRACER = os.path.join(BUILD, "bench", "kleak-bench-tracer")
MEMLEAK_BT = os.path.join(ROOT, "bench", "memleak.bt")
COUNT_BT = os.path.join(ROOT, "bench", "count.bt")

LOOPS = ["pipe", "socket", "open"]
# redis while kleak-planter leaks pages on another CPU (issue 16): kleak hunt, which watches
# /proc and then traces only what grows, against kleak trace under the same leak.
LEAK_WORKLOADS = {"redis-leak": ["kleak", "kleak-hunt"]}
LEAK_EVERY_MS = 50  # one pipe of 15 pages (60 KB) per tick: ~70 MiB/min no /proc counter shows
HUNT_WATCH = "10s"  # hunt's shortest useful watch: 10 samples, 1 s apart
WORKLOADS = SERVERS + list(LEAK_WORKLOADS) + LOOPS
TRACERS = ["kleak", "kleak-sample", "kleak-exact", "kleak-nostack", "bpftrace-memleak", "bpftrace-count"]
SAMPLE_EVERY = {"n": 100}
REDIS_REQUESTS = {"n": 100000}  # per test (SET, GET) of a redis run: calibrated to --seconds  # kleak-sample: kleak trace --sample N
# BPF program types that can sit on the allocation path: if one we did not load is present,
# someone else is tracing and every number would be off.
TRACING_TYPES = {"tracing", "tracepoint", "raw_tracepoint", "raw_tracepoint_writable", "kprobe",
                 "perf_event"}
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Targets from issue 14: ratios to the count-only bpftrace row of the same run.
TARGET_NS_VS_COUNT = 1.2         # loops: kleak's added ns per event / count.bt's
TARGET_SLOWDOWN_VS_COUNT = 0.03  # servers: kleak's slowdown - count.bt's
TARGET_SAMPLED_RATIO = 1.05      # servers: kleak --sample N
TARGET_SAMPLE_RATE_ERR = 0.20    # rate achieved / rate asked, every workload
TARGET_ALLOC_NS = 200.0          # bpf_stats run time per allocation program run
TARGET_FREE_NS = 80.0            # ... per free program run, primaries and twins averaged
TARGET_USERSPACE_S = 0.5
TARGET_USERSPACE_RSS_MB = 100.0  # issue 27: 1 M records aggregated while draining (was 200)


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


READY_MARK = '"ready":true'
READY_FD = object()  # in a tracer's argv: the descriptor of its ready file, filled in at start


def default_sigint():
    # A bench started in the background of a non-interactive shell inherits SIGINT ignored;
    # bpftrace would then never stop. Children always get the default disposition.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


# ---- the box ------------------------------------------------------------------------------

def read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def machine():
    cpuinfo = read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    mem = re.search(r"^MemTotal:\s*(\d+)", read("/proc/meminfo"), re.M)
    osr = re.search(r'^PRETTY_NAME="?([^"\n]*)', read("/etc/os-release"), re.M)
    virt = []
    if "hypervisor" in cpuinfo:
        virt.append("VM (cpuinfo hypervisor flag)")
    if "firecracker" in read("/proc/1/cmdline").replace("\0", " "):
        virt.append("firecracker init")
    if shutil.which("systemd-detect-virt"):
        d = run(["systemd-detect-virt"]).stdout.strip()
        if d and d != "none":
            virt.append(f"systemd-detect-virt: {d}")
    virt = ", ".join(virt)
    git = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).stdout.strip()
    dirty = bool(run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"]).stdout.strip())
    bpftrace_v = run(["bpftrace", "--version"]).stdout.strip() if shutil.which("bpftrace") else None
    perf_v = run(["perf", "--version"]).stdout.strip() if shutil.which("perf") else None
    hw = perf_hw_counters()
    kprobes = os.path.exists("/sys/bus/event_source/devices/kprobe/type")
    desc = (f"{os.cpu_count()}-CPU {model.group(1).strip() if model else '?'} "
            f"{'VM' if 'hypervisor' in cpuinfo else 'machine'}"
            f"{' (firecracker)' if 'firecracker' in virt else ''}, "
            f"{round(int(mem.group(1)) / 1048576) if mem else '?'} GiB, {osr.group(1) if osr else '?'}, "
            f"Linux {platform.release()}; "
            f"{'hardware perf counters' if hw else 'no hardware perf counters (perf samples cpu-clock)'}; "
            f"kprobes {'available' if kprobes else 'compiled out'}; "
            "a shared development box: other sessions may build and test on it during the run "
            "(see notes and runs[].cpu_share, runs[].pinned_cpu_busy_before)")
    return {
        "description": desc,
        "kernel": " ".join(platform.uname()[i] for i in (0, 2, 4)),
        "kernel_version": platform.uname().version,
        "os": osr.group(1) if osr else "",
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "cpus": os.cpu_count(),
        "memory_gib": round(int(mem.group(1)) / 1048576, 1) if mem else None,
        "virtualization": virt or "none detected",
        "clocksource": read("/sys/devices/system/clocksource/clocksource0/current_clocksource").strip(),
        "hardware_perf_counters": hw,
        "kprobes": kprobes,
        "kleak_commit": git + ("+uncommitted" if dirty else ""),
        "bpftrace": bpftrace_v,
        "perf": perf_v,
        "loadavg_at_start": read("/proc/loadavg").split()[:3],
    }


def perf_hw_counters():
    if not shutil.which("perf"):
        return False
    r = run(["perf", "stat", "-x,", "-e", "instructions", "true"])
    return "not supported" not in r.stderr and "<not" not in r.stderr and r.returncode == 0


def tracing_progs():
    r = run(["bpftool", "prog", "show", "-j"])
    try:
        progs = json.loads(r.stdout or "[]")
    except ValueError:
        return []
    return [p for p in progs if p.get("type") in TRACING_TYPES]


def wait_quiet(max_wait):
    """Waits until no tracing BPF program is loaded (someone else's tracer would slow every
    configuration). Returns (seconds waited, names still loaded)."""
    t0 = time.time()
    while True:
        progs = tracing_progs()
        if not progs:
            return time.time() - t0, []
        if time.time() - t0 >= max_wait:
            return time.time() - t0, sorted({p.get("name", "?") for p in progs})
        time.sleep(1)


def cpu_busy(cpu, interval=0.3):
    """Fraction of `cpu` busy over `interval` seconds (/proc/stat)."""
    def snap():
        for line in read("/proc/stat").splitlines():
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:9]]
                return sum(v), v[3] + v[4]
        return 1, 1
    t1, i1 = snap()
    time.sleep(interval)
    t2, i2 = snap()
    return 1 - (i2 - i1) / max(1, t2 - t1)


IDLE_BUDGET = {"left": 0.0}


def wait_idle_cpu(cpu, threshold):
    """Waits (within the run's total budget) for the pinned CPU to be nearly idle, so that
    someone else's build does not share it with the loop. Returns (busy fraction, seconds)."""
    t0 = time.time()
    busy = cpu_busy(cpu)
    while busy > threshold and IDLE_BUDGET["left"] > 0:
        time.sleep(2)
        IDLE_BUDGET["left"] -= 2.3
        busy = cpu_busy(cpu)
    return busy, time.time() - t0


def proc_cpu_s(pid):
    """utime + stime of a live process, seconds."""
    try:
        stat = read(f"/proc/{pid}/stat")
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (ValueError, IndexError):
        return None


def proc_status_kb(pid, field):
    m = re.search(rf"^{field}:\s*(\d+)", read(f"/proc/{pid}/status"), re.M)
    return int(m.group(1)) if m else None


# ---- tracers ------------------------------------------------------------------------------

class Tracer:
    """A tracer process: started, waited for until it says it is attached, stopped with SIGINT,
    reaped with wait4 (its whole-life CPU and peak RSS)."""

    def __init__(self, name, tmp, duration="1h"):
        self.name = name
        self.out = os.path.join(tmp, f"{name}.out")
        self.err = os.path.join(tmp, f"{name}.err")
        self.json = os.path.join(tmp, f"{name}.json")
        # kleak's --ready-fd goes to this file: one JSON line once its programs are attached
        # (for hunt: once its trace attaches, after the watch).
        self.ready = os.path.join(tmp, f"{name}.ready")
        env = dict(os.environ)
        if name == "kleak":
            self.argv = [KLEAK, "trace", "--ready-fd", READY_FD, "--duration", duration, "--format", "json", "-o", self.json]
            self.marker, self.marker_file = READY_MARK, self.ready
        elif name == "kleak-sample":
            self.argv = [KLEAK, "trace", "--ready-fd", READY_FD, "--duration", duration, "--format", "json", "-o", self.json,
                         "--sample", str(SAMPLE_EVERY["n"])]
            self.marker, self.marker_file = READY_MARK, self.ready
        elif name == "kleak-exact":
            self.argv = [KLEAK, "trace", "--ready-fd", READY_FD, "--duration", duration, "--format", "json", "-o", self.json,
                         "--stack-reuse", "1"]
            self.marker, self.marker_file = READY_MARK, self.ready
        elif name == "kleak-hunt":
            # Measured while it traces: the marker is the trace's own attach line, after the watch.
            self.argv = [KLEAK, "hunt", "--ready-fd", READY_FD, "--watch", HUNT_WATCH, "--duration", duration, "--format", "json",
                         "-o", self.json]
            self.marker, self.marker_file = READY_MARK, self.ready
        elif name == "kleak-nostack":
            self.argv = [BTRACER, "trace", "--no-stacks"]
            self.marker, self.marker_file = "kleak: tracing", self.err
        elif name == "bpftrace-memleak":
            self.argv = ["bpftrace", MEMLEAK_BT]
            env["BPFTRACE_MAP_KEYS_MAX"] = "262144"  # kleak's default --max-allocs
            self.marker, self.marker_file = "bench: ready", self.out
        elif name == "bpftrace-count":
            self.argv = ["bpftrace", COUNT_BT]
            self.marker, self.marker_file = "bench: ready", self.out
        else:
            raise ValueError(name)
        self.env = env
        self.proc = None
        self.hung = None

    def start(self, timeout=90):
        t0 = time.time()
        with open(self.out, "w") as o, open(self.err, "w") as e, open(self.ready, "w") as r:
            argv = [str(r.fileno()) if a is READY_FD else a for a in self.argv]
            self.proc = subprocess.Popen(argv, stdout=o, stderr=e, stdin=subprocess.DEVNULL, env=self.env,
                                         preexec_fn=default_sigint, pass_fds=(r.fileno(),))
        while True:
            if self.marker in read(self.marker_file):
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before attaching: "
                                   + read(self.err)[-500:])
            if time.time() - t0 > timeout:
                self.proc.kill()
                raise RuntimeError(f"{self.name} did not attach within {timeout} s")
            time.sleep(0.02)
        self.startup_s = time.time() - t0
        time.sleep(0.2)  # let the last attach settle
        self.cpu_at_ready = proc_cpu_s(self.proc.pid)

    def stop(self, timeout=60):
        pid = self.proc.pid
        self.cpu_at_stop = proc_cpu_s(pid)
        self.hwm_at_stop_kb = proc_status_kb(pid, "VmHWM")
        t0 = time.time()
        os.kill(pid, signal.SIGINT)
        while True:
            wpid, status, ru = os.wait4(pid, os.WNOHANG)
            if wpid == pid:
                break
            if time.time() - t0 > timeout:
                # Seen once with bpftrace 0.17 under load: SIGINT not acted on. Keep what it
                # was doing, kill it, and leave the run out of the medians.
                self.hung = {"wchan": read(f"/proc/{pid}/wchan"), "stack": read(f"/proc/{pid}/stack")[:2000],
                             "stderr": read(self.err)[-500:]}
                os.kill(pid, signal.SIGKILL)
                wpid, status, ru = os.wait4(pid, 0)
                break
            time.sleep(0.02)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.stop_s = time.time() - t0
        self.total_cpu_s = ru.ru_utime + ru.ru_stime
        self.maxrss_kb = ru.ru_maxrss
        window = None
        if self.cpu_at_ready is not None and self.cpu_at_stop is not None:
            window = self.cpu_at_stop - self.cpu_at_ready
        self.window_cpu_s = window
        return self.result()

    def result(self):
        r = {"startup_s": round(self.startup_s, 3), "stop_s": round(self.stop_s, 3),
             "exit": self.proc.returncode, "window_cpu_s": self.window_cpu_s,
             "total_cpu_s": round(self.total_cpu_s, 3), "maxrss_kb": self.maxrss_kb,
             "hwm_at_stop_kb": self.hwm_at_stop_kb}
        if self.hung:
            r["hung_on_sigint"] = self.hung
        if self.name in ("kleak", "kleak-sample", "kleak-exact"):
            try:
                with open(self.json) as f:
                    rep = json.load(f)
                r["events"] = {k: rep["events"].get(k) for k in ("allocs_seen", "frees_seen", "allocs_tracked",
                                                                 "frees_matched", "outstanding_records")}
                r["duration_s"] = rep.get("duration_s")
                r["dropped"] = {k: v for k, v in rep.get("dropped", {}).items() if v}
                r["stack_reuse"] = rep.get("stack_reuse")
                r["sample_achieved"] = rep.get("sample_achieved")
                r["sample_every"] = rep.get("sample_every")
            except (OSError, ValueError, KeyError) as ex:
                r["report_error"] = str(ex)
        elif self.name == "kleak-hunt":
            try:
                with open(self.json) as f:
                    h = json.load(f)
                rep = h.get("trace") or {}
                r["events"] = {k: rep.get("events", {}).get(k) for k in ("allocs_seen", "frees_seen")}
                r["duration_s"] = rep.get("duration_s")
                r["hunt"] = {"attached": sorted({a["family"] for a in h.get("attached", [])}),
                             "growing": [l["name"] for l in h["watch"]["lines"] if l.get("growing")],
                             "explained_kb": {e["line"]: e.get("explained_kb") for e in h.get("explained", [])},
                             "command_line": h.get("command_line")}
            except (OSError, ValueError, KeyError, TypeError) as ex:
                r["report_error"] = str(ex)
        elif self.name.startswith("kleak-"):
            try:
                rep = json.loads(read(self.out))
                r["events"] = rep["events"]
                r["duration_s"] = rep.get("duration_s")
                r["stack_collision"] = rep.get("stack_collision")
            except (ValueError, KeyError) as ex:
                r["report_error"] = str(ex)
        elif self.name == "bpftrace-count":
            text = read(self.out)
            for what in ("allocs", "frees"):
                r[f"{what}_by_cpu"] = {int(m.group(1)): int(m.group(2)) for m in
                                       re.finditer(rf"^@{what}\[(\d+)\]:\s*(\d+)", text, re.M)}
        return r


class Leak:
    """kleak-planter leaking one filled pipe every LEAK_EVERY_MS on a CPU other than the server's,
    from before the tracer starts until after it stops: the slow page leak of the hunt row."""

    def __init__(self, cpu):
        other = [c for c in sorted(os.sched_getaffinity(0)) if c != cpu]
        self.argv = (["taskset", "-c", str(other[0])] if other else []) + [
            PLANTER, "--leak-every", str(LEAK_EVERY_MS), "--leak-pipes-max", "4000"]
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            self.proc.kill()
            raise RuntimeError(f"kleak-planter did not plant: {line.strip()} {self.proc.stderr.read()[-300:]}")
        return self

    def stop(self):
        self.proc.stdin.close()  # EOF: release, exit
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def configs_for(workload, args):
    """The tracers a workload runs under: the leak workloads compare kleak hunt with kleak trace."""
    return LEAK_WORKLOADS.get(workload, args.tracers)


def run_workload(workload, seconds, cpu):
    r = run(["taskset", "-c", str(cpu), WL, workload, "--seconds", str(seconds)])
    if r.returncode != 0:
        raise RuntimeError(f"workload {workload} failed: {r.stderr.strip()}")
    kv = dict(x.split("=") for x in r.stdout.split())
    ops, elapsed, cpu_ns = int(kv["ops"]), int(kv["elapsed_ns"]), int(kv["cpu_ns"])
    return {"ops": ops, "warmup_ops": int(kv["warmup_ops"]), "elapsed_ns": elapsed, "cpu_ns": cpu_ns,
            "ns_per_op": elapsed / ops, "cpu_ns_per_op": cpu_ns / ops, "cpu_share": cpu_ns / elapsed}


def one_run(workload, config, seconds, cpu, tmp, quiet_wait, busy_threshold=0.15):
    waited, foreign = wait_quiet(quiet_wait)
    busy, idle_wait = wait_idle_cpu(cpu, busy_threshold)
    rec = {"workload": workload, "config": config, "pinned_cpu_busy_before": round(busy, 3)}
    if idle_wait > 1:
        rec["waited_for_idle_cpu_s"] = round(idle_wait, 1)
    if waited > 1.5 or foreign:
        rec["waited_for_foreign_tracer_s"] = round(waited, 1)
    if foreign:
        rec["foreign_tracing_progs"] = foreign
    # A server starts before the tracer and stops after it: the tracer sees its requests only.
    kind = server_kind(workload)
    leak = Leak(cpu).start() if workload in LEAK_WORKLOADS else None
    try:
        srv = Server(kind, cpu, tmp).start() if kind else None
    except BaseException:
        if leak:
            leak.stop()
        raise
    load = (lambda: srv.load(seconds, REDIS_REQUESTS["n"])) if srv else (lambda: run_workload(workload, seconds, cpu))
    try:
        if config == "bare":
            rec.update(load())
            return rec
        t = Tracer(config, tmp)
        t.start()
        try:
            rec.update(load())
        finally:
            rec["tracer"] = t.stop()
            # Freeing a tracer's maps (bpftrace's stack map is hundreds of MB) goes on in the
            # kernel after its exit; let it finish before the next run.
            time.sleep(0.5)
    finally:
        if srv:
            srv.stop()
        if leak:
            leak.stop()
    if rec["tracer"].get("hung_on_sigint"):
        rec["invalid"] = "tracer did not stop on SIGINT"
    if config == "bpftrace-count" and rec["tracer"].get("allocs_by_cpu"):
        a, f = rec["tracer"]["allocs_by_cpu"], rec["tracer"].get("frees_by_cpu", {})
        rec["allocs_on_cpu"], rec["frees_on_cpu"] = a.get(cpu, 0), f.get(cpu, 0)
        rec["events_on_cpu"] = rec["allocs_on_cpu"] + rec["frees_on_cpu"]
        rec["events_all_cpus"] = sum(a.values()) + sum(f.values())
    return rec


# ---- part 1 -------------------------------------------------------------------------------

TRACEPOINTS = {"alloc": ["kmem:kmalloc", "kmem:kmem_cache_alloc", "kmem:mm_page_alloc"],
               "free": ["kmem:kfree", "kmem:kmem_cache_free", "kmem:mm_page_free"]}


def calibrate(workload, cpu, reps=3, seconds=0.5):
    """Events per op of a loop: the six tracepoints counted by `perf stat` on the loop's own task
    (so other tasks sharing the CPU are not counted; frees deferred to softirq in its context
    are). This is the denominator of "added ns per event". None when perf cannot count them."""
    if not shutil.which("perf"):
        return None
    res = []
    for _ in range(reps):
        r = run(["perf", "stat", "-x,", "-e", ",".join(TRACEPOINTS["alloc"] + TRACEPOINTS["free"]), "--",
                 "taskset", "-c", str(cpu), WL, workload, "--seconds", str(seconds)])
        if r.returncode != 0:
            return None
        kv = dict(x.split("=") for x in r.stdout.split() if "=" in x)
        counts = {}
        for line in r.stderr.splitlines():
            f = line.split(",")
            if len(f) > 2 and f[2] in TRACEPOINTS["alloc"] + TRACEPOINTS["free"] and f[0].isdigit():
                counts[f[2]] = int(f[0])
        if len(counts) != 6:
            return None
        ops = int(kv["ops"]) + int(kv["warmup_ops"])
        res.append({"allocs": sum(counts[t] for t in TRACEPOINTS["alloc"]) / ops,
                    "frees": sum(counts[t] for t in TRACEPOINTS["free"]) / ops,
                    "by_tracepoint": {t: n / ops for t, n in counts.items()}})
    return {"events_per_op": median([x["allocs"] + x["frees"] for x in res]),
            "allocs_per_op": median([x["allocs"] for x in res]),
            "frees_per_op": median([x["frees"] for x in res]),
            "by_tracepoint": {t: median([x["by_tracepoint"][t] for x in res]) for t in res[0]["by_tracepoint"]}}


def tracing_cost(args, tmp):
    runs = []
    args.calibration = {}
    for w in args.workloads:
        configs = ["bare"] + configs_for(w, args)
        if server_kind(w) == "redis" and not getattr(args, "redis_calibrated", False):
            args.redis_calibrated = True
            REDIS_REQUESTS["n"] = calibrate_redis(args.cpu, tmp, args.seconds)
            log(f"redis  {REDIS_REQUESTS['n']} requests per test (SET, GET) take ~{args.seconds:g} s bare")
        # Servers: events per request from bench/count.bt's counts of the pinned CPU.
        args.calibration[w] = calibrate(w, args.cpu) if w in LOOPS else None
        if args.calibration[w]:
            log(f"{w:6} {args.calibration[w]['events_per_op']:.1f} traced events per op (perf stat on the loop)")
        for rnd in range(args.rounds):
            k = rnd % len(configs)
            order = configs[k:] + configs[:k]
            for c in order:
                try:
                    rec = one_run(w, c, args.seconds, args.cpu, tmp, args.quiet_wait)
                except (RuntimeError, OSError, ValueError, KeyError) as ex:
                    log(f"{w:6} round {rnd + 1}/{args.rounds} {c:17} FAILED: {ex}")
                    runs.append({"workload": w, "config": c, "round": rnd, "invalid": str(ex)})
                    continue
                rec["round"] = rnd
                runs.append(rec)
                extra = ""
                if "tracer" in rec:
                    extra = f" (attach {rec['tracer']['startup_s']:.2f}s, stop {rec['tracer']['stop_s']:.2f}s)"
                log(f"{w:6} round {rnd + 1}/{args.rounds} {c:17} {rec['cpu_ns_per_op']:8.0f} CPU ns/op "
                    f"({rec['ns_per_op']:.0f} wall, CPU share {rec['cpu_share']:.2f}){extra}")
    return runs


def summarize(runs, args):
    """Medians per workload and tracer. The primary numbers are CPU time per op of the pinned
    loop (CLOCK_PROCESS_CPUTIME_ID: BPF programs and softirqs run in its context and count, other
    tasks sharing the CPU do not); the wall-clock numbers are kept beside them."""
    out = {}
    for w in args.workloads:
        wr = [r for r in runs if r["workload"] == w and not r.get("invalid")]
        by_round = {}
        for r in wr:
            by_round.setdefault(r["round"], {})[r["config"]] = r
        counts = [r for r in wr if r["config"] == "bpftrace-count" and r.get("events_on_cpu")]
        per_op = lambda r, k: r[k] / (r["ops"] + r["warmup_ops"])
        count_bt = {"events_per_op": median([per_op(r, "events_on_cpu") for r in counts]),
                    "allocs_per_op": median([per_op(r, "allocs_on_cpu") for r in counts]),
                    "frees_per_op": median([per_op(r, "frees_on_cpu") for r in counts])}
        cal = (getattr(args, "calibration", None) or {}).get(w)
        if cal:
            epo_source = "perf stat of the six tracepoints on the loop's task"
            epo, apo, fpo = cal["events_per_op"], cal["allocs_per_op"], cal["frees_per_op"]
        else:  # bench/count.bt: every task on the pinned CPU, so a slight over-estimate
            epo_source = "bench/count.bt, all tasks on the pinned CPU"
            epo, apo, fpo = count_bt["events_per_op"], count_bt["allocs_per_op"], count_bt["frees_per_op"]
        if epo is None:  # neither: kleak's own count (all CPUs, an over-estimate)
            epo_source = "kleak events, all CPUs"
            epo = median([(r["tracer"]["events"]["allocs_seen"] + r["tracer"]["events"]["frees_seen"])
                          / (r["ops"] + r["warmup_ops"]) for r in wr
                          if r["config"] == "kleak" and r.get("tracer", {}).get("events")])
        bare = [r for r in wr if r["config"] == "bare"]
        if not bare:
            out[w] = {"error": "no valid bare run"}
            continue
        bare_cpu = median([r["cpu_ns_per_op"] for r in bare])
        bare_wall = median([r["ns_per_op"] for r in bare])
        s = {"events_per_op": epo, "allocs_per_op": apo, "frees_per_op": fpo,
             "events_per_op_source": epo_source, "calibration": cal,
             "count_bt_pinned_cpu_per_op": count_bt,
             "bare": {"ops_per_cpu_s": 1e9 / bare_cpu, "cpu_ns_per_op": bare_cpu,
                      "ops_per_s_wall": 1e9 / bare_wall, "ns_per_op_wall": bare_wall,
                      "events_per_cpu_s": epo * 1e9 / bare_cpu if epo else None,
                      "cpu_share_min": min(r["cpu_share"] for r in bare)},
             "tracers": {}}
        for t in configs_for(w, args):
            ratio, ratio_wall, added, added_ev, added_ev_wall = [], [], [], [], []
            for rnd, cfg in sorted(by_round.items()):
                if t not in cfg or "bare" not in cfg:
                    continue
                b, x = cfg["bare"], cfg[t]
                ratio.append(x["cpu_ns_per_op"] / b["cpu_ns_per_op"])
                ratio_wall.append(x["ns_per_op"] / b["ns_per_op"])
                added.append(x["cpu_ns_per_op"] - b["cpu_ns_per_op"])
                if epo:
                    added_ev.append((x["cpu_ns_per_op"] - b["cpu_ns_per_op"]) / epo)
                    added_ev_wall.append((x["ns_per_op"] - b["ns_per_op"]) / epo)
            tr = [r for r in wr if r["config"] == t]
            if not tr or not ratio:
                continue
            cpu_ns = median([r["cpu_ns_per_op"] for r in tr])
            wall_ns = median([r["ns_per_op"] for r in tr])
            e = {"ops_per_cpu_s": 1e9 / cpu_ns, "cpu_ns_per_op": cpu_ns,
                 "slowdown": median(ratio), "slowdown_min": min(ratio), "slowdown_max": max(ratio),
                 "added_cpu_ns_per_op": median(added), "added_ns_per_event": median(added_ev),
                 "ops_per_s_wall": 1e9 / wall_ns, "ns_per_op_wall": wall_ns,
                 "slowdown_wall": median(ratio_wall), "added_ns_per_event_wall": median(added_ev_wall),
                 "rounds": len(ratio), "cpu_share_min": min(r["cpu_share"] for r in tr),
                 "tracer_window_cpu_s": median([r["tracer"].get("window_cpu_s") for r in tr]),
                 "tracer_maxrss_kb": median([r["tracer"].get("maxrss_kb") for r in tr]),
                 "attach_s": median([r["tracer"]["startup_s"] for r in tr]),
                 "stop_s": median([r["tracer"]["stop_s"] for r in tr])}
            withev = [r for r in tr if r["tracer"].get("events") and r["tracer"].get("duration_s")]
            if withev:
                e["tracer_events_per_s_all_cpus"] = median(
                    [(r["tracer"]["events"]["allocs_seen"] + r["tracer"]["events"]["frees_seen"])
                     / r["tracer"]["duration_s"] for r in withev])
            ach = [r["tracer"]["sample_achieved"] for r in tr
                   if (r["tracer"].get("sample_every") or 1) > 1 and (r["tracer"].get("sample_achieved") or {}).get("kept")]
            if ach:  # allocations seen per allocation kept: the rate achieved, 1 in this many
                e["sample_every"] = tr[0]["tracer"].get("sample_every")
                e["sample_achieved_one_in"] = median([a["seen"] / a["kept"] for a in ach])
            reuse = [r["tracer"]["stack_reuse"] for r in tr if r["tracer"].get("stack_reuse")]
            if reuse and any(u["reused"] for u in reuse):
                share = lambda a, b: a / b if b else 0.0
                e["stack_reuse"] = {
                    "max_run": reuse[0]["max_run"],
                    "walked_share": median([share(u["walked"], u["walked"] + u["reused"]) for u in reuse]),
                    "changed_share_of_checks": median([share(u["changed"], u["checked"]) for u in reuse]),
                    "suspect_share_of_reused": median([share(u["suspect"], u["reused"]) for u in reuse]),
                    "runs": reuse}
            hunts = [r["tracer"]["hunt"] for r in tr if r["tracer"].get("hunt")]
            if hunts:
                e["hunt"] = {"attached": sorted({f for h in hunts for f in h["attached"]}),
                             "growing": sorted({g for h in hunts for g in h["growing"]}),
                             "command_line": hunts[0]["command_line"], "runs": hunts}
            s["tracers"][t] = e
        out[w] = s
    return out


def heaviest(summary):
    """The allocation-heaviest loop: the most traced events per operation (pipe: ~19, with a page
    per op; it is also the loop the issue's reference numbers were measured on). Events per
    CPU-second are about equal for pipe and open here, so they would pick one by noise."""
    best, epo = None, -1
    for w, s in summary.items():
        if "bare" not in s or w not in LOOPS:
            continue
        e = s.get("events_per_op") or 0
        if e > epo:
            best, epo = w, e
    return best


# ---- profile -------------------------------------------------------------------------------

def own_prog_ids(pid):
    """The ids of the BPF programs process `pid` holds open (prog_id in /proc/<pid>/fdinfo)."""
    ids = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fdinfo"):
            m = re.search(r"^prog_id:\s*(\d+)", read(f"/proc/{pid}/fdinfo/{fd}"), re.M)
            if m:
                ids.add(int(m.group(1)))
    except OSError:
        pass
    return ids


def bpf_stats_run(workload, config, seconds, cpu, tmp, quiet_wait):
    """Per-program run time with kernel.bpf_stats_enabled=1 (adds ~20-40 ns per program run)."""
    wait_quiet(quiet_wait)
    wait_idle_cpu(cpu, 0.15)
    path = "/proc/sys/kernel/bpf_stats_enabled"
    prev = read(path).strip() or "0"
    t = Tracer(config, tmp)
    t.start()
    progs = []
    try:
        with open(path, "w") as f:
            f.write("1")
        wl = run_workload(workload, seconds, cpu)
        # Only the tracer's own programs (the ids in its fdinfo): another session's kleak
        # loads programs of the same names.
        own = own_prog_ids(t.proc.pid)
        progs = [p for p in tracing_progs() if not own or p.get("id") in own]
    finally:
        with open(path, "w") as f:
            f.write(prev)
        t.stop()
    rows = []
    for p in progs:
        if p.get("name") in ("BEGIN", "END"):  # bpftrace's own uprobes
            continue
        cnt, ns = p.get("run_cnt") or 0, p.get("run_time_ns") or 0
        rows.append({"name": p.get("name"), "run_cnt": cnt, "run_time_ns": ns,
                     "avg_ns": round(ns / cnt, 1) if cnt else None,
                     "recursion_misses": p.get("recursion_misses", 0)})
    rows.sort(key=lambda r: -r["run_time_ns"])
    total_ns = sum(r["run_time_ns"] for r in rows)
    total_cnt = sum(r["run_cnt"] for r in rows)

    def group(pred):
        g = [r for r in rows if pred(r["name"] or "")]
        c, n = sum(r["run_cnt"] for r in g), sum(r["run_time_ns"] for r in g)
        return {"run_cnt": c, "avg_ns": round(n / c, 1) if c else None}

    # "allo", not "alloc": program names are cut at 15 characters (bpftrace's kmem_cache_allo).
    is_alloc = lambda n: "allo" in n and "free" not in n
    return {"config": config, "workload": workload, "cpu_ns_per_op": wl["cpu_ns_per_op"],
            "programs": rows, "avg_ns_per_run": round(total_ns / total_cnt, 1) if total_cnt else None,
            "alloc_programs": group(is_alloc), "free_programs": group(lambda n: not is_alloc(n))}


STACK_WALK = re.compile(r"^(bpf_get_stackid|bpf_get_stack|__bpf_get_stackid|get_perf_callchain|"
                        r"perf_callchain_kernel|unwind_|__unwind_start|__orc_find|orc_find|is_ftrace_trampoline|"
                        r"kernel_text_address|__kernel_text_address|is_bpf_text_address|bpf_ksym_find)")
BPF_PROG = re.compile(r"^bpf_prog_")
DISPATCH = re.compile(r"^(bpf_trace_run|__bpf_trace_|__traceiter_|perf_trace_|perf_tp_event|trace_call_bpf|"
                      r"perf_trace_buf|trace_event_raw_event|__bpf_prog_run|perf_swevent|perf_tp_)")
CATEGORIES = ["stack walk (bpf_get_stackid)", "BPF program (maps, helpers)",
              "tracepoint dispatch", "workload: kernel", "workload: user"]


def perf_run(workload, config, seconds, cpu, tmp, quiet_wait):
    """perf cpu-clock samples of the pinned loop (callchains), split by what they were doing."""
    wait_quiet(quiet_wait)
    wait_idle_cpu(cpu, 0.15)
    data = os.path.join(tmp, f"perf-{config}.data")
    t = Tracer(config, tmp) if config != "bare" else None
    if t:
        t.start()
    try:
        r = run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "1999", "-g", "-o", data, "--",
                 "taskset", "-c", str(cpu), WL, workload, "--seconds", str(seconds)])
    finally:
        if t:
            t.stop()
    if r.returncode != 0:
        raise RuntimeError("perf record failed: " + r.stderr.strip()[-300:])
    kv = dict(x.split("=") for x in r.stdout.split() if "=" in x)
    ns_per_op = int(kv["cpu_ns"]) / int(kv["ops"])  # samples of the loop are its CPU time
    script = run(["perf", "script", "-i", data, "-F", "comm,ip,sym"])
    cats = dict.fromkeys(CATEGORIES, 0)
    leaf_in_tracer = {}
    total = 0
    for block in script.stdout.split("\n\n"):
        lines = [l for l in block.split("\n") if l.strip()]
        if not lines or not lines[0].strip().startswith("kleak-bench-wl"):
            continue
        frames = []
        for l in lines[1:]:
            parts = l.split(None, 1)
            if len(parts) == 2:
                frames.append((parts[0], parts[1].strip()))
            elif len(parts) == 1:
                frames.append((parts[0], "[unknown]"))
        if not frames:
            continue
        total += 1
        syms = [s for _, s in frames]
        if any(STACK_WALK.match(s) for s in syms):
            c = CATEGORIES[0]
        elif any(BPF_PROG.match(s) for s in syms):
            c = CATEGORIES[1]
        elif any(DISPATCH.match(s) for s in syms):
            c = CATEGORIES[2]
        else:
            c = CATEGORIES[3] if int(frames[0][0], 16) >= 0xffff800000000000 else CATEGORIES[4]
        cats[c] += 1
        if c in CATEGORIES[:3]:
            leaf = re.sub(r"^bpf_prog_[0-9a-f]+_", "bpf_prog_*_", syms[0])
            leaf_in_tracer[leaf] = leaf_in_tracer.get(leaf, 0) + 1
    shares = {c: (n / total if total else 0) for c, n in cats.items()}
    top = sorted(leaf_in_tracer.items(), key=lambda kv: -kv[1])[:15]
    return {"config": config, "workload": workload, "samples": total, "cpu_ns_per_op": ns_per_op,
            "share": shares, "ns_per_op_by_category": {c: shares[c] * ns_per_op for c in CATEGORIES},
            "top_tracer_leaf_symbols": [{"symbol": s, "share_of_samples": n / total} for s, n in top]}


def perf_works():
    if not shutil.which("perf"):
        return False, "perf is not installed"
    r = run(["perf", "record", "-q", "-e", "cpu-clock", "-o", "/dev/null", "--", "true"])
    if r.returncode != 0:
        return False, "perf record -e cpu-clock fails: " + r.stderr.strip()[-200:]
    return True, ""


def perf_flat(argv, tmp, name):
    """Flat self-time profile (top symbols) of a userspace command."""
    data = os.path.join(tmp, f"perf-{name}.data")
    r = run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "1999", "-o", data, "--"] + argv)
    if r.returncode != 0:
        return None
    rep = run(["perf", "report", "-i", data, "--no-children", "--sort", "sym", "--stdio"])
    top = []
    for line in rep.stdout.splitlines():
        m = re.match(r"^\s+([\d.]+)%\s+\[(.)\]\s+(.*)$", line)
        if m:
            sym = m.group(3).strip()
            if "<" in sym:  # std::__detail::_Map_base<kleak::..., 300 more characters: the name will do
                sym = sym.split("<", 1)[0] + "<...>"
            top.append({"symbol": sym[:120], "share": float(m.group(1)) / 100,
                        "space": "kernel" if m.group(2) == "k" else "user"})
        if len(top) >= 12:
            break
    return top


# ---- parts 2 and 3 -------------------------------------------------------------------------

def userspace_cost(args, tmp):
    res = {}
    r = run([AGG, "--records", str(args.records), "--stacks", "10000", "--depth", "20",
             "--reps", str(args.agg_reps)])
    if r.returncode != 0:
        raise RuntimeError("kleak-bench-agg failed: " + r.stderr.strip())
    res["aggregate"] = json.loads(r.stdout)
    log(f"userspace: aggregate+render {res['aggregate']['total_cpu_s']:.3f} s CPU, "
        f"peak RSS {res['aggregate']['peak_rss_kb'] / 1024:.0f} MiB")
    r = run([BTRACER, "drain", "--records", str(args.records), "--stacks", "10000", "--reps", "3"])
    if r.returncode != 0:
        res["drain"] = {"error": r.stderr.strip()}
    else:
        res["drain"] = json.loads(r.stdout)
        log(f"userspace: drain + report of {res['drain']['records_drained']} records "
            f"{res['drain']['drain_s']:.3f} s, +{res['drain']['peak_over_before_kb'] / 1024:.0f} MiB")
    return res


def tracer_self_cost(workload, seconds, cpu, tmp, quiet_wait):
    waited, foreign = wait_quiet(quiet_wait)
    wait_idle_cpu(cpu, 0.15)
    # A window as long as the loop (plus the start-up margin), as someone would run it: kleak
    # then takes its growth samples every window/10 (6 s), where --duration 1h would take them
    # every 30 s. SIGINT ends it just after the loop.
    t = Tracer("kleak", tmp, duration=f"{seconds + 2:.0f}s")
    t.start()
    samples = []
    wl = None
    try:
        p = subprocess.Popen(["taskset", "-c", str(cpu), WL, workload, "--seconds", str(seconds)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while p.poll() is None:
            samples.append({"cpu_s": proc_cpu_s(t.proc.pid), "rss_kb": proc_status_kb(t.proc.pid, "VmRSS")})
            time.sleep(1)
        out, err = p.communicate()
        kv = dict(x.split("=") for x in out.split() if "=" in x)
        wl = {"ops": int(kv["ops"]), "ns_per_op": float(kv["ns_per_op"])}
    finally:
        res = t.stop()
    window = res["window_cpu_s"]
    return {"workload": workload, "seconds": seconds, "workload_result": wl,
            "window_cpu_s": window, "window_cpu_pct_of_one_cpu": 100 * window / seconds if window is not None else None,
            "vmhwm_during_window_kb": res["hwm_at_stop_kb"],
            "max_rss_incl_final_report_kb": res["maxrss_kb"],
            "total_cpu_s_incl_startup_and_report": res["total_cpu_s"],
            "final_report_s": res["stop_s"], "attach_s": res["startup_s"],
            "rss_kb_over_time": [s["rss_kb"] for s in samples],
            "events": res.get("events"), "duration_s": res.get("duration_s"), "dropped": res.get("dropped"),
            "foreign_tracer_wait_s": round(waited, 1)}


# ---- output ---------------------------------------------------------------------------------

def fmt(x, spec=".2f", none="-"):
    return none if x is None else format(x, spec)


def table(rows, headers):
    w = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(str(h).ljust(w[i]) if i == 0 else str(h).rjust(w[i]) for i, h in enumerate(headers))]
    lines.append("  ".join("-" * x for x in w))
    for r in rows:
        lines.append("  ".join(str(c).ljust(w[i]) if i == 0 else str(c).rjust(w[i]) for i, c in enumerate(r)))
    return "\n".join(lines)


def render(res):
    out = []
    m = res["machine"]
    out.append(f"kleak bench ({res['mode']}): {m['kernel']}, {m['cpu_model']} x{m['cpus']}, "
               f"{m['memory_gib']} GiB, {m['virtualization']}; kleak {m['kleak_commit']}")
    st = res["settings"]
    out.append(f"loops pinned to CPU {st['cpu']}, {st['seconds']} s per run, {st['rounds']} rounds "
               "alternated, medians. slowdown = traced/bare CPU ns per op of the loop in the same round")
    out.append("(wall = the same from wall-clock time); +ns/event = added CPU ns per op / events per op")
    out.append("")
    rows = []
    for w, s in res["tracing"].items():
        if "bare" not in s:
            rows.append([w, s.get("error", "?"), "", "", "", "", "", "", "", ""])
            continue
        b = s["bare"]
        ev = fmt(s["events_per_op"], ".1f")
        if s.get("allocs_per_op") is not None:
            ev += f" ({s['allocs_per_op']:.1f}+{s['frees_per_op']:.1f})"
        rows.append([w, "bare", f"{b['ops_per_cpu_s']:,.0f}", fmt(b["cpu_ns_per_op"], ".0f"), "1.00x", "", "",
                     "", "", ev])
        for t, e in s["tracers"].items():
            rows.append([w, t, f"{e['ops_per_cpu_s']:,.0f}", fmt(e["cpu_ns_per_op"], ".0f"),
                         f"{e['slowdown']:.2f}x", f"{e['slowdown_min']:.2f}-{e['slowdown_max']:.2f}",
                         fmt(e["added_ns_per_event"], ".0f"), fmt(e["slowdown_wall"], ".2f") + "x",
                         fmt(e["added_ns_per_event_wall"], ".0f"), ""])
    out.append(table(rows, ["workload", "config", "ops/cpu-s", "ns/op", "slowdown", "range", "+ns/event",
                            "wall", "+ns/ev wall", "events/op (allocs+frees)"]))
    if any(w in SERVERS for w in res["tracing"]):
        out.append("redis, nginx: an op is one request (redis: a SET or a GET); ns/op = server + client CPU time "
                   "per request; events/op from bench/count.bt's counts of the pinned CPU")
    for w, s in res["tracing"].items():
        h = (s.get("tracers", {}).get("kleak-hunt") or {}).get("hunt")
        if h:
            out.append(f"{w}: redis as above while kleak-planter leaks a 60 KB pipe every {LEAK_EVERY_MS} ms "
                       f"on another CPU; kleak-hunt = kleak hunt --watch {HUNT_WATCH}, measured while it traces "
                       f"(growing: {', '.join(h['growing']) or 'none'}; attached: {', '.join(h['attached']) or 'none'}; "
                       f"it ran `{h['command_line']}`)")
    rows = [[w, t, str(e["sample_every"]), f"1 in {e['sample_achieved_one_in']:,.1f}"]
            for w, s in res["tracing"].items() for t, e in s.get("tracers", {}).items()
            if e.get("sample_achieved_one_in")]
    if rows:
        out.append("")
        out.append("sampling (kleak's sample_achieved: allocations seen per allocation kept, median over the runs):")
        out.append(table(rows, ["workload", "config", "--sample", "achieved"]))
    rows = []
    for w, s in res["tracing"].items():
        for t, e in s.get("tracers", {}).items():
            u = e.get("stack_reuse")
            if u:
                rows.append([w, t, str(u["max_run"]), f"{100 * u['walked_share']:.2f}%",
                             f"{100 * u['changed_share_of_checks']:.2f}%", f"{100 * u['suspect_share_of_reused']:.3f}%"])
    if rows:
        out.append("")
        out.append("stack reuse (kleak's own counters, medians over the runs): walked = stack walks per tracked "
                   "allocation; changed = checks (walks at a site with a cached stack) that found another stack; "
                   "suspect = reused allocations in runs that ended in a change, an upper bound of those shown "
                   "under a sibling stack of their own call site")
        out.append(table(rows, ["workload", "config", "--stack-reuse", "walked", "changed", "suspect"]))
    prof = res.get("profile") or {}
    if prof.get("bpf_stats"):
        out.append("")
        out.append(f"BPF program run time on the {prof['workload']} loop (kernel.bpf_stats_enabled, all CPUs; "
                   "the stats add ~20-40 ns per run):")
        rows = []
        for s in prof["bpf_stats"]:
            a, f = s["alloc_programs"], s["free_programs"]
            rows.append([s["config"], f"{a['run_cnt']:,}", fmt(a["avg_ns"], ".0f"), f"{f['run_cnt']:,}",
                         fmt(f["avg_ns"], ".0f"), fmt(s["avg_ns_per_run"], ".0f")])
        out.append(table(rows, ["config", "alloc runs", "ns/alloc", "free runs", "ns/free", "ns/run"]))
    if prof.get("perf"):
        out.append("")
        out.append(f"where the {prof['workload']} loop's CPU time goes (perf cpu-clock samples of the loop, "
                   "CPU ns per op):")
        rows = []
        for p in prof["perf"]:
            rows.append([p["config"], fmt(p["cpu_ns_per_op"], ".0f")] +
                        [f"{p['ns_per_op_by_category'][c]:.0f} ({100 * p['share'][c]:.0f}%)" for c in CATEGORIES])
        out.append(table(rows, ["config", "ns/op", "stack walk", "BPF prog", "tp dispatch", "kernel", "user"]))
        for p in prof["perf"]:
            if p["config"].startswith("kleak") and p["top_tracer_leaf_symbols"]:
                out.append(f"{p['config']}: top symbols in the tracer's share (% of the loop's samples): " +
                           ", ".join(f"{x['symbol']} {100 * x['share_of_samples']:.1f}%"
                                     for x in p["top_tracer_leaf_symbols"][:8]))
    elif prof.get("perf_skipped"):
        out.append(f"perf profile skipped: {prof['perf_skipped']}")
    us = res.get("userspace")
    if us:
        a = us["aggregate"]
        out.append("")
        out.append(f"userspace, {a['records']:,} outstanding allocations over {a['stacks']:,} stacks of "
                   f"{a['depth']} frames (kallsyms {a['kallsyms_symbols']:,} symbols):")
        rows = [["aggregate + symbolize", f"{a['aggregate_s']:.3f} s", ""],
                ["render text + json", f"{a['render_text_s'] + a['render_json_s']:.4f} s", ""],
                [f"total, CPU time (median of {a['reps']})", f"{a['total_cpu_s']:.3f} s",
                 f"target < {TARGET_USERSPACE_S} s"],
                ["total, wall clock", f"{a['total_s']:.3f} s", ""],
                ["peak RSS (whole process)", f"{a['peak_rss_kb'] * 1024 / 1e6:.0f} MB",
                 f"target < {TARGET_USERSPACE_RSS_MB:.0f} MB"],
                ["  of which the input records", f"{a['input_bytes'] / 1e6:.0f} MB", ""],
                ["  added by aggregate + render", f"{a['peak_over_input_kb'] * 1024 / 1e6:.0f} MB", ""],
                ["kallsyms load", f"{a['kallsyms_load_s']:.3f} s", ""]]
        d = us.get("drain", {})
        if "drain_s" in d:
            what = "drain" if d.get("mode", "drain") == "drain" else "drain + report"
            rows.append([f"{what} of {d['records_drained']:,} records (real map)",
                         f"{d['drain_cpu_s']:.3f} s CPU, {d['drain_s']:.3f} s wall",
                         f"+{d['peak_over_before_kb'] * 1024 / 1e6:.0f} MB RSS"])
        elif d.get("error"):
            rows.append(["drain of a real map", "failed", d["error"][:60]])
        out.append(table(rows, ["step", "value", ""]))
        top = (res.get("profile") or {}).get("userspace_aggregate_top_symbols")
        if top:
            out.append("kleak-bench-agg profile (self time, whole process): " +
                       ", ".join(f"{x['symbol']} {100 * x['share']:.0f}%" for x in top[:6]))
    sc = res.get("tracer_self_cost")
    if sc:
        out.append("")
        out.append(f"kleak trace's own cost over {sc['seconds']:.0f} s of the {sc['workload']} loop:")
        rows = [["CPU during the window",
                 f"{fmt(sc['window_cpu_s'])} s ({fmt(sc['window_cpu_pct_of_one_cpu'], '.1f')}% of one CPU)"],
                ["VmHWM during the window", f"{sc['vmhwm_during_window_kb'] / 1024:.1f} MiB"],
                ["peak RSS incl. final report", f"{sc['max_rss_incl_final_report_kb'] / 1024:.1f} MiB"],
                ["final report (SIGINT to exit)", f"{sc['final_report_s']:.2f} s"],
                ["attach", f"{sc['attach_s']:.2f} s"]]
        if sc.get("events") and sc.get("duration_s"):
            ev = sc["events"]
            rows.append(["events seen (all CPUs)",
                         f"{(ev['allocs_seen'] + ev['frees_seen']) / sc['duration_s']:,.0f}/s"])
        out.append(table(rows, ["what", "value"]))
    out.append("")
    out.append("targets:")
    rows = [[t["target"], t["measured"], t["verdict"]] for t in res["targets"]]
    out.append(table(rows, ["target", "measured", "verdict"]))
    for n in res.get("notes", []):
        out.append("note: " + n)
    return "\n".join(out)


def targets(res):
    """The issue's targets, each a ratio to the count-only bpftrace row of the same run (the floor:
    a BPF program on every allocation and free that only counts), except the absolute ones."""
    t = []

    def verdict(ok, over):
        return "met" if ok else f"MISSED ({over})"

    for w, s in res["tracing"].items():
        tr = s.get("tracers", {})
        k, ks, c = tr.get("kleak"), tr.get("kleak-sample"), tr.get("bpftrace-count")
        if w in LOOPS and k and c and k.get("added_ns_per_event") and c.get("added_ns_per_event"):
            r = k["added_ns_per_event"] / c["added_ns_per_event"]
            t.append({"target": f"{w}: kleak +ns/event <= {TARGET_NS_VS_COUNT}x count-only's",
                      "measured": f"{k['added_ns_per_event']:.0f} / {c['added_ns_per_event']:.0f} ns = {r:.2f}x",
                      "verdict": verdict(r <= TARGET_NS_VS_COUNT, f"{r / TARGET_NS_VS_COUNT:.2f}x the target")})
        if w in SERVERS and k and c:
            d = k["slowdown"] - c["slowdown"]
            t.append({"target": f"{w}: kleak slowdown <= count-only's + {TARGET_SLOWDOWN_VS_COUNT}",
                      "measured": f"{k['slowdown']:.2f}x vs {c['slowdown']:.2f}x ({d:+.2f})",
                      "verdict": verdict(d <= TARGET_SLOWDOWN_VS_COUNT, f"by {d - TARGET_SLOWDOWN_VS_COUNT:.2f}")})
        kh = tr.get("kleak-hunt")
        if k and kh:
            t.append({"target": f"{w}: kleak hunt while it traces costs less than kleak trace",
                      "measured": f"{kh['slowdown']:.2f}x vs {k['slowdown']:.2f}x",
                      "verdict": verdict(kh["slowdown"] < k["slowdown"], f"{kh['slowdown'] - k['slowdown']:+.2f}")})
        if w in SERVERS and ks:
            t.append({"target": f"{w}: kleak --sample {ks.get('sample_every') or res['settings']['sample_every']} "
                                f"slowdown <= {TARGET_SAMPLED_RATIO}x",
                      "measured": f"{ks['slowdown']:.2f}x",
                      "verdict": verdict(ks["slowdown"] <= TARGET_SAMPLED_RATIO,
                                         f"+{100 * (ks['slowdown'] - 1):.0f}% where "
                                         f"+{100 * (TARGET_SAMPLED_RATIO - 1):.0f}% was the target")})
        if ks and ks.get("sample_achieved_one_in"):
            n, got = ks["sample_every"], ks["sample_achieved_one_in"]
            err = n / got - 1  # rate achieved / rate asked - 1
            t.append({"target": f"{w}: --sample {n} keeps 1 in {n} allocations +-{100 * TARGET_SAMPLE_RATE_ERR:.0f}%",
                      "measured": f"1 in {got:,.1f} ({100 * err:+.0f}%)",
                      "verdict": verdict(abs(err) <= TARGET_SAMPLE_RATE_ERR, f"{100 * err:+.0f}%")})
    prof = res.get("profile") or {}
    for st in prof.get("bpf_stats", []):
        if st["config"] != "kleak":
            continue
        a, f = st["alloc_programs"]["avg_ns"], st["free_programs"]["avg_ns"]
        if a is not None:
            t.append({"target": f"{prof['workload']}: allocation programs <= {TARGET_ALLOC_NS:.0f} ns per run (bpf_stats)",
                      "measured": f"{a:.0f} ns", "verdict": verdict(a <= TARGET_ALLOC_NS, f"{a / TARGET_ALLOC_NS:.2f}x")})
        if f is not None:
            t.append({"target": f"{prof['workload']}: free programs <= {TARGET_FREE_NS:.0f} ns per run, averaged",
                      "measured": f"{f:.0f} ns", "verdict": verdict(f <= TARGET_FREE_NS, f"{f / TARGET_FREE_NS:.2f}x")})
    us = res.get("userspace")
    if us:
        a = us["aggregate"]
        v = a["total_cpu_s"]
        t.append({"target": f"{a['records'] / 1e6:g}M allocations / {a['stacks'] / 1e3:g}k stacks aggregated+rendered "
                            f"< {TARGET_USERSPACE_S} s (CPU)",
                  "measured": f"{v:.3f} s",
                  "verdict": verdict(v < TARGET_USERSPACE_S, f"{v / TARGET_USERSPACE_S:.2f}x")})
        mb = a["peak_rss_kb"] * 1024 / 1e6  # MB = 10^6 bytes
        t.append({"target": f"... in < {TARGET_USERSPACE_RSS_MB:.0f} MB RSS", "measured": f"{mb:.0f} MB",
                  "verdict": verdict(mb < TARGET_USERSPACE_RSS_MB, f"{mb / TARGET_USERSPACE_RSS_MB:.2f}x")})
    return t


# ---- main -----------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="pipe loop only, 1 s runs, kleak's configurations only in the profile, "
                         "10 s self-cost run (~2 min)")
    ap.add_argument("--rounds", type=int, help="A/B rounds (default 5)")
    ap.add_argument("--seconds", type=float, help="seconds per loop run (default 2; quick 1)")
    ap.add_argument("--workloads", help="comma list of " + ",".join(WORKLOADS) + " (default all; quick pipe)")
    ap.add_argument("--tracers", default=",".join(TRACERS), help="comma list of " + ",".join(TRACERS))
    ap.add_argument("--sample-every", type=int, default=100, help="N of kleak-sample's --sample N (default 100)")
    ap.add_argument("--cpu", type=int, help="CPU the loops are pinned to (default: the last one)")
    ap.add_argument("--self-cost-seconds", type=float, help="kleak's own cost run (default 60; quick 10)")
    ap.add_argument("--records", type=int, default=1_000_000, help="outstanding allocations for part 2")
    ap.add_argument("--quiet-wait", type=float, default=120,
                    help="seconds to wait for someone else's tracing BPF programs to go away before a run")
    ap.add_argument("--idle-wait", type=float, default=None,
                    help="total seconds the whole run may wait for the pinned CPU to be idle before "
                         "runs (default 120; quick 20)")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: tracing,profile,userspace,selfcost")
    ap.add_argument("--out", help="results file (default bench/results.json; quick: build/bench/results-quick.json)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: must run as root")
    args.rounds = args.rounds or 5
    args.seconds = args.seconds or (1.0 if args.quick else 2.0)
    args.workloads = (args.workloads or ("pipe" if args.quick else ",".join(WORKLOADS))).split(",")
    args.tracers = [t for t in args.tracers.split(",") if t]
    for t in args.tracers:
        if t not in TRACERS:
            sys.exit(f"bench: unknown tracer {t}")
    for w in args.workloads:
        if w not in WORKLOADS:
            sys.exit(f"bench: unknown workload {w}")
    args.cpu = args.cpu if args.cpu is not None else (os.cpu_count() or 1) - 1
    args.self_cost_seconds = args.self_cost_seconds or (10.0 if args.quick else 60.0)
    args.agg_reps = 3 if args.quick else 5
    SAMPLE_EVERY["n"] = args.sample_every
    IDLE_BUDGET["left"] = args.idle_wait if args.idle_wait is not None else (20.0 if args.quick else 120.0)
    skip = set(s for s in args.skip.split(",") if s)
    out_path = args.out or (os.path.join(BUILD, "bench", "results-quick.json") if args.quick
                            else os.path.join(ROOT, "bench", "results.json"))
    for exe in (KLEAK, WL, AGG, BTRACER, PLANTER):
        if not os.access(exe, os.X_OK):
            sys.exit(f"bench: {exe} is missing: run tools/bench.sh (it builds everything)")

    t_start = time.time()
    res = {"schema": 1, "mode": "quick" if args.quick else "full",
           "command": "tools/bench.sh" + (" --quick" if args.quick else ""),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine(),
           "settings": {"cpu": args.cpu, "seconds": args.seconds, "rounds": args.rounds,
                        "sample_every": args.sample_every,
                        "workloads": args.workloads, "tracers": args.tracers,
                        "kleak_args": "trace --duration 1h --format json (defaults otherwise)",
                        "bpftrace_env": {"BPFTRACE_MAP_KEYS_MAX": 262144}},
           "notes": []}
    waited, foreign = wait_quiet(0)
    if foreign:
        log(f"someone else's tracing BPF programs are loaded ({', '.join(foreign)}): each run waits "
            f"up to {args.quiet_wait:.0f} s for them to go")
    with tempfile.TemporaryDirectory(prefix="kleak-bench-") as tmp:
        runs = []
        if "tracing" not in skip:
            runs = tracing_cost(args, tmp)
            res["tracing"] = summarize(runs, args)
            res["heaviest_workload"] = heaviest(res["tracing"])
        else:
            res["tracing"] = {}
        hw = res.get("heaviest_workload") or next((w for w in args.workloads if w in LOOPS), "pipe")
        failed = [r for r in runs if r.get("invalid")]
        if failed:
            res["notes"].append(f"{len(failed)} runs failed or were left out of the medians: see runs[].invalid")
        contended = [r for r in runs if r.get("cpu_share", 1) < 0.9]
        if contended:
            res["notes"].append(f"{len(contended)} of {len(runs)} runs shared the pinned CPU with another "
                                "task (loop CPU time < 90% of wall time); see runs[].cpu_share and the "
                                "cpu-time slowdown, which does not count time taken by other tasks")
        foreign_runs = [r for r in runs if r.get("foreign_tracing_progs")]
        busy_before = [r for r in runs if r.get("pinned_cpu_busy_before", 0) > 0.15]
        if busy_before:
            res["notes"].append(f"{len(busy_before)} of {len(runs)} runs started while the pinned CPU was "
                                "more than 15% busy with other tasks (the idle-wait budget was spent)")
        if foreign_runs:
            res["notes"].append(f"{len(foreign_runs)} runs had someone else's tracing BPF programs loaded")

        if "profile" not in skip:
            prof = {"workload": hw, "bpf_stats": [], "perf": []}
            log(f"profile: bpf_stats on the {hw} loop")
            # --quick profiles kleak's own configurations only.
            prof_tracers = [t for t in args.tracers if not args.quick or t.startswith("kleak")]
            for c in prof_tracers:
                prof["bpf_stats"].append(bpf_stats_run(hw, c, args.seconds, args.cpu, tmp, args.quiet_wait))
            ok, why = perf_works()
            if ok:
                log(f"profile: perf on the {hw} loop")
                for c in ["bare"] + prof_tracers:
                    prof["perf"].append(perf_run(hw, c, args.seconds, args.cpu, tmp, args.quiet_wait))
                if not args.quick:
                    flat = perf_flat([AGG, "--records", str(args.records), "--reps", "3"], tmp, "agg")
                    if flat:
                        prof["userspace_aggregate_top_symbols"] = flat
            else:
                prof["perf_skipped"] = why
            res["profile"] = prof
        if "userspace" not in skip:
            res["userspace"] = userspace_cost(args, tmp)
        if "selfcost" not in skip:
            log(f"kleak's own cost: {args.self_cost_seconds:.0f} s of the {hw} loop")
            res["tracer_self_cost"] = tracer_self_cost(hw, args.self_cost_seconds, args.cpu, tmp, args.quiet_wait)
        res["targets"] = targets(res)
        res["runs"] = runs
    res["machine"]["loadavg_at_end"] = read("/proc/loadavg").split()[:3]
    res["wall_time_s"] = round(time.time() - t_start, 1)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1, sort_keys=False)
        f.write("\n")
    print(render(res))
    print(f"\nresults: {os.path.relpath(out_path, ROOT)} ({res['wall_time_s']:.0f} s)")


if __name__ == "__main__":
    main()
