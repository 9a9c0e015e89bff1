"""resize_, resize_as_ and set_: shapes, strides and kept values as torch's, storage shared or
grown, and the refusals."""

import numpy as np
import pytest

import fibril

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

# (make the tensor, the sizes to resize it to); only elements torch defines are compared
RESIZES = [
    (lambda m: m.arange(6.0), (2, 2)),
    (lambda m: m.arange(6.0)[1:], (2, 2)),
    (lambda m: m.arange(12.0).reshape(3, 4)[:, 1:3], (3,)),
    (lambda m: m.arange(6.0)[::2], (4,)),
    (lambda m: m.arange(6.0), (6,)),
    (lambda m: m.arange(6.0).reshape(2, 3), (3, 2)),
    (lambda m: m.arange(4.0), (0,)),
    (lambda m: m.empty(0), (2, 3)),
    (lambda m: m.arange(6, dtype=m.int32), (2, 5)),
]


@needs_torch
@pytest.mark.parametrize("make, sizes", RESIZES)
def test_resize_matches_torch(make, sizes):
    t, f = make(torch), make(fibril)
    old = int(np.prod(t.shape)) and t.untyped_storage().nbytes() // t.element_size() - t.storage_offset()
    assert f.resize_(*sizes) is f
    t.resize_(*sizes)
    assert f.shape == t.shape and f.stride() == t.stride()
    defined = min(t.numel(), old)
    np.testing.assert_array_equal(f.reshape(-1)[:defined].numpy(), t.reshape(-1)[:defined].numpy())


def test_resize_within_storage_is_a_view_and_growing_keeps_values():
    x = fibril.arange(6.0)
    before = x._data.data_ptr()
    x.resize_(2, 2)
    assert x._data.data_ptr() == before and x._version.value == 1
    x.resize_(3, 4)
    np.testing.assert_array_equal(x.reshape(-1)[:6].numpy(), np.arange(6.0))
    x.resize_as_(fibril.zeros(2, 1))
    assert x.shape == (2, 1)


@needs_torch
def test_resize_to_channels_last_has_torchs_strides():
    for m in (torch, fibril):
        x = m.zeros(2, 3, 4, 5).resize_(2, 3, 4, 5, memory_format=m.channels_last)
        assert x.stride() == (60, 1, 15, 3)
        assert x.is_contiguous(memory_format=m.channels_last)


def test_resize_refusals():
    with pytest.raises(RuntimeError, match="require grad"):
        fibril.zeros(2, requires_grad=True).resize_(3)
    with pytest.raises(RuntimeError, match="negative"):
        fibril.zeros(2).resize_(-1)
    with pytest.raises(TypeError):
        fibril.zeros(2).resize_(2.5)


def test_set_shares_memory():
    source = fibril.arange(5.0)
    x = fibril.zeros(3)
    assert x.set_(source) is x and x._data.shares_storage(source._data)
    np.testing.assert_array_equal(x.numpy(), np.arange(5.0))
    x.set_(source, 1, (2, 2), (1, 1))
    np.testing.assert_array_equal(x.numpy(), [[1, 2], [2, 3]])
    source.fill_(7.0)
    assert (x == 7).all()
    assert x.set_().shape == (0,)
    with pytest.raises(RuntimeError, match="dtype"):
        x.set_(fibril.zeros(2, dtype=fibril.int64))
