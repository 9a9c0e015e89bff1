"""Interop: numpy (from_numpy / buffer protocol) and DLPack (numpy, PyTorch) in both directions.

Zero-copy is proven by np.shares_memory and by writes made on one side being seen on the
other; the documented copy cases are proven by writes that are *not* seen.
"""

import ctypes
import gc
import weakref

import numpy as np
import pytest

import fibril
from fibril._interop import from_numpy as array_from_numpy, from_dlpack as array_from_dlpack  # Array level, below Tensor

DTYPES = {
    fibril.float32: np.float32,
    fibril.float64: np.float64,
    fibril.int64: np.int64,
    fibril.int32: np.int32,
    fibril.uint8: np.uint8,
    fibril.bool: np.bool_,
}
NP_DTYPES = [pytest.param(t, id=np.dtype(t).name) for t in DTYPES.values()]


def values(shape, dtype):
    """Distinct-ish values of any supported dtype (bool alternates)."""
    n = int(np.prod(shape))
    modulus = 2 if dtype == np.bool_ else 97
    return (np.arange(n) % modulus).reshape(shape).astype(dtype)


def one(dtype):
    """A value that `values` never puts everywhere, for fill_ / write checks."""
    return True if dtype == np.bool_ else 5


def byte_strides(a):
    return tuple(s * a.itemsize for s in a.strides)


def capsule_name(capsule):
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype = ctypes.c_char_p
    get_name.argtypes = [ctypes.py_object]
    return get_name(capsule).decode()


def torch_or_skip():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------- numpy -> fibril (from_numpy)


@pytest.mark.parametrize("dtype", NP_DTYPES)
def test_from_numpy_is_zero_copy_both_ways(dtype):
    x = values((3, 4), dtype)
    a = array_from_numpy(x)
    assert DTYPES[a.dtype] == dtype and a.shape == (3, 4) and a.strides == (4, 1)
    assert a.data_ptr() == x.ctypes.data
    back = np.asarray(a)
    assert np.shares_memory(back, x)
    np.testing.assert_array_equal(back, x)

    x[1, 2] = 0
    back[0, 0] = one(dtype)
    np.testing.assert_array_equal(np.asarray(a), x)
    a.fill_(one(dtype))
    assert (x == one(dtype)).all()


VIEWS = {
    "steps": lambda x: x[::2, 1::3],
    "transpose": lambda x: x.T,
    "column": lambda x: x[:, 2],
    "permuted-3d": lambda x: x.reshape(2, 3, 4, 2).transpose(2, 0, 3, 1)[1:, :, ::2],
    "size-1 dims": lambda x: x[:, None, 1:2],
}


@pytest.mark.parametrize("view", list(VIEWS), ids=list(VIEWS))
def test_from_numpy_shares_non_contiguous_views(view):
    base = values((6, 8), np.float64)
    x = VIEWS[view](base)
    a = array_from_numpy(x)
    assert a.shape == x.shape
    assert byte_strides(a) == x.strides
    assert a.data_ptr() == x.ctypes.data
    np.testing.assert_array_equal(np.asarray(a), x)
    assert np.shares_memory(np.asarray(a), base)

    a.fill_(-1.0)
    assert (x == -1).all()
    assert (base == -1).sum() == x.size  # only the view changed


def test_asarray_of_fibril_views_is_zero_copy():
    a = fibril.Array.full((4, 6), 2.0, fibril.float32)
    t = a.transpose(0, 1).slice(0, 1, None, 2)
    y = np.asarray(t)
    assert y.ctypes.data == t.data_ptr() and y.strides == byte_strides(t) and y.shape == t.shape
    a.fill_(7.0)
    assert (y == 7).all()
    y[...] = 3
    np.testing.assert_array_equal(np.asarray(t), np.full(t.shape, 3, np.float32))


def unaligned_float32():
    buf = np.zeros(4 * 6 + 1, np.uint8)
    x = buf[1:].view(np.float32).reshape(2, 3)
    x[...] = np.arange(6).reshape(2, 3)
    assert not x.flags.aligned
    return x


def read_only():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    x.flags.writeable = False
    return x


COPIED = {
    "read-only": read_only,
    "negative strides": lambda: np.arange(12, dtype=np.float32).reshape(3, 4)[::-1, ::-2],
    "byte-swapped": lambda: np.arange(6, dtype=">f4").reshape(2, 3),
    "unaligned": unaligned_float32,
}
@pytest.mark.parametrize("make", list(COPIED.values()), ids=list(COPIED))
def test_from_numpy_copies_what_it_cannot_share(make):
    x = make()
    expected = x.astype(np.float32)
    a = array_from_numpy(x)
    assert a.dtype == fibril.float32 and a.is_contiguous() and a.shape == x.shape
    assert not np.shares_memory(np.asarray(a), x)
    np.testing.assert_array_equal(np.asarray(a), expected)
    a.fill_(-1.0)
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("dtype", ["complex64", "object", "int8", "uint16"])
def test_from_numpy_unsupported_dtype_is_type_error(dtype):
    with pytest.raises(TypeError, match=f"unsupported dtype {dtype}"):
        array_from_numpy(np.zeros(3, dtype))


def test_from_numpy_rejects_non_arrays():
    with pytest.raises(TypeError, match="numpy.ndarray.*list"):
        array_from_numpy([1.0, 2.0])


def test_numpy_array_outlives_its_name_while_fibril_holds_it():
    x = values((50, 3), np.float64)[::2]
    expected = x.copy()
    alive = weakref.ref(x.base)
    a = array_from_numpy(x)
    del x
    gc.collect()
    assert alive() is not None
    np.testing.assert_array_equal(np.asarray(a), expected)
    del a
    gc.collect()
    assert alive() is None


def test_fibril_memory_outlives_the_array_while_numpy_holds_it():
    gc.collect()
    before = fibril.memory_stats()["allocated"]
    a = fibril.Array.full((1000,), 4, fibril.int64)
    y = np.asarray(a)
    del a
    gc.collect()
    assert fibril.memory_stats()["allocated"] > before
    np.testing.assert_array_equal(y, np.full(1000, 4))
    y[:] = 5
    assert (y == 5).all()
    del y
    gc.collect()
    assert fibril.memory_stats()["allocated"] == before


def test_zero_copy_imports_do_not_touch_the_allocator():
    x = values((64, 64), np.float32)
    gc.collect()
    before = fibril.memory_stats()
    a = array_from_numpy(x)
    v = array_from_numpy(x.T[::3])
    d = array_from_dlpack(x)
    views = [np.asarray(a), np.asarray(v.transpose(0, 1)), np.from_dlpack(d)]
    assert all(np.shares_memory(y, x) for y in views)
    assert fibril.memory_stats() == before


# ------------------------------------------------------------------------------- DLPack


def test_dlpack_device_is_cpu():
    assert fibril.Array.empty((2,)).__dlpack_device__() == (1, 0)


def test_legacy_and_versioned_capsules_import_once():
    x = values((2, 3), np.int32)
    a = array_from_numpy(x)
    cases = [({}, "dltensor"), ({"max_version": (0, 8)}, "dltensor"),
             ({"max_version": (1, 0)}, "dltensor_versioned"), ({"max_version": (2, 3)}, "dltensor_versioned")]
    for kwargs, name in cases:
        capsule = a.__dlpack__(**kwargs)
        assert capsule_name(capsule) == name
        b = array_from_dlpack(capsule)
        assert capsule_name(capsule) == "used_" + name
        assert b.data_ptr() == a.data_ptr() and b.shape == a.shape and b.dtype == fibril.int32
        with pytest.raises(ValueError, match="unconsumed"):
            array_from_dlpack(capsule)


def test_unconsumed_capsule_keeps_the_array_alive():
    a = fibril.Array.full((3,), 1.5, fibril.float64)
    capsule = a.__dlpack__(max_version=(1, 0))
    del a
    gc.collect()
    np.testing.assert_array_equal(np.asarray(array_from_dlpack(capsule)), [1.5, 1.5, 1.5])


CONSUMERS = {
    "legacy capsule": lambda a: a.__dlpack__(),
    "versioned capsule": lambda a: a.__dlpack__(max_version=(1, 0)),
    "numpy": np.from_dlpack,
    "fibril": fibril.from_dlpack,
    "torch": lambda a: torch_or_skip().from_dlpack(a),
}


@pytest.mark.parametrize("consume", list(CONSUMERS.values()), ids=list(CONSUMERS))
def test_dlpack_exports_give_their_memory_back(consume):
    gc.collect()
    before = fibril.memory_stats()["allocated"]
    a = fibril.Array.full((1000,), 1.0)
    held = consume(a)
    del a
    gc.collect()
    assert fibril.memory_stats()["allocated"] > before
    del held
    gc.collect()
    assert fibril.memory_stats()["allocated"] == before


def test_dl_device_must_match():
    a = fibril.Array.empty((2,))
    assert capsule_name(a.__dlpack__(dl_device=(1, 0))) == "dltensor"
    with pytest.raises(BufferError, match="another device"):
        a.__dlpack__(dl_device=(2, 0))


def test_dlpack_copy_true_gives_independent_memory():
    expected = values((4, 3), np.float32)
    a = array_from_numpy(expected.T.copy()).transpose(0, 1)
    b = array_from_dlpack(a.__dlpack__(max_version=(1, 0), copy=True))
    shared = array_from_dlpack(a.__dlpack__(max_version=(1, 0), copy=False))
    y = np.from_dlpack(a, copy=True)
    a.fill_(-1.0)
    np.testing.assert_array_equal(np.asarray(b), expected)
    np.testing.assert_array_equal(y, expected)
    assert (np.asarray(shared) == -1).all()


def test_read_only_numpy_is_copied_through_dlpack():
    x = values((2, 3), np.float64)
    x.flags.writeable = False
    a = array_from_dlpack(x)
    np.testing.assert_array_equal(np.asarray(a), x)
    a.fill_(-1.0)
    np.testing.assert_array_equal(x, values((2, 3), np.float64))


def test_dlpack_rejects_unsupported_dtypes_and_negative_strides():
    with pytest.raises(TypeError, match="unsupported DLPack dtype"):
        array_from_dlpack(np.zeros(3, np.int16))
    with pytest.raises(ValueError, match="negative strides"):
        array_from_dlpack(np.arange(4.0)[::-1])
    with pytest.raises(TypeError, match="__dlpack__"):
        array_from_dlpack([1, 2])


# The same layouts made by numpy / torch indexing (both accept these) and by fibril's views,
# from a contiguous 3x5 source.
LAYOUTS = {
    "2-d": lambda x: x,
    "0-d": lambda x: x[1, 2, ...],
    "empty": lambda x: x[:, 2:2],
    "transposed": lambda x: x.T,
    "sliced": lambda x: x[1:, 1::2],
}
FIBRIL_LAYOUTS = {
    "2-d": lambda a: a,
    "0-d": lambda a: a.select(0, 1).select(0, 2),
    "empty": lambda a: a.slice(1, 2, 2),
    "transposed": lambda a: a.transpose(0, 1),
    "sliced": lambda a: a.slice(0, 1).slice(1, 1, None, 2),
}


def bump(x):
    """Changes every element of the numpy array x in place."""
    x[...] = ~x if x.dtype == np.bool_ else x + 1


def assert_shares_with_numpy(a, x):
    """a (fibril) and x (numpy) are the same memory: writes on either side are seen."""
    assert a.shape == x.shape
    np.testing.assert_array_equal(np.asarray(a), x)
    if x.size == 0:
        return
    assert byte_strides(a) == x.strides
    bump(x)
    np.testing.assert_array_equal(np.asarray(a), x)
    a.fill_(one(x.dtype))
    assert (x == one(x.dtype)).all()


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", NP_DTYPES)
def test_dlpack_numpy_round_trips(dtype, layout):
    x = LAYOUTS[layout](values((3, 5), dtype))
    a = array_from_dlpack(x)
    assert DTYPES[a.dtype] == dtype
    assert_shares_with_numpy(a, x)

    f = FIBRIL_LAYOUTS[layout](array_from_numpy(values((3, 5), dtype)))
    y = np.from_dlpack(f)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, LAYOUTS[layout](values((3, 5), dtype)))
    assert_shares_with_numpy(f, y)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", NP_DTYPES)
def test_dlpack_torch_round_trips(dtype, layout):
    torch = torch_or_skip()

    # torch -> fibril
    t = LAYOUTS[layout](torch.from_numpy(values((3, 5), dtype)).clone())
    a = array_from_dlpack(t)
    assert a.shape == tuple(t.shape) and DTYPES[a.dtype] == dtype
    np.testing.assert_array_equal(np.asarray(a), t.numpy())
    if t.numel():
        assert a.strides == t.stride() and a.data_ptr() == t.data_ptr()
        t.fill_(0)
        np.testing.assert_array_equal(np.asarray(a), np.zeros(t.shape, dtype))
        a.fill_(one(dtype))
        assert bool((t == one(dtype)).all())

    # fibril -> torch
    f = FIBRIL_LAYOUTS[layout](array_from_numpy(values((3, 5), dtype)))
    u = torch.from_dlpack(f)
    assert tuple(u.shape) == f.shape and u.numpy().dtype == dtype
    np.testing.assert_array_equal(u.numpy(), np.asarray(f))
    if u.numel():
        assert u.stride() == f.strides and u.data_ptr() == f.data_ptr()
        u.fill_(0)
        np.testing.assert_array_equal(np.asarray(f), np.zeros(f.shape, dtype))
        f.fill_(one(dtype))
        assert bool((u == one(dtype)).all())


def test_torch_and_fibril_keep_each_other_alive():
    torch = torch_or_skip()
    a = fibril.Array.full((4, 5), 3, fibril.int32)
    t = torch.from_dlpack(a.transpose(0, 1))
    del a
    gc.collect()
    assert t.stride() == (1, 5) and bool((t == 3).all())

    u = torch.arange(10, dtype=torch.float64)
    b = array_from_dlpack(u[2:])
    del u
    gc.collect()
    np.testing.assert_array_equal(np.asarray(b), np.arange(2, 10))


def test_torch_unsupported_dtype_is_type_error():
    torch = torch_or_skip()
    with pytest.raises(TypeError, match="unsupported DLPack dtype"):
        array_from_dlpack(torch.zeros(3, dtype=torch.int8))
