#!/usr/bin/env bash
# Installs the Debian packages attncheck builds with, when run as root;
# otherwise prints the exact apt-get line and fails.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libeigen3-dev libfmt-dev libcli11-dev libboost-context-dev
  libgtest-dev librapidcheck-dev
  libhdf5-dev
  libopenmpi-dev openmpi-bin
  python3 python3-h5py python3-numpy python3-matplotlib  # byok example, reports/
  python3-dev pybind11-dev python3-venv  # the Python bridge (python/)
  chromium  # the report's headless-browser test (reports/tests/chromium.sh)
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# The CUDA toolkit (installed on machines of this kind, not a Debian package
# here): kernels/simt needs its headers even without nvcc.
if [ ! -f /usr/local/cuda/include/cuda_bf16.h ] && ! command -v nvcc >/dev/null 2>&1; then
  echo "attncheck: the CUDA toolkit's headers (cuda_runtime_api.h, cuda_bf16.h) were not found;" >&2
  echo "  install the CUDA toolkit (/usr/local/cuda) or set CUDAToolkit_ROOT" >&2
  exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  echo "attncheck: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "attncheck: missing Debian packages. Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
