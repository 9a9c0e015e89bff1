"""Reduce family: sum, mean, prod, amax/amin, max/min with indices, argmax/argmin, var/std,
norm, logsumexp, cumsum/cumprod, any/all (this module's sum/max/min/any/all shadow the
builtins: see `builtins.`). Forward is one _C call; gradients are composed from elementwise
ops, broadcast back over the reduced dims. Composed from those and sort: nansum/nanmean,
var_mean/std_mean, aminmax, count_nonzero, median/nanmedian, quantile/nanquantile, mode,
cummax/cummin, logcumsumexp, diff."""

import builtins
import collections
import math
import numbers

from ..amp.policy import autocast_inputs, active as _autocast_active
from .. import _C
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor, _wrap_dim
from . import elementwise as ew
from . import index

R = _C.ReduceOp
MinMax = collections.namedtuple("MinMax", ["values", "indices"])


def _dims(dim, ndim):
    """None (all dims), an int or a sequence -> sorted tuple of non-negative dims (none for a
    0-d input, whose dim 0 or -1 the kernels accept and which has no dim to restore)."""
    if dim is None or ndim == 0:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    return tuple(sorted(_wrap_dim(d, ndim) for d in dims)) if dims else tuple(range(ndim))


def _c_dims(dim):
    return None if dim is None else ([dim] if isinstance(dim, numbers.Integral) else list(dim))


def _restore(g, in_shape, dims, keepdim):
    """A gradient of the reduced shape, reshaped to broadcast against the input."""
    if not keepdim:
        shape = list(in_shape)
        for d in dims:
            shape[d] = 1
        g = index.reshape(g, tuple(shape))
    return g


def _expand_back(g, in_shape, dims, keepdim):
    return index.expand(_restore(g, in_shape, dims, keepdim), tuple(in_shape))


class Reduce(Function):
    """sum, mean, logsumexp, amax, amin, prod: one kernel call; backward per op below."""

    @staticmethod
    def forward(ctx, x, op, dim, keepdim, dtype):
        out = Tensor._wrap(_C.reduce(op, x._data, _c_dims(dim), keepdim, dtype))
        ctx.op, ctx.dims, ctx.keepdim, ctx.in_shape, ctx.in_dtype = op, _dims(dim, x.ndim), keepdim, x.shape, x.dtype
        if op in (R.logsumexp, R.amax, R.amin, R.prod):
            ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        op, dims, keepdim, shape = ctx.op, ctx.dims, ctx.keepdim, ctx.in_shape
        if op == R.sum:
            grad = _expand_back(g, shape, dims, keepdim)
        elif op == R.mean:
            count = 1
            for d in dims:
                count *= shape[d]
            grad = _expand_back(ew.div(g, count), shape, dims, keepdim)
        else:
            x, out = ctx.saved_tensors
            g, out = _restore(g, shape, dims, keepdim), _restore(out, shape, dims, keepdim)
            if op == R.logsumexp:
                grad = ew.mul(g, ew.exp(ew.sub(x, out)))
            elif op == R.prod:
                grad = ew.mul(g, _prod_others(x, dims))
            else:  # amax/amin: split evenly among the elements equal to the result; as torch's
                # (g / count) * hit, a NaN result (no element equals it) gives its slice NaN
                hit = ew.eq(x, out)
                count = sum(hit, dims, keepdim=True)
                grad = ew.mul(ew.div(g, count), hit)
        return (grad if grad.dtype == ctx.in_dtype else grad.to(ctx.in_dtype)), None, None, None, None


def _prod_others(x, dims):
    """For each element, the product of the others in its reduced slice (exact with zeros)."""
    zero = ew.eq(x, 0)
    if is_grad_enabled() and zero.any().item():  # create_graph: a form whose derivative is right at zeros
        return _prod_before_and_after(x, dims)
    nonzero = ew.where(zero, 1.0, x)
    prod_nonzero = _reduce(nonzero, R.prod, dims, True, None)
    zeros_in_slice = sum(zero, dims, keepdim=True)
    return ew.where(zero, ew.where(ew.eq(zeros_in_slice, 1), prod_nonzero, 0.0),
                    ew.where(ew.gt(zeros_in_slice, 0), 0.0, ew.div(prod_nonzero, nonzero)))


def _prod_before_and_after(x, dims):
    """_prod_others as the product of the elements before and after each one in its slice (the
    reduced dims moved last and merged; exclusive cumprods from both ends, as torch)."""
    from .gather import flip
    from .join import cat

    kept = [d for d in range(x.ndim) if d not in dims]
    order = tuple(kept) + tuple(dims)
    moved = index.permute(x, order)
    rows = index.reshape(moved, moved.shape[:len(kept)] + (-1,))
    ones = Tensor._wrap(_C.Array.full(rows.shape[:-1] + (1,), 1, x.dtype, x.device))

    def exclusive_cumprod(t):
        return cumprod(cat([ones, t[..., :-1]], -1), -1)

    others = ew.mul(exclusive_cumprod(rows), flip(exclusive_cumprod(flip(rows, -1)), -1))
    return index.permute(index.reshape(others, moved.shape), index.inverse_permutation(order))


def _refuse_integer_result_with_grad(x, dtype):
    """As torch: a graph cannot carry gradients into an integer result asked for by dtype=."""
    if dtype is None or not (x.requires_grad and is_grad_enabled()):
        return
    from ..creation import _dtype

    if not _dtype(dtype).is_floating_point:
        raise RuntimeError(f"autograd does not support dtype {_dtype(dtype).name}: the input "
                           f"{x.dtype.name}{list(x.shape)} requires grad")


def _reduce(x, op, dim, keepdim, dtype):
    _refuse_integer_result_with_grad(x, dtype)
    return Reduce.apply(x, op, dim, keepdim, dtype)


def sum(x, dim=None, keepdim=False, dtype=None):
    if _autocast_active.on and dtype is None:
        (x,) = autocast_inputs("fp32_cuda", x)
    return _reduce(x, R.sum, dim, keepdim, dtype)


def mean(x, dim=None, keepdim=False, dtype=None):
    return _reduce(x, R.mean, dim, keepdim, dtype)


def prod(x, dim=None, keepdim=False, dtype=None):
    if _autocast_active.on and dtype is None:
        (x,) = autocast_inputs("fp32", x)
    return _reduce(x, R.prod, dim, keepdim, dtype)


def amax(x, dim=None, keepdim=False):
    return _reduce(x, R.amax, dim, keepdim, None)


def amin(x, dim=None, keepdim=False):
    return _reduce(x, R.amin, dim, keepdim, None)


def logsumexp(x, dim, keepdim=False):
    if _autocast_active.on:
        (x,) = autocast_inputs("fp32_cuda", x)
    return _reduce(x, R.logsumexp, dim, keepdim, None)


def any(x, dim=None, keepdim=False):
    return Tensor._wrap(_C.reduce(R.any, x._data, _c_dims(dim), keepdim, None))


def all(x, dim=None, keepdim=False):
    return Tensor._wrap(_C.reduce(R.all, x._data, _c_dims(dim), keepdim, None))


class MaxDim(Function):
    @staticmethod
    def forward(ctx, x, dim, keepdim, is_max):
        values, indices = (_C.max_dim if is_max else _C.min_dim)(x._data, dim, keepdim)
        ctx.dim, ctx.keepdim, ctx.in_shape = _wrap_dim(dim, x.ndim), keepdim, x.shape
        indices = Tensor._wrap(indices)
        ctx.indices = indices
        return Tensor._wrap(values), indices

    @staticmethod
    def backward(ctx, g, _):
        from ..creation import zeros
        from .gather import scatter

        d, shape = ctx.dim, ctx.in_shape
        if not shape:  # a 0-d input: its own max
            return g, None, None, None
        g = _restore(g, shape, (d,), ctx.keepdim)
        idx = _restore(ctx.indices, shape, (d,), ctx.keepdim)
        # g into the chosen positions: one scatter (any device), differentiable in g.
        return scatter(zeros(shape, dtype=g.dtype, device=g.device), d, idx, g), None, None, None


def _keepdim_needs_dim(name, dim, keepdim):
    """torch has no whole-tensor form of these with keepdim: refused, not ignored."""
    if dim is None and keepdim:
        raise TypeError(f"{name}(): keepdim=True needs a dim")


def max(x, dim=None, keepdim=False):
    """The maximum of x, its (values, indices) along dim, or, as torch.max(x, other), the
    elementwise maximum of two tensors."""
    if isinstance(dim, Tensor):
        return ew.maximum(x, dim)
    _keepdim_needs_dim("max", dim, keepdim)
    if dim is None:  # as torch, the gradient is split evenly among the maxima, NaN matching NaN
        return _EvenlySplit.apply(x, amax(x.detach())) if x.requires_grad else amax(x)
    return MinMax(*MaxDim.apply(x, dim, keepdim, True))


def min(x, dim=None, keepdim=False):
    """As max, for the minimum (torch.min(x, other): the elementwise minimum)."""
    if isinstance(dim, Tensor):
        return ew.minimum(x, dim)
    _keepdim_needs_dim("min", dim, keepdim)
    if dim is None:
        return _EvenlySplit.apply(x, amin(x.detach())) if x.requires_grad else amin(x)
    return MinMax(*MaxDim.apply(x, dim, keepdim, False))


def argmax(x, dim=None, keepdim=False):
    return Tensor._wrap(_C.argmax(x._data, dim, keepdim))


def argmin(x, dim=None, keepdim=False):
    return Tensor._wrap(_C.argmin(x._data, dim, keepdim))


class Moments(Function):
    """var and std (with Bessel's `correction`)."""

    @staticmethod
    def forward(ctx, x, dim, correction, keepdim, is_std):
        out = Tensor._wrap((_C.std if is_std else _C.var)(x._data, _c_dims(dim), correction, keepdim))
        ctx.dims, ctx.keepdim, ctx.correction, ctx.is_std = _dims(dim, x.ndim), keepdim, correction, is_std
        ctx.whole = dim is None or x.ndim == 0
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        dims, shape = ctx.dims, x.shape
        count = 1
        for d in dims:
            count *= shape[d]
        centered = ew.sub(x, mean(x, dims, keepdim=True))
        g = _restore(g, shape, dims, ctx.keepdim)
        if ctx.is_std:  # d std = d var / (2 std), 0 where std is 0 (as torch)
            out = _restore(out, shape, dims, ctx.keepdim)
            g = ew.where(ew.eq(out, 0), 0.0, ew.div(g, ew.mul(out, 2.0)))
        dof = count - ctx.correction
        if dof > 0:
            grad = ew.mul(ew.mul(g, 2.0 / dof), centered)
        elif ctx.whole:  # no degrees of freedom left, as torch: inf, nan where x is at the mean
            grad = ew.where(ew.eq(centered, 0), ew.mul(g, math.nan), ew.mul(g, math.inf))
        else:  # torch's 2 / (n - correction) along dims: inf at 0, negative below
            grad = ew.mul(ew.mul(g, 2.0 / dof if dof else math.inf), centered)
        return grad, None, None, None, None


def var(x, dim=None, unbiased=None, keepdim=False, correction=None):
    dim, correction = _moment_args(dim, unbiased, keepdim, correction, "var")
    return Moments.apply(x, dim, correction, keepdim, False)


def std(x, dim=None, unbiased=None, keepdim=False, correction=None):
    dim, correction = _moment_args(dim, unbiased, keepdim, correction, "std")
    return Moments.apply(x, dim, correction, keepdim, True)


def _moment_args(dim, unbiased, keepdim, correction, op):
    """(dim, correction) from torch's two forms: (dim, unbiased, keepdim) or (dim, *,
    correction, keepdim), and its (input, unbiased) overload: a bool where dim goes is
    `unbiased` over all elements (std(x, False): the population std), not dim 0 or 1."""
    if isinstance(dim, bool):
        if unbiased is not None or keepdim or correction is not None:
            raise TypeError(f"{op}(): a bool second argument is `unbiased` (over all elements) and takes no "
                            f"unbiased, keepdim or correction")
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}(): pass either unbiased or correction, not both")
    if correction is not None:
        return dim, float(correction)
    return dim, 1.0 if unbiased is None or unbiased else 0.0


class Norm(Function):
    @staticmethod
    def forward(ctx, x, p, dim, keepdim):
        out = Tensor._wrap(_C.norm(x._data, p, _c_dims(dim), keepdim))
        ctx.p, ctx.dims, ctx.keepdim = p, _dims(dim, x.ndim), keepdim
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        from ..creation import zeros_like

        x, out = ctx.saved_tensors
        p, dims, shape = ctx.p, ctx.dims, x.shape
        if p == 0:  # a count of non-zeros: piecewise constant
            return zeros_like(x), None, None, None
        g, out = _restore(g, shape, dims, ctx.keepdim), _restore(out, shape, dims, ctx.keepdim)
        if p in (2, "fro"):
            grad = ew.where(ew.eq(out, 0), 0.0, ew.div(ew.mul(g, x), out))
        elif p == 1:
            grad = ew.mul(g, ew.sign(x))
        elif p in (float("inf"), float("-inf")):
            hit = ew.eq(ew.abs(x), out)
            grad = ew.where(hit, ew.div(ew.mul(g, ew.sign(x)), sum(hit, dims, keepdim=True)), 0.0)
        elif p < 1:  # sign(x) |x|^(p-1) norm^(1-p), 0 at x = 0
            scaled = ew.where(ew.eq(x, 0), 0.0, ew.mul(ew.sign(x), ew.pow(ew.abs(x), p - 1)))
            grad = ew.mul(ew.mul(scaled, g), ew.pow(out, 1 - p))
        else:  # sign(x) |x|^(p-1) / norm^(p-1), 0 where the norm is 0
            scaled = ew.mul(ew.sign(x), ew.pow(ew.abs(x), p - 1))
            grad = ew.mul(scaled, ew.where(ew.eq(out, 0), 0.0, ew.div(g, ew.pow(out, p - 1))))
        return grad, None, None, None


def norm(x, p="fro", dim=None, keepdim=False, dtype=None):
    """torch.norm: dtype (a floating point dtype) casts x first, so the norm is computed and
    returned in it."""
    if dtype is not None:
        if not dtype.is_floating_point:
            raise TypeError(f"norm(): dtype must be a floating point dtype, got {dtype.name}")
        x = x.to(dtype)
    elif _autocast_active.on:
        (x,) = autocast_inputs("fp32_cuda", x)
    return Norm.apply(x, p, dim, keepdim)


class Cumsum(Function):
    @staticmethod
    def forward(ctx, x, dim, dtype):
        ctx.dim, ctx.in_dtype = _wrap_dim(dim, builtins.max(x.ndim, 1)), x.dtype
        return Tensor._wrap(_C.cumsum(x._data, dim, dtype))

    @staticmethod
    def backward(ctx, g):
        rev = _reverse_cumsum(g, ctx.dim) if g.ndim else g
        return (rev if rev.dtype == ctx.in_dtype else rev.to(ctx.in_dtype)), None, None


class Cumprod(Function):
    @staticmethod
    def forward(ctx, x, dim, dtype):
        out = Tensor._wrap(_C.cumprod(x._data, dim, dtype))
        ctx.dim = _wrap_dim(dim, builtins.max(x.ndim, 1))
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        if x.ndim == 0:
            grad = g
        elif any(ew.eq(x, 0)).item():
            grad = (_cumprod_grad_by_products(x, g, ctx.dim) if is_grad_enabled()
                    else _cumprod_grad_with_zeros(x, out, g, ctx.dim))
        else:  # d out_j / d x_k = out_j / x_k for j >= k
            grad = ew.div(_reverse_cumsum(ew.mul(g, out), ctx.dim), x)
        return (grad if grad.dtype == x.dtype else grad.to(x.dtype)), None, None


def _reverse_cumsum(x, dim):
    from .gather import flip

    return flip(cumsum(flip(x, dim), dim), dim)


def _cumprod_grad_with_zeros(x, out, g, d):
    """The gradient of cumprod along d where x may hold zeros, without dividing by them (as
    torch). Per slice, with z1 the first zero and z2 the second (or the end): elements before
    z1 get the usual formula (every output from z1 on is 0); z1 gets prod(x before z1) *
    sum_{z1 <= j < z2} g_j * prod(x in (z1, j]); elements after z1 get 0 (each output they
    reach also holds the zero at z1)."""
    is_zero = ew.eq(x, 0)
    zeros_so_far = cumsum(is_zero, d)
    before, first_segment = ew.eq(zeros_so_far, 0), ew.eq(zeros_so_far, 1)
    grad_before = ew.div(_reverse_cumsum(ew.where(before, ew.mul(g, out), 0.0), d), ew.where(before, x, 1.0))
    within = cumprod(ew.where(ew.logical_and(first_segment, ew.logical_not(is_zero)), x, 1.0), d)
    segment_sum = sum(ew.where(first_segment, ew.mul(g, within), 0.0), d, keepdim=True)
    grad_first = ew.mul(segment_sum, prod(ew.where(before, x, 1.0), d, keepdim=True))
    return ew.where(before, grad_before, ew.where(ew.logical_and(first_segment, is_zero), grad_first, 0.0))


def _cumprod_grad_by_products(x, g, d):
    """The gradient of cumprod along d where x holds zeros as sum_{j >= k} g_j prod_{i <= j, i != k} x_i,
    in n^2 products: unlike _cumprod_grad_with_zeros, differentiable again at the zeros
    (create_graph; as torch)."""
    from ..creation import arange

    xs, gs = index.movedim(x, d, -1), index.movedim(g, d, -1)
    positions = arange(xs.shape[-1], device=x.device)
    k, j = index.unsqueeze(positions, 1), index.unsqueeze(positions, 0)
    without_k = ew.where(ew.eq(k, j), 1.0, index.unsqueeze(xs, -2))  # [..., k, i]
    terms = ew.mul(cumprod(without_k, -1), index.unsqueeze(gs, -2))  # [..., k, j]
    return index.movedim(sum(ew.where(ew.ge(j, k), terms, 0.0), -1), -1, d)


def cumsum(x, dim, dtype=None):
    if _autocast_active.on and dtype is None:
        (x,) = autocast_inputs("fp32_cuda", x)
    _refuse_integer_result_with_grad(x, dtype)
    return Cumsum.apply(x, dim, dtype)


def cumprod(x, dim, dtype=None):
    if _autocast_active.on and dtype is None:
        (x,) = autocast_inputs("fp32_cuda", x)
    _refuse_integer_result_with_grad(x, dtype)
    return Cumprod.apply(x, dim, dtype)


# ------------------------------------------------------------------------------ NaN-aware, order statistics, scans
AminmaxResult = collections.namedtuple("aminmax", ["min", "max"])
MedianResult = collections.namedtuple("median", ["values", "indices"])
NanmedianResult = collections.namedtuple("nanmedian", ["values", "indices"])
ModeResult = collections.namedtuple("mode", ["values", "indices"])
CummaxResult = collections.namedtuple("cummax", ["values", "indices"])
CumminResult = collections.namedtuple("cummin", ["values", "indices"])


def _without_nan(x):
    return ew.where(ew.isnan(x), 0, x) if x.dtype.is_floating_point else x


def nansum(x, dim=None, keepdim=False, dtype=None):
    """sum with NaN counted as 0 (and given no gradient)."""
    return sum(_without_nan(x), dim, keepdim, dtype)


def nanmean(x, dim=None, keepdim=False, dtype=None):
    """mean of the non-NaN elements: NaN where there are none."""
    if not x.dtype.is_floating_point:
        raise TypeError(f"nanmean(): expected a floating point input, got {x.dtype.name}")
    count = sum(ew.logical_not(ew.isnan(x)), dim, keepdim)
    return ew.div(nansum(x, dim, keepdim, dtype), count)


def var_mean(x, dim=None, unbiased=None, keepdim=False, correction=None):
    dim, correction = _moment_args(dim, unbiased, keepdim, correction, "var_mean")
    return var(x, dim, keepdim=keepdim, correction=correction), mean(x, dim, keepdim)


def std_mean(x, dim=None, unbiased=None, keepdim=False, correction=None):
    dim, correction = _moment_args(dim, unbiased, keepdim, correction, "std_mean")
    return std(x, dim, keepdim=keepdim, correction=correction), mean(x, dim, keepdim)


def aminmax(x, *, dim=None, keepdim=False):
    return AminmaxResult(amin(x, dim, keepdim), amax(x, dim, keepdim))


def count_nonzero(x, dim=None):
    return sum(ew.ne(x, 0), dim)


def _line(x):
    """x, with a 0-d x as one line of one element (torch reduces 0-d tensors along dim 0 or -1)."""
    return x if x.ndim else index.reshape(x, (1,))


def _select_along(x, d, idx, keepdim):
    """(x's values at idx along d, idx), from a keepdim-shaped idx; the values' gradient goes
    to those positions."""
    from .gather import gather

    values = gather(x, d, idx)
    if not keepdim:
        values, idx = index.squeeze(values, d), index.squeeze(idx, d)
    return values, idx


class _EvenlySplit(Function):
    """value, an element of x that forward picked (a global median): as torch, its gradient is
    split evenly among the elements equal to it (NaN matching NaN)."""

    @staticmethod
    def forward(ctx, x, value):
        ctx.save_for_backward(x)
        ctx.value = value
        return Tensor._wrap(value._data)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        value = ctx.value
        hit = ew.logical_or(ew.eq(x, value), ew.logical_and(ew.isnan(x), ew.isnan(value)))
        return ew.where(hit, ew.div(g, sum(hit)), 0.0), None


def _median_positions(x, d, ignore_nan):
    """Each line's lower median along d, as a keepdim index into x. A line with NaN gives its
    first NaN, or with ignore_nan the median of the rest (its first element if all are NaN)."""
    from .gather import gather
    from .sort import sort

    values, order = sort(x.detach(), d)
    n = x.shape[d]
    nans = sum(ew.isnan(values), d, keepdim=True)
    if ignore_nan:
        k = ew.floor_divide(ew.clamp(ew.sub(n - 1, nans), min=0), 2)
    else:  # the sort puts NaN last: its first NaN is at n - nans
        k = ew.where(ew.gt(nans, 0), ew.sub(n, nans), (n - 1) // 2)
    return gather(order, d, k)


def _median(x, dim, keepdim, ignore_nan):
    op = "nanmedian" if ignore_nan else "median"
    if dim is None:
        flat = index.reshape(x.detach(), (-1,))
        if flat.numel() == 0:
            if not x.dtype.is_floating_point:
                raise ValueError(f"{op}(): an empty {x.dtype.name} tensor has no median (and no NaN to return)")
            # NaN, still in the graph (as torch's): its gradient reaches the (empty) input
            return ew.mul(sum(x), math.nan)
        return _EvenlySplit.apply(x, index.reshape(flat[_median_positions(flat, 0, ignore_nan)], ()))
    line = _line(x)
    d = _wrap_dim(dim, line.ndim)
    if line.shape[d] == 0:
        raise IndexError(f"{op}(): expected reduction dim {d} of input shape {list(x.shape)} to have non-zero size")
    return _select_along(line, d, _median_positions(line, d, ignore_nan), keepdim and x.ndim > 0)


def median(x, dim=None, keepdim=False):
    """The lower median of all elements (NaN if any is NaN), or with dim each line's as
    (values, indices)."""
    _keepdim_needs_dim("median", dim, keepdim)
    result = _median(x, dim, keepdim, False)
    return result if dim is None else MedianResult(*result)


def nanmedian(x, dim=None, keepdim=False):
    """median ignoring NaN (NaN only where a line holds nothing else)."""
    _keepdim_needs_dim("nanmedian", dim, keepdim)
    result = _median(x, dim, keepdim, True)
    return result if dim is None else NanmedianResult(*result)


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _lerp(start, end, weight):
    """torch.lerp's formula, exact at both ends."""
    step = ew.sub(end, start)
    return ew.where(ew.lt(weight, 0.5), ew.add(start, ew.mul(weight, step)),
                    ew.sub(end, ew.mul(step, ew.sub(1.0, weight))))


def _check_quantile_args(x, q, interpolation, op):
    """q as a tensor of x's dtype and device, once the arguments are checked."""
    from ..creation import tensor

    if x.dtype not in (_C.float32, _C.float64):
        raise TypeError(f"{op}() input tensor must be either float or double dtype, got {x.dtype.name}")
    if x.numel() == 0:
        raise ValueError(f"{op}() input tensor must be non-empty, got shape {list(x.shape)}")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"{op}() interpolation must be one of {', '.join(_INTERPOLATIONS)}, got '{interpolation}'")
    if not isinstance(q, Tensor):
        q = tensor(q, dtype=x.dtype, device=x.device)
    if q.ndim > 1:
        raise ValueError(f"{op}() q must be a scalar or 1D tensor, got shape {list(q.shape)}")
    if q.dtype != x.dtype:
        raise TypeError(f"{op}() q tensor must have the input's dtype {x.dtype.name}, got {q.dtype.name}")
    if not all(ew.logical_and(ew.ge(q, 0), ew.le(q, 1))).item():
        raise ValueError(f"{op}() q values must be in the range [0, 1], got {q.tolist()}")
    return q


def _quantile(x, q, dim, keepdim, interpolation, ignore_nan):
    """As torch: sort each line, turn q into a fractional rank among its values (or its
    non-NaN values), read the values either side of the rank and interpolate. Gradients
    reach both values (through the sort) and q (through the weight)."""
    from ..creation import full_like
    from .gather import gather
    from .sort import sort

    q = _check_quantile_args(x, q, interpolation, "nanquantile" if ignore_nan else "quantile")
    if dim is None:
        lines, out_shape = index.reshape(x, (-1,)), (1,) * x.ndim if keepdim else ()
    else:
        d = _wrap_dim(dim, x.ndim)
        lines = index.movedim(x, d, -1) if x.ndim else index.reshape(x, (1,))
        out_shape = list(x.shape)
        if keepdim and x.ndim:
            out_shape[d] = 1
        elif x.ndim:
            del out_shape[d]
        out_shape = tuple(out_shape)
    values = sort(lines, -1).values
    n = values.shape[-1]
    qs = index.reshape(q, (-1,) + (1,) * values.ndim)  # (len(q), 1, ..., 1): q leads
    nan = ew.isnan(values)
    if ignore_nan:  # an all-NaN line gets rank 0: NaN
        ranks = ew.clamp(ew.mul(qs, ew.sub(sum(ew.logical_not(nan), -1, keepdim=True), 1)), min=0)
    else:  # a line with NaN gets its last rank: NaN
        ranks = ew.where(any(nan, -1, keepdim=True), float(n - 1), ew.mul(qs, n - 1))
    if interpolation == "lower":
        ranks = ew.floor(ranks)
    elif interpolation == "higher":
        ranks = ew.ceil(ranks)
    elif interpolation == "nearest":
        ranks = ew.round(ranks)
    values = index.expand(values, (qs.shape[0],) + tuple(values.shape))
    below_rank = ranks.to(_C.int64)
    out = gather(values, -1, below_rank)
    if interpolation in ("linear", "midpoint"):
        above = gather(values, -1, ew.ceil(ranks).to(_C.int64))
        weight = full_like(ranks, 0.5) if interpolation == "midpoint" else ew.sub(ranks, below_rank)
        out = _lerp(out, above, weight)
    return index.reshape(out, out_shape if q.ndim == 0 else (q.shape[0],) + out_shape)


def quantile(x, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The q-th quantiles (q a number or a 0-d or 1-d tensor in [0, 1]; a 1-d q adds a leading
    dim) of all elements or of each line along dim; NaN where a line holds NaN."""
    if _autocast_active.on:
        x, q = autocast_inputs("fp32_cpu", x, q)
    return _quantile(x, q, dim, keepdim, interpolation, False)


def nanquantile(x, q, dim=None, keepdim=False, *, interpolation="linear"):
    """quantile ignoring NaN (NaN only where a line holds nothing else)."""
    if _autocast_active.on:
        x, q = autocast_inputs("fp32_cpu", x, q)
    return _quantile(x, q, dim, keepdim, interpolation, True)


def mode(x, dim=-1, keepdim=False):
    """(values, indices): each line's most frequent value along dim (the smallest of a tie;
    each NaN counts apart, as torch) and the position of its last occurrence."""
    from ..creation import arange
    from .gather import gather
    from .join import cat
    from .sort import sort

    line = _line(x)
    d = _wrap_dim(dim, line.ndim)
    n = line.shape[d]
    if n == 0:
        raise IndexError(f"mode(): expected reduction dim {d} of input shape {list(x.shape)} to have non-zero size")
    values, order = sort(line.detach(), d)
    previous = cat([index.narrow(values, d, 0, 1), index.narrow(values, d, 0, n - 1)], d)
    pos = index.reshape(arange(n, device=x.device), tuple(n if i == d else 1 for i in range(line.ndim)))
    run_start = cummax(ew.where(ew.ne(values, previous), pos, 0), d).values
    # The first longest run ends where the length so far first peaks.
    last = gather(order, d, argmax(ew.sub(pos, run_start), d, keepdim=True))
    return ModeResult(*_select_along(line, d, last, keepdim and x.ndim > 0))


def _cumulative_extreme(x, dim, is_max):
    """values, indices of the running max (min) along dim: as torch, a later equal element and
    any NaN take over. A doubling scan (log2 n steps) of the detached values finds the indices;
    the values are gathered, so that their gradient goes to those positions."""
    from ..creation import arange
    from .gather import gather
    from .join import cat

    line = _line(x)
    d = _wrap_dim(dim, line.ndim)
    n = line.shape[d]
    positions = index.reshape(arange(n, device=x.device), tuple(n if i == d else 1 for i in range(line.ndim)))
    v, i = line.detach(), index.expand(positions, line.shape).contiguous()
    step = 1
    while step < n:
        old_v, old_i = index.narrow(v, d, 0, n - step), index.narrow(i, d, 0, n - step)
        new_v, new_i = index.narrow(v, d, step, n - step), index.narrow(i, d, step, n - step)
        wins = ew.ge(new_v, old_v) if is_max else ew.le(new_v, old_v)
        take = ew.logical_or(ew.isnan(new_v), ew.logical_and(wins, ew.logical_not(ew.isnan(old_v))))
        v = cat([index.narrow(v, d, 0, step), ew.where(take, new_v, old_v)], d)
        i = cat([index.narrow(i, d, 0, step), ew.where(take, new_i, old_i)], d)
        step *= 2
    values = gather(line, d, i)
    return (values, i) if x.ndim else (index.reshape(values, ()), index.reshape(i, ()))


def cummax(x, dim):
    return CummaxResult(*_cumulative_extreme(x, dim, True))


def cummin(x, dim):
    return CumminResult(*_cumulative_extreme(x, dim, False))


def _logaddexp(a, b):
    """log(exp(a) + exp(b)) without overflow; infinite operands give torch's results (and no
    NaN gradient); a NaN operand gives NaN and, as torch, a NaN gradient to both."""
    big = ew.maximum(a, b)
    gap = ew.where(ew.isfinite(big), ew.sub(ew.minimum(a, b), big), 0.0)
    out = ew.add(big, ew.log1p(ew.exp(gap)))
    nan = ew.isnan(big)  # (a + b) * NaN there: the value NaN, and d/da = d/db = NaN (nothing leaks elsewhere)
    return ew.where(nan, ew.mul(ew.add(a, b), ew.where(nan, math.nan, 1.0).to(out.dtype)), out)


def logcumsumexp(x, dim):
    """log(cumsum(exp(x))) along dim, by a doubling scan of log-add-exp: neither overflows
    nor loses small terms to underflow."""
    from .join import cat

    if not x.dtype.is_floating_point:
        raise TypeError(f"logcumsumexp(): expected a floating point input, got {x.dtype.name}")
    d = _wrap_dim(dim, builtins.max(x.ndim, 1))
    n = x.shape[d] if x.ndim else 1
    if n <= 1:
        return x.clone()
    step = 1
    while step < n:
        x = cat([index.narrow(x, d, 0, step),
                 _logaddexp(index.narrow(x, d, step, n - step), index.narrow(x, d, 0, n - step))], d)
        step *= 2
    return x


def diff(x, n=1, dim=-1, prepend=None, append=None):
    """The n-th forward difference along dim of x with prepend and append joined on (on bools:
    whether neighbours differ)."""
    from .join import cat

    if x.ndim == 0:
        raise ValueError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise ValueError(f"diff(): order must be non-negative but got {n}")
    d = _wrap_dim(dim, x.ndim)
    for t in (prepend, append):
        if t is not None and t.ndim != x.ndim:
            raise ValueError(f"diff expects prepend or append to have the input's {x.ndim} dims, got shape "
                             f"{list(t.shape)} for input shape {list(x.shape)}")
    if n == 0:  # as torch (and numpy): x as it is, without prepend and append
        return x.clone()
    parts = [t for t in (prepend, x, append) if t is not None]
    x = cat(parts, d) if len(parts) > 1 else x
    for _ in range(n):
        size = x.shape[d]
        if size == 0:
            break
        later, earlier = index.narrow(x, d, 1, size - 1), index.narrow(x, d, 0, size - 1)
        x = ew.ne(later, earlier) if x.dtype == _C.bool else ew.sub(later, earlier)
    return x


def sum_to_shape(g, shape):
    """Sums a broadcast gradient back to `shape` (leading dims and size-1 dims)."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    return index.reshape(sum(g, dims, keepdim=True), shape) if dims else index.reshape(g, shape)


def sum_to_size(x, *size):
    """x summed down to `size`, a shape that expands to x's."""
    size = tuple(size[0]) if len(size) == 1 and not isinstance(size[0], int) else size
    lead = x.ndim - len(size)
    if lead < 0 or builtins.any(s not in (1, n) for s, n in zip(size, x.shape[lead:])):
        raise ValueError(f"size {list(size)} is not expandable to size {list(x.shape)}")
    return sum_to_shape(x, size)


def _attach():
    from .elementwise_math import _inplace

    Tensor.sum_to_size = sum_to_size
    Tensor.cumsum_, Tensor.cumprod_ = _inplace(cumsum), _inplace(cumprod)
    for name in ["sum", "mean", "prod", "amax", "amin", "logsumexp", "any", "all", "max", "min", "argmax",
                 "argmin", "var", "std", "norm", "cumsum", "cumprod", "nansum", "nanmean", "aminmax",
                 "count_nonzero", "median", "nanmedian", "quantile", "nanquantile", "mode", "cummax", "cummin",
                 "logcumsumexp", "diff"]:
        setattr(Tensor, name, globals()[name])


_attach()
