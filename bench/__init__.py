"""fibril's benchmarks, side by side with numpy and PyTorch: `python -m bench --help`."""
import os
import sys

# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE as set on this machine slow numpy's OpenBLAS kernels.
# OpenBLAS reads them when it loads, so they go before anything imports numpy; only this
# process is affected. The harness records what was unset, and whether it was too late.
UNSET_ENV = {
    name: os.environ.pop(name)
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    if name in os.environ
}
NUMPY_LOADED_FIRST = "numpy" in sys.modules
