"""Norms: vector_norm (the reduce family's Norm, with torch.linalg's checks), matrix_norm
(composed from vector norms, amax/amin and singular values, as torch composes it), norm,
which dispatches to one or the other by torch's rules, and cond, composed of these."""

import math
import numbers

from ..amp.policy import autocast_inputs, autocast_op, active as _autocast_active
from ..creation import zeros
from ..ops import index
from ..ops.elementwise import ne, where
from ..ops.reduce import Norm, amax, amin, sum
from ..tensor import _wrap_dim
from ._common import dtype_name, identity
from .decompositions import svdvals
from .solvers import inv_ex


def _format_ord(ord):
    """An order as torch's messages print it: 2, 0.5, inf, -inf, fro."""
    if isinstance(ord, str) or math.isinf(ord):
        return str(ord)
    return f"{ord:g}"


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The ord-norm of x over dim (None or (): every dim): max |x| for inf, min |x| for -inf,
    the number of non-zeros for 0, (sum |x|^ord)^(1/ord) otherwise. dtype: x is cast to it
    first (a wider float dtype only)."""
    if _autocast_active.on and dtype is None:
        (x,) = autocast_inputs("fp32_cuda", x)
    if isinstance(ord, bool) or not isinstance(ord, numbers.Real):
        raise TypeError(f"linalg.vector_norm(): argument 'ord' must be Number, not {type(ord).__name__}")
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {dtype_name(x.dtype)}")
    if dtype is not None:
        if not dtype.is_floating_point:
            raise RuntimeError(f"linalg.vector_norm: dtype should be floating point or complex, but got "
                               f"{dtype_name(dtype)}")
        if dtype.itemsize < x.dtype.itemsize:
            raise RuntimeError(f"linalg.vector_norm: the dtype of the input ({dtype_name(x.dtype)}) should be "
                               f"convertible without narrowing to the specified dtype ({dtype_name(dtype)})")
        x = x.to(dtype)
    dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim or ())
    dims = tuple(_wrap_dim(d, x.ndim) for d in dims)
    reduced = [x.shape[d] for d in dims] if dims and x.ndim else [x.numel()]
    if (ord < 0 or ord == math.inf) and 0 in reduced:
        raise RuntimeError(f"linalg.vector_norm cannot compute the {_format_ord(ord)} norm on an empty tensor "
                           "because the operation does not have an identity")
    return Norm.apply(x, float(ord), dims or None, keepdim)


def _check_matrix_dims(A, dim):
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    if len(dims) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dims))}")
    d0, d1 = (_wrap_dim(d, A.ndim) for d in dims)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({d0}, {d1})")
    return d0, d1


def _extreme(reduce, x, dim, keepdim):
    """amax / amin of x over dim; as torch's matrix_norm, amax of nothing is 0 (the norms are
    non-negative), while amin of nothing raises."""
    if reduce is amax and x.shape[dim] == 0:
        shape = list(x.shape)
        if keepdim:
            shape[dim] = 1
        else:
            del shape[dim]
        return zeros(shape, dtype=x.dtype, device=x.device)
    return reduce(x, dim, keepdim)


def _singular_value_norm(A, d0, d1, keepdim, reduce):
    """reduce(singular values) of the matrices over dims d0, d1 ('nuc': sum, 2: amax, -2: amin)."""
    rest = [d for d in range(A.ndim) if d not in (d0, d1)]
    values = svdvals(index.permute(A, (*rest, d0, d1)))
    out = sum(values, -1) if reduce is sum else _extreme(reduce, values, -1, False)
    if keepdim:
        for d in sorted((d0, d1)):
            out = index.unsqueeze(out, d)
    return out


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """The matrix norm over the two dims in dim: 'fro' (Frobenius), 'nuc' (nuclear: the sum
    of singular values), 2 / -2 (largest / smallest singular value), 1 / -1 (max / min
    column abs sum), inf / -inf (max / min row abs sum)."""
    if _autocast_active.on and dtype is None:
        (A,) = autocast_inputs("fp32_cuda", A)
    if not A.dtype.is_floating_point:
        raise RuntimeError(f"linalg.matrix_norm: Expected a floating point or complex tensor as input. "
                           f"Got {dtype_name(A.dtype)}")
    d0, d1 = _check_matrix_dims(A, dim)
    if dtype is not None:
        A = A.to(dtype)
    if isinstance(ord, str):
        if ord == "fro":
            return vector_norm(A, 2, (d0, d1), keepdim)
        if ord == "nuc":
            return _singular_value_norm(A, d0, d1, keepdim, sum)
    elif abs(ord) == 2:
        return _singular_value_norm(A, d0, d1, keepdim, amax if ord > 0 else amin)
    elif abs(ord) in (1, math.inf):
        if abs(ord) == math.inf:
            d0, d1 = d1, d0
        column_sums = vector_norm(A, 1, d0, keepdim)
        return _extreme(amax if ord > 0 else amin, column_sums, d1 if keepdim or d1 < d0 else d1 - 1, keepdim)
    raise RuntimeError(f"linalg.matrix_norm: Order {_format_ord(ord)} not supported.")


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.norm: a matrix norm when dim has two dims (or, with ord given and no dim,
    A is a matrix), else a vector norm (ord None: the 2-norm of A flattened or over dim)."""
    dims = (dim,) if isinstance(dim, numbers.Integral) else None if dim is None else tuple(dim)
    if dims is not None and len(dims) not in (1, 2):
        raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(dims)}")
    if dims is None and ord is not None and A.ndim not in (1, 2):
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
                           f"Got {A.ndim}D.")
    if isinstance(ord, str) or ord is not None and (dims is None and A.ndim == 2 or dims and len(dims) == 2):
        return matrix_norm(A, ord, (0, 1) if dims is None else dims, keepdim, dtype=dtype)
    return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)


_COND_NORMS = (None, 2, -2, 1, -1, math.inf, -math.inf, "fro", "nuc")


@autocast_op("fp32_cpu")
def cond(A, p=None):
    """The condition number of each matrix in the p-norm: the ratio of its largest to its
    smallest singular value for p None or 2 (the inverse ratio for -2), sum(S) sum(1 / S)
    for 'nuc', else norm(A, p) * norm(A^-1, p) for square A, inf where A is singular."""
    if isinstance(p, bool) or p not in _COND_NORMS:
        raise RuntimeError(f"linalg.cond got an invalid norm type: {_format_ord(p)}")
    if A.ndim < 2:
        raise RuntimeError("linalg.cond: The input tensor must have at least 2 dimensions.")
    # 0 for an empty A, as torch (numpy leaves it undefined), which checks that A is square
    # before for 'fro' and 'nuc' only
    if p in ("fro", "nuc") and A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.cond(ord={p}): A must be batches of square matrices, but they are "
                           f"{A.shape[-2]} by {A.shape[-1]} matrices")
    if A.numel() == 0:
        return zeros(A.shape[:-2], dtype=A.dtype, device=A.device)
    if p not in (None, 2, -2) and A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.cond(ord={_format_ord(p)}): A must be batches of square matrices, but they are "
                           f"{A.shape[-2]} by {A.shape[-1]} matrices")
    if p in (None, 2, -2, "nuc"):
        values = svdvals(A)
        if p == "nuc":  # from the singular values, as torch: finite for a rounded-off singular matrix
            return sum(values, -1) * sum(1 / values, -1)
        largest, smallest = amax(values, -1), amin(values, -1)
        return smallest / largest if p == -2 else largest / smallest
    singular = ne(inv_ex(A.detach()).info, 0)
    # the singular matrices inverted as identities, so that no NaN reaches the gradient
    invertible = where(singular.unsqueeze(-1).unsqueeze(-1), identity(A.shape[-1], A), A)
    return where(singular, math.inf, matrix_norm(A, p) * matrix_norm(inv_ex(invertible).inverse, p))
