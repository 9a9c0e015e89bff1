"""Index family: view ops (no copy; the output shares the input's version counter), basic
indexing with ints, slices, None and Ellipsis, and in-place changes under autograd (of
views too: CopySlices). Each Function's backward sits beside its forward."""

import math
import numbers

import numpy as np

from .. import _C
from ..autograd import Function
from ..autograd.grad_mode import is_grad_enabled
from ..tensor import NO_GRAD_VIEW, Size, Tensor, _View, _host_values, _wrap_dim


def _view_of(x, array):
    out = _View._wrap(array, x._version)
    out._base = x if x._base is None else x._base
    out._seen_version = x._version.value
    creation = x._creation
    if not is_grad_enabled():  # under no_grad, or while Function.apply records this op (see _View)
        out._creation = NO_GRAD_VIEW
        if creation is not None:
            out._creation_if_recorded = creation
    elif creation is not None:
        out._creation = creation
    return out


def _zeros(shape, like):
    return _C.Array.full(tuple(shape), 0, like.dtype, like.device)


def embed(src, shape, region):
    """Zeros of `shape` with the tensor src copied into region(zeros): the gradient of an op
    that took region (a function of an Array giving a view) out of its input. Recorded when
    grad mode is on (create_graph), so that it can be differentiated again."""
    if is_grad_enabled():
        return Embed.apply(src, shape, region)
    out = _zeros(shape, src._data)
    region(out).copy_(src._data)
    return Tensor._wrap(out)


def take_region(x, region):
    """region(x) as a tensor of its own: embed's gradient (a view of x unless recorded)."""
    if is_grad_enabled():
        return Region.apply(x, region)
    return Tensor._wrap(region(x._data))


class Embed(Function):
    @staticmethod
    def forward(ctx, src, shape, region):
        ctx.region = region
        out = _zeros(shape, src._data)
        region(out).copy_(src._data)
        return Tensor._wrap(out)

    @staticmethod
    def backward(ctx, g):
        return take_region(g, ctx.region), None, None


class Region(Function):
    @staticmethod
    def forward(ctx, x, region):
        ctx.shape, ctx.region = x.shape, region
        return Tensor._wrap(region(x._data).clone())

    @staticmethod
    def backward(ctx, g):
        return embed(g, ctx.shape, ctx.region), None


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape, must_view):
        ctx.in_shape = x.shape
        out = x._data.view(shape) if must_view else x._data.reshape(shape)
        return _view_of(x, out) if out.shares_storage(x._data) else Tensor._wrap(out)

    @staticmethod
    def backward(ctx, g):
        return reshape(g, ctx.in_shape), None, None


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return _view_of(x, x._data.permute(dims))

    @staticmethod
    def backward(ctx, g):
        return permute(g, inverse_permutation(ctx.dims)), None


def inverse_permutation(dims):
    inverse = [0] * len(dims)
    for i, d in enumerate(dims):
        inverse[d % len(dims)] = i
    return tuple(inverse)


class Transpose(Function):
    @staticmethod
    def forward(ctx, x, dim0, dim1):
        ctx.dims = (dim0, dim1)
        return _view_of(x, x._data.transpose(dim0, dim1))

    @staticmethod
    def backward(ctx, g):
        return transpose(g, *ctx.dims), None, None


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return _view_of(x, x._data.expand(shape))

    @staticmethod
    def backward(ctx, g):
        from .reduce import sum_to_shape

        return sum_to_shape(g, ctx.in_shape), None


class Squeeze(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.in_shape = x.shape
        return _view_of(x, x._data.squeeze(dim))

    @staticmethod
    def backward(ctx, g):
        return reshape(g, ctx.in_shape), None


class Unsqueeze(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return _view_of(x, x._data.unsqueeze(dim))

    @staticmethod
    def backward(ctx, g):
        return squeeze(g, ctx.dim), None


class Slice(Function):
    @staticmethod
    def forward(ctx, x, dim, start, stop, step):
        ctx.in_shape, ctx.args = x.shape, (dim, start, stop, step)
        return _view_of(x, x._data.slice(dim, start, stop, step))

    @staticmethod
    def backward(ctx, g):
        return embed(g, ctx.in_shape, lambda a: a.slice(*ctx.args)), None, None, None, None


class Select(Function):
    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.in_shape, ctx.args = x.shape, (dim, index)
        return _view_of(x, x._data.select(dim, index))

    @staticmethod
    def backward(ctx, g):
        return embed(g, ctx.in_shape, lambda a: a.select(*ctx.args)), None, None


class Alias(Function):
    """A new view of all of x (x[...], x[()]): in-place view ops on it leave x as it is."""

    @staticmethod
    def forward(ctx, x):
        return _view_of(x, x._data.as_strided(x._data.shape, x._data.strides))

    @staticmethod
    def backward(ctx, g):
        return g


class Contiguous(Function):
    @staticmethod
    def forward(ctx, x):
        out = x._data.contiguous()
        return x if out is x._data or out.data_ptr() == x._data.data_ptr() else Tensor._wrap(out)

    @staticmethod
    def backward(ctx, g):
        return g


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return Tensor._wrap(x._data.clone())

    @staticmethod
    def backward(ctx, g):
        return g


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype, device):
        ctx.in_dtype, ctx.in_device = x.dtype, x.device
        out = x._data if dtype is None else x._data.astype(dtype)
        return Tensor._wrap(out if device is None else out.to(device))

    @staticmethod
    def backward(ctx, g):
        return Tensor._wrap(g._data.astype(ctx.in_dtype).to(ctx.in_device)), None, None


class Unfold(Function):
    """The windows of `size` elements, `step` apart, along dim: a view with dim holding the
    window count and a last dim of `size`. Windows may overlap, so backward adds."""

    @staticmethod
    def forward(ctx, x, dim, size, step):
        shape, strides = list(x.shape), list(x._data.strides)
        count = (shape[dim] - size) // step + 1 if x.ndim else 1
        ctx.in_shape, ctx.args = x.shape, (dim, size, step, count)
        if not x.ndim:
            return _view_of(x, x._data.as_strided((size,), (1,), x._data.offset))
        shape[dim], strides[dim] = count, strides[dim] * step
        return _view_of(x, x._data.as_strided(tuple(shape) + (size,), tuple(strides) + (x._data.strides[dim],),
                                              x._data.offset))

    @staticmethod
    def backward(ctx, g):
        if not ctx.in_shape:
            return reshape(g, ()), None, None, None
        return UnfoldGrad.apply(g, ctx.in_shape, ctx.args), None, None, None


class UnfoldGrad(Function):
    """The windows' gradient g added back into an input of in_shape: Unfold's gradient; its own
    gradient is the unfold of the incoming one."""

    @staticmethod
    def forward(ctx, g, in_shape, args):
        ctx.args = args
        dim, size, step, count = args
        grad = _zeros(in_shape, g._data)
        for j in range(size):  # the j-th element of every window
            region = grad.slice(dim, j, j + (count - 1) * step + 1, step)
            _C.binary(_C.BinaryOp.add, region, g._data.select(g.ndim - 1, j), out=region)
        return Tensor._wrap(grad)

    @staticmethod
    def backward(ctx, gg):
        dim, size, step, _ = ctx.args
        return Unfold.apply(gg, dim, size, step), None, None


def unfold(x, dimension, size, step):
    d = _wrap_dim(dimension, x.ndim)
    length = x.shape[d] if x.ndim else 1
    if size < 0 or size > length:
        raise ValueError(f"unfold: maximum size for tensor at dimension {d} is {length} but size is {size}")
    if step <= 0:
        raise ValueError(f"unfold: step is {step} but must be > 0")
    return Unfold.apply(x, d, size, step)


# ------------------------------------------------------------------------------ functions
def _shape_arg(shape):
    return tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], numbers.Integral) else tuple(shape)


def _sizes_or_keyword(args, kwargs, name, op):
    """The sizes given as separate ints, one sequence, or (as torch) the keyword `name`."""
    if kwargs:
        if set(kwargs) != {name} or args:
            bad = next((k for k in kwargs if k != name), name)
            raise TypeError(f"{op}() got an unexpected keyword argument '{bad}'")
        return _shape_arg((kwargs[name],))
    return _shape_arg(args)


def reshape(x, *shape, **kwargs):
    return Reshape.apply(x, _sizes_or_keyword(shape, kwargs, "shape", "reshape"), False)


def view(x, *shape, dtype=None):
    """x with another shape (a view); or, given a dtype, x's bytes read as that dtype: torch's
    view(dtype), which shares x's memory and version counter and is not differentiable."""
    if dtype is None and len(shape) == 1 and isinstance(shape[0], _C.DType):
        dtype = shape[0]
    if dtype is not None:
        return Tensor._wrap(x._data.bitcast(dtype), x._version)
    return Reshape.apply(x, _shape_arg(shape), True)


def permute(x, *dims, **kwargs):
    return Permute.apply(x, _sizes_or_keyword(dims, kwargs, "dims", "permute"))


def transpose(x, dim0, dim1):
    return Transpose.apply(x, dim0, dim1)


def expand(x, *sizes, **kwargs):
    return Expand.apply(x, _sizes_or_keyword(sizes, kwargs, "size", "expand"))


def squeeze(x, dim=None):
    if isinstance(dim, (tuple, list)):
        wrapped = [_wrap_dim(d, x.ndim) for d in dim]
        if len(set(wrapped)) != len(wrapped):
            raise ValueError(f"squeeze: a dim appears multiple times in the list of dims {list(dim)}")
        for d in sorted(wrapped, reverse=True):
            x = Squeeze.apply(x, d)
        return x
    return Squeeze.apply(x, dim)


def unsqueeze(x, dim):
    return Unsqueeze.apply(x, dim)


def flatten(x, start_dim=0, end_dim=-1):
    start, end = _wrap_dim(start_dim, max(x.ndim, 1)), _wrap_dim(end_dim, max(x.ndim, 1))  # 0-d: dims 0 and -1
    if start > end:
        raise RuntimeError(f"flatten() has invalid args: start_dim {start_dim} cannot come after end_dim {end_dim}")
    if x.ndim == 0:
        return reshape(x, 1)
    shape = x.shape
    merged = 1
    for d in shape[start:end + 1]:
        merged *= d
    return reshape(x, shape[:start] + (merged,) + shape[end + 1:])


def unflatten(x, dim, sizes):
    d = _wrap_dim(dim, x.ndim)
    return reshape(x, x.shape[:d] + _split_sizes(tuple(sizes), x.shape[d], d) + x.shape[d + 1:])


def _split_sizes(sizes, size, d):
    """unflatten's sizes for dim d of `size`, a -1 among them inferred from that dim alone (as
    torch; reshape infers it from all the elements, which tell nothing when there are none)."""
    if not sizes:
        raise ValueError("unflatten: sizes must be non-empty")
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if sizes.count(-1) > 1 or known == 0:
            raise ValueError(f"unflatten: cannot infer the -1 in sizes {list(sizes)} for dim {d} of size {size}")
        sizes = tuple(size // known if s == -1 else s for s in sizes)
    if math.prod(sizes) != size:
        raise ValueError(f"unflatten: sizes {list(sizes)} don't multiply up to the size of dim {d} ({size})")
    return sizes


def narrow(x, dim, start, length):
    if x.ndim == 0:
        raise ValueError("narrow() cannot be applied to a 0-dim tensor.")
    d = _wrap_dim(dim, x.ndim)
    size = x.shape[d]
    if start < 0:
        start += size
    if not (0 <= start <= size and 0 <= length <= size - start):
        raise IndexError(f"narrow(): start {start} + length {length} exceeds dimension size {size}")
    return Slice.apply(x, d, start, start + length, 1)


def movedim(x, source, destination):
    """x's dims `source` (an int or a sequence) moved to `destination`, the others keeping
    their order."""
    src = [source] if isinstance(source, numbers.Integral) else list(source)
    dst = [destination] if isinstance(destination, numbers.Integral) else list(destination)
    if len(src) != len(dst):
        raise ValueError(f"movedim: source {src} and destination {dst} should contain the same number of dims")
    src, dst = [_wrap_dim(d, x.ndim) for d in src], [_wrap_dim(d, x.ndim) for d in dst]
    for name, dims in (("source", src), ("destination", dst)):
        if len(set(dims)) != len(dims):
            raise ValueError(f"movedim: repeated dim in `{name}` ({dims})")
    order = [None] * x.ndim
    for s, d in zip(src, dst[:x.ndim]):  # a 0-d x: source and destination are [0], nothing moves
        order[d] = s
    rest = iter(d for d in range(x.ndim) if d not in src)
    return permute(x, tuple(next(rest) if o is None else o for o in order))


moveaxis = movedim


def swapaxes(x, axis0, axis1):
    return transpose(x, axis0, axis1)


def swapdims(x, dim0, dim1):
    return transpose(x, dim0, dim1)


def broadcast_to(x, shape=None, *, size=None):
    """x expanded (a view) to shape (torch also names it size); -1 keeps a dim's size."""
    return expand(x, tuple(size if shape is None else shape))


def broadcast_tensors(*tensors):
    """Views of the tensors expanded to their common broadcast shape."""
    shapes = [tuple(t.shape) for t in tensors]
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"broadcast_tensors: shapes {[list(s) for s in shapes]} do not broadcast") from None
    return tuple(expand(t, shape) for t in tensors)


def numel(x):
    return x.numel()


def is_tensor(obj):
    return isinstance(obj, Tensor)


def is_floating_point(x):
    return x.is_floating_point()


def t(x):
    return x.t()


def clone(x, *, memory_format=None):
    """A copy; memory_format (default: preserve_format, which keeps a channels-last layout)
    chooses its layout."""
    out = Clone.apply(x)
    if memory_format is None and (x.ndim not in (4, 5) or x._data.is_contiguous()):
        return out
    from .. import memory_formats as formats

    if memory_format in (None, formats.preserve_format):
        memory_format = formats.suggest(x)
    return formats.contiguous_as(out, memory_format)


def _contiguous(x, memory_format=None):
    if memory_format is None:
        return Contiguous.apply(x)
    from .. import memory_formats as formats

    return formats.contiguous_as(x, memory_format)


def as_strided(x, size, stride, storage_offset=None):
    return x.as_strided(size, stride, storage_offset)


_BASIC_ITEM_TYPES = frozenset((int, slice, type(None), type(Ellipsis)))


def index_items(index):
    """The items of an index, checked, 0-d integer tensors and arrays as the ints they hold:
    torch indexes with those as with ints (a select, a view). 0-d bool and uint8 ones stay masks."""
    items = index if isinstance(index, tuple) else (index,)
    if all(type(i) in _BASIC_ITEM_TYPES for i in items):  # the usual index: nothing to convert or check
        return items
    items = tuple(_as_int(i) for i in items)
    for item in items:
        if not (item is None or item is Ellipsis or isinstance(item, (slice, numbers.Integral)) or is_advanced(item)):
            raise invalid_index(item)
    return items


def _as_int(item):
    if getattr(item, "ndim", None) != 0:
        return item
    values = _host_values(item._data) if isinstance(item, Tensor) else np.asarray(item)
    return int(values) if values.dtype.kind in "iu" and values.dtype != np.uint8 else item


def is_advanced(item):
    """Whether an index item takes advanced indexing: tensors (fibril's or others', such as
    numpy arrays), lists and bools. Numpy scalars are numbers, not arrays."""
    return isinstance(item, (Tensor, list, bool)) or hasattr(item, "__array__") and not isinstance(item, np.generic)


def invalid_index(item):
    """torch's error for an index item of no valid type (a string is a sequence to torch,
    which fails to make a tensor of it)."""
    kind = type(item)
    got = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
    if isinstance(item, str):
        return TypeError(f"a string is not a valid index (got {got})")
    return IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid "
                      f"indices (got {got})")


def getitem(x, index):
    """Basic indexing: ints, slices (positive steps), None and Ellipsis, as views (x[...] and
    x[()] too: a new one, as torch)."""
    items = index_items(index)
    if any(is_advanced(i) for i in items):
        from .gather import getitem as advanced_getitem

        return advanced_getitem(x, items)
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    if consumed > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    if sum(1 for i in items if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    out, dim = x, 0
    for item in items:
        if item is Ellipsis:
            dim += x.ndim - consumed
        elif item is None:
            out = Unsqueeze.apply(out, dim)
            dim += 1
        elif isinstance(item, slice):
            step = 1 if item.step is None else item.step
            if step <= 0:
                raise ValueError("step must be greater than zero")
            start = 0 if item.start is None else item.start
            stop = out.shape[dim] if item.stop is None else item.stop
            out = Slice.apply(out, dim, start, stop, step)
            dim += 1
        else:
            out = Select.apply(out, dim, int(item))
    return Alias.apply(x) if out is x else out


def _attach():
    Tensor.reshape = reshape
    Tensor.view = view
    Tensor.permute = permute
    Tensor.transpose = transpose
    Tensor.expand = expand
    Tensor.expand_as = lambda self, other: expand(self, other.shape)
    Tensor.broadcast_to = broadcast_to
    Tensor.squeeze = squeeze
    Tensor.unsqueeze = unsqueeze
    Tensor.flatten = flatten
    Tensor.unflatten = unflatten
    Tensor.narrow = narrow
    Tensor.unfold = unfold
    Tensor.movedim = movedim
    Tensor.moveaxis = movedim
    Tensor.swapaxes = swapaxes
    Tensor.swapdims = swapdims
    Tensor.view_as = lambda self, other: view(self, other.shape)
    Tensor.reshape_as = lambda self, other: reshape(self, other.shape)
    Tensor.__getitem__ = getitem
    Tensor.contiguous = _contiguous
    Tensor.clone = clone
    Tensor.to = _to
    Tensor.cpu = lambda self, memory_format=None: _to(self, "cpu", memory_format=memory_format)
    Tensor.cuda = lambda self, device=None, non_blocking=False, memory_format=None: _to(
        self, "cuda" if device is None else f"cuda:{device}", memory_format=memory_format)
    for name, dtype in [("float", _C.float32), ("double", _C.float64), ("half", _C.float16),
                        ("bfloat16", _C.bfloat16), ("long", _C.int64), ("int", _C.int32), ("byte", _C.uint8),
                        ("bool", _C.bool)]:
        setattr(Tensor, name, lambda self, dtype=dtype: _to(self, dtype))
    Tensor.type_as = lambda self, other: _to(self, other.dtype)


def _to(x, *args, dtype=None, device=None, copy=False, non_blocking=False, memory_format=None):
    """x.to(dtype), x.to(device), x.to(device, dtype), x.to(other_tensor); memory_format lays
    the result out as given. Copies are synchronous: non_blocking is accepted, as a hint."""
    if memory_format is not None:
        from .. import memory_formats as formats

        out = _to(x, *args, dtype=dtype, device=device, copy=copy)
        if memory_format is formats.preserve_format:
            return out
        return formats.contiguous_as(out, memory_format)
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, _C.DType):
            dtype = a
        elif isinstance(a, str):
            device = a
        else:
            raise TypeError(f"to() got an unexpected argument {a!r}")
    device = None if device is None else ("cuda:0" if device == "cuda" else device)
    dtype = None if dtype == x.dtype else dtype
    device = None if device == x.device else device
    if dtype is None and device is None:
        return x.clone() if copy else x
    if x.requires_grad and dtype is not None and not dtype.is_floating_point:
        return Cast.apply(x.detach(), dtype, device)
    return Cast.apply(x, dtype, device)


_attach()


# ------------------------------------------------------------------------------ in-place changes
def _layout(array):
    return tuple(array.shape), tuple(array.strides), array.offset


def _zeros_laid_out(base, view, like):
    """Zeros with the base's layout, and the region of them that the view covers (both
    layouts as (shape, strides, offset) in one storage): a base's gradient with a view's
    place in it, for whatever view ops made the view."""
    shape, strides, offset = base
    span = 1 + sum((n - 1) * s for n, s in zip(shape, strides)) if all(shape) else 0
    buffer = _C.Array.full((span,), 0, like.dtype, like.device)
    view_shape, view_strides, view_offset = view
    return buffer.as_strided(shape, strides, 0), buffer.as_strided(view_shape, view_strides, view_offset - offset)


class AsStrided(Function):
    """A view rebuilt on its base's current history, after an in-place change."""

    @staticmethod
    def forward(ctx, base, view_array):
        ctx.layouts = (_layout(base._data), _layout(view_array))
        return _view_of(base, view_array)

    @staticmethod
    def backward(ctx, g):
        return PlaceInBase.apply(g, ctx.layouts), None


class PlaceInBase(Function):
    """A view's gradient g placed where the view lies in zeros laid out as its base (layouts:
    the base's and the view's): AsStrided's gradient. Its own gradient reads the view back."""

    @staticmethod
    def forward(ctx, g, layouts):
        ctx.layouts = layouts
        base, (shape, strides, offset) = layouts
        # An expanded view (stride 0) reads one base element along those dims: its gradient is
        # the sum over them.
        summed = tuple(d for d, (n, s) in enumerate(zip(shape, strides)) if s == 0 and n > 1)
        if summed:
            from .reduce import sum as reduce_sum

            g = reduce_sum(g, summed, keepdim=True)
            shape = tuple(1 if d in summed else n for d, n in enumerate(shape))
        grad, region = _zeros_laid_out(base, (shape, strides, offset), g._data)
        region.copy_(g._data)
        return Tensor._wrap(grad)

    @staticmethod
    def backward(ctx, gg):
        return ReadView.apply(gg, ctx.layouts), None


class ReadView(Function):
    """The values a view reads from a base holding x's values (layouts: the base's and the
    view's): PlaceInBase's adjoint."""

    @staticmethod
    def forward(ctx, x, layouts):
        ctx.layouts = layouts
        base, view = _zeros_laid_out(*layouts, x._data)
        base.copy_(x._data)
        return Tensor._wrap(view.clone())

    @staticmethod
    def backward(ctx, g):
        return PlaceInBase.apply(g, ctx.layouts), None


class CopySlices(Function):
    """A base's history after an in-place change of its view to `result`'s values: inside
    the view the gradient flows to result, outside it to the base's previous history."""

    @staticmethod
    def forward(ctx, base, result, view_array):
        ctx.layouts = (_layout(base._data), _layout(view_array))
        return Tensor._wrap(base._data, base._version)

    @staticmethod
    def backward(ctx, g):
        shape, strides, _ = ctx.layouts[1]
        if ctx.needs_input_grad[0] and _has_internal_overlap(shape, strides):
            raise RuntimeError(_INTERNAL_OVERLAP)  # as torch's, which writes into the view's region of the gradient
        if is_grad_enabled():  # create_graph: recorded, as a read of the view and a masked copy
            return _copy_slices_grad_recorded(ctx, g)
        grad, region = _zeros_laid_out(*ctx.layouts, g._data)
        grad.copy_(g._data)
        grad_result = Tensor._wrap(region.clone()) if ctx.needs_input_grad[1] else None
        region.fill_(0)
        return Tensor._wrap(grad), grad_result, None


def _copy_slices_grad_recorded(ctx, g):
    from .elementwise import where

    grad_result = ReadView.apply(g, ctx.layouts) if ctx.needs_input_grad[1] else None
    grad_base = None
    if ctx.needs_input_grad[0]:
        in_view, region = _zeros_laid_out(*ctx.layouts, _C.Array.full((), 0, _C.bool, g.device))
        region.fill_(True)
        grad_base = where(Tensor._wrap(in_view), 0.0, g)
    return grad_base, grad_result, None


class Copy(Function):
    """x's values replaced by src's (broadcast to x's shape, cast to its dtype): copy_ and
    fills recorded out of place. x's previous values get a zero gradient."""

    @staticmethod
    def forward(ctx, x, src):
        ctx.in_shape, ctx.src_meta = x.shape, (src.shape, src.dtype)
        out = _C.Array.empty(tuple(x.shape), x.dtype, x.device)
        out.copy_(src._data)
        return Tensor._wrap(out)

    @staticmethod
    def backward(ctx, g):
        from .reduce import sum_to_shape

        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = ZerosOf.apply(g) if is_grad_enabled() else Tensor._wrap(_zeros(ctx.in_shape, g._data))
        grad_src = None
        if ctx.needs_input_grad[1]:
            shape, dtype = ctx.src_meta
            grad_src = sum_to_shape(g, shape)
            grad_src = grad_src if grad_src.dtype == dtype else grad_src.to(dtype)
        return grad_x, grad_src


class ZerosOf(Function):
    """Zeros of g's shape, recorded as depending on g with derivative zero: a structurally zero
    gradient that create_graph can differentiate again (to nothing)."""

    @staticmethod
    def forward(ctx, g):
        return Tensor._wrap(_zeros(g.shape, g._data))

    @staticmethod
    def backward(ctx, gg):
        return None


def _check_inplace(x):
    """Autograd refuses to change in place a view marked at its creation (see _View); a leaf that
    requires grad, a fixed input, or a view of it (as torch)."""
    if x._creation is not None:
        raise x.refusal()
    if x.is_leaf and x._requires_grad:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    base = x._base
    if base is not None and base.is_leaf and base._requires_grad:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")


_PARTIAL_OVERLAP = ("unsupported operation: some elements of the input tensor and the written-to tensor refer to a "
                    "single memory location. Please clone() the tensor before performing the operation.")
_INTERNAL_OVERLAP = ("unsupported operation: more than one element of the written-to tensor refers to a single "
                     "memory location. Please clone() the tensor before performing the operation.")


def _has_internal_overlap(shape, strides):
    """torch's has_internal_overlap, where it answers yes: a stride-0 dim of size > 1 (an
    expanded view), several elements at one memory location."""
    return any(stride == 0 and size > 1 for size, stride in zip(shape, strides))


def _is_dense(array):
    """Whether the elements fill a span of memory without gaps or repeats, in some order of the
    dims (torch's is_non_overlapping_and_dense)."""
    if array.is_contiguous():
        return True
    expected = 1
    for stride, size in sorted((stride, size) for size, stride in zip(array.shape, array.strides) if size != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def check_no_partial_overlap(x, *operands):
    """torch's assert_no_partial_overlap, for a write into x that reads the operands: refuses an
    operand that shares some, not all, of x's memory locations, or all of them in another
    layout. Decided, as torch, only where it is cheap: both dense views of one storage."""
    _check_overlap(x, operands, full_ok=True)


def check_no_overlap(x, *operands):
    """torch's assert_no_overlap (scatter_, index_add_, index_put_): as check_no_partial_overlap,
    but an operand in exactly x's memory locations is refused too."""
    _check_overlap(x, operands, full_ok=False)


def _check_overlap(x, operands, full_ok):
    written = x._data
    for operand in operands:
        if not isinstance(operand, Tensor):
            continue
        read = operand._data
        if read is written and full_ok or not written.shares_storage(read) or not written.numel() or not read.numel():
            continue
        if not (_is_dense(written) and _is_dense(read)):
            continue
        begin, other_begin = written.data_ptr(), read.data_ptr()
        end, other_end = begin + written.nbytes, other_begin + read.nbytes
        if full_ok and begin == other_begin and end == other_end and written.strides == read.strides:
            continue
        if begin < other_end and other_begin < end:
            raise RuntimeError(_PARTIAL_OVERLAP)


def apply_inplace(x, op_fn, kernel, needs_graph=False, overlap_ok=False):
    """x <- op_fn(x) in place; needs_graph: an operand other than x requires grad. Outside
    autograd, kernel(x's Array) writes straight into x. Inside, op_fn is recorded out of
    place and its values copied into x, which adopts the result's history; for a view, the
    view's base takes a CopySlices history instead (and the view rebuilds its own from it).
    overlap_ok: a write that torch lets into an expanded view (a fill, a copy onto the same
    elements); inside autograd the kernel writes it there, and backward through it raises."""
    base = x._base
    # A view's requires_grad is read as torch does, without first rebuilding its history (which
    # _check_inplace may have to refuse)
    if not (is_grad_enabled() and (needs_graph or (x.requires_grad if base is None else base.requires_grad
                                                   or x._requires_grad or x._grad_fn is not None))):
        kernel(x._data)
        x._version.value += 1
        return x
    _check_inplace(x)
    data = x._data
    overlapping = not data.is_contiguous() and _has_internal_overlap(data.shape, data.strides)
    if overlapping and not overlap_ok:
        raise RuntimeError(_INTERNAL_OVERLAP)
    result = op_fn(x)
    if result.shape != x.shape:
        raise ValueError(f"in-place op: the tensor has shape {list(x.shape)}, but the result has the broadcast "
                         f"shape {list(result.shape)}")
    if result.grad_fn is not None:
        result.grad_fn.ctx.keep_values_of(x)
    if overlapping:
        kernel(data)
    else:
        data.copy_(result._data)
    if base is None:
        x.grad_fn, x._output_nr = result.grad_fn, result._output_nr
    else:
        base.grad_fn, base._output_nr = CopySlices.apply(base, result, data).grad_fn, 0
    x._version.value += 1
    return x


def inplace_result(x, fn):
    """fn(x)'s values written into x and x returned, recorded as an in-place op (torch's
    inplace=True): whatever fn saved of x for its backward keeps x's old values."""
    return apply_inplace(x, fn, lambda a: a.copy_(fn(Tensor._wrap(a))._data))


def write_inplace(x, write, overlap_ok=False):
    """x's values replaced in place by what write(Array) writes, values that depend on nothing
    differentiable (fills, random draws); overlap_ok as apply_inplace."""

    def fresh(t):
        values = _C.Array.empty(tuple(t.shape), t.dtype, t.device)
        write(values)
        return Copy.apply(t, Tensor._wrap(values))

    return apply_inplace(x, fresh, write, overlap_ok=overlap_ok)


def fill_(x, value):
    if isinstance(value, Tensor):
        if value.ndim:
            raise ValueError(f"fill_ only supports a 0-dimensional value tensor, got shape {list(value.shape)}")
        # no partial overlap check: torch reads a fill's value once, before writing
        return apply_inplace(x, lambda t: Copy.apply(t, value), lambda a: a.copy_(value._data), value.requires_grad)
    from ..creation import check_fits

    check_fits(value, x.dtype)
    return write_inplace(x, lambda a: a.fill_(value), overlap_ok=True)


def zero_(x):
    return fill_(x, 0)


def copy_(x, src):
    if not isinstance(src, Tensor):
        from ..creation import tensor

        src = tensor(src, dtype=x.dtype, device=x.device)
    elif x._data.shares_storage(src._data):
        written, read = x._data, src._data
        if (written.offset == read.offset and written.strides == read.strides and written.shape == read.shape
                and written.dtype == read.dtype):
            # As torch: the same elements, nothing to copy (so an expanded view may be copied onto itself)
            return apply_inplace(x, lambda t: Copy.apply(t, src), lambda a: None, src.requires_grad, overlap_ok=True)
        check_no_partial_overlap(x, src)
    return apply_inplace(x, lambda t: Copy.apply(t, src), lambda a: a.copy_(src._data), src.requires_grad)


Tensor.fill_ = fill_
Tensor.zero_ = zero_
Tensor.copy_ = copy_


def select(x, dim, index):
    return x.select(dim, index)


def ravel(x):
    return x.ravel()


def detach(x):
    return x.detach()


def _scatter_into(name, input, src, region):
    """A copy of input with src written over the view region(copy) picks (gradients flow to both)."""
    out = clone(input)
    view = region(out)
    if tuple(src.shape) != tuple(view.shape):
        raise ValueError(f"{name}: expected src to have a size equal to the slice of self. src size = "
                         f"{list(src.shape)}, slice size = {list(view.shape)}")
    view.copy_(src)
    return out


def select_scatter(input, src, dim, index):
    return _scatter_into("select_scatter", input, src, lambda t: t.select(dim, index))


def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    dim = dim % input.ndim
    return _scatter_into("slice_scatter", input, src,
                         lambda t: t[(slice(None),) * dim + (slice(start, end, step),)])


def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):
    return _scatter_into("diagonal_scatter", input, src, lambda t: t.diagonal(offset, dim1, dim2))


def unravel_index(indices, shape):
    """The coordinates in `shape` of flat indices, one int64 tensor per dim (as torch, indices
    out of range wrap around)."""
    from .elementwise import floor_divide, remainder

    if indices.dtype.is_floating_point or indices.dtype == _C.bool:
        raise TypeError(f"expected 'indices' to be integer dtype, but got {indices.dtype.name}")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"'shape' cannot have negative values, but got {shape}")
    indices = indices.to(_C.int64)
    strides = [math.prod(shape[i + 1:]) for i in range(len(shape))]
    return tuple(remainder(floor_divide(indices, stride), size) for stride, size in zip(strides, shape))


def broadcast_shapes(*shapes):
    """The shape tensors of these shapes broadcast to (ints count as 1-D shapes)."""
    out = []
    for shape in shapes:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if any(s < 0 for s in shape):
            raise ValueError(f"Trying to create tensor with negative dimension: {list(shape)}")
        out = [1] * (len(shape) - len(out)) + out
        for i, size in enumerate(shape, len(out) - len(shape)):
            if size != out[i] and 1 not in (size, out[i]):
                raise ValueError(f"Shape mismatch: objects cannot be broadcast to a single shape, {list(shape)} "
                                 f"against {out}")
            out[i] = out[i] if size == 1 else size
    return Size(out)


def is_nonzero(x):
    if x.numel() != 1:
        raise ValueError(f"Boolean value of Tensor with {'no values' if x.numel() == 0 else 'more than one value'} "
                         f"is ambiguous")
    return x.item() != 0


def is_same_size(x, other):
    return tuple(x.shape) == tuple(other.shape)


def is_signed(x):
    return x.dtype not in (_C.uint8, _C.bool)


def _conjugate_transpose(x):
    """Tensor.H: a matrix's (conjugate) transpose; fibril's tensors are real."""
    if x.ndim not in (0, 2):
        raise ValueError(f"tensor.H is only supported on matrices (2-D tensors). Got {x.ndim}-D tensor.")
    return x if x.ndim == 0 else transpose(x, 0, 1)


def adjoint(x):
    """The (conjugate) transpose of the last two dims: Tensor.mH."""
    if x.ndim < 2:
        raise ValueError(f"tensor.mH is only supported on matrices or batches of matrices. Got {x.ndim}-D tensor.")
    return transpose(x, -2, -1)


def _attach_extras():
    for fn in [select_scatter, slice_scatter, diagonal_scatter, is_nonzero, is_same_size, is_signed]:
        setattr(Tensor, fn.__name__, fn)
    Tensor.H = property(_conjugate_transpose)
    Tensor.mH = property(adjoint)
    Tensor.adjoint = adjoint
    Tensor.swapaxes_ = Tensor.swapdims_ = Tensor.transpose_


_attach_extras()
