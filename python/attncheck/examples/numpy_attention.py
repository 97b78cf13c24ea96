#!/usr/bin/python3
"""Bring your own kernel: attention over attncheck case files, in numpy.

`attncheck export` writes packed-batch cases as HDF5 files (shared/FORMAT.md).
To check your own attention kernel, run it on each file's /inputs and write
what it produced into the same file under /results/<your-implementation>;
attncheck then compares that against its float64 reference.  This script is
that loop with plain numpy (float64) standing in for the kernel, following the
attention contract of shared/DESIGN.md step by step.  Copy it and replace
attention() with a call to your kernel.

Usage:  numpy_attention.py PATH [PATH...]   (case files, or directories of *.h5)
Writes /results/numpy-example (out, lse, and dq, dk, dv when /inputs/do exists).
Exit status 0, or 2 when some file could not be read (message on stderr).
"""
import os
import sys

import numpy as np

IMPL = "numpy-example"
INT_ATTRS = ("num_heads_q", "num_heads_kv", "head_dim", "head_dim_v", "causal",
             "window_left", "window_right", "total_q", "total_kv")


class CaseError(Exception):
    pass


def text(value):
    """String attributes may come back as str or bytes depending on the writer."""
    return value.decode() if isinstance(value, bytes) else str(value)


def read_case(path):
    """Returns (batch dict, inputs dict of float32 arrays) of one case file."""
    import h5py  # only the file loop needs it (the live implementation does not)
    with h5py.File(path, "r") as f:
        if text(f.attrs.get("format", "")) != "attncheck-case":
            raise CaseError("/: attribute format is not 'attncheck-case'")
        if f.attrs.get("format_version") != 1:
            raise CaseError("/: attribute format_version is not 1")
        if "batch" not in f or "inputs" not in f:
            raise CaseError("/batch or /inputs group missing")
        attrs = f["batch"].attrs
        missing = [a for a in INT_ATTRS + ("softmax_scale",) if a not in attrs]
        if missing:
            raise CaseError("/batch: missing attribute(s) " + ", ".join(missing))
        batch = {a: int(attrs[a]) for a in INT_ATTRS}
        batch["chunk_size"] = int(attrs.get("chunk_size", 0))  # optional, 0 = none
        batch["softmax_scale"] = float(attrs["softmax_scale"])
        for name in ("cu_seqlens_q", "cu_seqlens_kv"):
            batch[name] = f["batch"][name][()].astype(np.int64)
        # Padded offsets are optional: absent means the sequences are contiguous.
        for name in ("q", "kv"):
            padded = "cu_seqlens_%s_padded" % name
            src = padded if padded in f["batch"] else "cu_seqlens_" + name
            batch["start_" + name] = f["batch"][src][()].astype(np.int64)
        inputs = {n: f["inputs"][n][()] for n in ("q", "k", "v", "do") if n in f["inputs"]}
    check_batch(batch)
    hq, hkv, d, dv = (batch[a] for a in ("num_heads_q", "num_heads_kv", "head_dim", "head_dim_v"))
    shapes = {"q": (batch["total_q"], hq, d), "k": (batch["total_kv"], hkv, d),
              "v": (batch["total_kv"], hkv, dv), "do": (batch["total_q"], hq, dv)}
    for name, want in shapes.items():  # /inputs/do is optional: forward only
        got = inputs[name].shape if name in inputs else None if name != "do" else want
        if got != want:
            found = "missing" if got is None else "shape %s" % (got,)
            raise CaseError("/inputs/%s: %s, expected shape %s" % (name, found, want))
    return batch, inputs


def check_batch(b):
    """What the computation relies on (attncheck's own reader checks the rest)."""
    hq, hkv = b["num_heads_q"], b["num_heads_kv"]
    if hq < 1 or hkv < 1 or hq % hkv:
        raise CaseError("/batch: num_heads_q %d is not a multiple of num_heads_kv %d" % (hq, hkv))
    for side, total in (("q", b["total_q"]), ("kv", b["total_kv"])):
        cu, start = b["cu_seqlens_" + side], b["start_" + side]
        lens = np.diff(cu)
        if (len(cu) != len(b["cu_seqlens_q"]) or len(start) != len(cu) or cu[0] != 0
                or start[0] != 0 or (lens < 0).any() or (start[:-1] + lens > start[1:]).any()
                or start[-1] > total):
            raise CaseError("/batch: cu_seqlens_%s (or its padded offsets) do not lay out "
                            "sequences in total_%s = %d rows" % (side, side, total))


def visible(lq, lk, batch):
    """[lq, lk] bool: may query i of a sequence see key j?"""
    i = np.arange(lq)[:, None]
    j = np.arange(lk)[None, :]
    pos = i + lk - lq                    # bottom-right alignment: query i sits at key pos
    ok = np.ones((lq, lk), dtype=bool)
    left = batch["window_left"]
    right = 0 if batch["causal"] else batch["window_right"]  # causal forces right = 0
    if right >= 0:
        ok &= j <= pos + right
    if left >= 0:
        ok &= j >= pos - left
    chunk = batch["chunk_size"]
    if chunk > 0:                        # same chunk, counted from the document start
        ok &= (j // chunk) == (pos // chunk)   # // floors, also for pos < 0
    return ok


def attention(batch, q, k, v, do=None):
    """Forward (and backward when `do` is given) of the contract, in float64.

    Returns a dict of out [total_q,Hq,Dv], lse [Hq,total_q] and, with `do`,
    dq, dk, dv.  Padding rows stay 0 (lse -inf); they are never read.
    """
    hq, hkv = batch["num_heads_q"], batch["num_heads_kv"]
    group = hq // hkv                    # q head h reads kv head h // group
    scale = batch["softmax_scale"]
    res = {"out": np.zeros(q.shape[:2] + v.shape[2:]),
           "lse": np.full((hq, q.shape[0]), -np.inf)}
    if do is not None:
        res.update(dq=np.zeros(q.shape), dk=np.zeros(k.shape), dv=np.zeros(v.shape))
    cu_q, cu_k = batch["cu_seqlens_q"], batch["cu_seqlens_kv"]
    for s in range(len(cu_q) - 1):
        lq, lk = cu_q[s + 1] - cu_q[s], cu_k[s + 1] - cu_k[s]
        if lq == 0 or lk == 0:
            continue                     # no query or no key: outputs stay 0 / -inf
        rq = slice(batch["start_q"][s], batch["start_q"][s] + lq)
        rk = slice(batch["start_kv"][s], batch["start_kv"][s] + lk)
        # Read only real rows (padding may hold NaN), as float64.
        qs, ks, vs = (x[r].astype(np.float64) for x, r in ((q, rq), (k, rk), (v, rk)))
        mask = visible(lq, lk, batch)
        seen = mask.any(axis=1)          # queries that see at least one key
        for h in range(hq):
            g = h // group
            scores = np.where(mask, scale * (qs[:, h] @ ks[:, g].T), -np.inf)
            m = np.where(seen, scores.max(axis=1), 0.0)
            p = np.exp(scores - m[:, None])      # masked keys: exp(-inf) = 0
            total = np.where(seen, p.sum(axis=1), 1.0)
            p /= total[:, None]                  # rows that see nothing stay all 0
            o = p @ vs[:, g]
            res["out"][rq, h] = o
            res["lse"][h, rq] = np.where(seen, m + np.log(total), -np.inf)
            if do is None:
                continue
            dos = do[rq, h].astype(np.float64)
            dp = dos @ vs[:, g].T
            ds = p * (dp - (dos * o).sum(axis=1)[:, None])  # softmax backward
            res["dq"][rq, h] += scale * (ds @ ks[:, g])
            res["dk"][rk, g] += scale * (ds.T @ qs[:, h])  # kv grads sum over the group
            res["dv"][rk, g] += p.T @ dos
    return res


def write_results(path, res):
    """Replace /results/numpy-example with float32 copies of `res`."""
    import h5py
    with h5py.File(path, "r+") as f:
        group = f.require_group("results")
        if IMPL in group:
            del group[IMPL]
        out = group.create_group(IMPL)
        out.attrs["producer"] = "numpy_attention.py"
        for name, x in res.items():
            out.create_dataset(name, data=x.astype(np.float32))


def case_files(paths):
    """Files named on the command line, and the *.h5 files of named directories."""
    files, status = [], 0
    for path in paths:
        if not os.path.isdir(path):
            files.append(path)
            continue
        found = sorted(n for n in os.listdir(path) if n.endswith(".h5"))
        if not found:
            print("%s: no *.h5 files in this directory" % path, file=sys.stderr)
            status = 2
        files += [os.path.join(path, n) for n in found]
    return files, status


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    files, status = case_files(argv)
    for path in files:
        try:
            batch, inputs = read_case(path)
            res = attention(batch, inputs["q"], inputs["k"], inputs["v"], inputs.get("do"))
            write_results(path, res)
        except Exception as e:  # report, go on with the next file, exit 2
            print("%s: cannot process case: %s" % (path, e), file=sys.stderr)
            status = 2
            continue
        kind = "forward+backward" if "dq" in res else "forward only"
        print("%s: wrote /results/%s (%s, %d sequences, total_q=%d, total_kv=%d)"
              % (path, IMPL, kind, len(batch["cu_seqlens_q"]) - 1,
                 batch["total_q"], batch["total_kv"]))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
