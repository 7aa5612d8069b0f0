#!/usr/bin/env bash
# Installs what is missing, builds, and runs `kleak trace` on this box (as root).
# Extra arguments go to `kleak trace`, e.g. tools/run.sh --duration 10m --top 20
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" "$here/tools/install-deps.sh"
"$here/tools/build.sh" -DKLEAK_BUILD_TESTS=OFF  # the tests' dependencies are not installed
[ $# -gt 0 ] || set -- --duration 60s
exec "${sudo_cmd[@]}" "$here/build/kleak" trace "$@"
