"""max_pool3d, avg_pool3d, adaptive_avg_pool3d and adaptive_max_pool3d with
torch.nn.functional's semantics, composed from differentiable ops (the pooling kernels of
ops/pool.py pool over 1 or 2 dims only), so gradients come by composition.

Each spatial dim has a table of the input positions every output's window reads, one row per
output, one column per tap. Three index_selects, one per dim, gather all the windows, laid out
(..., Do, Ho, Wo, Kd * Kh * Kw) in torch's (d, h, w) scan order. A tap in the padding (or past
the end of a shorter adaptive window) reads the nearest real position of its own window, the
first one before it and the last one after it: the table stays non-decreasing along every row,
so the first maximum (the last NaN, as torch's kernel) of the scan lands on the real position
torch picks, and the indices, read from the same tables, are torch's. Averages mask those
repeated taps out. The gradient of a max goes to that one position per window, as torch's."""

import numbers

import numpy as np

from ..amp.policy import autocast_inputs, active as _autocast_active
from ..creation import tensor
from ..tensor import Tensor
from . import elementwise as ew
from . import index
from .arguments import int_tuple
from .gather import flip, gather, index_select


def _check(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.ndim not in (4, 5):
        raise ValueError(f"{op}: expected a 4-D (unbatched) or 5-D (batched) input, got input {list(x.shape)}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{op}: needs a floating-point input, got {x.dtype.name}")
    if any(size == 0 for size in x.shape[-4:]):
        raise ValueError(f"{op}: expected non-empty channel and spatial dims, got input {list(x.shape)}")


def _geometry(kernel_size, stride, padding, dilation, op):
    kernel = int_tuple(kernel_size, 3, "kernel_size", op)
    empty_stride = stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0)
    stride = kernel if empty_stride else int_tuple(stride, 3, "stride", op)  # None: the kernel, as torch
    padding, dilation = int_tuple(padding, 3, "padding", op), int_tuple(dilation, 3, "dilation", op)
    if min(kernel + stride + dilation) < 1 or min(padding) < 0:
        raise ValueError(f"{op}: kernel_size {kernel}, stride {stride} and dilation {dilation} must be positive and "
                         f"padding {padding} non-negative")
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} should be at most half of the kernel {kernel}")
    return kernel, stride, padding, dilation


def _out_size(size, k, s, p, d, ceil_mode):
    """PyTorch's: with ceil_mode the last window may be partial but must start inside the input
    or the left padding."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _out_sizes(x, kernel, stride, padding, dilation, ceil_mode, op):
    sizes = [_out_size(*args, bool(ceil_mode)) for args in zip(x.shape[-3:], kernel, stride, padding, dilation)]
    if min(sizes) < 1:
        raise ValueError(f"{op}: input {list(x.shape)} is smaller than the kernel {kernel} (stride {stride}, "
                         f"padding {padding}, dilation {dilation}): non-positive output size {sizes}")
    return sizes


def _clamp_to_window(positions, valid):
    """Each invalid tap replaced by its row's first valid position before it or last after it.
    A row dilation carries over the whole input has none: it reads its first non-negative
    position, past the input's end, torch's index for that window."""
    rows, taps = np.arange(len(positions)), positions.shape[1]
    first = positions[rows, (positions >= 0).argmax(1)][:, None]
    last = positions[rows, taps - 1 - valid[:, ::-1].argmax(1)][:, None]
    return np.where(valid, positions, np.where(np.cumsum(valid, 1) == 0, first, last))


def _sliding_taps(size, out, k, s, p, d):
    positions = np.arange(out)[:, None] * s - p + np.arange(k)[None, :] * d
    valid = (positions >= 0) & (positions < size)
    return _clamp_to_window(positions, valid), valid


def _adaptive_taps(size, out):
    """PyTorch's adaptive windows: [floor(o * size / out), ceil((o + 1) * size / out))."""
    o = np.arange(out)
    start, end = o * size // out, -(-(o + 1) * size // out)
    positions = start[:, None] + np.arange((end - start).max(initial=1))[None, :]
    valid = positions < end[:, None]
    return np.minimum(positions, end[:, None] - 1), valid


def _outer(tables, combine):
    """(Do, Ho, Wo, Kd * Kh * Kw) from three (out, taps) tables, in the windows' layout."""
    d, h, w = tables
    grid = combine(d[:, None, None, :, None, None], h[None, :, None, None, :, None], w[None, None, :, None, None, :])
    return grid.reshape(d.shape[0], h.shape[0], w.shape[0], -1)


def _windows(x, tables):
    lead, m = x.shape[:-3], x.ndim - 3
    for axis, taps in enumerate(tables):
        x = index_select(x, m + axis, tensor(taps.reshape(-1).astype(np.int64), device=x.device))
    (do, kd), (ho, kh), (wo, kw) = (t.shape for t in tables)
    x = index.reshape(x, lead + (do, kd, ho, kh, wo, kw))
    x = index.permute(x, tuple(range(m)) + (m, m + 2, m + 4, m + 1, m + 3, m + 5))
    return index.reshape(x, lead + (do, ho, wo, kd * kh * kw))


def window_max_position(windows):
    """The position (keepdim) along the last dim that torch's max-pooling scan picks: the first
    maximum, or the last NaN."""
    pick = windows.argmax(-1, keepdim=True)
    nan = ew.isnan(windows)
    if nan.any().item():
        last = windows.shape[-1] - 1 - flip(nan.to(windows.dtype), [-1]).argmax(-1, keepdim=True)
        pick = ew.where(nan.any(-1, keepdim=True), last, pick)
    return pick


def _max(x, tables, return_indices):
    sizes = x.shape[-3:]
    windows = _windows(x, [np.minimum(t, size - 1) for t, size in zip(tables, sizes)])
    pick = window_max_position(windows)
    y = index.squeeze(gather(windows, -1, pick), -1)
    past_end = [(t >= size).any(1) for t, size in zip(tables, sizes)]
    if any(rows.any() for rows in past_end):  # windows with no input under them: -inf, as torch
        empty = np.logical_or.outer(np.logical_or.outer(past_end[0], past_end[1]), past_end[2])
        y = ew.where(tensor(empty, device=x.device), float("-inf"), y)
    if not return_indices:
        return y
    _, height, width = sizes
    flat = _outer(tables, lambda d, h, w: (d * height + h) * width + w).astype(np.int64)
    positions = index.expand(tensor(flat, device=x.device), tuple(windows.shape))
    return y, index.squeeze(gather(positions, -1, pick), -1)


def _mean(x, tables, valids, divisor):
    """The sum of each window's valid taps over divisor (a number or a (Do, Ho, Wo) array)."""
    windows = _windows(x, tables)
    valid = tensor(_outer(valids, lambda d, h, w: d & h & w), device=x.device)
    total = ew.where(valid, windows, 0.0).sum(-1)
    if isinstance(divisor, np.ndarray):
        divisor = tensor(divisor, dtype=x.dtype, device=x.device)
    return total / divisor


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """torch.nn.functional.max_pool3d: input (N, C, D, H, W) or (C, D, H, W); indices are flat
    positions in each input volume, as PyTorch's."""
    if _autocast_active.on:
        (input,) = autocast_inputs("fp32_cpu", input)
    op = "max_pool3d"
    _check(input, op)
    kernel, stride, padding, dilation = _geometry(kernel_size, stride, padding, dilation, op)
    out = _out_sizes(input, kernel, stride, padding, dilation, ceil_mode, op)
    tables = [_sliding_taps(*args)[0] for args in zip(input.shape[-3:], out, kernel, stride, padding, dilation)]
    return _max(input, tables, return_indices)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """torch.nn.functional.avg_pool3d: count_include_pad counts the padding (not the extra
    room ceil_mode gives) in the divisor; divisor_override replaces it."""
    if _autocast_active.on:
        (input,) = autocast_inputs("fp32_cpu", input)
    op = "avg_pool3d"
    _check(input, op)
    kernel, stride, padding, dilation = _geometry(kernel_size, stride, padding, 1, op)
    if divisor_override is not None and int(divisor_override) == 0:
        raise ValueError(f"{op}: divisor_override must be non-zero")
    out = _out_sizes(input, kernel, stride, padding, dilation, ceil_mode, op)
    taps = [_sliding_taps(*args) for args in zip(input.shape[-3:], out, kernel, stride, padding, dilation)]
    if divisor_override is not None:
        divisor = int(divisor_override)
    else:
        counts = []
        for size, o, k, s, p, (_, valid) in zip(input.shape[-3:], out, kernel, stride, padding, taps):
            start = np.arange(o) * s - p
            counts.append(np.minimum(start + k, size + p) - start if count_include_pad else valid.sum(1))
        divisor = np.multiply.outer(np.multiply.outer(counts[0], counts[1]), counts[2])
    return _mean(input, [t for t, _ in taps], [v for _, v in taps], divisor)


def _adaptive_sizes(x, output_size, op):
    """None entries keep the input's size, as PyTorch."""
    sizes = (output_size,) * 3 if isinstance(output_size, numbers.Integral) or output_size is None \
        else tuple(output_size)
    if len(sizes) != 3:
        raise ValueError(f"{op}: output_size needs 3 values, got {output_size!r}")
    sizes = tuple(x.shape[x.ndim - 3 + i] if s is None else int(s) for i, s in enumerate(sizes))
    if min(sizes) < 0:
        raise ValueError(f"{op}: output_size must be non-negative, got {sizes}")
    return sizes


def adaptive_avg_pool3d(input, output_size):
    if _autocast_active.on:
        (input,) = autocast_inputs("fp32_cpu", input)
    op = "adaptive_avg_pool3d"
    _check(input, op)
    taps = [_adaptive_taps(size, o) for size, o in zip(input.shape[-3:], _adaptive_sizes(input, output_size, op))]
    counts = [valid.sum(1) for _, valid in taps]
    divisor = np.multiply.outer(np.multiply.outer(counts[0], counts[1]), counts[2])
    return _mean(input, [t for t, _ in taps], [v for _, v in taps], divisor)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    if _autocast_active.on:
        (input,) = autocast_inputs("fp32_cpu", input)
    op = "adaptive_max_pool3d"
    _check(input, op)
    sizes = _adaptive_sizes(input, output_size, op)
    return _max(input, [_adaptive_taps(size, o)[0] for size, o in zip(input.shape[-3:], sizes)], return_indices)
