"""The attncheck HTML report: results file (RESULTS-FORMAT.md) -> static page."""
