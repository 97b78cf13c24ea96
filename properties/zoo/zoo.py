#!/usr/bin/env python3
"""attncheck bug zoo: every BUGZOO.md entry as a mutant of our own code, and
the properties run against each one.

A mutant is a unified diff (properties/zoo/mutants/<id>.patch) applied to a
temporary copy of the source tree; production code carries no mutant
switches. One build directory per work directory: configured once (Release,
no CUDA, no tests), the pristine `attncheck` built first and kept as the
baseline, then each mutant is patched in, rebuilt incrementally (ninja only
rebuilds what the patch touched), run, and the touched files are restored.

Per mutant the properties of its entry in mutants.json run one at a time in
campaign order (`attncheck fuzz --impl I --property P --cases N --seed S`),
stopping at the first that fails: the mutant is killed, and the zoo records
that property, the generated cases until the failure, the shrunk
counterexample's size (documents, q+kv tokens) and the time. A kill counts
only if the pristine build passes the same command (checked afterwards on the
baseline binary, once per command). The loss-weighting mutant runs
`attncheck loss` (P12) instead.

Usage:
  properties/zoo/zoo.py                    # every mutant of mutants.json
  properties/zoo/zoo.py --only race,gqa-map
  properties/zoo/zoo.py --all-properties   # run every property, record all killers
Writes the results file (reports/RESULTS-FORMAT.md, group /zoo) and prints
the table. Exit 0 when every mutant is killed (and every baseline passes),
1 otherwise, 2 on a setup error (configure or baseline build failed).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "properties" / "zoo"
MANIFEST = ZOO / "mutants.json"

# Not copied into the work tree: build outputs and local results.
EXCLUDE_TOP = {"build", ".git", "results", "attncheck-results", "attncheck-failures",
               "attncheck-loss.h5"}
EXCLUDE_ANY = {"__pycache__"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# The work tree: a copy of the sources, one build directory.

class Workspace:
    # sanitize: build with AddressSanitizer + UndefinedBehaviorSanitizer
    # (ATTNCHECK_SANITIZE), so that an out-of-bounds access of a kernel (simt
    # device memory ends at the size asked for) or undefined behaviour ends
    # the run as a crash, which kills the mutant like a failed property.
    def __init__(self, workdir: Path, jobs: int, sanitize: bool = False):
        self.sanitize = sanitize
        self.dir = workdir.resolve()
        self.src = self.dir / "src"
        self.build_dir = self.dir / "build"
        self.jobs = jobs
        self.binary = self.build_dir / "bin" / "attncheck"
        self.baseline = self.dir / "attncheck-baseline"
        self._saved: dict[Path, bytes | None] = {}

    # Copies the repository's sources into src/, rewriting only files whose
    # content differs (so a reused work directory rebuilds only what changed)
    # and removing files the repository no longer has.
    def sync(self) -> None:
        self.src.mkdir(parents=True, exist_ok=True)
        wanted: set[Path] = set()
        for dirpath, dirnames, filenames in os.walk(ROOT):
            rel_dir = Path(dirpath).relative_to(ROOT)
            dirnames[:] = [d for d in dirnames
                           if d not in EXCLUDE_ANY and not (rel_dir == Path(".") and d in EXCLUDE_TOP)]
            for f in filenames:
                if rel_dir == Path(".") and f in EXCLUDE_TOP:
                    continue
                if f.endswith(".pyc"):
                    continue
                rel = rel_dir / f
                wanted.add(rel)
                src_file, dst_file = ROOT / rel, self.src / rel
                if src_file.is_symlink():
                    continue
                data = src_file.read_bytes()
                if dst_file.exists() and dst_file.read_bytes() == data:
                    continue
                dst_file.parent.mkdir(parents=True, exist_ok=True)
                dst_file.write_bytes(data)
                shutil.copymode(src_file, dst_file)
        for dirpath, _, filenames in os.walk(self.src):
            for f in filenames:
                rel = Path(dirpath, f).relative_to(self.src)
                if rel not in wanted:
                    (self.src / rel).unlink()

    def configure(self) -> None:
        if (self.build_dir / "build.ninja").exists():
            return
        cmd = ["cmake", "-S", str(self.src), "-B", str(self.build_dir), "-G", "Ninja",
               "-DCMAKE_BUILD_TYPE=" + ("RelWithDebInfo" if self.sanitize else "Release"),
               "-DATTNCHECK_ENABLE_CUDA=OFF", "-DATTNCHECK_ENABLE_TESTS=OFF",
               "-DATTNCHECK_SANITIZE=" + ("ON" if self.sanitize else "OFF")]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise SetupError("cmake configure failed:\n" + r.stdout[-4000:] + r.stderr[-4000:])

    # Builds `attncheck`; returns (ok, seconds, tail of the log).
    def build(self, timeout: float = 1800) -> tuple[bool, float, str]:
        t0 = time.monotonic()
        try:
            r = subprocess.run(["ninja", "-C", str(self.build_dir), "-j", str(self.jobs), "attncheck"],
                               capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, time.monotonic() - t0, "build timed out"
        out = r.stdout + r.stderr
        return r.returncode == 0, time.monotonic() - t0, out[-3000:]

    def keep_baseline(self) -> None:
        shutil.copy2(self.binary, self.baseline)

    # Applies a -p1 unified diff to src/, remembering the original bytes of
    # every file it touches. Returns None, or why it did not apply.
    def apply(self, patch_text: str) -> str | None:
        files = patched_files(patch_text)
        if not files:
            return "the patch names no file"
        for f in files:
            p = self.src / f
            self._saved[p] = p.read_bytes() if p.exists() else None
        r = subprocess.run(["patch", "-p1", "--batch", "--forward", "--silent", "-d", str(self.src)],
                           input=patch_text, capture_output=True, text=True)
        if r.returncode != 0:
            self.restore()
            return (r.stdout + r.stderr).strip() or f"patch exited with {r.returncode}"
        for f in files:  # patch leaves .orig/.rej files on fuzz; never build those
            for suffix in (".orig", ".rej"):
                Path(str(self.src / f) + suffix).unlink(missing_ok=True)
        return None

    def restore(self) -> None:
        for p, data in self._saved.items():
            if data is None:
                p.unlink(missing_ok=True)
            else:
                if not p.exists() or p.read_bytes() != data:
                    p.write_bytes(data)
            for suffix in (".orig", ".rej"):
                Path(str(p) + suffix).unlink(missing_ok=True)
        self._saved.clear()


class SetupError(Exception):
    pass


def patched_files(patch_text: str) -> list[str]:
    files = []
    for line in patch_text.splitlines():
        if line.startswith("+++ "):
            name = line[4:].split("\t")[0].strip()
            if name.startswith("b/"):
                name = name[2:]
            if name != "/dev/null" and name not in files:
                files.append(name)
    return files


# ---------------------------------------------------------------------------
# Running the properties.

FAILED_RE = re.compile(r"^FAILED (\S+) (P\d+) \(([^)]*)\) after (\d+) generated cases", re.M)
SHRUNK_RE = re.compile(r"^\s+shrunk case\s+: (.*) \((\d+) docs, (\d+) tokens q\+kv\)\s*$", re.M)
DIAG_RE = re.compile(r"^\s+diagnosis\s+: (.*)$", re.M)
ROW_RE = re.compile(r"^(\S+)\s+\S+\s+(P\d+)\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s", re.M)


def property_codes(binary: Path) -> list[tuple[str, str]]:
    """(code, name) of every fuzz property, in campaign order, from `attncheck list`."""
    r = subprocess.run([str(binary), "list"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise SetupError(f"`attncheck list` failed: {r.stderr.strip()}")
    out, props, seen = r.stdout, [], False
    for line in out.splitlines():
        if line.strip() == "properties:":
            seen = True
            continue
        m = re.match(r"^\s+(P\d+)\s+(\S+)", line) if seen else None
        if m:
            props.append((m.group(1), m.group(2)))
    if not props:
        raise SetupError("`attncheck list` printed no properties")
    return props


def is_sequence_parallel(impl: str) -> bool:
    return re.search(r"-cp\d+-", impl) is not None


def read_results_row(path: Path) -> dict | None:
    """The first failed campaign row of a fuzz results file, else its first row
    (reports/RESULTS-FORMAT.md)."""
    try:
        import h5py  # noqa: PLC0415
    except ImportError:
        return None
    if not path.exists():
        return None
    try:
        with h5py.File(path, "r") as f:
            rows = f.get("campaign/rows")
            if rows is None or len(rows) == 0:
                return None
            names = sorted(rows.keys())
            failed = [n for n in names if int(rows[n].attrs["failed"]) > 0]
            g = rows[(failed or names)[0]]
            row = {"cases": int(g.attrs["cases"]), "failed": int(g.attrs["failed"]),
                   "impl": text(g.attrs["impl"])}
            if "failure" in g:
                fa = g["failure"].attrs
                row.update(cases_to_failure=int(fa["cases_to_failure"]),
                           shrunk_docs=int(fa["shrunk_docs"]), shrunk_tokens=int(fa["shrunk_tokens"]),
                           message=str(fa["diagnosis"]), counterexample=str(fa["counterexample"]),
                           case_file=str(fa.get("case_file", "")),
                           replay=str(fa.get("replay_fuzz", "")))
            return row
    except (OSError, KeyError):
        return None


def text(b) -> str:
    return b.decode() if isinstance(b, bytes) else str(b)


# Sanitizer reports abort (SIGABRT: a crash, see run_fuzz) instead of exiting
# with 1, which would read as a failed property without its row. Leaks are
# not a mutant's doing.
SANITIZER_ENV = {"ASAN_OPTIONS": "abort_on_error=1:detect_leaks=0",
                 "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:abort_on_error=1"}
SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer: (\S+)|runtime error: ([^\n]+)")


def run_env(env: dict[str, str]) -> dict[str, str]:
    """The environment of one attncheck run: ours, the sanitizer options, the mutant's."""
    full = dict(os.environ)
    full.update(SANITIZER_ENV)
    full.update(env)
    return full


def run_fuzz(binary: Path, impl: str, prop: str, cases: int, seed: int, args: list[str],
             env: dict[str, str], out_dir: Path, timeout: float) -> dict:
    """One property over one implementation. status: pass, fail, crash, timeout or error."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / f"{prop}.h5"
    results.unlink(missing_ok=True)
    cmd = [str(binary), "fuzz", "--impl", impl, "--property", prop, "--cases", str(cases),
           "--seed", str(seed), "--no-progress", "--save-dir", str(out_dir / "failures"),
           "--results", str(results)] + list(args)
    full_env = run_env(env)
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = text(e.stdout or "") + text(e.stderr or "")
        (out_dir / f"{prop}.log").write_text(" ".join(cmd) + "\n\n(timed out)\n" + out)
        return {"status": "timeout", "seconds": time.monotonic() - t0, "property": prop,
                "message": f"no verdict within {timeout:.0f} s", "output": out[-2000:]}
    secs = time.monotonic() - t0
    out = r.stdout + r.stderr
    (out_dir / f"{prop}.log").write_text(" ".join(cmd) + "\n\n" + out)
    res = {"seconds": secs, "property": prop, "output": out[-4000:], "command": cmd}
    if r.returncode < 0 or r.returncode > 128:
        sig = -r.returncode if r.returncode < 0 else r.returncode - 128
        msg = f"attncheck died with signal {sig}"
        if report := SANITIZER_RE.search(out):
            msg += (f" (AddressSanitizer: {report.group(1)})" if report.group(1)
                    else f" (UndefinedBehaviorSanitizer: {report.group(2)[:200]})")
        res.update(status="crash", message=msg, cases_to_failure=-1)
        return res
    if r.returncode == 0:
        res["status"] = "pass"
        return res
    if r.returncode != 1:
        res.update(status="error", message=f"exit {r.returncode}: " + out.strip()[-500:])
        return res
    row = read_results_row(results)
    m = FAILED_RE.search(r.stdout)
    if row and row.get("failed"):
        res.update(status="fail", cases_to_failure=row.get("cases_to_failure", 0),
                   shrunk_docs=row.get("shrunk_docs", 0), shrunk_tokens=row.get("shrunk_tokens", 0),
                   message=row.get("message", ""), counterexample=row.get("counterexample", ""),
                   replay=row.get("replay", ""))
        return res
    if m:  # no results file: the text summary
        sh = SHRUNK_RE.search(r.stdout)
        dg = DIAG_RE.search(r.stdout)
        res.update(status="fail", cases_to_failure=int(m.group(4)),
                   shrunk_docs=int(sh.group(2)) if sh else 0,
                   shrunk_tokens=int(sh.group(3)) if sh else 0,
                   message=dg.group(1) if dg else "", counterexample=sh.group(1) if sh else "")
        return res
    res.update(status="error", message="exit 1 without a FAILED row: " + out.strip()[-500:])
    return res


def run_loss(binary: Path, args: list[str], env: dict[str, str], out_dir: Path,
             timeout: float) -> dict:
    """`attncheck loss` (P12): exit 1 when a curve leaves the bound."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / "P12.h5"
    results.unlink(missing_ok=True)
    cmd = [str(binary), "loss"] + list(args) + ["-o", str(results)]
    full_env = run_env(env)
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "seconds": time.monotonic() - t0, "property": "P12",
                "message": f"no verdict within {timeout:.0f} s"}
    secs = time.monotonic() - t0
    out = r.stdout + r.stderr
    (out_dir / "P12.log").write_text(" ".join(cmd) + "\n\n" + out)
    res = {"seconds": secs, "property": "P12", "output": out[-4000:], "command": cmd}
    if r.returncode == 0:
        res["status"] = "pass"
    elif r.returncode == 1:
        # The first failing curve's row: "<impl>  fail|error  <max|diff|>  <time>s  <detail>"
        msg = ""
        for line in r.stdout.splitlines():
            mm = re.match(r"^(\S+)\s+(fail|error)\s+\S+\s+\S+s\s+(.*)$", line)
            if mm:
                msg = f"{mm.group(1)}: {mm.group(2)}: {mm.group(3)}"
                break
        res.update(status="fail", message=msg, cases_to_failure=1, shrunk_docs=0, shrunk_tokens=0)
    elif r.returncode < 0 or r.returncode > 128:
        res.update(status="crash", message="attncheck loss died with a signal", cases_to_failure=-1)
    else:
        res.update(status="error", message=f"exit {r.returncode}: " + out.strip()[-500:])
    return res


def command_key(entry: dict, prop: str) -> str:
    return json.dumps([entry.get("command", "fuzz"), entry.get("impl"), prop, entry.get("cases"),
                       entry.get("seed"), entry.get("args", []), entry.get("loss_args", []),
                       sorted(entry.get("env", {}).items())])


def run_entry(binary: Path, entry: dict, props: list[tuple[str, str]], out_dir: Path,
              timeout: float, all_properties: bool) -> dict:
    """Runs an entry's properties in order; stops at the first failure unless
    all_properties. Returns the mutant's record (without build fields)."""
    rec = {"killed": 0, "property": "", "cases_to_failure": 0, "shrunk_docs": 0,
           "shrunk_tokens": 0, "seconds": 0.0, "message": "", "killed_by": [], "status": "survived",
           "counterexample": "", "runs": []}
    env = entry.get("env", {})
    if entry.get("command", "fuzz") == "loss":
        r = run_loss(binary, entry.get("loss_args", []), env, out_dir, timeout)
        runs = [r]
    else:
        wanted = entry.get("properties") or [c for c, _ in props]
        order = [c for c, _ in props if c in wanted]
        runs = []
        for code in order:
            if code == "P8" and not is_sequence_parallel(entry["impl"]):
                continue
            r = run_fuzz(binary, entry["impl"], code, entry.get("cases", 100), entry.get("seed", 1),
                         entry.get("args", []), env, out_dir, timeout)
            runs.append(r)
            if r["status"] in ("fail", "crash") and not all_properties:
                break
            if r["status"] in ("timeout", "error") and not all_properties:
                break
    for r in runs:
        rec["seconds"] += r["seconds"]
        rec["runs"].append({k: r.get(k) for k in ("property", "status", "seconds", "cases_to_failure",
                                                   "message")})
        if r["status"] in ("fail", "crash"):
            rec["killed_by"].append(r["property"])
            if not rec["killed"]:
                rec.update(killed=1, status="killed", property=r["property"],
                           cases_to_failure=r.get("cases_to_failure", 0),
                           shrunk_docs=r.get("shrunk_docs", 0), shrunk_tokens=r.get("shrunk_tokens", 0),
                           message=r.get("message", ""), counterexample=r.get("counterexample", ""),
                           replay=r.get("replay", ""), seconds_to_kill=rec["seconds"])
        elif r["status"] in ("timeout", "error") and not rec["killed"]:
            rec.update(status=r["status"], message=f"{r['property']}: {r.get('message', '')}")
    if rec["killed"]:
        rec["seconds"] = rec.pop("seconds_to_kill")
    return rec


# ---------------------------------------------------------------------------
# Results.

def write_results(path: Path, records: list[dict], producer: str = "attncheck zoo",
                  generic: dict | None = None) -> None:
    """The zoo's results file (reports/RESULTS-FORMAT.md, group /zoo), atomically."""
    import h5py  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    i32, f64 = np.int32, np.float64  # the spec's int and float64
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w", track_order=True) as f:
            f.attrs["format"] = "attncheck-results"
            f.attrs["format_version"] = i32(1)
            f.attrs["producer"] = producer
            z = f.create_group("zoo", track_order=True)
            z.attrs["mutants"] = i32(len(records))
            z.attrs["killed"] = i32(sum(1 for r in records if r["killed"]))
            if generic:
                for k, v in generic.items():
                    z.attrs[k] = i32(v) if isinstance(v, int) else v
            for r in records:
                g = z.create_group(r["id"])
                g.attrs["killed"] = i32(r["killed"])
                g.attrs["property"] = r["property"]
                g.attrs["cases_to_failure"] = i32(r["cases_to_failure"])
                g.attrs["shrunk_docs"] = i32(r["shrunk_docs"])
                g.attrs["shrunk_tokens"] = i32(r["shrunk_tokens"])
                g.attrs["seconds"] = f64(r["seconds"])
                g.attrs["description"] = r.get("description", "")
                # Beyond the spec (readers ignore what they do not know):
                g.attrs["kind"] = r.get("kind", "bugzoo")
                g.attrs["status"] = r.get("status", "")
                g.attrs["implementation"] = r.get("impl", "")
                g.attrs["killed_by"] = ",".join(r.get("killed_by", []))
                g.attrs["message"] = r.get("message", "")
                g.attrs["counterexample"] = r.get("counterexample", "")
                g.attrs["build_seconds"] = f64(r.get("build_seconds", 0.0))
                g.attrs["baseline"] = r.get("baseline", "")
                g.attrs["patch"] = r.get("patch", "")
                if r.get("location"):
                    g.attrs["location"] = r["location"]
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fmt_table(records: list[dict], markdown: bool = False) -> str:
    head = ["mutant", "implementation", "killed", "property", "cases", "shrunk docs",
            "shrunk tokens", "time s", "build s"]
    rows = []
    for r in records:
        killed = "yes" if r["killed"] else ("no" if r["status"] == "survived" else r["status"])
        cases = str(r["cases_to_failure"]) if r["killed"] and r["cases_to_failure"] >= 0 else "-"
        shrunk = r["killed"] and r["property"] != "P12" and r["cases_to_failure"] >= 0
        rows.append([r["id"], r.get("impl", ""), killed,
                     r["property"] + (f" ({','.join(r['killed_by'])})" if len(r.get("killed_by", [])) > 1 else ""),
                     cases, str(r["shrunk_docs"]) if shrunk else "-",
                     str(r["shrunk_tokens"]) if shrunk else "-",
                     f"{r['seconds']:.2f}", f"{r.get('build_seconds', 0.0):.1f}"])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c if i else f"`{c}`" for i, c in enumerate(row)) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)), "-" * (sum(widths) + 2 * len(widths))]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(out)


# ---------------------------------------------------------------------------
# The zoo.

def default_workdir(sanitize: bool) -> Path:
    return ROOT / "build" / ("zoo-work-asan" if sanitize else "zoo-work")


def bad_workdir(workdir: Path) -> str | None:
    wd = workdir.resolve()
    if wd.is_relative_to(ROOT) and not wd.is_relative_to(ROOT / "build"):
        return (f"--workdir {workdir} lies inside the repository outside build/: the tree copy "
                "would copy itself; use build/... or a directory elsewhere")
    return None


def load_manifest(path: Path = MANIFEST) -> list[dict]:
    data = json.loads(path.read_text())
    defaults = data.get("defaults", {})
    out = []
    for m in data["mutants"]:
        e = dict(defaults)
        e.update(m)
        if not (ZOO / e["patch"]).is_file():
            raise SetupError(f"{path}: mutant {e['id']}: no patch file {e['patch']}")
        if e.get("kind") == "bugzoo" and not 1 <= int(e.get("cases", 100)) <= 100:
            raise SetupError(f"{path}: mutant {e['id']}: cases must be 1..100 (each BUGZOO "
                             "mutant must die within 100 generated cases)")
        out.append(e)
    return out


def prepare(ws: Workspace) -> list[tuple[str, str]]:
    log(f"zoo: syncing sources into {ws.src}")
    ws.sync()
    ws.configure()
    log("zoo: building the pristine attncheck (baseline)")
    ok, secs, tail = ws.build()
    if not ok:
        raise SetupError("the pristine tree does not build:\n" + tail)
    log(f"zoo: baseline built in {secs:.1f} s")
    ws.keep_baseline()
    return property_codes(ws.baseline)


def check_baselines(ws: Workspace, records: list[dict], entries: dict[str, dict],
                    props: list[tuple[str, str]], timeout: float, cache: dict[str, dict]) -> None:
    """A kill counts only if the pristine build passes the killing command."""
    for r in records:
        if not r["killed"]:
            continue
        e = entries[r["id"]]
        key = command_key(e, r["property"])
        if key not in cache:
            log(f"zoo: baseline {r['property']} on {e.get('impl') or 'loss'} ({r['id']})")
            sub = dict(e, properties=[r["property"]])
            cache[key] = run_entry(ws.baseline, sub, props, ws.dir / "baseline" / r["id"], timeout,
                                   all_properties=False)
        b = cache[key]
        if b["killed"] or b["status"] != "survived":
            r["baseline"] = f"fails: {b['property']}: {b['message']}"[:500]
            r["killed"] = 0
            r["status"] = "invalid"
            r["message"] = "the pristine build fails the same command: " + b["message"]
        else:
            r["baseline"] = "pass"


def run_mutant(ws: Workspace, entry: dict, props, timeout: float, all_properties: bool,
               patch_text: str | None = None) -> dict:
    rec = {"id": entry["id"], "kind": entry.get("kind", "bugzoo"), "impl": entry.get("impl", ""),
           "description": entry.get("description", ""), "patch": entry.get("patch", ""),
           "location": entry.get("location", "")}
    if entry.get("command") == "loss":
        rec["impl"] = "loss " + " ".join(entry.get("loss_args", []))
    if patch_text is None:
        patch_text = (ZOO / entry["patch"]).read_text()
    why = ws.apply(patch_text)
    if why:
        rec.update(killed=0, property="", cases_to_failure=0, shrunk_docs=0, shrunk_tokens=0,
                   seconds=0.0, status="patch-failed", message=why, build_seconds=0.0, killed_by=[])
        return rec
    try:
        ok, bsecs, tail = ws.build()
        rec["build_seconds"] = bsecs
        if not ok:
            rec.update(killed=0, property="", cases_to_failure=0, shrunk_docs=0, shrunk_tokens=0,
                       seconds=0.0, status="build-failed", message=tail[-1500:], killed_by=[])
            return rec
        rec.update(run_entry(ws.binary, entry, props, ws.dir / "runs" / entry["id"], timeout,
                             all_properties))
        return rec
    finally:
        ws.restore()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=None,
                    help="source copy and build directory (reused between runs; default "
                         "build/zoo-work, build/zoo-work-asan with --sanitize)")
    ap.add_argument("--sanitize", action="store_true",
                    help="build the mutants with AddressSanitizer + UndefinedBehaviorSanitizer: "
                         "a sanitizer report kills the mutant as a crash")
    ap.add_argument("--results", type=Path, default=Path("attncheck-results/zoo.h5"),
                    help="results file to write (default attncheck-results/zoo.h5)")
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    ap.add_argument("--only", default="", help="comma-separated mutant ids")
    ap.add_argument("--ci", action="store_true",
                    help="the CI subset: the mutants marked ci in the manifest (all of them today)")
    ap.add_argument("--all-properties", action="store_true",
                    help="run every property on every mutant (default: stop at the first kill)")
    ap.add_argument("--no-baseline", action="store_true",
                    help="do not rerun the killing commands on the pristine build")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per attncheck run")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    ap.add_argument("--json", type=Path, help="also write the records as JSON")
    a = ap.parse_args(argv)

    try:
        entries = load_manifest(a.manifest)
    except SetupError as e:
        log(f"zoo: {e}")
        return 2
    if a.only:
        ids = [s for s in a.only.split(",") if s]
        unknown = [i for i in ids if i not in {e["id"] for e in entries}]
        if unknown:
            log(f"zoo: unknown mutant(s): {', '.join(unknown)}")
            return 2
        entries = [e for e in entries if e["id"] in ids]
    if a.ci:
        entries = [e for e in entries if e.get("ci", True)]

    a.workdir = a.workdir or default_workdir(a.sanitize)
    if why := bad_workdir(a.workdir):
        log(f"zoo: {why}")
        return 2
    t_all = time.monotonic()
    ws = Workspace(a.workdir, a.jobs, sanitize=a.sanitize)
    try:
        props = prepare(ws)
    except SetupError as e:
        log(f"zoo: {e}")
        return 2
    records = []
    for e in entries:
        log(f"zoo: mutant {e['id']} ({e.get('impl') or e.get('command')})")
        r = run_mutant(ws, e, props, a.timeout, a.all_properties)
        state = (f"killed by {r['property']} after {r['cases_to_failure']} cases" if r["killed"]
                 else r["status"] + (": " + r["message"][:300] if r.get("message") else ""))
        log(f"zoo:   {state} ({r['seconds']:.1f} s, build {r.get('build_seconds', 0):.1f} s)")
        records.append(r)
    # The last mutant's restore leaves the tree pristine; rebuild so the build
    # directory matches the sources for the baseline checks and the next run.
    ws.build()
    if not a.no_baseline:
        check_baselines(ws, records, {e["id"]: e for e in entries}, props, a.timeout, {})
    write_results(a.results, records)
    if a.json:
        a.json.write_text(json.dumps(records, indent=1, default=str))
    killed = sum(1 for r in records if r["killed"])
    print(fmt_table(records))
    if a.markdown:
        print()
        print(fmt_table(records, markdown=True))
    print()
    for r in records:
        if r["killed"]:
            print(f"{r['id']}: {r['property']}: {r['message'][:240]}")
            if r.get("counterexample"):
                print(f"  shrunk: {r['counterexample'][:240]}")
        else:
            print(f"{r['id']}: NOT KILLED ({r['status']}): {r.get('message', '')[:400]}")
    print(f"\nresults: {a.results}")
    print(f"attncheck zoo: {len(records)} mutants, {killed} killed, "
          f"{len(records) - killed} not killed, {time.monotonic() - t_all:.0f} s")
    return 0 if killed == len(records) else 1


if __name__ == "__main__":
    sys.exit(main())
