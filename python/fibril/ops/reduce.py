"""Reduce family (this module's sum/max/min/any/all shadow the builtins; see `builtins.`): sum, mean, prod, amax/amin, max/min with indices, argmax/argmin, var/std,
norm, logsumexp, cumsum/cumprod, any/all. Forward is one _C call; gradients are composed
from elementwise ops, broadcast back over the reduced dims."""

import builtins
import collections
import math
import numbers

from .. import _C
from ..autograd import Function
from ..tensor import Tensor, _wrap_dim
from . import elementwise as ew
from . import index

R = _C.ReduceOp
MinMax = collections.namedtuple("MinMax", ["values", "indices"])


def _dims(dim, ndim):
    """None (all dims), an int or a sequence -> sorted tuple of non-negative dims."""
    if dim is None:
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
            else:  # amax/amin: split evenly among the elements equal to the result
                hit = ew.eq(x, out)
                count = sum(hit, dims, keepdim=True)
                grad = ew.where(hit, ew.div(g, count), 0.0)
        return (grad if grad.dtype == ctx.in_dtype else grad.to(ctx.in_dtype)), None, None, None, None


def _prod_others(x, dims):
    """For each element, the product of the others in its reduced slice (exact with zeros)."""
    zero = ew.eq(x, 0)
    nonzero = ew.where(zero, 1.0, x)
    prod_nonzero = _reduce(nonzero, R.prod, dims, True, None)
    zeros_in_slice = sum(zero, dims, keepdim=True)
    return ew.where(zero, ew.where(ew.eq(zeros_in_slice, 1), prod_nonzero, 0.0),
                    ew.where(ew.gt(zeros_in_slice, 0), 0.0, ew.div(prod_nonzero, nonzero)))


def _reduce(x, op, dim, keepdim, dtype):
    return Reduce.apply(x, op, dim, keepdim, dtype)


def sum(x, dim=None, keepdim=False, dtype=None):
    return _reduce(x, R.sum, dim, keepdim, dtype)


def mean(x, dim=None, keepdim=False, dtype=None):
    return _reduce(x, R.mean, dim, keepdim, dtype)


def prod(x, dim=None, keepdim=False, dtype=None):
    return _reduce(x, R.prod, dim, keepdim, dtype)


def amax(x, dim=None, keepdim=False):
    return _reduce(x, R.amax, dim, keepdim, None)


def amin(x, dim=None, keepdim=False):
    return _reduce(x, R.amin, dim, keepdim, None)


def logsumexp(x, dim, keepdim=False):
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


def max(x, dim=None, keepdim=False):
    if dim is None:
        return amax(x)
    return MinMax(*MaxDim.apply(x, dim, keepdim, True))


def min(x, dim=None, keepdim=False):
    if dim is None:
        return amin(x)
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
    correction = _correction(unbiased, correction)
    return Moments.apply(x, dim, correction, keepdim, False)


def std(x, dim=None, unbiased=None, keepdim=False, correction=None):
    correction = _correction(unbiased, correction)
    return Moments.apply(x, dim, correction, keepdim, True)


def _correction(unbiased, correction):
    if correction is not None:
        return float(correction)
    return 1.0 if unbiased is None or unbiased else 0.0


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


def norm(x, p="fro", dim=None, keepdim=False):
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
            grad = _cumprod_grad_with_zeros(x, out, g, ctx.dim)
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


def cumsum(x, dim, dtype=None):
    return Cumsum.apply(x, dim, dtype)


def cumprod(x, dim, dtype=None):
    return Cumprod.apply(x, dim, dtype)


def sum_to_shape(g, shape):
    """Sums a broadcast gradient back to `shape` (leading dims and size-1 dims)."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    return index.reshape(sum(g, dims, keepdim=True), shape) if dims else index.reshape(g, shape)


def _attach():
    for name in ["sum", "mean", "prod", "amax", "amin", "logsumexp", "any", "all", "max", "min", "argmax",
                 "argmin", "var", "std", "norm", "cumsum", "cumprod"]:
        setattr(Tensor, name, globals()[name])


_attach()
