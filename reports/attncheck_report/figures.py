"""The report's matplotlib figures, written as PNG files.

Each function draws one figure into `out_dir` and returns its file name, or
None when there is nothing to draw. PNGs carry no software/version metadata,
so the same results give the same images.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .results import ERROR, FAIL, PASS, SKIP  # noqa: E402

GREEN, RED, GREY, AMBER, WHITE = "#4caf50", "#e53935", "#bdbdbd", "#ffb300", "#ffffff"
DPI = 100


def _save(fig, out_dir, name):
    fig.savefig(os.path.join(out_dir, name), dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return name


def property_order(codes):
    """P1, P2, ..., P10 in numeric order; anything else after, by name."""
    def key(c):
        return (0, int(c[1:]), c) if c[:1] == "P" and c[1:].isdigit() else (1, 0, c)
    return sorted(set(codes), key=key)


def unique(seq):
    return list(dict.fromkeys(seq))


# Categories of the verdict matrix.
NA, V_PASS, V_FAIL, V_SKIP = 0, 1, 2, 3


def verdict_cell(row):
    if row["failed"] > 0:
        return V_FAIL
    if row["passed"] == 0:
        return V_SKIP
    return V_PASS


def verdict_matrix(rows, out_dir):
    impls = unique(r["impl"] for r in rows)
    codes = property_order(r["code"] for r in rows)
    if not impls or not codes:
        return None
    m = np.full((len(impls), len(codes)), NA)
    text = {}
    for r in rows:
        i, j = impls.index(r["impl"]), codes.index(r["code"])
        m[i, j] = verdict_cell(r)
        label = "FAIL" if r["failed"] else f"{r['passed']}/{r['cases']}"
        text[i, j] = label + (" t" if r["cut_by_time"] else "")
    names = {r["code"]: r["name"] for r in rows}
    fig, ax = plt.subplots(figsize=(2.5 + 0.9 * len(codes), 1.4 + 0.32 * len(impls)))
    ax.imshow(m, cmap=ListedColormap([WHITE, GREEN, RED, GREY]), vmin=0, vmax=3, aspect="auto")
    for (i, j), t in text.items():
        ax.text(j, i, t, ha="center", va="center", fontsize=7, color="black")
    ax.set_xticks(range(len(codes)), [f"{c}\n{names[c]}" for c in codes], fontsize=7)
    ax.set_yticks(range(len(impls)), impls, fontsize=8)
    ax.set_xticks(np.arange(-0.5, len(codes)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(impls)), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    ax.xaxis.tick_top()
    ax.legend(handles=[Patch(color=GREEN, label="held (passed/cases)"), Patch(color=RED, label="failed"),
                       Patch(color=GREY, label="skipped on every case"),
                       Patch(facecolor=WHITE, edgecolor="black", label="not applicable")],
              loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=4, fontsize=7, frameon=False)
    fig.tight_layout()
    return _save(fig, out_dir, "verdicts.png")


def ratio_samples(rows):
    """impl -> (finite positive ratios, count of exact zeros, count of +inf)."""
    out = {}
    for r in rows:
        x = r["ratios"]
        x = x[~np.isnan(x)]
        pos, zeros, infs = out.get(r["impl"], ([], 0, 0))
        pos = pos + list(x[np.isfinite(x) & (x > 0)])
        out[r["impl"]] = (pos, zeros + int(np.sum(x == 0)), infs + int(np.sum(np.isinf(x))))
    return out


def ratio_distribution(rows, out_dir):
    samples = ratio_samples(rows)
    impls = [i for i in unique(r["impl"] for r in rows) if samples[i][0] or samples[i][2]]
    if not impls:
        return None
    fig, ax = plt.subplots(figsize=(9, 1.3 + 0.42 * len(impls)))
    rng = np.random.default_rng(0)  # fixed jitter: the same results draw the same points
    top = max([max(samples[i][0]) for i in impls if samples[i][0]] + [1.0]) * 4
    for k, impl in enumerate(impls):
        pos, _, infs = samples[impl]
        if pos:
            ax.boxplot([pos], positions=[k], vert=False, widths=0.55, showfliers=False,
                       medianprops={"color": "black"})
            y = k + rng.uniform(-0.2, 0.2, len(pos))
            colors = [RED if v > 1 else "#1e88e5" for v in pos]
            ax.scatter(pos, y, s=6, c=colors, alpha=0.5, linewidths=0)
        if infs:
            ax.scatter([top] * infs, [k] * infs, marker=">", s=30, c=RED)
    ax.axvline(1.0, color=RED, linestyle="--", linewidth=1)
    ax.text(1.0, len(impls) - 0.4, " bound (ratio 1)", color=RED, fontsize=7, va="bottom")
    ax.set_xscale("log")
    ax.set_yticks(range(len(impls)), impls, fontsize=8)
    ax.set_ylim(-0.6, len(impls) - 0.2)
    ax.invert_yaxis()
    ax.set_xlabel("error / bound per generated case (bound = rtol x baseline error + floors; "
                  "right-pointing marks: non-finite)", fontsize=8)
    ax.grid(axis="x", which="major", alpha=0.3)
    fig.tight_layout()
    return _save(fig, out_dir, "ratios.png")


def segments(cu, padded, total):
    """[(start, end, label)] of documents and padding covering rows [0, total)."""
    out, pos = [], 0
    for i in range(len(cu) - 1):
        start, length = int(padded[i]), int(cu[i + 1] - cu[i])
        if start > pos:
            out.append((pos, start, "padding"))
        out.append((start, start + length, f"doc {i}"))
        pos = start + length
    if pos < total:
        out.append((pos, total, "padding"))
    return out


def _strip_panel(ax, series, cu, padded, total, floor, title):
    padding = [(a, b) for a, b, label in segments(cu, padded, total) if label == "padding" and b > a]
    for start, end in padding:
        ax.axvspan(start - 0.5, end - 0.5, color=GREY, alpha=0.45, linewidth=0)
    for i in range(len(cu) - 1):
        ax.axvline(int(padded[i]) - 0.5, color="black", linewidth=1)
        ax.text(int(padded[i]) - 0.45, 0.97, f"doc {i}", transform=ax.get_xaxis_transform(), fontsize=7,
                va="top", bbox={"facecolor": "white", "edgecolor": "none", "pad": 1, "alpha": 0.8})
    markers = {"out": "o", "lse": "s", "dq": "^", "dk": "o", "dv": "s"}
    ceiling = floor
    for name, y in series:
        finite = y[np.isfinite(y)]
        if finite.size:
            ceiling = max(ceiling, float(finite.max()))
    ceiling *= 10
    for name, y in series:
        x = np.arange(len(y))
        shown = np.where(np.isfinite(y), np.maximum(y, floor), ceiling)
        ax.plot(x, shown, marker=markers.get(name, "o"), markersize=4, linewidth=1, drawstyle="steps-mid",
                label=name)
        bad = ~np.isfinite(y)
        if bad.any():
            ax.scatter(x[bad], shown[bad], marker="x", s=60, c=RED, zorder=5)
    ax.set_yscale("log")
    ax.set_ylim(floor / 3, ceiling * 3)
    ax.set_xlim(-0.5, max(total, 1) - 0.5)
    if total <= 24:
        ax.set_xticks(range(max(total, 1)))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("max |impl - ref64|", fontsize=8)
    ax.set_title(title, fontsize=9, loc="left")
    handles, _ = ax.get_legend_handles_labels()
    if padding:
        handles.append(Patch(color=GREY, alpha=0.45, label="padding rows"))
    ax.legend(handles=handles, fontsize=7, loc="upper right")


def error_strip(row, out_dir):
    s = row["failure"]["strip"]
    if s is None or s["out"] is None:
        return None
    floor = 1e-12
    kv = s["dk"] is not None
    fig, axes = plt.subplots(2 if kv else 1, 1, figsize=(10, 5.6 if kv else 3.2), squeeze=False)
    q_series = [("out", s["out"]), ("lse", s["lse"])] + ([("dq", s["dq"])] if s["dq"] is not None else [])
    _strip_panel(axes[0][0], q_series, s["cu_seqlens_q"], s["cu_seqlens_q_padded"], s["total_q"], floor,
                 f"q rows: {row['impl']} on the shrunk case of {row['code']} ({row['name']}), plain run: "
                 f"{s['plain_run']}")
    bound = s["metrics"].get("out_bound")
    if bound is not None and bound > 0:
        axes[0][0].axhline(bound, color=AMBER, linestyle="--", linewidth=1)
        axes[0][0].text(0, bound, "bound of out at its worst element", color="#8d6e00", fontsize=7,
                        va="bottom")
    axes[-1][0].set_xlabel("token row (grey: padding rows; vertical lines: document starts; "
                           "x: non-finite; values below 1e-12 drawn at 1e-12)", fontsize=8)
    if kv:
        _strip_panel(axes[1][0], [("dk", s["dk"]), ("dv", s["dv"])], s["cu_seqlens_kv"],
                     s["cu_seqlens_kv_padded"], s["total_kv"], floor, "kv rows")
    fig.tight_layout()
    return _save(fig, out_dir, f"strip-{row['index']}.png")


def loss_curves(loss, out_dir):
    curves = loss["curves"]
    if not curves:
        return None
    ref = next((c for c in curves if c["name"] == loss["reference"]), None)
    fig, axes = plt.subplots(1, 2 if ref is not None else 1, figsize=(12 if ref is not None else 7, 4),
                             squeeze=False)
    ax = axes[0][0]
    for c in curves:
        is_ref = ref is not None and c is ref
        ax.plot(np.arange(len(c["loss"])), c["loss"], linewidth=2.5 if is_ref else 1.2,
                color="black" if is_ref else None, label=c["name"] + (" (reference)" if is_ref else ""))
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("loss curves", fontsize=9, loc="left")
    ax.legend(fontsize=7)
    if ref is not None:
        ax = axes[0][1]
        for c in curves:
            if c is ref:
                continue
            n = min(len(c["loss"]), len(ref["loss"]))
            ax.plot(np.arange(n), c["loss"][:n] - ref["loss"][:n], linewidth=1.2,
                    color=RED if c["verdict"] != "pass" else None, label=f"{c['name']} ({c['verdict'] or '-'})")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xlabel("step")
        ax.set_ylabel(f"loss - {ref['name']} loss")
        ax.set_title("differences from the reference", fontsize=9, loc="left")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, out_dir, "loss.png")


def golden_matrix(golden, out_dir):
    impls, cases = golden["implementations"], golden["cases"]
    if not impls or not cases:
        return None
    st = golden["status"]
    cat = np.select([st == PASS, st == FAIL, st == SKIP, st == ERROR], [1, 2, 3, 4], 0)
    fig, ax = plt.subplots(figsize=(3 + 0.22 * len(cases), 1.8 + 0.3 * len(impls)))
    ax.imshow(cat, cmap=ListedColormap([WHITE, GREEN, RED, GREY, AMBER]), vmin=0, vmax=4, aspect="auto")
    ax.set_xticks(range(len(cases)), cases, rotation=90, fontsize=6)
    ax.set_yticks(range(len(impls)), impls, fontsize=8)
    ax.set_xticks(np.arange(-0.5, len(cases)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(impls)), minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="minor", length=0)
    ax.legend(handles=[Patch(color=GREEN, label="pass"), Patch(color=RED, label="fail"),
                       Patch(color=GREY, label="skip (unsupported)"), Patch(color=AMBER, label="error")],
              loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, fontsize=7, frameon=False)
    fig.tight_layout()
    return _save(fig, out_dir, "golden.png")


def zoo_chart(zoo, out_dir):
    ms = zoo["mutants"]
    if not ms:
        return None
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.35 * len(ms)))
    for k, m in enumerate(ms):
        if m["killed"]:
            ax.barh(k, max(m["cases_to_failure"], 1), color=GREEN)
            ax.text(max(m["cases_to_failure"], 1), k, f"  {m['property']}", va="center", fontsize=7)
        else:
            ax.text(1, k, "  survived", va="center", fontsize=8, color=RED, fontweight="bold")
    ax.set_xscale("log")
    ax.set_xlim(0.8, max([m["cases_to_failure"] for m in ms] + [10]) * 5)
    ax.set_yticks(range(len(ms)), [m["name"] for m in ms], fontsize=8)
    ax.set_ylim(len(ms) - 0.5, -0.5)  # first mutant on top, every row inside the axes
    ax.set_xlabel("generated cases until the property killed the mutant (label: the property)", fontsize=8)
    fig.tight_layout()
    return _save(fig, out_dir, "zoo.png")


def _bars(ax, labels, counts, title):
    ax.bar(range(len(labels)), counts, color="#1e88e5")
    ax.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 4 else 0, ha="right"
                  if len(labels) > 4 else "center", fontsize=7)
    ax.set_title(title, fontsize=9, loc="left")
    ax.set_ylabel("cases", fontsize=7)


def _counts(values):
    keys = sorted(set(values), key=lambda v: (isinstance(v, str), v))
    return [str(k) for k in keys], [sum(1 for v in values if v == k) for k in keys]


def coverage(gen, tile_edges, out_dir):
    if gen is None or len(gen["docs"]) == 0:
        return None
    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    ax = axes[0][0]
    docs = gen["docs"]
    ax.hist(docs, bins=np.arange(docs.min(), docs.max() + 2) - 0.5, color="#1e88e5")
    ax.set_title("documents per batch", fontsize=9, loc="left")
    ax.set_ylabel("cases", fontsize=7)
    ax = axes[0][1]
    offsets = np.concatenate([[0], np.cumsum(docs)])
    real = np.array([gen["lengths_q"][offsets[i]:offsets[i + 1]].sum() for i in range(len(docs))])
    frac = 1.0 - real / np.maximum(gen["total_q"], 1)
    ax.hist(frac, bins=np.linspace(0, 1, 21), color="#1e88e5")
    ax.set_title(f"padding rows / q rows ({int(np.sum(frac > 0))} of {len(frac)} cases padded)",
                 fontsize=9, loc="left")
    ax.set_ylabel("cases", fontsize=7)
    _bars(axes[0][2], *_counts([int(q // max(k, 1)) for q, k in zip(gen["heads_q"], gen["heads_kv"])]),
          "GQA ratio Hq / Hkv")
    _bars(axes[0][3], *_counts([int(d) for d in gen["head_dim"]]), "head dim D")
    _bars(axes[1][0], *_counts(gen["dtype"]), "storage dtype")
    _bars(axes[1][1], *_counts(gen["mask"]), "mask")
    _bars(axes[1][2], *_counts(gen["values"]), "value distribution")
    ax = axes[1][3]
    lengths = np.concatenate([gen["lengths_q"], gen["lengths_kv"]])
    near = sum(1 for v in lengths if any(abs(int(v) - t) <= 1 for t in tile_edges))
    top = int(max(lengths.max(initial=0), max(tile_edges, default=0) + 2))
    for t in tile_edges:
        ax.axvspan(t - 1.5, t + 1.5, color=AMBER, alpha=0.35, linewidth=0)
    width = max(1, top // 256)
    ax.hist(lengths, bins=np.arange(0, top + width + 1, width) - 0.5, color="#1e88e5")
    ax.set_xlim(-1, top + 1)
    ax.set_title(f"document lengths (q and kv); amber: tile edges +-1\n{near} of {len(lengths)} "
                 "lengths within +-1 of an edge", fontsize=9, loc="left")
    ax.set_xlabel("length", fontsize=7)
    ax.set_ylabel("documents", fontsize=7)
    for row in axes:
        for a in row:
            a.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return _save(fig, out_dir, "coverage.png")


def timings(rows, out_dir):
    impls = unique(r["impl"] for r in rows)
    codes = property_order(r["code"] for r in rows)
    if not impls:
        return None
    per_case = [np.concatenate([r["case_seconds"] for r in rows if r["impl"] == i]) for i in impls]
    per_case = [x[x > 0] for x in per_case]
    has_cases = any(x.size for x in per_case)  # a --reproduce run evaluates no generated case
    fig, axes = plt.subplots(1, 2 if has_cases else 1, figsize=(14 if has_cases else 8, 1.6 + 0.38 * len(impls)),
                             squeeze=False)
    axes = axes[0]
    ax = axes[0]
    left = np.zeros(len(impls))
    cmap = plt.get_cmap("tab20")
    for j, code in enumerate(codes):
        secs = np.array([sum(r["seconds"] for r in rows if r["impl"] == i and r["code"] == code) for i in impls])
        ax.barh(range(len(impls)), secs, left=left, color=cmap(j % 20), label=code)
        left += secs
    ax.set_yticks(range(len(impls)), impls, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds per implementation, by property (shrinking included)", fontsize=8)
    ax.legend(fontsize=6, ncol=1 + len(codes) // 8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if not has_cases:
        fig.tight_layout()
        return _save(fig, out_dir, "timings.png")
    ax = axes[1]
    data = [x if x.size else np.array([np.nan]) for x in per_case]
    ax.boxplot(data, vert=False, showfliers=True, flierprops={"markersize": 2})
    ax.set_yticks(range(1, len(impls) + 1), impls, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("seconds per generated case (every property)", fontsize=8)
    fig.tight_layout()
    return _save(fig, out_dir, "timings.png")
