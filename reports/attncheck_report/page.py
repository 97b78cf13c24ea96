"""The report page: plain HTML with inline CSS, no JavaScript, no network
resources. Every figure has a table (or text) beside it with the same facts,
so the page reads in a text browser too."""

import html
import math
import os

import numpy as np

from . import figures
from .results import OUTCOME_NAMES

CSS = """
body { font-family: sans-serif; max-width: 1400px; margin: 1em auto; padding: 0 1em; color: #212121; }
h1 { margin-bottom: 0.2em; }
nav ul { padding-left: 1.2em; }
section { margin-top: 2em; border-top: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { background: #e8f5e9; } .fail { background: #ffebee; font-weight: bold; }
.skip { background: #eeeeee; } .error { background: #fff8e1; }
figure { margin: 0.6em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
pre { background: #f5f5f5; padding: 0.5em; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
article { margin: 1.2em 0; padding-left: 0.8em; border-left: 4px solid #e53935; }
.verdict-pass { color: #2e7d32; } .verdict-fail { color: #c62828; }
"""

SECTIONS = [
    ("summary", "Summary"),
    ("verdicts", "Verdict matrix"),
    ("ratios", "Error ratios"),
    ("failures", "Failures"),
    ("loss", "Loss curves"),
    ("golden", "Golden cases"),
    ("zoo", "Bug zoo"),
    ("coverage", "Coverage of generated features"),
    ("timings", "Timings"),
]


def e(x):
    return html.escape(str(x), quote=True)


def num(x, digits=3):
    if x is None:
        return "-"
    x = float(x)
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def table(header, rows, numeric=(), classes=None):
    out = ["<table>", "<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>"]
    for k, row in enumerate(rows):
        cls = f' class="{e(classes[k])}"' if classes and classes[k] else ""
        cells = "".join(f'<td class="num">{e(c)}</td>' if j in numeric else f"<td>{e(c)}</td>"
                        for j, c in enumerate(row))
        out.append(f"<tr{cls}>{cells}</tr>")
    out.append("</table>")
    return "\n".join(out)


def figure(name, alt, caption):
    if name is None:
        return f"<p>(no figure: {e(caption)})</p>"
    return (f'<figure><img src="{e(name)}" alt="{e(alt)}">'
            f"<figcaption>{e(caption)}</figcaption></figure>")


def section(sid, body):
    title = dict(SECTIONS)[sid]
    return f'<section id="{sid}">\n<h2>{e(title)}</h2>\n{body}\n</section>'


# ------------------------------------------------------------------ sections --

def summary(res):
    parts, verdicts = [], []
    c, g, lo, z = res["campaign"], res["golden"], res["loss"], res["zoo"]
    if c is not None:
        failed_rows = sum(1 for r in c["rows"] if r["failed"])
        verdicts.append(("fuzz campaign", "fail" if c["total_failed"] else "pass",
                         f"{c['total_cases']} cases, {c['total_failed']} failed; {len(c['rows'])} rows "
                         f"(implementation x property), {failed_rows} failed; seed {c['seed']}, "
                         f"{c['cases_per_row']} cases per row, max {c['max_tokens']} tokens, dtypes "
                         f"{c['dtypes']}, {num(c['seconds'])} s"
                         + (f"; replay of {c['reproduce']}" if c["reproduce"] else "")))
    if g is not None:
        fails = len(g["failures"])
        verdicts.append(("golden cases", g["verdict"], f"{len(g['cases'])} cases x {len(g['implementations'])} "
                         f"implementations, {fails} failed checks ({g['dir']})"))
    if lo is not None:
        judged = [x for x in lo["curves"] if x["name"] != lo["reference"] and x["verdict"]]
        bad = [x["name"] for x in judged if x["verdict"] != "pass"]
        verdicts.append(("loss curves", "fail" if bad else "pass",
                         f"{len(judged)} implementations against {lo['reference'] or 'the reference'}"
                         + (f"; failing: {', '.join(bad)}" if bad else "")))
    if z is not None:
        survived = [m["name"] for m in z["mutants"] if not m["killed"]]
        verdicts.append(("bug zoo", "fail" if survived else "pass",
                         f"{len(z['mutants']) - len(survived)} of {len(z['mutants'])} mutants killed"
                         + (f"; survived: {', '.join(survived)}" if survived else "")))
    overall = "fail" if any(v[1] != "pass" for v in verdicts) else "pass"
    parts.append(f'<p><strong class="verdict-{overall}">Overall: {overall.upper()}</strong> '
                 f"&mdash; results file <code>{e(res['path'])}</code>"
                 + (f", written by <code>{e(res['producer'])}</code>" if res["producer"] else "") + "</p>")
    parts.append(table(["part", "verdict", "what"], verdicts, classes=[v[1] for v in verdicts]))
    absent = [f"/{k}" for k in ("campaign", "golden", "loss", "zoo") if res[k] is None]
    if absent:
        parts.append(f"<p>Not in this results file: {e(', '.join(absent))} (their sections are left out).</p>")
    return section("summary", "\n".join(parts))


def verdicts(c, out_dir):
    rows = c["rows"]
    fig = figures.verdict_matrix(rows, out_dir)
    body = [figure(fig, "verdict matrix: implementations (rows) by properties (columns)",
                   "Implementation x property: green held on every case it applied to (passed/cases), red "
                   "failed, grey skipped on every case, white not applicable; t: stopped by the time budget.")]
    trows, classes = [], []
    for r in rows:
        status = "fail" if r["failed"] else ("skip" if r["passed"] == 0 else "pass")
        trows.append([r["impl"], r["device"], f"{r['code']} {r['name']}", status, r["cases"], r["passed"],
                      r["failed"], r["skipped"], num(r["worst_ratio"]), num(r["seconds"]),
                      "time budget" if r["cut_by_time"] else ""])
        classes.append(status)
    body.append(table(["implementation", "device", "property", "verdict", "cases", "passed", "failed",
                       "skipped", "worst ratio", "seconds", "note"], trows, numeric={4, 5, 6, 7, 8, 9},
                      classes=classes))
    skips = [[r["impl"], r["code"], n, why] for r in rows for why, n in r["skip_reasons"]]
    if skips:
        body.append("<h3>Skip reasons</h3>")
        body.append(table(["implementation", "property", "cases", "reason"], skips, numeric={2}))
    return section("verdicts", "\n".join(body))


def ratios(c, out_dir):
    fig = figures.ratio_distribution(c["rows"], out_dir)
    samples = figures.ratio_samples(c["rows"])
    trows = []
    for impl, (pos, zeros, infs) in samples.items():
        p = np.array(pos)
        trows.append([impl, len(pos), zeros, infs,
                      num(np.median(p)) if p.size else "-", num(np.quantile(p, 0.99)) if p.size else "-",
                      num(p.max()) if p.size else "-"])
    body = [figure(fig, "error ratio distribution per implementation, log scale, bound at 1",
                   "Per generated case, the worst error / bound of its calibrated checks, over every "
                   "property that has them (forward, backward, sharding, gqa-mha): error = max |impl - "
                   "float64 reference|, bound = rtol x the same-precision baseline's error + floors "
                   "(harness/compare.hpp); below 1 passes. Exact (bitwise) checks record 0 and are counted "
                   "in the table only; a failure without a ratio is drawn as a non-finite mark."),
            table(["implementation", "cases with a ratio > 0", "exact (0)", "non-finite", "median", "p99",
                   "max"], trows, numeric={1, 2, 3, 4, 5, 6})]
    return section("ratios", "\n".join(body))


def strip_table(s):
    rows = []
    for start, end, label in figures.segments(s["cu_seqlens_q"], s["cu_seqlens_q_padded"], s["total_q"]):
        vals = [num(s[t][start:end].max()) if s[t] is not None and end > start else "-"
                for t in ("out", "lse", "dq")]
        rows.append([label, f"{start}..{end - 1}" if end > start else "(empty)"] + vals)
    return table(["q rows", "range", "max out error", "max lse error", "max dq error"], rows,
                 numeric={2, 3, 4})


def failures(c, out_dir):
    failed = [r for r in c["rows"] if r["failure"] is not None]
    if not failed:
        return section("failures", "<p>No property failed.</p>")
    body = []
    for r in failed:
        f = r["failure"]
        s = f["strip"]
        parts = [f'<article id="failure-{e(r["index"])}">',
                 f"<h3>{e(r['impl'])} fails {e(r['code'])} ({e(r['name'])})</h3>", "<dl>",
                 f"<dt>diagnosis</dt><dd>{e(f['diagnosis'])}</dd>",
                 f"<dt>shrunk case</dt><dd><code>{e(f['counterexample'])}</code> ({f['shrunk_docs']} documents, "
                 f"{f['shrunk_tokens']} tokens q+kv), found after {f['cases_to_failure']} generated cases</dd>"]
        if s is not None:
            parts.append(f"<dt>plain run</dt><dd>{e(s['plain_run'])}"
                         + (f": {e(s['plain_run_message'])}" if s["plain_run_message"] else "")
                         + ("; the failure needs the property's transformation (poisoned padding, other "
                            "documents' values, a second run, ...), so the strip shows a correct plain run"
                            if s["plain_run"] == "pass" else "") + "</dd>")
        parts.append("</dl>")
        if s is not None and s["out"] is not None:
            name = figures.error_strip(r, out_dir)
            parts.append(figure(name, f"per-token error strip of {r['impl']} on the shrunk case of {r['code']}",
                                "Per token row, the largest |impl - float64 reference| over heads and head dims "
                                "(log scale). Grey bands: padding rows (the contract wants exact 0 there); "
                                "vertical lines: document starts."))
            parts.append(strip_table(s))
            metrics = [[t, num(s["metrics"].get(f"{t}_err")), num(s["metrics"].get(f"{t}_base_err")),
                        num(s["metrics"].get(f"{t}_bound")), num(s["metrics"].get(f"{t}_ratio"))]
                       for t in ("out", "lse", "dq", "dk", "dv") if f"{t}_err" in s["metrics"]]
            if metrics:
                parts.append(table(["tensor", "max error", "baseline error", "bound", "ratio"], metrics,
                                   numeric={1, 2, 3, 4}))
        elif s is not None:
            parts.append(f"<p>No error strip: the implementation could not run the shrunk case "
                         f"({e(s['plain_run_message'])}).</p>")
        else:
            parts.append("<p>No error strip was recorded for this failure.</p>")
        parts.append("<h4>Replay</h4>")
        if f["reproduce"]:
            parts.append(f"<pre>RC_PARAMS=\"{e(f['reproduce'])}\"</pre>")
        if f["replay_fuzz"]:
            parts.append(f"<pre>{e(f['replay_fuzz'])}</pre>")
        if f["replay_file"]:
            parts.append(f"<pre>{e(f['replay_file'])}</pre>")
        if f["case_file"]:
            parts.append(f"<p>Case file: <code>{e(f['case_file'])}</code></p>")
        parts.append("</article>")
        body.append("\n".join(parts))
    return section("failures", "\n".join(body))


def loss(lo, out_dir):
    fig = figures.loss_curves(lo, out_dir)
    rows, classes = [], []
    for c in lo["curves"]:
        is_ref = c["name"] == lo["reference"]
        rows.append([c["name"] + (" (reference)" if is_ref else ""), c["verdict"] or "-", len(c["loss"]),
                     num(c["loss"][-1] if len(c["loss"]) else None, 6), num(c["max_abs_diff"]), c["message"]])
        classes.append(c["verdict"] if c["verdict"] in ("pass", "fail", "error") else "")
    info = ", ".join(x for x in [f"{lo['steps']} steps" if lo["steps"] is not None else "",
                                 f"seed {lo['seed']}" if lo["seed"] is not None else "",
                                 f"bound: {lo['bound']}" if lo["bound"] else "",
                                 f"model: {lo['model']}" if lo["model"] else ""] if x)
    body = [f"<p>{e(info)}</p>" if info else "",
            figure(fig, "loss curves and their differences from the reference",
                   "Left: loss per step; right: each implementation's loss minus the reference's."),
            table(["curve", "verdict", "steps", "final loss", "max |diff|", "message"], rows,
                  numeric={2, 3, 4}, classes=classes)]
    return section("loss", "\n".join(body))


def golden(g, out_dir):
    fig = figures.golden_matrix(g, out_dir)
    rows, classes = [], []
    for k, impl in enumerate(g["implementations"]):
        st = g["status"][k]
        counts = [int(np.sum(st == code)) for code in sorted(OUTCOME_NAMES)]
        r = g["ratio"][k]
        r = r[~np.isnan(r)]
        rows.append([impl] + counts + [num(r.max()) if r.size else "-", num(g["seconds"][k])])
        classes.append("fail" if counts[1] or counts[3] else "")
    body = [figure(fig, "golden cases: implementation by case verdicts",
                   "Implementation x golden case (reference-f64: the float64 reference against the committed "
                   "/expected)."),
            table(["implementation", "pass", "fail", "skip", "error", "worst ratio", "seconds"], rows,
                  numeric={1, 2, 3, 4, 5, 6}, classes=classes)]
    if g["failures"]:
        body.append("<h3>Failed checks</h3>")
        body.append(table(["implementation", "case", "check", "detail"], g["failures"]))
    return section("golden", "\n".join(body))


def zoo(z, out_dir):
    fig = figures.zoo_chart(z, out_dir)
    rows = [[m["name"], "killed" if m["killed"] else "SURVIVED", m["property"] or "-", m["cases_to_failure"],
             m["shrunk_docs"], m["shrunk_tokens"], num(m["seconds"]), m["description"]] for m in z["mutants"]]
    classes = ["pass" if m["killed"] else "fail" for m in z["mutants"]]
    body = [figure(fig, "bug zoo: generated cases until each mutant was killed",
                   "Per mutant (shared BUGZOO.md), the generated cases until a property failed on it."),
            table(["mutant", "verdict", "property", "cases to failure", "shrunk docs", "shrunk tokens", "seconds",
                   "what it changes"], rows, numeric={3, 4, 5, 6}, classes=classes)]
    return section("zoo", "\n".join(body))


def coverage(c, out_dir):
    fig = figures.coverage(c["generated"], c["tile_edges"], out_dir)
    n = len(c["generated"]["docs"]) if c["generated"] is not None else 0
    body = [figure(fig, "coverage of generated features",
                   f"The {n} cases of the first row (every row draws the same cases from the seed): documents "
                   "per batch, padding, GQA ratio, head dims, dtypes, masks, value distributions, and "
                   "document lengths against the tile edges the generator aims at.")]
    if c["coverage"]:
        body.append(table(["feature", "cases"], c["coverage"], numeric={1}))
    body += applicability(c["rows"])
    return section("coverage", "\n".join(body))


# A property applies to a generated case unless the implementation declines
# it (skipped); below this share a row checks too little of what it generated.
APPLY_TARGET = 0.9


def applicability(rows):
    """Per implementation and property: cases judged / cases generated."""
    codes = []
    cells = {}
    for r in rows:
        if r["code"] not in codes:
            codes.append(r["code"])
        cells.setdefault(r["impl"], {})[r["code"]] = (r["cases"] - r["skipped"], r["cases"])
    codes.sort(key=lambda code: (len(code), code))
    out, classes = [], []
    for impl, by_code in cells.items():
        row, low = [impl], False
        for code in codes:
            if code not in by_code:
                row.append("")
                continue
            applied, generated = by_code[code]
            share = applied / generated if generated else 0.0
            row.append(f"{applied}/{generated} ({100 * share:.0f}%)")
            low = low or (generated > 0 and share < APPLY_TARGET)
        out.append(row)
        classes.append("fail" if low else "")
    caption = (f"<p>Cases that apply: per implementation and property, the generated cases the property "
               f"judged (the rest were skipped: outside what the implementation declares). Rows with a "
               f"property below {100 * APPLY_TARGET:.0f}% are marked.</p>")
    return [caption, table(["implementation"] + codes, out, classes=classes)]


def timings(c, out_dir):
    fig = figures.timings(c["rows"], out_dir)
    per_impl = {}
    for r in c["rows"]:
        t = per_impl.setdefault(r["impl"], [0.0, []])
        t[0] += r["seconds"]
        t[1].extend(r["case_seconds"])
    rows = [[impl, num(t[0]), len(t[1]), num(np.median(t[1]) * 1e3) if t[1] else "-",
             num(max(t[1]) * 1e3) if t[1] else "-"] for impl, t in per_impl.items()]
    body = [figure(fig, "timings per implementation and per generated case",
                   f"Campaign wall time {num(c['seconds'])} s. Left: seconds per implementation by property; "
                   "right: seconds per generated case."),
            table(["implementation", "seconds", "cases", "median ms per case", "max ms per case"], rows,
                  numeric={1, 2, 3, 4})]
    return section("timings", "\n".join(body))


def render(res, out_dir):
    """Writes out_dir/index.html and its figures; returns the page's path."""
    os.makedirs(out_dir, exist_ok=True)
    c = res["campaign"]
    body = [summary(res)]
    if c is not None:
        body += [verdicts(c, out_dir), ratios(c, out_dir), failures(c, out_dir)]
    if res["loss"] is not None:
        body.append(loss(res["loss"], out_dir))
    if res["golden"] is not None:
        body.append(golden(res["golden"], out_dir))
    if res["zoo"] is not None:
        body.append(zoo(res["zoo"], out_dir))
    if c is not None:
        body += [coverage(c, out_dir), timings(c, out_dir)]
    present = [sid for sid, _ in SECTIONS if any(f'<section id="{sid}">' in b for b in body)]
    nav = "<nav><ul>" + "".join(f'<li><a href="#{sid}">{e(dict(SECTIONS)[sid])}</a></li>'
                                for sid in present) + "</ul></nav>"
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>attncheck report: {e(os.path.basename(res['path']))}</title>\n"
            f"<style>{CSS}</style>\n</head>\n<body>\n<h1>attncheck report</h1>\n{nav}\n"
            + "\n".join(body) + "\n</body>\n</html>\n")
    path = os.path.join(out_dir, "index.html")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(tmp, path)
    return path
