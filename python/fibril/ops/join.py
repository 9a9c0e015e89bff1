"""Joining and splitting (index family, composed from views and the strided copy kernel):
cat, stack, split, chunk, unbind, repeat, tile, roll, pad (constant, reflect, replicate,
circular)."""

import numbers

import numpy as np

from .. import _C
from ..autograd import Function
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
        ref = next((t for t in tensors if t.ndim > 0 or t.numel() > 0), tensors[0])
        if ref.ndim == 0:
            raise ValueError("zero-dimensional tensor cannot be concatenated")
        d = _wrap_dim(dim, ref.ndim)
        parts = [t for t in tensors if not (t.ndim == 1 and t.numel() == 0)]  # torch skips legacy empty (0,)
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


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat expects a non-empty list of tensors")
    return Cat.apply(dim, *tensors)


concat = concatenate = cat


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack expects a non-empty list of tensors")
    shape = tensors[0].shape
    for t in tensors:
        if t.shape != shape:
            raise ValueError(f"stack expects each tensor to be equal size, but got {list(shape)} and {list(t.shape)}")
    d = _wrap_dim(dim, len(shape) + 1)
    return cat([index.unsqueeze(t, d) for t in tensors], d)


def split(x, split_size_or_sections, dim=0):
    d = _wrap_dim(dim, x.ndim)
    size = x.shape[d]
    if isinstance(split_size_or_sections, numbers.Integral):
        step = int(split_size_or_sections)
        if step <= 0 and size > 0:
            raise ValueError(f"split expects split_size be non-negative, but got split_size={step}")
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
    return tuple(out)


def chunk(x, chunks, dim=0):
    if chunks <= 0:
        raise ValueError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    size = x.shape[_wrap_dim(dim, x.ndim)]
    return split(x, max(1, -(-size // chunks)), dim)


def unbind(x, dim=0):
    d = _wrap_dim(dim, x.ndim)
    return tuple(index.Select.apply(x, d, i) for i in range(x.shape[d]))


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
    return index.reshape(y, tuple(s * r for s, r in zip(shape, sizes)))


def tile(x, dims):
    dims = tuple(dims)
    return repeat(x, *((1,) * (x.ndim - len(dims)) + dims))


def roll(x, shifts, dims=None):
    if dims is None:
        return index.reshape(roll(index.flatten(x), shifts, 0), x.shape)
    shifts = (shifts,) if isinstance(shifts, numbers.Integral) else tuple(shifts)
    dims = (dims,) if isinstance(dims, numbers.Integral) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: shifts and dims must align, got {len(shifts)} shifts and {len(dims)} dims")
    for s, d in zip(shifts, dims):
        d = _wrap_dim(d, x.ndim)
        n = x.shape[d]
        if n == 0:
            continue
        s %= n
        if s:
            x = cat([index.narrow(x, d, n - s, s), index.narrow(x, d, 0, n - s)], d)
    return x


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
        return index.embed(_crop(g._data, dims, True), ctx.in_shape, lambda a: _crop(a, dims, False)), None, None


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


def pad(x, pad, mode="constant", value=None):
    """torch.nn.functional.pad: pad = (last dim lo, hi, next-to-last lo, hi, ...); negative
    values crop. Non-constant modes pad any number of trailing dims (torch: 1 to 3)."""
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(_PAD_MODES)}; got '{mode}'")
    dims = _pad_dims(x, tuple(pad))
    if mode == "constant":
        return PadConstant.apply(x, dims, 0.0 if value is None else value)
    if value:
        raise ValueError(f"pad: padding mode '{mode}' doesn't take in value argument")
    return _pad_by_index(x, dims, mode)


def _attach():
    Tensor.split = split
    Tensor.chunk = chunk
    Tensor.unbind = unbind
    Tensor.repeat = repeat
    Tensor.tile = tile
    Tensor.roll = roll


_attach()
