"""Tensor factories: tensor, as_tensor, from_numpy, zeros/ones/full/empty, arange, linspace,
logspace, eye, tril_indices/triu_indices and the *_like variants, with PyTorch's dtype
inference."""

import builtins
import functools
import math
import numbers
import operator

import numpy as np

from . import _C, _interop
from .runtime import get_default_device
from .tensor import Tensor
from .typeinfo import finfo, iinfo

_NUMPY_DTYPES = {"float32", "float64", "float16", "int64", "int32", "uint8", "bool"}


def _dtype(dtype):
    return dtype if dtype is None or isinstance(dtype, _C.DType) else _C.Array.empty((0,), dtype).dtype


def _finish(array, dtype, device, requires_grad):
    if dtype is not None and array.dtype != dtype:
        array = array.astype(dtype)
    if device is not None and array.device != _device(device):
        array = array.to(_device(device))
    return Tensor._wrap(array).requires_grad_(requires_grad) if requires_grad else Tensor._wrap(array)


def _device(device):
    return "cuda:0" if device == "cuda" else str(device)


def _size(sizes, size=None):
    """zeros(2, 3), zeros((2, 3)) and zeros(size=(2, 3)) alike."""
    if size is not None:
        if sizes:
            raise TypeError("the size was given both positionally and as the keyword 'size'")
        return _shape(size)
    if len(sizes) == 1 and not hasattr(sizes[0], "__index__"):  # one sequence, not one int
        return _shape(sizes[0])
    return _shape(sizes)


def _shape(size):
    """size as a tuple of Python ints: numpy integers and one-element integer tensors count as
    ints (bools do not), as torch."""
    shape = tuple(size)
    if all(type(d) is int for d in shape):  # the usual case
        return shape
    if any(isinstance(d, (bool, np.bool_)) for d in shape):
        raise TypeError(f"size must be a tuple of ints, got {shape}")
    return tuple(operator.index(d) for d in shape)


def _number(value):
    """A one-element tensor given for a number (arange's bounds, full's fill value, ...) as
    the Python number it holds, as torch takes it; anything else as it is."""
    return value.item() if isinstance(value, Tensor) else value


_PYTHON_SCALARS = {bool: np.dtype(np.bool_), int: np.dtype(np.int64), float: np.dtype(np.float32)}


def get_default_dtype():
    """The dtype of Python floats and of float factories without a dtype (float32 unless set)."""
    return getattr(_C, _PYTHON_SCALARS[float].name)


def set_default_dtype(dtype):
    """Sets get_default_dtype(): float16, float32 or float64."""
    if not isinstance(dtype, _C.DType) or dtype not in (_C.float16, _C.float32, _C.float64):
        raise TypeError(f"set_default_dtype: only float16, float32 and float64 can be the default dtype, got {dtype!r}")
    _PYTHON_SCALARS[float] = np.dtype(dtype.name)


def _promoted(a, b):
    """torch.promote_types: a float beats any integer or bool (numpy would widen to float64)."""
    if (a.kind == "f") != (b.kind == "f"):
        return a if a.kind == "f" else b
    return np.promote_types(a, b)


def _inferred_dtype(data):
    """torch's dtype for `data`: Python floats float32, ints int64, bools bool; numpy values and
    arrays their own dtype; the elements of a sequence promoted together."""
    if hasattr(data, "dtype"):
        return np.asarray(data).dtype
    if isinstance(data, (list, tuple)):
        types = set(map(type, data))
        if types <= _PYTHON_SCALARS.keys():  # fast path for plain Python numbers
            dtypes = [_PYTHON_SCALARS[t] for t in types]
        else:
            dtypes = [_inferred_dtype(x) for x in data]
        return functools.reduce(_promoted, dtypes) if dtypes else _PYTHON_SCALARS[float]
    if isinstance(data, bool):
        return _PYTHON_SCALARS[bool]
    return _PYTHON_SCALARS[int] if isinstance(data, int) else _PYTHON_SCALARS[float]


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of `data` (nested sequences, numbers, numpy arrays, tensors).
    Python floats give float32, ints int64, bools bool; numpy values keep their dtype (as torch)."""
    dtype = _dtype(dtype)
    if isinstance(data, Tensor):
        return _finish(data._data.clone(), dtype, device, requires_grad)
    arr = np.asarray(data)
    if arr.dtype == object:
        raise TypeError(f"could not build a tensor from {type(data).__name__} data (ragged or non-numeric)")
    if not hasattr(data, "dtype") and arr.dtype == np.float64 and dtype is None:
        arr = arr.astype(_inferred_dtype(data))  # numpy's float64 where torch's may be narrower
    if arr.dtype.name not in _NUMPY_DTYPES and dtype is None:
        raise TypeError(f"unsupported dtype {arr.dtype} (fibril has float32, float64, float16, int64, int32, uint8, "
                        "bool; bfloat16 from a float32 array)")
    if dtype is not None and not hasattr(data, "dtype") and arr.size:
        _check_python_values_fit(arr, dtype)
    if dtype is not None:  # bfloat16, which numpy lacks, is rounded from float32 by _finish
        with np.errstate(over="ignore", invalid="ignore"):  # to inf, or wrapping (numpy's values), silently
            arr = arr.astype(np.float32 if dtype == _C.bfloat16 else np.dtype(dtype.name))
    device = get_default_device() if device is None else device  # a tensor's data keeps its own device
    return _finish(_interop.from_numpy(np.array(arr, order="C", copy=True)), dtype, device, requires_grad)


def _check_python_values_fit(values, dtype):
    """As torch, Python numbers out of an integer dtype's range (NaN and the infinities too)
    are refused (numpy arrays are cast, wrapping)."""
    if dtype.is_floating_point or dtype == _C.bool:
        return
    for value in (values.min().item(), values.max().item()):  # NaN, if any, is both
        check_fits(value, dtype)


def as_tensor(data, dtype=None, device=None):
    """Like tensor(), but shares memory with a numpy array or tensor when dtype and device allow;
    a tensor of another dtype or device is converted as by data.to() (recorded, as torch's)."""
    if isinstance(data, Tensor):
        return data.to(dtype=_dtype(dtype), device=device) if dtype is not None or device is not None else data
    if isinstance(data, np.ndarray):
        return _finish(_interop.from_numpy(data), _dtype(dtype), device, False)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array):
    """A tensor sharing memory with a numpy array (see fibril._interop.from_numpy for what copies)."""
    return Tensor._wrap(_interop.from_numpy(array))


def from_dlpack(obj):
    return Tensor._wrap(_interop.from_dlpack(obj))


def from_foreign(value):
    """value itself if it is a fibril Tensor, else a fibril copy of another library's tensor
    (torch's: anything with __dlpack__), so that its state dicts load as they are."""
    if isinstance(value, Tensor):
        return value
    if hasattr(value, "__dlpack__"):
        return from_dlpack(value.detach() if hasattr(value, "detach") else value).clone()
    raise TypeError(f"expected a tensor, got {type(value).__module__}.{type(value).__name__}")


def empty(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    array = _C.Array.empty(_size(sizes, size), _dtype(dtype) or get_default_dtype(), _device(device or get_default_device() or "cpu"))
    return _finish(array, None, None, requires_grad)


def check_fits(value, dtype):
    """Raises, as torch, when the Python number `value` is out of dtype's range: NaN and the
    infinities are out of every integer dtype's, a float dtype holds them; bool holds anything."""
    if dtype == _C.bool or not isinstance(value, numbers.Real):
        return
    value = value.item() if isinstance(value, np.generic) else value  # compared exactly, not in numpy's type
    if dtype.is_floating_point and not isinstance(value, numbers.Integral) and not math.isfinite(value):
        return
    low, high = _limits(dtype)
    if dtype == _C.uint8 and isinstance(value, numbers.Integral):  # torch lets an int down to -max wrap into it
        low = -high
    if not low <= value <= high:
        raise RuntimeError(f"value cannot be converted to type {dtype.name} without overflow")


@functools.lru_cache(maxsize=None)
def _limits(dtype):
    info = finfo(dtype) if dtype.is_floating_point else iinfo(dtype)
    return info.min, info.max


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """dtype defaults from the fill value: bool -> bool, int -> int64, float -> float32 (a
    numpy bool too, as torch)."""
    fill_value = _number(fill_value)
    if dtype is None:
        dtype = (_C.bool if isinstance(fill_value, bool) else
                 _C.int64 if isinstance(fill_value, numbers.Integral) else get_default_dtype())
    dtype = _dtype(dtype)
    check_fits(fill_value, dtype)
    array = _C.Array.full(_shape(size), fill_value, dtype, _device(device or get_default_device() or "cpu"))
    return _finish(array, None, None, requires_grad)


def zeros(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    return full(_size(sizes, size), 0, dtype=_dtype(dtype) or get_default_dtype(), device=device, requires_grad=requires_grad)


def ones(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    return full(_size(sizes, size), 1, dtype=_dtype(dtype) or get_default_dtype(), device=device, requires_grad=requires_grad)


def _like(t, dtype, device):
    return t.shape, _dtype(dtype) or t.dtype, device or t.device


def empty_like(t, dtype=None, device=None, requires_grad=False):
    shape, dtype, device = _like(t, dtype, device)
    return empty(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    shape, dtype, device = _like(t, dtype, device)
    return full(shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    return full_like(t, 0, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return full_like(t, 1, dtype=dtype, device=device, requires_grad=requires_grad)


def arange(start=None, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Values start, start+step, ... < end; float32 when any bound is a float, else int64. Into an
    integer dtype as torch: the bounds and step truncated, the count from the values as given
    (from the truncated ones for int64)."""
    if start is None and end is None:
        raise TypeError("arange() missing 1 required positional argument: 'end'")
    if end is None:
        start, end = 0, start
    start, end, step = _number(0 if start is None else start), _number(end), _number(step)
    is_float = not all(isinstance(v, numbers.Integral) for v in (start, end, step))
    dtype = _dtype(dtype) or (get_default_dtype() if is_float else _C.int64)
    if dtype == _C.bool:
        raise TypeError("arange: not implemented for bool")
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if step > 0 and end < start or step < 0 and end > start:
        raise ValueError(f"arange: upper bound {end} and lower bound {start} inconsistent with step sign {step}")
    count = math.ceil((end - start) / step)
    if not dtype.is_floating_point:
        start, end, step = builtins.int(start), builtins.int(end), builtins.int(step)
        if dtype == _C.int64:
            if step == 0:  # arange(0, 1, 0.5, dtype=int64) has step 0
                raise ValueError("arange: step must be nonzero")
            count = -((start - end) // step)
    values = start + np.arange(count, dtype=np.float64 if dtype.is_floating_point else np.int64) * step
    return tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def _exact(values):
    return np.asarray(values, dtype=np.float64)


def _rounding_to(dtype):
    """A function rounding float64 values to dtype's precision (as float64s): torch's linspace
    and logspace compute in their dtype (integer dtypes in float64)."""
    if not dtype.is_floating_point or dtype == _C.float64:
        return _exact
    return lambda values: np.asarray(_interop.from_numpy(np.array(values, dtype=np.float64, ndmin=1))
                                     .astype(dtype).astype(_C.float64))


def _converted(value, dtype):
    """A Python number converted to dtype as torch converts a scalar argument (checked, then
    truncated or rounded; a negative int wraps into uint8), as float64."""
    check_fits(value, dtype)
    if dtype.is_floating_point:
        return _rounding_to(dtype)(value)
    return np.float64(np.array(builtins.int(value)).astype(dtype.name))


def _spacing_args(start, end, steps, dtype, name):
    steps = operator.index(steps)
    if steps < 0:
        raise ValueError(f"{name}: number of steps must be non-negative, got {steps}")
    dtype = _dtype(dtype) or get_default_dtype()
    if dtype == _C.bool and steps > 1:
        raise TypeError(f"{name}: not implemented for bool")
    return _number(start), _number(end), steps, dtype


def _halves(first, last, step, steps, rounded=_exact):
    """torch's linspace/logspace kernels: the first half of the points counted up from first,
    the second down from last (so that both ends are exact), each operation rounded."""
    i = np.arange(steps)
    up = rounded(first + rounded(step * rounded(i)))
    down = rounded(last - rounded(step * rounded(steps - 1 - i)))
    return np.where(i < steps // 2, up, down)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    start, end, steps, dtype = _spacing_args(start, end, steps, dtype, "linspace")
    if steps == 1:
        return full((1,), start, dtype=dtype, device=device, requires_grad=requires_grad)
    rounded = _rounding_to(dtype)
    first, last = _converted(start, dtype), _converted(end, dtype)
    step = rounded(rounded(last - first) / rounded(steps - 1))
    values = _halves(first, last, step, steps, rounded)
    return tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    dtype = _dtype(dtype) or get_default_dtype()
    return tensor(np.eye(n, m), dtype=dtype, device=device, requires_grad=requires_grad)


def logspace(start, end, steps, base=10.0, dtype=None, device=None, requires_grad=False):
    """base ** linspace(start, end, steps), the exponents in float64 from the bounds converted
    to dtype (an integer dtype's truncated), as torch."""
    start, end, steps, dtype = _spacing_args(start, end, steps, dtype, "logspace")
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN, as torch, silently
        if steps == 1:
            return full((1,), np.power(np.float64(base), start).item(), dtype=dtype, device=device,
                        requires_grad=requires_grad)
        first, last = _converted(start, dtype), _converted(end, dtype)
        step = _rounding_to(dtype)(last - first) / (steps - 1)
        # torch raises an integer dtype's base to the power in float32
        base = np.float64(np.float32(base)) if not dtype.is_floating_point else np.float64(base)
        values = np.power(base, _halves(first, last, step, steps))
    return tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def tril_indices(row, col, offset=0, dtype=None, device=None):
    """The (row, column) coordinates, as a 2 x N tensor in row-major order, of the lower
    triangle of a row x col matrix: column <= row + offset."""
    return _triangle_indices(np.tril_indices, row, col, offset, dtype, device)


def triu_indices(row, col, offset=0, dtype=None, device=None):
    """As tril_indices, for the upper triangle: column >= row + offset."""
    return _triangle_indices(np.triu_indices, row, col, offset, dtype, device)


def _triangle_indices(numpy_indices, row, col, offset, dtype, device):
    dtype = _dtype(dtype) or _C.int64
    if dtype not in (_C.int64, _C.int32):
        raise TypeError(f"tril_indices/triu_indices: not implemented for {dtype.name}")
    if row < 0 or col < 0:
        raise ValueError(f"tril_indices/triu_indices: row and col must be non-negative, got {row} and {col}")
    coords = np.stack(numpy_indices(row, offset, col)).astype(np.int64)
    return tensor(coords, dtype=dtype, device=device)


def range(start, end, step=1, dtype=None, device=None, requires_grad=False):
    """torch.range (deprecated there): start, start+step, ... up to end inclusive, in the
    default float dtype whatever the bounds' types."""
    if step == 0:
        raise ValueError("range: step must be nonzero")
    if (end - start) * step < 0:
        raise ValueError(f"range: upper bound {end} and lower bound {start} inconsistent with step sign {step}")
    count = math.floor((end - start) / step) + 1
    dtype = _dtype(dtype) or get_default_dtype()
    values = start + np.arange(count, dtype=np.float64) * step
    return tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def scalar_tensor(s, dtype=None, device=None, requires_grad=False):
    """A 0-d tensor of s, in the default float dtype unless dtype says otherwise."""
    return tensor(s, dtype=_dtype(dtype) or get_default_dtype(), device=device, requires_grad=requires_grad)


def asarray(obj, dtype=None, device=None, copy=None, requires_grad=False):
    """obj as a tensor, sharing a tensor's memory unless a copy is asked for or the dtype changes."""
    if isinstance(obj, Tensor):
        dtype = _dtype(dtype) or obj.dtype
        if copy is False and dtype != obj.dtype:
            raise ValueError("asarray: can't convert without a copy (copy=False) to another dtype")
        out = obj.clone().detach() if copy else obj
        out = out.to(dtype) if dtype != obj.dtype else out
        return out.requires_grad_(requires_grad) if requires_grad else out
    if copy is False and not isinstance(obj, np.ndarray):
        raise ValueError("asarray: can't share memory with a non-array object (copy=False)")
    if isinstance(obj, np.ndarray) and not copy and (dtype is None or _dtype(dtype).name == obj.dtype.name):
        out = from_numpy(obj)
        return out.requires_grad_(requires_grad) if requires_grad else out
    return tensor(obj, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_strided(size, stride, dtype=None, device=None, requires_grad=False):
    """An uninitialised tensor of `size` laid out with `stride` over just enough storage."""
    from .ops.index import as_strided

    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride):
        raise ValueError(f"empty_strided: mismatch in length of strides ({len(stride)}) and shape ({len(size)})")
    extent = 0 if 0 in size else 1 + builtins.sum((n - 1) * s for n, s in zip(size, stride))
    out = as_strided(empty(extent, dtype=dtype, device=device), size, stride)
    return out.requires_grad_(requires_grad) if requires_grad else out
