#!/usr/bin/env bash
# The report end to end: `attncheck fuzz --results`, `attncheck golden check
# --results` and `attncheck loss` write results files, `attncheck report`
# turns them into pages (exit 0, last line the page's path), and the pages
# pass check_page.py.
# Then the verb's failures: a missing file, a case file, a missing interpreter
# and a missing module are exit 2 with a message saying what to do.
set -euo pipefail
attncheck=$1
python=$2
src=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check="$python $src/reports/tests/check_page.py"

fail() {
  echo "FAIL: $*"
  exit 1
}

# fuzz: an explicit --results file.
"$attncheck" fuzz --impl reference-f32 --cases 5 --results "$work/fuzz.h5" \
  --save-dir "$work/failures" --no-progress >"$work/fuzz.log"
grep -q "^results: $work/fuzz.h5" "$work/fuzz.log" || fail "fuzz did not name its results file"
out=$("$attncheck" report "$work/fuzz.h5" -o "$work/fuzz-report")
last=$(echo "$out" | tail -n 1)
[ "$last" = "report: $work/fuzz-report/index.html" ] || fail "report's last line is '$last'"
$check "$work/fuzz-report" summary,verdicts,ratios,failures,coverage,timings

# fuzz: the default results file, relative to the working directory; report's
# default output directory beside it.
(cd "$work" && "$attncheck" fuzz --impl reference-f32 --property P1 --cases 2 --seed 4 --no-progress >/dev/null)
[ -f "$work/attncheck-results/fuzz-seed-4.h5" ] || fail "no default results file attncheck-results/fuzz-seed-4.h5"
(cd "$work" && "$attncheck" report attncheck-results/fuzz-seed-4.h5 >/dev/null)
[ -f "$work/attncheck-results/fuzz-seed-4-report/index.html" ] || fail "no report in the default directory"

# golden check --results on three committed cases.
mkdir "$work/golden"
for c in $(ls "$src/golden"/*.h5 | head -n 3); do cp "$c" "$work/golden/"; done
"$attncheck" golden check "$work/golden" --results "$work/out/golden.h5" >/dev/null
"$attncheck" report "$work/out/golden.h5" -o "$work/golden-report" >/dev/null
$check "$work/golden-report" summary,golden
"$python" - "$work/out/golden.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["format"] == "attncheck-results", f.attrs["format"]
    g = f["golden"]
    impls, cases = g["implementations"].asstr()[()], g["cases"].asstr()[()]
    assert impls[0] == "reference-f64" and "reference-f32" in impls, impls
    assert len(cases) == 3, cases
    assert g["status"].shape == (len(impls), 3), g["status"].shape
    assert g.attrs["verdict"] == "pass", g.attrs["verdict"]
PY

# attncheck loss writes its own results file (/loss); the report draws it.
"$attncheck" loss --impl reference-f32 --steps 5 -o "$work/loss.h5" >/dev/null
"$attncheck" report "$work/loss.h5" -o "$work/loss-report" >/dev/null
$check "$work/loss-report" summary,loss
grep -q "reference-f32" "$work/loss-report/index.html" || fail "the loss page lacks reference-f32's curve"

# The verb's failures: exit 2 with a message.
expect_usage() {
  local want=$1
  shift
  set +e
  msg=$("$@" 2>&1)
  rc=$?
  set -e
  [ $rc -eq 2 ] || fail "exit $rc (expected 2) from: $*"
  [[ "$msg" == *"$want"* ]] || fail "message of '$*' lacks '$want': $msg"
}
expect_usage "does not exist" "$attncheck" report "$work/none.h5" -o "$work/x"
expect_usage "/@format: is 'attncheck-case'" "$attncheck" report "$work/golden/$(ls "$work/golden" | head -n 1)" -o "$work/x"
expect_usage "Python 3 interpreter not found" "$attncheck" report "$work/fuzz.h5" -o "$work/x" --python "$work/no-python"
mkdir "$work/fake"
echo "raise ImportError('No module named matplotlib')" >"$work/fake/matplotlib.py"
expect_usage "python3-matplotlib" env PYTHONPATH="$work/fake" "$attncheck" report "$work/fuzz.h5" -o "$work/x"
echo "report end to end: fuzz, golden and loss results files give pages; bad inputs are exit 2 with a message"
