#!/usr/bin/env bash
# The DaemonSet's pod template (deploy/kubernetes/kleak-daemonset.yaml), run by a real
# Kubernetes-YAML consumer, `podman kube play`, with the manifest's own args, securityContext,
# resources and mounts: kleak serves HTTPS with basic auth from the web config the Secret holds,
# the kubelet's probes (played here with curl, as the kubelet sends them) answer 200, plain HTTP
# and unauthenticated scrapes do not get the data, and SIGTERM ends the window with exit 0.
#   daemonset_test.sh STATIC_KLEAK SOURCE_DIR
#
# What podman 4.3.1 (Debian 12) does not do as the kubelet does, and what this test does instead
# (each said in the output):
# - it plays Pods, not DaemonSets, and ignores hostPID (container_test.sh covers --pid host);
# - it reads no securityContext.seccompProfile, only the older pod annotation: the test writes the
#   manifest's Localhost profile into that annotation, with deploy/container/seccomp.json as the
#   profile the manifest names;
# - it writes a Secret volume's files base64-encoded (its own e2e test expects `dXNlcg==` in
#   /etc/foo/username: test/e2e/play_kube_test.go at v4.3.1) and panics on one without
#   `optional:`: the test mounts a directory holding the Secret's decoded keys, as the kubelet does;
# - it turns an httpGet liveness probe into `/bin/sh -c curl` run inside the container, and the
#   image (FROM scratch) has neither: the kubelet probes from outside, which the test does;
# - restartPolicy Never: a failure shows as an exit, not a restart loop.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  [ -n "${KLEAK_REQUIRE_BPF:-}" ] && { echo "FAIL: needs root and KLEAK_REQUIRE_BPF is set"; exit 1; }
  echo "skipped: needs root"; exit 77
fi
bin=$1 src=$2
manifest=$src/deploy/kubernetes/kleak-daemonset.yaml
fail() { echo "FAIL: $*"; exit 1; }
# CI must not skip: a box where podman cannot play the pod fails, saying why.
for tool in podman runc curl openssl htpasswd python3; do
  command -v "$tool" >/dev/null || fail "$tool is missing (tools/install-deps.sh): podman kube play cannot be tested here"
done

work=$(mktemp -d)
pod=kleak-daemonset-test-$$
ctr=$pod-kleak
trap 'podman pod rm -f "$pod" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# What the manifest promises, read from it (python3-yaml).
python3 - "$manifest" >"$work/manifest.sh" <<'PY'
import shlex, sys, yaml
ds = yaml.safe_load(open(sys.argv[1]))
spec = ds["spec"]["template"]["spec"]
c = spec["containers"][0]
args = c["args"]
def arg(flag):
    return args[args.index(flag) + 1] if flag in args else ""
sc = c.get("securityContext", {})
seccomp = sc.get("seccompProfile") or spec.get("securityContext", {}).get("seccompProfile") or {}
web = arg("--web.config.file") or arg("--web-config")
mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
vols = {v["name"]: v for v in spec.get("volumes", [])}
secret_mount = next((p for p, n in mounts.items() if "secret" in vols.get(n, {})), "")
out = {
    "image": c["image"], "serve": arg("--serve"), "max_cpu": arg("--max-cpu"), "web": web,
    "host_network": str(spec.get("hostNetwork", False)).lower(),
    "seccomp_type": seccomp.get("type", ""), "seccomp_profile": seccomp.get("localhostProfile", ""),
    "secret_mount": secret_mount,
    "secret_name": vols[mounts[secret_mount]]["secret"]["secretName"] if secret_mount else "",
    "memory_limit": c.get("resources", {}).get("limits", {}).get("memory", ""),
    "memory_request": c.get("resources", {}).get("requests", {}).get("memory", ""),
    "cpu_request": c.get("resources", {}).get("requests", {}).get("cpu", ""),
    "probes": " ".join(p for p in ("startupProbe", "livenessProbe", "readinessProbe") if p in c),
}
for k, v in out.items():
    print(f"m_{k}={shlex.quote(v)}")
PY
. "$work/manifest.sh"
echo "manifest: --serve $m_serve --max-cpu $m_max_cpu --web.config.file $m_web; seccomp $m_seccomp_type $m_seccomp_profile; requests cpu $m_cpu_request memory $m_memory_request, limit memory $m_memory_limit; $m_probes"
[ "$m_host_network" = false ] || fail "hostNetwork: 0.0.0.0 would be every address of the node"
[ -n "$m_web" ] || fail "--serve without --web.config.file: plain HTTP on the pod IP"
[ "${m_web%/*}" = "$m_secret_mount" ] || fail "the web config $m_web is not in the Secret mounted at '$m_secret_mount'"
[ "$m_seccomp_type" = Localhost ] && [ -n "$m_seccomp_profile" ] || fail "no Localhost seccompProfile"
[ "$m_max_cpu" = 5% ] || fail "--max-cpu is '$m_max_cpu', not the 5% budget"
[ -n "$m_memory_limit" ] && [ -n "$m_memory_request" ] && [ -n "$m_cpu_request" ] || fail "requests or limits missing"
[ "$m_probes" = "startupProbe livenessProbe readinessProbe" ] || fail "probes: $m_probes"

"$src/deploy/container/build.sh" "$bin" "$m_image" >/dev/null

# The Secret, as docs/operations.md makes it: a certificate (the name Prometheus checks, `kleak`;
# the pod IP is not known beforehand), a bcrypt hash and the web config naming both.
mkdir "$work/web" "$work/seccomp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=kleak \
  -addext subjectAltName=DNS:kleak -keyout "$work/web/tls.key" -out "$work/web/tls.crt" 2>/dev/null
password=pw-$$-$RANDOM
hash=$(htpasswd -nbBC 10 prometheus "$password" | cut -d: -f2)
cat >"$work/web/web-config.yml" <<EOF
tls_server_config:
  cert_file: $m_secret_mount/tls.crt
  key_file: $m_secret_mount/tls.key
basic_auth_users:
  prometheus: $hash
EOF
cp "$src/deploy/container/seccomp.json" "$work/seccomp/$m_seccomp_profile"

echo "podman 4.3 stand-ins: seccompProfile -> the seccomp annotation; Secret $m_secret_name -> a directory of its decoded keys; probes -> curl from outside; restartPolicy Never"
python3 - "$manifest" "$pod" "$work/web" >"$work/pod.yaml" <<'PY'
import sys, yaml
ds = yaml.safe_load(open(sys.argv[1]))
tmpl = ds["spec"]["template"]
spec = dict(tmpl["spec"], restartPolicy="Never")
c = spec["containers"][0]
name = c["name"]
profile = c["securityContext"].pop("seccompProfile")["localhostProfile"]
for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
    c.pop(probe, None)
for v in spec["volumes"]:
    if "secret" in v:
        del v["secret"]
        v["hostPath"] = {"path": sys.argv[3], "type": "Directory"}
meta = {"name": sys.argv[2], "labels": tmpl["metadata"]["labels"],
        "annotations": dict(tmpl["metadata"]["annotations"],
                            **{f"container.seccomp.security.alpha.kubernetes.io/{name}": f"localhost/{profile}"})}
yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}, sys.stdout)
PY
# runc/cgroupfs and nofile/nproc 1024: what this VM's podman needs (see container_test.sh).
printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n' >"$work/containers.conf"
# (from $work: kube play builds an image from ./<image name>/ when there is such a directory)
cd "$work"
CONTAINERS_CONF=$work/containers.conf podman --runtime runc --cgroup-manager cgroupfs kube play \
  --seccomp-profile-root "$work/seccomp" "$work/pod.yaml" >"$work/play.out" 2>&1 ||
  fail "podman kube play refused the pod: $(tail -5 "$work/play.out")"
# kleak's stderr so far, in $work/log (read from a file: no pipe for grep -q to break).
logs() { podman logs "$ctr" >"$work/log" 2>&1 || true; }
for _ in $(seq 300); do
  logs
  grep -q '^kleak: serving' "$work/log" && break
  [ "$(podman inspect "$ctr" --format '{{.State.Running}}')" = true ] || fail "kleak in the pod exited: $(head -20 "$work/log")"
  sleep 0.1
done
grep -q '^kleak: serving https://' "$work/log" || fail "kleak does not serve HTTPS: $(head -20 "$work/log")"
! grep -q 'warning: --serve listens beyond' "$work/log" || fail "kleak warns of its exposure: $(head -20 "$work/log")"
ip=$(podman inspect "$ctr" --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}')
[ -n "$ip" ] || ip=$(podman inspect "$(podman pod inspect "$pod" --format '{{.InfraContainerID}}')" \
  --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}')
[ -n "$ip" ] || fail "no pod IP"
echo "pod $pod: IP $ip, $(grep '^kleak: serving' "$work/log")"

# What the container got from the manifest.
caps=$(podman inspect "$ctr" --format '{{range .EffectiveCaps}}{{.}}{{"\n"}}{{end}}' | grep . | sort)
want=$(python3 "$src/tests/package/caps.py" daemonset "$manifest")
[ "$caps" = "$want" ] || fail "the pod's capabilities are {$(echo $caps)}, the manifest's {$(echo $want)}"
[ "$(podman inspect "$ctr" --format '{{.HostConfig.ReadonlyRootfs}}')" = true ] || fail "root is writable"
pid=$(podman inspect "$ctr" --format '{{.State.Pid}}')
[ "$(awk '/^Seccomp:/ { print $2 }' "/proc/$pid/status")" = 2 ] || fail "kleak runs without a seccomp filter"
# The profile in force is the manifest's: bpf() and perf_event_open() allowed without
# CAP_SYS_ADMIN, which podman's default profile on Debian 12 does not allow.
python3 - "$(podman inspect "$ctr" --format '{{.OCIConfigPath}}')" <<'PY' || fail "the seccomp profile in force is not $m_seccomp_profile"
import json, sys
rules = json.load(open(sys.argv[1]))["linux"]["seccomp"]["syscalls"]
allowed = {n for r in rules if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
missing = {"bpf", "perf_event_open"} - allowed
sys.exit(f"seccomp in force does not allow {sorted(missing)}" if missing else 0)
PY
limit=$(python3 -c 'import sys; v = sys.argv[1]; u = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}; print(int(v[:-2]) * u[v[-2:]])' "$m_memory_limit")
[ "$(podman inspect "$ctr" --format '{{.HostConfig.Memory}}')" = "$limit" ] || fail "the memory limit is not $m_memory_limit"

# The kubelet's probes: HTTPS without verifying the certificate (as the kubelet does), no
# credentials, success on 200-399. Each is asked until it passes or its budget is spent.
python3 - "$manifest" >"$work/probes" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]
ports = {p["name"]: p["containerPort"] for p in c.get("ports", []) if "name" in p}
for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
    p = c[kind]
    g = p["httpGet"]
    port = ports[g["port"]] if isinstance(g["port"], str) else g["port"]
    tries = p.get("failureThreshold", 3) * p.get("periodSeconds", 10)
    print(kind, g.get("scheme", "HTTP").lower(), port, g["path"], p.get("timeoutSeconds", 1), tries)
PY
probe() {  # SCHEME PORT PATH TIMEOUT -> "CODE BODY"
  curl -sk -A kube-probe/1.29 --max-time "$4" -o "$work/body" -w '%{http_code}' "$1://$ip:$2$3" || true
  echo " $(tr '\n' ' ' <"$work/body" 2>/dev/null)"
}
while read -r kind scheme port path timeout tries; do
  seen=
  for i in $(seq "$tries"); do
    got=$(probe "$scheme" "$port" "$path" "$timeout")
    [ "${got%% *}" = 200 ] && break
    seen="$seen${seen:+, }$got"
    sleep 1
  done
  [ "${got%% *}" = 200 ] || fail "$kind $scheme://$ip:$port$path never passed in $tries s: $seen"
  echo "$kind: $scheme://$ip:$port$path -> $got${seen:+ (before: $seen)}"
  [ "$got" = "200 ok " ] || fail "$kind's answer says more than ok: $got"
done <"$work/probes"

# The data: HTTPS with the name Prometheus verifies (tls_config.server_name: kleak) and the password.
scrape() { curl -s --max-time 10 --cacert "$work/web/tls.crt" --resolve "kleak:9464:$ip" "$@"; }
code=$(scrape -o /dev/null -w '%{http_code}' https://kleak:9464/metrics || true)
[ "$code" = 401 ] || fail "/metrics without credentials: $code, not 401"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://$ip:9464/metrics" || true)
[ "$code" = 000 ] || fail "plain HTTP got an HTTP answer ($code)"
scrape -u "prometheus:$password" -o "$work/metrics" https://kleak:9464/metrics || fail "no scrape with the password"
grep -q '^kleak_build_info{' "$work/metrics" || fail "the scrape has no kleak_build_info: $(head -c 300 "$work/metrics")"
grep -qx 'kleak_budget_max_cpu_ratio 0.05' "$work/metrics" || fail "the budget in force is not 5%: $(grep budget_max "$work/metrics")"
echo "unauthenticated /metrics: 401; plain HTTP: no answer; with the password: $(wc -l <"$work/metrics") lines, $(grep -E '^(process_resident_memory_bytes|kleak_bpf_maps_bytes) ' "$work/metrics" | tr '\n' ' ')"

# SIGTERM (a pod's deletion) ends the window with its report and exit 0.
podman stop -t 30 "$ctr" >/dev/null
st=$(podman inspect "$ctr" --format '{{.State.ExitCode}}')
logs
[ "$st" = 0 ] || fail "kleak in the pod exited $st on SIGTERM: $(tail -5 "$work/log")"
grep -q 'Terminated received, reporting what was collected' "$work/log" || fail "no report on SIGTERM: $(tail -5 "$work/log")"
echo "pod from the DaemonSet template: probes answered, HTTPS and basic auth from the Secret, SIGTERM -> exit 0"
