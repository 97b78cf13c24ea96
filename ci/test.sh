#!/usr/bin/env bash
# The test command: installs missing packages, builds the default (release)
# and the AddressSanitizer+UndefinedBehaviorSanitizer presets, runs every test
# of both, and prints ctest's summary. Fails on any failed test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
status=0
# Wall-clock seconds of each phase, printed at the end.
phases=()
phase_start=$SECONDS
phase_done() {
  phases+=("$(printf '%-28s %5d s' "$1" $((SECONDS - phase_start)))")
  phase_start=$SECONDS
}
for preset in default asan; do
  echo "== attncheck tests: preset ${preset}"
  cmake --preset "${preset}" >/dev/null
  cmake --build --preset "${preset}" -j "${jobs}"
  phase_done "build ${preset}"
  ctest --preset "${preset}" -j "${jobs}" || status=1
  phase_done "tests ${preset}"
done
# libFuzzer targets (clang, the fuzz preset): 60 s each from the seed corpora.
bash ci/libfuzz.sh || status=1
phase_done "libFuzzer (build + runs)"
# The bug zoo: every BUGZOO.md mutant must be killed by the properties
# (properties/zoo; README "Bug zoo"). Full zoo and generic pass: ci/zoo.sh.
bash ci/zoo.sh --ci || status=1
phase_done "zoo"
echo "== attncheck tests: phases (wall clock)"
printf '  %s\n' "${phases[@]}"
echo "  total                        $(printf '%5d' "$SECONDS") s, exit ${status}"
exit ${status}
