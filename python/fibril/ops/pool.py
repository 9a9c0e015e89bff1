"""Pooling family: max_pool1d/2d (indices, dilation, ceil_mode), avg_pool1d/2d
(count_include_pad, divisor_override), adaptive_avg_pool1d/2d and adaptive_max_pool1d/2d, with
torch.nn.functional's semantics; forward and backward one _C call each (csrc/cpu/pool.cpp).
Max pooling's indices are flat positions in each input plane, as PyTorch's.

Every backward is linear in the incoming gradient, and is recorded as a Function whose own
backward is the adjoint (the pooling, or a gather at the indices), so second derivatives exist."""

import numbers

from .. import _C
from ..autograd import Function
from ..tensor import Tensor
from . import index
from .arguments import int_tuple
from .gather import gather


def _stride(stride, kernel, n, op):
    """None (or an empty sequence) means the kernel size, as PyTorch."""
    if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0):
        return kernel
    return int_tuple(stride, n, "stride", op)


def _check(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")


class MaxPool(Function):
    @staticmethod
    def forward(ctx, x, run, dims):
        y, indices = run(x._data)
        ctx.indices, ctx.shape, ctx.dims = indices, x.shape, dims
        return Tensor._wrap(y), Tensor._wrap(indices)

    @staticmethod
    def backward(ctx, g, _):
        return MaxPoolGrad.apply(g, ctx.indices, ctx.shape, ctx.dims), None, None


class MaxPoolGrad(Function):
    """g scattered to the input positions `indices` (max pooling's input gradient)."""

    @staticmethod
    def forward(ctx, g, indices, shape, dims):
        ctx.indices, ctx.dims = indices, dims
        return Tensor._wrap(_C.max_pool_backward(g._data, indices, shape, dims))

    @staticmethod
    def backward(ctx, gg):
        planes = gg.shape[:gg.ndim - ctx.dims]
        indices = Tensor._wrap(ctx.indices)
        flat = index.reshape(indices, planes + (-1,))
        picked = gather(index.reshape(gg, planes + (-1,)), -1, flat)
        return index.reshape(picked, indices.shape), None, None, None


class AvgPool(Function):
    @staticmethod
    def forward(ctx, x, args):
        ctx.shape, ctx.args = x.shape, args
        return Tensor._wrap(_C.avg_pool(x._data, *args))

    @staticmethod
    def backward(ctx, g):
        return AvgPoolGrad.apply(g, ctx.shape, ctx.args), None


class AvgPoolGrad(Function):
    @staticmethod
    def forward(ctx, g, shape, args):
        ctx.args = args
        kernel, stride, padding, ceil_mode, count_include_pad, divisor = args
        return Tensor._wrap(_C.avg_pool_backward(g._data, shape, kernel, stride, padding, ceil_mode,
                                                 count_include_pad, divisor))

    @staticmethod
    def backward(ctx, gg):
        return AvgPool.apply(gg, ctx.args), None, None


class AdaptiveAvgPool(Function):
    @staticmethod
    def forward(ctx, x, output_size):
        ctx.shape, ctx.output_size = x.shape, output_size
        return Tensor._wrap(_C.adaptive_avg_pool(x._data, output_size))

    @staticmethod
    def backward(ctx, g):
        return AdaptiveAvgPoolGrad.apply(g, ctx.shape, ctx.output_size), None


class AdaptiveAvgPoolGrad(Function):
    @staticmethod
    def forward(ctx, g, shape, output_size):
        ctx.output_size = output_size
        return Tensor._wrap(_C.adaptive_avg_pool_backward(g._data, shape, output_size))

    @staticmethod
    def backward(ctx, gg):
        return AdaptiveAvgPool.apply(gg, ctx.output_size), None, None


def _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, n, op):
    _check(x, op)
    kernel = int_tuple(kernel_size, n, "kernel_size", op)
    stride = _stride(stride, kernel, n, op)
    padding = int_tuple(padding, n, "padding", op)
    dilation = int_tuple(dilation, n, "dilation", op)
    y, indices = MaxPool.apply(x, lambda a: _C.max_pool(a, kernel, stride, padding, dilation, bool(ceil_mode)), n)
    return (y, indices) if return_indices else y


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1, "max_pool1d")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2, "max_pool2d")


def _avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, n, op):
    _check(x, op)
    kernel = int_tuple(kernel_size, n, "kernel_size", op)
    stride = _stride(stride, kernel, n, op)
    padding = int_tuple(padding, n, "padding", op)
    if divisor_override is not None and int(divisor_override) <= 0:
        raise ValueError(f"{op}: divisor_override must be positive, got {divisor_override}")
    args = (kernel, stride, padding, bool(ceil_mode), bool(count_include_pad), int(divisor_override or 0))
    return AvgPool.apply(x, args)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, "avg_pool1d")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2,
                     "avg_pool2d")


def _output_size(x, output_size, n, op):
    """None entries keep the input's size, as PyTorch."""
    sizes = (output_size,) * n if isinstance(output_size, numbers.Integral) or output_size is None \
        else tuple(output_size)
    if len(sizes) != n:
        raise ValueError(f"{op}: output_size needs {n} values, got {output_size!r}")
    if x.ndim < n + 1:
        raise ValueError(f"{op}: expected a {n + 1}-D or {n + 2}-D input, got {list(x.shape)}")
    return tuple(x.shape[x.ndim - n + i] if s is None else int(s) for i, s in enumerate(sizes))


def adaptive_avg_pool1d(input, output_size):
    _check(input, "adaptive_avg_pool1d")
    return AdaptiveAvgPool.apply(input, _output_size(input, output_size, 1, "adaptive_avg_pool1d"))


def adaptive_avg_pool2d(input, output_size):
    _check(input, "adaptive_avg_pool2d")
    return AdaptiveAvgPool.apply(input, _output_size(input, output_size, 2, "adaptive_avg_pool2d"))


def _adaptive_max_pool(x, output_size, return_indices, n, op):
    _check(x, op)
    size = _output_size(x, output_size, n, op)
    y, indices = MaxPool.apply(x, lambda a: _C.adaptive_max_pool(a, size), n)
    return (y, indices) if return_indices else y


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max_pool(input, output_size, return_indices, 1, "adaptive_max_pool1d")


def adaptive_max_pool2d(input, output_size, return_indices=False):
    return _adaptive_max_pool(input, output_size, return_indices, 2, "adaptive_max_pool2d")
