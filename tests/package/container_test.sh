#!/usr/bin/env bash
# The image (deploy/container) holds the static kleak and its license only; started by
# deploy/container/run.sh, the command the docs give operators (nothing but the DaemonSet's
# capabilities, which tests/package/capabilities_test.sh ties to `kleak doctor`,
# deploy/container/seccomp.json, the host's pid namespace and /sys/kernel read-only), `kleak trace`
# finds pipes planted on the host; with no capability it refuses with one line.
#   container_test.sh STATIC_KLEAK PLANTER SOURCE_DIR
set -euo pipefail
# Root only (chroot, mounts, podman, BPF): skipped (77) elsewhere, a failure under KLEAK_REQUIRE_BPF (CI).
if [ "$(id -u)" -ne 0 ]; then
  [ -n "${KLEAK_REQUIRE_BPF:-}" ] && { echo "FAIL: needs root and KLEAK_REQUIRE_BPF is set"; exit 1; }
  echo "skipped: needs root"; exit 77
fi
bin=$1 planter=$2 src=$3
tag=$("$src/deploy/container/build.sh" "$bin")
work=$(mktemp -d)
planter_pid=
cleanup() { [ -z "$planter_pid" ] || kill "$planter_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# What the image holds: nothing but the binary and the license.
cid=$(podman create "$tag")
podman export "$cid" | tar -t | grep -v '/$' | sort >"$work/files"
podman rm "$cid" >/dev/null
# (podman create adds empty mount points and /etc/{hosts,resolv.conf,hostname}: not image content.)
extra=$(grep -vxE 'usr/bin/kleak|usr/share/doc/kleak/copyright|etc/(hosts|resolv.conf|hostname)|run/.containerenv|dev/.*|proc/.*|sys/.*' "$work/files" || true)
[ -z "$extra" ] || { echo "FAIL: the image holds more than kleak: $extra"; exit 1; }

caps=$(python3 "$src/tests/package/caps.py" daemonset "$src/deploy/kubernetes/kleak-daemonset.yaml" | paste -sd,)
# The wrapper holds the podman flags (runc and cgroupfs: crun refuses this VM's hybrid cgroup
# layout; explicit nofile/nproc limits: podman's defaults exceed what root may raise here, without
# CAP_SYS_RESOURCE; deploy/container/seccomp.json: the default profile lets bpf() through only
# with CAP_SYS_ADMIN), and adds the DaemonSet's capabilities by default.
run=$src/deploy/container/run.sh
wrapper_caps=$(python3 "$src/tests/package/caps.py" wrapper "$run" | paste -sd,)
[ "$wrapper_caps" = "$caps" ] || { echo "FAIL: $run adds {$wrapper_caps}, the DaemonSet {$caps}"; exit 1; }
echo "podman command: $(KLEAK_DRY_RUN=1 KLEAK_IMAGE="$tag" "$run" trace)"

# No capability: a one-line refusal, not a crash or an empty report.
set +e
KLEAK_IMAGE=$tag KLEAK_CAPS=none "$run" trace --duration 1s >"$work/nocap.out" 2>"$work/nocap.err"
st=$?
set -e
if [ $st -eq 0 ] || ! grep -q '^kleak: ' "$work/nocap.err"; then
  echo "FAIL: without capabilities kleak trace exited $st: $(cat "$work/nocap.err")"; exit 1
fi
echo "no capability: exit $st, $(head -1 "$work/nocap.err")"

echo "capabilities: $caps"
# Ready when kleak writes its --ready-fd line (podman --preserve-fds 1 hands fd 3 to the
# container), or failed when it exits first or within 60 s.
KLEAK_IMAGE=$tag "$run" --preserve-fds 1 -- trace --ready-fd 3 --duration 5s --format json --top 1000 \
  >"$work/report.json" 2>"$work/trace.err" 3>"$work/trace.ready" &
trace_pid=$!
for _ in $(seq 600); do
  grep -q '"ready":true' "$work/trace.ready" && break
  kill -0 $trace_pid 2>/dev/null || break
  sleep 0.1
done
grep -q '"ready":true' "$work/trace.ready" || { wait $trace_pid || true; echo "FAIL: kleak in the container did not start tracing: $(cat "$work/trace.err")"; exit 1; }
# Planted on the host while the container traces; holds past the 5 s window.
"$planter" --pipes 300 --fill 60000 --hold 30 >"$work/planted" &
planter_pid=$!
for _ in $(seq 100); do grep -q '^ready' "$work/planted" && break; sleep 0.1; done
grep -q '^ready' "$work/planted" || echo "note: the planter was not ready after 10 s"
st=0; wait $trace_pid || st=$?
# On a failure below, what kleak said (window, events, drops) is the first thing to read.
show_err() { echo "--- kleak stderr:"; tail -n 5 "$work/trace.err"; echo "--- planter: $(head -c 300 "$work/planted")"; }
[ $st -eq 0 ] || { echo "FAIL: kleak trace in the container exited $st: $(cat "$work/trace.err")"; exit 1; }
if python3 - "$work/report.json" "$work/planted" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
ready = dict(kv.split("=", 1) for kv in open(sys.argv[2]).readline().split()[1:] if "=" in kv)
want = int(ready["pipe_page_bytes"])
funcs = ("anon_pipe_write+", "pipe_write+")  # anon_pipe_write since 6.16
got = sum(s["bytes"] for s in report["stacks"]
          if s["kind"] == "page" and s["frames"] and s["frames"][0].startswith(funcs))
print(f"planted {want} bytes of pipe pages on the host; the container's report holds {got}")
if abs(got - want) > 0.10 * want:
    sys.exit("FAIL: the planted pipes are not in the container's report")
PY
then :; else show_err; exit 1; fi
echo "container: kleak in $tag found the leak planted on the host"
