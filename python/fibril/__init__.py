"""fibril: a deep-learning engine with hand-written C++ (and optional CUDA) kernels."""

from . import _C
from ._C import (
    Array,
    DType,
    bool,
    cpu_isa,
    empty_cache,
    float32,
    float64,
    get_flush_denormal,
    get_num_threads,
    int32,
    int64,
    reset_peak_memory_stats,
    set_num_threads,
    uint8,
)
from . import cuda
from ._interop import from_dlpack, from_numpy

__version__ = "0.1.0"


def memory_stats():
    """CPU allocator statistics in bytes: allocated, reserved, peak; hits, misses, allocations."""
    return _C.memory_stats()


def set_flush_denormal(mode):
    """Flush denormals to zero in fibril's kernels (the default). Returns True, as PyTorch does."""
    _C.set_flush_denormal(mode)
    return True


def show_config():
    """One line per build and runtime fact: version, CPU ISA, threads, CUDA."""
    cuda_state = "built" if cuda.is_built() else "not built"
    if cuda.is_built():
        cuda_state += f", {cuda.device_count()} device(s)"
    return "\n".join([
        f"fibril {__version__}",
        f"CPU kernels: {cpu_isa()} (AVX2+FMA supported: {_C.cpu_supports_avx2()})",
        f"threads: {get_num_threads()}",
        f"CUDA: {cuda_state}",
    ])


__all__ = [
    "Array", "DType", "bool", "float32", "float64", "int32", "int64", "uint8",
    "cpu_isa", "cuda", "empty_cache", "from_dlpack", "from_numpy", "get_flush_denormal",
    "get_num_threads", "memory_stats", "reset_peak_memory_stats", "set_flush_denormal",
    "set_num_threads", "show_config",
]
