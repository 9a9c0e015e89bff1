"""Gather-type index ops on Tensors: forward vs numpy (float64) and PyTorch, gradients vs
PyTorch and gradcheck, non-contiguous and empty inputs, advanced indexing get and set,
bad inputs (exception type and message), thread-count determinism of the accumulations."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fibril
from op_check import check_op, make_inputs, overflow_raises, torch

TRANSPOSED = lambda t: t.transpose(0, 1).contiguous().transpose(0, 1)  # noqa: E731 (same values, column-major)
rng = np.random.default_rng(0)


def idx(values):
    """The same int64 index for fibril and torch (closures capture it, check_op passes data)."""
    a = np.asarray(values, dtype=np.int64)
    return fibril.tensor(a), (torch.tensor(a) if torch is not None else None)


def pick(fi, ti):
    return lambda t: ti if torch is not None and isinstance(t, torch.Tensor) else fi


# ------------------------------------------------------------------------------ gather / scatter
@pytest.mark.parametrize("shape,dim", [((3, 4), 0), ((3, 4), 1), ((2, 3, 5), 1), ((2, 3, 5), -1), ((7,), 0)])
def test_gather(shape, dim):
    index = rng.integers(0, shape[dim], size=shape)
    fi, ti = idx(index)
    check_op(lambda x: x.gather(dim, fi), lambda t: torch.gather(t, dim, ti), make_inputs([shape]),
             numpy_fn=lambda a: np.take_along_axis(a, index, axis=dim))


def test_gather_smaller_index_non_contiguous():
    index = rng.integers(0, 5, size=(2, 3))
    fi, ti = idx(index)
    check_op(lambda x: fibril.gather(x, 0, fi), lambda t: torch.gather(t, 0, ti), make_inputs([(5, 4)]),
             layout=TRANSPOSED, numpy_fn=lambda a: np.take_along_axis(a[:, :3], index, axis=0))


@pytest.mark.parametrize("add", [False, True])
def test_scatter(add):
    index = np.stack([rng.permutation(5)[:3] for _ in range(4)], axis=1) if not add else rng.integers(0, 5, (3, 4))
    fi, ti = idx(index)
    f = (lambda x, s: x.scatter_add(0, fi, s)) if add else (lambda x, s: x.scatter(0, fi, s))
    t = (lambda x, s: x.scatter_add(0, ti, s)) if add else (lambda x, s: x.scatter(0, ti, s))
    check_op(f, t, make_inputs([(5, 4), (3, 4)]))


def test_scatter_src_larger_than_index_gradcheck():
    fi, _ = idx([[1, 0], [0, 2]])  # torch's backward rejects this case; gradcheck only
    xs = [fibril.tensor(a, requires_grad=True) for a in make_inputs([(3, 3), (2, 4)])]
    assert fibril.testing.gradcheck(lambda x, s: x.scatter(0, fi, s), xs)


def test_scatter_value_and_empty_index():
    x = fibril.tensor(np.zeros((2, 3)))
    fi, _ = idx([[1, 0, 2]])
    np.testing.assert_array_equal(x.scatter(1, fi, value=4.0).numpy(), [[4, 4, 4], [0, 0, 0]])
    empty = fibril.tensor(np.zeros((0, 3), dtype=np.int64))
    np.testing.assert_array_equal(x.scatter_add(0, empty, x).numpy(), x.numpy())


@st.composite
def gather_cases(draw):
    """A float64 input (maybe a permuted view), a dim and an in-range index of its shape."""
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    dim = draw(st.integers(0, len(shape) - 1))
    perm = draw(st.permutations(range(len(shape))))
    seed = draw(st.integers(0, 2**16))
    r = np.random.default_rng(seed)
    a = r.standard_normal(shape)
    return a, perm, dim, r.integers(0, shape[dim], size=shape)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(gather_cases())
def test_gather_scatter_add_random_layouts(case):
    a, perm, dim, index = case
    inverse = tuple(int(i) for i in np.argsort(perm))
    x = fibril.tensor(np.ascontiguousarray(a.transpose(perm))).permute(inverse)  # a's values, permuted strides
    np.testing.assert_array_equal(x.gather(dim, fibril.tensor(index)).numpy(), np.take_along_axis(a, index, dim))
    expected = np.zeros_like(a)
    coords = list(np.indices(index.shape))
    coords[dim] = index
    np.add.at(expected, tuple(coords), a)
    got = fibril.zeros(*a.shape, dtype=fibril.float64).scatter_add(dim, fibril.tensor(index), x)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)
    rows = index.reshape(-1)[: a.shape[dim] + 2] % a.shape[dim]
    np.testing.assert_array_equal(x.index_select(dim, fibril.tensor(rows)).numpy(), np.take(a, rows, dim))


# ------------------------------------------------------------------------------ index_select / index_add
@pytest.mark.parametrize("shape,dim,index", [((5, 3), 0, [4, 0, 0, 2]), ((5, 3), 1, [2, 1]), ((2, 3, 4), 1, [1]),
                                             ((2, 3, 4), 2, []), ((6,), 0, [5, 5, 1])])
def test_index_select(shape, dim, index):
    fi, ti = idx(index)
    check_op(lambda x: x.index_select(dim, fi), lambda t: torch.index_select(t, dim, ti), make_inputs([shape]),
             numpy_fn=lambda a: np.take(a, np.asarray(index, dtype=np.int64), axis=dim))


def test_index_select_non_contiguous_int32():
    index = np.array([3, 1, 1], dtype=np.int32)
    fi = fibril.tensor(index)
    ti = torch.tensor(index) if torch is not None else None
    check_op(lambda x: fibril.index_select(x, 1, fi), lambda t: torch.index_select(t, 1, ti), make_inputs([(4, 5)]),
             layout=TRANSPOSED, numpy_fn=lambda a: a[:, index])


@pytest.mark.parametrize("alpha", [1, 2.5])
def test_index_add(alpha):
    fi, ti = idx([0, 2, 0, 3])
    check_op(lambda x, s: x.index_add(1, fi, s, alpha=alpha), lambda x, s: x.index_add(1, ti, s, alpha=alpha),
             make_inputs([(3, 5), (3, 4)]))


def test_index_add_of_a_0d_tensor():
    out = fibril.zeros(()).index_add(0, fibril.tensor(0), fibril.tensor(5.0))
    assert out.shape == () and out.item() == 5.0


# ------------------------------------------------------------------------------ in-place forms
INPLACE = [
    ("scatter", (0, [[1, 0, 2]], np.array([[1.0, 2.0, 3.0]])), {}),
    ("scatter", (1, [[2], [0], [1]]), {"value": 1.5}),
    ("scatter_add", (0, [[1, 1, 0], [2, 1, 1]], np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])), {}),
    ("index_add", (0, [2, 0, 2], np.arange(9.0).reshape(3, 3)), {"alpha": 0.5}),
    ("masked_fill", (np.array([[True], [False], [True]]), -1.0), {}),
]


def _args(lib, args):
    """The case's arguments for lib: lists become int64 index tensors, arrays tensors."""
    return [lib.tensor(a, dtype=lib.int64) if isinstance(a, list) else lib.tensor(a) if isinstance(a, np.ndarray) else a
            for a in args]


@pytest.mark.parametrize("case", range(len(INPLACE)), ids=[c[0] for c in INPLACE])
def test_inplace_forms_match_out_of_place(case):
    name, args, kwargs = INPLACE[case]
    x = fibril.tensor(np.arange(9.0).reshape(3, 3))
    y = x.clone()
    version = y._version.value
    assert getattr(y, name + "_")(*_args(fibril, args), **kwargs) is y
    assert y._version.value == version + 1
    expected = getattr(x, name)(*_args(fibril, args), **kwargs).numpy()
    np.testing.assert_array_equal(y.numpy(), expected)
    if torch is not None:
        t = torch.tensor(np.arange(9.0).reshape(3, 3))
        getattr(t, name + "_")(*_args(torch, args), **kwargs)
        np.testing.assert_array_equal(y.numpy(), t.numpy())
    leaf = fibril.tensor(np.zeros((3, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        getattr(leaf, name + "_")(*_args(fibril, args), **kwargs)


def _inplace_chain(lib, x, s):
    y = x * 2
    y.scatter_(0, lib.tensor([[1, 0, 2]]), s[:1, :3])
    y.scatter_add_(1, lib.tensor([[0, 0], [2, 1]]), s[:, :2] * s[:, 2:])
    y.index_add_(0, lib.tensor([2, 2]), s[:, 1:], alpha=0.5)
    y.masked_fill_(lib.tensor([[True], [False], [True]]), 0.25)
    y.scatter_(1, lib.tensor([[2], [0], [1]]), 1.5)
    return y * x


def _inplace_on_a_view(lib, x, s):
    y = x * 1
    y[:, 1:].index_add_(0, lib.tensor([0, 2]), s[:, :2])
    y[1].masked_fill_(lib.tensor([True, False, True]), 3.0)
    y.t().scatter_add_(0, lib.tensor([[2, 0, 1]]), s[1:, 1:])
    return y * y


@pytest.mark.parametrize("program", [_inplace_chain, _inplace_on_a_view], ids=["chain", "view"])
def test_inplace_forms_gradients(program):
    from op_check import check_program

    check_program(program, [(3, 3), (2, 4)])


# ------------------------------------------------------------------------------ masks, flip, triangles
def test_masked_fill_broadcasts_and_blocks_gradient():
    mask = rng.random((1, 4)) > 0.5
    fm = fibril.tensor(mask)
    tm = torch.tensor(mask) if torch is not None else None
    check_op(lambda x: x.masked_fill(fm, -3.0), lambda t: t.masked_fill(tm, -3.0), make_inputs([(3, 4)]),
             numpy_fn=lambda a: np.where(mask, -3.0, a))


def test_masked_fill_takes_the_broadcast_shape_of_x_and_mask():
    """torch's out-of-place masked_fill broadcasts x to the mask too; the gradient sums back."""
    mask = rng.random((2, 1, 4)) > 0.5
    fm = fibril.tensor(mask)
    tm = torch.tensor(mask) if torch is not None else None
    check_op(lambda x: x.masked_fill(fm, 2.0), lambda t: t.masked_fill(tm, 2.0), make_inputs([(3, 1)]),
             numpy_fn=lambda a: np.where(mask, 2.0, a))


def test_masked_fill_keeps_integer_dtype():
    x = fibril.tensor([1, 2, 3])
    out = x.masked_fill(fibril.tensor([True, False, True]), 1.7)
    assert out.dtype == fibril.int64 and out.tolist() == [1, 2, 1]


def test_masked_select():
    mask = rng.random((3, 1)) > 0.3
    fm = fibril.tensor(mask)
    tm = torch.tensor(mask) if torch is not None else None
    check_op(lambda x: x.masked_select(fm), lambda t: t.masked_select(tm), make_inputs([(3, 4)]),
             numpy_fn=lambda a: a[np.broadcast_to(mask, a.shape)])


@pytest.mark.parametrize("shape", [(3, 4), (0, 2), (), (2, 1, 3)])
def test_nonzero(shape):
    a = (rng.random(shape) > 0.5).astype(np.float32) * rng.random(shape)
    out = fibril.tensor(a).nonzero()
    assert out.dtype == fibril.int64
    np.testing.assert_array_equal(out.numpy(), np.argwhere(a))
    np.testing.assert_array_equal(fibril.nonzero(fibril.tensor(a) > 0.5).numpy(), np.argwhere(a > 0.5))
    expected = np.nonzero(a) if a.ndim else (np.zeros(int(a != 0), np.int64),)
    for got, want in zip(fibril.nonzero(fibril.tensor(a), as_tuple=True), expected, strict=True):
        np.testing.assert_array_equal(got.numpy(), want)


def test_empty_results_still_check_indices():
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 1 with size 3"):
        fibril.zeros(0, 3).index_select(1, fibril.tensor([5]))
    assert tuple(fibril.zeros(0, 3).index_select(1, fibril.tensor([2, 0])).shape) == (0, 2)


@pytest.mark.parametrize("dims", [0, (1,), (0, 2), (-1,)])
def test_flip(dims):
    check_op(lambda x: x.flip(dims), lambda t: torch.flip(t, (dims,) if isinstance(dims, int) else dims),
             make_inputs([(2, 3, 4)]), numpy_fn=lambda a: np.flip(a, dims), layout=TRANSPOSED)


@pytest.mark.parametrize("name,diagonal", [("tril", 0), ("tril", -1), ("triu", 0), ("triu", 2)])
def test_triangles(name, diagonal):
    check_op(lambda x: getattr(x, name)(diagonal), lambda t: getattr(torch, name)(t, diagonal),
             make_inputs([(2, 4, 5)]), numpy_fn=lambda a: getattr(np, name)(a, diagonal))


# ------------------------------------------------------------------------------ advanced indexing
def arr(m, values):
    return np.asarray(values, dtype=np.int64) if m is np else m.tensor(np.asarray(values, dtype=np.int64))


GET_CASES = {
    "list": lambda m: ([2, 0, 2],),
    "negative": lambda m: (slice(None), [-1, 1]),
    "pair": lambda m: ([0, 2], [1, 3]),
    "split": lambda m: ([0, 2], slice(None), [1, 4]),
    "broadcast": lambda m: (slice(None), arr(m, [[0], [3]]), arr(m, [1, 2, 4])),
    "ellipsis_int": lambda m: (Ellipsis, 1, [0, 0]),
    "none": lambda m: (None, [1], slice(1, 3)),
    "empty": lambda m: (arr(m, []),),
    "bool_scalar": lambda m: (slice(None), True, [1, 0]),
    "false": lambda m: (False,),
}


@pytest.mark.parametrize("case", list(GET_CASES))
def test_advanced_get(case):
    make = GET_CASES[case]
    ref = lambda a: a[tuple(np.asarray(i) if isinstance(i, list) else i for i in make(np))]  # noqa: E731
    check_op(lambda x: x[make(fibril)], lambda t: t[make(torch)], make_inputs([(3, 4, 5)]), numpy_fn=ref)


def test_bool_mask_get_with_gradient():
    a = make_inputs([(3, 4)])[0]
    mask = a > 0
    fm = fibril.tensor(mask)
    tm = torch.tensor(mask) if torch is not None else None
    check_op(lambda x: x[pick(fm, tm)(x)], lambda t: t[tm], [a], numpy_fn=lambda v: v[mask])
    check_op(lambda x: x[:, fibril.tensor(mask[0])], lambda t: t[:, torch.tensor(mask[0])], [a],
             numpy_fn=lambda v: v[:, mask[0]], layout=TRANSPOSED)


SET_CASES = [
    ((1, slice(None, 2)), 7.0), (([0, 2], [1, 3]), np.arange(5.0)), ((slice(None), [-1, 0]), np.ones((2, 5))),
    (([0, 2], slice(None), [4, 0]), np.ones((2, 1))), ((Ellipsis, [1, 1]), 2.0),
]


@pytest.mark.parametrize("case", range(len(SET_CASES)))
@pytest.mark.parametrize("transposed", [False, True])
def test_setitem(case, transposed):
    index, value = SET_CASES[case]
    a = make_inputs([(3, 4, 5)])[0]
    x = fibril.tensor(np.ascontiguousarray(a.transpose(2, 1, 0))).permute(2, 1, 0) if transposed else fibril.tensor(a)
    version = x._version.value
    x[index] = fibril.tensor(value) if isinstance(value, np.ndarray) else value
    expected = a.copy()
    expected[tuple(np.asarray(i) if isinstance(i, list) else i for i in index)] = value
    np.testing.assert_array_equal(x.numpy(), expected)
    assert x._version.value == version + 1


def test_setitem_empty_and_leading_one_dims():
    for shape, index in [((3, 0, 5), ([0, 2],)), ((3, 0, 5), (slice(None), [], [1])), ((2, 3), ([],))]:
        x = fibril.zeros(*shape)
        x[index] = 1.0
        ref = np.zeros(shape)[tuple(np.asarray(i, np.int64) if isinstance(i, list) else i for i in index)]
        assert tuple(x[index].shape) == ref.shape
    x = fibril.zeros(3, 4)
    x[[0, 2], [1, 3]] = fibril.tensor([[5.0, 6.0]])
    x[1] = fibril.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    np.testing.assert_array_equal(x.numpy(), [[0, 5, 0, 0], [1, 2, 3, 4], [0, 0, 0, 6]])


def test_setitem_bool_mask_and_views_share_the_write():
    a = make_inputs([(4, 3)])[0]
    x = fibril.tensor(a)
    view = x[1:]
    x[x < 0] = 0.0
    np.testing.assert_array_equal(x.numpy(), np.where(a < 0, 0.0, a))
    np.testing.assert_array_equal(view.numpy(), np.where(a < 0, 0.0, a)[1:])


def test_setitem_refuses_leaves_that_require_grad():
    w = fibril.tensor(np.ones((2, 3)), requires_grad=True)
    for index in (0, [0], (slice(None), [True, False, True])):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad is being used in an in-place"):
            w[index] = 1.0
    assert w._version.value == 0
    with fibril.no_grad():
        w[[0]] = 2.0
    np.testing.assert_array_equal(w.detach().numpy(), [[2.0] * 3, [1.0] * 3])


def _set_basic(lib, x, v):
    y = x * 2
    y[1] = v
    y[::2, 1:3] = v[1:3] * v[0]  # broadcast over rows
    y[2, 0] = 7.0
    return y * y


def _set_advanced(lib, x, v):
    y = x * 2
    y[[0, 2], [1, 3]] = v[:2]
    y[:, [3, 0]] = v.reshape(2, 2)[0]  # broadcast over rows
    y[[1, 1]] = 3.0  # a repeated index, a number
    return y * x


def _set_advanced_3d(lib, x, v):
    y = x.reshape(2, 3, 2) * 2
    y[[0, 1], :, [1, 0]] = v[:3]  # advanced dims apart: their broadcast dim goes first
    y[:, [2, 0], [1, 1]] = v[:2] * 5  # adjacent, after a slice: their dim stays in place
    return y * y


def _set_masks_and_increments(lib, x, v):
    y = x * 1
    y[y > 1.2] = v[0]  # a 0-d tensor that requires grad, written to every selected place
    y[[2, 0]] += v[:2].reshape(2, 1)  # getitem, iadd, then setitem
    y[x < 0.9] *= 2
    return y


def _set_base_without_grad(lib, x, v):
    b = lib.zeros(3, 4, dtype=lib.float64)
    b[[0, 2], 1:] = v[:3]
    b[1] = x[0]
    return b * x


SET_PROGRAMS = [_set_basic, _set_advanced, _set_advanced_3d, _set_masks_and_increments, _set_base_without_grad]


@pytest.mark.parametrize("program", SET_PROGRAMS, ids=[p.__name__ for p in SET_PROGRAMS])
@pytest.mark.parametrize("transposed", [False, True])
def test_setitem_gradients(program, transposed):
    from op_check import check_program

    layout = (lambda t: t.T.contiguous().T if t.ndim == 2 else t) if transposed else None
    check_program(program, [(3, 4), (4,)], layout)


def test_setitem_gradient_with_an_empty_index():
    x = fibril.tensor(np.ones((3, 4)), requires_grad=True)
    v = fibril.tensor(np.ones(4), requires_grad=True)
    y = x * 2
    y[[]] = v
    y[:, []] = 5.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 4), 2.0))
    np.testing.assert_array_equal(v.grad.numpy(), np.zeros(4))


# ------------------------------------------------------------------------------ one_hot, embedding
def test_one_hot():
    from fibril.ops.gather import one_hot

    a = np.array([[0, 3], [2, 2]])
    out = one_hot(fibril.tensor(a))
    assert out.dtype == fibril.int64 and tuple(out.shape) == (2, 2, 4)
    np.testing.assert_array_equal(out.numpy(), np.eye(4, dtype=np.int64)[a])
    np.testing.assert_array_equal(one_hot(fibril.tensor(a), 6).numpy(), np.eye(6, dtype=np.int64)[a])
    with pytest.raises(IndexError, match="index 3 is out of bounds"):
        one_hot(fibril.tensor(a), 3)


def test_embedding():
    from fibril.ops.gather import embedding

    fi, ti = idx([[1, 4, 1], [0, 0, 2]])
    check_op(lambda w: embedding(fi, w), lambda w: torch.nn.functional.embedding(ti, w), make_inputs([(5, 3)]),
             numpy_fn=lambda w: w[np.array([[1, 4, 1], [0, 0, 2]])])


# ------------------------------------------------------------------------------ bad inputs
x34 = lambda: fibril.tensor(np.zeros((3, 4)))  # noqa: E731

OOB = IndexError
BAD = [
    (lambda: x34().gather(1, fibril.tensor([[4]])), OOB, r"\[gather\] index 4 is out of bounds for dimension 1 with"),
    (lambda: x34().gather(1, fibril.tensor([[-1]])), OOB, r"index -1 is out of bounds for dimension 1"),
    (lambda: x34().index_select(0, fibril.tensor([0, 3])), OOB, r"\[index_select\] index 3 is out of bounds"),
    (lambda: x34().index_select(0, fibril.tensor([-1])), OOB, r"index -1 is out of bounds"),
    (lambda: x34().index_add(0, fibril.tensor([5]), fibril.ones(1, 4).double()), OOB, r"\[index_add\] index 5"),
    (lambda: x34().index_add(0, fibril.tensor([0, 2]), fibril.ones(1, 4).double()), ValueError,
     r"source of shape \[1, 4\] must have self's shape \[3, 4\] with dim 0 of size 2"),
    (lambda: x34().index_add(1, fibril.tensor([0]), fibril.ones(3, 2).double()), ValueError, r"source of shape \[3, 2\]"),
    (lambda: x34().index_add(0, fibril.tensor([0]), fibril.ones(4).double()), ValueError, r"source of shape \[4\]"),
    (lambda: fibril.zeros(3).index_add(0, fibril.tensor(1), fibril.tensor(5.0)), ValueError, r"source of shape \[\]"),
    (lambda: x34().scatter_add(0, fibril.tensor([[3]]), x34()), OOB, r"\[scatter_add\] index 3 is out of bounds"),
    (lambda: x34()[[0, 3]], OOB, r"index 3 is out of bounds for dimension 0 with size 3"),
    (lambda: x34()[:, [-5]], OOB, r"index -5 is out of bounds for dimension 1 with size 4"),
    (lambda: x34().gather(0, fibril.tensor([[0.0]])), TypeError, r"\[gather\] index must be an int64 tensor"),
    (lambda: x34().index_select(0, fibril.tensor([1.0])), TypeError, r"index must be an int64 or int32 tensor"),
    (lambda: x34()[fibril.tensor([1.0])], TypeError, r"tensors used as indices must be long"),
    (lambda: x34().masked_fill(fibril.tensor([1, 0, 1, 0]), 0.0), TypeError, r"expected a bool tensor as mask"),
    (lambda: x34().masked_fill_(fibril.ones(2, 3, 4) > 0, 0.0), ValueError, r"does not broadcast"),
    (lambda: x34().masked_fill(fibril.ones(3, 5) > 0, 0.0), ValueError, r"cannot be broadcast"),
    (lambda: x34().gather(0, fibril.tensor([0])), ValueError, r"must have as many dims as input"),
    (lambda: fibril.tensor([1.0]).tril(), ValueError, r"at least 2 dimensions"),
    (lambda: x34().flip((0, -2)), ValueError, r"repeated dim"),
    (lambda: x34()[[0], [0], [0]], OOB, r"too many indices"),
]


@pytest.mark.parametrize("case", range(len(BAD)))
def test_bad_inputs(case):
    fn, kind, message = BAD[case]
    with pytest.raises(kind, match=message):
        fn()


def test_bad_setitem_writes_nothing():
    x = fibril.tensor(np.arange(6.0))
    with pytest.raises(IndexError, match="index 6 is out of bounds for dimension 0 with size 6"):
        x[[0, 1, 6]] = -1.0
    np.testing.assert_array_equal(x.numpy(), np.arange(6.0))


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("dtype", ["uint8", "int32", "int64", "bool", "float16", "bfloat16", "float32", "float64"])
def test_numbers_out_of_the_dtypes_range_raise_as_torch(dtype):
    """Advanced setitem, masked_fill(_) and index_fill refuse a number (or a 0-d host tensor of
    another dtype) the dtype cannot hold as torch does (and only then; torch's setitem casts a
    number to float16 or bfloat16 unchecked)."""
    values = [256, -256, -255, 2**31, 3.7, -0.5, float("nan"), float("inf"), 1e20, 65520.0, 3.4e38, 1e39]

    def ops(m):
        x, mask = lambda: m.zeros(2, dtype=getattr(m, dtype)), m.tensor([True, False])

        def as_tensor(v):
            return m.tensor(v, dtype=m.float64 if isinstance(v, float) else m.int64)

        return [lambda v: x().__setitem__(m.tensor([0]), v), lambda v: x().__setitem__(mask, v),
                lambda v: x().masked_fill(mask, v), lambda v: x().masked_fill_(mask, v),
                lambda v: x().masked_fill(mask, as_tensor(v)), lambda v: x().index_fill(0, m.tensor([0]), v),
                lambda v: x().index_fill(0, m.tensor([0]), as_tensor(v))]

    for value in values:
        want = [overflow_raises(op, value) for op in ops(torch)]
        assert [overflow_raises(op, value) for op in ops(fibril)] == want, value


def test_index_reduce_checks_indices_when_source_is_empty():
    with pytest.raises(IndexError, match="out of range"):
        fibril.zeros(0, 3).index_reduce(1, fibril.tensor([5]), fibril.zeros(0, 1), "prod")


# ------------------------------------------------------------------------------ determinism
@pytest.mark.parametrize("op", ["scatter_add", "index_add"])
def test_accumulation_independent_of_threads(op):
    n, cols = 20000, 64
    src = rng.standard_normal((n, cols)).astype(np.float32) * 1e3
    if op == "scatter_add":
        index = rng.integers(0, 7, size=(n, cols))
        run = lambda: fibril.zeros(7, cols).scatter_add(0, fibril.tensor(index), fibril.tensor(src))  # noqa: E731
        expected = np.zeros((7, cols), np.float32)
        np.add.at(expected, (index, np.arange(cols)), src)
    else:
        index = rng.integers(0, 7, size=n)
        run = lambda: fibril.zeros(7, cols).index_add(0, fibril.tensor(index), fibril.tensor(src))  # noqa: E731
        expected = np.zeros((7, cols), np.float32)
        np.add.at(expected, index, src)
    before = fibril.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            fibril.set_num_threads(threads)
            results.append(run().numpy())
    finally:
        fibril.set_num_threads(before)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], expected)  # ascending order along the dim, as np.add.at


# ------------------------------------------------------------------------------ CUDA
def _cu(a, grad=False):
    return fibril.tensor(np.asarray(a), device="cuda", requires_grad=grad)


def _np(t):
    return t.detach().to("cpu").numpy()


@pytest.mark.cuda
class TestCuda:
    """The index kernels on cuda against the CPU ones (and numpy), their bad-index errors,
    and the backward passes that need no elementwise kernel."""

    @pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_])
    @pytest.mark.parametrize("shape,dim", [((3, 4), 0), ((3, 4), 1), ((2, 3, 5), 1), ((7,), 0)])
    def test_gather_scatter(self, shape, dim, dtype):
        r = np.random.default_rng(1)
        x = (r.integers(0, 5, size=shape)).astype(dtype)
        index = r.integers(0, shape[dim], size=shape)
        src = (r.integers(0, 5, size=shape)).astype(dtype)
        xc, ic, sc = fibril.tensor(x), fibril.tensor(index), fibril.tensor(src)
        xd, id_, sd = _cu(x), _cu(index), _cu(src)
        np.testing.assert_array_equal(_np(fibril.gather(xd, dim, id_)), fibril.gather(xc, dim, ic).numpy())
        np.testing.assert_array_equal(_np(xd.scatter(dim, id_, sd)), xc.scatter(dim, ic, sc).numpy())
        if dtype != np.bool_:
            np.testing.assert_array_equal(_np(xd.scatter_add(dim, id_, sd)), xc.scatter_add(dim, ic, sc).numpy())

    def test_strided_and_index_select(self):
        r = np.random.default_rng(2)
        x = r.standard_normal((6, 5)).astype(np.float32)
        xd, xc = _cu(x), fibril.tensor(x)
        index = r.integers(0, 5, size=(5, 3))
        got = fibril.gather(xd.transpose(0, 1), 1, _cu(index))
        np.testing.assert_array_equal(_np(got), fibril.gather(xc.transpose(0, 1), 1, fibril.tensor(index)).numpy())
        rows = np.array([5, 0, 0, 3])
        np.testing.assert_array_equal(_np(fibril.index_select(xd, 0, _cu(rows))), x[rows])
        np.testing.assert_array_equal(_np(fibril.index_select(xd, 1, _cu(rows[:2] % 5))), x[:, rows[:2] % 5])
        np.testing.assert_array_equal(_np(xd[[1, 4]]), x[[1, 4]])
        np.testing.assert_array_equal(_np(xd[:, -1]), x[:, -1])
        np.testing.assert_array_equal(_np(xd[_cu(np.array([-1, 2]))]), x[[-1, 2]])
        mask = x > 0
        np.testing.assert_array_equal(_np(xd[_cu(mask[:, 0])]), x[mask[:, 0]])
        np.testing.assert_array_equal(_np(xd[_cu(mask)]), x[mask])  # the flat positions, no elementwise op
        np.testing.assert_array_equal(_np(fibril.masked_select(xd, _cu(mask))), x[mask])
        np.testing.assert_array_equal(_np(fibril.nonzero(_cu(mask))), np.argwhere(mask))
        y = _cu(x)
        y[_cu(mask)] = 0.0
        np.testing.assert_array_equal(_np(y), np.where(mask, 0, x))

    def test_index_add_and_embedding_backward(self):
        r = np.random.default_rng(3)
        w = r.standard_normal((7, 4)).astype(np.float32)
        ids = np.array([[1, 3, 1], [6, 1, 0]])
        wd = _cu(w, grad=True)
        from fibril.ops.gather import embedding

        out = embedding(_cu(ids), wd)
        np.testing.assert_array_equal(_np(out), w[ids])
        g = r.standard_normal((2, 3, 4)).astype(np.float32)
        out.backward(_cu(g))
        want = np.zeros_like(w)
        np.add.at(want, ids.reshape(-1), g.reshape(-1, 4))
        np.testing.assert_allclose(_np(wd.grad), want, rtol=1e-6, atol=1e-6)
        base = np.zeros((5, 3), np.float32)
        src = r.standard_normal((4, 3)).astype(np.float32)
        got = fibril.index_add(_cu(base), 0, _cu(np.array([0, 2, 0, 4])), _cu(src))
        want = base.copy()
        np.add.at(want, [0, 2, 0, 4], src)
        np.testing.assert_allclose(_np(got), want, rtol=1e-6, atol=1e-6)

    def test_gather_backward(self):
        x = np.arange(12, dtype=np.float32).reshape(3, 4)
        index = np.array([[0, 0], [3, 1], [2, 2]])
        xd = _cu(x, grad=True)
        fibril.gather(xd, 1, _cu(index)).backward(_cu(np.ones((3, 2), np.float32)))
        want = np.zeros_like(x)
        np.add.at(want, (np.repeat(np.arange(3), 2), index.reshape(-1)), 1)
        np.testing.assert_array_equal(_np(xd.grad), want)

    def test_bad_indices_raise(self):
        xd = _cu(np.zeros((3, 4), np.float32))
        with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 1 with size 4"):
            fibril.gather(xd, 1, _cu(np.array([[0, 4], [1, 1], [0, 0]])))
        with pytest.raises(IndexError, match="index -1 is out of bounds"):
            xd.scatter_add(0, _cu(np.array([[0, 1, -1, 0]])), _cu(np.ones((1, 4), np.float32)))
        with pytest.raises(IndexError, match="index 3 is out of bounds"):
            fibril.index_select(xd, 0, _cu(np.array([0, 3])))
        with pytest.raises(IndexError):
            xd[_cu(np.array([0, -4]))]
        with pytest.raises(IndexError):
            fibril.index_add(xd, 0, _cu(np.array([5])), _cu(np.ones((1, 4), np.float32)))
        fibril.cuda.synchronize()  # the device is still usable
        np.testing.assert_array_equal(_np(xd), np.zeros((3, 4), np.float32))

    def test_mixed_devices(self):
        x = np.zeros((3, 4), np.float32)
        with pytest.raises(RuntimeError, match="same device"):
            fibril.gather(_cu(x), 1, fibril.tensor(np.zeros((3, 4), np.int64)))
        with pytest.raises(RuntimeError, match="same device"):
            _cu(x).scatter(1, _cu(np.zeros((3, 4), np.int64)), fibril.tensor(x))
