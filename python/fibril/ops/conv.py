"""Convolution family: conv1d, conv2d, conv_transpose1d and conv_transpose2d with
torch.nn.functional's semantics. Every pass is one _C kernel call (csrc/cpu/conv.cpp): the
convolution's forward, input gradient and weight gradient. A transposed convolution is the
convolution's input gradient, so its own gradients are the convolution's forward (input) and
weight gradient with the roles of input and output swapped. Unbatched inputs (C, *spatial) are
accepted as in PyTorch.

Higher-order gradients: the three passes are bilinear in their two operands and each one's
gradients are the other two (Conv, ConvTranspose and ConvWeightGrad below), so under
create_graph every backward is recorded as applications of these Functions."""


from .. import _C
from ..amp.policy import autocast_inputs, active as _autocast_active
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from . import index
from .arguments import int_tuple
from .join import pad


def _data(t):
    return None if t is None else t._data


def _wrap(a):
    return None if a is None else Tensor._wrap(a)


def _padding(padding, n, kernel, stride, dilation, op):
    """(before, after) per dim, from an int, a tuple, 'valid' or 'same' (extra on the right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * n, (0,) * n
        if padding != "same":
            raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a tuple, got '{padding}'")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride {stride})")
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)
    before = int_tuple(padding, n, "padding", op)
    return before, before


def _check_operands(x, weight, n, op):
    if not isinstance(x, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{op}: expected Tensors, got {type(x).__name__} and {type(weight).__name__}")
    if weight.ndim != n + 2:
        raise ValueError(f"{op}: expected a {n + 2}-D weight, got weight {list(weight.shape)}")
    if x.ndim not in (n + 1, n + 2):
        raise ValueError(f"{op}: expected a {n + 1}-D (unbatched) or {n + 2}-D (batched) input, "
                         f"got input {list(x.shape)}")


class Conv(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, options):
        ctx.save_for_backward(x, weight)
        ctx.options = options
        return Tensor._wrap(_C.conv(x._data, weight._data, _data(bias), *options))

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        gb = g.sum(dim=[0] + list(range(2, g.ndim))) if need[2] else None
        if is_grad_enabled():  # create_graph: the gradients as recorded convolutions
            gx = ConvTranspose.apply(g, weight, ctx.options, x.shape) if need[0] else None
            gw = ConvWeightGrad.apply(x, g, ctx.options, weight.shape) if need[1] else None
            return gx, gw, gb, None
        if need[0] and need[1]:
            gx, gw = _C.conv_backward(x._data, g._data, weight._data, *ctx.options)
        else:
            gx = _C.conv_backward_input(g._data, weight._data, x.shape, *ctx.options) if need[0] else None
            gw = _C.conv_backward_weight(x._data, g._data, weight.shape, *ctx.options) if need[1] else None
        return _wrap(gx), _wrap(gw), gb, None


class ConvTranspose(Function):
    """The convolution's input gradient, conv_backward_input(x, weight): x has the
    convolution's output shape, the result out_shape."""

    @staticmethod
    def forward(ctx, x, weight, options, out_shape):
        ctx.save_for_backward(x, weight)
        ctx.options = options
        return Tensor._wrap(_C.conv_backward_input(x._data, weight._data, out_shape, *options))

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx = Conv.apply(g, weight, None, ctx.options) if need[0] else None
        gw = ConvWeightGrad.apply(g, x, ctx.options, weight.shape) if need[1] else None
        return gx, gw, None, None


class ConvWeightGrad(Function):
    """The convolution's weight gradient, conv_backward_weight(x, g), of shape weight_shape."""

    @staticmethod
    def forward(ctx, x, g, options, weight_shape):
        ctx.save_for_backward(x, g)
        ctx.options = options
        return Tensor._wrap(_C.conv_backward_weight(x._data, g._data, weight_shape, *options))

    @staticmethod
    def backward(ctx, gw):
        x, g = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx = ConvTranspose.apply(g, gw, ctx.options, x.shape) if need[0] else None
        gg = Conv.apply(x, gw, None, ctx.options) if need[1] else None
        return gx, gg, None, None


def _batched(x, n):
    return (x, False) if x.ndim == n + 2 else (index.unsqueeze(x, 0), True)


def _conv(x, weight, bias, stride, padding, dilation, groups, n, op):
    if _autocast_active.on:
        x, weight, bias = autocast_inputs("lower", x, weight, bias)
    _check_operands(x, weight, n, op)
    kernel = tuple(weight.shape[2:])
    stride = int_tuple(stride, n, "stride", op)
    dilation = int_tuple(dilation, n, "dilation", op)
    before, after = _padding(padding, n, kernel, stride, dilation, op)
    options = (stride, before, after, dilation, int(groups))
    x, unbatched = _batched(x, n)
    y = Conv.apply(x, weight, bias, options)
    return index.squeeze(y, 0) if unbatched else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv1d: input (N, C, L) or (C, L), weight (O, C / groups, k)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv2d: input (N, C, H, W) or (C, H, W), weight (O, C / groups, kh, kw);
    padding an int, a pair, 'valid' or 'same'."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def transposed_output_size(size, kernel, stride, padding, output_padding, dilation):
    """The spatial size of a transposed convolution's output along one dim."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def _conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, n, op):
    if _autocast_active.on:
        x, weight, bias = autocast_inputs("lower", x, weight, bias)
    _check_operands(x, weight, n, op)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple, got '{padding}'")
    stride = int_tuple(stride, n, "stride", op)
    padding = int_tuple(padding, n, "padding", op)
    output_padding = int_tuple(output_padding, n, "output_padding", op)
    dilation = int_tuple(dilation, n, "dilation", op)
    for op_, s, d in zip(output_padding, stride, dilation):
        if not 0 <= op_ < max(s, d):
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than either stride {stride} "
                             f"or dilation {dilation}")
    x, unbatched = _batched(x, n)
    groups = int(groups)
    if groups < 1 or x.shape[1] != weight.shape[0] or weight.shape[0] % groups:
        raise ValueError(f"{op}: input {list(x.shape)} and weight {list(weight.shape)} with groups={groups}: "
                         f"expected weight (in_channels, out_channels / groups, ...) with in_channels divisible "
                         f"by groups")
    kernel = weight.shape[2:]
    out_spatial = [transposed_output_size(size, k, s, p, o, d)
                   for size, k, s, p, o, d in zip(x.shape[2:], kernel, stride, padding, output_padding, dilation)]
    if any(size < 1 for size in out_spatial):
        raise ValueError(f"{op}: input {list(x.shape)} and weight {list(weight.shape)} give a non-positive output "
                         f"size {out_spatial}")
    # The output_padding beyond padding holds positions no input reaches: zeros, appended after
    # the kernel call (which refuses a negative trailing padding).
    zeros_after = [max(o - p, 0) for p, o in zip(padding, output_padding)]
    after = tuple(max(p - o, 0) for p, o in zip(padding, output_padding))
    out_shape = (x.shape[0], weight.shape[1] * groups, *(s - z for s, z in zip(out_spatial, zeros_after)))
    options = (stride, padding, after, dilation, groups)
    y = ConvTranspose.apply(x, weight, options, out_shape)
    if any(zeros_after):
        y = pad(y, [w for z in reversed(zeros_after) for w in (0, z)])
    if bias is not None:
        y = y + index.reshape(bias, (1, -1) + (1,) * n)
    return index.squeeze(y, 0) if unbatched else y


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """torch.nn.functional.conv_transpose1d: weight (in_channels, out_channels / groups, k)."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 1,
                           "conv_transpose1d")


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """torch.nn.functional.conv_transpose2d: weight (in_channels, out_channels / groups, kh, kw)."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 2,
                           "conv_transpose2d")
