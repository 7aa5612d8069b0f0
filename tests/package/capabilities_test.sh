#!/usr/bin/env bash
# The capability lists shipped in deploy/ (systemd unit, DaemonSet, the container wrapper run.sh)
# are exactly what kleak itself says it needs (`kleak doctor --format json` ->
# capabilities.required), so they cannot drift.
#   capabilities_test.sh KLEAK_BIN SOURCE_DIR
set -euo pipefail
kleak=$1 src=$2
caps="python3 $src/tests/package/caps.py"
want=$($caps doctor "$kleak")
unit=$src/deploy/systemd/kleak.service
fails=0
check() {  # check WHAT LIST
  if [ "$2" = "$want" ]; then echo "ok: $1"; else
    echo "FAIL: $1 is {$(echo $2)}, kleak doctor requires {$(echo $want)}"; fails=$((fails + 1)); fi
}
check "$unit AmbientCapabilities" "$($caps unit "$unit" AmbientCapabilities)"
check "$unit CapabilityBoundingSet" "$($caps unit "$unit" CapabilityBoundingSet)"
check "$src/deploy/kubernetes/kleak-daemonset.yaml" "$($caps daemonset "$src/deploy/kubernetes/kleak-daemonset.yaml")"
check "$src/deploy/container/run.sh" "$($caps wrapper "$src/deploy/container/run.sh")"
[ $fails -eq 0 ]
