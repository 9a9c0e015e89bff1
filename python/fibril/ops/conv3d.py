"""conv3d and conv_transpose3d with torch.nn.functional's semantics, composed from the 2-D
kernels so that gradients come by composition.

conv3d: a 3-D convolution is a sum over depth taps of 2-D convolutions. After padding the
depth, one index_select gathers, for every output depth od, the Kd input slices
od * stride + kd * dilation; folding (Kd) into the channels, group-major (channel c * Kd + kd,
so each group's channels stay contiguous), turns the N * Dout gathered stacks into a batch of
2-D images with Cin * Kd channels, and the weight (Cout, Cin / groups, Kd, Kh, Kw) reshaped to
(Cout, Cin / groups * Kd, Kh, Kw) makes one conv2d call do all the work.

conv_transpose3d is that map's adjoint: one conv_transpose2d over the N * Din input slices, with
the weight's (Cout / groups, Kd) folded into its output channels, gives every input slice's
contribution at every depth tap; index_add sums them into output depth id * stride +
kd * dilation, and cropping the depth padding (zeros appended for output_padding beyond it)
leaves torch's output. Unbatched (C, D, H, W) inputs are accepted as in PyTorch."""

import numpy as np

from ..amp.policy import autocast_inputs, active as _autocast_active
from ..creation import tensor, zeros
from ..tensor import Tensor
from . import index
from .arguments import int_tuple
from .conv import conv2d, conv_transpose2d, transposed_output_size
from .gather import index_add, index_select
from .join import pad


def _check(x, weight, stride, dilation, op):
    if not isinstance(x, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{op}: expected Tensors, got {type(x).__name__} and {type(weight).__name__}")
    if weight.ndim != 5:
        raise ValueError(f"{op}: expected a 5-D weight, got weight {list(weight.shape)}")
    if x.ndim not in (4, 5):
        raise ValueError(f"{op}: expected a 4-D (unbatched) or 5-D (batched) input, got input {list(x.shape)}")
    if any(s < 1 for s in stride) or any(d < 1 for d in dilation):
        raise ValueError(f"{op}: stride {stride} and dilation {dilation} must be positive")


def _batched(x):
    return (x, False) if x.ndim == 5 else (index.unsqueeze(x, 0), True)


def _taps(count, kernel, stride, dilation, device):
    """For each of `count` positions p and each tap k, the depth p * stride + k * dilation, flat."""
    depths = np.arange(count)[:, None] * stride + np.arange(kernel)[None, :] * dilation
    return tensor(depths.reshape(-1).astype(np.int64), device=device)


def _depth_padding(padding, kernel, stride, dilation, op):
    """(before, after) for the depth, and the padding conv2d gets for the height and width."""
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a tuple, got '{padding}'")
        if padding == "valid":
            return (0, 0), 0
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride {stride})")
        total = dilation[0] * (kernel - 1)
        return (total // 2, total - total // 2), "same"
    padding = int_tuple(padding, 3, "padding", op)
    if any(p < 0 for p in padding):
        raise ValueError(f"{op}: padding {padding} must be non-negative")
    return (padding[0], padding[0]), padding[1:]


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv3d: input (N, C, D, H, W) or (C, D, H, W), weight
    (O, C / groups, kd, kh, kw); padding an int, a triple, 'valid' or 'same'."""
    if _autocast_active.on:
        input, weight, bias = autocast_inputs("lower", input, weight, bias)
    op = "conv3d"
    stride, dilation, groups = int_tuple(stride, 3, "stride", op), int_tuple(dilation, 3, "dilation", op), int(groups)
    _check(input, weight, stride, dilation, op)
    out_channels, group_channels, kd, kh, kw = weight.shape
    x, unbatched = _batched(input)
    if groups < 1 or out_channels % groups or x.shape[1] != group_channels * groups:
        raise ValueError(f"{op}: input {list(x.shape)} and weight {list(weight.shape)} with groups={groups}: "
                         f"expected weight (out_channels, in_channels / groups, ...) with out_channels divisible "
                         f"by groups")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{op}: expected bias of shape [{out_channels}], got bias {list(bias.shape)}")
    (before, after), spatial_padding = _depth_padding(padding, kd, stride, dilation, op)
    if before or after:
        x = pad(x, [0, 0, 0, 0, before, after])
    n, channels, depth, height, width = x.shape
    out_depth = (depth - dilation[0] * (kd - 1) - 1) // stride[0] + 1
    if out_depth < 1:
        raise ValueError(f"{op}: input {list(input.shape)} and weight {list(weight.shape)} give a non-positive "
                         f"output depth {out_depth}")
    x = index_select(x, 2, _taps(out_depth, kd, stride[0], dilation[0], x.device))
    x = index.permute(index.reshape(x, (n, channels, out_depth, kd, height, width)), (0, 2, 1, 3, 4, 5))
    x = index.reshape(x, (n * out_depth, channels * kd, height, width))
    w = index.reshape(weight, (out_channels, group_channels * kd, kh, kw))
    y = conv2d(x, w, bias, stride[1:], spatial_padding, dilation[1:], groups)
    y = index.permute(index.reshape(y, (n, out_depth) + tuple(y.shape[1:])), (0, 2, 1, 3, 4))
    return index.squeeze(y, 0) if unbatched else y


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """torch.nn.functional.conv_transpose3d: weight (in_channels, out_channels / groups, kd, kh, kw)."""
    if _autocast_active.on:
        input, weight, bias = autocast_inputs("lower", input, weight, bias)
    op = "conv_transpose3d"
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple, got '{padding}'")
    stride, dilation, groups = int_tuple(stride, 3, "stride", op), int_tuple(dilation, 3, "dilation", op), int(groups)
    padding, output_padding = int_tuple(padding, 3, "padding", op), int_tuple(output_padding, 3, "output_padding", op)
    _check(input, weight, stride, dilation, op)
    if any(p < 0 for p in padding):
        raise ValueError(f"{op}: padding {padding} must be non-negative")
    for o, s, d in zip(output_padding, stride, dilation):
        if not 0 <= o < max(s, d):
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than either stride {stride} "
                             f"or dilation {dilation}")
    in_channels, group_out, kd, kh, kw = weight.shape
    x, unbatched = _batched(input)
    if groups < 1 or x.shape[1] != in_channels or in_channels % groups:
        raise ValueError(f"{op}: input {list(x.shape)} and weight {list(weight.shape)} with groups={groups}: "
                         f"expected weight (in_channels, out_channels / groups, ...) with in_channels divisible "
                         f"by groups")
    out_channels = group_out * groups
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{op}: expected bias of shape [{out_channels}], got bias {list(bias.shape)}")
    n, _, in_depth, height, width = x.shape
    out_depth = transposed_output_size(in_depth, kd, stride[0], padding[0], output_padding[0], dilation[0])
    if out_depth < 1:
        raise ValueError(f"{op}: input {list(x.shape)} and weight {list(weight.shape)} give a non-positive output "
                         f"depth {out_depth}")
    slices = index.reshape(index.permute(x, (0, 2, 1, 3, 4)), (n * in_depth, in_channels, height, width))
    w = index.reshape(weight, (in_channels, group_out * kd, kh, kw))
    y = conv_transpose2d(slices, w, None, stride[1:], padding[1:], output_padding[1:], groups, dilation[1:])
    out_h, out_w = y.shape[2:]
    y = index.permute(index.reshape(y, (n, in_depth, out_channels, kd, out_h, out_w)), (0, 2, 1, 3, 4, 5))
    y = index.reshape(y, (n, out_channels, in_depth * kd, out_h, out_w))
    full_depth = (in_depth - 1) * stride[0] + dilation[0] * (kd - 1) + 1
    out = zeros(n, out_channels, full_depth, out_h, out_w, dtype=y.dtype, device=y.device)
    out = index_add(out, 2, _taps(in_depth, kd, stride[0], dilation[0], y.device), y)
    start = min(padding[0], full_depth)
    kept = min(full_depth - start, out_depth)
    out = index.narrow(out, 2, start, kept)
    if kept < out_depth:  # output_padding beyond the padding: depths no input reaches
        out = pad(out, [0, 0, 0, 0, 0, out_depth - kept])
    if bias is not None:
        out = out + index.reshape(bias, (1, -1, 1, 1, 1))
    return index.squeeze(out, 0) if unbatched else out
