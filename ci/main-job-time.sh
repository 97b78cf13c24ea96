#!/usr/bin/env bash
# The main job's time from a fresh clone: clones this checkout's HEAD into a
# temporary directory, runs ./ci/fuzz.sh there (build of attncheck + the
# default campaign) and prints its wall-clock time.
# Usage: ci/main-job-time.sh [--keep] [fuzz options...]  (e.g. --cases 20)
# --keep leaves the clone in place and prints its path.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
keep=0
if [[ "${1:-}" == "--keep" ]]; then keep=1; shift; fi
work=$(mktemp -d "${TMPDIR:-/tmp}/attncheck-main-job.XXXXXX")
cleanup() { if [[ $keep == 0 ]]; then rm -rf "$work"; else echo "clone kept: $work/attncheck"; fi; }
trap cleanup EXIT
git clone -q "$here" "$work/attncheck"
cd "$work/attncheck"
log="$work/fuzz.log"
SECONDS=0
rc=0
./ci/fuzz.sh --no-progress "$@" >"$log" 2>&1 || rc=$?
wall=$SECONDS
tail -n 3 "$log"
echo "main job from a fresh clone ($(git rev-parse --short HEAD)): ${wall} s wall ($((wall / 60)) min $((wall % 60)) s), exit $rc"
exit "$rc"
