#!/usr/bin/env bash
# The DaemonSet's pod template (deploy/kubernetes/kleak-daemonset.yaml), run by a real
# Kubernetes-YAML consumer, `podman kube play`, with its own securityContext: the container gets
# exactly the manifest's capabilities, a read-only root and /sys/kernel read-only, and kleak
# traces (a 5 s window, JSON report, exit 0). Podman 4.3 plays Pods, not DaemonSets, and ignores
# hostPID (the image test, container_test.sh, covers --pid host); the seccomp profile is given as
# the pod annotation podman reads (deploy/container/seccomp.json, see the manifest's comment).
#   daemonset_test.sh STATIC_KLEAK SOURCE_DIR
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  [ -n "${KLEAK_REQUIRE_BPF:-}" ] && { echo "FAIL: needs root and KLEAK_REQUIRE_BPF is set"; exit 1; }
  echo "skipped: needs root"; exit 77
fi
bin=$1 src=$2
manifest=$src/deploy/kubernetes/kleak-daemonset.yaml
image=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]["image"])' "$manifest")
"$src/deploy/container/build.sh" "$bin" "$image" >/dev/null
work=$(mktemp -d)
pod=kleak-daemonset-test-$$
trap 'podman pod rm -f "$pod" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
cp "$src/deploy/container/seccomp.json" "$work/kleak.json"
python3 - "$manifest" "$pod" >"$work/pod.yaml" <<'PY'
import sys, yaml
ds = yaml.safe_load(open(sys.argv[1]))
tmpl = ds["spec"]["template"]
spec = dict(tmpl["spec"], restartPolicy="Never")
spec["containers"][0]["args"] = ["trace", "--duration", "5s", "--format", "json", "--top", "5"]
meta = {"name": sys.argv[2], "labels": tmpl["metadata"]["labels"],
        "annotations": dict(tmpl["metadata"]["annotations"],
                            **{"seccomp.security.alpha.kubernetes.io/pod": "localhost/kleak.json"})}
yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}, sys.stdout)
PY
# runc/cgroupfs and nofile/nproc 1024: what this VM's podman needs (see container_test.sh).
printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n' >"$work/containers.conf"
# (from $work: kube play builds an image from ./<image name>/ when there is such a directory)
cd "$work"
CONTAINERS_CONF=$work/containers.conf podman --runtime runc --cgroup-manager cgroupfs kube play \
  --seccomp-profile-root "$work" "$work/pod.yaml" >/dev/null
ctr=$pod-kleak
st=$(timeout 60 podman wait "$ctr")
podman logs "$ctr" >"$work/report.json" 2>"$work/err"
[ "$st" = 0 ] || { echo "FAIL: kleak in the pod exited $st: $(cat "$work/err" "$work/report.json" | head -5)"; exit 1; }
caps=$(podman inspect "$ctr" --format '{{range .EffectiveCaps}}{{.}}{{"\n"}}{{end}}' | grep . | sort)
want=$(python3 "$src/tests/package/caps.py" daemonset "$manifest")
[ "$caps" = "$want" ] || { echo "FAIL: the pod's capabilities are {$(echo $caps)}, the manifest's {$(echo $want)}"; exit 1; }
[ "$(podman inspect "$ctr" --format '{{.HostConfig.ReadonlyRootfs}}')" = true ] || { echo "FAIL: root is writable"; exit 1; }
python3 - "$work/report.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
report = json.loads(text[text.index("{"):])  # podman logs merges stderr's "kleak: tracing" line
assert report["sources"]["kmem:mm_page_alloc"] == "attached", report["sources"]
assert report["stacks"], "no stacks"
print(f"pod from the DaemonSet template: {len(report['stacks'])} stacks, mm_page_alloc attached")
PY
