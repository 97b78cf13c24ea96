#!/usr/bin/env bash
# The main job: installs missing packages, builds attncheck, runs the default
# fuzz campaign over every registered implementation (ending in the summary
# table), writes its results file and the HTML report, and prints the
# report's path last. Extra arguments go to `attncheck fuzz` (e.g. --cases
# 500). Exits with the campaign's status (1 when a property failed), after
# the report is written either way.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/deps.sh

cmake --preset default >/dev/null
cmake --build --preset default -j "$(nproc 2>/dev/null || echo 2)" --target attncheck

# The results file: the one given with --results, else
# attncheck-results/fuzz-seed-S.h5 for the seed given (default 1).
results=""
seed=1
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --results) results=${args[$((i + 1))]:-} ;;
    --results=*) results=${args[$i]#--results=} ;;
    --seed) seed=${args[$((i + 1))]:-1} ;;
    --seed=*) seed=${args[$i]#--seed=} ;;
  esac
done
extra=()
if [ -z "$results" ]; then
  results="attncheck-results/fuzz-seed-${seed}.h5"
  extra=(--results "$results")
fi

set +e
build/default/bin/attncheck fuzz "$@" "${extra[@]}"
status=$?
set -e
if [ ! -f "$results" ]; then
  echo "attncheck: no results file $results; no report" >&2
  exit $((status == 0 ? 2 : status))
fi
if ! build/default/bin/attncheck report "$results" -o "${results%.h5}-report"; then
  exit $((status == 0 ? 2 : status))
fi
exit "$status"
