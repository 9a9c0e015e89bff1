#!/usr/bin/env bash
# One lent-GPU session's checks in one call: builds fibril for this machine's GPU with the
# GPU machine's own Python and PyTorch (no pip install: cmake + ninja straight into a build
# folder, the package copied beside the extension), then runs what the arguments name:
#   tests     pytest -m cuda over the whole suite
#   matmul    the large tensor-core products' tests, then bench/cuda_matmul.py tf32 fp16 bf16
#   bench     python -m bench.cuda (every family against PyTorch CUDA)
#   bench:X   its cases whose name starts with X (bench:conv)
# FIBRIL_PREBUILT=path/to/_C.so skips the build (an extension built elsewhere for this
# machine's Python and GPU, carried with the call). Logs go to $OUT when it is set.
# Usage: bash bench/cuda_device_run.sh matmul tests
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/fibril-gpu}
mkdir -p "$out"
build=/tmp/fibril-gpu-build
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d .)
archs=${cap}-real
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader
so=${FIBRIL_PREBUILT:-}
if [ -z "$so" ]; then
  start=$(date +%s)
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$(command -v python3)" \
    -Dpybind11_DIR="$(python3 -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
    -DFIBRIL_CUDA=ON -DFIBRIL_CUDA_ARCHS="$archs" >"$out/cmake.log" 2>&1 || { tail -20 "$out/cmake.log"; exit 1; }
  ninja -C "$build" >"$out/build.log" 2>&1 || { grep -B2 -A10 "error" "$out/build.log" | head -60; exit 1; }
  echo "build: $(( $(date +%s) - start )) s for sm_$archs"
  so=$(ls "$build"/_C*.so)
fi
site=/tmp/fibril-gpu-site
rm -rf "$site" && mkdir -p "$site" && cp -r python/fibril "$site/" && cp "$so" "$site/fibril/"
export PYTHONPATH="$site:$PWD" PYTHONUNBUFFERED=1
for what in "$@"; do
  case $what in
    tests) timeout 300 python3 -m pytest -q -p no:cacheprovider -m cuda tests 2>&1 | tee "$out/tests.log" | tail -25 ;;
    matmul)
      timeout 150 python3 -m pytest -q -p no:cacheprovider -x tests/test_matmul.py -k large_tensor_core 2>&1 | tail -15
      timeout 240 python3 bench/cuda_matmul.py tf32 fp16 bf16 2>&1 | tee "$out/matmul.log" ;;
    bench) timeout 300 python3 -m bench.cuda 2>&1 | tee "$out/bench.log" ;;
    bench:*) timeout 300 python3 -m bench.cuda --only "${what#bench:}" 2>&1 | tee -a "$out/bench.log" ;;
    *) echo "unknown check: $what"; exit 2 ;;
  esac
done
