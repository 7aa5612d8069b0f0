#!/usr/bin/env bash
# Configures and builds kleak into build/ (Release with debug info). Used by run.sh and test.sh.
# Arguments go to CMake's configure step (run.sh: -DKLEAK_BUILD_TESTS=OFF).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKLEAK_BUILD_TESTS=ON "$@" >/dev/null
cmake --build "$here/build" -j"$(nproc)"
