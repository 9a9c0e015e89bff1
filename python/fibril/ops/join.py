"""Joining and splitting (index family, composed from views and the strided copy kernel):
cat, stack, split, chunk, unbind, repeat, tile, roll, pad (constant, reflect, replicate,
circular); atleast_1d/2d/3d, vstack/hstack/dstack/column_stack, tensor_split and
hsplit/vsplit/dsplit, block_diag, meshgrid, cartesian_prod, rot90, repeat_interleave."""

import numbers
import warnings

import numpy as np

from .. import _C
from ..amp.policy import autocast_inputs, active as _autocast_active
from ..autograd import Function
from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor, _wrap_dim
from . import gather, index


def _promoted_dtype(tensors):
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = _C.result_type(_C.Array.empty((0,), dtype), t._data) if t.dtype != dtype else dtype
    return dtype


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *tensors):
        for i, t in enumerate(tensors):
            if t.ndim == 0:
                raise ValueError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
        parts = [t for t in tensors if not (t.ndim == 1 and t.numel() == 0)]  # torch skips legacy empty (0,)
        # the shape and dim come from the first tensor kept (only legacy empties: the first, dim unchecked)
        ref = parts[0] if parts else tensors[0]
        d = _wrap_dim(dim, ref.ndim) if parts else 0
        for t in parts:
            if t.ndim != ref.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape)) if i != d):
                raise ValueError(f"cat: sizes of tensors must match except in dimension {d}; got "
                                 f"{list(ref.shape)} and {list(t.shape)}")
            if t.device != ref.device:
                raise RuntimeError(f"cat: expected all tensors on the same device, got {ref.device} and {t.device}")
        dtype = _promoted_dtype(list(tensors))
        sizes = [t.shape[d] for t in parts]
        shape = list(ref.shape)
        shape[d] = sum(sizes)
        out = _C.Array.empty(tuple(shape), dtype, ref.device)
        offset = 0
        for t, n in zip(parts, sizes):
            out.slice(d, offset, offset + n, 1).copy_(t._data)
            offset += n
        ctx.dim, ctx.sizes, ctx.keep = d, sizes, [not (t.ndim == 1 and t.numel() == 0) for t in tensors]
        ctx.dtypes = [t.dtype for t in tensors]
        return Tensor._wrap(out)

    @staticmethod
    def backward(ctx, g):
        grads, offset, sizes = [], 0, iter(ctx.sizes)
        for keep, dtype in zip(ctx.keep, ctx.dtypes):
            if not keep:
                grads.append(None)
                continue
            n = next(sizes)
            part = index.narrow(g, ctx.dim, offset, n)
            grads.append(part if part.dtype == dtype else part.to(dtype))
            offset += n
        return (None, *grads)


def cat(tensors, dim=0, *, axis=None):
    """tensors joined along dim (torch also names it axis)."""
    dim = dim if axis is None else axis
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat expects a non-empty list of tensors")
    return Cat.apply(dim, *tensors)


concat = concatenate = cat


def stack(tensors, dim=0, *, axis=None):
    dim = dim if axis is None else axis
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack expects a non-empty list of tensors")
    shape = tensors[0].shape
    for t in tensors:
        if t.shape != shape:
            raise ValueError(f"stack expects each tensor to be equal size, but got {list(shape)} and {list(t.shape)}")
    d = _wrap_dim(dim, len(shape) + 1)
    return cat([index.unsqueeze(t, d) for t in tensors], d)


def _multiple_views(views, function):
    """views, marked as the outputs of a function that returns several: under autograd, as
    torch, none may be changed in place (see tensor._View). Made under no_grad, they have the
    no_grad mark, which refuses that too."""
    if is_grad_enabled():
        for i, view in enumerate(views):
            view._creation = (function, i)
    return views


def _at_least_1d(x, op):
    if x.ndim == 0:
        raise ValueError(f"{op} expects at least a 1-dimensional tensor")


def split(x, split_size_or_sections, dim=0):
    _at_least_1d(x, "split")
    d = _wrap_dim(dim, x.ndim)
    size = x.shape[d]
    if isinstance(split_size_or_sections, numbers.Integral):
        step = int(split_size_or_sections)
        if step < 0:
            raise ValueError(f"split expects split_size be non-negative, but got split_size={step}")
        if step == 0 and size > 0:
            raise ValueError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {size}")
        sections = [min(step, size - i) for i in range(0, size, step)] if size else [0]
    else:
        sections = list(split_size_or_sections)
        if sum(sections) != size:
            raise ValueError(f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's "
                             f"size at dimension {d}), but got split_sizes={sections}")
    out, offset = [], 0
    for n in sections:
        out.append(index.narrow(x, d, offset, n))
        offset += n
    return _multiple_views(tuple(out), "split")


def chunk(x, chunks, dim=0):
    _at_least_1d(x, "chunk")
    if chunks <= 0:
        raise ValueError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    size = x.shape[_wrap_dim(dim, x.ndim)]
    if size == 0:
        return split(x, [0] * chunks, dim)  # torch: `chunks` empty chunks
    return split(x, -(-size // chunks), dim)


def unbind(x, dim=0):
    d = _wrap_dim(dim, x.ndim)
    return _multiple_views(tuple(index.Select.apply(x, d, i) for i in range(x.shape[d])), "unbind")


def repeat(x, *sizes):
    """Tiles x: each dim i repeated sizes[i] times (leading new dims allowed), as torch.Tensor.repeat."""
    sizes = index._shape_arg(sizes)
    if len(sizes) < x.ndim:
        raise ValueError(f"Number of dimensions of repeat dims ({len(sizes)}) can not be smaller than number of "
                         f"dimensions of tensor ({x.ndim})")
    lead = len(sizes) - x.ndim
    shape = (1,) * lead + tuple(x.shape)
    # Interleave a broadcast axis before each dim, expand it, then merge: one strided copy.
    expanded_shape, view_shape = [], []
    for s, r in zip(shape, sizes):
        view_shape += [1, s]
        expanded_shape += [r, s]
    y = index.expand(index.reshape(x, tuple(view_shape)), tuple(expanded_shape))
    return _own_copy(index.reshape(y, tuple(s * r for s, r in zip(shape, sizes))), x)


def _own_copy(y, x):
    """y, or a copy of it where the reshape that made it was a view of x (repeats of 1, or of a
    dim of size 1: a stride-0 view): as torch, repeat's results never alias their input."""
    return index.Clone.apply(y) if y._data.shares_storage(x._data) else y


def tile(x, dims):
    """x repeated dims[i] times along each dim, dims padded with leading ones to x.ndim."""
    dims = tuple(dims)
    return repeat(x, *((1,) * (x.ndim - len(dims)) + dims))


def roll(x, shifts, dims=None):
    input = x
    shifts = (shifts,) if isinstance(shifts, numbers.Integral) else tuple(shifts)
    dims = () if dims is None else (dims,) if isinstance(dims, numbers.Integral) else tuple(dims)
    flat = not dims and len(shifts) == 1  # torch: no dims (None or empty) rolls the flattened x
    if len(shifts) != len(dims) and not flat:
        raise ValueError(f"roll: shifts and dims must align, got {len(shifts)} shifts and {len(dims)} dims")
    if x.numel() == 0:  # as torch, which checks no dims then
        return x.clone()
    if flat:
        return index.reshape(roll(index.flatten(x), shifts, 0), x.shape)
    for s, d in zip(shifts, dims):
        d = _wrap_dim(d, x.ndim)
        n = x.shape[d]
        if n == 0:
            continue
        s %= n
        if s:
            x = cat([index.narrow(x, d, n - s, s), index.narrow(x, d, 0, n - s)], d)
    return x if x is not input else x.clone()  # shifts of whole turns: still a copy, as torch


def _pad_dims(x, pad):
    """(dim, lo, hi) for each padded dim: pairs apply to the last dims, last dim first."""
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: padding length must be even and at most 2 * ndim ({2 * x.ndim}) for input of "
                         f"shape {list(x.shape)}, got {len(pad)}")
    dims = []
    for i in range(len(pad) // 2):
        d, lo, hi = x.ndim - 1 - i, pad[2 * i], pad[2 * i + 1]
        if x.shape[d] + lo + hi < 0:
            raise ValueError(f"pad: padding ({lo}, {hi}) gives dimension {d} of input shape {list(x.shape)} a "
                             f"negative size {x.shape[d] + lo + hi}")
        dims.append((d, lo, hi))
    return dims


def _crop(array, dims, outer):
    """The part of `array` that the input (outer=False) or the padded output (outer=True)
    have in common: negative padding crops the input, positive padding the output."""
    sign = 1 if outer else -1
    for d, lo, hi in dims:
        array = array.slice(d, max(sign * lo, 0), array.shape[d] - max(sign * hi, 0), 1)
    return array


class PadConstant(Function):
    @staticmethod
    def forward(ctx, x, dims, value):
        shape = list(x.shape)
        for d, lo, hi in dims:
            shape[d] += lo + hi
        out = _C.Array.full(tuple(shape), value, x.dtype, x.device)
        _crop(out, dims, True).copy_(_crop(x._data, dims, False))
        ctx.dims, ctx.in_shape = dims, x.shape
        return Tensor._wrap(out)

    @staticmethod
    def backward(ctx, g):
        dims = ctx.dims
        inner = index.take_region(g, lambda a: _crop(a, dims, True))
        return index.embed(inner, ctx.in_shape, lambda a: _crop(a, dims, False)), None, None


def _source_positions(n, lo, hi, mode):
    """For a dim of size n padded by (lo, hi): the input position each output position reads.
    As torch, circular wraps around what negative padding leaves of the dim; reflect and
    replicate mirror or repeat the uncropped edges."""
    if mode == "circular":
        start, kept = max(-lo, 0), n - max(-lo, 0) - max(-hi, 0)
        return start + np.arange(-max(lo, 0), kept + max(hi, 0)) % kept
    pos = np.arange(-lo, n + hi)
    if mode == "reflect":  # mirror about the edge elements, which are not repeated
        return (n - 1) - np.abs((n - 1) - np.abs(pos))
    return np.clip(pos, 0, n - 1)


def _check_reach(x, d, lo, hi, mode):
    n = x.shape[d]
    kept = n - max(-lo, 0) - max(-hi, 0)
    if mode == "reflect" and (lo >= n or hi >= n):
        problem = f"must be less than its size {n}"
    elif mode == "circular" and (lo > kept or hi > kept):
        problem = f"must be at most the size {kept} it wraps around"
    elif mode == "replicate" and n == 0:
        problem = "cannot repeat the edge of a dimension of size 0"
    else:
        return
    raise ValueError(f"pad: {mode} padding ({lo}, {hi}) of dimension {d} {problem} (input shape {list(x.shape)})")


def _pad_by_index(x, dims, mode):
    """reflect/replicate/circular: one index_select per padded dim, whose backward adds the
    gradient of every output element back into the input element it was read from."""
    from ..creation import tensor

    dims = [(d, lo, hi) for d, lo, hi in dims if lo or hi]
    for d, lo, hi in dims:
        _check_reach(x, d, lo, hi, mode)
    for d, lo, hi in dims:
        x = gather.IndexSelect.apply(x, d, tensor(_source_positions(x.shape[d], lo, hi, mode), device=x.device))
    return x


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


# torch's CPU autocast runs these in float32 (reflection_pad1d/2d, replication_pad1d/2d/3d), by padded dims.
_FLOAT32_PADS = {1: ("reflect", "replicate"), 2: ("reflect", "replicate"), 3: ("replicate",)}


def pad(input, pad, mode="constant", value=None):
    """torch.nn.functional.pad, its signature included (keywords input, pad, mode, value):
    pad = (last dim lo, hi, next-to-last lo, hi, ...); negative values crop. Non-constant modes
    pad any number of trailing dims (torch: 1 to 3)."""
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(_PAD_MODES)}; got '{mode}'")
    if _autocast_active.on and mode in _FLOAT32_PADS.get(len(pad) // 2, ()):
        (input,) = autocast_inputs("fp32_cpu", input)
    dims = _pad_dims(input, tuple(pad))
    if mode == "constant":
        return PadConstant.apply(input, dims, 0.0 if value is None else value)
    if value:
        raise ValueError(f"pad: padding mode '{mode}' doesn't take in value argument")
    return _pad_by_index(input, dims, mode)


# ------------------------------------------------------------------------------ stacks, splits, grids
def _at_least(t, ndim):
    shape = tuple(t.shape)
    if len(shape) >= ndim:
        return t
    if ndim == 3:  # a row (n,) becomes (1, n, 1), a matrix (m, n) becomes (m, n, 1)
        shape = {0: (1, 1, 1), 1: (1,) + shape + (1,), 2: shape + (1,)}[len(shape)]
    else:
        shape = (1,) * (ndim - len(shape)) + shape
    return index.reshape(t, shape)


def _atleast(tensors, ndim):
    """One tensor for one tensor, else a tuple (also for a list or tuple of tensors)."""
    many = len(tensors) != 1 or isinstance(tensors[0], (list, tuple))
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    out = tuple(_at_least(t, ndim) for t in tensors)
    return out if many else out[0]


def atleast_1d(*tensors):
    return _atleast(tensors, 1)


def atleast_2d(*tensors):
    return _atleast(tensors, 2)


def atleast_3d(*tensors):
    return _atleast(tensors, 3)


def _nonempty(tensors, op):
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op} expects a non-empty list of tensors")
    return tensors


def vstack(tensors):
    return cat([_at_least(t, 2) for t in _nonempty(tensors, "vstack")], 0)


row_stack = vstack


def hstack(tensors):
    tensors = [_at_least(t, 1) for t in _nonempty(tensors, "hstack")]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def dstack(tensors):
    return cat([_at_least(t, 3) for t in _nonempty(tensors, "dstack")], 2)


def column_stack(tensors):
    """Columns side by side: 0-d and 1-d tensors become one column each."""
    tensors = _nonempty(tensors, "column_stack")
    return cat([index.reshape(t, (t.numel(), 1)) if t.ndim < 2 else t for t in tensors], 1)


def tensor_split(x, indices_or_sections=None, dim=0, *, indices=None, sections=None):
    """Views of x along dim: `sections` pieces of sizes differing by at most one (the larger
    first), or the pieces between the given indices (sliced as Python slices). As torch, the
    second argument may be named indices or sections."""
    given = [a for a in (indices_or_sections, indices, sections) if a is not None]
    if len(given) != 1:
        raise TypeError("tensor_split() expects one of indices_or_sections, indices or sections")
    indices_or_sections = given[0]
    if x.ndim == 0:
        raise ValueError("tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
    d = _wrap_dim(dim, x.ndim)
    size = x.shape[d]
    spec = indices_or_sections
    if isinstance(spec, Tensor):
        if spec.dtype != _C.int64:
            raise TypeError(f"tensor_split expected indices_or_sections of dtype int64, got {spec.dtype.name}")
        if spec.ndim > 1:
            raise ValueError(f"tensor_split expected a 0-d or 1-d indices_or_sections tensor, got shape "
                             f"{list(spec.shape)}")
        spec = spec.tolist()
    if isinstance(spec, numbers.Integral):
        if spec <= 0:
            raise ValueError(f"tensor_split: number of sections must be larger than 0, got {spec}")
        base, extra = divmod(size, spec)
        spec = [i * base + min(i, extra) for i in range(1, spec)]
    pieces, start = [], 0
    for stop in [*spec, size]:
        lo, hi, _ = slice(start, stop).indices(size)
        pieces.append(index.narrow(x, d, lo, max(hi - lo, 0)))
        start = stop
    return tuple(pieces)


def _split_along(x, sections, dim, min_ndim, op):
    if x.ndim < min_ndim:
        raise ValueError(f"{op} requires a tensor with at least {min_ndim} dimension(s), got shape {list(x.shape)}")
    if isinstance(sections, numbers.Integral) and sections > 0 and x.shape[dim] % sections:
        raise ValueError(f"{op} attempted to split along dimension {dim}, but the size of the dimension "
                         f"{x.shape[dim]} is not divisible by the split_size {sections}")
    return tensor_split(x, sections, dim)


def hsplit(x, sections):
    return _split_along(x, sections, 0 if x.ndim == 1 else 1, 1, "hsplit")


def vsplit(x, sections):
    return _split_along(x, sections, 0, 2, "vsplit")


def dsplit(x, sections):
    return _split_along(x, sections, 2, 3, "dsplit")


def block_diag(*tensors):
    """The tensors (0-d, 1-d as a row, or 2-d) along the diagonal of a zero matrix, in their
    promoted dtype; each block padded to full width, the rows stacked."""
    from ..creation import zeros

    if not tensors:
        return zeros(1, 0)  # as torch
    # torch's result_type: 0-d tensors count only where their category (bool, int, float) is higher
    # (the 0-d ones promote among themselves as equals, hence the reshape)
    zero_d = [index.reshape(t, (1,)) for t in tensors if t.ndim == 0]
    dims = [t for t in tensors if t.ndim]
    dtype = _promoted_dtype(dims or zero_d)
    if dims and zero_d:
        dtype = _C.result_type(_C.Array.empty((0,), dtype), _C.Array.empty((), _promoted_dtype(zero_d)))
    blocks = []
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise ValueError(f"block_diag: input tensors must have 2 or fewer dimensions, input {i} has shape "
                             f"{list(t.shape)}")
        t = t.to(dtype)
        blocks.append(index.reshape(t, (1, t.numel())) if t.ndim < 2 else t)
    width, left, rows = sum(b.shape[1] for b in blocks), 0, []
    for b in blocks:
        rows.append(pad(b, (left, width - left - b.shape[1])))
        left += b.shape[1]
    return cat(rows, 0)


def meshgrid(*tensors, indexing=None):
    """Coordinate grids, one per 0-d or 1-d tensor, as expanded views: 'ij' indexing gives
    shape (len(t0), len(t1), ...), 'xy' swaps the first two. Without `indexing`, 'ij' with
    torch's warning."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if not tensors:
        raise ValueError("meshgrid expects a non-empty list of tensors")
    if indexing is None:
        warnings.warn("meshgrid: in an upcoming release, it will be required to pass the indexing argument "
                      "(as torch; fibril uses 'ij' meanwhile)", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be one of 'xy' or 'ij', got '{indexing}'")
    for t in tensors:
        if t.ndim > 1:
            raise ValueError(f"meshgrid expects 0-d or 1-d tensors, got shape {list(t.shape)}")
        if t.dtype != tensors[0].dtype or t.device != tensors[0].device:
            raise TypeError(f"meshgrid expects all tensors to have the same dtype and device, got "
                            f"{tensors[0].dtype.name} on {tensors[0].device} and {t.dtype.name} on {t.device}")
    axes = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        axes[0], axes[1] = 1, 0
    shape = [0] * len(tensors)
    for t, axis in zip(tensors, axes):
        shape[axis] = t.numel()
    grids = []
    for t, axis in zip(tensors, axes):
        view = [1] * len(tensors)
        view[axis] = t.numel()
        grids.append(index.expand(index.reshape(t, tuple(view)), tuple(shape)))
    return tuple(grids)


def cartesian_prod(*tensors):
    """Rows of every combination of the 1-d tensors' elements, the last varying fastest (one
    tensor: itself)."""
    for t in tensors:
        if t.ndim != 1:
            raise ValueError(f"cartesian_prod expects 1-d tensors, got shape {list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    return stack([index.flatten(g) for g in meshgrid(*tensors, indexing="ij")], 1)


def rot90(x, k=1, dims=(0, 1)):
    """x rotated by k quarter turns in the plane of dims, from the first towards the second."""
    dims = tuple(dims)
    if len(dims) != 2:
        raise ValueError(f"rot90: expected total rotation dims == 2, but got dims = {len(dims)}")
    if x.ndim < 2:
        raise ValueError(f"rot90: expected total dims >= 2, but got shape {list(x.shape)}")
    d0, d1 = (_wrap_dim(d, x.ndim) for d in dims)
    if d0 == d1:
        raise ValueError(f"rot90: expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    k %= 4
    if k == 1:
        return index.transpose(gather.flip(x, d1), d0, d1)
    if k == 2:
        return gather.flip(x, (d0, d1))
    if k == 3:
        return index.transpose(gather.flip(x, d0), d0, d1)
    return x.clone()


def repeat_interleave(x, repeats=None, dim=None, *, output_size=None):
    """Each element (or slice along dim) repeated `repeats` times in place: an int, or a
    tensor of one count per element (or one for all). dim None repeats the flattened x.
    repeat_interleave(counts) alone repeats each index i counts[i] times. output_size, the
    total, saves reading the counts back from the device (it is not checked)."""
    from ..creation import arange

    if repeats is None:
        return repeat_interleave(arange(x.numel(), device=x.device), x, 0, output_size=output_size)
    if dim is None:
        x, dim = index.flatten(x), 0
    d = _wrap_dim(dim, x.ndim)
    if isinstance(repeats, Tensor):
        if repeats.ndim > 1 or repeats.dtype not in (_C.int64, _C.int32):
            raise ValueError(f"repeat_interleave: repeats must be a 0-d or 1-d integer tensor, got "
                             f"{repeats.dtype.name} of shape {list(repeats.shape)}")
        if repeats.numel() == 1:  # one count for all
            repeats = repeats.item()
    if isinstance(repeats, numbers.Integral):
        if repeats < 0:
            raise ValueError(f"repeat_interleave: repeats must be non-negative, got {repeats}")
        shape = tuple(x.shape)
        y = index.expand(index.unsqueeze(x, d + 1), shape[:d + 1] + (repeats,) + shape[d + 1:])
        return _own_copy(index.reshape(y, shape[:d] + (shape[d] * repeats,) + shape[d + 1:]), x)
    if repeats.shape[0] != x.shape[d]:
        raise ValueError(f"repeat_interleave: repeats must have the same size as input along dim, but got "
                         f"repeats of shape {list(repeats.shape)} and input of shape {list(x.shape)} (dim {d})")
    if bool((repeats < 0).any()):
        raise ValueError("repeat_interleave: repeats can not be negative")
    ends = repeats.cumsum(0)
    if output_size is None:
        output_size = ends[-1].item() if x.shape[d] else 0
    source = gather.searchsorted(ends, arange(output_size, device=x.device), right=True)
    return gather.IndexSelect.apply(x, d, source)


def diagflat(x, offset=0):
    """A 2-d tensor with x's elements (flattened) on its offset-th diagonal."""
    from .contract import diag

    return diag(index.flatten(x), offset)


def _attach():
    Tensor.diagflat = diagflat
    Tensor.split = lambda self, split_size=None, dim=0, **kw: split(self, kw.pop("split_size_or_sections", split_size),
                                                                    dim, **kw)
    Tensor.chunk = chunk
    Tensor.unbind = unbind
    Tensor.repeat = repeat
    Tensor.tile = lambda self, *dims: tile(self, index._shape_arg(dims))  # x.tile(2, 3) as x.tile((2, 3))
    Tensor.roll = roll
    Tensor.tensor_split = tensor_split
    Tensor.hsplit = hsplit
    Tensor.vsplit = vsplit
    Tensor.dsplit = dsplit
    Tensor.rot90 = rot90
    Tensor.repeat_interleave = repeat_interleave


_attach()
