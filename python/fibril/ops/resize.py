"""Resizing: interpolate (nearest, nearest-exact, linear, bilinear, bicubic, trilinear) and
pixel_shuffle / pixel_unshuffle. Each resized dim is an index_select (linear modes: two,
bicubic: four, mixed by per-position weights), so autograd adds each output's gradient back
into the input elements it read. Source positions follow ATen's formulas, computed in float32 for
float32 input as ATen does, so the chosen neighbours match torch's."""

import math
import numbers

import numpy as np

from .. import _C
from ..creation import tensor
from . import index
from .gather import index_select
from .pool import adaptive_avg_pool1d, adaptive_avg_pool2d
from .pool3d import adaptive_avg_pool3d

_SPATIAL = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
_AREA_POOLS = {1: adaptive_avg_pool1d, 2: adaptive_avg_pool2d, 3: adaptive_avg_pool3d}
_CUBIC_A = -0.75  # ATen's (and OpenCV's) cubic convolution coefficient


def _per_dim(value, n, name):
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"interpolate: {name} {tuple(value)} must have {n} elements, one per spatial dim")
        return list(value)
    return [value] * n


def _output_size(x, size, scale_factor, recompute_scale_factor):
    """(sizes, scales): scales are 1/scale_factor per dim, or None where ATen derives them."""
    n = x.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: exactly one of size or scale_factor should be defined, got "
                         f"size={size}, scale_factor={scale_factor}")
    if size is not None:
        return [int(s) for s in _per_dim(size, n, "size")], [None] * n
    factors = [float(f) for f in _per_dim(scale_factor, n, "scale_factor")]
    sizes = [math.floor(x.shape[2 + i] * f) for i, f in enumerate(factors)]
    return sizes, [None] * n if recompute_scale_factor else factors


def _scale(n_in, n_out, factor, align_corners, ftype):
    if align_corners:
        return ftype((n_in - 1) / (n_out - 1)) if n_out > 1 else ftype(0)
    return ftype(1.0 / factor) if factor else ftype(n_in) / ftype(n_out)


def _nearest(x, d, n_out, factor, exact, ftype):
    n_in = x.shape[d]
    dst = np.arange(n_out)
    # ATen's 2-D nearest kernel (nearest_idx) special-cases these sizes with integer arithmetic
    if x.ndim == 4 and not exact and n_out == n_in:
        src = dst
    elif x.ndim == 4 and not exact and n_out == 2 * n_in:
        src = dst >> 1
    else:
        offset = ftype(0.5) if exact else ftype(0)
        src = np.floor((dst.astype(ftype) + offset) * _scale(n_in, n_out, factor, False, ftype))
        src = np.minimum(src.astype(np.int64), n_in - 1)
    return index_select(x, d, tensor(src, device=x.device))


def _linear(x, d, n_out, factor, align_corners, ftype):
    n_in = x.shape[d]
    if n_out == n_in:
        return x  # ATen copies a dim whose size is unchanged, whatever the scale
    scale = _scale(n_in, n_out, factor, align_corners, ftype)
    dst = np.arange(n_out).astype(ftype)
    src = dst * scale if align_corners else np.maximum((dst + ftype(0.5)) * scale - ftype(0.5), ftype(0))
    lo = src.astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    shape = [1] * x.ndim
    shape[d] = n_out
    w = tensor((src - lo).reshape(shape), dtype=x.dtype, device=x.device)
    a = index_select(x, d, tensor(lo, device=x.device))
    b = index_select(x, d, tensor(hi, device=x.device))
    return a + (b - a) * w


def _cubic_weights(t, ftype):
    """Keys' cubic convolution weights of the taps at floor - 1 .. floor + 2, for the fraction t,
    in ATen's order of operations."""
    a = ftype(_CUBIC_A)

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    rest = ftype(1) - t
    return far(t + ftype(1)), near(t), near(rest), far(rest + ftype(1))


def _cubic(x, d, n_out, factor, align_corners, ftype):
    n_in = x.shape[d]
    scale = _scale(n_in, n_out, factor, align_corners, ftype)
    dst = np.arange(n_out).astype(ftype)
    src = dst * scale if align_corners else (dst + ftype(0.5)) * scale - ftype(0.5)  # not clamped at 0, unlike linear
    lo = np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), n_in - 1)  # ATen floors with floorf
    t = np.minimum(np.maximum(src - lo.astype(ftype), ftype(0)), ftype(1))
    shape = [1] * x.ndim
    shape[d] = n_out
    out = None
    for k, w in enumerate(_cubic_weights(t, ftype)):
        taps = np.clip(lo - 1 + k, 0, n_in - 1)  # border taps repeat the edge
        weight = tensor(w.reshape(shape), dtype=x.dtype, device=x.device)
        term = index_select(x, d, tensor(taps, device=x.device)) * weight
        out = term if out is None else out + term
    return out


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """torch.nn.functional.interpolate over the trailing dims of [N, C, *spatial] input."""
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode must be one of {', '.join(_MODES)}; got '{mode}'")
    if antialias:
        raise NotImplementedError("interpolate: antialias is not supported")
    if input.ndim < 3:
        raise ValueError(f"interpolate: expected [N, C, *spatial] input, got shape {list(input.shape)}")
    if input.ndim > 5:
        raise NotImplementedError(f"interpolate: only 3-D, 4-D and 5-D input is supported (as torch), got "
                                  f"{input.ndim}-D")
    interpolating = mode in _SPATIAL
    if interpolating and input.ndim - 2 != _SPATIAL[mode]:
        raise NotImplementedError(f"interpolate: got {input.ndim}D input, but {mode} mode needs "
                                  f"{_SPATIAL[mode] + 2}D input")
    if align_corners is not None and not interpolating:
        raise ValueError("interpolate: align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if mode == "bicubic" and not input.dtype.is_floating_point:
        raise NotImplementedError(f"interpolate: bicubic mode needs floating-point input, got {input.dtype.name}")
    sizes, factors = _output_size(input, size, scale_factor, recompute_scale_factor)
    if any(s <= 0 for s in sizes):
        raise ValueError(f"interpolate: output size {sizes} of input shape {list(input.shape)} must be positive")
    if mode == "area":  # the mean over each output cell's input region, as torch: adaptive average pooling
        return _AREA_POOLS[input.ndim - 2](input, sizes)
    ftype = np.float64 if input.dtype == _C.float64 else np.float32
    out = input
    dims = list(enumerate(zip(sizes, factors)))
    if mode == "bicubic":  # W first: ATen weighs each row's four W taps, then sums those rows by the H taps
        dims.reverse()
    for i, (n_out, factor) in dims:
        if mode == "bicubic":
            out = _cubic(out, 2 + i, n_out, factor, bool(align_corners), ftype)
        elif interpolating:
            out = _linear(out, 2 + i, n_out, factor, bool(align_corners), ftype)
        else:
            out = _nearest(out, 2 + i, n_out, factor, mode == "nearest-exact", ftype)
    return out.clone() if out is input else out


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, "nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, "bilinear", align_corners=True)


def _check_factor(factor, op, name):
    if not isinstance(factor, numbers.Integral) or factor <= 0:
        raise ValueError(f"{op}: {name} must be a positive integer, got {factor!r}")


def pixel_shuffle(input, upscale_factor):
    """[*, C*r*r, H, W] -> [*, C, H*r, W*r]."""
    r = upscale_factor
    _check_factor(r, "pixel_shuffle", "upscale_factor")
    if input.ndim < 3 or input.shape[-3] % (r * r):
        raise ValueError(f"pixel_shuffle: expected [*, C*{r * r}, H, W] input (channels divisible by "
                         f"upscale_factor**2), got shape {list(input.shape)}")
    *lead, c, h, w = input.shape
    k = len(lead)
    x = index.reshape(input, (*lead, c // (r * r), r, r, h, w))
    x = index.permute(x, (*range(k), k, k + 3, k + 1, k + 4, k + 2))
    return index.reshape(x, (*lead, c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """[*, C, H*r, W*r] -> [*, C*r*r, H, W]."""
    r = downscale_factor
    _check_factor(r, "pixel_unshuffle", "downscale_factor")
    if input.ndim < 3 or input.shape[-2] % r or input.shape[-1] % r:
        raise ValueError(f"pixel_unshuffle: expected [*, C, H, W] input with H and W divisible by "
                         f"downscale_factor {r}, got shape {list(input.shape)}")
    *lead, c, h, w = input.shape
    k = len(lead)
    x = index.reshape(input, (*lead, c, h // r, r, w // r, r))
    x = index.permute(x, (*range(k), k, k + 2, k + 4, k + 1, k + 3))
    return index.reshape(x, (*lead, c * r * r, h // r, w // r))
