#!/usr/bin/env bash
# Bring your own kernel, end to end: export generated cases, compute them with
# the numpy example (python/attncheck/examples/numpy_attention.py), and judge its
# /results/numpy-example with `attncheck check` (exit 0). Then damage one real
# output element and one /expected element: `check` and `replay` must fail
# (exit 1), naming the tensor.
set -euo pipefail
attncheck=$1
python=$2
src=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$attncheck" export --cases 8 --seed 11 --max-tokens 96 --max-head-dim 64 -o "$work/cases" >/dev/null
"$python" "$src/python/attncheck/examples/numpy_attention.py" "$work/cases"
"$attncheck" check "$work/cases" --results numpy-example

# A wrong value in one real row must be caught.
"$python" - "$work/cases/case-0007.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    b = f["batch"]
    cu = b["cu_seqlens_q"][...]
    start = int(b["cu_seqlens_q_padded"][0]) if "cu_seqlens_q_padded" in b else 0
    real = [i for i in range(len(cu) - 1) if cu[i + 1] > cu[i]]
    assert real, "case 7 has no real row"
    i = real[0]
    row = int(b["cu_seqlens_q_padded"][i]) if "cu_seqlens_q_padded" in b else int(cu[i])
    out = f["results/numpy-example/out"]
    x = out[...]
    x[row, 0, 0] += 0.25 + abs(x[row, 0, 0])
    out[...] = x
PY
set +e
msg=$("$attncheck" check "$work/cases" --results numpy-example 2>&1)
rc=$?
set -e
echo "$msg" | tail -3
if [ $rc -ne 1 ] || [[ "$msg" != *"out"* ]]; then
  echo "FAIL: a damaged numpy-example output was not caught (exit $rc)"
  exit 1
fi

# replay judges implementations against /expected: a damaged /expected fails.
"$attncheck" replay "$work/cases/case-0003.h5" --impl reference-f32 >/dev/null
"$python" - "$work/cases/case-0003.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    lse = f["expected/lse"]
    x = lse[...]
    idx = np.argwhere(np.isfinite(x))
    assert len(idx), "no finite lse"
    h, t = idx[0]
    x[h, t] += 1.0
    lse[...] = x
PY
set +e
msg=$("$attncheck" replay "$work/cases/case-0003.h5" --impl reference-f32 2>&1)
rc=$?
set -e
if [ $rc -ne 1 ] || [[ "$msg" != *"lse"* ]]; then
  echo "FAIL: replay against a damaged /expected gave exit $rc"
  echo "$msg"
  exit 1
fi
echo "byok: numpy example passes check; damaged outputs and expectations are caught"
