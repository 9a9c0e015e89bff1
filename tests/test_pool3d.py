"""3-D pooling (composed from differentiable ops): max_pool3d (padding, dilation, ceil_mode,
indices, ties, NaN, windows wholly in padding), avg_pool3d (count_include_pad,
divisor_override), adaptive_avg_pool3d and adaptive_max_pool3d against PyTorch, forward,
indices and gradients, gradcheck; the modules and bad input."""

import numpy as np
import pytest

import fibril
from fibril.nn import pooling3d
from fibril.ops.pool3d import adaptive_avg_pool3d, adaptive_max_pool3d, avg_pool3d, max_pool3d
from op_check import check_op, torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")
TF = torch.nn.functional

MAX_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2, 2), stride=(2, 1, 2), padding=(1, 1, 0), dilation=(1, 2, 1)),
    dict(kernel_size=(2, 3, 3), stride=2, ceil_mode=True),
    dict(kernel_size=2, stride=3, padding=1, ceil_mode=True),
    dict(kernel_size=(3, 1, 2), stride=(1, 2, 3), padding=(1, 0, 1), dilation=(2, 1, 2), ceil_mode=True),
]


def _pair_with_indices(fibril_fn, torch_fn, x):
    """fibril's and torch's (values, indices) as numpy."""
    y, i = fibril_fn(fibril.tensor(x))
    yt, it = torch_fn(torch.tensor(x))
    return (y.numpy(), i.numpy()), (yt.numpy(), it.numpy())


def _assert_same_pooling(fibril_fn, torch_fn, x):
    (y, i), (yt, it) = _pair_with_indices(fibril_fn, torch_fn, x)
    np.testing.assert_array_equal(y, yt)
    np.testing.assert_array_equal(i, it)


@pytest.mark.parametrize("kw", MAX_CASES)
def test_max_pool3d_matches_torch(kw):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6, 8))
    check_op(lambda t: max_pool3d(t, **kw), lambda t: TF.max_pool3d(t, **kw), [x], atol=1e-12, gradcheck=False)
    _assert_same_pooling(lambda t: max_pool3d(t, return_indices=True, **kw),
                         lambda t: TF.max_pool3d(t, return_indices=True, **kw), x)


@pytest.mark.parametrize("kw", MAX_CASES[1:4])
def test_max_pool3d_ties_route_like_torch(kw):
    """Few distinct values: torch keeps the first maximum of each window's (d, h, w) scan, and
    its gradient goes there alone."""
    x = np.random.default_rng(1).integers(0, 3, (2, 2, 7, 6, 8)).astype(np.float64)
    check_op(lambda t: max_pool3d(t, **kw), lambda t: TF.max_pool3d(t, **kw), [x], gradcheck=False)
    _assert_same_pooling(lambda t: max_pool3d(t, return_indices=True, **kw),
                         lambda t: TF.max_pool3d(t, return_indices=True, **kw), x)


def test_max_pools_nan_and_inf_like_torch():
    """NaN wins and torch's scan keeps the last one; an all -inf window keeps its first position."""
    x = np.random.default_rng(2).integers(0, 2, (1, 2, 6, 5, 6)).astype(np.float64)
    x[x == 0] = np.nan
    x[0, 1] = -np.inf
    x[0, 0, :2] = 1.0
    kw = dict(kernel_size=3, stride=2, padding=1, dilation=(1, 2, 1))
    _assert_same_pooling(lambda t: max_pool3d(t, return_indices=True, **kw),
                         lambda t: TF.max_pool3d(t, return_indices=True, **kw), x)
    _assert_same_pooling(lambda t: adaptive_max_pool3d(t, (4, 3, 2), return_indices=True),
                         lambda t: TF.adaptive_max_pool3d(t, (4, 3, 2), return_indices=True), x)
    check_op(lambda t: max_pool3d(t, **kw), lambda t: TF.max_pool3d(t, **kw), [x], gradcheck=False)


def test_window_wholly_in_padding():
    """Dilation can carry a window over the whole input: -inf and torch's (past-the-end) index,
    and no gradient."""
    kw = dict(kernel_size=(1, 2, 1), stride=1, padding=(0, 1, 0), dilation=(1, 3, 1))
    x = np.random.default_rng(3).standard_normal((1, 2, 2, 2, 3))
    _assert_same_pooling(lambda t: max_pool3d(t, return_indices=True, **kw),
                         lambda t: TF.max_pool3d(t, return_indices=True, **kw), x)
    xt = fibril.tensor(x, requires_grad=True)
    y = max_pool3d(xt, **kw)
    assert np.isneginf(y.detach().numpy()).all()
    y.sum().backward()
    assert not xt.grad.numpy().any()


AVG_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=(3, 2, 3), stride=(2, 1, 2), padding=(1, 1, 1), ceil_mode=True),
    dict(kernel_size=(3, 2, 3), stride=(2, 1, 2), padding=(1, 0, 1), ceil_mode=True, count_include_pad=False),
    dict(kernel_size=2, stride=3, padding=1, ceil_mode=True, divisor_override=3),
]


@pytest.mark.parametrize("kw", AVG_CASES)
def test_avg_pool3d_matches_torch(kw):
    x = np.random.default_rng(4).standard_normal((2, 3, 7, 6, 8))
    check_op(lambda t: avg_pool3d(t, **kw), lambda t: TF.avg_pool3d(t, **kw), [x], atol=1e-12, rtol=1e-12,
             gradcheck=False)


@pytest.mark.parametrize("out", [1, (2, 3, 4), (3, None, 5), (5, 7, 9), (4, 1, 6)])
def test_adaptive_pools_match_torch(out):
    """Sizes that divide the input and that don't (overlapping windows), and larger outputs."""
    x = np.random.default_rng(5).standard_normal((2, 3, 5, 6, 7))
    check_op(lambda t: adaptive_avg_pool3d(t, out), lambda t: TF.adaptive_avg_pool3d(t, out), [x], atol=1e-12,
             rtol=1e-12, gradcheck=False)
    check_op(lambda t: adaptive_max_pool3d(t, out), lambda t: TF.adaptive_max_pool3d(t, out), [x], atol=1e-12,
             gradcheck=False)
    _assert_same_pooling(lambda t: adaptive_max_pool3d(t, out, True), lambda t: TF.adaptive_max_pool3d(t, out, True),
                         x)


@pytest.mark.parametrize("pool,torch_pool", [
    (lambda t: max_pool3d(t, 2, 1, 1, ceil_mode=True), lambda t: TF.max_pool3d(t, 2, 1, 1, ceil_mode=True)),
    (lambda t: avg_pool3d(t, 2, 1, 1, True, False), lambda t: TF.avg_pool3d(t, 2, 1, 1, True, False)),
    (lambda t: adaptive_avg_pool3d(t, (2, 3, 2)), lambda t: TF.adaptive_avg_pool3d(t, (2, 3, 2))),
    (lambda t: adaptive_max_pool3d(t, (3, 2, 2)), lambda t: TF.adaptive_max_pool3d(t, (3, 2, 2))),
])
def test_unbatched_non_contiguous_and_gradcheck(pool, torch_pool):
    x = np.random.default_rng(6).permutation(2 * 3 * 4 * 3).reshape(2, 3, 4, 3) / 7.0  # no ties: differentiable
    check_op(pool, torch_pool, [x], atol=1e-12, layout=lambda t: t.transpose(1, 3).contiguous().transpose(1, 3))


@pytest.mark.parametrize("pool,name,args", [
    (max_pool3d, "max_pool3d", (3, 2, 1)), (avg_pool3d, "avg_pool3d", (3, 2, 1)),
    (adaptive_avg_pool3d, "adaptive_avg_pool3d", (3,)), (adaptive_max_pool3d, "adaptive_max_pool3d", (3,)),
])
def test_float32_and_empty_batch(pool, name, args):
    x = np.random.default_rng(7).standard_normal((2, 3, 5, 6, 7)).astype(np.float32)
    y = pool(fibril.tensor(x), *args)
    assert y.dtype == fibril.float32
    np.testing.assert_allclose(y.numpy(), getattr(TF, name)(torch.tensor(x), *args).numpy(), rtol=1e-6, atol=1e-6)
    empty = pool(fibril.zeros(0, 3, 5, 6, 7), *args)
    assert empty.shape == tuple(getattr(TF, name)(torch.zeros(0, 3, 5, 6, 7), *args).shape)


def test_modules_match_torch():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 6, 7, 5))
    for make in (lambda m: m.MaxPool3d(3, 2, 1), lambda m: m.MaxPool3d((2, 3, 2), dilation=2, ceil_mode=True),
                 lambda m: m.AvgPool3d(2), lambda m: m.AvgPool3d(3, 2, 1, True, False, 5),
                 lambda m: m.AdaptiveAvgPool3d((1, None, 2)), lambda m: m.AdaptiveMaxPool3d(2),
                 lambda m: m.AdaptiveMaxPool3d((3, 2, 4), return_indices=True)):
        fm, tm = make(pooling3d), make(torch.nn)
        assert repr(fm) == repr(tm)
        y, yt = fm(fibril.tensor(x)), tm(torch.tensor(x))
        if isinstance(yt, tuple):
            np.testing.assert_array_equal(y[1].numpy(), yt[1].numpy())
            y, yt = y[0], yt[0]
        np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-12, atol=1e-12)
    y, i = pooling3d.MaxPool3d(2, return_indices=True)(fibril.tensor(x))
    np.testing.assert_array_equal(i.numpy(), TF.max_pool3d(torch.tensor(x), 2, return_indices=True)[1].numpy())


@pytest.mark.parametrize("call,error,match", [
    (lambda x: max_pool3d(x, 9), ValueError, "smaller than the kernel"),
    (lambda x: max_pool3d(x, 2, padding=2), ValueError, "at most half"),
    (lambda x: max_pool3d(x, 3, dilation=2, padding=2), ValueError, "at most half"),
    (lambda x: avg_pool3d(x, 0), ValueError, "positive"),
    (lambda x: max_pool3d(x, 2, stride=0), ValueError, "positive"),
    (lambda x: avg_pool3d(x, 2, divisor_override=0), ValueError, "non-zero"),
    (lambda x: max_pool3d(x[0, 0], 2), ValueError, "4-D"),
    (lambda x: max_pool3d(x[:, :0], 2), ValueError, "non-empty"),
    (lambda x: max_pool3d(x, (2, 2)), ValueError, "3 values"),
    (lambda x: adaptive_avg_pool3d(x, (2, 2)), ValueError, "3 values"),
    (lambda x: adaptive_max_pool3d(x, (2, -1, 2)), ValueError, "non-negative"),
    (lambda x: max_pool3d(x.long(), 2), TypeError, "int64"),
    (lambda x: avg_pool3d(x.numpy(), 2), TypeError, "Tensor"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call(fibril.zeros(2, 3, 6, 6, 6))
