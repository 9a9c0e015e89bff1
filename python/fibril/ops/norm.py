"""Norm family: layer_norm, rms_norm and batch_norm are fused kernels, forward and backward one
_C call each (statistics saved for backward); group_norm is layer_norm's kernel over the groups
followed by the per-channel affine, composed. Under create_graph their backwards recompute the
forward from differentiable ops (autograd.composed), so second derivatives exist."""

import math
import numbers

from ..amp.policy import autocast_inputs, active as _autocast_active
from .. import _C
from ..autograd import Function, is_grad_enabled
from ..autograd.composed import composed_gradients
from ..tensor import Tensor
from ..typeinfo import finfo
from . import elementwise as ew
from . import index


def _data(t):
    return None if t is None else t._data


def _wrap(a):
    return None if a is None else Tensor._wrap(a)


class RowNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, normalized_shape, eps, rms):
        y, mean, rstd = _C.row_norm(rms, x._data, normalized_shape, _data(weight), _data(bias), eps)
        ctx.save_for_backward(x, weight, bias)
        ctx.stats, ctx.shape, ctx.rms, ctx.eps = (mean, rstd), normalized_shape, rms, eps
        return Tensor._wrap(y)

    @staticmethod
    def backward(ctx, g):
        x, weight, bias = ctx.saved_tensors
        need = ctx.needs_input_grad
        if is_grad_enabled():
            compose = lambda x, w, b: _row_norm_composed(x, w, b, len(ctx.shape), ctx.eps, ctx.rms)  # noqa: E731
            return composed_gradients(compose, (x, weight, bias), need, g) + (None, None, None)
        gx, gw, gb = _C.row_norm_backward(ctx.rms, g._data, x._data, ctx.shape, _data(weight), *ctx.stats,
                                          need[1], need[2])
        return Tensor._wrap(gx), _wrap(gw), _wrap(gb), None, None, None


def _row_norm_composed(x, weight, bias, ndims, eps, rms):
    """layer_norm (rms_norm when rms) over the last ndims dims, from differentiable ops."""
    dims = list(range(x.ndim - ndims, x.ndim))
    centred = x if rms else ew.sub(x, x.mean(dims, keepdim=True))
    y = ew.mul(centred, ew.rsqrt(ew.add(ew.mul(centred, centred).mean(dims, keepdim=True), eps)))
    if weight is not None:
        y = ew.mul(y, weight)
    return y if bias is None else ew.add(y, bias)


def _shape(normalized_shape):
    if isinstance(normalized_shape, numbers.Integral):
        return [int(normalized_shape)]
    return [int(d) for d in normalized_shape]


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    if _autocast_active.on:
        input, weight, bias = autocast_inputs("fp32_cuda", input, weight, bias)
    return RowNorm.apply(input, weight, bias, _shape(normalized_shape), float(eps), False)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """eps None: the machine epsilon of the dtype computed in (float32 for 16-bit input), as PyTorch."""
    if eps is None:
        eps = finfo(_C.float64 if input.dtype == _C.float64 else _C.float32).eps
    return RowNorm.apply(input, weight, None, _shape(normalized_shape), float(eps), True)


class BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        y, mean, rstd = _C.batch_norm(x._data, _data(weight), _data(bias), _data(running_mean), _data(running_var),
                                      training, momentum, eps)
        ctx.save_for_backward(x, weight, bias)
        ctx.stats, ctx.training, ctx.eps = (mean, rstd), training, eps
        return Tensor._wrap(y)

    @staticmethod
    def backward(ctx, g):
        x, weight, bias = ctx.saved_tensors
        need = ctx.needs_input_grad
        if is_grad_enabled():
            compose = lambda x, w, b: _batch_norm_composed(x, w, b, ctx.stats, ctx.training, ctx.eps)  # noqa: E731
            return composed_gradients(compose, (x, weight, bias), need, g) + (None,) * 5
        gx, gw, gb = _C.batch_norm_backward(g._data, x._data, _data(weight), *ctx.stats, ctx.training, need[1],
                                            need[2])
        return Tensor._wrap(gx), _wrap(gw), _wrap(gb), None, None, None, None, None


def _batch_norm_composed(x, weight, bias, stats, training, eps):
    """batch_norm from differentiable ops: over the batch statistics in training, else over the
    forward's (running) ones, which are constants."""
    per_channel = (x.shape[1],) + (1,) * (x.ndim - 2)
    if training:
        dims = [0] + list(range(2, x.ndim))
        centred = ew.sub(x, x.mean(dims, keepdim=True))
        y = ew.mul(centred, ew.rsqrt(ew.add(ew.mul(centred, centred).mean(dims, keepdim=True), eps)))
    else:
        mean, rstd = (index.reshape(Tensor._wrap(s).to(x.dtype), per_channel) for s in stats)
        y = ew.mul(ew.sub(x, mean), rstd)
    return _channel_affine(y, weight, bias)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Training normalizes with the batch statistics and updates running_mean/var in place (when
    given); eval normalizes with them. Statistics per channel, dim 1."""
    for t in (running_mean, running_var):
        if t is not None and t.requires_grad:
            raise ValueError("batch_norm: running_mean and running_var must not require gradients")
    if training and input.numel() == 0:
        # The kernel refuses an empty input; torch gives the empty output and keeps the stats.
        return _channel_affine(input.clone(), weight, bias)
    out = BatchNorm.apply(input, weight, bias, running_mean, running_var, bool(training), float(momentum), float(eps))
    if training:
        for t in (running_mean, running_var):
            if t is not None:
                t._version.value += 1
    return out


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Statistics over each group of channels (dim 1) and the dims after it; affine per channel."""
    if _autocast_active.on:
        input, weight, bias = autocast_inputs("fp32_cuda", input, weight, bias)
    if input.ndim < 2:
        raise ValueError(f"group_norm: needs an input of at least 2 dims (N, C, ...), got shape {list(input.shape)}")
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise ValueError(f"group_norm: {c} channels of input shape {list(input.shape)} are not divisible into "
                         f"{num_groups} groups")
    spatial = math.prod(input.shape[2:])
    if n * c // num_groups * spatial == 1:  # torch's check, over the input seen as [N * C / G, G, *spatial]
        raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                         f"{[n * c // num_groups, num_groups, *input.shape[2:]]}")
    for p, name in ((weight, "weight"), (bias, "bias")):
        if p is not None and tuple(p.shape) != (c,):
            raise ValueError(f"group_norm: {name} of shape {list(p.shape)} does not match the {c} channels of "
                             f"input shape {list(input.shape)}")
    grouped = index.reshape(input, (n, num_groups, c // num_groups * spatial))  # n may be 0
    y = index.reshape(layer_norm(grouped, [grouped.shape[-1]], eps=eps), tuple(input.shape))
    return _channel_affine(y, weight, bias)


def _channel_affine(y, weight, bias):
    """y * weight + bias, each per channel (dim 1); either may be None."""
    per_channel = (y.shape[1],) + (1,) * (y.ndim - 2)
    if weight is not None:
        y = ew.mul(y, index.reshape(weight, per_channel))
    if bias is not None:
        y = ew.add(y, index.reshape(bias, per_channel))
    return y
