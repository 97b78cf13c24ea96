#!/usr/bin/env bash
# `attncheck loss` end to end: a 5-step flash run exits 0, prints the table
# and writes an HDF5 results file with /loss/flash/loss of 5 entries (checked
# with h5py); an unknown implementation, a missing output directory and
# --steps beyond the bound's measured range are bad usage (exit 2).
set -u
bin="$1"
python="$2"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

out=$(cd "$work" && "$bin" loss --impl flash --steps 5 -o tmp.h5 2>&1)
rc=$?
[ "$rc" -eq 0 ] || fail "loss --impl flash --steps 5 -> exit $rc (want 0)"
grep -qF "attncheck loss: 1 curves, 0 failed" <<<"$out" || fail "no verdict line"
grep -qE "^ +4 +[0-9.]+ +[0-9.]+$" <<<"$out" || fail "no row for step 4 in the table"
[ "$rc" -eq 0 ] && [ "$failures" -eq 0 ] || echo "$out" | sed 's/^/    /'

"$python" - "$work/tmp.h5" <<'PY' || fail "results file check"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["format"] == "attncheck-results", f.attrs["format"]
    assert int(f.attrs["format_version"]) == 1
    g = f["loss"]
    assert int(g.attrs["steps"]) == 5 and int(g.attrs["seed"]) == 1, dict(g.attrs)
    assert g.attrs["reference"] == "reference"
    assert "|loss - reference|" in g.attrs["bound"]
    flash = g["flash/loss"][...]
    ref = g["reference/loss"][...]
    assert flash.shape == (5,) and flash.dtype == np.float64, (flash.shape, flash.dtype)
    assert ref.shape == (5,)
    assert np.all(np.isfinite(flash)) and np.all(np.abs(flash - ref) < 1e-3), (flash, ref)
    a = g["flash"].attrs
    assert a["verdict"] == "pass", a["verdict"]
    assert float(a["max_abs_diff"]) == float(np.max(np.abs(flash - ref)))
    assert isinstance(a["message"], str)
PY

ls -A "$work" | grep -q '\.tmp-' && fail "a temporary file was left behind"

out=$("$bin" loss --impl no-such-kernel --steps 2 -o "$work/x.h5" 2>&1)
rc=$?
[ "$rc" -eq 2 ] || fail "unknown implementation -> exit $rc (want 2)"
grep -qF "unknown implementation 'no-such-kernel'" <<<"$out" || fail "unknown name not named: $out"
[ -e "$work/x.h5" ] && fail "a results file was written for bad usage"

out=$("$bin" loss --impl flash --steps 2 -o "$work/missing-dir/x.h5" 2>&1)
rc=$?
[ "$rc" -eq 2 ] || fail "missing output directory -> exit $rc (want 2)"

"$bin" loss --impl flash --steps 301 -o "$work/x.h5" >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "--steps beyond the measured range -> exit $rc (want 2)"

[ "$failures" -eq 0 ] && echo "cli_loss: ok"
exit "$failures"
