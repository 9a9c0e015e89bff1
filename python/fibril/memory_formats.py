"""Memory formats and layouts, as torch's: contiguous_format, channels_last (NHWC order in
memory for an NCHW tensor), channels_last_3d (NDHWC), preserve_format; the strided layout.

A channels-last tensor is an ordinary strided view of NHWC-ordered memory, so every op accepts
it; fibril's convolution kernels read NCHW and copy such an input once, so the format changes
where values sit, not what any op returns."""

from .ops.index import Contiguous


class _Named:
    """A singleton known by its name: shown as fibril.<name>, pickled as a reference to it."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"fibril.{self.name}"

    def __reduce__(self):
        return self.name


class memory_format(_Named):
    __slots__ = ()


class layout(_Named):
    __slots__ = ()


contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
preserve_format = memory_format("preserve_format")
strided = layout("strided")

_CHANNELS_LAST_RANK = {channels_last: 4, channels_last_3d: 5}


def _channels_last_order(fmt, ndim):
    """The dims from outermost to innermost in memory: N, spatial..., C."""
    rank = _CHANNELS_LAST_RANK[fmt]
    if ndim != rank:
        raise RuntimeError(f"required rank {rank} tensor to use {fmt.name} format, got a {ndim}-D tensor")
    return (0, *range(2, ndim), 1)


def _check(fmt):
    if not isinstance(fmt, memory_format):
        raise TypeError(f"memory_format must be a fibril.memory_format, got {type(fmt).__name__}")


def is_contiguous_as(x, fmt):
    """x.is_contiguous(memory_format=fmt): its strides are those of a dense tensor in fmt's
    order (dims of size 1 may have any stride)."""
    _check(fmt)
    if fmt in (contiguous_format, preserve_format):
        return x._data.is_contiguous()
    order = _channels_last_order(fmt, x.ndim)
    expected = 1
    for dim in reversed(order):
        size = x.shape[dim]
        if size != 1 and x.stride(dim) != expected:
            return False
        expected *= size
    return True


def contiguous_as(x, fmt):
    """x.contiguous(memory_format=fmt): x itself when already so laid out, else a copy that is
    (recorded: gradients flow through it)."""
    _check(fmt)
    if fmt is preserve_format:
        raise RuntimeError("preserve memory format is unsupported by the contiguous operator")
    if is_contiguous_as(x, fmt):
        return x
    if fmt is contiguous_format:
        return Contiguous.apply(x)
    order = _channels_last_order(fmt, x.ndim)
    inverse = sorted(range(x.ndim), key=order.__getitem__)
    return Contiguous.apply(x.permute(order)).permute(inverse)


def suggest(x):
    """The format x is laid out in: channels_last(_3d) when its strides say so and not also
    plainly contiguous, else contiguous_format."""
    for fmt, rank in _CHANNELS_LAST_RANK.items():
        if x.ndim == rank and not x._data.is_contiguous() and is_contiguous_as(x, fmt):
            return fmt
    return contiguous_format
