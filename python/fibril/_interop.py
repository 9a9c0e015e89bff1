"""Zero-copy exchange with numpy and any DLPack producer (PyTorch, JAX, CuPy, ...).

Going out needs nothing here: ``numpy.asarray(array)`` shares memory through the buffer
protocol, and ``torch.from_dlpack(array)`` / ``numpy.from_dlpack(array)`` through DLPack.
"""

import numpy as np

from . import _C

_SUPPORTED = {np.dtype(t) for t in ("float32", "float64", "float16", "int64", "int32", "uint8", "bool")}


def from_numpy(array):
    """A fibril Array sharing memory with a numpy array.

    Zero-copy when the array is writable, in native byte order, aligned, and has
    non-negative strides (every array numpy creates itself, and views with positive steps).
    Anything else is copied once into a fresh C-contiguous array: read-only arrays,
    negative strides (``x[::-1]``), byte-swapped or unaligned data. Unsupported dtypes
    (complex, object, ...) raise TypeError.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.newbyteorder("=") not in _SUPPORTED:
        raise TypeError(
            f"from_numpy: unsupported dtype {array.dtype} "
            "(fibril has float32, float64, float16, int64, int32, uint8, bool)"
        )
    if not _shareable(array):
        array = np.array(array, dtype=array.dtype.newbyteorder("="), order="C", copy=True)
    return _C.Array.from_buffer(array)


def _shareable(array):
    return (
        array.flags.writeable
        and array.flags.aligned
        and array.dtype.isnative
        and all(s >= 0 for s in array.strides)
    )


def from_dlpack(obj):
    """A fibril Array sharing memory with any object that implements ``__dlpack__``
    (or a raw DLPack capsule). Read-only producers are copied."""
    if not hasattr(obj, "__dlpack__"):
        if type(obj).__name__ != "PyCapsule":
            raise TypeError(f"from_dlpack expects an object with __dlpack__ or a DLPack capsule, "
                            f"got {type(obj).__name__}")
        return _C.from_dlpack_capsule(obj)
    try:
        capsule = obj.__dlpack__(max_version=(1, 0))
    except TypeError:  # a producer that predates DLPack 1.0
        capsule = obj.__dlpack__()
    return _C.from_dlpack_capsule(capsule)
