#!/usr/bin/env python3
"""The generic mutation pass: bugs nobody wrote down.

Generates mutants of kernels/ (kernels/flash/*.cu*, kernels/common/*.hpp,
kernels/dist/*.cpp) deterministically from a seed, one change each:
  cmp    a comparison operator replaced (<  <=  >  >=  ==  !=)
  arith  an arithmetic operator replaced (+ <-> -, * <-> /, += <-> -=)
  logic  && <-> ||
  index  a subscript [e] made [e + 1] or [e - 1]
  delete a one-line statement removed
Comments, preprocessor lines and string literals are never mutated. A sample
of the candidates (stratified by file, fixed seed) is built and run like the
bug-zoo mutants (zoo.py): the properties in campaign order on the
implementation that exercises the file, stopping at the first failure. A
mutant that does not compile is counted separately ("did not compile"), not
as killed. Prints the kill rate and the survivors; writes a results file
(group /zoo, kind "generic") and, with --json, the records.

Usage:
  properties/zoo/generic.py --list            # the sample, without running it
  properties/zoo/generic.py [--count 60] [--cases 100] [--seed 1]
  properties/zoo/generic.py --only g017,g042  # rerun some mutants
"""
from __future__ import annotations

import argparse
import difflib
import json
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo  # noqa: E402

ROOT = zoo.ROOT

# Which implementation exercises which file, and the environment of its runs.
# Flash kernels run under simt's random fiber and block order (a dropped
# barrier or an order-dependent sum shows as two runs that differ, P10).
RANDOM = {"ATTNCHECK_SIMT_SCHEDULE": "random:1"}
TARGETS = {
    "kernels/flash/flash_fwd.cu": ("flash", RANDOM),
    "kernels/flash/flash_bwd.cu": ("flash", RANDOM),
    "kernels/flash/flash_common.cuh": ("flash", RANDOM),
    "kernels/flash/flash_tc_fwd.cu": ("flash-tc", RANDOM),
    "kernels/flash/flash_tc_bwd.cu": ("flash-tc", RANDOM),
    "kernels/flash/flash_tc.cuh": ("flash-tc", RANDOM),
    "kernels/common/mask.hpp": ("flash", {}),
    "kernels/common/online_softmax.hpp": ("flash", {}),
    "kernels/common/seqlen.hpp": ("flash", {}),
    "kernels/common/lse_merge.hpp": ("ring-cp2-flash", {}),   # only the ring merges partial results
    "kernels/dist/ring.cpp": ("ring-cp2-flash", {}),
    "kernels/dist/blocks.cpp": ("ring-cp2-flash", {}),
    "kernels/dist/local.cpp": ("ring-cp2-flash,ring-cp2-ref", {}),  # both local attentions
    "kernels/dist/allgather.cpp": ("allgather-cp2-flash", {}),
    "kernels/dist/ulysses.cpp": ("ulysses-cp4-ref", {}),
    "kernels/dist/dist.cpp": ("allgather-cp4-flash", {}),
}

CMP = {"<": ["<=", ">"], "<=": ["<", ">"], ">": [">=", "<"], ">=": [">", "<"],
       "==": ["!="], "!=": ["=="]}
ARITH = {"+": ["-"], "-": ["+"], "*": ["/"], "/": ["*"], "+=": ["-="], "-=": ["+="],
         "*=": ["/="]}
LOGIC = {"&&": ["||"], "||": ["&&"]}
BINOP_RE = re.compile(r"(?<=\S) (<=|>=|==|!=|<|>|\+=|-=|\*=|\+|-|\*|/|&&|\|\|) (?=\S)")


def code_spans(line: str) -> list[tuple[int, int]]:
    """Spans of `line` outside string/char literals and before a // comment."""
    spans, start, i, n = [], 0, 0, len(line)
    while i < n:
        c = line[i]
        if c == "/" and i + 1 < n and line[i + 1] == "/":
            break
        if c in "\"'":
            spans.append((start, i))
            q = c
            i += 1
            while i < n and line[i] != q:
                i += 2 if line[i] == "\\" else 1
            start = i + 1
        i += 1
    spans.append((start, min(i, n)))
    return [(a, b) for a, b in spans if b > a]


def in_code(spans, a: int, b: int) -> bool:
    return any(s <= a and b <= e for s, e in spans)


def skip_line(stripped: str) -> bool:
    return (not stripped or stripped.startswith(("//", "#", "*", "/*")) or
            stripped.startswith(("static_assert", "template", "namespace", "using ", "struct ",
                                 "class ", "enum ", "case ", "default:", "public:", "private:")))


def matching_bracket(line: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(line)):
        if line[i] == "[":
            depth += 1
        elif line[i] == "]":
            depth -= 1
            if depth == 0:
                return i
    return -1


def candidates(path: str) -> list[dict]:
    """Every single-change mutant of one file."""
    lines = (ROOT / path).read_text().splitlines(keepends=True)
    out = []
    in_block_comment = False
    for ln, line in enumerate(lines):
        stripped = line.strip()
        if in_block_comment:
            if "*/" in stripped:
                in_block_comment = False
            continue
        if stripped.startswith("/*"):
            in_block_comment = "*/" not in stripped
            continue
        if skip_line(stripped):
            continue
        spans = code_spans(line.rstrip("\n"))
        # Operators (binary, spaced: the code's clang-format style; templates
        # and pointer declarations carry no spaces around < > *).
        for m in BINOP_RE.finditer(line):
            op = m.group(1)
            a, b = m.start(1), m.end(1)
            if not in_code(spans, a, b):
                continue
            table, kind = ((CMP, "cmp") if op in CMP else (LOGIC, "logic") if op in LOGIC
                           else (ARITH, "arith"))
            for new in table[op]:
                out.append({"file": path, "line": ln + 1, "kind": kind,
                            "what": f"'{op}' -> '{new}'",
                            "new": line[:a] + new + line[b:]})
        # Subscripts: [e] -> [e + 1] / [e - 1] (not declarations' sizes: [] or a constant).
        for m in re.finditer(r"\[", line):
            a = m.start()
            if not in_code(spans, a, a + 1) or (a + 1 < len(line) and line[a + 1] == "["):
                continue
            if a == 0 or not (line[a - 1].isalnum() or line[a - 1] in "_)]"):
                continue  # a lambda capture or an attribute, not a subscript
            b = matching_bracket(line, a)
            if b < 0:
                continue
            inner = line[a + 1:b]
            if not inner.strip() or re.fullmatch(r"\s*(k[A-Z]\w*|\d+)\s*", inner):
                continue
            if re.search(r"\b(float|int|double|char|unsigned)\b", line[:a]) and "=" not in line[:a]:
                continue  # an array declaration
            for d in ("+ 1", "- 1"):
                out.append({"file": path, "line": ln + 1, "kind": "index",
                            "what": f"[{inner.strip()}] -> [{inner.strip()} {d}]",
                            "new": line[:a + 1] + inner + " " + d + line[b:]})
        # Statement deletion: a complete one-line statement (not a declaration
        # with an initializer the next lines need: those fail to compile and
        # count as such), no braces.
        body = line.split("//")[0].strip()
        if (body.endswith(";") and "{" not in body and "}" not in body
                and body.count("(") == body.count(")") and not body.startswith(("return", "for ", "if "))
                and not re.match(r"^(const |constexpr |inline |static |auto |[\w:<>,]+[*&]? \w+( =|;|\())", body)):
            out.append({"file": path, "line": ln + 1, "kind": "delete",
                        "what": f"delete `{body[:70]}`", "new": ""})
        elif body in ("continue;", "break;", "return;"):
            out.append({"file": path, "line": ln + 1, "kind": "delete",
                        "what": f"delete `{body}`", "new": ""})
    return out


def patch_of(c: dict) -> str:
    path = c["file"]
    old = (ROOT / path).read_text().splitlines(keepends=True)
    new = list(old)
    if c["new"]:
        new[c["line"] - 1] = c["new"]
    else:
        del new[c["line"] - 1]
    return "".join(difflib.unified_diff(old, new, f"a/{path}", f"b/{path}", n=3))


def sample(count: int, seed: int) -> list[dict]:
    """`count` candidates, stratified by file (in proportion to each file's
    candidates, at least 2 per file), in a fixed order."""
    per_file = {f: candidates(f) for f in TARGETS}
    total = sum(len(v) for v in per_file.values())
    rng = random.Random(seed)
    quota = {f: max(2, round(count * len(v) / total)) if v else 0 for f, v in per_file.items()}
    while sum(quota.values()) > count:  # trim the largest quotas back to `count`
        f = max(quota, key=lambda k: quota[k])
        quota[f] -= 1
    chosen = []
    for f, v in per_file.items():
        picks = rng.sample(v, min(quota[f], len(v)))
        chosen += sorted(picks, key=lambda c: (c["line"], c["what"]))
    for i, c in enumerate(chosen):
        c["id"] = f"g{i + 1:03d}"
        impl, env = TARGETS[c["file"]]
        c["impl"], c["env"] = impl, env
        c["location"] = f"{c['file']}:{c['line']}"
        c["description"] = f"{c['location']}: {c['kind']}: {c['what']}"
    return chosen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=None,
                    help="default build/zoo-work, build/zoo-work-asan with --sanitize")
    ap.add_argument("--sanitize", action="store_true",
                    help="build the mutants with AddressSanitizer + UndefinedBehaviorSanitizer "
                         "(an out-of-bounds access or undefined behaviour kills as a crash)")
    ap.add_argument("--results", type=Path, default=Path("attncheck-results/zoo-generic.h5"))
    ap.add_argument("--count", type=int, default=60, help="mutants in the sample (default 60)")
    ap.add_argument("--seed", type=int, default=1, help="sampling seed (default 1)")
    ap.add_argument("--cases", type=int, default=100,
                    help="generated cases per property (default 100, the bug zoo's budget)")
    ap.add_argument("--fuzz-seed", type=int, default=1)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--only", default="", help="comma-separated ids of the sample")
    ap.add_argument("--list", action="store_true", help="print the sample and exit")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the records as JSON")
    a = ap.parse_args(argv)

    muts = sample(a.count, a.seed)
    if a.list:
        per = {}
        for c in muts:
            per[c["file"]] = per.get(c["file"], 0) + 1
        for c in muts:
            print(f"{c['id']}  {c['impl']:<20} {c['description']}")
        print(f"\n{len(muts)} mutants: " + ", ".join(f"{Path(f).name} {n}" for f, n in per.items()))
        return 0
    if a.only:
        ids = set(a.only.split(","))
        muts = [c for c in muts if c["id"] in ids]

    a.workdir = a.workdir or zoo.default_workdir(a.sanitize)
    if why := zoo.bad_workdir(a.workdir):
        zoo.log(f"generic: {why}")
        return 2
    t_all = time.monotonic()
    ws = zoo.Workspace(a.workdir, a.jobs, sanitize=a.sanitize)
    try:
        props = zoo.prepare(ws)
    except zoo.SetupError as e:
        zoo.log(f"generic: {e}")
        return 2
    records = []
    for c in muts:
        entry = {"id": c["id"], "kind": "generic", "impl": c["impl"], "env": c["env"],
                 "cases": a.cases, "seed": a.fuzz_seed, "args": ["--max-tokens", str(a.max_tokens)],
                 "description": c["description"], "location": c["location"], "patch": ""}
        zoo.log(f"generic: {c['id']} {c['description']} ({c['impl']})")
        r = zoo.run_mutant(ws, entry, props, a.timeout, all_properties=False, patch_text=patch_of(c))
        r["mutation"] = c["kind"]
        state = (f"killed by {r['property']} after {r['cases_to_failure']} cases" if r["killed"]
                 else r["status"])
        zoo.log(f"generic:   {state} ({r['seconds']:.1f} s, build {r.get('build_seconds', 0):.1f} s)")
        records.append(r)
    ws.build()  # the tree is pristine again
    broken = [r for r in records if r["status"] == "patch-failed"]  # a bug of this script
    compiled = [r for r in records if r["status"] not in ("build-failed", "patch-failed")]
    killed = [r for r in compiled if r["killed"]]
    survivors = [r for r in compiled if not r["killed"]]
    summary = {"generic_sampled": len(records), "generic_compiled": len(compiled),
               "generic_killed": len(killed), "generic_seed": a.seed, "generic_cases": a.cases}
    zoo.write_results(a.results, records, producer="attncheck zoo generic", generic=summary)
    if a.json:
        a.json.write_text(json.dumps(records, indent=1, default=str))
    print(zoo.fmt_table(compiled))
    print()
    by_kind = {}
    for r in compiled:
        k = by_kind.setdefault(r["mutation"], [0, 0])
        k[0] += 1
        k[1] += r["killed"]
    print("by mutation kind: " + ", ".join(f"{k} {v[1]}/{v[0]}" for k, v in sorted(by_kind.items())))
    for r in broken:
        print(f"patch did not apply (not counted): {r['id']} {r['description']}: {r['message'][:200]}")
    print(f"did not compile: {len(records) - len(compiled) - len(broken)}")
    for r in records:
        if r["status"] == "build-failed":
            print(f"  {r['id']} {r['description']}")
    print(f"survivors: {len(survivors)}")
    for r in survivors:
        print(f"  {r['id']} {r['impl']} {r['description']} [{r['status']}]")
    rate = len(killed) / len(compiled) if compiled else 0.0
    print(f"\nresults: {a.results}")
    print(f"attncheck zoo generic: {len(records)} mutants, {len(compiled)} compiled, "
          f"{len(killed)} killed ({100 * rate:.1f}%), {len(survivors)} survived, "
          f"{time.monotonic() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
