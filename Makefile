# Two entry points: `make run` (build, then the digits demo and the quick benchmark table) and
# `make test` (build with the test extras, then the suite). Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Kept apart from a developer's own build/ so the two CMake caches never mix.
BUILD_DIR ?= build/venv

.PHONY: run test install venv clean

venv: $(PY)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q scikit-build-core pybind11 numpy

# With nvcc, the CUDA kernels are built for this machine's GPU (compute 9.0 as sm_90a, which
# has the wgmma GEMM), or for one architecture where there is none: a compile check that fails
# on any warning or register spill (the tests then run the kernels on the CUDA emulator). A
# GPU's own build is not held to it: sm_90a's widest wgmma tile spills 96 bytes.
GPU_ARCH := $(shell nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d .)
CUDA_ARCHS ?= $(if $(GPU_ARCH),$(GPU_ARCH)-real,80-real)

install: venv
	FIBRIL_CUDA_ARCHS="$(CUDA_ARCHS)" FIBRIL_CUDA_STRICT=$(CUDA_STRICT) $(PY) -m pip install -q --no-build-isolation -e ".[$(EXTRAS)]" \
		-Cbuild-dir=$(BUILD_DIR)

run: EXTRAS = bench,examples
run: CUDA_STRICT = OFF
run: install
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0 \
		|| echo "PyTorch unavailable: benchmarking against numpy only"
	$(PY) -c "import fibril; print(fibril.show_config())"
	$(PY) examples/run_demo.py
	$(PY) -m bench --quick

# The suite runs on the best ISA this CPU has, then once more on the portable kernels, then
# the CUDA tests on the CUDA emulator (the kernels' sources run on the CPU; see fibril.cuda).
# Where the best is avx512, which rebuilds only the compute-bound families, those families'
# tests run once more on their avx2 build.
WIDE_FAMILY_TESTS := tests/test_matmul.py tests/test_conv.py tests/test_attention.py tests/test_rnn.py
test: EXTRAS = test
test: CUDA_STRICT = $(if $(GPU_ARCH),OFF,ON)
test: install
	$(PY) -m pytest -q
	if [ "$$($(PY) -c 'import fibril; print(fibril.cpu_isa())')" = avx512 ]; then \
		FIBRIL_CPU_ISA=avx2 $(PY) -m pytest -q -m "not slow" $(WIDE_FAMILY_TESTS); fi
	FIBRIL_CPU_ISA=generic $(PY) -m pytest -q -m "not slow"
	FIBRIL_CUDA_EMULATOR=1 $(PY) -m pytest -q -m cuda

clean:
	rm -rf $(VENV) build
