"""torch.special.gammainc / gammaincc (igamma / igammac): values against PyTorch in float64 and
float32 (edge values included), accuracy against scipy (and mpmath where installed) over a wide
range, broadcasting and promotion, the gradient in x (gradcheck, against PyTorch), the error on
the gradient in a, Tensor methods and in-place forms, Gamma.cdf and Chi2.cdf."""

import math

import numpy as np
import pytest

import fibril
import fibril.distributions as D
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")
import torch.distributions  # noqa: E402

S = fibril.special
EDGES = [-math.inf, -1.0, -0.0, 0.0, 1e-300, 1e-6, 0.5, 1.0, 2.5, 30.0, 1e6, 1e300, math.inf, math.nan]
NAMES = ["gammainc", "gammaincc"]


def _both(name, a, x, dtype=np.float64):
    a, x = np.asarray(a, dtype), np.asarray(x, dtype)
    got = getattr(S, name)(fibril.tensor(a), fibril.tensor(x)).numpy()
    want = getattr(torch.special, name)(torch.tensor(a), torch.tensor(x)).numpy()
    return got, want


def _grid(a_values, x_values):
    a, x = np.meshgrid(np.asarray(a_values, np.float64), np.asarray(x_values, np.float64), indexing="ij")
    return a.ravel(), x.ravel()


@pytest.mark.parametrize("name", NAMES)
def test_edge_values_match_torch(name):
    """torch's own values lose up to 1e-9 relative near a == x from a = 20 (its asymptotic
    expansion), and its Q at a = 1e-300 drops the Euler gamma term (checked below instead)."""
    a, x = _grid(EDGES, EDGES)
    got, want = _both(name, a, x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    compare = ~((name == "gammaincc") & (a == 1e-300))
    exact = (np.isin(want, [0.0, 1.0]) | np.isnan(want)) & compare
    np.testing.assert_array_equal(got[exact], want[exact])
    np.testing.assert_allclose(got[compare], want[compare], rtol=1e-9, atol=0)


def test_tiny_a_upper_tail_matches_mpmath():
    """Q(1e-300, x) = 1e-300 E1(x) (mpmath's values; torch's lose the Euler gamma term)."""
    x = np.array([1e-300, 1e-6, 0.5, 30.0])
    got = S.gammaincc(fibril.tensor(np.full(4, 1e-300)), fibril.tensor(x)).numpy()
    want = [6.901983122333122e-298, 1.3238295893062492e-299, 5.597735947761608e-301, 3.02155201e-315]
    np.testing.assert_allclose(got, want, rtol=1e-13)


@pytest.mark.parametrize("name", NAMES)
def test_float64_matches_torch(name):
    """Within torch's own error: up to 2e-9 relative near a == x from a = 20 (its asymptotic
    expansion; ours matches mpmath there, see below), 1e-12 elsewhere (5e-12 in the far tails,
    below 1e-100, where its exponent's rounding costs it that)."""
    a, x = _grid(np.logspace(-3, 3, 61), np.logspace(-6, 4, 81))
    got, want = _both(name, a, x)
    normal = np.abs(want) > 1e-290  # fibril flushes subnormal results to 0
    temme = (a > 20) & (np.abs(x - a) < 0.3 * a)
    np.testing.assert_allclose(got[normal & temme], want[normal & temme], rtol=5e-9, atol=0)
    far = want < 1e-100
    np.testing.assert_allclose(got[normal & ~temme & far], want[normal & ~temme & far], rtol=5e-12, atol=0)
    np.testing.assert_allclose(got[~temme & ~far], want[~temme & ~far], rtol=1e-12, atol=0)
    np.testing.assert_array_equal(got[~normal] < 1e-290, True)


@pytest.mark.parametrize("name", NAMES)
def test_float32_matches_torch(name):
    """Computed in float64 and rounded: within float32 rounding of torch's float64 values, and
    near torch's float32 ones (its own float32 error included)."""
    a, x = _grid(np.logspace(-2, 2.5, 25), np.logspace(-3, 2.5, 31))
    got, want = _both(name, a, x, np.float32)
    assert got.dtype == np.float32
    exact = getattr(torch.special, name)(torch.tensor(a.astype(np.float32), dtype=torch.float64),
                                         torch.tensor(x.astype(np.float32), dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, exact, rtol=1.2e-7, atol=1e-37)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-30)


def _wide_points():
    rng = np.random.default_rng(1)
    a = 10 ** rng.uniform(-3, 4, 3000)
    x = 10 ** rng.uniform(-6, 4, 3000)
    near_a = 10 ** rng.uniform(-3, 4, 1500)  # the transition x ~ a +- a few sqrt(a)
    near_x = np.abs(near_a * (1 + rng.normal(0, 2, 1500) / np.sqrt(near_a)))
    return np.concatenate([a, near_a]), np.concatenate([x, near_x])


@pytest.mark.parametrize("name", NAMES)
def test_wide_range_matches_scipy(name):
    """scipy itself is off from the exact values by up to ~1e-12 here, 1e-11 in the far tails
    (below 1e-20) where its exponent's rounding costs it that (ours: 3e-13, mpmath test below)."""
    special = pytest.importorskip("scipy.special")
    a, x = _wide_points()
    got = getattr(S, name)(fibril.tensor(a), fibril.tensor(x)).numpy()
    want = getattr(special, name)(a, x)
    normal, far = want > 1e-290, want < 1e-20
    np.testing.assert_allclose(got[normal & far], want[normal & far], rtol=1e-11, atol=0)
    np.testing.assert_allclose(got[~far], want[~far], rtol=1.5e-12, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_wide_range_matches_mpmath(name):
    mpmath = pytest.importorskip("mpmath")
    a, x = _wide_points()
    pick = np.random.default_rng(2).choice(a.size, 150, replace=False)
    a, x = a[pick], x[pick]
    got = getattr(S, name)(fibril.tensor(a), fibril.tensor(x)).numpy()
    with mpmath.workdps(40):
        bounds = (lambda v: (0, v)) if name == "gammainc" else (lambda v: (v, mpmath.inf))
        want = np.array([float(mpmath.gammainc(mpmath.mpf(ai), *bounds(mpmath.mpf(xi)), regularized=True))
                         for ai, xi in zip(a, x)])
    normal = want > 1e-290
    np.testing.assert_allclose(got[normal], want[normal], rtol=5e-13, atol=0)


def test_large_a_near_x_is_accurate():
    """a = 1e6: 1e-13 relative, where torch's (and scipy's) asymptotic expansion loses 1e-5."""
    a = np.full(5, 1e6)
    x = a + 1e3 * np.array([-5.0, -1.0, 0.0, 1.0, 5.0])
    p = S.gammainc(fibril.tensor(a), fibril.tensor(x)).numpy()
    q = S.gammaincc(fibril.tensor(a), fibril.tensor(x)).numpy()
    # mpmath at 30 digits (the lower tail through Q: mpmath's P series does not converge here)
    want_q = np.array([0.9999997250419641, 0.8413447864256963, 0.4998670192391274, 0.15865521363165971,
                       2.987490140114635e-07])
    np.testing.assert_allclose(q, want_q, rtol=1e-13)
    np.testing.assert_allclose(p[1:], 1 - want_q[1:], rtol=1e-13)
    np.testing.assert_allclose(p[0], 2.7495804e-07, rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_broadcasting_and_promotion(name):
    a = np.array([[0.5], [2.0], [7.0]])
    x = np.array([0.1, 1.0, 4.0, 9.0])
    got = getattr(S, name)(fibril.tensor(a, dtype=fibril.float32), fibril.tensor(x))
    want = getattr(torch.special, name)(torch.tensor(a, dtype=torch.float32), torch.tensor(x))
    assert tuple(got.shape) == tuple(want.shape) == (3, 4)
    assert got.dtype == fibril.float64 and want.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    mixed = getattr(S, name)(fibril.tensor([1, 2, 3]), fibril.tensor([0.5, 1.5, 2.5]))
    mixed_torch = getattr(torch.special, name)(torch.tensor([1, 2, 3]), torch.tensor([0.5, 1.5, 2.5]))
    assert mixed.dtype == fibril.float32 and mixed_torch.dtype == torch.float32
    np.testing.assert_allclose(mixed.numpy(), mixed_torch.numpy(), rtol=1e-6)
    with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
        getattr(S, name)(fibril.tensor([1, 2]), fibril.tensor([1, 2]))


@pytest.mark.parametrize("name", NAMES)
def test_gradient_in_x_matches_torch(name):
    a = np.array([[0.0], [0.5], [1.0], [2.0], [30.0]])
    x = np.array([0.0, 1e-300, 0.3, 1.0, 7.5, 40.0, math.inf])
    xf = fibril.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    getattr(S, name)(fibril.tensor(a), xf).sum().backward()
    getattr(torch.special, name)(torch.tensor(a), xt).sum().backward()
    np.testing.assert_allclose(xf.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_in_x(name):
    a = fibril.tensor([0.7, 2.0, 5.5], dtype=fibril.float64)
    x = fibril.tensor([0.4, 1.3, 6.0], dtype=fibril.float64, requires_grad=True)
    assert fibril.autograd.gradcheck(lambda v: getattr(S, name)(a, v), (x,))


@pytest.mark.parametrize("name, torch_name", [("gammainc", "igamma"), ("gammaincc", "igammac")])
def test_gradient_in_a_is_not_implemented(name, torch_name):
    a = fibril.tensor([2.0], requires_grad=True)
    out = getattr(S, name)(a, fibril.tensor([1.5]))
    with pytest.raises(NotImplementedError, match=f"the derivative for '{torch_name}: input' is not implemented"):
        out.sum().backward()
    at = torch.tensor([2.0], requires_grad=True)
    with pytest.raises(NotImplementedError, match=f"the derivative for '{torch_name}: input' is not implemented"):
        getattr(torch.special, name)(at, torch.tensor([1.5])).sum().backward()


@pytest.mark.parametrize("name, torch_name", [("gammainc", "igamma"), ("gammaincc", "igammac")])
def test_aliases_methods_and_inplace(name, torch_name):
    a, x = [0.5, 2.0, 9.0], [1.0, 1.5, 8.0]
    want = getattr(torch, torch_name)(torch.tensor(a), torch.tensor(x)).numpy()
    np.testing.assert_allclose(getattr(fibril, torch_name)(fibril.tensor(a), fibril.tensor(x)).numpy(), want,
                               rtol=1e-6)
    np.testing.assert_allclose(getattr(fibril.tensor(a), torch_name)(fibril.tensor(x)).numpy(), want, rtol=1e-6)
    t = fibril.tensor(a)
    assert getattr(t, torch_name + "_")(fibril.tensor(x)) is t
    np.testing.assert_allclose(t.numpy(), want, rtol=1e-6)


def test_gamma_and_chi2_cdf_match_torch():
    conc, rate = [0.3, 1.0, 2.5, 40.0], [0.5, 2.0, 1.0, 3.0]
    value = [[0.1], [1.0], [12.0]]
    got = D.Gamma(fibril.tensor(conc), fibril.tensor(rate)).cdf(fibril.tensor(value)).numpy()
    want = torch.distributions.Gamma(torch.tensor(conc), torch.tensor(rate)).cdf(torch.tensor(value)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-30)
    df = [0.5, 1.0, 3.0, 80.0]
    got = D.Chi2(fibril.tensor(df, dtype=fibril.float64)).cdf(fibril.tensor(value, dtype=fibril.float64)).numpy()
    want = torch.distributions.Chi2(torch.tensor(df, dtype=torch.float64)).cdf(
        torch.tensor(value, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300)


def test_gamma_cdf_gradient_matches_torch():
    rate = fibril.tensor([0.5, 2.0], dtype=fibril.float64, requires_grad=True)
    value = fibril.tensor([1.5, 0.7], dtype=fibril.float64, requires_grad=True)
    D.Gamma(fibril.tensor([2.0, 3.5], dtype=fibril.float64), rate).cdf(value).sum().backward()
    rate_t = torch.tensor([0.5, 2.0], dtype=torch.float64, requires_grad=True)
    value_t = torch.tensor([1.5, 0.7], dtype=torch.float64, requires_grad=True)
    torch.distributions.Gamma(torch.tensor([2.0, 3.5], dtype=torch.float64), rate_t).cdf(value_t).sum().backward()
    np.testing.assert_allclose(rate.grad.numpy(), rate_t.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(value.grad.numpy(), value_t.grad.numpy(), rtol=1e-12)
