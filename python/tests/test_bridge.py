"""End-to-end tests of the Python bridge: live Python implementations under
every property, failures shrunk and replayed, contract violations reported as
failed cases. Run by ctest (python_bridge) with PYTHONPATH at the build tree's
package and ATTNCHECK_BIN at the attncheck executable."""
import os
import shutil
import re
import shlex
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import attncheck

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("ATTNCHECK_BIN")
ALL_PROPS = ("P1", "P2", "P3", "P4", "P5", "P6", "P10", "P13", "P14")


def run(args, cwd=HERE, env=None):
    """python -m attncheck ARGS in `cwd`: (exit code, stdout + stderr)."""
    p = subprocess.run([sys.executable, "-m", "attncheck"] + args, cwd=cwd, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    return p.returncode, p.stdout


def rows(text):
    """Summary table rows: {(impl, prop): (cases, passed, failed, skipped)}."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\S+)\s+python\s+(P\d+)\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s", line)
        if m:
            out[(m.group(1), m.group(2))] = tuple(int(m.group(i)) for i in range(3, 7))
    return out


class Campaigns(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="attncheck-bridge-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def fuzz(self, spec, *extra):
        return run(["fuzz", spec, "--no-progress", "--results", os.path.join(self.tmp, "r.h5"),
                    "--save-dir", os.path.join(self.tmp, "failures")] + list(extra))

    def test_numpy_reference_passes_every_property(self):
        spec = "attncheck.examples.numpy_live:attention"
        code, text = self.fuzz(spec, "--cases", "40", "--max-tokens", "128",
                               "--max-head-dim", "64", "--seed", "3")
        self.assertEqual(code, 0, text)
        table = rows(text)
        for prop in ALL_PROPS:
            cases, passed, failed, skipped = table[("py:" + spec, prop)]
            self.assertEqual(failed, 0, text)
            self.assertGreater(passed, 0, "%s never applied:\n%s" % (prop, text))
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "r.h5")))

    def test_position_ids_only_fails_isolation_shrunk_and_replays(self):
        spec = "attncheck.examples.position_ids_only:attention"
        code, text = self.fuzz(spec, "--property", "P5", "--cases", "100")
        self.assertEqual(code, 1, text)
        m = re.search(r"shrunk case\s+: .*\((\d+) docs, (\d+) tokens q\+kv\)", text)
        self.assertIsNotNone(m, text)
        self.assertLessEqual(int(m.group(1)), 2, text)
        self.assertLessEqual(int(m.group(2)), 16, text)
        self.assertRegex(text, r"document \d+ changed when the other documents did")
        # The printed replay command reruns the Python implementation, through
        # the native executable too, and fails the same way.
        replay = re.search(r"replay with\s+: (attncheck fuzz .*)", text).group(1)
        args = shlex.split(replay)[1:]
        code2, text2 = run(args + ["--no-progress", "--results", os.path.join(self.tmp, "x.h5")])
        self.assertEqual(code2, 1, text2)
        self.assertIn("(2 docs", text2)
        if BIN:
            env = dict(os.environ)
            env.pop("PYTHONPATH", None)  # the executable knows its build's package
            p = subprocess.run([BIN] + args + ["--no-progress", "--results",
                                               os.path.join(self.tmp, "y.h5")],
                               cwd=HERE, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=300)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertRegex(p.stdout, r"document \d+ changed")
        case_file = re.search(r"case file\s+: (\S+)", text).group(1)
        code3, text3 = run(["replay", case_file, "--impl", "py:" + spec])
        self.assertEqual(code3, 1, text3)
        self.assertRegex(text3, r"P5 isolation\s+fail")

    def test_position_ids_fixed_passes(self):
        code, text = self.fuzz("attncheck.examples.position_ids_only:fixed", "--cases", "40",
                               "--max-tokens", "128", "--property", "P1,P5,P13,P14")
        self.assertEqual(code, 0, text)
        self.assertGreater(rows(text)[("py:attncheck.examples.position_ids_only:fixed", "P5")][1],
                           0, text)

    def test_bshd_and_eos_packings_pass(self):
        for spec, props in (("impls:bshd", ALL_PROPS), ("impls:eos", ("P1", "P5", "P13"))):
            code, text = self.fuzz(spec, "--cases", "30", "--max-tokens", "96",
                                   "--max-head-dim", "32", "--property", ",".join(props))
            self.assertEqual(code, 0, text)
            for prop in props:
                self.assertGreater(rows(text)[("py:" + spec, prop)][1], 0,
                                   "%s %s never applied:\n%s" % (spec, prop, text))

    def test_failures_of_the_callable_are_failed_cases(self):
        expectations = {
            "impls:raises": r"Python raised ZeroDivisionError: division by zero \[traceback, "
                            r"innermost first: impls.py:\d+ in _inner_failure: return x / 0",
            "impls:wrong_shape": r"out: shape \(\d+, \d+, 1\), expected \(\d+, \d+, \d+\) "
                                 r"\[total_q, num_heads_q, head_dim_v\]",
            "impls:wrong_dtype": r"out: dtype int32, expected one of float32, float64",
            "impls:missing_lse": r"lse: missing; the implementation declares lse=True",
        }
        for spec, pattern in expectations.items():
            code, text = self.fuzz(spec, "--property", "P1", "--cases", "5")
            self.assertEqual(code, 1, text)
            self.assertRegex(text, r"diagnosis\s+: py:%s raised: %s%s"
                             % (spec, "" if "Python raised" in pattern else "contract: ", pattern))
            self.assertNotIn("could not save the counterexample", text)
            self.assertIn("attncheck: ", text)  # the summary's last line: no crash

    def test_declared_no_lse_is_judged_on_out(self):
        code, text = self.fuzz("impls:no_lse", "--property", "P1,P3,P6", "--cases", "10")
        self.assertEqual(code, 0, text)

    def test_check_runs_the_python_implementation_on_case_files(self):
        cases = os.path.join(self.tmp, "cases")
        code, text = run(["export", "--cases", "6", "--seed", "4", "--max-tokens", "64",
                          "-o", cases])
        self.assertEqual(code, 0, text)
        code, text = run(["check", cases, "--impl", "py:attncheck.examples.numpy_live:attention"])
        self.assertEqual(code, 0, text)
        self.assertRegex(text, r"6 runs, 6 passed, 0 failed")

    def test_usage_errors(self):
        code, text = run(["fuzz", "no_such_module_here:attention"])
        self.assertEqual(code, 2, text)
        self.assertIn("cannot import module no_such_module_here", text)
        code, text = run(["fuzz", "attncheck.examples.numpy_live:nothing"])
        self.assertEqual(code, 2, text)
        self.assertIn("has no attribute nothing", text)


class InProcess(unittest.TestCase):
    def test_views_are_zero_copy_and_read_only(self):
        import impls
        impls.seen.clear()
        tmp = tempfile.mkdtemp(prefix="attncheck-bridge-")
        self.addCleanup(shutil.rmtree, tmp, True)
        code = attncheck.fuzz(impls.record_views, property="P1", cases=5, max_tokens=64,
                              results=os.path.join(tmp, "r.h5"), save_dir=tmp)
        self.assertEqual(code, 0)
        self.assertTrue(impls.seen)
        for s in impls.seen:
            self.assertFalse(s["owndata"], s)  # a view of the harness's buffer
            self.assertFalse(s["writeable"], s)
            self.assertEqual(s["dtype"], "float32")
            self.assertEqual(s["shape"], s["expected"])

    def test_generate(self):
        cases = attncheck.generate(6, seed=2, max_tokens=64, packing="bshd")
        self.assertEqual(len(cases), 6)
        for b in cases:
            n, sq = b.q_mask.shape
            self.assertEqual(b.q.shape[:3], (n, sq, b.num_heads_q))
            self.assertEqual(list(b.q_mask.sum(axis=1)), list(b.seqlens_q))
            self.assertEqual(b.dout.shape, (n, sq, b.num_heads_q, b.head_dim_v))
        thd = attncheck.generate(3, seed=2, max_tokens=64)
        self.assertEqual(thd[0].q.shape[0], thd[0].total_q)
        self.assertEqual(int(thd[0].cu_seqlens_q[-1]), int(np.sum(thd[0].seqlens_q)))

    def test_capabilities_are_checked(self):
        with self.assertRaises(ValueError):
            attncheck.Capabilities(packing="nhd")
        with self.assertRaises(ValueError):
            attncheck.Capabilities(dtypes=("float8",))


if __name__ == "__main__":
    unittest.main()
