"""Ops composed from the join, gather, index and creation families: stacks and splits,
block_diag, meshgrid, cartesian_prod, rot90, repeat_interleave; take_along_dim, take,
argwhere, unique(_consecutive), bincount, searchsorted, bucketize, masked_scatter; logspace,
tril/triu_indices; movedim with several dims, swapaxes, view_as/reshape_as. Values against
numpy (float64), PyTorch for edge cases and gradients, and gradcheck."""

import itertools
import math
import warnings

import numpy as np
import pytest

import fibril
from op_check import check_op, make_inputs, torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def assert_same(got, want):
    """fibril tensors equal numpy arrays (or torch tensors): values, shapes, integer/float kind."""
    got, want = (got, want) if isinstance(got, (tuple, list)) else ((got,), (want,))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = w.numpy() if hasattr(w, "numpy") else np.asarray(w)
        assert tuple(g.shape) == w.shape, (g.shape, w.shape)
        np.testing.assert_array_equal(g.detach().numpy(), w)


# ------------------------------------------------------------------------------ stacks
STACKS = [("vstack", np.vstack), ("hstack", np.hstack), ("dstack", np.dstack), ("column_stack", np.column_stack),
          ("row_stack", np.vstack)]


@pytest.mark.parametrize("name,numpy_fn", STACKS)
@pytest.mark.parametrize("shapes", [[(), ()], [(3,), (3,)], [(2, 3), (2, 3)], [(2, 3, 2), (2, 3, 2)]])
def test_stacks_match_numpy(name, numpy_fn, shapes):
    arrays = make_inputs(shapes)
    check_op(lambda *ts: getattr(fibril, name)(ts), lambda *ts: getattr(torch, name)(ts), arrays,
             numpy_fn=lambda *a: numpy_fn(a))


def test_stacks_of_mixed_shapes_and_dtypes():
    assert_same(fibril.hstack([fibril.tensor([1, 2]), fibril.tensor(3)]), np.array([1, 2, 3]))
    out = fibril.column_stack([fibril.tensor(1.0), fibril.tensor([2.0]), fibril.ones(1, 2)])
    assert_same(out, np.array([[1.0, 2, 1, 1]]))
    assert fibril.vstack([fibril.tensor([1]), fibril.tensor([2.5])]).dtype == fibril.float32
    for name, _ in STACKS:
        with pytest.raises(ValueError, match=f"{name.replace('row_', 'v')} expects a non-empty"):
            getattr(fibril, name)([])
    with pytest.raises(ValueError, match=r"\[1, 3\] and \[1, 2\]"):
        fibril.vstack([fibril.zeros(3), fibril.zeros(2)])
    x = fibril.tensor(1.0)
    assert [t.shape for t in fibril.atleast_3d(x, fibril.zeros(4), fibril.zeros(2, 5))] == [(1, 1, 1), (1, 4, 1),
                                                                                              (2, 5, 1)]
    assert fibril.atleast_2d(fibril.zeros(4)).shape == (1, 4) and fibril.atleast_1d(x).shape == (1,)
    assert isinstance(fibril.atleast_1d([x]), tuple)


# ------------------------------------------------------------------------------ splits
@pytest.mark.parametrize("spec", [1, 3, 4, 7, [2], [1, 10, 3, -2], (-10,), [], [0, 0, 6]])
@pytest.mark.parametrize("dim", [0, 1])
def test_tensor_split_matches_numpy(spec, dim):
    x = np.arange(42.0).reshape(6, 7)
    if dim == 1 and isinstance(spec, list):
        spec = [s + 1 for s in spec]
    pieces = fibril.tensor(x).tensor_split(spec, dim)
    assert_same(pieces, np.array_split(x, spec, axis=dim))
    if torch is not None:
        assert_same(pieces, torch.tensor_split(torch.tensor(x), spec, dim))


def test_tensor_split_takes_tensors_and_returns_views():
    x = fibril.arange(6.0)
    assert_same(fibril.tensor_split(x, fibril.tensor(2)), np.split(np.arange(6.0), 2))
    assert_same(fibril.tensor_split(x, fibril.tensor([2])), np.split(np.arange(6.0), [2]))
    first = fibril.tensor_split(x, 3)[0]
    first.add_(10)
    assert x[0].item() == 10
    with pytest.raises(ValueError, match="larger than 0, got 0"):
        fibril.tensor_split(x, 0)
    with pytest.raises(ValueError, match=r"shape \[1, 1\]"):
        fibril.tensor_split(x, fibril.tensor([[2]]))
    with pytest.raises(TypeError, match="int64"):
        fibril.tensor_split(x, fibril.tensor(2.0))
    with pytest.raises(ValueError, match="0 dims"):
        fibril.tensor_split(fibril.tensor(1.0), 1)


@pytest.mark.parametrize("name,shape,sections", [("hsplit", (2, 6), 3), ("hsplit", (6,), [1, 4]),
                                                 ("vsplit", (4, 3), [3]), ("dsplit", (2, 2, 4), 2)])
def test_hsplit_vsplit_dsplit(name, shape, sections):
    x = np.arange(math.prod(shape), dtype=np.float64).reshape(shape)
    assert_same(getattr(fibril.tensor(x), name)(sections), getattr(np, name)(x, sections))
    check_op(lambda t: getattr(fibril, name)(t, sections)[-1], lambda t: getattr(torch, name)(t, sections)[-1], [x])


def test_split_errors_name_the_sizes():
    with pytest.raises(ValueError, match="dimension 3 is not divisible by the split_size 2"):
        fibril.hsplit(fibril.ones(2, 3), 2)
    with pytest.raises(ValueError, match=r"at least 2 dimension\(s\), got shape \[6\]"):
        fibril.vsplit(fibril.ones(6), 2)
    with pytest.raises(ValueError, match=r"at least 3 dimension\(s\), got shape \[2, 2\]"):
        fibril.dsplit(fibril.ones(2, 2), 2)


# ------------------------------------------------------------------------------ block_diag, meshgrid, cartesian_prod
def test_block_diag():
    a, b, c = make_inputs([(2, 3), (3,), (1, 2)])
    want = np.zeros((4, 8))
    want[:2, :3], want[2, 3:6], want[3, 6:] = a, b, c
    check_op(lambda *ts: fibril.block_diag(*ts), lambda *ts: torch.block_diag(*ts), [a, b, c],
             numpy_fn=lambda *_: want)
    out = fibril.block_diag(fibril.tensor(1), fibril.tensor([2.0, 3]), fibril.ones(2, 0), fibril.ones(0, 2))
    assert_same(out, np.array([[1.0, 0, 0, 0, 0], [0, 2, 3, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]))
    assert out.dtype == fibril.float32 and fibril.block_diag().shape == (1, 0)
    with pytest.raises(ValueError, match=r"input 1 has shape \[1, 1, 1\]"):
        fibril.block_diag(fibril.ones(1), fibril.ones(1, 1, 1))


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_matches_numpy(indexing):
    a, b, c = make_inputs([(2,), (3,), (4,)])
    grids = fibril.meshgrid(fibril.tensor(a), fibril.tensor(b), fibril.tensor(c), indexing=indexing)
    assert_same(grids, np.meshgrid(a, b, c, indexing=indexing))
    assert_same(fibril.meshgrid([fibril.tensor(a), fibril.tensor(2.0, dtype=fibril.float64)], indexing=indexing),
                np.meshgrid(a, np.array([2.0]), indexing=indexing))
    for k in range(3):
        check_op(lambda *ts: fibril.meshgrid(*ts, indexing=indexing)[k],
                 lambda *ts: torch.meshgrid(*ts, indexing=indexing)[k], [a, b, c])


def test_meshgrid_warns_without_indexing_as_torch():
    x, y = fibril.tensor([1, 2]), fibril.tensor([3, 4, 5])
    with pytest.warns(UserWarning, match="indexing argument"):
        grids = fibril.meshgrid(x, y)
    assert grids[0].shape == (2, 3)
    if torch is not None:
        with pytest.warns(UserWarning, match="indexing argument"):
            torch.meshgrid(torch.tensor([1, 2]), torch.tensor([3, 4, 5]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fibril.meshgrid(x, y, indexing="ij")
    with pytest.raises(ValueError, match="'xy' or 'ij', got 'ab'"):
        fibril.meshgrid(x, indexing="ab")
    with pytest.raises(ValueError, match=r"0-d or 1-d tensors, got shape \[2, 2\]"):
        fibril.meshgrid(fibril.ones(2, 2), indexing="ij")
    with pytest.raises(TypeError, match="int64 on cpu and float32"):
        fibril.meshgrid(x, fibril.ones(2), indexing="ij")
    with pytest.raises(ValueError, match="non-empty"):
        fibril.meshgrid(indexing="ij")


def test_cartesian_prod():
    a, b, c = [1, 2], [3, 4, 5], [6, 7]
    out = fibril.cartesian_prod(fibril.tensor(a), fibril.tensor(b), fibril.tensor(c))
    assert_same(out, np.array(list(itertools.product(a, b, c))))
    assert_same(fibril.cartesian_prod(fibril.tensor(a)), np.array(a))
    x, y = make_inputs([(3,), (2,)])
    check_op(lambda s, t: fibril.cartesian_prod(s, t), lambda s, t: torch.cartesian_prod(s, t), [x, y])
    with pytest.raises(ValueError, match=r"1-d tensors, got shape \[\]"):
        fibril.cartesian_prod(fibril.tensor(1), fibril.tensor([3, 4]))


# ------------------------------------------------------------------------------ rot90, repeat_interleave
@pytest.mark.parametrize("k", [-5, -1, 0, 1, 2, 3, 4, 6])
@pytest.mark.parametrize("dims", [(0, 1), (1, 0), (2, -3), (1, 2)])
def test_rot90_matches_numpy(k, dims):
    x = make_inputs([(2, 3, 4)])[0]
    check_op(lambda t: t.rot90(k, dims), lambda t: t.rot90(k, dims), [x], numpy_fn=lambda a: np.rot90(a, k, dims))


def test_rot90_errors():
    x = fibril.zeros(2, 3)
    with pytest.raises(ValueError, match="rotation dims == 2, but got dims = 1"):
        fibril.rot90(x, 1, [0])
    with pytest.raises(ValueError, match="dim0 = 0 and dim1 = 0"):
        fibril.rot90(x, 1, [0, -2])
    with pytest.raises(ValueError, match=r"total dims >= 2, but got shape \[3\]"):
        fibril.rot90(fibril.zeros(3))
    with pytest.raises(IndexError, match="Dimension out of range"):
        fibril.rot90(x, 1, [0, 2])


@pytest.mark.parametrize("repeats,dim", [(2, None), (3, 0), (2, 1), (0, 1), ([1, 2], 0), ([0, 3, 1], 1),
                                         ([2], 0), ([1, 0, 2, 3, 0, 1], None)])
def test_repeat_interleave_matches_numpy(repeats, dim):
    x = make_inputs([(2, 3)])[0]
    as_tensor = (lambda lib: lib.tensor(repeats)) if isinstance(repeats, list) else (lambda lib: repeats)
    check_op(lambda t: fibril.repeat_interleave(t, as_tensor(fibril), dim),
             lambda t: torch.repeat_interleave(t, as_tensor(torch), dim), [x],
             numpy_fn=lambda a: np.repeat(a, repeats, dim))


def test_repeat_interleave_forms_and_errors():
    assert fibril.repeat_interleave(fibril.tensor([2, 0, 1])).tolist() == [0, 0, 2]
    assert fibril.tensor(3.0).repeat_interleave(2).tolist() == [3.0, 3.0]
    x = fibril.tensor([[1, 2], [3, 4]])
    out = fibril.repeat_interleave(x, fibril.tensor([1, 2]), dim=0, output_size=3)
    assert out.tolist() == [[1, 2], [3, 4], [3, 4]]
    with pytest.raises(ValueError, match=r"repeats of shape \[3\] and input of shape \[2, 2\] \(dim 0\)"):
        fibril.repeat_interleave(x, fibril.tensor([1, 2, 3]), dim=0)
    with pytest.raises(ValueError, match="can not be negative"):
        fibril.repeat_interleave(x, fibril.tensor([1, -2]), dim=0)
    with pytest.raises(ValueError, match="non-negative, got -1"):
        fibril.repeat_interleave(x, -1)
    with pytest.raises(ValueError, match=r"float32 of shape \[2\]"):
        fibril.repeat_interleave(x, fibril.tensor([1.0, 2.0]), dim=0)


# ------------------------------------------------------------------------------ take_along_dim, take, argwhere
@pytest.mark.parametrize("x_shape,i_shape,dim", [((3, 4), (3, 2), 1), ((3, 4), (1, 4), 0), ((3, 4), (3, 1), 1),
                                                 ((1, 4), (3, 2), 1), ((2, 3, 4), (2, 5, 1), 1), ((3, 4), (5,), None)])
def test_take_along_dim(x_shape, i_shape, dim):
    x = make_inputs([x_shape])[0]
    size = x.size if dim is None else x_shape[dim]
    # Negative indices count from the end (torch allows them only with a dim).
    indices = np.random.default_rng(0).integers(0 if dim is None else -size, size, i_shape)
    broadcast = None if dim is None else np.broadcast_shapes(
        x_shape[:dim] + (1,) + x_shape[dim + 1:], i_shape[:dim] + (1,) + i_shape[dim + 1:])

    def numpy_fn(a):
        if dim is None:
            return np.take_along_axis(a.ravel(), indices.ravel() % size, 0)
        a = np.broadcast_to(a, broadcast[:dim] + (x_shape[dim],) + broadcast[dim + 1:])
        i = np.broadcast_to(indices % size, broadcast[:dim] + (i_shape[dim],) + broadcast[dim + 1:])
        return np.take_along_axis(a, i, dim)

    check_op(lambda t: fibril.take_along_dim(t, fibril.tensor(indices), dim),
             lambda t: torch.take_along_dim(t, torch.tensor(indices), dim), [x], numpy_fn=numpy_fn)


def test_take_along_dim_negative_indices_and_errors():
    x = fibril.arange(6.0).reshape(2, 3)
    assert fibril.take_along_dim(x, fibril.tensor([-1, -6])).tolist() == [5, 0]
    with pytest.raises(TypeError, match="int64, got float32"):
        fibril.take_along_dim(x, fibril.zeros(2, 1), 1)
    with pytest.raises(ValueError, match=r"\[2, 3\] and \[1\]"):
        fibril.take_along_dim(x, fibril.tensor([0]), 1)
    with pytest.raises(ValueError, match=r"\[2, 3\].*\[3, 1\].*outside dim 1"):
        fibril.take_along_dim(x, fibril.zeros(3, 1, dtype=fibril.int64), 1)


def test_take_and_argwhere():
    x = make_inputs([(2, 3)])[0]
    indices = np.array([[-1, 0], [3, 2]])
    check_op(lambda t: fibril.take(t, fibril.tensor(indices)), lambda t: torch.take(t, torch.tensor(indices)), [x],
             numpy_fn=lambda a: np.take(a, indices))
    assert fibril.tensor(3.0).take(fibril.tensor(0)).shape == ()
    with pytest.raises(IndexError):
        fibril.take(fibril.tensor(x), fibril.tensor([6]))
    with pytest.raises(TypeError, match="int64"):
        fibril.take(fibril.tensor(x), fibril.tensor([True]))
    y = np.array([[0, 1, 0], [2, 0, 3]])
    assert_same(fibril.argwhere(fibril.tensor(y)), np.argwhere(y))
    assert fibril.tensor(3.0).argwhere().shape == (1, 0)


# ------------------------------------------------------------------------------ unique, unique_consecutive, bincount
@pytest.mark.parametrize("shape,dim", [((11,), None), ((3, 4), None), ((6, 3), 0), ((3, 6), 1), ((4, 2, 3), 2),
                                       ((0,), None), ((0, 2), 0), ((), None)])
def test_unique_matches_numpy(shape, dim):
    x = np.random.default_rng(2).integers(0, 3, shape)
    if len(shape) > 1 and dim is not None and x.shape[dim] > 2:  # some repeated slices
        np.moveaxis(x, dim, 0)[-1] = np.moveaxis(x, dim, 0)[0]
    values, inverse, counts = fibril.unique(fibril.tensor(x), return_inverse=True, return_counts=True, dim=dim)
    want = np.unique(x, return_inverse=True, return_counts=True, axis=dim)
    assert_same(values, want[0])
    np.testing.assert_array_equal(inverse.numpy().ravel(), want[1].ravel())
    assert_same(counts, want[2])
    assert inverse.shape == (x.shape if dim is None else (x.shape[dim],))
    assert_same(fibril.tensor(x).unique(dim=dim), want[0])


@needs_torch
def test_unique_nan_bool_and_float_as_torch():
    for x in ([3.0, math.nan, 1, math.nan, 3], [True, False, True], [2.5, -1.0, 2.5]):
        got = fibril.unique(fibril.tensor(x), return_inverse=True, return_counts=True)
        want = torch.unique(torch.tensor(x), return_inverse=True, return_counts=True)
        assert_same(got, want)
    assert not fibril.unique(fibril.tensor([1.0, 2.0], requires_grad=True)).requires_grad
    with pytest.raises(ValueError, match=r"shape \[2, 0\] has 0-sized dimensions other than dim 0"):
        fibril.unique(fibril.zeros(2, 0), dim=0)


def unique_consecutive_reference(x):
    values, inverse, counts = [], [], []
    for v in x.tolist():
        if not values or values[-1] != v:
            values.append(v)
            counts.append(0)
        counts[-1] += 1
        inverse.append(len(values) - 1)
    return np.array(values), np.array(inverse).reshape(x.shape), np.array(counts)


def test_unique_consecutive():
    x = np.array([1, 1, 2, 2, 3, 1, 1, 4])
    got = fibril.tensor(x).unique_consecutive(return_inverse=True, return_counts=True)
    assert_same(got, unique_consecutive_reference(x))
    rows = np.array([[1, 1], [1, 1], [2, 2], [1, 1]])
    values, inverse, counts = fibril.unique_consecutive(fibril.tensor(rows), True, True, dim=0)
    assert_same((values, inverse, counts), (rows[[0, 2, 3]], np.array([0, 0, 1, 2]), np.array([2, 1, 1])))
    assert_same(fibril.unique_consecutive(fibril.tensor(x.reshape(2, 4))), np.array([1, 2, 3, 1, 4]))


@pytest.mark.parametrize("weights", [None, np.float32, np.float64, np.int64])
@pytest.mark.parametrize("values,minlength", [([0, 2, 2, 5], 0), ([0, 2, 2], 6), ([], 3), ([], 0)])
def test_bincount_matches_numpy(weights, values, minlength):
    x = np.array(values, dtype=np.int64)
    w = None if weights is None else np.arange(1, len(values) + 1).astype(weights)
    got = fibril.bincount(fibril.tensor(x), None if w is None else fibril.tensor(w), minlength)
    want = np.bincount(x, w, minlength)
    np.testing.assert_allclose(got.numpy(), want)
    expected_dtype = {None: fibril.int64, np.float32: fibril.float32}.get(weights, fibril.float64)
    assert got.dtype == expected_dtype


def test_bincount_errors_and_uint8():
    assert fibril.tensor([0, 2], dtype=fibril.uint8).bincount().tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match=r"non-negative integral inputs, got shape \[3\]"):
        fibril.bincount(fibril.tensor([0, -2, 2]))
    with pytest.raises(ValueError, match=r"got shape \[1, 3\]"):
        fibril.bincount(fibril.tensor([[0, 2, 2]]))
    with pytest.raises(TypeError, match="float32"):
        fibril.bincount(fibril.tensor([0.0, 2.0]))
    with pytest.raises(ValueError, match="minlength should be >= 0, got -1"):
        fibril.bincount(fibril.tensor([0, 2]), minlength=-1)
    with pytest.raises(ValueError, match=r"shapes \[1\] and \[2\]"):
        fibril.bincount(fibril.tensor([0, 2]), weights=fibril.tensor([1.0]))


# ------------------------------------------------------------------------------ searchsorted, bucketize
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.float64])
def test_searchsorted_matches_numpy(side, dtype):
    seq = np.array([1, 3, 3, 5, 7, 9], dtype)
    values = np.array([[3, 6, 9, 0], [10, 1, 5, 3]], dtype)
    got = fibril.searchsorted(fibril.tensor(seq), fibril.tensor(values), side=side)
    assert_same(got, np.searchsorted(seq, values, side))
    assert got.dtype == fibril.int64
    got = fibril.searchsorted(fibril.tensor(seq), fibril.tensor(values), right=side == "right", out_int32=True)
    assert got.dtype == fibril.int32
    # Batched: each line of the sequence serves the same line of values.
    lines = np.sort(np.random.default_rng(0).integers(0, 9, (3, 5)), 1).astype(dtype)
    queries = np.random.default_rng(1).integers(-1, 10, (3, 4)).astype(dtype)
    want = np.stack([np.searchsorted(s, q, side) for s, q in zip(lines, queries)])
    assert_same(fibril.searchsorted(fibril.tensor(lines), fibril.tensor(queries), side=side), want)
    # bucketize(v, b, right) is searchsorted(b, v, right)
    assert_same(fibril.bucketize(fibril.tensor(values), fibril.tensor(seq), right=side == "right"),
                np.searchsorted(seq, values, side))


def test_searchsorted_forms_and_errors():
    seq = fibril.tensor([1, 3, 5, 7, 9])
    assert fibril.searchsorted(seq, 3).shape == () and fibril.searchsorted(seq, 3).item() == 1
    assert fibril.bucketize(6, seq).item() == 3
    assert fibril.searchsorted(seq, fibril.tensor([3.5])).tolist() == [2]
    assert fibril.searchsorted(fibril.tensor([]), fibril.tensor([3.0])).tolist() == [0]
    unsorted = fibril.tensor([9, 1, 5])
    assert fibril.searchsorted(unsorted, fibril.tensor([4, 10]), sorter=fibril.tensor([1, 2, 0])).tolist() == [1, 3]
    with pytest.raises(ValueError, match="can't be set to opposites"):
        fibril.searchsorted(seq, 3, side="left", right=True)
    with pytest.raises(ValueError, match="'left' or 'right' but got up"):
        fibril.searchsorted(seq, 3, side="up")
    with pytest.raises(ValueError, match=r"boundaries tensor \[2, 2\] and input value tensor \[3, 1\]"):
        fibril.searchsorted(fibril.zeros(2, 2), fibril.zeros(3, 1))
    with pytest.raises(ValueError, match="positive dimension"):
        fibril.searchsorted(fibril.tensor(1), fibril.tensor([3]))
    with pytest.raises(ValueError, match=r"1 dimension, got shape \[1, 1\]"):
        fibril.bucketize(fibril.tensor([3]), fibril.tensor([[3]]))


# ------------------------------------------------------------------------------ masked_scatter
def masked_scatter_reference(x, mask, source):
    out = np.array(np.broadcast_to(x, np.broadcast_shapes(x.shape, mask.shape)))
    mask = np.broadcast_to(mask, out.shape)
    out[mask] = source.ravel()[:mask.sum()]
    return out


@pytest.mark.parametrize("x_shape,mask_shape", [((2, 3), (2, 3)), ((2, 3), (3,)), ((3,), (2, 3)), ((2, 3), ())])
def test_masked_scatter(x_shape, mask_shape):
    x, source = make_inputs([x_shape, (7,)])
    mask = np.random.default_rng(3).random(mask_shape) < 0.5
    check_op(lambda t, s: t.masked_scatter(fibril.tensor(mask), s),
             lambda t, s: t.masked_scatter(torch.tensor(mask), s), [x, source],
             numpy_fn=lambda a, s: masked_scatter_reference(a, mask, s))


def test_masked_scatter_in_place_empty_and_errors():
    x = fibril.arange(6.0).reshape(2, 3)
    mask = fibril.tensor([[True, False, True], [False, True, True]])
    x.masked_scatter_(mask, fibril.tensor([10.0, 20, 30, 40]))
    assert x.tolist() == [[10, 1, 20], [3, 30, 40]]
    none = fibril.zeros(3, dtype=fibril.bool)
    assert fibril.arange(3.0).masked_scatter(none, fibril.tensor([])).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"source of shape \[3\] has fewer elements than the 4 ones"):
        x.masked_scatter(mask, fibril.tensor([1.0, 2, 3]))
    with pytest.raises(TypeError, match="float32 and int64"):
        x.masked_scatter(mask, fibril.tensor([1, 2, 3, 4]))
    with pytest.raises(TypeError, match="bool tensor as mask"):
        x.masked_scatter(mask.int(), fibril.tensor([1.0, 2, 3, 4]))


# ------------------------------------------------------------------------------ creation, views
def test_logspace_and_triangle_indices():
    np.testing.assert_allclose(fibril.logspace(-1, 2, 7).numpy(), np.logspace(-1, 2, 7), rtol=1e-6)
    np.testing.assert_allclose(fibril.logspace(0, 3, 4, base=2, dtype=fibril.float64).numpy(), [1, 2, 4, 8])
    assert fibril.logspace(0, 2, 3, dtype=fibril.int64).tolist() == [1, 10, 100]
    assert fibril.logspace(0, 1, 0).shape == (0,)
    with pytest.raises(ValueError, match="non-negative, got -1"):
        fibril.logspace(0, 1, -1)
    for row, col, offset in [(3, 3, 0), (3, 4, 1), (4, 3, -1), (0, 4, 0), (5, 2, 3)]:
        assert_same(fibril.tril_indices(row, col, offset), np.stack(np.tril_indices(row, offset, col)))
        assert_same(fibril.triu_indices(row, col, offset), np.stack(np.triu_indices(row, offset, col)))
        if torch is not None:
            assert_same(fibril.tril_indices(row, col, offset), torch.tril_indices(row, col, offset))
            assert_same(fibril.triu_indices(row, col, offset), torch.triu_indices(row, col, offset))
    assert fibril.tril_indices(3, 3).dtype == fibril.int64
    assert fibril.triu_indices(3, 3, dtype=fibril.int32).dtype == fibril.int32
    with pytest.raises(ValueError, match="non-negative, got -1 and 3"):
        fibril.tril_indices(-1, 3)


@pytest.mark.parametrize("source,destination", [(0, 2), (-1, 0), ((0, 1), (2, 0)), ([2, 0], [0, 1]), ((), ())])
def test_movedim_moveaxis(source, destination):
    x = make_inputs([(2, 3, 4)])[0]
    check_op(lambda t: fibril.movedim(t, source, destination), lambda t: torch.movedim(t, source, destination), [x],
             numpy_fn=lambda a: np.moveaxis(a, source, destination))
    assert_same(fibril.tensor(x).moveaxis(source, destination), np.moveaxis(x, source, destination))


def test_movedim_errors_swapaxes_and_view_as():
    x = fibril.zeros(2, 3, 4)
    with pytest.raises(ValueError, match="repeated dim in `source`"):
        fibril.movedim(x, (0, 0), (2, 0))
    with pytest.raises(ValueError, match="same number of dims"):
        fibril.movedim(x, (0, 1), (2,))
    assert fibril.movedim(fibril.tensor(1.0), 0, 0).shape == ()
    a = make_inputs([(2, 3, 4)])[0]
    check_op(lambda t: fibril.swapaxes(t, 0, -1), lambda t: torch.swapaxes(t, 0, -1), [a],
             numpy_fn=lambda v: np.swapaxes(v, 0, -1))
    assert fibril.tensor(a).swapdims(1, 2).shape == fibril.swapdims(fibril.tensor(a), 1, 2).shape == (2, 4, 3)
    other = fibril.zeros(6, 4)
    view = fibril.tensor(a).view_as(other)
    assert view.shape == (6, 4)
    check_op(lambda t: t.view_as(fibril.zeros(6, 4)), lambda t: t.view_as(torch.zeros(6, 4)), [a])
    check_op(lambda t: t.transpose(0, 1).reshape_as(fibril.zeros(3, 8)),
             lambda t: t.transpose(0, 1).reshape_as(torch.zeros(3, 8)), [a])
    with pytest.raises(RuntimeError):
        fibril.tensor(a).transpose(0, 1).view_as(fibril.zeros(24))


# ------------------------------------------------------------------------------ devices
@pytest.mark.cuda
def test_composed_ops_on_cuda_match_cpu():
    x = make_inputs([(4, 6)])[0]
    seq = np.sort(x[0])
    cases = [
        lambda lib, t: lib.vstack([t, t]),
        lambda lib, t: lib.block_diag(t, t[:2]),
        lambda lib, t: lib.rot90(t, 3),
        lambda lib, t: lib.repeat_interleave(t, lib.tensor([1, 0, 2, 3], device=t.device), dim=0),
        lambda lib, t: lib.take_along_dim(t, lib.tensor([[0], [5], [-1], [2]], device=t.device), 1),
        lambda lib, t: lib.take(t, lib.tensor([[1, -1]], device=t.device)),
        lambda lib, t: lib.unique(lib.floor(t), return_inverse=True)[1],
        lambda lib, t: lib.bincount(lib.floor(t + 2).long().flatten(), minlength=6),
        lambda lib, t: lib.searchsorted(lib.tensor(seq, device=t.device), t),
        lambda lib, t: t.masked_scatter(t > 0, lib.flip(t, [0])),
        lambda lib, t: lib.cartesian_prod(t[0], t[1]),
    ]
    for fn in cases:
        want = fn(fibril, fibril.tensor(x)).numpy()
        got = fn(fibril, fibril.tensor(x, device="cuda"))
        assert got.device.startswith("cuda")
        np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-12)


def test_block_diag_promotes_zero_dim_tensors_as_torch():
    f32, f64 = fibril.float32, fibril.float64
    cases = [((fibril.ones(2), fibril.tensor(1.0, dtype=f64)), f32),
             ((fibril.tensor([1, 2]), fibril.tensor(1.0)), f32),
             ((fibril.tensor(1.0), fibril.tensor(2.0, dtype=f64)), f64),
             ((fibril.tensor(1.0), fibril.tensor(2.0, dtype=f64), fibril.ones(1, dtype=fibril.float16)), fibril.float16),
             ((fibril.tensor([1, 2], dtype=fibril.int32), fibril.tensor(3)), fibril.int32)]
    for tensors, dtype in cases:
        assert fibril.block_diag(*tensors).dtype == dtype
    out = fibril.block_diag(fibril.tensor([1.5, 2.0]), fibril.tensor(3.0, dtype=f64))
    np.testing.assert_array_equal(out.numpy(), [[1.5, 2, 0], [0, 0, 3]])


def test_chunk_of_an_empty_dim():
    assert [tuple(c.shape) for c in fibril.chunk(fibril.zeros(5, 0), 4, dim=1)] == [(5, 0)] * 4
    if torch is not None:
        for shape, dim in [((0,), 0), ((1,), 0), ((2,), 0), ((3,), 0), ((4, 0), 1), ((0, 3), 0), ((7, 2), 0)]:
            for chunks in [1, 2, 3, 4]:
                got = [tuple(c.shape) for c in fibril.chunk(fibril.zeros(shape), chunks, dim)]
                assert got == [tuple(c.shape) for c in torch.chunk(torch.zeros(shape), chunks, dim)]


# ------------------------------------------------------------------------------ fuzzing against torch: regressions
def _from_torch(t):
    """A fibril tensor with torch tensor t's values and dtype (bfloat16 through float32)."""
    if t.dtype == torch.bfloat16:
        return fibril.tensor(t.float().numpy()).to(fibril.bfloat16)
    return fibril.tensor(t.numpy())


def _same_as_torch(got, want):
    got, want = (got, want) if isinstance(want, (tuple, list)) else ((got,), (want,))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert tuple(g.shape) == tuple(w.shape), (g.shape, w.shape)
        assert g.dtype.name == str(w.dtype).replace("torch.", ""), (g.dtype, w.dtype)
        g = g.to(fibril.float32) if g.dtype == fibril.bfloat16 else g
        w = w.float() if w.dtype == torch.bfloat16 else w
        np.testing.assert_array_equal(g.detach().numpy(), w.detach().numpy())


@needs_torch
def test_cat_takes_its_shape_from_the_first_tensor_that_is_not_a_legacy_empty():
    # the (0,) tensor used to set the shape, so that (2, 0) "did not match"
    shapes_dtypes = [((0,), "bfloat16"), ((2, 0), "bfloat16"), ((0, 0), "float16")]
    ts = [torch.zeros(s, dtype=getattr(torch, d)) for s, d in shapes_dtypes]
    _same_as_torch(fibril.cat([_from_torch(t) for t in ts]), torch.cat(ts))
    _same_as_torch(fibril.cat([fibril.zeros(0)], -3), torch.cat([torch.zeros(0)], -3))  # dim never checked
    with pytest.raises(ValueError, match=r"zero-dimensional tensor \(at position 1\)"):
        fibril.cat([fibril.zeros(0), fibril.tensor(1.0)], 1)


@needs_torch
def test_split_chunk_narrow_check_sizes_and_dims_as_torch():
    with pytest.raises(ValueError, match="non-negative, but got split_size=-1"):
        fibril.split(fibril.zeros(0, 2), -1)  # a negative size for an empty dim used to pass
    with pytest.raises(ValueError, match="can only be 0 if dimension size is 0"):
        fibril.split(fibril.zeros(3), 0)
    _same_as_torch(fibril.split(fibril.zeros(0), 0), torch.split(torch.zeros(0), 0))
    for op in (lambda x: fibril.split(x, 1), lambda x: x.chunk(2), lambda x: x.narrow(0, 0, 1)):
        with pytest.raises(ValueError, match="0-dim|1-dimensional"):  # was an IndexError from a tuple index
            op(fibril.tensor(1.0))


@needs_torch
def test_roll_with_empty_dims_rolls_the_flattened_tensor():
    x, t = fibril.arange(6).view(2, 3), torch.arange(6).view(2, 3)
    _same_as_torch(fibril.roll(x, 1, ()), torch.roll(t, 1, ()))
    _same_as_torch(x.roll(-4, dims=[]), t.roll(-4, dims=[]))
    with pytest.raises(ValueError, match="must align"):
        fibril.roll(x, (1, 2), ())
    # an empty tensor: returned as it is whatever the dims, as torch
    _same_as_torch(fibril.roll(fibril.zeros(1, 1, 0), 7, -4), torch.roll(torch.zeros(1, 1, 0), 7, -4))


@needs_torch
def test_copying_ops_never_return_a_view_of_their_input():
    # repeat/tile/repeat_interleave made stride-0 views of a size-1 dim (one write changed every
    # element, and the input); roll by whole turns and flip of no dims returned the input itself.
    cases = [lambda L, x: x[:1].repeat(3), lambda L, x: x.repeat(1), lambda L, x: L.tile(x[:1], (3,)),
             lambda L, x: x.tile(1), lambda L, x: x[:1].repeat_interleave(3), lambda L, x: L.repeat_interleave(x, 1),
             lambda L, x: L.roll(x, 3), lambda L, x: L.roll(x, 0, 0), lambda L, x: L.flip(x, ()),
             lambda L, x: L.repeat_interleave(x[:1], L.tensor([3]), 0)]
    for fn in cases:
        results = []
        for lib in (fibril, torch):
            x = lib.arange(3.0)
            y = fn(lib, x)
            y[0] = 100.0
            results.append((x, y))
        (fx, fy), (tx, ty) = results
        _same_as_torch(fy, ty)
        _same_as_torch(fx, tx)


@needs_torch
def test_tile_and_flip_methods_take_separate_ints_as_torch():
    x, t = fibril.arange(6).view(2, 3), torch.arange(6).view(2, 3)
    _same_as_torch(x.tile(2, 1), t.tile(2, 1))
    _same_as_torch(x.tile((2,)), t.tile((2,)))
    _same_as_torch(fibril.tile(x, dims=[2]), torch.tile(t, dims=[2]))
    _same_as_torch(x.flip(0, 1), t.flip(0, 1))
    _same_as_torch(x.flip([1]), t.flip([1]))
    s = fibril.tensor(2.5)
    _same_as_torch(fibril.flip(s, (0,)), torch.flip(torch.tensor(2.5), (0,)))  # 0-d: used to raise IndexError


@needs_torch
def test_keyword_names_and_aliases_as_torch():
    x, t = fibril.arange(24.0).view(2, 3, 4), torch.arange(24.0).view(2, 3, 4)
    cases = [
        lambda L, x: L.cat([x, x], axis=1), lambda L, x: L.concat([x, x], axis=-1), lambda L, x: L.stack([x, x], axis=1),
        lambda L, x: L.tensor_split(x, indices=[1, 3], dim=2), lambda L, x: L.tensor_split(x, sections=3, dim=1),
        lambda L, x: x.split(split_size=3, dim=-1), lambda L, x: L.swapdims(x, dim0=0, dim1=2),
        lambda L, x: x.swapdims(dim0=0, dim1=1), lambda L, x: L.gather(x, 2, L.tensor([[[3, 0]]]), sparse_grad=False),
        lambda L, x: L.broadcast_to(x[0], size=(2, 3, 4)), lambda L, x: L.permute(x, dims=(2, 0, 1)),
        lambda L, x: x.permute(dims=[1, 2, 0]), lambda L, x: x[:1].expand(size=(3, 3, 4)),
        lambda L, x: L.reshape(x, shape=(-1, 4)), lambda L, x: x.reshape(shape=(4, -1)),
    ]
    for fn in cases:
        _same_as_torch(fn(fibril, x), fn(torch, t))


@needs_torch
def test_gather_and_scatter_with_an_empty_index_as_torch():
    # torch checks no sizes for an empty index; the kernel refused index (0, 3) for input (1, 2)
    index, tindex = fibril.zeros(0, 3, dtype=fibril.int64), torch.zeros(0, 3, dtype=torch.int64)
    cases = [lambda L, x, s, i: L.gather(x, 0, i), lambda L, x, s, i: L.gather(x, 1, i[:, :0].reshape(0)),
             lambda L, x, s, i: L.scatter(x, 0, i, s), lambda L, x, s, i: L.scatter(x, 0, i, 1.5),
             lambda L, x, s, i: L.scatter_add(x, 0, i, s)]
    cases += [lambda L, x, s, i, r=r: L.scatter_reduce(x, 0, i, s, r, include_self=False)
              for r in ("sum", "prod", "mean", "amax", "amin")]
    for fn in cases:
        a = np.array([[1.0, 2.0]])
        xs = [fibril.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)]
        ss = [fibril.ones(0, 3, dtype=fibril.float64, requires_grad=True),
              torch.ones(0, 3, dtype=torch.float64, requires_grad=True)]
        got, want = fn(fibril, xs[0], ss[0], index), fn(torch, xs[1], ss[1], tindex)
        _same_as_torch(got, want)
        got.sum().backward()
        want.sum().backward()
        _same_as_torch(xs[0].grad, xs[1].grad)
        if ss[1].grad is not None:
            _same_as_torch(ss[0].grad, ss[1].grad)


@needs_torch
def test_index_select_of_a_0d_tensor_stays_0d():
    x, t = fibril.tensor(5.0), torch.tensor(5.0)
    for i in ([0], 0):
        _same_as_torch(fibril.index_select(x, 0, fibril.tensor(i)), torch.index_select(t, 0, torch.tensor(i)))
    with pytest.raises(ValueError, match="only 1 value, got 0"):
        x.index_select(0, fibril.tensor([], dtype=fibril.int64))


@needs_torch
def test_index_reduce_takes_an_int32_index_as_torch():
    x, t = fibril.arange(8.0).view(4, 2), torch.arange(8.0).view(4, 2)
    src, tsrc = fibril.full((3, 2), 2.0), torch.full((3, 2), 2.0)
    for reduce in ("prod", "mean", "amax", "amin"):
        i, ti = fibril.tensor([0, 2, 0], dtype=fibril.int32), torch.tensor([0, 2, 0], dtype=torch.int32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _same_as_torch(fibril.index_reduce(x, 0, i, src, reduce), torch.index_reduce(t, 0, ti, tsrc, reduce))


@needs_torch
def test_scatter_prod_of_half_floats_rounds_once_as_torch():
    gen = torch.Generator().manual_seed(3)
    for dtype in (torch.bfloat16, torch.float16):
        for _ in range(20):
            src = (torch.randn(6, generator=gen) * 3).to(dtype)
            base = (torch.randn(2, generator=gen) * 3).to(dtype)
            index = torch.tensor([0, 0, 0, 1, 1, 1])
            fsrc, fbase, findex = _from_torch(src), _from_torch(base), fibril.tensor(index.numpy())
            _same_as_torch(fibril.scatter_reduce(fbase, 0, findex, fsrc, "prod"),
                           torch.scatter_reduce(base, 0, index, src, "prod"))
            _same_as_torch(fibril.scatter(fbase, 0, findex, fsrc, reduce="multiply"),
                           torch.scatter(base, 0, index, src, reduce="multiply"))


@needs_torch
def test_masked_scatter_with_no_true_in_mask_still_reaches_source():
    a = np.arange(6.0).reshape(2, 3)
    got = fibril.tensor(a).masked_scatter(fibril.zeros(2, 3, dtype=fibril.bool),
                                          src := fibril.ones(7, dtype=fibril.float64, requires_grad=True))
    tsrc = torch.ones(7, dtype=torch.float64, requires_grad=True)
    want = torch.tensor(a).masked_scatter(torch.zeros(2, 3, dtype=torch.bool), tsrc)
    _same_as_torch(got, want)
    got.sum().backward()
    want.sum().backward()
    _same_as_torch(src.grad, tsrc.grad)


@needs_torch
def test_squeeze_refuses_a_repeated_dim():
    for x, dims in ((fibril.zeros(1, 2), (0, 0)), (fibril.zeros(1, 1), (0, -2)), (fibril.tensor(1.0), (0, -1))):
        with pytest.raises(ValueError, match="multiple times"):
            x.squeeze(dims)
    _same_as_torch(fibril.zeros(1, 2, 1).squeeze((0, -1)), torch.zeros(1, 2, 1).squeeze((0, -1)))


@needs_torch
def test_diag_and_diag_embed_keep_the_dtype_of_bool_and_integer_input():
    for values, dtype in (([True, False], torch.bool), ([1, 2], torch.uint8), ([3, 4], torch.int32)):
        t = torch.tensor(values, dtype=dtype)
        x = _from_torch(t)
        _same_as_torch(fibril.diag(x, 1), torch.diag(t, 1))
        _same_as_torch(fibril.diag_embed(x, -1), torch.diag_embed(t, -1))
        _same_as_torch(fibril.diagflat(x), torch.diagflat(t))
