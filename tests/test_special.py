"""Special functions (lgamma, digamma, polygamma, erfinv, xlog1py, heaviside), the matmul
additions (baddbmm, addbmm, addmv, addr, chain_matmul) and result_type, kthvalue, histc.
Values against mpmath / math in float64, PyTorch for edge cases and gradients, gradcheck."""

import math

import numpy as np
import pytest

import fibril
from op_check import check_op, make_inputs, torch

mpmath = pytest.importorskip("mpmath")
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

# away from the poles at 0, -1, -2, ...
POINTS = np.concatenate([np.linspace(-9.7, 40.0, 997), [1e-6, 0.5, 1.0, 2.0, 1.4616321, 123.4, 1e5, 1e12]])


def _compare(fn, ref, points, dtype, rtol, atol):
    got = fn(fibril.tensor(points, dtype=dtype)).numpy().astype(np.float64)
    points = points.astype(np.float32 if dtype == fibril.float32 else np.float64).astype(np.float64)
    np.testing.assert_allclose(got, [float(ref(v)) for v in points], rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype, rtol, atol", [(fibril.float64, 1e-12, 1e-13), (fibril.float32, 1e-6, 1e-6)])
def test_gamma_family_values(dtype, rtol, atol):
    _compare(fibril.lgamma, lambda v: mpmath.log(abs(mpmath.gamma(v))), POINTS, dtype, rtol, atol)
    _compare(fibril.digamma, mpmath.digamma, POINTS, dtype, rtol, atol)
    _compare(lambda t: fibril.polygamma(1, t), lambda v: mpmath.psi(1, v), POINTS, dtype, rtol, atol)
    positive = POINTS[POINTS > 0.1]
    _compare(lambda t: fibril.polygamma(3, t), lambda v: mpmath.psi(3, v), positive, dtype, rtol, atol)
    assert fibril.polygamma(0, fibril.tensor(POINTS)).equal(fibril.digamma(fibril.tensor(POINTS)))


@pytest.mark.parametrize("dtype, rtol", [(fibril.float64, 1e-12), (fibril.float32, 1e-6)])
def test_erfinv_values(dtype, rtol):
    y = np.concatenate([np.linspace(-0.999999, 0.999999, 1001), [1e-30, -1e-8]])
    _compare(fibril.erfinv, mpmath.erfinv, y, dtype, rtol, 1e-30)


@needs_torch
def test_edge_values_match_torch():
    v = [-3.0, -0.0, 0.0, 1.0, 2.0, math.inf, -math.inf, math.nan, -2.5, 1e-300]
    for name in ["lgamma", "digamma"]:
        np.testing.assert_allclose(getattr(fibril, name)(fibril.tensor(v, dtype=fibril.float64)).numpy(),
                                   getattr(torch, name)(torch.tensor(v, dtype=torch.float64)).numpy(), rtol=1e-12)
    v = [-1.0, 1.0, 1.5, -1.5, 0.0, math.nan]
    np.testing.assert_array_equal(fibril.erfinv(fibril.tensor(v)).numpy(), torch.erfinv(torch.tensor(v)).numpy())
    assert fibril.lgamma(fibril.tensor([1, 5])).dtype == fibril.float32  # integers promote


@needs_torch
@pytest.mark.parametrize("name, low, high", [("lgamma", -4.0, 6.0), ("digamma", -4.0, 6.0),
                                              ("erfinv", -0.95, 0.95)])
def test_gradients(name, low, high):
    arrays = make_inputs([(3, 4)], seed=1, low=low, high=high)
    check_op(getattr(fibril, name), getattr(torch, name), arrays, rtol=1e-9, atol=1e-9)


@needs_torch
@pytest.mark.parametrize("n", [1, 2])
def test_polygamma_gradient(n):
    arrays = make_inputs([(5,)], seed=2, low=0.3, high=8.0)
    check_op(lambda x: fibril.polygamma(n, x), lambda x: torch.polygamma(n, x), arrays, rtol=1e-9, atol=1e-9)


@needs_torch
def test_xlog1py():
    a, b = make_inputs([(3, 1), (4,)], seed=3, low=-0.9, high=2.0)
    a[0, 0] = 0.0
    check_op(fibril.xlog1py, torch.special.xlog1py, [a, b], rtol=1e-12, atol=1e-12)
    x = fibril.tensor([0.0, 0.0, 2.0], dtype=fibril.float64, requires_grad=True)
    y = fibril.tensor([-1.0, math.nan, 1.0], dtype=fibril.float64, requires_grad=True)
    out = fibril.xlog1py(x, y)
    np.testing.assert_array_equal(out.detach().numpy(), [0.0, math.nan, 2 * math.log(2)])
    out.sum().backward()
    np.testing.assert_array_equal(y.grad.numpy()[[0, 2]], [0.0, 1.0])
    assert fibril.special.xlog1py(2, fibril.tensor([1.0])).item() == pytest.approx(2 * math.log(2))


@needs_torch
def test_heaviside():
    x, v = [-1.5, 0.0, 2.0, 0.0], [0.5, 0.25, 0.5, 7.0]
    np.testing.assert_array_equal(fibril.heaviside(fibril.tensor(x), fibril.tensor(v)).numpy(),
                                  torch.heaviside(torch.tensor(x), torch.tensor(v)).numpy())
    with pytest.raises(TypeError):
        fibril.heaviside(fibril.tensor(x), fibril.tensor([1, 2, 3, 4]))


def test_methods_and_namespace():
    x = fibril.tensor([0.3, 2.5])
    assert x.lgamma().equal(fibril.lgamma(x)) and x.digamma().equal(fibril.special.psi(x))
    assert x.polygamma(1).equal(fibril.polygamma(1, x)) and fibril.special.gammaln(x).equal(x.lgamma())
    with pytest.raises(ValueError, match="polygamma"):
        fibril.polygamma(-1, x)


# ------------------------------------------------------------------------------ matmul family
@needs_torch
@pytest.mark.parametrize("name, shapes, kwargs", [
    ("baddbmm", [(2, 3, 5), (2, 3, 4), (2, 4, 5)], {}),
    ("baddbmm", [(1, 5), (2, 3, 4), (2, 4, 5)], {"beta": 0.5, "alpha": -2.0}),
    ("addbmm", [(3, 5), (2, 3, 4), (2, 4, 5)], {"beta": 2.0, "alpha": 0.5}),
    ("addmv", [(3,), (3, 4), (4,)], {"alpha": 3.0}),
    ("addr", [(3, 1), (3,), (4,)], {"beta": -1.0}),
])
def test_matmul_additions(name, shapes, kwargs):
    arrays = make_inputs(shapes, seed=4)
    check_op(lambda *xs: getattr(fibril, name)(*xs, **kwargs), lambda *ts: getattr(torch, name)(*ts, **kwargs),
             arrays, rtol=1e-12, atol=1e-12)
    xs = [fibril.tensor(a) for a in arrays]
    assert getattr(xs[0], name)(*xs[1:], **kwargs).allclose(getattr(fibril, name)(*xs, **kwargs))


def test_matmul_additions_beta_zero_and_errors():
    out = fibril.addmv(fibril.tensor([math.nan, math.inf]), fibril.ones(2, 3), fibril.ones(3), beta=0)
    np.testing.assert_array_equal(out.numpy(), [3.0, 3.0])
    with pytest.raises(ValueError, match=r"\[4, 5\]"):
        fibril.baddbmm(fibril.zeros(4, 5), fibril.zeros(2, 3, 4), fibril.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="addbmm"):
        fibril.addbmm(fibril.zeros(3, 5), fibril.zeros(2, 3, 4), fibril.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="addr"):
        fibril.addr(fibril.zeros(3, 4), fibril.zeros(3, 1), fibril.zeros(4))


@needs_torch
def test_chain_matmul():
    arrays = make_inputs([(2, 3), (3, 4), (4, 2)], seed=5)
    check_op(fibril.chain_matmul, lambda *ts: torch.linalg.multi_dot(ts), arrays, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="chain_matmul"):
        fibril.chain_matmul()


# ------------------------------------------------------------------------------ misc
@needs_torch
def test_result_type():
    cases = [(fibril.tensor([1]), 2.5), (fibril.tensor([1.0]), fibril.tensor([1.0], dtype=fibril.float64)),
             (fibril.tensor([1], dtype=fibril.uint8), 300), (fibril.tensor([1.0], dtype=fibril.float16), 1.0)]
    for a, b in cases:
        ta = torch.from_numpy(a.numpy())
        tb = torch.from_numpy(b.numpy()) if isinstance(b, fibril.Tensor) else b
        assert fibril.result_type(a, b).name == str(torch.result_type(ta, tb)).replace("torch.", "")


@needs_torch
@pytest.mark.parametrize("k, dim, keepdim", [(1, -1, False), (3, 0, True), (5, 1, False)])
def test_kthvalue(k, dim, keepdim):
    x = np.random.default_rng(6).permutation(35).reshape(5, 7).astype(np.float64)
    got = fibril.kthvalue(fibril.tensor(x), k, dim, keepdim)
    want = torch.kthvalue(torch.tensor(x), k, dim, keepdim)
    np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    check_op(lambda t: fibril.kthvalue(t, k, dim, keepdim).values,
             lambda t: torch.kthvalue(t, k, dim, keepdim).values, [x])


def test_kthvalue_nan_and_errors():
    v = fibril.tensor([3.0, math.nan, 1.0]).kthvalue(3)
    assert math.isnan(v.values.item()) and v.indices.item() == 1
    with pytest.raises(ValueError, match=r"\[3\]"):
        fibril.kthvalue(fibril.zeros(3), 4)


@needs_torch
@pytest.mark.parametrize("bins, lo, hi", [(10, 0, 0), (7, -1.0, 1.5), (3, 2.0, 2.0)])
def test_histc(bins, lo, hi):
    x = np.random.default_rng(7).standard_normal(200).astype(np.float32)
    for values in (x, np.full(4, 2.0, np.float32)):
        got = fibril.histc(fibril.tensor(values), bins, lo, hi)
        want = torch.histc(torch.tensor(values), bins, lo, hi)
        assert got.dtype == fibril.float32
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    with pytest.raises(ValueError, match="max must be larger"):
        fibril.histc(fibril.tensor(x), 5, 1.0, 0.0)
