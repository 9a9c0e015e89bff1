"""What the linalg modules share: argument checks with torch's messages, the trip of a
tensor's values to numpy (whose LAPACK does the factorisations) and back, and the errors
that name the failing matrix of a batch."""

import math

import numpy as np

from .. import _interop
from ..autograd import is_grad_enabled
from ..creation import eye, tensor
from ..tensor import Tensor, _host_values


class LinAlgError(RuntimeError):
    """torch.linalg.LinAlgError: the matrix is singular, or not positive-definite, for the
    operation asked of it."""


_TORCH_DTYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16",
                      "int64": "Long", "int32": "Int", "uint8": "Byte", "bool": "Bool"}


def dtype_name(dtype):
    """A dtype as torch's messages print it: Float, Double, Long, ..."""
    return _TORCH_DTYPE_NAMES.get(dtype.name, dtype.name)


def check_floating(name, A, low_precision=False):
    """float32 or float64: the dtypes LAPACK factorises (any floating dtype with low_precision)."""
    if not A.dtype.is_floating_point:
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got {dtype_name(A.dtype)}")
    if not low_precision and A.dtype.name not in ("float32", "float64"):
        raise RuntimeError(f"{name}: Low precision dtypes not supported. Got {dtype_name(A.dtype)}")


def check_matrix(name, A, square=False, arg="A", low_precision=False):
    check_floating(name, A, low_precision)
    if A.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor {arg} must have at least 2 dimensions.")
    if square and A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{name}: {arg} must be batches of square matrices, but they are {A.shape[-2]} by "
                           f"{A.shape[-1]} matrices")


def check_same_dtype(name, A, B, names=("A", "B")):
    if A.dtype != B.dtype:
        raise RuntimeError(f"{name}: Expected {names[0]} and {names[1]} to have the same dtype, but found {names[0]} "
                           f"of type {dtype_name(A.dtype)} and {names[1]} of type {dtype_name(B.dtype)} instead")


def broadcast_batch(name, a_shape, b_shape):
    """The broadcast of two batch shapes, or torch's error naming both."""
    try:
        return tuple(np.broadcast_shapes(tuple(a_shape), tuple(b_shape)))
    except ValueError:
        raise RuntimeError(f"{name}: the batch dimensions {list(a_shape)} and {list(b_shape)} do not broadcast "
                           "together") from None


def host(t):
    """t's values as a numpy array on the host (possibly sharing t's memory: read only)."""
    return _host_values(t._data)


def wrap(values, like):
    """A numpy result as a fibril tensor with like's dtype and device."""
    array = _interop.from_numpy(np.asarray(values, dtype=np.dtype(like.dtype.name), order="C"))
    return Tensor._wrap(array if like.device == "cpu" else array.to(like.device))


def wrap_int(values, like, dtype="int64"):
    """An integer numpy result (rank, info) on like's device."""
    array = _interop.from_numpy(np.asarray(values, dtype=dtype, order="C"))
    return Tensor._wrap(array if like.device == "cpu" else array.to(like.device))


def records(*tensors):
    """Whether an op on these tensors would be recorded by autograd."""
    return is_grad_enabled() and any(t.requires_grad for t in tensors)


def batch_label(index, batch_shape):
    """torch's prefix naming the failing matrix of a batch (none for a single matrix)."""
    return f"(Batch element {index}): " if batch_shape else ""


def per_matrix(fn, a):
    """fn on each matrix of the batch a, for results of a matrix's shape: the stacked results,
    NaN for the matrices where fn raises numpy's LinAlgError, and the flat indices of those."""
    flat = a.reshape(-1, *a.shape[-2:])
    out = np.full(flat.shape, np.nan, dtype=a.dtype)
    failed = []
    for k, matrix in enumerate(flat):
        try:
            out[k] = fn(matrix)
        except np.linalg.LinAlgError:
            failed.append(k)
    return out.reshape(a.shape), failed


def first_failure(fn, arrays):
    """The flat batch index of the first matrix on which fn raises numpy's LinAlgError."""
    count = math.prod(arrays[0].shape[:-2])  # not -1 in reshape: a matrix may be empty
    flat = [a.reshape(count, *a.shape[-2:]) for a in arrays]
    for k in range(count):
        try:
            fn(*(f[k] for f in flat))
        except np.linalg.LinAlgError:
            return k
    return None


def zero_pivot(matrix):
    """LAPACK's getrf info for a singular matrix: the first k (from 1) with U[k, k] == 0 in its
    LU factorisation, that is (in exact arithmetic) the first k whose leading k columns are
    linearly dependent. A binary search, as dependence persists once reached."""
    lo, hi = 1, matrix.shape[-1]
    while lo < hi:
        mid = (lo + hi) // 2
        if np.linalg.matrix_rank(matrix[:, :mid]) < mid:
            hi = mid
        else:
            lo = mid + 1
    return lo


def failing_minor(matrix):
    """LAPACK's potrf info for a matrix that is not positive-definite: the order of its first
    leading minor that is not (binary search: once one fails, the larger ones do)."""
    lo, hi = 1, matrix.shape[-1]
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            np.linalg.cholesky(matrix[:mid, :mid])
            lo = mid + 1
        except np.linalg.LinAlgError:
            hi = mid
    return lo


def identity(n, like):
    """The n x n identity with like's dtype and device."""
    return eye(n, dtype=like.dtype, device=like.device)


def batch_mask(values, like):
    """A bool numpy array of a batch shape as a tensor that broadcasts over its matrices."""
    return tensor(np.asarray(values, dtype=bool)[..., None, None], device=like.device)
