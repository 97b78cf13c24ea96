#!/usr/bin/env python3
"""attncheck report generator: a results file (reports/RESULTS-FORMAT.md) to a
static HTML page with PNG figures (no JavaScript, no network resources).

    python3 reports/report.py RESULTS.h5 -o DIR      # writes DIR/index.html

`attncheck report RESULTS -o DIR` runs this with the Python the build found.
Exit codes: 0 written, 2 unusable results file, 3 a module is missing.
"""

import argparse
import glob
import os
import sys

EXIT_BAD_FILE = 2
EXIT_MISSING_MODULE = 3
# Debian package of each module the report needs.
MODULES = {"numpy": "python3-numpy", "h5py": "python3-h5py", "matplotlib": "python3-matplotlib"}
# Figures this generator writes; stale ones from an earlier report are removed.
OWN_FIGURES = ("verdicts.png", "ratios.png", "loss.png", "golden.png", "zoo.png", "coverage.png",
               "timings.png", "strip-*.png")


def check_modules():
    for module, package in MODULES.items():
        try:
            __import__(module)
        except ImportError as exc:
            print(f"attncheck report: error: Python module '{module}' is missing ({exc}); install "
                  f"Debian's {package} (all of them: apt-get install -y {' '.join(MODULES.values())})",
                  file=sys.stderr)
            sys.exit(EXIT_MISSING_MODULE)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", help="results file (.h5)")
    ap.add_argument("-o", "--output", required=True, help="directory for index.html and its figures")
    args = ap.parse_args(argv)
    check_modules()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from attncheck_report import page, results

    try:
        res = results.load(args.results)
    except results.ResultsError as exc:
        print(f"attncheck report: error: {exc}", file=sys.stderr)
        return EXIT_BAD_FILE
    os.makedirs(args.output, exist_ok=True)
    for pattern in OWN_FIGURES:
        for stale in glob.glob(os.path.join(args.output, pattern)):
            os.remove(stale)
    path = page.render(res, args.output)
    print(f"attncheck report: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
