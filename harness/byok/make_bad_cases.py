#!/usr/bin/python3
"""Generate the corpus of malformed case files (shared/FORMAT.md, version 1).

Usage: make_bad_cases.py [OUTDIR]      (default: harness/tests/bad_cases/)

Every file is one defect on top of one valid small case: 2 sequences
(cu_seqlens_q [0,3,7] in padded slots [0,4,8] of total_q 10; cu_seqlens_kv
[0,5,9] in slots [0,5,10] of total_kv 11), Hq=2, Hkv=1, D=Dv=8, causal,
float32 inputs with NaN in every padding row (allowed), position_ids, and
/expected (out, lse, dq, dk, dv in float64).  That valid case is written too,
as valid_base.h5, so a reader test can check that it loads; it is NOT listed
in EXPECTED.

OUTDIR/EXPECTED has one line per malformed file: `filename<TAB>substring`,
a substring the reader's error message (`<file>: <object>: <expected, found>`)
must contain.  No substring occurs in its own file name.

Defects (file: defect -> substring):
  cut_in_half.h5: a valid file cut to half its bytes -> truncated
  text_file.h5: a text file, not HDF5 -> not an HDF5 file
  zero_bytes.h5: an empty file -> empty
  root_attr_wrong_value.h5: /@format = "attncheck-results" -> attncheck-case
  no_magic_attr.h5: root attribute format missing -> format
  version_2.h5: /@format_version = 2 -> format_version
  version_as_text.h5: /@format_version is the string "1" -> format_version
  version_absent.h5: root attribute format_version missing -> format_version
  no_batch_group.h5: group /batch missing -> /batch
  heads_q_absent.h5: /batch@num_heads_q missing -> num_heads_q
  gqa_3_over_2.h5: Hq=3, Hkv=2 (shapes consistent), 3 % 2 != 0 -> num_heads_q
  storage_int8.h5: /batch@dtype = "int8" -> dtype
  mask_flag_2.h5: /batch@causal = 2 -> causal
  win_l_minus2.h5: /batch@window_left = -2 -> window_left
  causal_right_3.h5: causal with /batch@window_right = 3 -> window_right
  chunk_negative.h5: /batch@chunk_size = -4 -> chunk_size
  scale_absent.h5: /batch@softmax_scale missing -> softmax_scale
  kv_rows_attr_absent.h5: /batch@total_kv missing -> total_kv
  cuq_starts_at_1.h5: cu_seqlens_q = [1,4,8] -> cu_seqlens_q[0]
  cuq_decreasing.h5: cu_seqlens_q = [0,3,2] -> cu_seqlens_q[2]
  cuq_beyond_buffer.h5: cu_seqlens_q = [0,3,11] > total_q 10 (no q padded
      offsets) -> cu_seqlens_q[2]
  cuq_float64.h5: cu_seqlens_q stored as float64 -> cu_seqlens_q
  seq_count_mismatch.h5: cu_seqlens_kv = [0,9] (1 sequence) vs 2 in
      cu_seqlens_q (kv padded [0,10]) -> cu_seqlens_kv
  padded_overlap.h5: cu_seqlens_q_padded = [0,2,8]: sequence 0 (3 rows)
      overlaps sequence 1 -> cu_seqlens_q_padded[1]
  kv_padded_short.h5: cu_seqlens_kv_padded = [0,5] (2 entries, needs 3)
      -> cu_seqlens_kv_padded
  posids_short.h5: position_ids has 9 entries, total_q is 10 -> position_ids
  q_absent.h5: /inputs/q missing -> /inputs/q
  q_three_heads.h5: /inputs/q shape [10,3,8] (Hq is 2) -> /inputs/q
  q_int32.h5: /inputs/q of type int32 -> /inputs/q
  k_12_rows.h5: /inputs/k shape [12,1,8], total_kv is 11 -> /inputs/k
  v_dv_4.h5: /inputs/v shape [11,1,4], head_dim_v is 8 -> /inputs/v
  do_swapped_axes.h5: /inputs/do shape [10,8,2] -> /inputs/do
  q_not_bf16.h5: dtype bfloat16, all inputs bfloat16 values except
      q[0,0,0] = 1.0000001 (a real row) -> /inputs/q
  q_real_nan.h5: NaN in real row 5 of q -> /inputs/q
  v_real_inf.h5: +Inf in real row 2 of v -> /inputs/v
  out_dv_4.h5: /expected/out shape [10,2,4] -> /expected/out
  lse_transposed.h5: /expected/lse shape [10,2] (must be [Hq,total_q])
      -> /expected/lse
  grads_partial.h5: /expected has dq and dv but no dk -> /expected/dk
"""
import copy
import io
import os
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ beside the committed scripts
sys.path.insert(0, os.path.join(HERE, "..", "..", "python", "attncheck", "examples"))
from numpy_attention import attention  # noqa: E402  (float64 /expected values)

DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "tests", "bad_cases"))
I = np.int32


def to_bf16(x):
    """Round float32 to the nearest bfloat16 (ties to even), kept as float32."""
    b = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16 << 16
    return b.astype(np.uint32).view(np.float32)


def base_case(hq=2, hkv=1, dtype="float32"):
    """The valid case as nested dicts: '@' holds a group's attributes."""
    rng = np.random.default_rng(7)
    d = dv = 8
    cu_q, pad_q, cu_kv, pad_kv = [0, 3, 7], [0, 4, 8], [0, 5, 9], [0, 5, 10]
    total_q, total_kv = 10, 11
    real_q = np.zeros(total_q, bool)
    real_kv = np.zeros(total_kv, bool)
    for s in range(2):
        real_q[pad_q[s]:pad_q[s] + cu_q[s + 1] - cu_q[s]] = True
        real_kv[pad_kv[s]:pad_kv[s] + cu_kv[s + 1] - cu_kv[s]] = True

    def tensor(real, h, dim):
        x = rng.normal(size=(len(real), h, dim)).astype(np.float32)
        if dtype == "bfloat16":
            x = to_bf16(x)
        x[~real] = np.nan  # padding rows may hold anything
        return x

    inputs = {"q": tensor(real_q, hq, d), "k": tensor(real_kv, hkv, d),
              "v": tensor(real_kv, hkv, dv), "do": tensor(real_q, hq, dv)}
    ids = np.zeros(total_q, I)
    for s in range(2):
        ids[pad_q[s]:pad_q[s] + cu_q[s + 1] - cu_q[s]] = np.arange(cu_q[s + 1] - cu_q[s])
    battrs = {"num_heads_q": I(hq), "num_heads_kv": I(hkv), "head_dim": I(d),
              "head_dim_v": I(dv), "causal": I(1), "window_left": I(-1),
              "window_right": I(-1), "chunk_size": I(0),
              "softmax_scale": np.float64(1 / np.sqrt(d)), "dtype": dtype,
              "total_q": I(total_q), "total_kv": I(total_kv)}
    case = {"@": {"format": "attncheck-case", "format_version": I(1), "seed": np.uint64(7),
                  "description": "make_bad_cases.py base case"},
            "batch": {"@": battrs, "cu_seqlens_q": np.array(cu_q, I),
                      "cu_seqlens_kv": np.array(cu_kv, I),
                      "cu_seqlens_q_padded": np.array(pad_q, I),
                      "cu_seqlens_kv_padded": np.array(pad_kv, I), "position_ids": ids},
            "inputs": inputs}
    if hq % hkv == 0:
        set_expected(case)
    else:  # no attention to compute (gqa_3_over_2.h5): right shapes, padding values
        case["expected"] = {"@": {"producer": "make_bad_cases.py (shapes only: Hq % Hkv != 0, no attention to compute)"},
                            "out": np.zeros((total_q, hq, dv)),
                            "lse": np.full((hq, total_q), -np.inf),
                            "dq": np.zeros((total_q, hq, d)), "dk": np.zeros((total_kv, hkv, d)),
                            "dv": np.zeros((total_kv, hkv, dv))}
    return case


def set_expected(case):
    """(Re)compute /expected from the case's own batch and inputs."""
    b = case["batch"]
    batch = {k: int(v) for k, v in b["@"].items() if k not in ("dtype", "softmax_scale")}
    batch.update(softmax_scale=float(b["@"]["softmax_scale"]),
                 cu_seqlens_q=b["cu_seqlens_q"], cu_seqlens_kv=b["cu_seqlens_kv"],
                 start_q=b["cu_seqlens_q_padded"], start_kv=b["cu_seqlens_kv_padded"])
    i = case["inputs"]
    res = attention(batch, i["q"], i["k"], i["v"], i["do"])
    case["expected"] = {"@": {"producer": "make_bad_cases.py (numpy float64)"}, **res}


def write(path_or_file, node):
    with h5py.File(path_or_file, "w", track_order=False) as f:
        write_group(f, node)


def write_group(group, node):
    for key, val in node.items():
        if key == "@":
            for name, attr in val.items():
                group.attrs[name] = attr
        elif isinstance(val, dict):
            write_group(group.create_group(key), val)
        else:
            group.create_dataset(key, data=val, track_times=False)


def h5_bytes(case):
    buf = io.BytesIO()
    write(buf, case)
    return buf.getvalue()


# Each defect: (file name, expected substring, function editing a copy of the
# base case in place).  File-level defects return the bytes to write.
def root(**kw):
    def edit(c):
        for k, v in kw.items():
            if v is None:
                del c["@"][k]
            else:
                c["@"][k] = v
    return edit


def battr(**kw):
    def edit(c):
        for k, v in kw.items():
            if v is None:
                del c["batch"]["@"][k]
            else:
                c["batch"]["@"][k] = v
    return edit


def dset(group, name, value):
    def edit(c):
        if value is None:
            del c[group][name]
        else:
            c[group][name] = value(c[group][name]) if callable(value) else value
    return edit


def poke(name, index, value):
    def edit(c):
        c["inputs"][name][index] = value
    return edit


def drop_group(name):
    def edit(c):
        del c[name]
    return edit


def gqa_3_over_2(c):
    c.clear()
    c.update(base_case(hq=3, hkv=2))  # 3 % 2 != 0: the only defect


def not_bf16(c):
    c.clear()
    c.update(base_case(dtype="bfloat16"))
    c["inputs"]["q"][0, 0, 0] = np.float32(1.0000001)  # not a bfloat16 value
    set_expected(c)


def beyond_buffer(c):
    c["batch"]["cu_seqlens_q"] = np.array([0, 3, 11], I)
    del c["batch"]["cu_seqlens_q_padded"]


def count_mismatch(c):
    c["batch"]["cu_seqlens_kv"] = np.array([0, 9], I)
    c["batch"]["cu_seqlens_kv_padded"] = np.array([0, 10], I)


DEFECTS = [
    ("cut_in_half.h5", "truncated", lambda c: h5_bytes(c)[:len(h5_bytes(c)) // 2]),
    ("text_file.h5", "not an HDF5 file",
     lambda c: b"format: attncheck-case\nformat_version: 1\n"),
    ("zero_bytes.h5", "empty", lambda c: b""),
    ("root_attr_wrong_value.h5", "attncheck-case", root(format="attncheck-results")),
    ("no_magic_attr.h5", "format", root(format=None)),
    ("version_2.h5", "format_version", root(format_version=I(2))),
    ("version_as_text.h5", "format_version", root(format_version="1")),
    ("version_absent.h5", "format_version", root(format_version=None)),
    ("no_batch_group.h5", "/batch", drop_group("batch")),
    ("heads_q_absent.h5", "num_heads_q", battr(num_heads_q=None)),
    ("gqa_3_over_2.h5", "num_heads_q", gqa_3_over_2),
    ("storage_int8.h5", "dtype", battr(dtype="int8")),
    ("mask_flag_2.h5", "causal", battr(causal=I(2))),
    ("win_l_minus2.h5", "window_left", battr(window_left=I(-2))),
    ("causal_right_3.h5", "window_right", battr(window_right=I(3))),
    ("chunk_negative.h5", "chunk_size", battr(chunk_size=I(-4))),
    ("scale_absent.h5", "softmax_scale", battr(softmax_scale=None)),
    ("kv_rows_attr_absent.h5", "total_kv", battr(total_kv=None)),
    ("cuq_starts_at_1.h5", "cu_seqlens_q[0]", dset("batch", "cu_seqlens_q", np.array([1, 4, 8], I))),
    ("cuq_decreasing.h5", "cu_seqlens_q[2]", dset("batch", "cu_seqlens_q", np.array([0, 3, 2], I))),
    ("cuq_beyond_buffer.h5", "cu_seqlens_q[2]", beyond_buffer),
    ("cuq_float64.h5", "cu_seqlens_q", dset("batch", "cu_seqlens_q", lambda a: a.astype(np.float64))),
    ("seq_count_mismatch.h5", "cu_seqlens_kv", count_mismatch),
    ("padded_overlap.h5", "cu_seqlens_q_padded[1]",
     dset("batch", "cu_seqlens_q_padded", np.array([0, 2, 8], I))),
    ("kv_padded_short.h5", "cu_seqlens_kv_padded",
     dset("batch", "cu_seqlens_kv_padded", np.array([0, 5], I))),
    ("posids_short.h5", "position_ids", dset("batch", "position_ids", lambda a: a[:9])),
    ("q_absent.h5", "/inputs/q", dset("inputs", "q", None)),
    ("q_three_heads.h5", "/inputs/q", dset("inputs", "q", lambda a: np.concatenate([a, a[:, :1]], 1))),
    ("q_int32.h5", "/inputs/q", dset("inputs", "q", lambda a: np.nan_to_num(a).astype(I))),
    ("k_12_rows.h5", "/inputs/k", dset("inputs", "k", lambda a: np.concatenate([a, a[:1]], 0))),
    ("v_dv_4.h5", "/inputs/v", dset("inputs", "v", lambda a: a[:, :, :4].copy())),
    ("do_swapped_axes.h5", "/inputs/do", dset("inputs", "do", lambda a: a.transpose(0, 2, 1).copy())),
    ("q_not_bf16.h5", "/inputs/q", not_bf16),
    ("q_real_nan.h5", "/inputs/q", poke("q", (5, 1, 3), np.nan)),
    ("v_real_inf.h5", "/inputs/v", poke("v", (2, 0, 0), np.inf)),
    ("out_dv_4.h5", "/expected/out", dset("expected", "out", lambda a: a[:, :, :4].copy())),
    ("lse_transposed.h5", "/expected/lse", dset("expected", "lse", lambda a: a.T.copy())),
    ("grads_partial.h5", "/expected/dk", dset("expected", "dk", None)),
]


def main(argv):
    out_dir = argv[0] if argv else DEFAULT_OUT
    os.makedirs(out_dir, exist_ok=True)
    expected_path = os.path.join(out_dir, "EXPECTED")
    # Drop files of a previous run that this run no longer makes.
    if os.path.exists(expected_path):
        with open(expected_path) as f:
            old = {line.split("\t")[0] for line in f if line.strip()}
        for name in old - {n for n, _, _ in DEFECTS}:
            if os.path.exists(os.path.join(out_dir, name)):
                os.remove(os.path.join(out_dir, name))
    write(os.path.join(out_dir, "valid_base.h5"), base_case())
    lines = []
    for name, substring, edit in DEFECTS:
        assert substring.lower() not in name.lower(), name  # the path must not match
        case = copy.deepcopy(base_case())
        data = edit(case)
        path = os.path.join(out_dir, name)
        if isinstance(data, bytes):
            with open(path, "wb") as f:
                f.write(data)
        else:
            write(path, case)
        assert os.path.getsize(path) < 50_000, name
        lines.append("%s\t%s\n" % (name, substring))
    with open(expected_path, "w") as f:
        f.writelines(lines)
    print("%d malformed cases + valid_base.h5 in %s" % (len(lines), out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
