"""Real servers for tools/bench.sh: redis and nginx on loopback, server and client pinned to the
same CPU as the loops are, started from a throwaway config in the bench's temporary directory
for every run and stopped after it (so every run starts from the same state, and the tracer
never sees one run's leftovers in the next).

  redis  redis-server (no persistence) loaded by redis-benchmark SET + GET, 50 clients
  nginx  nginx, one process (master_process off), serving a 4 KiB file to wrk, 32 connections

A request is one SET or GET (redis) or one HTTP response (nginx). CPU time per request is the
server's and the client's CPU time (utime + stime, all threads) over the client's run divided by
the requests: with both pinned to one CPU that is the CPU they took, and, as for the loops, time
taken by other tasks landing on that CPU does not count while the BPF programs (run in the
context of the task that allocates, softirqs included: this kernel has no IRQ_TIME_ACCOUNTING)
do. Events per request come from bench/count.bt's per-CPU counts of the same run.
"""
import os
import re
import signal
import socket
import subprocess
import time

SERVERS = ["redis", "nginx"]
REDIS_CLIENTS = 50
NGINX_CONNECTIONS = 32
NGINX_FILE_BYTES = 4096
CLK_TCK = os.sysconf("SC_CLK_TCK")


def server_kind(workload):
    """The server a workload loads ("redis-leak" is redis with a leak planted beside it), or None."""
    kind = workload.split("-")[0]
    return kind if kind in SERVERS else None


def _cpu_s(pid):
    """utime + stime of a live process (all its threads), seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, proc, timeout=15):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on 127.0.0.1:{port} within {timeout} s")


def _client(argv, cpu):
    """Runs a client pinned to `cpu`; returns (stdout, wall s). Its CPU time is the caller's
    os.times() children delta: the client is reaped here."""
    t0 = time.time()
    p = subprocess.Popen(["taskset", "-c", str(cpu)] + argv, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    out, err = p.communicate()
    wall = time.time() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({p.returncode}): {err.strip()[-300:]}")
    return out, wall


class Server:
    """One server process, pinned, on a free loopback port, in `tmp`; stop() kills it."""

    def __init__(self, kind, cpu, tmp):
        self.kind, self.cpu = kind, cpu
        self.dir = os.path.join(tmp, f"srv-{kind}")
        os.makedirs(self.dir, exist_ok=True)
        self.port = _free_port()
        self.proc = None

    def _argv(self):
        d = self.dir
        if self.kind == "redis":
            conf = os.path.join(d, "redis.conf")
            with open(conf, "w") as f:
                f.write(f"port {self.port}\nbind 127.0.0.1\ndaemonize no\nsave \"\"\nappendonly no\n"
                        f"dir {d}\nlogfile {d}/redis.log\nio-threads 1\n")
            return ["redis-server", conf]
        www = os.path.join(d, "www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "4k"), "wb") as f:
            f.write(b"x" * NGINX_FILE_BYTES)
        temps = "".join(f"  {m}_temp_path {d}/{m};\n"
                        for m in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n"
                    f"error_log {d}/error.log warn;\nevents {{ worker_connections 1024; }}\n"
                    f"http {{\n  access_log off;\n{temps}"
                    f"  server {{ listen 127.0.0.1:{self.port}; root {www}; }}\n}}\n")
        return ["nginx", "-p", d, "-e", f"{d}/error.log", "-c", conf]

    def start(self):
        argv = ["taskset", "-c", str(self.cpu)] + self._argv()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "stderr"), "w"))
        _wait_port(self.port, self.proc)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def load(self, seconds, redis_requests):
        """Loads the server for about `seconds`; returns the run record the loops also return."""
        before = _cpu_s(self.proc.pid)
        ru0 = os.times()
        if self.kind == "redis":
            out, wall = _client(["redis-benchmark", "-h", "127.0.0.1", "-p", str(self.port),
                                 "-c", str(REDIS_CLIENTS), "-n", str(redis_requests), "-t", "set,get",
                                 "--csv"], self.cpu)
            tests = re.findall(r'^"(SET|GET)","([\d.]+)"', out, re.M)
            if len(tests) != 2:
                raise RuntimeError(f"redis-benchmark printed no SET/GET rates: {out[-300:]}")
            ops = 2 * redis_requests
        else:
            out, wall = _client(["wrk", "-t1", f"-c{NGINX_CONNECTIONS}", f"-d{seconds:g}s",
                                 f"http://127.0.0.1:{self.port}/4k"], self.cpu)
            m = re.search(r"^\s*(\d+) requests in", out, re.M)
            errs = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
            if not m:
                raise RuntimeError(f"wrk printed no request count: {out[-300:]}")
            if errs:
                raise RuntimeError(f"wrk saw errors: {errs.group(0)}")
            ops = int(m.group(1))
        ru1 = os.times()
        after = _cpu_s(self.proc.pid)
        client_cpu = (ru1.children_user - ru0.children_user) + (ru1.children_system - ru0.children_system)
        cpu = (after - before) + client_cpu
        return {"ops": ops, "warmup_ops": 0, "elapsed_ns": int(wall * 1e9), "cpu_ns": int(cpu * 1e9),
                "ns_per_op": wall * 1e9 / ops, "cpu_ns_per_op": cpu * 1e9 / ops,
                "cpu_share": cpu / wall, "server_cpu_s": round(after - before, 3),
                "client_cpu_s": round(client_cpu, 3)}


def calibrate_redis(cpu, tmp, seconds):
    """redis-benchmark runs a request count, not a duration: the count that takes `seconds` bare."""
    s = Server("redis", cpu, tmp).start()
    try:
        r = s.load(1.0, 20000)
    finally:
        s.stop()
    rate = r["ops"] / (r["elapsed_ns"] / 1e9)
    return max(10000, int(rate * seconds / 2))
