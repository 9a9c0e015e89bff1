"""Index family, gather type: gather/scatter(_add), index_select/index_add, masked_fill,
masked_select, nonzero, flip, tril/triu, advanced indexing (get and set), take_along_dim/take,
argwhere, unique/unique_consecutive, bincount, searchsorted/bucketize, masked_scatter,
one_hot and embedding. Forward is one _C call or a composition of differentiable ops; each
backward sits beside its forward."""

import math
import numbers

import numpy as np

from .. import _C
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor, _wrap_dim
from . import elementwise as ew
from . import index as view_ops


def _as_index(index, device=None):
    """Tensors pass through; lists, tuples and numpy arrays become tensors (ints -> int64) on
    `device` (the indexed tensor's, so that x[[0, 2]] works on cuda)."""
    if isinstance(index, Tensor):
        return index
    from ..creation import tensor

    arr = np.asarray(index)
    return tensor(arr.astype(np.int64) if arr.size == 0 and arr.dtype == np.float64 else arr, device=device)


def _zeros(shape, like):
    return _C.Array.full(tuple(shape), 0, like.dtype, like.device)


# ------------------------------------------------------------------------------ gather / scatter
def _no_indices(x, dim, index):
    """Whether index is empty: torch then checks only dim, not the index's shape against x."""
    if index.numel():
        return False
    _wrap_dim(dim, max(x.ndim, 1))
    return True


class Gather(Function):
    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.in_shape, ctx.dim, ctx.index = x.shape, dim, index
        if _no_indices(x, dim, index):
            ctx.dim = 0 if x.ndim == 0 else _wrap_dim(dim, x.ndim)
            return Tensor._wrap(_C.Array.empty(tuple(index.shape), x.dtype, x.device))
        return Tensor._wrap(_C.gather(x._data, dim, index._data))

    @staticmethod
    def backward(ctx, g):
        zeros = Tensor._wrap(_zeros(ctx.in_shape, g._data))
        if ctx.index.numel() == 0:
            return zeros, None, None
        return Scatter.apply(zeros, ctx.dim, ctx.index, g, True), None, None


class Scatter(Function):
    @staticmethod
    def forward(ctx, x, dim, index, src, add):
        ctx.dim, ctx.index, ctx.add, ctx.src_shape = dim, index, add, src.shape
        if _no_indices(x, dim, index):
            if src.dtype != x.dtype:
                raise TypeError(f"scatter(): expected self.dtype to be equal to src.dtype, got {x.dtype.name} and "
                                f"{src.dtype.name}")
            return Tensor._wrap(x._data.clone())
        return Tensor._wrap(_C.scatter(x._data, dim, index._data, src._data, add))

    @staticmethod
    def backward(ctx, g):
        dim, index = ctx.dim, ctx.index
        if index.numel() == 0:
            return g, None, None, Tensor._wrap(_zeros(ctx.src_shape, g._data)) if ctx.needs_input_grad[3] else None, None
        grad_x = g if ctx.add else Scatter.apply(g, dim, index, Tensor._wrap(_zeros(index.shape, g._data)), False)
        grad_src = None
        if ctx.needs_input_grad[3]:
            grad_src = Gather.apply(g, dim, index)
            if tuple(index.shape) != tuple(ctx.src_shape):  # src may be larger than index: zeros beyond
                grad_src = view_ops.embed(grad_src, ctx.src_shape, lambda a: _leading(a, index.shape))
        return grad_x, None, None, grad_src, None


def _leading(array, shape):
    """array's first shape[d] entries along each dim d."""
    for d, n in enumerate(shape):
        array = array.slice(d, 0, n, 1)
    return array


def gather(x, dim, index, *, sparse_grad=False):
    """x's elements at index along dim (sparse_grad, torch's, changes nothing here)."""
    return Gather.apply(x, dim, _as_index(index, x.device))


def _scatter(x, dim, index, src, value, add):
    index = _as_index(index, x.device)
    if src is None:
        src = value
    if not isinstance(src, Tensor):
        from ..creation import full

        src = full(tuple(index.shape), src, dtype=x.dtype, device=x.device)
    return Scatter.apply(x, dim, index, src, add)


def scatter(x, dim, index, src=None, value=None, *, reduce=None):
    """src as a tensor or a number (torch also names the number `value`); reduce 'add' or
    'multiply' combines instead of replacing (not differentiable, as torch)."""
    if reduce is None:
        return _scatter(x, dim, index, src, value, False)
    if reduce not in ("add", "multiply"):
        raise RuntimeError(f"reduce argument must be either add or multiply, got '{reduce}'")
    index = _as_index(index, x.device)
    src = _as_source(x, index, value if src is None else src)
    return _NotDifferentiable.apply(
        lambda: scatter_reduce(x.detach(), dim, index, src.detach(), "sum" if reduce == "add" else "prod"), x, src)


class _NotDifferentiable(Function):
    """compute()'s result, with a backward that raises (torch's NotImplemented node)."""

    @staticmethod
    def forward(ctx, compute, *inputs):
        return compute()

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("derivative for aten::scatter with reduce is not implemented")


def _as_source(x, index, src):
    if isinstance(src, Tensor):
        return src
    from ..creation import full

    return full(tuple(index.shape), src, dtype=x.dtype, device=x.device)


# ------------------------------------------------------------------------------ scatter_reduce
_SCATTER_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def _flat_targets(x_shape, dim, index):
    """For each index element, the row-major position in x that it scatters to."""
    from ..creation import arange

    strides = [math.prod(x_shape[k + 1:]) for k in range(len(x_shape))]
    target = ew.mul(index, strides[dim])
    for k, n in enumerate(index.shape):
        if k != dim:
            shape = [1] * index.ndim
            shape[k] = n
            target = ew.add(target, view_ops.reshape(ew.mul(arange(n, device=index.device), strides[k]), shape))
    return view_ops.flatten(target)


def _identity(dtype, reduce):
    """The value that leaves reduce's result as it is."""
    from ..typeinfo import finfo, iinfo

    if reduce == "prod":
        return 1
    if dtype == _C.bool:
        return reduce == "amin"
    if dtype.is_floating_point:
        return -math.inf if reduce == "amax" else math.inf
    info = iinfo(dtype)
    return info.min if reduce == "amax" else info.max


def _combine(reduce):
    return {"prod": ew.mul, "amax": ew.maximum, "amin": ew.minimum}[reduce]


def _scatter_extreme_or_prod(x, dim, index, src, reduce, include_self):
    """scatter_reduce's prod, amax and amin: the elements sorted by target position
    (stably), combined along each run of one target by a segmented scan in log2(n) doubling
    steps; each run's last element holds the run's result."""
    from .join import cat
    from .sort import argsort

    combine = _combine(reduce)
    out = view_ops.flatten(x).clone()
    if index.numel() == 0:
        return x.clone()
    targets = _flat_targets(tuple(x.shape) or (1,), dim, index if index.ndim else view_ops.reshape(index, 1))
    values = view_ops.flatten(view_ops.take_region(src, lambda a: _leading(a, index.shape)))
    order = argsort(targets)
    targets, values = targets[order], values[order]
    n, step = targets.shape[0], 1
    while step < n:
        same = ew.eq(targets[step:], targets[:-step])
        values = cat([values[:step], ew.where(same, combine(values[step:], values[:-step]), values[step:])])
        step *= 2
    last = cat([ew.ne(targets[1:], targets[:-1]), Tensor._wrap(_C.Array.full((1,), True, _C.bool, x.device))])
    targets, values = targets[last], values[last]
    if include_self:
        values = combine(out[targets], values)
    out[targets] = values.to(x.dtype)
    return view_ops.reshape(out, x.shape)


class ScatterReduce(Function):
    """prod, amax and amin, with torch's gradients: prod's through the product of the others
    (one zero among them handled apart); amax's and amin's shared evenly among the elements
    equal to the result. The backward is composed of recorded ops (second derivatives)."""

    @staticmethod
    def forward(ctx, x, dim, index, src, reduce, include_self):
        result = _scatter_extreme_or_prod(x, dim, index, src, reduce, include_self)
        ctx.save_for_backward(x, src, result)
        ctx.args = (dim, index, reduce, include_self)
        return result

    @staticmethod
    def backward(ctx, g):
        x, src, result = ctx.saved_tensors
        dim, index, reduce, include_self = ctx.args
        src_part = view_ops.take_region(src, lambda a: _leading(a, index.shape))
        if reduce == "prod":
            masked_x = ew.where(ew.eq(x, 0), 1, x)
            grad_x = ew.div(ew.mul(g, _scatter_extreme_or_prod(masked_x, dim, index, src, reduce, include_self)),
                            masked_x)
            src_zero = ew.eq(src_part, 0)
            zeros_at = gather(scatter_add(Tensor._wrap(_zeros(x.shape, x._data)), dim, index, src_zero.to(x.dtype)),
                              dim, index)
            single_zero = ew.logical_and(src_zero, ew.eq(zeros_at, 1))
            without_zero = _scatter_extreme_or_prod(x, dim, index, ew.where(single_zero, 1, src_part), reduce,
                                                    include_self)
            grad_src = ew.where(single_zero, gather(ew.mul(g, without_zero), dim, index),
                                ew.div(gather(ew.mul(g, result), dim, index), ew.where(src_zero, 1, src_part)))
        else:
            value = gather(result, dim, index)
            x_is_result, src_is_result = ew.eq(x, result), ew.eq(src_part, value)
            count = scatter_add(x_is_result.to(x.dtype), dim, index, src_is_result.to(x.dtype))
            share = ew.div(g, count)
            grad_x = ew.mul(x_is_result, share)
            grad_src = ew.mul(src_is_result, gather(share, dim, index))
        if not include_self:
            grad_x = scatter(grad_x, dim, index, 0)
        if ctx.needs_input_grad[3] and tuple(src.shape) != tuple(index.shape):
            grad_src = view_ops.embed(grad_src, src.shape, lambda a: _leading(a, index.shape))
        return grad_x, None, None, grad_src, None, None


def scatter_reduce(x, dim, index, src, reduce, *, include_self=True):
    """x with src's elements combined into the positions index gives along dim (as scatter)
    by reduce: 'sum', 'prod', 'mean', 'amax' or 'amin'; include_self=False leaves x's own
    values at those positions out."""
    if reduce not in _SCATTER_REDUCTIONS:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    index = _as_index(index, x.device)
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_reduce(): src must be a tensor, got {type(src).__name__}")
    d = _wrap_dim(dim, x.ndim)
    if _no_indices(x, d, index):  # as torch, no shape checks: x as it is (src's gradient zeros)
        return Scatter.apply(x, d, index, src, True)
    # validates shapes, dtypes and index bounds with the kernel's errors
    _C.scatter(_zeros(x.shape, x._data), d, index._data, src._data, True)
    if reduce == "prod" and x.dtype in (_C.float16, _C.bfloat16):  # torch multiplies in float32, rounds once
        return scatter_reduce(x.to(_C.float32), d, index, src.to(_C.float32), reduce,
                              include_self=include_self).to(x.dtype)
    if reduce in ("prod", "amax", "amin"):
        return ScatterReduce.apply(x, d, index, src, reduce, include_self)
    base = x if include_self else scatter(x, d, index, 0)
    total = scatter_add(base, d, index, src)
    if reduce == "sum":
        return total
    from ..creation import ones_like

    ones = ones_like(x)
    count = scatter_add(ones if include_self else scatter(ones, d, index, 0), d, index, ones_like(src))
    return ew.div(total, count, rounding_mode=None if x.dtype.is_floating_point else "floor")


def scatter_add(x, dim, index, src):
    return _scatter(x, dim, index, src, None, True)


# ------------------------------------------------------------------------------ index_select / index_add
class IndexSelect(Function):
    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.in_shape, ctx.dim, ctx.index = x.shape, dim, index
        return Tensor._wrap(_C.index_select(x._data, dim, index._data))

    @staticmethod
    def backward(ctx, g):
        if is_grad_enabled():  # create_graph: recorded, index_add's backward is index_select
            return IndexAdd.apply(Tensor._wrap(_zeros(ctx.in_shape, g._data)), ctx.dim, ctx.index, g), None, None
        grad = _zeros(ctx.in_shape, g._data)
        _C.index_put_(grad, ctx.dim, ctx.index._data, g._data, True)
        return Tensor._wrap(grad), None, None


class IndexAdd(Function):
    @staticmethod
    def forward(ctx, x, dim, index, src):
        ctx.dim, ctx.index = dim, index
        out = x._data.clone()
        _C.index_put_(out, dim, index._data, src._data, True)
        return Tensor._wrap(out)

    @staticmethod
    def backward(ctx, g):
        grad_src = IndexSelect.apply(g, ctx.dim, ctx.index) if ctx.needs_input_grad[3] else None
        return g, None, None, grad_src


def index_select(x, dim, index):
    index = _as_index(index, x.device)
    if x.ndim == 0:  # torch: a 0-d x takes one index (0 or -1) and stays 0-d
        _wrap_dim(dim, 0)
        if index.numel() != 1:
            raise ValueError(f"index_select(): Index to scalar can have only 1 value, got {index.numel()} value(s)")
        return view_ops.reshape(IndexSelect.apply(view_ops.reshape(x, (1,)), 0, view_ops.reshape(index, (1,))), ())
    return IndexSelect.apply(x, dim, index)


def index_add(x, dim, index, source, alpha=1):
    if source.dtype != x.dtype:
        raise TypeError(f"index_add(): source dtype {source.dtype.name} must match self dtype {x.dtype.name}")
    index = _as_index(index, x.device)
    # source is x's shape with dim resized to the index's length; the kernel would broadcast it.
    expected = list(x.shape) if x.ndim else [1]
    expected[_wrap_dim(dim, len(expected))] = index.numel()
    if source.ndim != x.ndim or (list(source.shape) or [1]) != expected:
        raise ValueError(f"index_add(): source of shape {list(source.shape)} must have self's shape "
                         f"{list(x.shape)} with dim {dim} of size {index.numel()} (the number of indices)")
    return IndexAdd.apply(x, dim, index, source if alpha == 1 else ew.mul(source, alpha))


def _index_positions(x, dim, index, op):
    """index as a 1-d int64 tensor of positions along dim (negatives counted from the end),
    checked against dim's size."""
    index = _as_index(index, x.device)
    if index.ndim > 1:
        raise IndexError(f"{op}(): index should have at most 1 dimension, got shape {list(index.shape)}")
    if index.dtype != _C.int64:
        raise TypeError(f"{op}(): expected an int64 index, got {index.dtype.name}")
    d = _wrap_dim(dim, x.ndim)
    size = x.shape[d] if x.ndim else 1
    flat = view_ops.reshape(index, (-1,))
    return Tensor._wrap(_C.wrap_index(flat._data, size, d)), d


def index_fill(x, dim, index, value):
    """x with value at the positions index gives along dim (no gradient reaches x there)."""
    index, d = _index_positions(x, dim, index, "index_fill")
    if isinstance(value, Tensor) and value.ndim:
        raise ValueError(f"index_fill only supports a 0-dimensional value tensor, got {value.ndim} dims")
    mask_shape = [1] * x.ndim
    if x.ndim:
        mask_shape[d] = x.shape[d]
    from ..creation import zeros

    hit = index_add(zeros(x.shape[d] if x.ndim else 1, dtype=_C.int64, device=x.device), 0, index,
                    Tensor._wrap(_C.Array.full((index.numel(),), 1, _C.int64, x.device)))
    return masked_fill(x, view_ops.reshape(ew.gt(hit, 0), mask_shape), value)


def index_copy(x, dim, index, source):
    """x with source's slices along dim copied to the positions index gives (where one repeats,
    one of its slices is written)."""
    index, d = _index_positions(x, dim, index, "index_copy")
    if source.dtype != x.dtype:
        raise TypeError(f"index_copy(): source dtype {source.dtype.name} must match self dtype {x.dtype.name}")
    expected = list(x.shape)
    if x.ndim:
        expected[d] = index.numel()
    if list(source.shape) != expected and not (x.ndim == 0 and source.numel() == index.numel() == 1):
        raise ValueError(f"index_copy(): source of shape {list(source.shape)} must have self's shape "
                         f"{list(x.shape)} with dim {d} of size {index.numel()} (the number of indices)")
    if x.ndim == 0:
        return view_ops.reshape(IndexPut.apply(view_ops.reshape(x, (1,)), index, view_ops.reshape(source, (1,))),
                                ())
    moved = view_ops.movedim(x, d, 0)
    out = IndexPut.apply(moved, index, view_ops.movedim(source, d, 0))
    return view_ops.movedim(out, 0, d)


def index_put(x, indices, values, accumulate=False):
    """x with values at x[indices] (indices: a tuple of index tensors); accumulate adds them,
    repeated positions included."""
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"index_put(): indices must be a tuple of tensors, got {type(indices).__name__}")
    if not accumulate:
        out = view_ops.Clone.apply(x)
        setitem(out, tuple(indices), values)
        return out
    basic, advanced = _plan(x, tuple(indices))
    if not advanced:
        return ew.add(x, values)
    linear, shape = _linear_index(tuple(x.shape), advanced)
    order, merged_shape, at = _order(tuple(x.shape), advanced)
    rows = _rows(_source(values, x, len(merged_shape) - 1 + len(shape)), shape, merged_shape, at)
    permuted = view_ops.permute(x, order)
    out = IndexAdd.apply(view_ops.reshape(permuted, merged_shape), 0, linear, rows)
    return view_ops.permute(view_ops.reshape(out, permuted.shape), view_ops.inverse_permutation(order))


def put(x, index, source, accumulate=False):
    """x with source's elements at the flat (row-major) positions index gives, or added there."""
    index = _as_index(index, x.device)
    if index.dtype != _C.int64:
        raise TypeError(f"put(): expected an int64 index, got {index.dtype.name}")
    if source.dtype != x.dtype:
        raise TypeError(f"put(): source dtype {source.dtype.name} must match self dtype {x.dtype.name}")
    if index.numel() != source.numel():
        raise ValueError(f"put(): expected source of shape {list(source.shape)} to have as many elements as index "
                         f"of shape {list(index.shape)}")
    flat = view_ops.reshape(x, (-1,))
    out = index_put(flat, (view_ops.reshape(index, (-1,)),), view_ops.reshape(source, (-1,)), accumulate)
    return view_ops.reshape(out, x.shape)


# ------------------------------------------------------------------------------ masks
def _check_mask(mask, op):
    if not isinstance(mask, Tensor) or mask.dtype != _C.bool:
        got = mask.dtype.name if isinstance(mask, Tensor) else type(mask).__name__
        raise TypeError(f"{op}: expected a bool tensor as mask, got {got}")


def masked_fill(x, mask, value):
    """x with value where mask, of their broadcast shape (as torch's; masked_fill_ keeps x's);
    no gradient reaches x there."""
    _check_mask(mask, "masked_fill")
    if not isinstance(value, Tensor):
        from ..creation import check_fits, tensor

        check_fits(value, x.dtype)
        value = tensor(value, dtype=x.dtype)
    elif value.ndim != 0:
        raise ValueError(f"masked_fill only supports a 0-dimensional value tensor, got {value.ndim} dims")
    elif value.dtype != x.dtype and value.device == x.device and value.device.type == "cpu":
        from ..creation import check_fits

        check_fits(value.item(), x.dtype)  # torch reads a host value tensor as a number
    out = ew.where(mask, value, x)
    return out if out.dtype == x.dtype else out.to(x.dtype)


def masked_select(x, mask):
    """The elements of x where mask (both broadcast), as a 1-d tensor in row-major order."""
    _check_mask(mask, "masked_select")
    shape = np.broadcast_shapes(tuple(x.shape), tuple(mask.shape))
    return getitem(view_ops.expand(x, shape), view_ops.expand(mask, shape))


def nonzero(x, as_tuple=False):
    out = Tensor._wrap(_C.nonzero(x._data))
    if not as_tuple:
        return out
    if x.ndim == 0:  # torch: one index per non-zero, as if x were 1-d
        return (Tensor._wrap(_C.Array.full((out.shape[0],), 0, _C.int64, x.device)),)
    return tuple(out[:, d] for d in range(x.ndim))


# ------------------------------------------------------------------------------ flip, tril, triu
def flip(x, dims):
    from ..creation import arange

    dims = (dims,) if isinstance(dims, numbers.Integral) else tuple(dims)
    wrapped = [_wrap_dim(d, x.ndim) for d in dims]
    if len(set(wrapped)) != len(wrapped):
        raise ValueError(f"flip: dims {list(dims)} has a repeated dim")
    if not wrapped or x.ndim == 0:  # as torch, a copy all the same
        return view_ops.Clone.apply(x)
    for d in wrapped:
        n = x.shape[d]
        x = IndexSelect.apply(x, d, arange(n - 1, -1, -1, device=x.device) if n else arange(0, device=x.device))
    return x


def fliplr(x):
    if x.ndim < 2:
        raise ValueError(f"fliplr: input tensor must be at least 2-dimensional, got {x.ndim} dims")
    return flip(x, 1)


def flipud(x):
    if x.ndim < 1:
        raise ValueError("flipud: input tensor must be at least 1-dimensional, got 0 dims")
    return flip(x, 0)


def fill_diagonal_(x, fill_value, wrap=False):
    """x's main diagonal set to fill_value in place; x 2-d, or of equal sizes in all its dims.
    For a tall matrix, wrap restarts the diagonal every columns + 1 rows (as numpy and torch)."""
    if x.ndim < 2:
        raise ValueError(f"fill_diagonal_: dimensions must larger than 1, got {x.ndim}")
    if x.ndim > 2 and len(set(x.shape)) != 1:
        raise ValueError(f"fill_diagonal_: all dimensions of input must be of equal length, got {list(x.shape)}")
    from ..creation import arange

    n = min(x.shape)
    rows, cols = x.shape[0], x.shape[1]
    step = sum(math.prod(x.shape[k + 1:]) for k in range(x.ndim))  # from one diagonal element to the next
    if x.ndim == 2 and wrap and rows > cols + 1:
        positions = arange(0, rows * cols, cols + 1, device=x.device)
    else:
        positions = arange(n, device=x.device) * step
    mask = view_ops.reshape(index_fill(Tensor._wrap(_C.Array.full((x.numel(),), False, _C.bool, x.device)), 0,
                                       positions, True), x.shape)
    return _inplace(masked_fill)(x, mask, fill_value)


def _triangle(x, diagonal, lower):
    from ..creation import arange

    if x.ndim < 2:
        raise ValueError(f"{'tril' if lower else 'triu'}: input tensor must have at least 2 dimensions, got {x.ndim}")
    rows, cols = x.shape[-2:]
    offset = ew.sub(view_ops.unsqueeze(arange(cols, device=x.device), 0),
                    view_ops.unsqueeze(arange(rows, device=x.device), 1))
    keep = ew.le(offset, diagonal) if lower else ew.ge(offset, diagonal)
    out = ew.where(keep, x, Tensor._wrap(_C.Array.full((), 0, x.dtype, x.device)))
    return out


def tril(x, diagonal=0):
    return _triangle(x, diagonal, True)


def triu(x, diagonal=0):
    return _triangle(x, diagonal, False)


# ------------------------------------------------------------------------------ advanced indexing
def _plan(x, index):
    """Splits an index into the basic part (tensors replaced by full slices) and the
    advanced tensors with the dims they index in the result of the basic part. Bool masks
    become one int64 tensor per dim they cover; ints stay basic (select), as in PyTorch."""
    # Index tensors go to x's device (PyTorch accepts CPU indices for a CUDA tensor).
    items = [_on(_as_index(i, x.device), x.device) if view_ops.is_advanced(i) else i
             for i in view_ops.index_items(index)]
    consumed = sum(i.ndim if isinstance(i, Tensor) and i.dtype in (_C.bool, _C.uint8) else
                   0 if i is None or i is Ellipsis else 1 for i in items)
    if consumed > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    basic, advanced, dim = [], [], 0
    for item in items:
        if item is Ellipsis:
            basic.extend([slice(None)] * (x.ndim - consumed))
            dim += x.ndim - consumed
        elif isinstance(item, Tensor) and item.dtype in (_C.bool, _C.uint8) and item.ndim == 0:
            # x[True]: a new dim of 1 or 0
            basic.append(None)
            advanced.append((dim, Tensor._wrap(_C.nonzero(item._data.reshape(1)))[:, 0]))
            dim += 1
        elif isinstance(item, Tensor) and item.dtype in (_C.bool, _C.uint8):
            for k, size in enumerate(item.shape):
                if size != x.shape[len([b for b in basic if b is not None])]:
                    raise IndexError(f"The shape of the mask {list(item.shape)} at index {k} does not match the "
                                     f"shape of the indexed tensor {list(x.shape)}")
                basic.append(slice(None))
            if item.ndim > 1:  # the mask's flat positions are the merged index already
                mask = _Mask(item)
                advanced.extend((dim + k, mask) for k in range(item.ndim))
            else:
                advanced.append((dim, Tensor._wrap(_C.nonzero(item._data))[:, 0]))
            dim += item.ndim
        elif isinstance(item, Tensor):
            if item.dtype.is_floating_point:
                raise TypeError("tensors used as indices must be long, int, byte or bool tensors, got "
                                f"{item.dtype.name}")
            basic.append(slice(None))
            advanced.append((dim, item))
            dim += 1
        else:
            basic.append(item)
            dim += 0 if isinstance(item, numbers.Integral) and not isinstance(item, bool) else 1
    return tuple(basic), advanced


def _on(t, device):
    return t if t.device == device else t.to(device)


class _Mask:
    """A bool mask over several dims, standing for the coordinate tensors of its True
    positions (one per dim); alone, its flat positions are the merged index, found without
    the elementwise arithmetic that combining coordinates takes."""

    def __init__(self, mask):
        self.mask = mask

    def flat(self):
        return Tensor._wrap(_C.nonzero(self.mask._data.reshape((-1,))))[:, 0]

    def coords(self):
        return Tensor._wrap(_C.nonzero(self.mask._data))


def _linear_index(y_shape, advanced):
    """Broadcast the index tensors, wrap negatives (checking bounds) and combine them into
    one int64 index over the advanced dims merged in order. Returns (index, broadcast shape)."""
    masks = {id(t) for _, t in advanced if isinstance(t, _Mask)}
    if len(masks) == 1 and all(isinstance(t, _Mask) for _, t in advanced):
        flat = advanced[0][1].flat()
        return flat, tuple(flat.shape)
    resolved, coords, used = [], {}, {}
    for d, t in advanced:  # with other indices: the mask's coordinates, a column per dim
        if isinstance(t, _Mask):
            if id(t) not in coords:
                coords[id(t)], used[id(t)] = t.coords(), 0
            resolved.append((d, coords[id(t)][:, used[id(t)]]))
            used[id(t)] += 1
        else:
            resolved.append((d, t))
    advanced = resolved
    shape = ()
    for _, t in advanced:
        shape = np.broadcast_shapes(shape, tuple(t.shape))
    linear = None
    for d, t in advanced:
        wrapped = Tensor._wrap(_C.wrap_index(t._data.expand(shape), y_shape[d], d))
        linear = wrapped if linear is None else ew.add(ew.mul(linear, y_shape[d]), wrapped)
    return view_ops.reshape(linear, (-1,)), shape


def _order(y_shape, advanced):
    """The permutation putting the advanced dims first, the shape of y so permuted with
    those dims merged into one, and where the result's broadcast dims go."""
    dims = [d for d, _ in advanced]
    order = dims + [d for d in range(len(y_shape)) if d not in dims]
    merged = 1
    for d in dims:
        merged *= y_shape[d]
    adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
    return tuple(order), (merged,) + tuple(y_shape[d] for d in order[len(dims):]), (dims[0] if adjacent else 0)


def getitem(x, index):
    """x[index] with any mix of ints, slices, None, Ellipsis, int tensors/lists and bool masks."""
    basic, advanced = _plan(x, index)
    y = view_ops.getitem(x, basic)
    if not advanced:
        return y
    linear, shape = _linear_index(y.shape, advanced)
    order, merged_shape, at = _order(y.shape, advanced)
    rest = merged_shape[1:]
    merged = view_ops.reshape(view_ops.permute(y, order), merged_shape)
    out = view_ops.reshape(IndexSelect.apply(merged, 0, linear), shape + rest)
    if at:
        b = len(shape)
        out = view_ops.permute(out, tuple(range(b, b + at)) + tuple(range(b)) + tuple(range(b + at, out.ndim)))
    return out


class IndexPut(Function):
    """x with its rows (dim 0) at index replaced by src's rows. Where an index repeats, one of
    its rows is written, but each gets the gradient of that position (as torch)."""

    @staticmethod
    def forward(ctx, x, index, src):
        ctx.index = index
        out = x._data.clone()
        _C.index_put_(out, 0, index._data, src._data, False)
        return Tensor._wrap(out)

    @staticmethod
    def backward(ctx, g):
        if is_grad_enabled():  # create_graph: recorded
            return _index_put_grad_recorded(ctx, g)
        index = ctx.index._data
        grad_x = grad_src = None
        if ctx.needs_input_grad[0]:
            grad_x = g._data.clone()
            _C.index_put_(grad_x, 0, index, _zeros((index.numel(),) + tuple(g.shape[1:]), g._data), False)
            grad_x = Tensor._wrap(grad_x)
        if ctx.needs_input_grad[2]:
            grad_src = Tensor._wrap(_C.index_select(g._data, 0, index))
        return grad_x, None, grad_src


def _index_put_grad_recorded(ctx, g):
    index = ctx.index
    grad_x = grad_src = None
    if ctx.needs_input_grad[0]:
        grad_x = IndexPut.apply(g, index, Tensor._wrap(_zeros((index.numel(),) + tuple(g.shape[1:]), g._data)))
    if ctx.needs_input_grad[2]:
        grad_src = IndexSelect.apply(g, 0, index)
    return grad_x, None, grad_src


def _source(value, like, ndim):
    """value as a tensor of like's dtype, without the leading size-1 dims beyond ndim (torch
    drops them)."""
    if not isinstance(value, Tensor):
        from ..creation import check_fits

        if like.dtype not in (_C.float16, _C.bfloat16):  # torch casts a number to these unchecked
            check_fits(value, like.dtype)
        return Tensor._wrap(_C.Array.full((), value, like.dtype, like.device))
    while value.ndim > ndim and value.shape[0] == 1:
        value = view_ops.squeeze(value, 0)
    return value if value.dtype == like.dtype else value.to(like.dtype)


def _rows(source, shape, merged_shape, at):
    """source, broadcast to the result of the indexing, as one row per index: the advanced
    dims (broadcast to `shape`, placed at `at`) first and merged."""
    rest, b = merged_shape[1:], len(shape)
    result_shape = rest[:at] + shape + rest[at:]
    source = view_ops.expand(source, result_shape)
    if at:  # back to (broadcast dims, rest) order
        n = len(result_shape)
        source = view_ops.permute(source, tuple(range(at, at + b)) + tuple(range(at)) + tuple(range(at + b, n)))
    return view_ops.reshape(source, (math.prod(shape),) + rest)


def _index_put(target, order, merged_shape, linear, rows):
    """target with rows written at linear (over its advanced dims, permuted first by order
    and merged), out of place."""
    permuted = view_ops.permute(target, order)
    out = IndexPut.apply(view_ops.reshape(permuted, merged_shape), linear, rows)
    return view_ops.permute(view_ops.reshape(out, permuted.shape), view_ops.inverse_permutation(order))


def _write_rows(target, merged_shape, linear, rows):
    """_index_put in place on the Array target (permuted as there)."""
    try:
        merged, copied = target.view(merged_shape), False
    except RuntimeError:  # the advanced dims do not merge as a view: write a copy back
        merged, copied = target.contiguous().view(merged_shape), True
    _C.index_put_(merged, 0, linear, rows, False)
    if copied:
        target.copy_(merged.view(target.shape))


def setitem(x, index, value):
    """x[index] = value in place (value a number or a tensor broadcasting to x[index]). Under
    autograd the gradient reaches value and what x keeps of its previous values."""
    basic, advanced = _plan(x, index)
    target = view_ops.getitem(x, basic)
    if not advanced:
        view_ops.copy_(target, _source(value, x, target.ndim))
        return
    view_ops.check_no_overlap(target, value)  # as torch's index_put_
    linear, shape = _linear_index(tuple(target.shape), advanced)
    order, merged_shape, at = _order(tuple(target.shape), advanced)
    rows = _rows(_source(value, x, len(merged_shape) - 1 + len(shape)), shape, merged_shape, at)
    view_ops.apply_inplace(target, lambda t: _index_put(t, order, merged_shape, linear, rows),
                           lambda a: _write_rows(a.permute(order), merged_shape, linear._data, rows._data),
                           rows.requires_grad)


# ------------------------------------------------------------------------------ take, unique, counts, search
def take_along_dim(x, indices, dim=None):
    """gather with x and indices broadcast against each other except along dim (negative
    indices count from the end); dim None: of the flattened x at the flattened indices."""
    if indices.dtype != _C.int64:
        raise TypeError(f"take_along_dim(): dtype of indices should be int64, got {indices.dtype.name}")
    if dim is None:
        x, indices, dim = view_ops.flatten(x), view_ops.flatten(indices), 0
    elif x.ndim != indices.ndim:
        raise ValueError(f"take_along_dim(): input and indices should have the same number of dimensions, got "
                         f"shapes {list(x.shape)} and {list(indices.shape)}")
    d = _wrap_dim(dim, x.ndim)
    outside = [s[:d] + (1,) + s[d + 1:] for s in (tuple(x.shape), tuple(indices.shape))]
    try:
        common = np.broadcast_shapes(*outside)
    except ValueError:
        raise ValueError(f"take_along_dim(): input of shape {list(x.shape)} and indices of shape "
                         f"{list(indices.shape)} do not broadcast outside dim {d}") from None
    x = view_ops.expand(x, common[:d] + (x.shape[d],) + common[d + 1:])
    indices = view_ops.expand(indices, common[:d] + (indices.shape[d],) + common[d + 1:])
    indices = ew.where(ew.lt(indices, 0), ew.add(indices, x.shape[d]), indices)
    return gather(x, d, indices)


def take(x, index):
    """x's elements at the flat (row-major) positions in index, in index's shape; negative
    positions count from the end."""
    index = _as_index(index, x.device)
    if index.dtype != _C.int64:
        raise TypeError(f"take(): expected an int64 index, got {index.dtype.name}")
    return getitem(view_ops.flatten(x), index)


def argwhere(x):
    return nonzero(x)


def _runs(lines):
    """For rows in order: whether each starts a new run of equal rows (NaN equals nothing)."""
    from ..creation import ones
    from .join import cat
    from .reduce import any

    if lines.shape[0] == 0:
        return ones(0, dtype=_C.bool, device=lines.device)
    changed = any(ew.ne(lines[1:], lines[:-1]), 1)
    return cat([ones(1, dtype=_C.bool, device=lines.device), changed])


def _unique(x, sort, return_inverse, return_counts, dim, op):
    """unique and unique_consecutive: the rows (slices along dim, or elements) sorted, or as
    they come, then their runs of equal rows collapsed. Not differentiable."""
    from ..creation import arange, tensor
    from .reduce import cumsum, diff
    from .sort import argsort

    x = x.detach()
    if dim is None:
        lines = view_ops.reshape(x, (x.numel(), 1))
    else:
        d = _wrap_dim(dim, x.ndim)
        rest = x.shape[:d] + x.shape[d + 1:]
        if 0 in rest:
            raise ValueError(f"{op}: input of shape {list(x.shape)} has 0-sized dimensions other than dim {d}")
        lines = view_ops.reshape(view_ops.movedim(x, d, 0), (x.shape[d], math.prod(rest)))
    order = arange(lines.shape[0], device=x.device)
    if sort:  # lexicographic: stable sorts by each column, the last first
        for col in reversed(range(lines.shape[1])):
            order = order[argsort(lines[:, col][order])]
        lines = lines[order]
    first = _runs(lines)
    values = lines[first]
    values = view_ops.flatten(values) if dim is None else view_ops.movedim(
        view_ops.reshape(values, (values.shape[0],) + rest), 0, d)
    out = [values]
    if return_inverse:
        run = cumsum(first, 0) - 1
        inverse = scatter(run, 0, order, run)
        out.append(view_ops.reshape(inverse, x.shape) if dim is None else inverse)
    if return_counts:
        starts = nonzero(first)[:, 0]
        out.append(diff(starts, append=tensor([lines.shape[0]], device=x.device)))
    return out[0] if len(out) == 1 else tuple(out)


def unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct elements (or slices along dim) of x in ascending order (always sorted, as
    torch on CPU; each NaN counts apart); with the inverse (each element's position among
    them) and the counts."""
    return _unique(x, True, return_inverse, return_counts, dim, "unique")


def unique_consecutive(x, return_inverse=False, return_counts=False, dim=None):
    """unique of each run of equal neighbours, in order."""
    return _unique(x, False, return_inverse, return_counts, dim, "unique_consecutive")


def bincount(x, weights=None, minlength=0):
    """Occurrences of each value 0..max(x) (at least minlength of them) in the 1-d
    non-negative integer x, or the sums of their weights (float64 for integer weights)."""
    from ..creation import zeros
    from .reduce import amax, amin

    if x.dtype not in (_C.int64, _C.int32, _C.uint8):
        raise TypeError(f"bincount only supports integer inputs, got {x.dtype.name}")
    if x.ndim != 1 or x.numel() and amin(x).item() < 0:
        raise ValueError(f"bincount only supports 1-d non-negative integral inputs, got shape {list(x.shape)}")
    if minlength < 0:
        raise ValueError(f"bincount: minlength should be >= 0, got {minlength}")
    if weights is not None and tuple(weights.shape) != tuple(x.shape):
        raise ValueError(f"bincount: weights should be 1-d and have the same length as input, got shapes "
                         f"{list(weights.shape)} and {list(x.shape)}")
    length = max(amax(x).item() + 1 if x.numel() else 0, minlength)
    if weights is None:
        src = Tensor._wrap(_C.Array.full(tuple(x.shape), 1, _C.int64, x.device))
    else:
        src = weights if weights.dtype.is_floating_point else weights.to(_C.float64)
    return index_add(zeros(length, dtype=src.dtype, device=x.device), 0, x.to(_C.int64), src)


def searchsorted(sorted_sequence, values, *, out_int32=False, right=False, side=None, sorter=None):
    """For each value, the insertion point keeping sorted_sequence's last dim sorted: before
    equal elements (or after them with right / side='right'). A 1-d sequence serves every
    value; an N-d one (..., M) pairs its lines with the value lines (..., K). The values and
    the sequence are sorted together (stably), each value counting the elements before it."""
    from ..creation import full, tensor
    from .join import cat
    from .reduce import cumsum
    from .sort import sort

    if side is not None:
        if side not in ("left", "right"):
            raise ValueError(f"searchsorted(): side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise ValueError("searchsorted(): side and right can't be set to opposites, got side of left while "
                             "right was True")
        right = side == "right"
    seq = sorted_sequence
    if seq.ndim == 0:
        raise ValueError("searchsorted(): boundaries tensor should have positive dimension, but got 0 dimension")
    if sorter is not None:
        seq = gather(seq, -1, sorter)
    if not isinstance(values, Tensor):
        values = tensor(values, device=seq.device)
    out_shape = values.shape
    if seq.ndim == 1:
        values = view_ops.reshape(values, (values.numel(),))
    elif tuple(seq.shape[:-1]) != tuple(values.shape[:-1]):
        raise ValueError(f"searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions of "
                         f"boundaries tensor and input value tensor must match, but we got boundaries tensor "
                         f"{list(seq.shape)} and input value tensor {list(values.shape)}")
    k, m = values.shape[-1], seq.shape[-1]
    # The values go after the sequence for right (so that they count equal elements), else before.
    parts = [seq, values] if right else [values, seq]
    merged = cat([view_ops.expand(p, tuple(values.shape[:-1]) + (p.shape[-1],)) for p in parts], -1)
    flags = [full((m,), True, device=seq.device), full((k,), False, device=seq.device)]
    from_seq = cat(flags if right else flags[::-1])
    order = sort(merged, -1).indices
    seq_so_far = cumsum(gather(view_ops.expand(from_seq, order.shape), -1, order), -1)
    counts = scatter(seq_so_far, -1, order, seq_so_far)  # back in merged order
    counts = counts[..., m:] if right else counts[..., :k]
    counts = view_ops.reshape(counts, out_shape)
    return counts.to(_C.int32) if out_int32 else counts


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The index of the bucket of 1-d boundaries that each input value falls in
    (boundaries[i-1] < v <= boundaries[i], or boundaries[i-1] <= v < boundaries[i] with right)."""
    if boundaries.ndim != 1:
        raise ValueError(f"bucketize(): boundaries tensor must be 1 dimension, got shape {list(boundaries.shape)}")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def masked_scatter(x, mask, source):
    """x (broadcast with mask) with the positions where mask is True filled, in row-major
    order, by source's leading elements."""
    from .reduce import cumsum, sum

    _check_mask(mask, "masked_scatter")
    if source.dtype != x.dtype:
        raise TypeError(f"masked_scatter: expected self and source to have same dtypes but got {x.dtype.name} and "
                        f"{source.dtype.name}")
    shape = np.broadcast_shapes(tuple(x.shape), tuple(mask.shape))
    mask = view_ops.expand(mask, shape)
    count = sum(mask).item()
    if count > source.numel():
        raise ValueError(f"masked_scatter: source of shape {list(source.shape)} has fewer elements than the "
                         f"{count} ones in mask of shape {list(mask.shape)}")
    if count == 0 and source.numel() == 0:  # else as below, where the gradient reaches source (zeros)
        return view_ops.expand(x, shape).clone()
    slot = ew.clamp(ew.sub(cumsum(view_ops.flatten(mask), 0), 1), min=0)  # the source element each position reads
    fill = view_ops.reshape(IndexSelect.apply(view_ops.flatten(source), 0, slot), shape)
    return ew.where(mask, fill, x)


# ------------------------------------------------------------------------------ one_hot, embedding
def one_hot(indices, num_classes=-1):
    """int64 [..., num_classes] with a 1 at each index (num_classes -1: max index + 1)."""
    if indices.dtype != _C.int64:
        raise TypeError(f"one_hot is only applicable to index tensor of type int64, got {indices.dtype.name}")
    if num_classes == -1:
        num_classes = Tensor._wrap(_C.reduce(_C.ReduceOp.amax, indices._data)).item() + 1 if indices.numel() else 0
    shape = tuple(indices.shape) + (num_classes,)
    index = indices._data.unsqueeze(indices.ndim)
    ones = _C.Array.full(tuple(index.shape), 1, _C.int64, indices.device)
    return Tensor._wrap(_C.scatter(_zeros(shape, ones), -1, index, ones, False))


def embedding(indices, weight):
    """weight's rows at indices: [*indices.shape, embedding_dim]; the gradient adds into rows."""
    rows = IndexSelect.apply(weight, 0, view_ops.reshape(indices, (-1,)))
    return view_ops.reshape(rows, tuple(indices.shape) + (weight.shape[1],))


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Whether each of elements appears in test_elements (either may be a number), as bool."""
    from ..creation import tensor

    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError("isin() expects elements or test_elements to be a tensor")
    device = (elements if isinstance(elements, Tensor) else test_elements).device
    elements_t, tests = (t if isinstance(t, Tensor) else tensor(t, device=device) for t in (elements, test_elements))
    # every element against every test value: a (elements, tests) table reduced over the tests
    table = ew.eq(view_ops.reshape(elements_t.detach(), (-1, 1)), view_ops.reshape(tests.detach(), (1, -1)))
    found = view_ops.reshape(table.any(1) if tests.numel() else ew.ne(table.sum(1), 0), elements_t.shape)
    return ew.logical_not(found) if invert else found


_INDEX_REDUCTIONS = ("prod", "mean", "amax", "amin")


def index_reduce(x, dim, index, source, reduce, *, include_self=True):
    """x with source's slices along dim combined into x's slices index names, by reduce
    ('prod', 'mean', 'amax' or 'amin'): scatter_reduce with index spread along source's other dims."""
    if reduce not in _INDEX_REDUCTIONS:
        raise ValueError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.")
    d = _wrap_dim(dim, x.ndim)
    index = _as_index(index, x.device)
    if index.dtype == _C.int32:  # torch takes int32 indices here, scatter_reduce int64 only
        index = index.to(_C.int64)
    if index.ndim > 1 or index.numel() != (source.shape[d] if source.ndim else 1):
        raise IndexError(f"index_reduce(): Index should have dimension 1 and as many elements as source has along "
                         f"dim {dim}, got shape {list(index.shape)}")
    if source.ndim != x.ndim or any(a != b for i, (a, b) in enumerate(zip(x.shape, source.shape)) if i != d):
        raise ValueError(f"index_reduce(): source tensor shape must match self tensor shape, excluding the specified "
                         f"dimension. Got self.shape = {list(x.shape)} source.shape = {list(source.shape)}")
    if index.numel() and not bool(((index >= 0) & (index < (x.shape[d] if x.ndim else 1))).all()):
        # checked here: scatter_reduce checks nothing when source has no elements
        raise IndexError(f"index_reduce(): index out of range for dimension {dim} with size "
                         f"{x.shape[d] if x.ndim else 1}")
    spread = view_ops.reshape(index, tuple(-1 if i == d else 1 for i in range(source.ndim)))
    return scatter_reduce(x, d, view_ops.expand(spread, source.shape), source, reduce, include_self=include_self)


def _inplace(fn, overlap=None):
    """fn's in-place form x.fn_(...): fn out of place, its values copied into x (see apply_inplace).
    overlap(x, *args, **kwargs) checks, first, the memory x shares with what the op reads."""

    def method(x, *args, **kwargs):
        if overlap is not None:
            overlap(x, *args, **kwargs)
        needs_graph = any(isinstance(a, Tensor) and a.requires_grad for a in (*args, *kwargs.values()))
        return view_ops.apply_inplace(x, lambda t: fn(t, *args, **kwargs),
                                      lambda a: a.copy_(fn(Tensor._wrap(a), *args, **kwargs)._data), needs_graph)

    method.__name__ = fn.__name__ + "_"
    return method


def _no_overlap(x, *args, **kwargs):
    """torch's assert_no_overlap of x with every tensor argument (scatter_, index_add_, ...)."""
    view_ops.check_no_overlap(x, *args, *kwargs.values())


def _masked_fill_in_place_checks(x, mask, *args, **kwargs):
    """masked_fill_ writes x: the mask broadcasts to x's shape and shares none of its memory."""
    if isinstance(mask, Tensor) and np.broadcast_shapes(tuple(x.shape), tuple(mask.shape)) != tuple(x.shape):
        raise ValueError(f"masked_fill_: mask of shape {list(mask.shape)} does not broadcast to {list(x.shape)}")
    view_ops.check_no_partial_overlap(x, mask)


def _attach():
    Tensor.gather = gather
    Tensor.scatter = scatter
    Tensor.scatter_add = scatter_add
    Tensor.scatter_reduce = scatter_reduce
    Tensor.index_select = index_select
    Tensor.index_add = index_add
    Tensor.index_fill = index_fill
    Tensor.index_copy = index_copy
    Tensor.index_put = index_put
    Tensor.put = put
    Tensor.masked_fill = masked_fill
    for fn in (scatter, scatter_add, scatter_reduce, index_add, index_copy, index_put, put):
        setattr(Tensor, fn.__name__ + "_", _inplace(fn, _no_overlap))
    Tensor.index_fill_ = _inplace(index_fill, _no_overlap)
    Tensor.masked_fill_ = _inplace(masked_fill, _masked_fill_in_place_checks)
    Tensor.masked_select = masked_select
    Tensor.masked_scatter = masked_scatter
    Tensor.masked_scatter_ = _inplace(masked_scatter)
    Tensor.take_along_dim = take_along_dim
    Tensor.take = take
    Tensor.argwhere = argwhere
    Tensor.unique = unique
    Tensor.unique_consecutive = unique_consecutive
    Tensor.bincount = bincount
    Tensor.nonzero = nonzero
    Tensor.flip = lambda self, *dims, **kw: flip(self, *((view_ops._shape_arg(dims),) if dims else ()), **kw)
    Tensor.fliplr = fliplr
    Tensor.flipud = flipud
    Tensor.tril = tril
    Tensor.triu = triu
    Tensor.tril_ = _inplace(tril)
    Tensor.triu_ = _inplace(triu)
    Tensor.fill_diagonal_ = fill_diagonal_
    Tensor.index_reduce = index_reduce
    Tensor.index_reduce_ = _inplace(index_reduce, _no_overlap)
    Tensor.__setitem__ = setitem


_attach()
