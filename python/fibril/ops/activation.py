"""Activation family: each forward and each backward is one fused _C kernel pass (the backward
reads the saved input, relu's the saved output, and the output gradient). prelu, whose weight takes a gradient, is
composed from elementwise ops."""

from .. import _C
from ..autograd import Function
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
        return Tensor._wrap(_C.activation_backward(kind, x._data, g._data, a, b, c)), None, None, None, None


def _act(x, kind, a=0.0, b=0.0, c=0.0, inplace=False):
    """The activation of x; inplace: written into x (torch's inplace=True)."""
    a, b, c = float(a), float(b), float(c)
    if inplace:
        return index.inplace_result(x, lambda t: Activation.apply(t, kind, a, b, c))
    return Activation.apply(x, kind, a, b, c)


def relu(input, inplace=False):
    return _act(input, K.relu, inplace=inplace)


def relu6(input, inplace=False):
    return _act(input, K.hardtanh, 0.0, 6.0, inplace=inplace)


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
    return _act(input, K.sigmoid)


def tanh(input):
    return _act(input, K.tanh)


def softplus(input, beta=1.0, threshold=20.0):
    if beta == 0:
        raise ValueError("softplus: beta must not be 0")
    return _act(input, K.softplus, beta, threshold)


def softsign(input):
    return _act(input, K.softsign)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    return _act(input, K.hardtanh, min_val, max_val, inplace=inplace)


def hardsigmoid(input, inplace=False):
    return _act(input, K.hardsigmoid, inplace=inplace)


def hardswish(input, inplace=False):
    return _act(input, K.hardswish, inplace=inplace)


def prelu(input, weight):
    """x where x > 0, else weight * x; weight has 1 or input.shape[1] entries (dim 1 channels)."""
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() not in (1, channels):
        raise ValueError(f"prelu: weight of shape {list(weight.shape)} does not match the {channels} channels of "
                         f"input shape {list(input.shape)}")
    w = weight
    if weight.numel() > 1:
        w = index.reshape(weight, (-1,) + (1,) * (input.ndim - 2))
    elif weight.ndim:
        w = index.reshape(weight, ())
    return ew.where(ew.gt(input, 0), input, ew.mul(w, input))
