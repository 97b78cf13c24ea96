#!/usr/bin/env bash
# Interrupting a fuzz run keeps what it found: SIGINT midway must end the run
# with exit 130 after writing a readable results file whose rows hold the
# cases run so far (marked interrupted). Also: `--repeat N` runs P10 only,
# with N runs per case, and again under simt's random fiber schedule.
set -uo pipefail
attncheck=$1
python=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

"$attncheck" fuzz --impl reference-f32,flash --cases 1000000 --no-progress \
  --results "$work/r.h5" --save-dir "$work/cex" > "$work/out.txt" 2> "$work/err.txt" &
pid=$!
sleep 4
kill -INT "$pid"
wait "$pid"
rc=$?
if [ "$rc" -ne 130 ]; then
  echo "FAIL: interrupted fuzz exited $rc, expected 130"; cat "$work/out.txt" "$work/err.txt"; fail=1
fi
grep -q "(interrupted)" "$work/out.txt" || { echo "FAIL: summary does not say interrupted"; fail=1; }
"$python" - "$work/r.h5" <<'PY' || fail=1
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    c = f["campaign"]
    assert c.attrs["interrupted"] == 1, "results file not marked interrupted"
    total = int(c.attrs["total_cases"])
    assert total > 0, "no case kept"
    rows = [c["rows"][k] for k in sorted(c["rows"])]
    assert sum(int(r.attrs["cases"]) for r in rows) == total, "rows disagree with the total"
    print(f"interrupted run kept {total} cases in {len(rows)} rows")
PY

out=$("$attncheck" fuzz --impl flash,reference-f32 --repeat 3 --cases 6 --no-progress \
      --results "$work/rep.h5" 2>&1)
rc=$?
echo "$out" | grep -E "^(flash|reference)" 
if [ "$rc" -ne 0 ]; then echo "FAIL: --repeat exited $rc"; echo "$out"; fail=1; fi
[ "$(echo "$out" | grep -cE "^(flash|reference-f32) .* P10 +determinism")" -eq 3 ] || { echo "FAIL: expected 3 P10 rows (2 + flash random)"; fail=1; }
echo "$out" | grep -q "P10 with 3 runs per case" || { echo "FAIL: --repeat not announced"; fail=1; }
"$python" - "$work/rep.h5" <<'PY' || fail=1
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert f["campaign"].attrs["repeat"] == 3
PY
if "$attncheck" fuzz --repeat 1 --cases 1 --no-progress > /dev/null 2>&1; then
  echo "FAIL: --repeat 1 accepted"; fail=1
fi
exit $fail
