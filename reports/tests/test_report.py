#!/usr/bin/env python3
"""The report generator (reports/report.py) on small synthetic results files:
a passing campaign, a failing one with strips, /loss, /golden and /zoo groups,
files without the optional groups, and malformed files.

Every page is checked for: its sections, every <img> naming an existing PNG
file and carrying alt text, no http:// or https:// reference, no <script>."""

import contextlib
import importlib.util
import io
import os
import subprocess
import sys
import tempfile
import types
import unittest

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT = os.path.join(os.path.dirname(HERE), "report.py")
sys.path.insert(0, HERE)
import check_page  # noqa: E402
import synthetic  # noqa: E402

PNG_SIGNATURE = check_page.PNG_SIGNATURE
_spec = importlib.util.spec_from_file_location("report", REPORT)
report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report)


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def results(self, name, build):
        path = os.path.join(self.dir, name)
        with h5py.File(path, "w") as f:
            synthetic.root(f)
            build(f)
        return path

    def run_report(self, results, out=None, expect=0):
        """Runs report.py's main in this process (matplotlib is imported once)."""
        out = out or os.path.join(self.dir, os.path.basename(results) + "-report")
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            rc = report.main([results, "-o", out])
        p = types.SimpleNamespace(returncode=rc, stdout=stdout.getvalue(), stderr=stderr.getvalue())
        self.assertEqual(p.returncode, expect, p.stdout + p.stderr)
        return out, p

    def check_page(self, out, sections):
        """Parses out/index.html; checks the rules every page follows (check_page.py)."""
        text, page, bad = check_page.problems(out, sections)
        self.assertEqual(bad, [])
        return text, page

    def test_passing_campaign(self):
        r = self.results("pass.h5", lambda f: synthetic.campaign(f))
        out = os.path.join(self.dir, "cli")
        p = subprocess.run([sys.executable, REPORT, r, "-o", out], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("index.html", p.stdout)
        text, page = self.check_page(out, ["summary", "verdicts", "ratios", "failures", "coverage", "timings"])
        self.assertIn("Overall: PASS", text)
        self.assertIn("No property failed.", text)
        self.assertIn("no backward for this dtype", text)  # skip reasons are listed
        # Cases that apply: reference-f32 skipped 2 of its 8 P2 cases.
        self.assertIn("Cases that apply", text)
        self.assertIn("6/8 (75%)", text)
        self.assertIn("8/8 (100%)", text)
        self.assertEqual({i["src"] for i in page.imgs},
                         {"verdicts.png", "ratios.png", "coverage.png", "timings.png"})
        self.assertIn("Not in this results file: /golden, /loss, /zoo", text)

    def test_failing_campaign_with_every_group(self):
        def build(f):
            synthetic.campaign(f, failing=True)
            synthetic.loss(f, failing=True)
            synthetic.golden(f, failing=True)
            synthetic.zoo(f)
        out, _ = self.run_report(self.results("fail.h5", build))
        text, page = self.check_page(out, ["summary", "verdicts", "ratios", "failures", "loss", "golden", "zoo",
                                           "coverage", "timings"])
        self.assertIn("Overall: FAIL", text)
        srcs = {i["src"] for i in page.imgs}
        # Strips for the two failures that have one (rows 0003 and 0005), none for
        # the run that threw (0006) or the failure without a strip (0007).
        self.assertTrue({"strip-0003.png", "strip-0005.png", "loss.png", "golden.png", "zoo.png"} <= srcs, srcs)
        self.assertNotIn("strip-0006.png", srcs)
        self.assertNotIn("strip-0007.png", srcs)
        for k in ("0003", "0005", "0006", "0007"):
            self.assertIn(f"failure-{k}", page.ids)
        # The failure's description, reproduce string and both replay commands.
        self.assertIn("2 docs q=[2,1] kv=[2,1] pad q=[0,1]", text)
        self.assertIn("<pre>RC_PARAMS=\"reproduce=flash/P1:BAAAAAAA\"</pre>", text)
        self.assertIn("attncheck fuzz --impl flash --property P1 --reproduce &#x27;BAAAAAAA&#x27;", text)
        self.assertIn("attncheck replay attncheck-failures/seed-1/flash-P1.h5 --impl flash", text)
        self.assertIn("could not run the shrunk case", text)
        self.assertIn("No error strip was recorded", text)
        # Per-segment table of the strip: documents and padding rows.
        self.assertIn("<td>padding</td><td>2..2</td><td class=\"num\">inf</td>", text)
        # Loss, golden and zoo tables.
        self.assertIn("exceeds 1e-3", text)
        self.assertIn("out[3] error 7x the bound", text)
        self.assertIn("SURVIVED", text)
        self.assertIn("survived: race", text)

    def test_files_without_optional_groups(self):
        # Only a golden check; only loss curves; a campaign without coverage data.
        out, _ = self.run_report(self.results("golden.h5", lambda f: synthetic.golden(f)))
        text, _ = self.check_page(out, ["summary", "golden"])
        self.assertIn("Not in this results file: /campaign, /loss, /zoo", text)
        out, _ = self.run_report(self.results("loss.h5", lambda f: synthetic.loss(f)))
        text, page = self.check_page(out, ["summary", "loss"])
        self.assertEqual([i["src"] for i in page.imgs], ["loss.png"])
        self.assertIn("Overall: PASS", text)
        out, _ = self.run_report(self.results(
            "bare.h5", lambda f: synthetic.campaign(f, with_generated=False, with_coverage=False)))
        text, _ = self.check_page(out, ["summary", "verdicts", "ratios", "failures", "coverage", "timings"])
        self.assertIn("(no figure:", text)
        out, _ = self.run_report(self.results("replay.h5", lambda f: synthetic.replay_campaign(f)))
        text, page = self.check_page(out, ["summary", "verdicts", "ratios", "failures", "coverage", "timings"])
        self.assertIn("replay of reproduce=flash/P1:BAAAAAAA", text)
        self.assertIn("strip-0000.png", {i["src"] for i in page.imgs})

    def test_same_results_give_the_same_page_and_images(self):
        r = self.results("fail.h5", lambda f: (synthetic.campaign(f, failing=True), synthetic.loss(f)))
        a, _ = self.run_report(r, os.path.join(self.dir, "a"))
        b = os.path.join(self.dir, "b")  # another process: no state shared with the first run
        p = subprocess.run([sys.executable, REPORT, r, "-o", b], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        names = sorted(os.listdir(a))
        self.assertEqual(names, sorted(os.listdir(b)))
        for n in names:
            with open(os.path.join(a, n), "rb") as fa, open(os.path.join(b, n), "rb") as fb:
                self.assertEqual(fa.read(), fb.read(), n)

    def test_page_checker_catches_bad_pages(self):
        out, _ = self.run_report(self.results("pass.h5", lambda f: synthetic.campaign(f)))
        self.assertEqual(check_page.problems(out, ["summary", "verdicts", "ratios", "failures", "coverage",
                                                   "timings"])[2], [])
        index = os.path.join(out, "index.html")
        with open(index, encoding="utf-8") as f:
            text = f.read()
        with open(index, "w", encoding="utf-8") as f:
            f.write(text.replace("</body>", '<script>1</script><a href="https://example.org">x</a>'
                                             '<img src="gone.png"></body>'))
        with open(os.path.join(out, "ratios.png"), "wb") as f:
            f.write(b"not a png")
        bad = check_page.problems(out, ["summary"])[2]
        for needle in ("sections are", "<script>", "https://", "gone.png does not exist", "gone.png has no alt",
                       "ratios.png is not a PNG"):
            self.assertTrue(any(needle in b for b in bad), f"{needle!r} not reported in {bad}")

    def test_stale_figures_are_removed(self):
        out = os.path.join(self.dir, "out")
        os.makedirs(out)
        for n in ("strip-0099.png", "mine.png"):
            with open(os.path.join(out, n), "wb") as f:
                f.write(PNG_SIGNATURE)
        self.run_report(self.results("pass.h5", lambda f: synthetic.campaign(f)), out)
        self.assertFalse(os.path.exists(os.path.join(out, "strip-0099.png")))
        self.assertTrue(os.path.exists(os.path.join(out, "mine.png")), "a file the report did not write")

    def test_malformed_files_name_the_object(self):
        def bad_format(f):
            f.attrs["format"] = "attncheck-case"

        def bad_version(f):
            f.attrs["format_version"] = np.int32(2)

        def bad_shape(f):
            synthetic.campaign(f)
            del f["campaign/rows/0001/ratios"]
            f["campaign/rows/0001"].create_dataset("ratios", data=np.zeros(3))

        def bad_reference(f):
            synthetic.loss(f)
            f["loss"].attrs["reference"] = "nobody"

        for name, build, needle in (("format.h5", bad_format, "/@format: is 'attncheck-case'"),
                                    ("version.h5", bad_version, "/@format_version: is 2"),
                                    ("shape.h5", bad_shape, "/campaign/rows/0001/ratios: has shape [3]; expected [8]"),
                                    ("ref.h5", bad_reference, "/loss@reference: names 'nobody'")):
            _, p = self.run_report(self.results(name, build), expect=2)
            self.assertIn(needle, p.stderr)
        not_hdf5 = os.path.join(self.dir, "text.h5")
        with open(not_hdf5, "w") as f:
            f.write("not hdf5")
        _, p = self.run_report(not_hdf5, expect=2)
        self.assertIn("cannot be opened as HDF5", p.stderr)

    def test_missing_module_is_named_with_its_debian_package(self):
        fake = os.path.join(self.dir, "fake")
        os.makedirs(fake)
        with open(os.path.join(fake, "matplotlib.py"), "w") as f:
            f.write("raise ImportError('No module named matplotlib')\n")
        r = self.results("pass.h5", lambda f: synthetic.campaign(f))
        env = dict(os.environ, PYTHONPATH=fake)
        p = subprocess.run([sys.executable, REPORT, r, "-o", os.path.join(self.dir, "o")], capture_output=True,
                           text=True, env=env)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("python3-matplotlib", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
