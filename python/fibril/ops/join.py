"""Joining and splitting (index family, composed from views and the strided copy kernel):
cat, stack, split, chunk, unbind, repeat, tile, roll, constant pad."""

import numbers

from .. import _C
from ..autograd import Function
from ..tensor import Tensor, _wrap_dim
from . import index


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


class PadConstant(Function):
    @staticmethod
    def forward(ctx, x, pad, value):
        if len(pad) % 2 or len(pad) // 2 > x.ndim:
            raise ValueError(f"pad: padding length must be even and at most 2 * ndim ({2 * x.ndim}), got {len(pad)}")
        shape, region = list(x.shape), []
        for i in range(len(pad) // 2):
            d = x.ndim - 1 - i
            lo, hi = pad[2 * i], pad[2 * i + 1]
            shape[d] += lo + hi
            if shape[d] < 0:
                raise ValueError(f"pad: resulting size {shape[d]} of dimension {d} is negative")
            region.append((d, lo, hi))
        out = _C.Array.full(tuple(shape), value, x.dtype, x.device)
        src, dst = x._data, out
        for d, lo, hi in region:  # negative padding crops the source instead
            src = src.slice(d, max(-lo, 0), src.shape[d] - max(-hi, 0), 1)
            dst = dst.slice(d, max(lo, 0), dst.shape[d] - max(hi, 0), 1)
        dst.copy_(src)
        ctx.region, ctx.in_shape = region, x.shape
        return Tensor._wrap(out)

    @staticmethod
    def backward(ctx, g):
        grad = _C.Array.full(tuple(ctx.in_shape), 0, g.dtype, g.device)
        src, dst = g._data, grad
        for d, lo, hi in ctx.region:
            src = src.slice(d, max(lo, 0), src.shape[d] - max(hi, 0), 1)
            dst = dst.slice(d, max(-lo, 0), dst.shape[d] - max(-hi, 0), 1)
        dst.copy_(src)
        return Tensor._wrap(grad), None, None


def pad(x, pad, mode="constant", value=0.0):
    if mode != "constant":
        raise NotImplementedError(f"pad mode '{mode}' is not implemented yet (only 'constant')")
    return PadConstant.apply(x, tuple(pad), value)


def _attach():
    Tensor.split = split
    Tensor.chunk = chunk
    Tensor.unbind = unbind
    Tensor.repeat = repeat
    Tensor.tile = tile
    Tensor.roll = roll


_attach()
