"""Regressions found by fuzzing fibril.linalg, the sort family and the statistics ops against
torch: empty matrix norms and condition numbers, solve's and solve_triangular's operands,
low-precision matrix_exp, logdet's gradient, torch.qr / triangular_solve / geqrf / orgqr,
linalg.cross's and vecdot's dtypes, topk's k, cov's weights and histogram's edges."""

import math

import numpy as np
import pytest

import fibril
from fibril import linalg
from fibril.linalg import LinAlgError, legacy

torch = pytest.importorskip("torch")

# torch.qr and torch.triangular_solve, the oracles of their fibril namesakes, are deprecated
pytestmark = pytest.mark.filterwarnings("ignore:torch.(qr|triangular_solve) is deprecated:UserWarning")


def same(got, want, rtol=1e-6, atol=1e-8):
    assert tuple(got.shape) == tuple(want.shape)
    assert got.dtype.name == str(want.dtype).split(".")[-1]
    np.testing.assert_allclose(got.detach().float().numpy() if got.dtype.name == "bfloat16" else got.detach().numpy(),
                               want.detach().float().numpy(), rtol=rtol, atol=atol)


def random(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------------------------ norms
@pytest.mark.parametrize("shape", [(3, 0), (0, 3), (2, 4, 0), (0, 0)])
@pytest.mark.parametrize("ord", [1, 2, math.inf, "fro", "nuc"])
@pytest.mark.parametrize("dim", [(-2, -1), (-1, -2)])
def test_matrix_norm_of_empty_matrices_is_zero_for_positive_orders(shape, ord, dim):
    a = np.zeros(shape)
    same(linalg.matrix_norm(fibril.tensor(a), ord, dim, keepdim=True),
         torch.linalg.matrix_norm(torch.tensor(a), ord, dim, keepdim=True))
    same(linalg.norm(fibril.tensor(a), ord, dim), torch.linalg.norm(torch.tensor(a), ord, dim))


def test_matrix_norm_of_empty_matrices_raises_for_negative_orders():
    with pytest.raises(IndexError):
        torch.linalg.matrix_norm(torch.zeros(3, 0), -2)
    with pytest.raises(IndexError):
        linalg.matrix_norm(fibril.zeros(3, 0), -2)


@pytest.mark.parametrize("p", [None, 2, -2, 1, -1, math.inf, -math.inf])
@pytest.mark.parametrize("shape", [(3, 0), (2, 0, 4), (2, 0, 0)])
def test_cond_of_empty_matrices(p, shape):
    same(linalg.cond(fibril.zeros(*shape), p), torch.linalg.cond(torch.zeros(shape), p))


@pytest.mark.parametrize("p", ["fro", "nuc"])
def test_cond_of_empty_non_square_matrices_raises_for_fro_and_nuc(p):
    with pytest.raises(RuntimeError):
        torch.linalg.cond(torch.zeros(3, 0), p)
    with pytest.raises(RuntimeError, match="square"):
        linalg.cond(fibril.zeros(3, 0), p)


# ------------------------------------------------------------------------------ solvers
@pytest.mark.parametrize("fn", [linalg.solve, linalg.solve_ex])
def test_solve_refuses_a_vector_with_left_false(fn):
    with pytest.raises(RuntimeError):
        torch.linalg.solve(torch.ones(1, 1), torch.ones(1), left=False)
    with pytest.raises(RuntimeError, match="left=False"):
        fn(fibril.ones(1, 1), fibril.ones(1), left=False)
    with pytest.raises(RuntimeError):
        fn(fibril.ones(2, 3, 3), fibril.ones(2, 3), left=False)


def test_solve_of_a_singular_matrix_with_no_right_hand_sides_raises_linalg_error():
    with pytest.raises(LinAlgError, match="singular"):
        linalg.solve(fibril.ones(2, 2, dtype=fibril.float64), fibril.zeros(2, 0, dtype=fibril.float64))


@pytest.mark.parametrize("b_dtype", ["float64", "float32", "int64"])
@pytest.mark.parametrize("left", [True, False])
def test_solve_triangular_solves_in_the_dtype_of_a(b_dtype, left):
    a = random((2, 3, 3)) + 3 * np.eye(3)
    b = np.round(random((2, 3, 2) if left else (2, 2, 3), seed=1) * 3)
    got = linalg.solve_triangular(fibril.tensor(a).float(), fibril.tensor(b).to(getattr(fibril, b_dtype)),
                                  upper=True, left=left)
    want = torch.linalg.solve_triangular(torch.tensor(a).float(), torch.tensor(b).to(getattr(torch, b_dtype)),
                                         upper=True, left=left)
    same(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_matrix_exp_accepts_low_precision(dtype):
    a = fibril.tensor(random((2, 3, 3)) * 0.5).to(getattr(fibril, dtype)).requires_grad_()
    out = linalg.matrix_exp(a)
    out.sum().backward()
    assert out.dtype == a.dtype and a.grad.dtype == a.dtype
    # torch's own float16 / bfloat16 result overflows: compare with float32
    want = torch.linalg.matrix_exp(torch.tensor(a.detach().float().numpy()))
    np.testing.assert_allclose(out.float().detach().numpy(), want.numpy(), rtol=2e-2, atol=2e-2)


def test_logdet_of_a_negative_determinant_is_nan_with_a_zero_gradient():
    a = np.array([[[0.0, 1.0], [1.0, 0.0]], [[2.0, 0.5], [0.1, 1.0]]])
    got_a = fibril.tensor(a).requires_grad_()
    want_a = torch.tensor(a, requires_grad=True)
    got, want = fibril.logdet(got_a), torch.logdet(want_a)
    same(got, want)
    got.sum().backward()
    want.sum().backward()
    same(got_a.grad, want_a.grad)


# ------------------------------------------------------------------------------ torch's older names
@pytest.mark.parametrize("some", [True, False])
def test_torch_qr(some):
    a = random((2, 4, 3))
    got, want = legacy.qr(fibril.tensor(a), some), torch.qr(torch.tensor(a), some)
    same(got.Q, want.Q)
    same(got.R, want.R)
    same(fibril.tensor(a).qr(some=some).R, want.R)


@pytest.mark.parametrize("upper", [True, False])
@pytest.mark.parametrize("transpose", [True, False])
@pytest.mark.parametrize("unitriangular", [True, False])
def test_torch_triangular_solve(upper, transpose, unitriangular):
    a = random((2, 1, 3, 3)) + 3 * np.eye(3)
    b = random((4, 3, 2), seed=1)
    want = torch.triangular_solve(torch.tensor(b), torch.tensor(a), upper, transpose, unitriangular)
    got = legacy.triangular_solve(fibril.tensor(b), fibril.tensor(a), upper, transpose, unitriangular)
    same(got.solution, want.solution)
    same(got.cloned_coefficient, want.cloned_coefficient)
    same(fibril.tensor(b).triangular_solve(fibril.tensor(a), upper=upper).solution,
         torch.triangular_solve(torch.tensor(b), torch.tensor(a), upper=upper).solution)


def test_torch_triangular_solve_errors():
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        legacy.triangular_solve(fibril.ones(3), fibril.eye(3))
    with pytest.raises(RuntimeError, match="same dtype"):
        legacy.triangular_solve(fibril.ones(3, 1, dtype=fibril.float64), fibril.eye(3))
    with pytest.raises(RuntimeError, match="Incompatible matrix sizes"):
        legacy.triangular_solve(fibril.ones(2, 2), fibril.eye(3))


@pytest.mark.parametrize("shape", [(2, 5, 3), (3, 5), (4, 4), (2, 0, 3)])
def test_torch_geqrf_and_orgqr(shape):
    a = random(shape)
    got, want = legacy.geqrf(fibril.tensor(a)), torch.geqrf(torch.tensor(a))
    same(got.a, want.a)
    same(got.tau, want.tau)
    if shape[-2] >= shape[-1]:
        same(legacy.orgqr(got.a, got.tau), torch.orgqr(want.a, want.tau))
        same(fibril.tensor(a).geqrf().a.orgqr(got.tau), torch.orgqr(want.a, want.tau))


# ------------------------------------------------------------------------------ products
def test_linalg_cross_refuses_mixed_dtypes():
    with pytest.raises(RuntimeError):
        torch.linalg.cross(torch.ones(3), torch.ones(3, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="same dtype"):
        linalg.cross(fibril.ones(3), fibril.ones(3, dtype=fibril.float64))
    same(linalg.cross(fibril.tensor([1, 2, 3]), fibril.tensor([4, 5, 7])),
         torch.linalg.cross(torch.tensor([1, 2, 3]), torch.tensor([4, 5, 7])))


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_vecdot_refuses_non_floating_dtypes(dtype):
    with pytest.raises(RuntimeError):
        torch.linalg.vecdot(torch.ones(3, dtype=getattr(torch, dtype)), torch.ones(3, dtype=getattr(torch, dtype)))
    with pytest.raises(RuntimeError, match="floating point"):
        linalg.vecdot(fibril.ones(3, dtype=getattr(fibril, dtype)), fibril.ones(3, dtype=getattr(fibril, dtype)))


# ------------------------------------------------------------------------------ sorting
def test_topk_k_must_be_an_integer():
    x = fibril.tensor([3.0, 1.0, 2.0])
    with pytest.raises(TypeError):
        torch.topk(torch.tensor([3.0, 1.0, 2.0]), 2.0)
    with pytest.raises(TypeError, match="must be int"):
        fibril.topk(x, 2.0)
    with pytest.raises(TypeError):
        x.topk(True)
    assert fibril.topk(x, fibril.tensor(2)).values.tolist() == [3.0, 2.0]
    assert fibril.topk(x, np.int64(1)).indices.tolist() == [0]


# ------------------------------------------------------------------------------ statistics
def test_cov_refuses_bool_input_and_bool_fweights():
    with pytest.raises(RuntimeError):
        torch.cov(torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool"):
        fibril.cov(fibril.ones(2, 3, dtype=fibril.bool))
    with pytest.raises(TypeError, match="bool"):
        fibril.corrcoef(fibril.ones(2, 3, dtype=fibril.bool))
    with pytest.raises(TypeError, match="integral"):
        fibril.cov(fibril.ones(2, 3), fweights=fibril.ones(3, dtype=fibril.bool))


@pytest.mark.parametrize("weights", [
    {"fweights": [0, 0, 0]}, {"aweights": [0.0, 0.0, 0.0]}, {"fweights": [1, 0, 2], "aweights": [0.0, 1.0, 0.0]},
])
def test_cov_refuses_weights_that_sum_to_zero(weights):
    with pytest.raises(RuntimeError, match="sum to zero"):
        torch.cov(torch.ones(2, 3), **{k: torch.tensor(v) for k, v in weights.items()})
    with pytest.raises(ValueError, match="sum to zero"):
        fibril.cov(fibril.ones(2, 3), **{k: fibril.tensor(v) for k, v in weights.items()})
    with pytest.raises(ValueError, match="sum to zero"):
        fibril.cov(fibril.ones(2, 0), aweights=fibril.ones(0))


def test_cov_with_weights_matches_torch():
    x = random((3, 5))
    f, a = [1, 0, 2, 3, 1], [0.5, 1.0, 0.0, 2.0, 1.5]
    for correction in (0, 1, 2):
        same(fibril.cov(fibril.tensor(x), correction=correction, fweights=fibril.tensor(f), aweights=fibril.tensor(a)),
             torch.cov(torch.tensor(x), correction=correction, fweights=torch.tensor(f), aweights=torch.tensor(a)))


@pytest.mark.parametrize("edges", [[0.5], [[0.0, 1.0]], 1.0])
def test_histogram_refuses_bin_edges_that_are_not_a_1d_tensor_of_two_or_more(edges):
    with pytest.raises(RuntimeError):
        torch.histogram(torch.tensor([0.5]), torch.tensor(edges))
    with pytest.raises(ValueError, match="bins"):
        fibril.histogram(fibril.tensor([0.5]), fibril.tensor(edges))
