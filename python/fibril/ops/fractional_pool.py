"""fractional_max_pool2d/3d with torch.nn.functional's semantics (Graham's fractional max
pooling), composed from differentiable ops, so gradients come by composition.

Every (sample, channel) plane has its own windows: kernel-sized, starting where torch's
generate_intervals puts them from that plane's `_random_samples` (one number per spatial dim,
uniform in [0, 1) unless given), computed in the input's precision with torch's truncations,
so torch's samples give torch's output and indices exactly. One gather reads every window of
a plane, in torch's scan order; the first maximum (the last NaN, as torch's kernel) is picked,
its flat position in the plane is the index, and the output's gradient goes there (summed
where windows overlap), as torch's backward scatters it."""

import math
import numbers

import numpy as np

from ..creation import tensor
from ..random import rand
from ..tensor import Tensor
from . import index
from .gather import gather
from .pool3d import window_max_position

_NAMES = {2: ("height", "width"), 3: ("time", "height", "width")}


def _sizes(value, n, name, op):
    """torch's int[n] argument: an int for every dim, or n ints."""
    if isinstance(value, numbers.Integral):
        return (int(value),) * n
    values = tuple(int(v) for v in value)
    if len(values) != n:
        raise RuntimeError(f"{op}: {name} must either be a single Int or tuple of {'three ' if n == 3 else ''}Ints")
    return values


def _output_size(input, output_size, output_ratio, n, op):
    """torch's Python-side choice: output_size, or each spatial size times output_ratio,
    truncated."""
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op} requires specifying either an output_size or an output_ratio")
    if output_size is not None:
        return output_size
    if n == 2 and len(output_ratio) > 2:  # torch's check; it takes len() of a bare float too
        raise ValueError(f"{op} requires output_ratio to either be a single Int or tuple of Ints.")
    ratios = (output_ratio,) * n if isinstance(output_ratio, numbers.Number) else tuple(output_ratio)
    return [int(input.shape[input.ndim - n + i] * ratios[i]) for i in range(n)]


def _check_input(x, kernel, out, n, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    where = "fractional_max_pool2d()" if n == 2 else "fractional_max_pool3d_out()"
    if x.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"{where}: Expected {n + 1}D or {n + 2}D tensor, but got: {list(x.shape)}")
    for d in range(1, x.ndim):
        if x.shape[d] == 0:
            raise RuntimeError(f"{where}: Expected input to have non-zero size for non-batch dimensions, but got"
                               f"{list(x.shape)} with dimension {d} being empty.")
    if min(kernel) < 1:
        raise RuntimeError(f"{op}: kernel_size must be greater than 0, but got {kernel}")
    if min(out) < 0:
        raise RuntimeError(f"{op}: output_size must be non-negative, got {out}")
    sizes = x.shape[-n:]
    # torch's order and bounds: 2-D checks (h, w) with <=, 3-D (t, w, h) with <
    order = (0, 1) if n == 2 else (0, 2, 1)
    for d in order:
        fits = out[d] + kernel[d] - 1 <= sizes[d] if n == 2 else out[d] + kernel[d] - 1 < sizes[d]
        if not fits:
            raise RuntimeError(f"{where}: pool {_NAMES[n][d]} {kernel[d]} too large relative to input "
                               f"{_NAMES[n][d]} {sizes[d]}")


def _check_samples(x, samples, n):
    if samples.dtype != x.dtype:
        raise RuntimeError("Expect _random_samples to have the same dtype as input")
    if samples.ndim != 3:
        raise RuntimeError(f"Expect _random_samples to have 3 dimensions, got {samples.ndim}")
    batch, channels = (1, x.shape[0]) if x.ndim == n + 1 else x.shape[:2]
    if samples.shape[0] < batch:
        raise RuntimeError("Expect _random_samples.size(0) no less then input batch size.")
    if samples.shape[1] != channels:
        raise RuntimeError("Expect _random_samples.size(1) equals to input channel size.")
    if samples.shape[2] != n:
        raise RuntimeError(f"Expect _random_samples.size(2) equals to {n}; got {samples.shape[2]}.")


def _interval_starts(samples, input_size, output_size, pool_size):
    """torch's generate_intervals for an array of samples: each window's first position, in
    the samples' precision, truncated to int as torch's."""
    starts = np.empty(samples.shape + (output_size,), np.int64)
    if output_size > 1:
        real = samples.dtype.type
        alpha = real(input_size - pool_size) / real(output_size - 1)
        steps = np.arange(output_size - 1).astype(samples.dtype)
        s = samples[..., None]
        starts[..., :-1] = ((steps + s) * alpha).astype(np.int32) - (s * alpha).astype(np.int32)
    if output_size > 0:
        starts[..., -1] = input_size - pool_size
    return starts


def _window_positions(samples, sizes, out, kernel):
    """(N, C, *out, prod(kernel)): the flat in-plane position of every window's taps, in
    torch's scan order. torch's samples are (w, h) for 2-D and (t, h, w) for 3-D."""
    n = len(sizes)
    columns = (1, 0) if n == 2 else (0, 1, 2)
    positions = np.zeros(samples.shape[:2] + (1,) * (2 * n), np.int64)
    stride = 1
    for d in reversed(range(n)):
        starts = _interval_starts(samples[..., columns[d]], sizes[d], out[d], kernel[d])
        taps = starts[..., None] + np.arange(kernel[d])
        shape = samples.shape[:2] + tuple(out[d] if e == d else 1 for e in range(n)) \
            + tuple(kernel[d] if e == d else 1 for e in range(n))
        positions = positions + taps.reshape(shape) * stride
        stride *= sizes[d]
    return positions.reshape(samples.shape[:2] + tuple(out) + (math.prod(kernel),))


def _fractional_max_pool(input, kernel_size, output_size, output_ratio, samples, n, op):
    out = _output_size(input, output_size, output_ratio, n, op)
    kernel, out = _sizes(kernel_size, n, "kernel_size", op), _sizes(out, n, "output_size", op)
    _check_input(input, kernel, out, n, op)
    unbatched = input.ndim == n + 1
    x = index.unsqueeze(input, 0) if unbatched else input
    batch, channels = x.shape[:2]
    if samples is None:
        samples = rand(batch, channels, n, dtype=input.dtype, device=input.device)
    _check_samples(input, samples, n)
    host = samples.detach().cpu()
    if host.element_size() < 4:  # half types: windows from their float32 values (numpy has no bfloat16)
        host = host.float()
    positions = _window_positions(host.numpy()[:batch], x.shape[2:], out, kernel)
    taps = tensor(positions, device=x.device)
    planes = index.reshape(x, (batch, channels, math.prod(x.shape[2:])))
    windows = gather(planes, -1, index.reshape(taps, (batch, channels, math.prod(positions.shape[2:]))))
    windows = index.reshape(windows, tuple(positions.shape))
    pick = window_max_position(windows)
    y = index.squeeze(gather(windows, -1, pick), -1)
    indices = index.squeeze(gather(taps, -1, pick), -1)
    if unbatched:
        y, indices = index.squeeze(y, 0), index.squeeze(indices, 0)
    return y, indices


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                                       _random_samples=None):
    """(output, indices) whatever return_indices says, as torch's."""
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, _random_samples, 2,
                                "fractional_max_pool2d")


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                                       _random_samples=None):
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, _random_samples, 3,
                                "fractional_max_pool3d")


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    """torch.nn.functional.fractional_max_pool2d: input (N, C, H, W) or (C, H, W);
    _random_samples (N, C, 2), one (w, h) pair per plane."""
    y, indices = fractional_max_pool2d_with_indices(input, kernel_size, output_size, output_ratio, True,
                                                    _random_samples)
    return (y, indices) if return_indices else y


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    """torch.nn.functional.fractional_max_pool3d: input (N, C, T, H, W) or (C, T, H, W);
    _random_samples (N, C, 3), one (t, h, w) triple per plane."""
    y, indices = fractional_max_pool3d_with_indices(input, kernel_size, output_size, output_ratio, True,
                                                    _random_samples)
    return (y, indices) if return_indices else y
