"""sort, argsort, msort and topk against a plain Python reference (stable; NaN above every
number), PyTorch (values and gradients), and gradcheck."""

import math

import numpy as np
import pytest

import fibril
from op_check import check_op, torch

DTYPES = [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_]
SHAPES_DIMS = [((), 0), ((0,), 0), ((1,), 0), ((7,), -1), ((3, 5, 4), 0), ((3, 5, 4), 1), ((3, 5, 4), 2),
               ((2, 0, 3), 2), ((4, 33), 1)]


def sample(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind == "f":
        x = rng.integers(-4, 5, shape).astype(dtype)  # many ties
        if x.size > 2:
            x.flat[[0, x.size // 2]] = np.nan
        return x
    if dtype == np.uint8:
        return rng.integers(0, 6, shape, dtype=np.uint8)
    return rng.integers(-4, 5, shape).astype(dtype)


def reference(x, dim, descending, k=None):
    """Values and indices of each line's first k, in order: ties by position, NaN largest."""
    x = np.asarray(x)
    if x.ndim == 0:
        return x.copy(), np.zeros((), np.int64)
    moved = np.moveaxis(x, dim, -1)
    n = moved.shape[-1]
    k = n if k is None else k
    values = np.empty(moved.shape[:-1] + (k,), x.dtype)
    indices = np.empty(moved.shape[:-1] + (k,), np.int64)
    for pos in np.ndindex(moved.shape[:-1]):
        line = [float(v) for v in moved[pos]]
        key = ((lambda i: (not math.isnan(line[i]), -line[i] if not math.isnan(line[i]) else 0, i)) if descending
               else (lambda i: (math.isnan(line[i]), line[i] if not math.isnan(line[i]) else 0, i)))
        order = sorted(range(n), key=key)[:k]
        indices[pos] = order
        values[pos] = moved[pos][order]
    return np.moveaxis(values, -1, dim), np.moveaxis(indices, -1, dim)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", SHAPES_DIMS)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_matches_reference(dtype, shape, dim, descending):
    x = sample(shape, dtype, seed=len(shape) + dim)
    values, indices = fibril.sort(fibril.tensor(x), dim=dim, descending=descending)
    want_v, want_i = reference(x, dim, descending)
    np.testing.assert_array_equal(values.numpy(), want_v)
    np.testing.assert_array_equal(indices.numpy(), want_i)
    assert indices.dtype == fibril.int64 and values.dtype == fibril.tensor(x).dtype
    np.testing.assert_array_equal(fibril.argsort(fibril.tensor(x), dim, descending).numpy(), want_i)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8])
@pytest.mark.parametrize("shape,dim", [((9,), 0), ((3, 5, 4), 1), ((4, 33), -1)])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_matches_reference(dtype, shape, dim, largest):
    x = sample(shape, dtype, seed=3)
    n = x.shape[dim]
    for k in sorted({0, 1, n // 2, n}):
        values, indices = fibril.tensor(x).topk(k, dim=dim, largest=largest)
        want_v, want_i = reference(x, dim, largest, k)
        np.testing.assert_array_equal(values.numpy(), want_v)
        np.testing.assert_array_equal(indices.numpy(), want_i)


def test_non_contiguous_and_half_inputs():
    x = sample((5, 6), np.float32, seed=1)
    t = fibril.tensor(x).transpose(0, 1)
    want_v, want_i = reference(x.T, 1, True)
    values, indices = fibril.sort(t, 1, descending=True)
    np.testing.assert_array_equal(values.numpy(), want_v)
    np.testing.assert_array_equal(indices.numpy(), want_i)
    half = fibril.tensor(x).to(fibril.float16)
    hv, hi = half.sort(0)
    assert hv.dtype == fibril.float16
    np.testing.assert_array_equal(hi.numpy(), reference(x, 0, False)[1])
    np.testing.assert_array_equal(fibril.msort(fibril.tensor(x)).numpy(), reference(x, 0, False)[0])


def test_gradients():
    x = np.random.default_rng(0).permutation(24).reshape(2, 3, 4) / 7.0  # no ties: a smooth function
    check_op(lambda t: t.sort(dim=1, descending=True).values, lambda t: t.sort(dim=1, descending=True).values, [x])
    check_op(lambda t: t.topk(2, dim=-1).values, lambda t: t.topk(2, dim=-1).values, [x])
    check_op(lambda t: t.topk(1, dim=0, largest=False).values, lambda t: t.topk(1, dim=0, largest=False).values, [x])


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_matches_torch():
    x = np.random.default_rng(5).standard_normal((6, 50)).astype(np.float32)
    x[0, :10] = 1.0  # ties
    x[1, 3] = np.nan
    for descending in (False, True):
        got = fibril.sort(fibril.tensor(x), dim=1, descending=descending)
        want = torch.sort(torch.from_numpy(x), dim=1, descending=descending, stable=True)
        np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    for largest in (False, True):
        got = fibril.topk(fibril.tensor(x), 7, dim=1, largest=largest)
        want = torch.topk(torch.from_numpy(x), 7, dim=1, largest=largest)
        np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())


def test_bad_input():
    x = fibril.randn(3, 4)
    with pytest.raises(RuntimeError, match="k = 5 is out of range"):
        x.topk(5)
    with pytest.raises(RuntimeError, match="out of range"):
        x.topk(-1)
    with pytest.raises(IndexError, match="dimension 2 out of range"):
        x.sort(2)


@pytest.mark.cuda
def test_cuda_matches_cpu():
    x = sample((4, 9), np.float32, seed=2)
    for device in ("cpu", "cuda"):
        t = fibril.tensor(x, device=device, requires_grad=True)
        values, indices = t.topk(4, dim=1)
        values.sum().backward()
        assert values.device == t.device and indices.device == t.device
        want_v, want_i = reference(x, 1, True, 4)
        np.testing.assert_array_equal(values.detach().cpu().numpy(), want_v)
        np.testing.assert_array_equal(indices.cpu().numpy(), want_i)
        grad = np.zeros_like(x)
        np.put_along_axis(grad, want_i, 1.0, axis=1)
        np.testing.assert_array_equal(t.grad.cpu().numpy(), grad)


def test_zero_dim_input_is_its_own_result():
    x = fibril.tensor(3.5)
    for k in (0, 1):
        values, indices = x.topk(k)
        assert values.item() == 3.5 and indices.item() == 0
    with pytest.raises(RuntimeError, match="out of range"):
        x.topk(2)
