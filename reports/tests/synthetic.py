"""Small synthetic results files (reports/RESULTS-FORMAT.md) built with h5py,
for the report generator's tests."""

import h5py
import numpy as np

STR = h5py.string_dtype("utf-8")
TILE_EDGES = [16, 32, 64, 128]


def root(f, producer="synthetic"):
    f.attrs["format"] = "attncheck-results"
    f.attrs["format_version"] = np.int32(1)
    f.attrs["producer"] = producer


def _row(rows, index, impl, code, name, ratios, outcomes, failure=None, skip_reasons=()):
    g = rows.create_group(f"{index:04d}")
    n = len(ratios)
    outcomes = np.asarray(outcomes, dtype=np.int8)
    g.attrs.update({"impl": impl, "device": "cpu", "code": code, "name": name})
    for k, v in (("cases", n), ("passed", int(np.sum(outcomes == 0))), ("failed", int(np.sum(outcomes == 1))),
                 ("skipped", int(np.sum(outcomes == 2))), ("cut_by_time", 0)):
        g.attrs[k] = np.int32(v)
    finite = [r for r in ratios if not np.isnan(r)]
    g.attrs["worst_ratio"] = float(max(finite, default=0.0))
    g.attrs["seconds"] = 0.01 * n
    g.create_dataset("ratios", data=np.asarray(ratios, dtype=np.float64))
    g.create_dataset("outcomes", data=outcomes)
    g.create_dataset("case_seconds", data=np.linspace(1e-3, 2e-3, n))
    g.create_dataset("skip_reasons", data=[r for r, _ in skip_reasons], dtype=STR)
    g.create_dataset("skip_counts", data=np.asarray([c for _, c in skip_reasons], dtype=np.int32))
    if failure is not None:
        fg = g.create_group("failure")
        fg.attrs.update({
            "diagnosis": failure["diagnosis"],
            "counterexample": "2 docs q=[2,1] kv=[2,1] pad q=[0,1] Hq=2 Hkv=1 D=8 causal float16",
            "shrunk_docs": np.int32(2), "shrunk_tokens": np.int32(6), "cases_to_failure": np.int32(n),
            "reproduce": f"reproduce={impl}/{code}:BAAAAAAA",
            "replay_fuzz": f"attncheck fuzz --impl {impl} --property {code} --reproduce 'BAAAAAAA'",
            "case_file": f"attncheck-failures/seed-1/{impl}-{code}.h5",
            "replay_file": f"attncheck replay attncheck-failures/seed-1/{impl}-{code}.h5 --impl {impl}",
        })
        if failure.get("strip"):
            strip(fg, **failure["strip"])
    return g


def strip(fg, plain_run="fail", grads=True, nonfinite=False):
    s = fg.create_group("strip")
    # Two documents of 2 and 1 q rows, a padding row between, one tail row.
    cu, cu_pad, total_q = [0, 2, 3], [0, 3, 4], 5
    s.attrs.update({"metric": "max_abs_error", "plain_run": plain_run,
                    "plain_run_message": "" if plain_run == "pass" else "out[12]: error 0.3 > bound 1e-3",
                    "total_q": np.int32(total_q), "total_kv": np.int32(total_q)})
    for name, data in (("cu_seqlens_q", cu), ("cu_seqlens_q_padded", cu_pad), ("cu_seqlens_kv", cu),
                       ("cu_seqlens_kv_padded", cu_pad)):
        s.create_dataset(name, data=np.asarray(data, dtype=np.int32))
    if plain_run == "error":
        return
    s.attrs.update({"out_err": 0.3, "out_base_err": 1e-4, "out_bound": 1e-3, "out_ratio": 300.0,
                    "lse_err": 0.1, "lse_base_err": 1e-6, "lse_bound": 1e-5, "lse_ratio": 1e4})
    out = np.array([1e-5, 0.3, 0.2, 0.0, 1e-6])
    if nonfinite:
        out[2] = np.inf
    s.create_dataset("out", data=out)
    s.create_dataset("lse", data=np.array([1e-7, 0.1, 0.0, 0.0, 0.0]))
    if grads:
        s.create_dataset("dq", data=np.array([1e-5, 0.2, 0.0, 0.0, 0.0]))
        s.create_dataset("dk", data=np.array([1e-5, 0.4, 0.0, 0.1, 0.0]))
        s.create_dataset("dv", data=np.array([1e-5, 0.2, 0.0, 0.0, 0.0]))


def generated(c, n):
    g = c.create_group("generated")
    rng = np.random.default_rng(1)
    docs = rng.integers(1, 5, n)
    lengths = rng.integers(0, 140, int(docs.sum()))
    g.create_dataset("docs", data=docs.astype(np.int32))
    totals = np.array([lengths[int(docs[:i].sum()):int(docs[:i + 1].sum())].sum() + 3 for i in range(n)])
    for k, v in (("total_q", totals), ("total_kv", totals), ("heads_q", np.full(n, 4)),
                 ("heads_kv", rng.choice([1, 2, 4], n)), ("head_dim", rng.choice([8, 24, 64, 256], n)),
                 ("head_dim_v", np.full(n, 64)), ("position_ids", rng.integers(0, 2, n))):
        g.create_dataset(k, data=np.asarray(v, dtype=np.int32))
    g.create_dataset("dtype", data=rng.choice(["float32", "bfloat16", "float16"], n).tolist(), dtype=STR)
    g.create_dataset("mask", data=rng.choice(["none", "causal", "window"], n).tolist(), dtype=STR)
    g.create_dataset("values", data=rng.choice(["gaussian", "heavy-tail"], n).tolist(), dtype=STR)
    g.create_dataset("lengths_q", data=lengths.astype(np.int32))
    g.create_dataset("lengths_kv", data=lengths.astype(np.int32))


def campaign(f, failing=False, with_generated=True, with_coverage=True):
    c = f.create_group("campaign")
    n = 8
    c.attrs.update({"seed": np.uint64(1), "cases_per_row": np.int32(n), "max_tokens": np.int32(512),
                    "max_head_dim": np.int32(256), "dtypes": "float32,bfloat16,float16", "time_budget_s": 0.0,
                    "reproduce": "", "seconds": 1.5})
    c.create_dataset("tile_edges", data=np.asarray(TILE_EDGES, dtype=np.int32))
    rows = c.create_group("rows")
    rng = np.random.default_rng(2)
    ok = list(10.0 ** rng.uniform(-4, -0.5, n))
    k = 0
    total, failed = 0, 0
    for impl in ("reference-f32", "flash"):
        for code, name in (("P1", "forward"), ("P2", "backward"), ("P3", "padding-zero")):
            ratios = ok if code != "P3" else [0.0] * n
            outcomes = [0] * n
            failure = None
            skips = ()
            if code == "P2" and impl == "reference-f32":
                ratios = list(ratios[:-2]) + [float("nan")] * 2
                outcomes = [0] * (n - 2) + [2, 2]
                skips = (("no backward for this dtype", 2),)
            if failing and impl == "flash" and code == "P1":
                ratios = list(ok[:3]) + [42.0]
                outcomes = [0, 0, 0, 1]
                failure = {"diagnosis": "out[12] error 0.3 exceeds bound 1e-3 (ratio 300)",
                           "strip": {"plain_run": "fail", "grads": True, "nonfinite": True}}
            if failing and impl == "flash" and code == "P3":
                ratios = [0.0, float("inf")]
                outcomes = [0, 1]
                failure = {"diagnosis": "padding row 2 of out is 0.5, expected 0",
                           "strip": {"plain_run": "fail", "grads": False}}
            _row(rows, k, impl, code, name, ratios, outcomes, failure, skips)
            total += len(ratios)
            failed += int(failure is not None)
            k += 1
    if failing:
        # A failure whose plain run threw, and one recorded without a strip.
        _row(rows, k, "ring-cp2-flash", "P8", "sharding", [0.1, float("inf")], [0, 1],
             {"diagnosis": "rank 1 threw", "strip": {"plain_run": "error"}})
        _row(rows, k + 1, "ring-cp2-flash", "P10", "determinism", [0.0], [1],
             {"diagnosis": "two runs differ at out[3]"})
        total += 3
        failed += 2
    c.attrs["total_cases"] = np.int32(total)
    c.attrs["total_failed"] = np.int32(failed)
    if with_coverage:
        cov = c.create_group("coverage")
        cov.create_dataset("features", data=["docs=1", "docs=2..4", "tail padding", "group=2", "mask causal"],
                           dtype=STR)
        cov.create_dataset("counts", data=np.asarray([2, 6, 3, 4, 5], dtype=np.int32))
    if with_generated:
        generated(c, n)


def golden(f, failing=False):
    g = f.create_group("golden")
    impls = ["reference-f64", "reference-f32", "flash"]
    cases = [f"case-{i:02d}" for i in range(6)]
    status = np.zeros((3, 6), dtype=np.int8)
    status[2, 4] = 2
    ratio = np.full((3, 6), 0.2)
    ratio[2, 4] = np.nan
    fails = []
    if failing:
        status[2, 1] = 1
        ratio[2, 1] = 7.0
        status[1, 5] = 3
        fails = [("flash", "case-01", "P1 forward", "out[3] error 7x the bound"),
                 ("reference-f32", "case-05", "run", "threw: out of memory")]
    g.attrs.update({"dir": "golden", "verdict": "fail" if failing else "pass"})
    g.create_dataset("implementations", data=impls, dtype=STR)
    g.create_dataset("cases", data=cases, dtype=STR)
    g.create_dataset("status", data=status)
    g.create_dataset("ratio", data=ratio)
    g.create_dataset("seconds", data=np.array([0.1, 0.5, 2.0]))
    fg = g.create_group("failures")
    for k, col in enumerate(("impl", "case", "check", "detail")):
        fg.create_dataset(col, data=[x[k] for x in fails], dtype=STR)


def loss(f, failing=False, steps=30):
    g = f.create_group("loss")
    # As harness/train/results.cpp writes it: the reference's group carries
    # verdict "reference".
    g.attrs.update({"steps": np.int32(steps), "seed": np.uint64(5), "bound": "|diff| <= 1e-3 at every step",
                    "reference": "reference", "model": "2 layers, d=32, 4 heads"})
    x = np.arange(steps)
    ref = 4.0 * np.exp(-x / 10) + 1.0
    curves = {"reference": ref, "flash": ref + 1e-5 * np.sin(x),
              "reference-f32": ref + (0.02 * x / steps if failing else 2e-6 * np.cos(x))}
    for name, y in curves.items():
        cg = g.create_group(name)
        cg.create_dataset("loss", data=y)
        d = float(np.max(np.abs(y - ref)))
        if name == "reference":
            cg.attrs.update({"verdict": "reference", "max_abs_diff": 0.0, "message": "the reference run"})
        else:
            cg.attrs.update({"verdict": "fail" if d > 1e-3 else "pass", "max_abs_diff": d,
                             "message": f"max |diff| {d:.3g}" + (" exceeds 1e-3" if d > 1e-3 else "")})


def zoo(f):
    g = f.create_group("zoo")
    for name, killed, prop, cases in (("doc-leak", 1, "P5", 3), ("fwd-pad-garbage", 1, "P3", 1),
                                      ("causal-top-left", 1, "P1", 17), ("race", 0, "", 0)):
        m = g.create_group(name)
        m.attrs.update({"killed": np.int32(killed), "property": prop, "cases_to_failure": np.int32(cases),
                        "shrunk_docs": np.int32(2 if killed else 0), "shrunk_tokens": np.int32(5 if killed else 0),
                        "seconds": 0.4, "description": f"the {name} mutant"})


def replay_campaign(f):
    """A `fuzz --reproduce` run: one row, no generated case counted, one failure."""
    c = f.create_group("campaign")
    c.attrs.update({"seed": np.uint64(1), "cases_per_row": np.int32(200), "max_tokens": np.int32(512),
                    "max_head_dim": np.int32(256), "dtypes": "float32", "time_budget_s": 0.0,
                    "reproduce": "reproduce=flash/P1:BAAAAAAA", "seconds": 0.2, "total_cases": np.int32(0),
                    "total_failed": np.int32(1)})
    c.create_dataset("tile_edges", data=np.asarray(TILE_EDGES, dtype=np.int32))
    g = _row(c.create_group("rows"), 0, "flash", "P1", "forward", [], [],
             {"diagnosis": "out error", "strip": {"plain_run": "fail"}})
    g.attrs["failed"] = np.int32(1)
