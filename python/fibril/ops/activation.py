"""Activation family: each forward and each backward is one fused _C kernel pass (the backward
reads the saved input, relu's the saved output, and the output gradient). prelu, whose weight takes a gradient, is
composed from elementwise ops."""

import math

from ..amp.policy import autocast_inputs, active as _autocast_active
from .. import _C
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from . import elementwise as ew
from . import index

K = _C.ActivationKind
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class Activation(Function):
    @staticmethod
    def forward(ctx, x, kind, a, b, c):
        out = Tensor._wrap(_C.activation(kind, x._data, a, b, c))
        # relu's backward reads where the output (so the input) is positive: it keeps the output,
        # as torch, so a later in-place change of the input is no error. An alias of it (same
        # values and version counter, no history), so the output and its node form no cycle.
        ctx.save_for_backward(Tensor._wrap(out._data, out._version) if kind == K.relu else x)
        ctx.args = (kind, a, b, c)
        return out

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        kind, a, b, c = ctx.args
        if is_grad_enabled() and kind in _DERIVATIVES:  # create_graph: composed ops record the graph
            return _DERIVATIVES[kind](g, x, a, b, c), None, None, None, None
        return Tensor._wrap(_C.activation_backward(kind, x._data, g._data, a, b, c)), None, None, None, None

    @classmethod
    def double_backward_unsupported(cls, ctx):
        kind = ctx.args[0]
        return None if kind in _DERIVATIVES else f"Activation ({kind.name})"


_SQRT_HALF = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327
_SQRT_2_OVER_PI = 0.7978845608028654
_GELU_CUBIC = 0.044715


def _gelu_grad(g, x, a, b, c):
    cdf = ew.mul(ew.add(ew.erf(ew.mul(x, _SQRT_HALF)), 1.0), 0.5)
    pdf = ew.mul(ew.exp(ew.mul(ew.mul(x, x), -0.5)), _INV_SQRT_2PI)
    return ew.mul(g, ew.add(cdf, ew.mul(x, pdf)))


def _gelu_tanh_grad(g, x, a, b, c):
    x2 = ew.mul(x, x)
    t = ew.tanh(ew.mul(ew.add(x, ew.mul(ew.mul(x2, x), _GELU_CUBIC)), _SQRT_2_OVER_PI))
    dt = ew.mul(ew.sub(1.0, ew.mul(t, t)), ew.mul(ew.add(ew.mul(x2, 3 * _GELU_CUBIC), 1.0), _SQRT_2_OVER_PI))
    return ew.mul(g, ew.mul(ew.add(ew.add(t, 1.0), ew.mul(x, dt)), 0.5))


def _silu_grad(g, x, a, b, c):
    s = ew.sigmoid(x)
    return ew.mul(g, ew.mul(s, ew.add(ew.mul(x, ew.sub(1.0, s)), 1.0)))


def _sigmoid_grad(g, x, a, b, c):
    s = ew.sigmoid(x)
    return ew.mul(g, ew.mul(s, ew.sub(1.0, s)))


def _tanh_grad(g, x, a, b, c):
    t = ew.tanh(x)
    return ew.mul(g, ew.sub(1.0, ew.mul(t, t)))


def _elu_grad(g, x, alpha, scale, input_scale):
    negative = ew.mul(ew.exp(ew.mul(x, input_scale)), scale * alpha * input_scale)
    return ew.where(ew.gt(x, 0), ew.mul(g, scale), ew.mul(g, negative))


def _softplus_grad(g, x, beta, threshold, c):
    bx = ew.mul(x, beta)
    return ew.where(ew.gt(bx, threshold), g, ew.mul(g, ew.sigmoid(bx)))


def _mish_grad(g, x, a, b, c):
    t = ew.tanh(softplus(x))
    return ew.mul(g, ew.add(t, ew.mul(ew.mul(x, ew.sigmoid(x)), ew.sub(1.0, ew.mul(t, t)))))


def _softsign_grad(g, x, a, b, c):
    d = ew.add(ew.abs(x), 1.0)
    return ew.div(g, ew.mul(d, d))


def _hardswish_grad(g, x, a, b, c):
    # as torch's: 0 up to -3, x / 3 + 1/2 between (ends excluded), 1 from 3
    return ew.where(ew.le(x, -3.0), 0.0, ew.where(ew.lt(x, 3.0), ew.mul(g, ew.add(ew.div(x, 3.0), 0.5)), g))


# The derivatives as elementwise ops, for create_graph=True (x is relu's output, else the input).
# hardsigmoid has none: its second derivative is unsupported, as torch's.
_DERIVATIVES = {
    K.relu: lambda g, out, a, b, c: ew.where(ew.gt(out, 0), g, 0.0),
    K.leaky_relu: lambda g, x, slope, b, c: ew.where(ew.gt(x, 0), g, ew.mul(g, slope)),
    K.hardtanh: lambda g, x, lo, hi, c: ew.where(ew.logical_and(ew.gt(x, lo), ew.lt(x, hi)), g, 0.0),
    K.elu: _elu_grad,
    K.gelu: _gelu_grad,
    K.gelu_tanh: _gelu_tanh_grad,
    K.silu: _silu_grad,
    K.sigmoid: _sigmoid_grad,
    K.tanh: _tanh_grad,
    K.softplus: _softplus_grad,
    K.mish: _mish_grad,
    K.softsign: _softsign_grad,
    K.hardswish: _hardswish_grad,
}


def _act(x, kind, a=0.0, b=0.0, c=0.0, inplace=False):
    """The activation of x; inplace: written into x (torch's inplace=True)."""
    a, b, c = float(a), float(b), float(c)
    if inplace:
        return index.inplace_result(x, lambda t: Activation.apply(t, kind, a, b, c))
    return Activation.apply(x, kind, a, b, c)


def _clamped_integers(input, lo, hi, inplace, name):
    """relu and hardtanh of an integer tensor, as torch: a clamp keeping the dtype, at bounds
    truncated to integers."""
    if input.dtype == _C.bool:
        raise RuntimeError(f"Boolean inputs not supported for {name}")
    lo, hi = (None if v is None else math.trunc(v) for v in (lo, hi))
    return input.clamp_(lo, hi) if inplace else ew.clamp(input, lo, hi)


def _floating(input):
    """An integer or bool input as float32, for the activations torch computes on them so."""
    return input if input.dtype.is_floating_point else input.to(_C.float32)


def relu(input, inplace=False):
    if not input.dtype.is_floating_point:
        return _clamped_integers(input, 0, None, inplace, "relu")
    return _act(input, K.relu, inplace=inplace)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace=inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _act(input, K.leaky_relu, negative_slope, inplace=inplace)


def elu(input, alpha=1.0, inplace=False):
    return _act(input, K.elu, alpha, 1.0, 1.0, inplace=inplace)


def selu(input, inplace=False):
    return _act(input, K.elu, SELU_ALPHA, SELU_SCALE, 1.0, inplace=inplace)


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return _act(input, K.elu, alpha, 1.0, 1.0 / alpha, inplace=inplace)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _act(input, K.gelu if approximate == "none" else K.gelu_tanh)


def silu(input, inplace=False):
    return _act(input, K.silu, inplace=inplace)


def mish(input, inplace=False):
    return _act(input, K.mish, inplace=inplace)


def sigmoid(input):
    return _act(_floating(input), K.sigmoid)


def tanh(input):
    return _act(_floating(input), K.tanh)


def softplus(input, beta=1.0, threshold=20.0):
    if _autocast_active.on:
        (input,) = autocast_inputs("fp32_cuda", input)
    if beta == 0:
        raise ValueError("softplus: beta must not be 0")
    return _act(input, K.softplus, beta, threshold)


def softsign(input):
    return _act(_floating(input), K.softsign)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    if not input.dtype.is_floating_point:
        if input.dtype == _C.uint8 and (min_val < 0 or max_val < 0):
            raise RuntimeError("hardtanh: cannot do hardtanh on an unsigned type with negative limits")
        return _clamped_integers(input, min_val, max_val, inplace, "hardtanh")
    return _act(input, K.hardtanh, min_val, max_val, inplace=inplace)


def hardsigmoid(input, inplace=False):
    return _act(input, K.hardsigmoid, inplace=inplace)


def hardswish(input, inplace=False):
    return _act(input, K.hardswish, inplace=inplace)


def prelu(input, weight):
    """x where x > 0, else weight * x; weight has 1 or input.shape[1] entries (dim 1 channels).
    In the autocast dtype under autocast, as torch's."""
    if _autocast_active.on:
        input, weight = autocast_inputs("lower", input, weight)
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"prelu: not implemented for {input.dtype.name} inputs (floats only)")
    if weight.dtype != input.dtype:
        raise RuntimeError(f"prelu: type promoting not supported, got {input.dtype.name} and {weight.dtype.name}")
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: expected `weight` to be a scalar or 1D tensor, but got ndim = {weight.ndim}")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() not in (1, channels):
        raise ValueError(f"prelu: weight of shape {list(weight.shape)} does not match the {channels} channels of "
                         f"input shape {list(input.shape)}")
    w = weight
    if weight.numel() != 1:  # one per channel (of which there may be none)
        w = index.reshape(weight, (channels,) + (1,) * (input.ndim - 2))
    elif weight.ndim:
        w = index.reshape(weight, ())
    return ew.where(ew.gt(input, 0), input, ew.mul(w, input))
