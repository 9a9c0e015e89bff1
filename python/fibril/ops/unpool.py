"""max_unpool1d/2d/3d with torch.nn.functional's semantics: the partial inverse of max pooling,
every input value written at its index (a flat position in its output plane or volume) of a
zero output, by one scatter, so the gradient with respect to the input gathers the output's
gradient at the indices, as torch's."""

import math

from ..creation import zeros
from ..tensor import Tensor
from . import index
from .gather import scatter
from .arguments import int_tuple


def _default_size(x, kernel, stride, padding):
    n = len(kernel)
    return [(x.shape[x.ndim - n + d] - 1) * stride[d] + kernel[d] - 2 * padding[d] for d in range(n)]


def _output_size(x, kernel, stride, padding, output_size):
    """torch's _unpool_output_size: output_size holds the spatial sizes, optionally after the
    batch and channel sizes, each less than a stride away from the default size."""
    n, default = len(kernel), _default_size(x, kernel, stride, padding)
    if output_size is None:
        return default
    wanted = [int(v) for v in output_size]
    if len(wanted) == n + 2:
        wanted = wanted[2:]
    if len(wanted) != n:
        raise ValueError(f"output_size should be a sequence containing {n} or {n + 2} elements, but it has a "
                         f"length of '{len(wanted)}'")
    for d in range(n):
        low, high = default[d] - stride[d], default[d] + stride[d]
        if not low < wanted[d] < high:
            raise ValueError(f'invalid output_size "{wanted}" (dim {d} must be between {low} and {high})')
    return wanted


def _check(x, indices, n, op):
    if not isinstance(x, Tensor) or not isinstance(indices, Tensor):
        raise TypeError(f"{op}: expected Tensors, got {type(x).__name__} and {type(indices).__name__}")
    if indices.dtype.name != "int64":
        raise TypeError(f"{op}: elements in indices should be type int64 but got {indices.dtype.name}")
    if x.ndim not in (n + 1, n + 2):
        raise ValueError(f"{op}: expected a {n + 1}-D (unbatched) or {n + 2}-D (batched) input, got input "
                         f"{list(x.shape)}")
    if tuple(indices.shape) != tuple(x.shape):
        raise ValueError(f"{op}: expected indices of the input's shape {list(x.shape)}, got indices "
                         f"{list(indices.shape)}")
    if 0 in x.shape[-n - 1:]:
        raise ValueError(f"{op}: expected non-empty channel and spatial dims, got input {list(x.shape)}")


def _max_unpool(x, indices, kernel_size, stride, padding, output_size, n, op):
    _check(x, indices, n, op)
    kernel = int_tuple(kernel_size, n, "kernel_size", op)
    stride = kernel if stride is None else int_tuple(stride, n, "stride", op)
    padding = int_tuple(padding, n, "padding", op)
    if min(stride) < 1:
        raise ValueError(f"{op}: stride {stride} must be positive")
    size = _output_size(x, kernel, stride, padding, output_size)
    lead, volume = tuple(x.shape[:-n]), math.prod(size)
    if indices.numel() and (indices.min().item() < 0 or indices.max().item() >= volume):
        bad = indices.min().item() if indices.min().item() < 0 else indices.max().item()
        raise IndexError(f"{op}: found an invalid max index {bad} (output planes are of size "
                         f"{'x'.join(map(str, size))})")
    planes = math.prod(x.shape[-n:])
    out = zeros(*lead, volume, dtype=x.dtype, device=x.device)
    out = scatter(out, out.ndim - 1, index.reshape(indices, lead + (planes,)), index.reshape(x, lead + (planes,)))
    return index.reshape(out, lead + tuple(size))


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """torch.nn.functional.max_unpool1d: input and indices (N, C, L) or (C, L)."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1, "max_unpool1d")


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """torch.nn.functional.max_unpool2d: input and indices (N, C, H, W) or (C, H, W)."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2, "max_unpool2d")


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """torch.nn.functional.max_unpool3d: input and indices (N, C, D, H, W) or (C, D, H, W)."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 3, "max_unpool3d")
