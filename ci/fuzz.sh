#!/usr/bin/env bash
# The main job: installs missing packages, builds attncheck, and runs the
# default fuzz campaign over every registered implementation, ending in the
# summary table. Extra arguments go to `attncheck fuzz` (e.g. --cases 500).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/deps.sh

cmake --preset default >/dev/null
cmake --build --preset default -j "$(nproc 2>/dev/null || echo 2)" --target attncheck
exec build/default/bin/attncheck fuzz "$@"
