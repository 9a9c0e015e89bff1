"""fibril.special's Bessel, Airy, Hurwitz zeta and orthogonal polynomial functions: values
against scipy (float64 accuracy) and torch (edge values, dtypes, gradients)."""

import numpy as np
import pytest

import fibril
import fibril.special as fs

try:
    import torch
except ImportError:
    torch = None

try:
    import scipy.special as sp
except ImportError:
    sp = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")
needs_scipy = pytest.mark.skipif(sp is None, reason="scipy not installed")

X = np.concatenate([np.linspace(-60, 60, 1201), np.logspace(-8, 2.5, 200), -np.logspace(-8, 1.5, 50)])
EDGES = [0.0, -0.0, -1.0, 1.0, np.inf, -np.inf, np.nan, 1e-300, 700.0, 800.0]

UNARY = ["bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "modified_bessel_k0", "modified_bessel_k1",
         "scaled_modified_bessel_k0", "scaled_modified_bessel_k1", "airy_ai", "modified_bessel_i0",
         "modified_bessel_i1", "spherical_bessel_j0"]
POLYS = ["chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w",
         "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
         "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he",
         "laguerre_polynomial_l", "legendre_polynomial_p"]


def _scipy_ref(name, x):
    with np.errstate(all="ignore"):
        return {
            "bessel_j0": lambda: sp.j0(x), "bessel_j1": lambda: sp.j1(x),
            "bessel_y0": lambda: np.where(x < 0, np.nan, sp.y0(x)),
            "bessel_y1": lambda: np.where(x < 0, np.nan, sp.y1(x)),
            "modified_bessel_k0": lambda: sp.k0(x), "modified_bessel_k1": lambda: sp.k1(x),
            "scaled_modified_bessel_k0": lambda: sp.k0e(x), "scaled_modified_bessel_k1": lambda: sp.k1e(x),
            "airy_ai": lambda: sp.airy(x)[0],
        }[name]()


@needs_scipy
@pytest.mark.parametrize("name", UNARY[:9])
def test_accuracy_against_scipy(name):
    x = X[X >= 0] if "modified" in name else X
    got = getattr(fs, name)(fibril.tensor(x, dtype=fibril.float64)).numpy()
    ref = _scipy_ref(name, x)
    finite = np.isfinite(ref)
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    # relative 1e-12, with an absolute floor at the oscillating functions' zeros (airy_ai's phase
    # (2/3) |x|^1.5 at x = -60 carries rounding of ~3e-14 in any float64 evaluation)
    atol = 0.0 if "modified" in name else (5e-14 if name == "airy_ai" else 5e-15)
    np.testing.assert_allclose(got[finite], ref[finite], rtol=1e-12, atol=atol)


@needs_torch
@pytest.mark.parametrize("name", UNARY)
def test_matches_torch_edges_dtype_and_no_grad(name):
    x = np.concatenate([np.linspace(-30, 30, 301), EDGES])
    ref = getattr(torch.special, name)(torch.tensor(x)).numpy()
    got = getattr(fs, name)(fibril.tensor(x)).numpy()
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    both = ~np.isnan(ref)
    # torch 2.13's own float64 J, Y and Ai are off by up to ~2e-6 (scipy is the accuracy reference)
    np.testing.assert_allclose(got[both], ref[both], rtol=1e-9, atol=5e-6 if name[:5] in ("besse", "airy_") else 1e-14)
    # integers compute in the default float dtype; float32 stays float32
    assert getattr(fs, name)(fibril.tensor([1, 2])).dtype == fibril.float32
    assert getattr(fs, name)(fibril.tensor([1.0], dtype=fibril.float32)).dtype == fibril.float32
    # torch gives them no gradient
    w = fibril.tensor([0.5, 1.5], dtype=fibril.float64, requires_grad=True)
    out = getattr(fs, name)(w)
    assert out.grad_fn is None and not out.requires_grad
    with pytest.raises(RuntimeError):
        out.sum().backward()


@needs_scipy
def test_zeta_against_scipy():
    s = np.linspace(1.05, 40, 60)[:, None]
    q = np.concatenate([np.logspace(-3, 3, 40), [1.0, 2.0, 0.5]])[None, :]
    got = fs.zeta(fibril.tensor(s), fibril.tensor(q)).numpy()
    np.testing.assert_allclose(got, sp.zeta(s, q), rtol=1e-12)


@needs_torch
def test_zeta_conventions_and_gradient_as_torch():
    s = [1.0, 0.5, 2.0, 2.0, 2.5, 2.0, 3.0, 1.5, np.nan, 2.0]
    q = [1.0, 1.0, 0.0, -1.0, -1.5, -1.5, -2.5, 0.3, 1.0, np.nan]
    got = fs.zeta(fibril.tensor(s, dtype=fibril.float64), fibril.tensor(q, dtype=fibril.float64)).numpy()
    ref = torch.special.zeta(torch.tensor(s, dtype=torch.float64), torch.tensor(q, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-12, equal_nan=True)
    # numbers on either side, dtype promotion
    assert fs.zeta(fibril.tensor([2, 3]), 1).dtype == fibril.float32
    np.testing.assert_allclose(fs.zeta(2.0, fibril.tensor([1.0, 2.0])).numpy(),
                               torch.special.zeta(2.0, torch.tensor([1.0, 2.0])).numpy(), rtol=1e-6)
    with pytest.raises(TypeError):
        fs.zeta(2.0, 3.0)
    # gradient in q: -s zeta(s + 1, q); in s: not implemented
    qf = fibril.tensor([0.5, 1.5, 3.0], dtype=fibril.float64, requires_grad=True)
    qt = torch.tensor([0.5, 1.5, 3.0], dtype=torch.float64, requires_grad=True)
    fs.zeta(fibril.tensor(2.5, dtype=fibril.float64), qf).sum().backward()
    torch.special.zeta(torch.tensor(2.5, dtype=torch.float64), qt).sum().backward()
    np.testing.assert_allclose(qf.grad.numpy(), qt.grad.numpy(), rtol=1e-12)
    sf = fibril.tensor([2.0, 3.0], dtype=fibril.float64, requires_grad=True)
    with pytest.raises(NotImplementedError, match="zeta"):
        fs.zeta(sf, 1.0).sum().backward()


@needs_torch
@pytest.mark.parametrize("name", POLYS)
def test_polynomials_match_torch(name):
    x = np.concatenate([np.linspace(-3, 3, 61), [1.0, -1.0, 0.0, 0.5]])
    n = np.array([-3, -1, 0, 1, 2, 3, 5, 8, 13, 25, 3.7, -0.5])
    xx, nn = np.meshgrid(x, n)
    # NaN x (1-D: torch 2.13's 2-D broadcast loop gives the NaN column other columns' values)
    ref = getattr(torch.special, name)(torch.full((12,), np.nan, dtype=torch.float64), torch.tensor(n)).numpy()
    got = getattr(fs, name)(fibril.full((12,), np.nan, dtype=fibril.float64), fibril.tensor(n)).numpy()
    np.testing.assert_array_equal(got, ref)
    ref = getattr(torch.special, name)(torch.tensor(xx), torch.tensor(nn)).numpy()
    got = getattr(fs, name)(fibril.tensor(xx), fibril.tensor(nn)).numpy()
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-11, equal_nan=True)
    # a number degree, broadcasting and dtypes as torch
    got = getattr(fs, name)(fibril.tensor([[0.25], [0.75]]), fibril.tensor([1, 2, 3]))
    ref = getattr(torch.special, name)(torch.tensor([[0.25], [0.75]]), torch.tensor([1, 2, 3]))
    assert tuple(got.shape) == tuple(ref.shape) and got.dtype == fibril.float32
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-6)
    assert getattr(fs, name)(fibril.tensor([1, 2]), 3).dtype == fibril.float32
    np.testing.assert_allclose(getattr(fs, name)(fibril.tensor([1, 2]), 3).numpy(),
                               getattr(torch.special, name)(torch.tensor([1, 2]), 3).numpy(), rtol=1e-6)
    w = fibril.tensor([0.5], dtype=fibril.float64, requires_grad=True)
    out = getattr(fs, name)(w, 3)
    assert out.grad_fn is None and not out.requires_grad


@needs_scipy
def test_polynomials_against_scipy():
    x = np.linspace(-2, 2, 41)
    for n in range(0, 30, 3):
        cases = [("chebyshev_polynomial_t", sp.eval_chebyt(n, x)), ("chebyshev_polynomial_u", sp.eval_chebyu(n, x)),
                 ("hermite_polynomial_h", sp.eval_hermite(n, x)), ("hermite_polynomial_he", sp.eval_hermitenorm(n, x)),
                 ("laguerre_polynomial_l", sp.eval_laguerre(n, x)), ("legendre_polynomial_p", sp.eval_legendre(n, x)),
                 ("shifted_chebyshev_polynomial_t", sp.eval_sh_chebyt(n, x))]
        for name, ref in cases:
            got = getattr(fs, name)(fibril.tensor(x), n).numpy()
            np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-11 * np.abs(ref).max(), err_msg=f"{name} n={n}")
