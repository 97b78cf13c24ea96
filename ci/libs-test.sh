#!/usr/bin/env bash
# The library findings as regression tests (python/tests/test_libs.py): every
# committed counterexample of README "Real libraries" still fails on its
# adapter and passes on the corrected usage. Makes the venv of ci/libs.sh
# first (torch, transformers, jax; about 6 GB, 2 minutes the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
py=$PWD/$(bash ci/libs.sh)
cd python/tests
exec "$py" -m unittest -v test_libs
