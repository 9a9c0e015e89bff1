"""Array: dtypes, shapes, strides and every view op, against numpy's views of the same data."""

import numpy as np
import pytest

import fibril
from fibril._interop import from_numpy as array_from_numpy  # Array level, below Tensor

DTYPES = {
    fibril.float32: np.float32,
    fibril.float64: np.float64,
    fibril.int64: np.int64,
    fibril.int32: np.int32,
    fibril.uint8: np.uint8,
    fibril.bool: np.bool_,
}


def arange(*shape, dtype=np.float32):
    x = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape).astype(dtype)
    return x, array_from_numpy(x)


def same_view(a, ref):
    """a is a zero-copy view whose values, shape and strides match the numpy view ref."""
    got = np.asarray(a)
    assert a.shape == ref.shape
    # strides of size-1 dims are arbitrary (numpy and PyTorch differ there)
    for size, got_stride, ref_stride in zip(ref.shape, a.strides, ref.strides):
        assert size <= 1 or got_stride == ref_stride // ref.itemsize
    np.testing.assert_array_equal(got, ref)
    if ref.size:
        assert np.shares_memory(got, ref.base if ref.base is not None else ref)


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_empty_and_full_every_dtype(dtype):
    a = fibril.Array.full((2, 3), 1, dtype)
    assert a.dtype == dtype and a.shape == (2, 3) and a.strides == (3, 1)
    assert a.itemsize == np.dtype(DTYPES[dtype]).itemsize
    assert a.nbytes == 6 * a.itemsize
    np.testing.assert_array_equal(np.asarray(a), np.ones((2, 3), DTYPES[dtype]))
    assert repr(dtype) == f"fibril.{np.dtype(DTYPES[dtype]).name}"


def test_dtype_arguments_accept_names_and_numpy_types():
    assert fibril.Array.empty((1,), "float64").dtype == fibril.float64
    assert fibril.Array.empty((1,), np.int32).dtype == fibril.int32
    assert fibril.Array.empty((1,), np.dtype("uint8")).dtype == fibril.uint8


@pytest.mark.parametrize("dtype", ["float8", "complex64", np.int8, "uint16"])
def test_unsupported_dtype_is_type_error(dtype):
    with pytest.raises(TypeError, match="dtype|interpret"):
        fibril.Array.empty((2,), dtype)


@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (1,), (2, 3, 4, 5)])
def test_shapes_including_scalars_and_empty(shape):
    a = fibril.Array.full(shape, 7, fibril.int64)
    assert a.shape == shape and a.ndim == len(shape) and a.numel() == int(np.prod(shape))
    np.testing.assert_array_equal(np.asarray(a), np.full(shape, 7))
    assert a.is_contiguous()


@pytest.mark.parametrize("shape", [(-1,), (2, -3)])
def test_negative_dims_are_value_errors(shape):
    with pytest.raises(ValueError, match="negative dimension"):
        fibril.Array.empty(shape)


@pytest.mark.parametrize("shape", [(2**40, 2**40), (2**62, 4), (2**31,) * 3])
def test_size_overflow_is_value_error(shape):
    with pytest.raises(ValueError, match="overflow|too many"):
        fibril.Array.empty(shape)


def test_shape_arguments_are_checked():
    with pytest.raises(TypeError, match="integers"):
        fibril.Array.empty((2.5, 3))
    with pytest.raises(ValueError, match="int64"):
        fibril.Array.empty((2**70,))
    with pytest.raises(TypeError, match="sequence"):
        fibril.Array.empty(3)
    with pytest.raises(ValueError, match="maximum"):
        fibril.Array.empty((1,) * 65)


def test_transpose_and_permute():
    x, a = arange(2, 3, 4)
    same_view(a.transpose(0, 2), x.transpose(2, 1, 0))
    same_view(a.transpose(-1, 1), np.swapaxes(x, -1, 1))
    same_view(a.permute(1, 2, 0), x.transpose(1, 2, 0))
    same_view(a.permute((2, 0, 1)), x.transpose(2, 0, 1))
    assert not a.transpose(0, 1).is_contiguous()


def test_permute_errors():
    _, a = arange(2, 3)
    with pytest.raises(ValueError, match="repeat"):
        a.permute(0, 0)
    with pytest.raises(ValueError, match="dims"):
        a.permute(0, 1, 2)
    with pytest.raises(IndexError, match="out of range"):
        a.transpose(0, 2)


@pytest.mark.parametrize("start,stop,step", [
    (None, None, 1), (1, None, 1), (None, -1, 2), (-4, 9, 3), (2, 2, 1), (5, 1, 1), (-100, 100, 4), (0, 7, 7),
])
def test_slice_follows_python_rules(start, stop, step):
    x, a = arange(7, 3)
    same_view(a.slice(0, start, stop, step), x[start:stop:step])
    same_view(a.slice(1, start, stop, step), x[:, start:stop:step])


def test_slice_errors():
    _, a = arange(4)
    with pytest.raises(ValueError, match="step"):
        a.slice(0, None, None, 0)
    with pytest.raises(ValueError, match="step"):
        a.slice(0, None, None, -1)
    with pytest.raises(IndexError):
        fibril.Array.full((), 1.0, fibril.float32).slice(0, 0, 1, 1)


def test_select_squeeze_unsqueeze():
    x, a = arange(3, 1, 4)
    same_view(a.select(0, -1), x[-1])
    same_view(a.select(2, 2), x[:, :, 2])
    same_view(a.squeeze(), x.squeeze())
    same_view(a.squeeze(1), x.squeeze(1))
    assert a.squeeze(0).shape == (3, 1, 4)
    same_view(a.unsqueeze(0), x[None])
    same_view(a.unsqueeze(-1), x[..., None])
    same_view(a.unsqueeze(2), x[:, :, None])
    with pytest.raises(IndexError, match="out of bounds"):
        a.select(0, 3)
    with pytest.raises(IndexError, match="out of range"):
        a.unsqueeze(5)


def test_expand_gives_stride_zero():
    x, a = arange(3, 1)
    e = a.expand(2, 3, 4)
    assert e.strides == (0, 1, 0)
    same_view(e, np.broadcast_to(x, (2, 3, 4)))
    same_view(a.expand(-1, 5), np.broadcast_to(x, (3, 5)))
    with pytest.raises(ValueError, match=r"\[3, 1\].*\[4, 4\]"):
        a.expand(4, 4)
    with pytest.raises(ValueError, match="fewer"):
        a.expand(3)


def test_as_strided_checks_the_storage_bound():
    x, a = arange(10)
    same_view(a.as_strided((3, 3), (3, 1), 1), np.lib.stride_tricks.as_strided(x[1:], (3, 3), (12, 4)))
    same_view(a.as_strided((4,), (0,)), np.broadcast_to(x[:1], (4,)))
    with pytest.raises(ValueError, match="storage holds 10"):
        a.as_strided((4, 3), (3, 1))
    with pytest.raises(ValueError, match="negative"):
        a.as_strided((2,), (-1,), 5)
    with pytest.raises(ValueError, match="length"):
        a.as_strided((2, 2), (1,))


@pytest.mark.parametrize("new_shape", [(12,), (3, 4), (2, -1), (-1,), (1, 12, 1), (2, 2, 3)])
def test_reshape_of_contiguous_is_a_view(new_shape):
    x, a = arange(3, 4)
    r = a.reshape(new_shape)
    same_view(r, x.reshape(new_shape))
    assert r.shares_storage(a)


def test_reshape_views_when_strides_allow_and_copies_otherwise():
    x, a = arange(4, 6, 8)
    sliced = a.slice(2, 0, 8, 2)  # inner dim strided, outer dims still mergeable
    v = sliced.reshape(24, 4)
    assert v.shares_storage(a)
    np.testing.assert_array_equal(np.asarray(v), x[:, :, ::2].reshape(24, 4))
    t = a.transpose(0, 2)
    c = t.reshape(-1)
    assert not c.shares_storage(a) and c.is_contiguous()
    np.testing.assert_array_equal(np.asarray(c), x.transpose(2, 1, 0).reshape(-1))
    with pytest.raises(RuntimeError, match="reshape"):
        t.view(-1)
    same_view(t.view(8, 6, 4), x.transpose(2, 1, 0))


def test_reshape_errors():
    _, a = arange(3, 4)
    with pytest.raises(ValueError, match="size 12"):
        a.reshape(5, 3)
    with pytest.raises(ValueError, match="only one"):
        a.reshape(-1, -1)
    with pytest.raises(ValueError, match="size 12"):
        a.reshape(-1, 5)


def test_reshape_of_empty_and_scalar():
    e = fibril.Array.empty((0, 3))
    assert e.reshape(3, 0, 5).shape == (3, 0, 5)
    with pytest.raises(ValueError):
        e.reshape(-1, 0)
    s = fibril.Array.full((), 2.0, fibril.float32)
    assert s.reshape(1, 1).shape == (1, 1)
    assert s.reshape(1, 1).reshape(()).shape == ()


def test_contiguous_returns_self_when_already_contiguous():
    _, a = arange(3, 4)
    assert a.contiguous().data_ptr() == a.data_ptr()
    t = a.transpose(0, 1).contiguous()
    assert t.is_contiguous() and t.data_ptr() != a.data_ptr()


def test_views_keep_storage_alive():
    a = fibril.Array.full((1000,), 3.0, fibril.float64)
    v = a.slice(0, 10, 20)
    del a
    np.testing.assert_array_equal(np.asarray(v), np.full(10, 3.0))


def test_repr_names_dtype_shape_and_strides():
    _, a = arange(2, 3)
    assert repr(a.transpose(0, 1)) == "Array(float32[3, 2], strides=[1, 3])"
    assert a.device == "cpu" and a.offset == 0
    assert a.slice(1, 1).offset == 1


def test_len():
    _, a = arange(5, 2)
    assert len(a) == 5
    with pytest.raises(TypeError):
        len(fibril.Array.full((), 1, fibril.int64))


def test_in_place_ops_write_empty_arrays_with_zero_strides():
    """numpy gives an empty array stride 0; no element is shared, so writes are allowed."""
    t = fibril.tensor(np.zeros((2, 0), np.float32))
    t.add_(1)
    t.copy_(fibril.zeros(2, 0))
    p = fibril.nn.Parameter(fibril.tensor(np.zeros((3, 0), np.float32)))
    p.grad = fibril.zeros(3, 0)
    fibril.optim.SGD([p], lr=0.1, momentum=0.9).step()
    assert p.shape == (3, 0)
