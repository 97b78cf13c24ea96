#!/usr/bin/env bash
# Makes the virtual environment of the library adapters (python/attncheck/adapters):
# pinned torch (its PyPI wheel, used on the CPU), transformers, jax/jaxlib (CPU)
# and ml_dtypes from PyPI, in build/libs-venv (or $ATTNCHECK_LIBS_VENV), from
# Debian's python3; then attncheck itself (`pip install .`, incremental in
# build/pip). Prints the venv's python on stdout. The pinned libraries are
# installed once (a stamp file records the pins).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${ATTNCHECK_LIBS_VENV:-build/libs-venv}
pins=(torch==2.15.0 transformers==5.25.0 jax==0.10.2 jaxlib==0.10.2 ml_dtypes==0.7.0 numpy==2.4.6)
stamp="$venv/.attncheck-pins"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${pins[*]}" ]; then
  python=/usr/bin/python3
  if ! "$python" -c "import venv, ensurepip" >/dev/null 2>&1; then
    echo "attncheck: python3-venv is missing: bash ci/deps.sh installs it" >&2
    exit 1
  fi
  rm -rf "$venv"
  "$python" -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}" >&2
  echo "${pins[*]}" > "$stamp"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check . >&2
echo "$venv/bin/python"
