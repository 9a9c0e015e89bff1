"""F.affine_grid and F.grid_sample (4-D: bilinear and nearest; zeros, border and reflection
padding; align_corners), as torch's. Composed from elementwise ops and gathers, so the
gradients w.r.t. the input and the grid (through the bilinear weights) come from those ops."""

from ..amp.policy import autocast_inputs, active as _autocast_active
from .. import _C, creation
from . import elementwise as ew
from . import elementwise_math as em
from .gather import gather
from .index import expand, reshape
from .join import stack
from .matmul import matmul


def _base_coordinates(size, align_corners, like):
    """The normalized [-1, 1] coordinates of `size` pixel centres (corners with align_corners)."""
    if size == 1:
        return creation.zeros((1,), dtype=like.dtype, device=like.device)
    line = creation.linspace(-1.0, 1.0, size, dtype=like.dtype, device=like.device)
    return line if align_corners else ew.mul(line, (size - 1) / size)


def affine_grid(theta, size, align_corners=False):
    """theta (N, 2, 3), size (N, C, H, W) -> the (N, H, W, 2) sampling grid theta @ (x, y, 1)."""
    if theta.ndim != 3 or tuple(theta.shape[1:]) != (2, 3):
        raise ValueError(f"affine_grid: expected theta of shape (N, 2, 3), got {tuple(theta.shape)}")
    if len(size) != 4 or size[0] != theta.shape[0]:
        raise ValueError(f"affine_grid: size {tuple(size)} must be (N, C, H, W) with N = {theta.shape[0]} (theta's)")
    n, _, h, w = size
    xs = expand(reshape(_base_coordinates(w, align_corners, theta), (1, w)), (h, w))
    ys = expand(reshape(_base_coordinates(h, align_corners, theta), (h, 1)), (h, w))
    base = stack([xs, ys, creation.ones((h, w), dtype=theta.dtype, device=theta.device)], dim=-1)  # (H, W, 3)
    grid = matmul(reshape(base, (1, h * w, 3)), theta.mT)  # (N, H W, 2)
    return reshape(grid, (n, h, w, 2))


def _unnormalize(coord, size, align_corners):
    if align_corners:
        return ew.mul(ew.add(coord, 1.0), (size - 1) / 2)
    return ew.div(ew.sub(ew.mul(ew.add(coord, 1.0), size), 1.0), 2)


def _reflect(coord, twice_low, twice_high):
    """coord reflected into [twice_low / 2, twice_high / 2], as torch's reflect_coordinates."""
    if twice_low == twice_high:
        return ew.mul(coord, 0.0)
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    distance = ew.abs(ew.sub(coord, low))
    extra = em.fmod(distance, span)
    flips = ew.floor(ew.div(distance, span))
    even = ew.eq(em.fmod(flips, 2.0), 0.0)
    return ew.where(even, ew.add(extra, low), ew.add(ew.sub(span, extra), low))


def _clip(coord, size):
    """coord clamped to [0, size - 1], its gradient passed strictly inside only, as torch's
    clip_coordinates (a point exactly on the border gets none)."""
    inside = ew.logical_and(ew.gt(coord, 0), ew.lt(coord, size - 1))
    return ew.where(inside, coord, ew.clamp(coord.detach(), 0, size - 1))


def _source_coordinate(coord, size, padding_mode, align_corners):
    coord = _unnormalize(coord, size, align_corners)
    if padding_mode == "border":
        return _clip(coord, size)
    if padding_mode == "reflection":
        coord = _reflect(coord, 0, 2 * (size - 1)) if align_corners else _reflect(coord, -1, 2 * size - 1)
        return _clip(coord, size)
    return coord


def _tap(flat, ix, iy, width, height, channels):
    """input[n, :, iy, ix] for integer-valued coordinates (N, Ho, Wo), 0 outside the input:
    (N, C, Ho, Wo)."""
    inside = ew.logical_and(ew.logical_and(ew.ge(ix, 0), ew.le(ix, width - 1)),
                            ew.logical_and(ew.ge(iy, 0), ew.le(iy, height - 1)))
    index = ew.add(ew.mul(ew.clamp(iy, 0, height - 1), width), ew.clamp(ix, 0, width - 1)).to(_C.DType.int64)
    n, ho, wo = index.shape
    index = expand(reshape(index, (n, 1, ho * wo)), (n, channels, ho * wo))
    values = reshape(gather(flat, 2, index), (n, channels, ho, wo))
    return ew.where(reshape(inside, (n, 1, ho, wo)), values, 0.0)


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """input (N, C, H, W) sampled at grid (N, Ho, Wo, 2) of normalized (x, y): (N, C, Ho, Wo)."""
    if _autocast_active.on:
        input, grid = autocast_inputs("fp32_cpu_promote_cuda", input, grid)
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"grid_sample: mode must be 'bilinear' or 'nearest' (4-D), got {mode!r}")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"grid_sample: padding_mode must be 'zeros', 'border' or 'reflection', got {padding_mode!r}")
    if input.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != input.shape[0]:
        raise ValueError(f"grid_sample: expected input (N, C, H, W) and grid (N, Ho, Wo, 2) with the same N, got "
                         f"{tuple(input.shape)} and {tuple(grid.shape)}")
    if grid.dtype != input.dtype:
        raise TypeError(f"grid_sample: input ({input.dtype.name}) and grid ({grid.dtype.name}) must have one dtype")
    align_corners = bool(align_corners)
    n, c, h, w = input.shape
    x = _source_coordinate(grid[..., 0], w, padding_mode, align_corners)
    y = _source_coordinate(grid[..., 1], h, padding_mode, align_corners)
    flat = reshape(input, (n, c, h * w))
    if mode == "nearest":  # round half to even, as torch's nearbyint
        out = _tap(flat, ew.round(x.detach()), ew.round(y.detach()), w, h, c)
        # the grid gets a zero gradient (not none), as torch's
        return ew.add(out, reshape(ew.mul(ew.add(x, y), 0.0), (n, 1, *x.shape[1:])))
    x0, y0 = ew.floor(x.detach()), ew.floor(y.detach())
    x1, y1 = ew.add(x0, 1.0), ew.add(y0, 1.0)
    wx1, wy1 = ew.sub(x, x0), ew.sub(y, y0)
    wx0, wy0 = ew.sub(1.0, wx1), ew.sub(1.0, wy1)
    out = None
    for ix, iy, weight in ((x0, y0, ew.mul(wx0, wy0)), (x1, y0, ew.mul(wx1, wy0)),
                           (x0, y1, ew.mul(wx0, wy1)), (x1, y1, ew.mul(wx1, wy1))):
        term = ew.mul(_tap(flat, ix, iy, w, h, c), reshape(weight, (n, 1, *weight.shape[1:])))
        out = term if out is None else ew.add(out, term)
    return out
