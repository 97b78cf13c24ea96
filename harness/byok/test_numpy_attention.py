#!/usr/bin/python3
"""Independent check of numpy_attention.py (the bring-your-own-kernel example).

Builds case files by hand following shared/FORMAT.md (several sequences,
padding between sequences and tail padding, NaN/Inf/1e30 in padding rows,
zero-length sequences, Lq != Lk, GQA, causal / window / chunk masks, D != Dv,
forward-only cases, with and without padded offsets), runs the example on them
as a user would (a subprocess), and compares what it wrote under
/results/numpy-example with
  * out / lse: a brute-force reference written here with per-row loops (its
    own mask code: a key range per query, not a boolean matrix);
  * dq / dk / dv: central finite differences of loss = sum(out * do) over real
    rows, computed with that brute force in float64;
  * padding rows: out, dq, dk, dv exactly 0 and lse exactly -inf;
  * the file otherwise untouched (/expected, other /results groups), the old
    numpy-example group replaced, `producer` set;
  * the command line: directories, several paths, exit 2 on unreadable files.

Usage: test_numpy_attention.py      (exit status 0 = pass, 1 = failure)
"""
import math
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
# The example lives in the Python package (it is also the bridge's live numpy reference).
EXAMPLE = os.path.join(HERE, "..", "..", "python", "attncheck", "examples", "numpy_attention.py")
failures = []
checked = {"out/lse rows": 0, "gradient elements": 0}


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def to_bf16(x):
    """Round float32 to the nearest bfloat16 (ties to even), kept as float32."""
    b = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16 << 16
    return b.astype(np.uint32).view(np.float32)


# ---------------------------------------------------------------- case building
def make_case(rng, lens_q, lens_kv, gap_q, gap_kv, tail_q, tail_kv, hq, hkv, d, dv,
              causal=0, wl=-1, wr=-1, chunk=0, padded=True, backward=True,
              dtype="float32", position_ids=True, expected=False, chunk_attr=True):
    """A case dict; when padded is False all gaps must be 0 (no padded arrays)."""
    b = len(lens_q)
    cu_q = np.concatenate([[0], np.cumsum(lens_q)]).astype(np.int32)
    cu_kv = np.concatenate([[0], np.cumsum(lens_kv)]).astype(np.int32)
    pad_q = np.concatenate([[0], np.cumsum(np.add(lens_q, gap_q))]).astype(np.int32)
    pad_kv = np.concatenate([[0], np.cumsum(np.add(lens_kv, gap_kv))]).astype(np.int32)
    if not padded:
        assert not any(gap_q) and not any(gap_kv)
    total_q, total_kv = int(pad_q[-1]) + tail_q, int(pad_kv[-1]) + tail_kv
    c = dict(hq=hq, hkv=hkv, d=d, dv=dv, causal=causal, wl=wl, wr=wr, chunk=chunk,
             scale=float(rng.uniform(0.3, 1.2)), dtype=dtype, total_q=total_q,
             total_kv=total_kv, cu_q=cu_q, cu_kv=cu_kv, padded=padded,
             rows_q=[(int(pad_q[i]), int(lens_q[i])) for i in range(b)],
             rows_kv=[(int(pad_kv[i]), int(lens_kv[i])) for i in range(b)],
             chunk_attr=chunk_attr, expected=expected)
    if padded:
        c["pad_q"], c["pad_kv"] = pad_q, pad_kv
    poison = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30], dtype=np.float32)

    def tensor(total, rows, h, dim):
        x = rng.normal(size=(total, h, dim)).astype(np.float32)
        if dtype == "bfloat16":
            x = to_bf16(x)
        elif dtype == "float16":
            x = x.astype(np.float16).astype(np.float32)
        real = np.zeros(total, dtype=bool)
        for start, n in rows:
            real[start:start + n] = True
        x[~real] = rng.choice(poison, size=x[~real].shape)  # poison every padding row
        return x

    c["q"] = tensor(total_q, c["rows_q"], hq, d)
    c["k"] = tensor(total_kv, c["rows_kv"], hkv, d)
    c["v"] = tensor(total_kv, c["rows_kv"], hkv, dv)
    c["do"] = tensor(total_q, c["rows_q"], hq, dv) if backward else None
    if position_ids:
        ids = np.full(total_q, -7, dtype=np.int32)  # padding rows carry anything
        for start, n in c["rows_q"]:
            ids[start:start + n] = np.arange(n)
        c["position_ids"] = ids
    return c


def write_case(path, c, seed):
    # Vary attribute encodings the way different writers might (int32/int64,
    # variable-length str vs fixed-length bytes).
    ity = np.int32 if seed % 2 else np.int64
    sty = (lambda s: s) if seed % 3 else (lambda s: np.bytes_(s.encode()))
    with h5py.File(path, "w") as f:
        f.attrs["format"] = sty("attncheck-case")
        f.attrs["format_version"] = ity(1)
        f.attrs["seed"] = np.uint64(seed)
        f.attrs["description"] = sty("test_numpy_attention case %d" % seed)
        g = f.create_group("batch")
        for name, val in (("num_heads_q", c["hq"]), ("num_heads_kv", c["hkv"]),
                          ("head_dim", c["d"]), ("head_dim_v", c["dv"]),
                          ("causal", c["causal"]), ("window_left", c["wl"]),
                          ("window_right", c["wr"]), ("total_q", c["total_q"]),
                          ("total_kv", c["total_kv"])):
            g.attrs[name] = ity(val)
        if c["chunk_attr"]:
            g.attrs["chunk_size"] = ity(c["chunk"])
        g.attrs["softmax_scale"] = np.float64(c["scale"])
        g.attrs["dtype"] = sty(c["dtype"])
        g["cu_seqlens_q"] = c["cu_q"]
        g["cu_seqlens_kv"] = c["cu_kv"]
        if c["padded"]:
            g["cu_seqlens_q_padded"] = c["pad_q"]
            g["cu_seqlens_kv_padded"] = c["pad_kv"]
        if "position_ids" in c:
            g["position_ids"] = c["position_ids"]
        i = f.create_group("inputs")
        for name in ("q", "k", "v", "do"):
            if c[name] is not None:
                i[name] = c[name]
        if c["expected"]:
            out, lse = brute_forward(c, c["q"], c["k"], c["v"])
            e = f.create_group("expected")
            e["out"], e["lse"] = out, lse
            e.attrs["producer"] = "test_numpy_attention brute force"
        # A stale numpy-example group the example must replace, and another
        # implementation's results it must leave alone.
        r = f.create_group("results")
        old = r.create_group("numpy-example")
        old["junk"] = np.arange(3)
        old.attrs["verdict"] = "fail"
        r.create_group("other")["out"] = np.ones(2)


# ---------------------------------------------------------------- brute force
def key_range(c, t, lq, lk):
    """Inclusive [lo, hi] of keys visible to query t (empty when lo > hi)."""
    pos = t + (lk - lq)
    lo, hi = 0, lk - 1
    if c["causal"]:
        hi = min(hi, pos)
    elif c["wr"] != -1:
        hi = min(hi, pos + c["wr"])
    if c["wl"] != -1:
        lo = max(lo, pos - c["wl"])
    if c["chunk"]:
        first = math.floor(pos / c["chunk"]) * c["chunk"]
        lo, hi = max(lo, first), min(hi, first + c["chunk"] - 1)
    return lo, hi


def brute_forward(c, q, k, v):
    """float64 out [total_q,Hq,Dv] and lse [Hq,total_q], one query row at a time."""
    out = np.zeros((c["total_q"], c["hq"], c["dv"]))
    lse = np.full((c["hq"], c["total_q"]), -np.inf)
    for (qs, lq), (ks, lk) in zip(c["rows_q"], c["rows_kv"]):
        for t in range(lq):
            lo, hi = key_range(c, t, lq, lk)
            if lo > hi:
                continue
            for h in range(c["hq"]):
                kvh = h * c["hkv"] // c["hq"]
                qrow = q[qs + t, h].astype(np.float64)
                s = [c["scale"] * float(np.dot(qrow, k[ks + j, kvh].astype(np.float64)))
                     for j in range(lo, hi + 1)]
                mx = max(s)
                w = [math.exp(x - mx) for x in s]
                total = math.fsum(w)
                lse[h, qs + t] = mx + math.log(total)
                acc = np.zeros(c["dv"])
                for j, wj in zip(range(lo, hi + 1), w):
                    acc += (wj / total) * v[ks + j, kvh].astype(np.float64)
                out[qs + t, h] = acc
    return out, lse


def loss(c, q, k, v):
    out, _ = brute_forward(c, q, k, v)
    total = 0.0
    for qs, lq in c["rows_q"]:
        total += float(np.sum(out[qs:qs + lq] * c["do"][qs:qs + lq].astype(np.float64)))
    return total


def finite_difference(c):
    """Central differences of loss over every real-row element of q, k, v."""
    x = {n: c[n].astype(np.float64) for n in ("q", "k", "v")}
    grads = {n: np.zeros_like(x[n]) for n in x}
    eps = 1e-5
    for name, rows in (("q", c["rows_q"]), ("k", c["rows_kv"]), ("v", c["rows_kv"])):
        for start, n in rows:
            for idx in np.ndindex(n, *x[name].shape[1:]):
                at = (start + idx[0],) + idx[1:]
                saved = x[name][at]
                x[name][at] = saved + eps
                up = loss(c, x["q"], x["k"], x["v"])
                x[name][at] = saved - eps
                down = loss(c, x["q"], x["k"], x["v"])
                x[name][at] = saved
                grads[name][at] = (up - down) / (2 * eps)
                checked["gradient elements"] += 1
    return grads["q"], grads["k"], grads["v"]


# ---------------------------------------------------------------- comparison
def real_mask(total, rows):
    m = np.zeros(total, dtype=bool)
    for start, n in rows:
        m[start:start + n] = True
    return m


def compare(label, c, path):
    with h5py.File(path, "r") as f:
        g = f["results/numpy-example"]
        check(g.attrs.get("producer") in ("numpy_attention.py", b"numpy_attention.py"),
              label + ": producer attribute")
        check("junk" not in g and "verdict" not in g.attrs, label + ": old group not replaced")
        check("results/other/out" in f, label + ": other results group lost")
        want = {"out", "lse", "dq", "dk", "dv"} if c["do"] is not None else {"out", "lse"}
        check(set(g.keys()) == want, label + ": datasets %s, want %s" % (sorted(g), sorted(want)))
        if set(g.keys()) != want:
            return
        got = {n: g[n][()] for n in g}
        if c["expected"]:
            check("expected/out" in f and "expected/lse" in f, label + ": /expected lost")
    for n, x in got.items():
        check(x.dtype == np.float32, "%s: %s dtype %s" % (label, n, x.dtype))
    rq, rk = real_mask(c["total_q"], c["rows_q"]), real_mask(c["total_kv"], c["rows_kv"])
    out, lse = brute_forward(c, c["q"], c["k"], c["v"])
    check(got["out"].shape == out.shape and got["lse"].shape == lse.shape, label + ": shapes")
    if got["out"].shape != out.shape or got["lse"].shape != lse.shape:
        return
    # Padding rows: exactly zero / -inf.  Real rows that see nothing: same.
    check(np.all(got["out"][~rq] == 0), label + ": out padding rows not 0")
    check(np.all(np.isneginf(got["lse"][:, ~rq])), label + ": lse padding rows not -inf")
    check(np.array_equal(np.isneginf(got["lse"]), np.isneginf(lse)),
          label + ": lse -inf pattern differs")
    fin = np.isfinite(lse)
    checked["out/lse rows"] += int(rq.sum())
    check(not np.isnan(got["lse"]).any() and not np.isnan(got["out"]).any(), label + ": NaN")
    err_o = np.max(np.abs(got["out"] - out), initial=0.0)
    err_l = np.max(np.abs(got["lse"][fin] - lse[fin]), initial=0.0)
    check(err_o < 1e-5 and err_l < 1e-5, "%s: out err %.3g lse err %.3g" % (label, err_o, err_l))
    if c["do"] is None:
        return
    fd = finite_difference(c)
    for name, ref, real in zip(("dq", "dk", "dv"), fd, (rq, rk, rk)):
        x = got[name]
        check(x.shape == ref.shape, "%s: %s shape" % (label, name))
        if x.shape != ref.shape:
            continue
        check(np.all(x[~real] == 0), "%s: %s padding rows not 0" % (label, name))
        err = np.max(np.abs(x - ref), initial=0.0)
        tol = 1e-5 * (1 + np.max(np.abs(ref), initial=0.0))
        check(err < tol, "%s: %s err %.3g vs finite differences (tol %.3g)" % (label, name, err, tol))


# ---------------------------------------------------------------- the cases
def cases():
    rng = np.random.default_rng(20240601)
    fixed = [
        # causal, GQA 4/2, D != Dv, zero-length q and kv, Lq > Lk (rows seeing nothing)
        dict(lens_q=[3, 0, 4, 1, 2], lens_kv=[5, 2, 2, 0, 3], gap_q=[1, 2, 0, 1, 0],
             gap_kv=[0, 1, 2, 0, 1], tail_q=2, tail_kv=1, hq=4, hkv=2, d=5, dv=3, causal=1),
        # sliding window (2, 1) + chunk 3, MQA
        dict(lens_q=[6, 2], lens_kv=[4, 7], gap_q=[2, 1], gap_kv=[1, 0], tail_q=0, tail_kv=3,
             hq=3, hkv=1, d=4, dv=6, wl=2, wr=1, chunk=3, dtype="bfloat16"),
        # causal with a left window and chunks; window_right given as 0
        dict(lens_q=[5, 3], lens_kv=[7, 3], gap_q=[0, 2], gap_kv=[3, 0], tail_q=1, tail_kv=0,
             hq=2, hkv=2, d=3, dv=2, causal=1, wl=1, wr=0, chunk=2, dtype="float16"),
        # no padded arrays, tail padding only, no mask, forward only, /expected kept
        dict(lens_q=[2, 4, 3], lens_kv=[3, 1, 4], gap_q=[0, 0, 0], gap_kv=[0, 0, 0], tail_q=3,
             tail_kv=2, hq=2, hkv=1, d=4, dv=4, padded=False, backward=False, expected=True),
        # non-causal right-only window, chunk attribute absent, Lq < Lk
        dict(lens_q=[2, 3], lens_kv=[6, 5], gap_q=[1, 0], gap_kv=[0, 2], tail_q=1, tail_kv=1,
             hq=2, hkv=1, d=2, dv=3, wr=1, chunk_attr=False, position_ids=False),
        # chunk only with Lq > Lk: negative query positions, floor division
        dict(lens_q=[5, 4], lens_kv=[2, 3], gap_q=[0, 1], gap_kv=[1, 1], tail_q=0, tail_kv=0,
             hq=2, hkv=1, d=3, dv=2, chunk=2),
    ]
    for kw in fixed:
        yield make_case(rng, **kw)
    for _ in range(16):  # random ones
        b = int(rng.integers(1, 5))
        hkv = int(rng.integers(1, 3))
        causal = int(rng.integers(0, 2))
        yield make_case(
            rng, lens_q=list(rng.integers(0, 7, b)), lens_kv=list(rng.integers(0, 7, b)),
            gap_q=list(rng.integers(0, 3, b)), gap_kv=list(rng.integers(0, 3, b)),
            tail_q=int(rng.integers(0, 3)), tail_kv=int(rng.integers(0, 3)),
            hq=hkv * int(rng.integers(1, 4)), hkv=hkv, d=int(rng.integers(1, 5)),
            dv=int(rng.integers(1, 5)), causal=causal, wl=int(rng.choice([-1, 0, 1, 3])),
            wr=int(rng.choice([-1, 0])) if causal else int(rng.choice([-1, 0, 1, 2])),
            chunk=int(rng.choice([0, 0, 2, 3])), dtype=str(rng.choice(["float32", "bfloat16"])))


def run(args):
    p = subprocess.run([sys.executable, EXAMPLE] + args, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def main():
    with tempfile.TemporaryDirectory() as tmp:
        cdir = os.path.join(tmp, "cases")
        os.mkdir(cdir)
        all_cases = list(cases())
        paths = []
        for n, c in enumerate(all_cases):
            paths.append(os.path.join(cdir, "case%02d.h5" % n))
            write_case(paths[-1], c, seed=n)
        # A directory and a repeated file: every file processed, one line each.
        rc, out, err = run([cdir, paths[0]])
        check(rc == 0, "exit %d on valid cases: %s" % (rc, err))
        check(len(out.splitlines()) == len(paths) + 1, "one line per file:\n" + out)
        for n, (c, path) in enumerate(zip(all_cases, paths)):
            compare("case%02d" % n, c, path)
        # Files it cannot read: exit 2, the path named on stderr.
        bad = os.path.join(tmp, "notes.h5")
        with open(bad, "w") as f:
            f.write("not hdf5\n")
        for args in ([bad], [paths[1], bad], [os.path.join(tmp, "missing.h5")], [tmp + "/empty"]):
            if args[0].endswith("empty"):
                os.mkdir(args[0])
            rc, out, err = run(args)
            check(rc == 2 and args[-1] in err, "unreadable %s: exit %d, stderr %r" % (args, rc, err))
        rc, _, _ = run([])
        check(rc == 2, "no arguments: exit %d" % rc)
    print("%d cases (%d real query rows, %d gradient elements by finite differences): %s"
          % (len(all_cases), checked["out/lse rows"], checked["gradient elements"],
             "FAILED (%d)" % len(failures) if failures else "ok"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
