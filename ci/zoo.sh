#!/usr/bin/env bash
# The bug zoo (properties/zoo): every BUGZOO.md entry as a mutant of our own
# code, built from a patched copy of the tree, must be killed by the
# properties within its case budget. Fails if one survives.
#
#   ci/zoo.sh              the whole zoo (16 mutants), first failing property each
#   ci/zoo.sh --ci         what ci/test.sh runs (the mutants marked ci: today all)
#   ci/zoo.sh --generic    the generic mutation pass over kernels/ (60 mutants)
#   ... --sanitize         either, with the mutants built under ASan + UBSan
# Other arguments go to properties/zoo/zoo.py (or generic.py), e.g.
# --only race,gqa-map or --all-properties. Work tree and build: build/zoo-work
# (reused, incremental); results: build/zoo/zoo.h5 (generic: zoo-generic.h5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/deps.sh

# h5py and numpy come from Debian's python3 (ci/deps.sh).
python=/usr/bin/python3
[ -x "$python" ] || python=python3

mkdir -p build/zoo
if [ "${1:-}" = "--generic" ]; then
  shift
  exec "$python" properties/zoo/generic.py --results build/zoo/zoo-generic.h5 \
    --json build/zoo/zoo-generic.json "$@"
fi
exec "$python" properties/zoo/zoo.py --results build/zoo/zoo.h5 --json build/zoo/zoo.json "$@"
