"""Reading an attncheck results file (reports/RESULTS-FORMAT.md, version 1).

Every group except the root attributes is optional; what a group defines is
checked (type and shape) and anything else is ignored. A malformed file raises
ResultsError naming the file, the object and what was expected.
"""

import h5py
import numpy as np

FORMAT_NAME = "attncheck-results"
FORMAT_VERSION = 1

# Outcome codes of generated cases and golden cells.
PASS, FAIL, SKIP, ERROR = 0, 1, 2, 3
OUTCOME_NAMES = {PASS: "pass", FAIL: "fail", SKIP: "skip", ERROR: "error"}


class ResultsError(Exception):
    """A results file that does not follow RESULTS-FORMAT.md."""


class _Reader:
    def __init__(self, path, f):
        self.path = path
        self.f = f

    def fail(self, obj, what):
        raise ResultsError(f"{self.path}: {obj}: {what}")

    def group(self, path):
        if path not in self.f:
            return None
        g = self.f[path]
        if not isinstance(g, h5py.Group):
            self.fail(path, "is not a group; expected a group")
        return g

    def attr(self, obj, name, kind, default=KeyError):
        where = f"{obj.name}@{name}"
        if name not in obj.attrs:
            if default is KeyError:
                self.fail(where, f"attribute is missing; expected {kind}")
            return default
        value = obj.attrs[name]
        if kind == "string":
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            elif isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "SO":
                value = value.item()
                value = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            if not isinstance(value, str):
                self.fail(where, f"has type {type(value).__name__}; expected a string")
            return value
        arr = np.asarray(value)
        if arr.size != 1:
            self.fail(where, f"has {arr.size} elements; expected one {kind}")
        if kind == "int":
            if arr.dtype.kind not in "iu":
                self.fail(where, f"has dtype {arr.dtype}; expected an integer")
            return int(arr.reshape(()))
        if arr.dtype.kind not in "iuf":
            self.fail(where, f"has dtype {arr.dtype}; expected a number")
        return float(arr.reshape(()))

    def dataset(self, group, name, kind, shape=None, required=True):
        """kind: 'float', 'int' or 'string'; shape: tuple with None for any extent."""
        where = f"{group.name}/{name}".replace("//", "/")
        if name not in group:
            if required:
                self.fail(where, f"dataset is missing; expected {kind} {shape_text(shape)}")
            return None
        d = group[name]
        if not isinstance(d, h5py.Dataset):
            self.fail(where, "is not a dataset; expected a dataset")
        if shape is not None:
            if len(d.shape) != len(shape) or any(w is not None and w != s for s, w in zip(d.shape, shape)):
                self.fail(where, f"has shape {list(d.shape)}; expected {shape_text(shape)}")
        if kind == "string":
            if d.dtype.kind not in "SO" or h5py.check_string_dtype(d.dtype) is None:
                self.fail(where, f"has dtype {d.dtype}; expected strings")
            return [str(x) for x in d.asstr()[()].reshape(-1)] if d.size else []
        if kind == "int" and d.dtype.kind not in "iu":
            self.fail(where, f"has dtype {d.dtype}; expected integers")
        if kind == "float" and d.dtype.kind not in "iuf":
            self.fail(where, f"has dtype {d.dtype}; expected numbers")
        return np.asarray(d[()], dtype=np.float64 if kind == "float" else np.int64)


def shape_text(shape):
    if shape is None:
        return "(any shape)"
    return "[" + ", ".join("n" if s is None else str(s) for s in shape) + "]"


def load(path):
    """Returns a dict: path, producer, and campaign, golden, loss, zoo (None when absent)."""
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ResultsError(f"{path}: file: cannot be opened as HDF5 ({e})") from None
    with f:
        r = _Reader(path, f)
        fmt = r.attr(f["/"], "format", "string")
        if fmt != FORMAT_NAME:
            r.fail("/@format", f"is '{fmt}'; expected '{FORMAT_NAME}' (a case file is read by "
                               "`attncheck replay`, not by the report)")
        version = r.attr(f["/"], "format_version", "int")
        if version != FORMAT_VERSION:
            r.fail("/@format_version", f"is {version}; this report reads format_version {FORMAT_VERSION}")
        return {
            "path": path,
            "producer": r.attr(f["/"], "producer", "string", ""),
            "campaign": _campaign(r),
            "golden": _golden(r),
            "loss": _loss(r),
            "zoo": _zoo(r),
        }


def _campaign(r):
    g = r.group("/campaign")
    if g is None:
        return None
    c = {
        "seed": r.attr(g, "seed", "int"),
        "cases_per_row": r.attr(g, "cases_per_row", "int"),
        "max_tokens": r.attr(g, "max_tokens", "int"),
        "max_head_dim": r.attr(g, "max_head_dim", "int"),
        "dtypes": r.attr(g, "dtypes", "string"),
        "time_budget_s": r.attr(g, "time_budget_s", "float"),
        "reproduce": r.attr(g, "reproduce", "string", ""),
        "total_cases": r.attr(g, "total_cases", "int"),
        "total_failed": r.attr(g, "total_failed", "int"),
        "seconds": r.attr(g, "seconds", "float"),
        "tile_edges": [int(x) for x in r.dataset(g, "tile_edges", "int", (None,))],
        "rows": [],
    }
    rows = r.group("/campaign/rows")
    if rows is None:
        r.fail("/campaign/rows", "group is missing; expected one group per row")
    for key in sorted(rows.keys()):
        c["rows"].append(_row(r, rows[key]))
    cov = r.group("/campaign/coverage")
    c["coverage"] = []
    if cov is not None:
        feats = r.dataset(cov, "features", "string", (None,))
        counts = r.dataset(cov, "counts", "int", (len(feats),))
        c["coverage"] = [(f, int(n)) for f, n in zip(feats, counts)]
    c["generated"] = _generated(r)
    return c


def _row(r, g):
    row = {k: r.attr(g, k, "string") for k in ("impl", "device", "code", "name")}
    for k in ("cases", "passed", "failed", "skipped"):
        row[k] = r.attr(g, k, "int")
    row["worst_ratio"] = r.attr(g, "worst_ratio", "float")
    row["seconds"] = r.attr(g, "seconds", "float")
    row["cut_by_time"] = bool(r.attr(g, "cut_by_time", "int", 0))
    n = row["cases"]
    row["ratios"] = r.dataset(g, "ratios", "float", (n,))
    row["outcomes"] = r.dataset(g, "outcomes", "int", (n,))
    row["case_seconds"] = r.dataset(g, "case_seconds", "float", (n,))
    reasons = r.dataset(g, "skip_reasons", "string", (None,), required=False) or []
    counts = r.dataset(g, "skip_counts", "int", (len(reasons),), required=False)
    row["skip_reasons"] = list(zip(reasons, [int(x) for x in counts])) if reasons else []
    row["index"] = g.name.rsplit("/", 1)[-1]
    row["failure"] = None
    if "failure" in g:
        fg = g["failure"]
        fail = {k: r.attr(fg, k, "string", "") for k in
                ("diagnosis", "counterexample", "reproduce", "replay_fuzz", "case_file", "replay_file")}
        for k in ("shrunk_docs", "shrunk_tokens", "cases_to_failure"):
            fail[k] = r.attr(fg, k, "int", 0)
        fail["strip"] = _strip(r, fg["strip"]) if "strip" in fg else None
        row["failure"] = fail
    return row


def _strip(r, g):
    s = {
        "metric": r.attr(g, "metric", "string"),
        "plain_run": r.attr(g, "plain_run", "string"),
        "plain_run_message": r.attr(g, "plain_run_message", "string", ""),
        "total_q": r.attr(g, "total_q", "int"),
        "total_kv": r.attr(g, "total_kv", "int"),
        "metrics": {},
    }
    for name in g.attrs:
        for t in ("out", "lse", "dq", "dk", "dv"):
            if name.startswith(t + "_"):
                s["metrics"][name] = r.attr(g, name, "float")
    cu = r.dataset(g, "cu_seqlens_q", "int", (None,))
    b1 = (len(cu),)
    s["cu_seqlens_q"] = cu
    for name in ("cu_seqlens_q_padded", "cu_seqlens_kv", "cu_seqlens_kv_padded"):
        s[name] = r.dataset(g, name, "int", b1)
    nq, nkv = (s["total_q"],), (s["total_kv"],)
    required = s["plain_run"] != "error"
    s["out"] = r.dataset(g, "out", "float", nq, required)
    s["lse"] = r.dataset(g, "lse", "float", nq, required)
    s["dq"] = r.dataset(g, "dq", "float", nq, False)
    grads = s["dq"] is not None
    s["dk"] = r.dataset(g, "dk", "float", nkv, grads)
    s["dv"] = r.dataset(g, "dv", "float", nkv, grads)
    return s


def _generated(r):
    g = r.group("/campaign/generated")
    if g is None:
        return None
    docs = r.dataset(g, "docs", "int", (None,))
    n = (len(docs),)
    out = {"docs": docs}
    for k in ("total_q", "total_kv", "heads_q", "heads_kv", "head_dim", "head_dim_v", "position_ids"):
        out[k] = r.dataset(g, k, "int", n)
    for k in ("dtype", "mask", "values"):
        out[k] = r.dataset(g, k, "string", n)
    total = (int(docs.sum()),)
    out["lengths_q"] = r.dataset(g, "lengths_q", "int", total)
    out["lengths_kv"] = r.dataset(g, "lengths_kv", "int", total)
    return out


def _golden(r):
    g = r.group("/golden")
    if g is None:
        return None
    impls = r.dataset(g, "implementations", "string", (None,))
    cases = r.dataset(g, "cases", "string", (None,))
    shape = (len(impls), len(cases))
    out = {
        "dir": r.attr(g, "dir", "string", ""),
        "verdict": r.attr(g, "verdict", "string"),
        "implementations": impls,
        "cases": cases,
        "status": r.dataset(g, "status", "int", shape),
        "ratio": r.dataset(g, "ratio", "float", shape),
        "seconds": r.dataset(g, "seconds", "float", (len(impls),)),
        "failures": [],
    }
    fg = r.group("/golden/failures")
    if fg is not None:
        cols = [r.dataset(fg, k, "string", (None,)) for k in ("impl", "case", "check", "detail")]
        if len({len(c) for c in cols}) > 1:
            r.fail("/golden/failures", "impl, case, check and detail have different lengths")
        out["failures"] = list(zip(*cols))
    return out


def _first_attr(r, g, names, kind, default):
    for n in names:
        if n in g.attrs:
            return r.attr(g, n, kind)
    return default


def _loss(r):
    g = r.group("/loss")
    if g is None:
        return None
    out = {
        "steps": r.attr(g, "steps", "int", None),
        "seed": r.attr(g, "seed", "int", None),
        "bound": _first_attr(r, g, ("bound", "bound_description"), "string", ""),
        "reference": _first_attr(r, g, ("reference", "reference_name"), "string", ""),
        "model": r.attr(g, "model", "string", ""),
        "curves": [],
    }
    for name in sorted(g.keys()):
        cg = g[name]
        if not isinstance(cg, h5py.Group):
            continue
        loss = r.dataset(cg, "loss", "float", (None,) if out["steps"] is None else (out["steps"],))
        out["curves"].append({
            "name": name,
            "loss": loss,
            "verdict": r.attr(cg, "verdict", "string", ""),
            "max_abs_diff": r.attr(cg, "max_abs_diff", "float", float("nan")),
            "message": r.attr(cg, "message", "string", ""),
        })
    names = [c["name"] for c in out["curves"]]
    if out["reference"] and out["reference"] not in names:
        r.fail("/loss@reference", f"names '{out['reference']}', which is not a group of /loss "
                                  f"(present: {', '.join(names) or 'none'})")
    return out


def _zoo(r):
    g = r.group("/zoo")
    if g is None:
        return None
    mutants = []
    for name in sorted(g.keys()):
        m = g[name]
        if not isinstance(m, h5py.Group):
            continue
        mutants.append({
            "name": name,
            "killed": bool(r.attr(m, "killed", "int")),
            "property": r.attr(m, "property", "string", ""),
            "cases_to_failure": r.attr(m, "cases_to_failure", "int", 0),
            "shrunk_docs": r.attr(m, "shrunk_docs", "int", 0),
            "shrunk_tokens": r.attr(m, "shrunk_tokens", "int", 0),
            "seconds": r.attr(m, "seconds", "float", float("nan")),
            "description": r.attr(m, "description", "string", ""),
        })
    return {"mutants": mutants}
