"""torch.special's erfc family (erfc, erfcx, ndtr, log_ndtr, ndtri), modified Bessel functions
(i0, i0e, i1, i1e), entr, multigammaln, spherical_bessel_j0: values against PyTorch in float64
(tails included) and float32, edge values, integer promotion, gradients and second
derivatives against PyTorch, gradcheck, Tensor methods."""

import math

import numpy as np
import pytest

import fibril
from op_check import check_op, make_inputs, torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")
S = fibril.special

EDGES = [math.inf, -math.inf, math.nan, 0.0, -0.0, 1e-300, -1e-300, 1e-17]
WIDE = np.concatenate([np.linspace(-30.0, 30.0, 1201), [1.999999, 2.0, 2.000001, 26.5, 1e5, 1e10, 1e300, -1e300]])
BESSEL = np.concatenate([np.linspace(-700.0, 700.0, 1401), np.linspace(-9.0, 9.0, 181), [7.999999, 8.0, 8.000001]])
# name: (points, lowest x where torch is accurate to 1e-12: its ndtr is (1 + erf) / 2)
UNARY = {
    "erfc": (WIDE, -math.inf), "erfcx": (WIDE, -math.inf), "ndtr": (WIDE, -3.0), "log_ndtr": (WIDE, -math.inf),
    "i0": (BESSEL, -math.inf), "i0e": (BESSEL, -math.inf), "i1": (BESSEL, -math.inf), "i1e": (BESSEL, -math.inf),
    "entr": (np.concatenate([np.linspace(-2.0, 50.0, 521), [1e-300, 1e300]]), -math.inf),
    "spherical_bessel_j0": (np.concatenate([np.linspace(-40.0, 40.0, 801), [0.4999, 0.5, 1e10]]), -math.inf),
    "modified_bessel_i0": (BESSEL, -math.inf), "modified_bessel_i1": (BESSEL, -math.inf),
}
PROBABILITIES = np.concatenate([np.linspace(0.0, 1.0, 2001), np.logspace(-300, -1, 300), 1 - np.logspace(-16, -1, 60),
                                [-0.1, 1.1, math.exp(-2), 1 - math.exp(-2)]])


def _ours_and_torch(name, points, dtype=np.float64):
    got = getattr(S, name)(fibril.tensor(points.astype(dtype))).numpy()
    want = getattr(torch.special, name)(torch.tensor(points.astype(dtype))).numpy()
    return got, want


@pytest.mark.parametrize("name", list(UNARY))
def test_float64_values_match_torch(name):
    points, accurate_from = UNARY[name]
    got, want = _ours_and_torch(name, points)
    # fibril flushes subnormal results to 0; torch keeps them
    normal = (points >= accurate_from) & ~(np.abs(want) < 1e-300)
    np.testing.assert_allclose(got[normal], want[normal], rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", list(UNARY) + ["ndtri"])
def test_edge_values_match_torch(name):
    got, want = _ours_and_torch(name, np.array(EDGES))
    np.testing.assert_array_equal(got, want)
    signed = ~np.isnan(want)  # a NaN's sign bit means nothing
    np.testing.assert_array_equal(np.signbit(got[signed]), np.signbit(want[signed]))


def test_ndtri_matches_torch():
    got, want = _ours_and_torch("ndtri", PROBABILITIES)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", list(UNARY) + ["ndtri"])
def test_float32_matches_torch(name):
    """Computed in float64 and rounded: within float32 rounding of torch's float64 values, and
    of its float32 ones within their own error (its float32 log_ndtr is 5e-6 off near 0)."""
    points = np.linspace(-2.5, 12.0, 300) if name != "ndtri" else np.linspace(0.001, 0.999, 300)
    got, want = _ours_and_torch(name, points, np.float32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-30)
    exact = getattr(torch.special, name)(torch.tensor(points.astype(np.float32), dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, exact, rtol=1.2e-7, atol=1e-37)


@pytest.mark.parametrize("name", list(UNARY) + ["ndtri"])
def test_integers_promote_to_float32(name):
    got = getattr(S, name)(fibril.tensor([0, 1, 2]))
    want = getattr(torch.special, name)(torch.tensor([0, 1, 2]))
    assert got.dtype == fibril.float32 and want.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_tails_do_not_underflow():
    """Where the values are far below 1 (or erfcx's far above), they stay finite and accurate;
    torch's ndtr, (1 + erf(x / sqrt 2)) / 2, is 0 here."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    x = np.array([-37.5, -30.0, -20.0, -9.0, -5.0])
    np.testing.assert_allclose(S.ndtr(fibril.tensor(x)).numpy(), [float(mpmath.ncdf(v)) for v in x], rtol=1e-12)
    np.testing.assert_allclose(S.log_ndtr(fibril.tensor(x * 1000)).numpy(),
                               [float(mpmath.log(mpmath.ncdf(v))) for v in x * 1000], rtol=1e-12)
    y = np.array([5.0, 10.0, 20.0, 26.0])
    np.testing.assert_allclose(S.erfc(fibril.tensor(y)).numpy(), [float(mpmath.erfc(v)) for v in y], rtol=1e-12)
    np.testing.assert_allclose(S.erfcx(fibril.tensor(-y)).numpy(),
                               [float(mpmath.exp(v * v) * mpmath.erfc(-v)) for v in y], rtol=1e-12)
    with mpmath.workdps(350):  # 1 - 2p, exactly
        want = [float(-mpmath.sqrt(2) * mpmath.erfinv(1 - 2 * mpmath.mpf(p))) for p in (1e-300, 1e-100, 1e-20)]
    np.testing.assert_allclose(S.ndtri(fibril.tensor([1e-300, 1e-100, 1e-20], dtype=fibril.float64)).numpy(), want,
                               rtol=1e-12)


def test_i0_stays_finite_as_far_as_its_value():
    """torch's exp(x) * ... overflows from x = 709.8; I0(712) is 2.2e307."""
    mpmath = pytest.importorskip("mpmath")
    got = S.i0(fibril.tensor([712.0, -712.0], dtype=fibril.float64)).numpy()
    np.testing.assert_allclose(got, float(mpmath.besseli(0, 712)), rtol=1e-12)


# name: (low, high) of the gradient's inputs
DIFFERENTIABLE = {"erfc": (-3.0, 5.0), "erfcx": (-3.0, 5.0), "ndtr": (-6.0, 5.0), "log_ndtr": (-8.0, 5.0),
                  "ndtri": (0.01, 0.99), "i0": (-9.0, 9.0), "i0e": (-9.0, 9.0), "i1": (-9.0, 9.0),
                  "i1e": (-9.0, 9.0), "entr": (0.05, 3.0)}


@pytest.mark.parametrize("name", list(DIFFERENTIABLE))
def test_gradients_match_torch(name):
    low, high = DIFFERENTIABLE[name]
    arrays = make_inputs([(3, 5)], seed=4, low=low, high=high)
    check_op(getattr(S, name), getattr(torch.special, name), arrays, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(DIFFERENTIABLE))
def test_second_derivatives_match_torch(name):
    low, high = DIFFERENTIABLE[name]
    (a,) = make_inputs([(12,)], seed=5, low=low, high=high)
    x, t = fibril.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (g,) = fibril.autograd.grad(getattr(S, name)(x).sum(), x, create_graph=True)
    (gt,) = torch.autograd.grad(getattr(torch.special, name)(t).sum(), t, create_graph=True)
    (gg,) = fibril.autograd.grad(g.sum(), x)
    (ggt,) = torch.autograd.grad(gt.sum(), t)
    np.testing.assert_allclose(gg.numpy(), ggt.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["i0e", "i1", "i1e", "entr", "erfcx", "ndtri", "log_ndtr"])
def test_gradient_edge_values_match_torch(name):
    """x = 0 (i1's 0 / 0, entr's inf), tiny, negative, infinite: the same values as torch."""
    points = [0.0, -0.0, 1e-17, -2.0, math.inf, -math.inf] if name != "ndtri" else [0.0, 1.0, 0.5, 2.0]
    x = fibril.tensor(points, dtype=fibril.float64, requires_grad=True)
    t = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    (got,) = fibril.autograd.grad(getattr(S, name)(x).sum(), x)
    (want,) = torch.autograd.grad(getattr(torch.special, name)(t).sum(), t)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["spherical_bessel_j0", "modified_bessel_i0", "modified_bessel_i1"])
def test_not_differentiable_as_torch(name):
    assert not getattr(S, name)(fibril.tensor([0.5, 2.0], requires_grad=True)).requires_grad


@pytest.mark.parametrize("p", [1, 2, 5])
def test_multigammaln(p):
    arrays = make_inputs([(2, 6)], seed=6, low=(p - 1) / 2 + 0.1, high=9.0)
    check_op(lambda x: S.multigammaln(x, p), lambda t: torch.special.multigammaln(t, p), arrays, rtol=1e-11,
             atol=1e-12)
    assert fibril.tensor([3.0, 4.5]).mvlgamma(p).allclose(S.multigammaln(fibril.tensor([3.0, 4.5]), p))
    assert S.multigammaln(fibril.tensor([1, 2]), p).dtype == fibril.float32


def test_multigammaln_errors():
    with pytest.raises(ValueError, match="p has to be greater than or equal to 1"):
        S.multigammaln(fibril.tensor([2.0]), 0)
    with pytest.raises(RuntimeError):
        torch.special.multigammaln(torch.tensor([2.0]), 0)


def test_tensor_methods_and_aliases():
    a = np.array([0.5, -1.7, 2.5])
    x, t = fibril.tensor(a), torch.tensor(a)
    for name in ["erfc", "i0"]:
        np.testing.assert_allclose(getattr(x, name)().numpy(), getattr(t, name)().numpy(), rtol=1e-12)
        y = x.clone()
        assert getattr(y, name + "_")() is y
        np.testing.assert_allclose(y.numpy(), getattr(t, name)().numpy(), rtol=1e-12)
    np.testing.assert_allclose(fibril.tensor([3.0, 4.5]).mvlgamma_(p=2).numpy(),
                               torch.tensor([3.0, 4.5]).mvlgamma_(p=2).numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError):
        fibril.tensor([1, 2]).i0_()
    assert S.round(fibril.tensor([1.234]), decimals=1).item() == pytest.approx(1.2)
    assert S.logit(fibril.tensor([0.25])).item() == pytest.approx(math.log(1 / 3))
    assert S.gammaln is fibril.lgamma and S.psi is S.digamma
