"""The in-place ops that change which memory a tensor views: resize_, resize_as_ and set_.

A resize_ that fits in the tensor's storage makes it a view of that storage with the new
(dense) strides, keeping its values in memory order, as torch's does. One that does not fit
moves the tensor to new storage holding the old storage's elements from its offset (the rest
uninitialized). Unlike torch, whose storage grows in place, views taken before such a move keep
the old memory.
"""

import numbers

from .. import _C
from ..autograd import is_grad_enabled
from ..memory_formats import _channels_last_order, _check, contiguous_format, preserve_format
from ..tensor import Tensor


def _sizes(args):
    sizes = tuple(args[0]) if len(args) == 1 and not isinstance(args[0], numbers.Integral) else args
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in sizes):
        raise TypeError(f"resize_(): sizes must be integers, got {sizes}")
    if any(s < 0 for s in sizes):
        raise RuntimeError(f"resize_(): trying to create a tensor with negative dimension in {list(sizes)}")
    return tuple(int(s) for s in sizes)


def _dense_strides(shape, memory_format):
    """The strides of a dense tensor of shape laid out in memory_format."""
    order = (tuple(range(len(shape))) if memory_format in (contiguous_format, preserve_format)
             else _channels_last_order(memory_format, len(shape)))
    strides, step = [0] * len(shape), 1
    for dim in reversed(order):
        strides[dim] = step
        step *= max(shape[dim], 1)
    return tuple(strides)


def _take_memory(x, array):
    x._data, x._shape = array, None
    x._version.value += 1
    return x


def resize_(x, *sizes, memory_format=None):
    """x reshaped in place to sizes (dense strides of memory_format), growing its storage when
    it must; returns x."""
    if x.requires_grad and is_grad_enabled():
        raise RuntimeError("cannot resize variables that require grad")
    shape = _sizes(sizes)
    fmt = contiguous_format if memory_format is None else memory_format
    _check(fmt)
    strides = _dense_strides(shape, fmt)
    numel = 1
    for s in shape:
        numel *= s
    data, item = x._data, x._data.itemsize
    if (data.offset + numel) * item <= data.storage_nbytes:
        return _take_memory(x, data.as_strided(shape, strides, data.offset))
    grown = _C.Array.empty((numel,), data.dtype, data.device)
    kept = min(numel, data.storage_nbytes // item - data.offset)
    if kept > 0:
        grown.slice(0, 0, kept, 1).copy_(data.as_strided((kept,), (1,), data.offset))
    return _take_memory(x, grown.as_strided(shape, strides, 0))


def resize_as_(x, other, memory_format=None):
    return resize_(x, tuple(other.shape), memory_format=memory_format)


def set_(x, source=None, storage_offset=None, size=None, stride=None):
    """x viewing source's memory (as source, or as size/stride from storage_offset), or
    nothing (an empty 1-d tensor) without a source."""
    if x.requires_grad and is_grad_enabled():
        raise RuntimeError("set_ is not allowed on a Tensor created from .data or .detach() or one that "
                           "requires grad")
    if source is None:
        return _take_memory(x, _C.Array.empty((0,), x.dtype, x._data.device))
    if not isinstance(source, Tensor):
        raise TypeError(f"set_(): source must be a tensor (fibril has no Storage objects), got "
                        f"{type(source).__name__}")
    if source.dtype != x.dtype:
        raise RuntimeError(f"set_(): expected a source of dtype {x.dtype.name}, got {source.dtype.name}")
    data = source._data
    if size is None:
        if storage_offset is not None or stride is not None:
            raise TypeError("set_(): storage_offset and stride need a size")
        return _take_memory(x, data)
    shape = tuple(int(s) for s in size)
    strides = _dense_strides(shape, contiguous_format) if stride is None else tuple(int(s) for s in stride)
    return _take_memory(x, data.as_strided(shape, strides, data.offset if storage_offset is None else storage_offset))


Tensor.resize_ = resize_
Tensor.resize_as_ = resize_as_
Tensor.set_ = set_
