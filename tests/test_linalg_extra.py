"""fibril.linalg's LU family, matrix_exp, Cholesky-factor solvers, householder_product,
tensorinv/tensorsolve, vander and cond against torch.linalg: values, gradients, second
derivatives, gradcheck, float32, batches and torch's errors."""

import math

import numpy as np
import pytest

import fibril
from fibril import linalg
from fibril.linalg import legacy
from op_check import assert_all_close, on_cpu_and_cuda
from test_linalg import check_second_derivative, compare, gradcheck, random, spd, well_conditioned

torch = pytest.importorskip("torch")

SINGULAR = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])


def lower_factor(shape, seed=0):
    """Cholesky factors with a diagonal far from 0."""
    return np.linalg.cholesky(spd(shape, seed))


# ------------------------------------------------------------------------------ LU
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 3), (2, 3, 5), (1, 1), (5, 5)])
def test_lu_factor_and_lu(shape):
    a = random(shape, seed=3)
    compare(linalg.lu_factor, torch.linalg.lu_factor, [a])
    compare(linalg.lu_factor_ex, torch.linalg.lu_factor_ex, [a])
    compare(linalg.lu, torch.linalg.lu, [a])


def test_lu_float32_gradcheck_second_derivative():
    compare(linalg.lu, torch.linalg.lu, [random((2, 4, 4))], dtype=np.float32, atol=1e-5, rtol=1e-5)
    for shape in [(3, 3), (4, 2), (2, 4)]:
        gradcheck(lambda x: linalg.lu(x)[1:], random(shape, seed=4))
        gradcheck(lambda x: linalg.lu_factor(x).LU, random(shape, seed=4))
    check_second_derivative(lambda x: linalg.lu_factor(x).LU, lambda t: torch.linalg.lu_factor(t).LU,
                            random((2, 3, 3), seed=5))


def test_lu_result_types():
    x = fibril.tensor(random((2, 3, 3)))
    assert type(linalg.lu(x)).__name__ == "linalg_lu" and linalg.lu(x)._fields == ("P", "L", "U")
    assert linalg.lu_factor(x)._fields == ("LU", "pivots")
    assert linalg.lu_factor_ex(x)._fields == ("LU", "pivots", "info")
    assert linalg.lu_factor(x).pivots.dtype == linalg.lu_factor_ex(x).info.dtype == fibril.int32
    assert linalg.solve_ex(x, x)._fields == ("result", "info")
    assert legacy.lu_unpack(*linalg.lu_factor(x))._fields == ("P", "L", "U")
    assert tuple(linalg.lu_factor(fibril.zeros(0, 3, dtype=fibril.float64)).pivots.shape) == (0,)


def test_lu_factor_errors_and_info():
    matrices = np.stack([random((3, 3)), SINGULAR, np.zeros((3, 3))])
    info = linalg.lu_factor_ex(fibril.tensor(matrices)).info
    assert info.tolist() == torch.linalg.lu_factor_ex(torch.tensor(matrices)).info.tolist() == [0, 3, 1]
    compare(lambda x: linalg.lu_factor_ex(x)[:2], lambda t: torch.linalg.lu_factor_ex(t)[:2], [matrices])
    with pytest.raises(linalg.LinAlgError, match=r"lu_factor: \(Batch element 1\): U\[3,3\] is zero"):
        linalg.lu_factor(fibril.tensor(matrices))
    with pytest.raises(linalg.LinAlgError, match=r"lu_factor_ex: U\[1,1\] is zero"):
        linalg.lu_factor_ex(fibril.zeros(2, 2, dtype=fibril.float64), check_errors=True)
    with pytest.raises(RuntimeError, match="LU without pivoting is not implemented on the CPU"):
        linalg.lu(fibril.ones(2, 2), pivot=False)
    with pytest.raises(RuntimeError, match=r"Expected tensor with 2 or more dimensions. Got size: \[3\]"):
        linalg.lu_factor(fibril.ones(3))
    with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
        linalg.lu_factor(fibril.ones(2, 2, dtype=fibril.int64))


@pytest.mark.parametrize("shape", [(2, 3, 3), (4, 3), (3, 5)])
def test_lu_unpack(shape):
    a = random(shape, seed=6)
    LU, pivots = torch.linalg.lu_factor(torch.tensor(a))
    fibril_pivots = fibril.tensor(pivots.numpy())
    torch_pivots = pivots
    compare(lambda x: legacy.lu_unpack(x, fibril_pivots), lambda t: torch.lu_unpack(t, torch_pivots), [LU.numpy()])
    x = fibril.tensor(LU.numpy())
    P, L, U = legacy.lu_unpack(x, fibril_pivots, unpack_data=False)
    assert tuple(L.shape) == tuple(U.shape) == (0,) and tuple(P.shape) == (*shape[:-2], shape[-2], shape[-2])
    P, L, U = legacy.lu_unpack(x, fibril_pivots, unpack_pivots=False)
    assert tuple(P.shape) == (0,)
    np.testing.assert_allclose(L.numpy(), torch.lu_unpack(LU, pivots).L.numpy())


def test_lu_unpack_errors():
    LU = fibril.tensor(random((3, 3)))
    with pytest.raises(RuntimeError, match="LU_pivots is expected to be a contiguous tensor of torch.int32 dtype"):
        legacy.lu_unpack(LU, fibril.ones(3, dtype=fibril.int64))
    with pytest.raises(RuntimeError, match="pivots passed to lu_unpack must be between 1 and LU.size"):
        legacy.lu_unpack(LU, fibril.tensor([1, 4, 3], dtype=fibril.int32))
    with pytest.raises(RuntimeError, match=r"Expected LU_pivots.shape to be \[3\]"):
        legacy.lu_unpack(LU, fibril.ones(2, dtype=fibril.int32))
    with pytest.raises(RuntimeError, match="Expected tensor with 2 or more dimensions"):
        legacy.lu_unpack(fibril.ones(3), fibril.ones(3, dtype=fibril.int32))


@pytest.mark.parametrize("left,adjoint", [(True, False), (True, True), (False, False), (False, True)])
def test_lu_solve(left, adjoint):
    a, b = well_conditioned((2, 3, 3), seed=1), random((2, 3, 4) if left else (2, 4, 3), seed=2)

    def fibril_fn(x, y):
        return linalg.lu_solve(*linalg.lu_factor(x), y, left=left, adjoint=adjoint)

    def torch_fn(x, y):
        return torch.linalg.lu_solve(*torch.linalg.lu_factor(x), y, left=left, adjoint=adjoint)

    compare(fibril_fn, torch_fn, [a, b])
    gradcheck(fibril_fn, well_conditioned((3, 3), seed=1), random((3, 3), seed=2))
    # the gradient reaches the packed factors directly too
    LU, pivots = torch.linalg.lu_factor(torch.tensor(a))
    fibril_pivots = fibril.tensor(pivots.numpy())
    compare(lambda x, y: linalg.lu_solve(x, fibril_pivots, y, left=left, adjoint=adjoint),
            lambda x, y: torch.linalg.lu_solve(x, pivots, y, left=left, adjoint=adjoint), [LU.numpy(), b])


def test_lu_solve_broadcast_float32_and_errors():
    a, b = well_conditioned((2, 1, 3, 3)), random((4, 3, 2), seed=2)
    compare(lambda x, y: linalg.lu_solve(*linalg.lu_factor(x), y),
            lambda x, y: torch.linalg.lu_solve(*torch.linalg.lu_factor(x), y), [a, b])
    compare(lambda x, y: linalg.lu_solve(*linalg.lu_factor(x), y),
            lambda x, y: torch.linalg.lu_solve(*torch.linalg.lu_factor(x), y), [a, b], dtype=np.float32, atol=1e-5,
            rtol=1e-5)
    LU, pivots = linalg.lu_factor(fibril.tensor(well_conditioned((3, 3))))
    with pytest.raises(RuntimeError, match=r"lu_solve: Incompatible shapes of A and B for the equation AX = B "
                                           r"\(3x3 and 4x2\)"):
        linalg.lu_solve(LU, pivots, fibril.ones(4, 2, dtype=fibril.float64))
    with pytest.raises(RuntimeError, match=r"for the equation XA = B \(3x3 and 3x2\)"):
        linalg.lu_solve(LU, pivots, fibril.ones(3, 2, dtype=fibril.float64), left=False)
    with pytest.raises(RuntimeError, match="The input tensor B must have at least 2 dimensions"):
        linalg.lu_solve(LU, pivots, fibril.ones(3, dtype=fibril.float64))
    with pytest.raises(RuntimeError, match="Expected LU and B to have the same dtype"):
        linalg.lu_solve(LU, pivots, fibril.ones(3, 2))
    with pytest.raises(RuntimeError, match="pivots should be a Tensor of scalar type torch.int32"):
        linalg.lu_solve(LU, pivots.to(fibril.int64), fibril.ones(3, 2, dtype=fibril.float64))
    with pytest.raises(RuntimeError, match=r"Expected LU.shape\[:-1\] and pivots.shape to be the same"):
        linalg.lu_solve(fibril.ones(2, 3, 3, dtype=fibril.float64), pivots, fibril.ones(3, 2, dtype=fibril.float64))


@pytest.mark.parametrize("a_shape,b_shape,left", [((3, 3), (3,), True), ((2, 3, 3), (2, 3, 2), True),
                                                  ((2, 1, 3, 3), (4, 3, 2), True), ((2, 3, 3), (4, 3), False)])
def test_solve_ex(a_shape, b_shape, left):
    compare(lambda a, b: linalg.solve_ex(a, b, left=left), lambda a, b: torch.linalg.solve_ex(a, b, left=left),
            [well_conditioned(a_shape, seed=1), random(b_shape, seed=2)])


def test_solve_ex_singular_and_errors():
    matrices = np.stack([well_conditioned((3, 3)), SINGULAR])
    got = linalg.solve_ex(fibril.tensor(matrices), fibril.ones(3, dtype=fibril.float64))
    want = torch.linalg.solve_ex(torch.tensor(matrices), torch.ones(3, dtype=torch.float64))
    np.testing.assert_allclose(got.result.numpy(), want.result.numpy())  # inf / NaN where torch's are
    assert got.info.tolist() == want.info.tolist() == [0, 3]
    gradcheck(lambda a, b: linalg.solve_ex(a, b).result, well_conditioned((2, 2)), random((2, 1)))
    with pytest.raises(linalg.LinAlgError, match=r"solve_ex: \(Batch element 1\): The solver failed because the "
                                                 "input matrix is singular"):
        linalg.solve_ex(fibril.tensor(matrices), fibril.ones(3, dtype=fibril.float64), check_errors=True)
    with pytest.raises(RuntimeError, match=r"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                                           r"\(3x3 and 4x1\)"):
        linalg.solve_ex(fibril.tensor(matrices[0]), fibril.ones(4, dtype=fibril.float64))


def test_solve_triangular_of_singular_matrix():
    """A zero on the diagonal gives inf / NaN, as torch's, not an error."""
    u = np.triu(SINGULAR)
    u[1, 1] = 0.0
    got = linalg.solve_triangular(fibril.tensor(u), fibril.ones(3, 1, dtype=fibril.float64), upper=True)
    want = torch.linalg.solve_triangular(torch.tensor(u), torch.ones(3, 1, dtype=torch.float64), upper=True)
    np.testing.assert_allclose(got.numpy(), want.numpy())
    assert np.isinf(got.numpy()).any()


# ------------------------------------------------------------------------------ matrix_exp
@pytest.mark.parametrize("scale", [0.01, 1.0, 4.0, 30.0])
def test_matrix_exp(scale):
    compare(linalg.matrix_exp, torch.linalg.matrix_exp, [random((2, 4, 4), seed=7) * scale], atol=1e-9 * scale ** 4,
            rtol=1e-9)


def test_matrix_exp_float32_gradcheck_second_derivative_and_errors():
    compare(linalg.matrix_exp, torch.linalg.matrix_exp, [random((3, 3))], dtype=np.float32, atol=1e-5, rtol=1e-5)
    gradcheck(linalg.matrix_exp, random((2, 3, 3), seed=8))
    check_second_derivative(linalg.matrix_exp, torch.linalg.matrix_exp, random((2, 3, 3), seed=9))
    assert np.allclose(linalg.matrix_exp(fibril.zeros(2, 3, 3)).numpy(), np.eye(3))
    assert tuple(linalg.matrix_exp(fibril.zeros(0, 0)).shape) == (0, 0)
    with pytest.raises(RuntimeError, match="matrix_exp: A must be batches of square matrices, but they are 2 by 3"):
        linalg.matrix_exp(fibril.ones(2, 3))
    with pytest.raises(RuntimeError, match="matrix_exp: Expected a floating point or complex tensor as input. Got "
                                           "Long"):
        linalg.matrix_exp(fibril.ones(2, 2, dtype=fibril.int64))
    with pytest.raises(RuntimeError, match="matrix_exp: The input tensor A must have at least 2 dimensions"):
        linalg.matrix_exp(fibril.ones(3))


# ------------------------------------------------------------------------------ with a Cholesky factor
@pytest.mark.parametrize("shape,upper", [((3, 3), False), ((2, 4, 4), True)])
def test_cholesky_inverse(shape, upper):
    factor = lower_factor(shape, seed=1)
    factor = np.swapaxes(factor, -1, -2) if upper else factor
    compare(lambda x: legacy.cholesky_inverse(x, upper), lambda t: torch.cholesky_inverse(t, upper), [factor])


def test_cholesky_inverse_gradcheck_second_derivative_and_errors():
    # only the triangle is read, so gradcheck sees the gradient projected onto it
    gradcheck(lambda x: legacy.cholesky_inverse(fibril.tril(x)), lower_factor((3, 3), seed=2))
    check_second_derivative(legacy.cholesky_inverse, torch.cholesky_inverse, lower_factor((2, 3, 3), seed=3))
    batch = np.stack([np.eye(3), np.diag([1.0, 0.0, 1.0])])
    with pytest.raises(linalg.LinAlgError, match=r"cholesky_inverse: \(Batch element 1\): The diagonal element 2 is "
                                                 "zero"):
        legacy.cholesky_inverse(fibril.tensor(batch))
    with pytest.raises(RuntimeError, match="A must be batches of square matrices, but they are 2 by 3 matrices"):
        legacy.cholesky_inverse(fibril.ones(2, 3))
    with pytest.raises(RuntimeError, match="The input tensor A must have at least 2 dimensions"):
        legacy.cholesky_inverse(fibril.ones(3))


@pytest.mark.parametrize("b_shape,l_shape,upper", [((3, 2), (3, 3), False), ((2, 3, 2), (3, 3), True),
                                                   ((2, 3, 1), (4, 1, 3, 3), False)])
def test_cholesky_solve(b_shape, l_shape, upper):
    factor = lower_factor(l_shape, seed=4)
    factor = np.swapaxes(factor, -1, -2) if upper else factor
    compare(lambda b, x: legacy.cholesky_solve(b, x, upper), lambda b, t: torch.cholesky_solve(b, t, upper),
            [random(b_shape, seed=5), factor])


def test_cholesky_solve_gradcheck_and_errors():
    gradcheck(lambda b, x: legacy.cholesky_solve(b, fibril.tril(x)), random((3, 2)), lower_factor((3, 3)))
    got = legacy.cholesky_solve(fibril.ones(3, 2, dtype=fibril.float64), fibril.zeros(3, 3, dtype=fibril.float64))
    assert np.isnan(got.numpy()).all()  # as torch's
    with pytest.raises(RuntimeError, match="Incompatible matrix sizes for cholesky_solve: each A matrix is 3 by 3 "
                                           "but each b matrix is 4 by 2"):
        legacy.cholesky_solve(fibril.ones(4, 2, dtype=fibril.float64), fibril.eye(3, dtype=fibril.float64))
    with pytest.raises(RuntimeError, match="Expected b and A to have the same dtype, but found b of type Float"):
        legacy.cholesky_solve(fibril.ones(3, 2), fibril.eye(3, dtype=fibril.float64))
    with pytest.raises(RuntimeError, match="b should have at least 2 dimensions, but has 1 dimensions instead"):
        legacy.cholesky_solve(fibril.ones(3), fibril.eye(3))
    with pytest.raises(RuntimeError, match="u should have at least 2 dimensions, but has 1 dimensions instead"):
        legacy.cholesky_solve(fibril.ones(3, 2), fibril.ones(3))


# ------------------------------------------------------------------------------ householder_product
@pytest.mark.parametrize("a_shape,tau_shape", [((4, 3), (2,)), ((2, 5, 3), (2, 3)), ((3, 3), (3,))])
def test_householder_product(a_shape, tau_shape):
    compare(linalg.householder_product, torch.linalg.householder_product,
            [random(a_shape, seed=1), random(tau_shape, seed=2)])


def test_householder_product_rebuilds_qr_and_errors():
    a = torch.tensor(random((5, 3), seed=3))
    reflectors, tau = torch.geqrf(a)
    Q = linalg.householder_product(fibril.tensor(reflectors.numpy()), fibril.tensor(tau.numpy()))
    np.testing.assert_allclose(Q.numpy(), torch.linalg.qr(a).Q.numpy(), atol=1e-12)
    gradcheck(linalg.householder_product, random((4, 3), seed=4), random((3,), seed=5))
    no_reflectors = linalg.householder_product(fibril.ones(4, 2, dtype=fibril.float64),
                                               fibril.ones(0, dtype=fibril.float64))
    np.testing.assert_array_equal(no_reflectors.numpy(), np.eye(4, 2))
    with pytest.raises(RuntimeError, match=r"input.shape\[-2\] must be greater than or equal to input.shape\[-1\]"):
        linalg.householder_product(fibril.ones(3, 4), fibril.ones(2))
    with pytest.raises(RuntimeError, match=r"input.shape\[-1\] must be greater than or equal to tau.shape\[-1\]"):
        linalg.householder_product(fibril.ones(4, 3), fibril.ones(4))
    with pytest.raises(RuntimeError, match=r"Expected batch dimensions of tau to be equal to input.shape\[:-2\], "
                                           r"but got \[3\]"):
        linalg.householder_product(fibril.ones(2, 4, 3), fibril.ones(3, 2))
    with pytest.raises(RuntimeError, match="tau dtype Float does not match input dtype Double"):
        linalg.householder_product(fibril.ones(4, 3, dtype=fibril.float64), fibril.ones(2))


# ------------------------------------------------------------------------------ tensor equations
def test_tensorinv_tensorsolve():
    compare(lambda x: linalg.tensorinv(x, ind=2), lambda t: torch.linalg.tensorinv(t, ind=2),
            [well_conditioned((6, 6)).reshape(2, 3, 6)])
    compare(lambda x: linalg.tensorinv(x, ind=1), lambda t: torch.linalg.tensorinv(t, ind=1),
            [well_conditioned((6, 6)).reshape(6, 2, 3)])
    compare(linalg.tensorsolve, torch.linalg.tensorsolve, [well_conditioned((6, 6)).reshape(2, 3, 6), random((2, 3))])
    compare(lambda a, b: linalg.tensorsolve(a, b, dims=(0,)), lambda a, b: torch.linalg.tensorsolve(a, b, dims=(0,)),
            [well_conditioned((6, 6)).reshape(6, 2, 3), random((2, 3))])
    with pytest.raises(RuntimeError, match="Expected a strictly positive integer for 'ind', but got 0"):
        linalg.tensorinv(fibril.ones(2, 2), ind=0)
    with pytest.raises(RuntimeError, match=r"prod\(self.shape\[ind:\]\) == prod\(self.shape\[:ind\]\), but got 6 != 4"):
        linalg.tensorinv(fibril.ones(4, 2, 3), ind=1)
    with pytest.raises(RuntimeError, match=r"prod\(self.shape\[other.ndim:\]\) == prod\(self.shape\[:other.ndim\]\), "
                                           "but got 5 != 6"):
        linalg.tensorsolve(fibril.ones(2, 3, 5), fibril.ones(2, 3))


# ------------------------------------------------------------------------------ vander, cond
def test_vander():
    compare(linalg.vander, torch.linalg.vander, [random((2, 3))])
    compare(lambda x: linalg.vander(x, N=5), lambda t: torch.linalg.vander(t, N=5), [np.array([0.0, 2.0, 0.0, -1.5])])
    gradcheck(lambda x: linalg.vander(x, N=4), np.array([0.0, 2.0, -0.5]))
    ints = linalg.vander(fibril.arange(4, dtype=fibril.int32))
    want = torch.linalg.vander(torch.arange(4, dtype=torch.int32))
    assert ints.dtype.name == str(want.dtype).replace("torch.", "") and ints.tolist() == want.tolist()
    for bad in [fibril.tensor(2.0), fibril.ones(1)]:
        with pytest.raises(RuntimeError, match="N must be greater than 1"):
            linalg.vander(bad)
    with pytest.raises(RuntimeError, match="supports floating point, complex, and integer tensors, but got Bool"):
        linalg.vander(fibril.ones(3, dtype=fibril.bool))


@pytest.mark.parametrize("p", [None, 2, -2, "fro", "nuc", 1, -1, math.inf, -math.inf])
def test_cond(p):
    a = random((2, 3, 3), seed=11)
    if p in (None, 2, -2, "nuc"):
        compare(lambda x: linalg.cond(x, p), lambda t: torch.linalg.cond(t, p), [a], atol=1e-8, rtol=1e-8)
    else:  # torch's backward fails here (it writes over inv_ex's result in place): gradcheck instead
        np.testing.assert_allclose(linalg.cond(fibril.tensor(a), p).numpy(), torch.linalg.cond(torch.tensor(a), p),
                                   rtol=1e-10)
        gradcheck(lambda x: linalg.cond(x, p), a[0])
    singular = np.stack([np.eye(3) * 2, SINGULAR, np.zeros((3, 3))])
    got, want = linalg.cond(fibril.tensor(singular), p), torch.linalg.cond(torch.tensor(singular), p)
    if p in (None, 2, -2, "nuc"):  # from singular values: huge (or tiny) for a rounded-off singular matrix
        np.testing.assert_allclose(got.numpy()[[0, 2]], want.numpy()[[0, 2]])
    else:
        np.testing.assert_allclose(got.numpy(), want.numpy())  # inf where singular
        x = fibril.tensor(singular, requires_grad=True)
        linalg.cond(x, p).sum().backward()
        assert np.isfinite(x.grad.numpy()).all() and (x.grad.numpy()[1:] == 0).all()


def test_cond_rectangular_gradcheck_and_errors():
    compare(linalg.cond, torch.linalg.cond, [random((2, 3, 5))])
    gradcheck(linalg.cond, random((3, 2)))
    with pytest.raises(RuntimeError, match=r"linalg.cond\(ord=fro\): A must be batches of square matrices, but they "
                                           "are 2 by 3 matrices"):
        linalg.cond(fibril.ones(2, 3), "fro")
    with pytest.raises(RuntimeError, match="linalg.cond got an invalid norm type: 3"):
        linalg.cond(fibril.ones(3, 3), 3)
    with pytest.raises(RuntimeError, match="The input tensor must have at least 2 dimensions"):
        linalg.cond(fibril.ones(3))
    assert linalg.cond(fibril.zeros(2, 0, 0)).tolist() == torch.linalg.cond(torch.zeros(2, 0, 0)).tolist() == [0, 0]


# ------------------------------------------------------------------------------ eig, top-level names
def test_eig_is_not_available():
    for fn in (linalg.eig, linalg.eigvals):
        with pytest.raises(NotImplementedError, match="fibril has no complex dtypes"):
            fn(fibril.ones(2, 2))


def test_top_level_names_and_methods():
    a = well_conditioned((2, 3, 3))
    x, t = fibril.tensor(a), torch.tensor(a)
    np.testing.assert_allclose(x.matrix_exp().numpy(), t.matrix_exp().numpy(), rtol=1e-12)
    LU, pivots = x.lu()
    np.testing.assert_allclose(LU.numpy(), torch.linalg.lu_factor(t).LU.numpy(), atol=1e-12)
    assert legacy.lu(x, get_infos=True).info.tolist() == [0, 0]
    b = random((2, 3, 2))
    np.testing.assert_allclose(fibril.tensor(b).lu_solve(LU, pivots).numpy(), np.linalg.solve(a, b), atol=1e-12)
    factor = lower_factor((3, 3))
    np.testing.assert_allclose(fibril.tensor(factor).cholesky_inverse().numpy(),
                               torch.tensor(factor).cholesky_inverse().numpy(), atol=1e-12)
    np.testing.assert_allclose(fibril.tensor(b[0]).cholesky_solve(fibril.tensor(factor)).numpy(),
                               torch.tensor(b[0]).cholesky_solve(torch.tensor(factor)).numpy(), atol=1e-12)
    for name in ["cholesky_inverse", "cholesky_solve", "matrix_exp", "lu_unpack"]:
        assert callable(getattr(legacy, name))


# ------------------------------------------------------------------------------ devices
@pytest.mark.cuda
def test_on_cuda():
    """Results and gradients stay on the device (the factorisations run on the host)."""
    a = well_conditioned((2, 3, 3))

    def program(device, x):
        P, L, U = linalg.lu(x)
        factor = linalg.cholesky(x @ x.mT)
        return ((P @ L @ U).sum() + linalg.matrix_exp(x * 0.1).sum() + linalg.solve_ex(x, x[..., 0]).result.sum()
                + linalg.lu_solve(*linalg.lu_factor(x), x).sum() + legacy.cholesky_inverse(factor).sum()
                + legacy.cholesky_solve(x, factor).sum() + linalg.householder_product(x, x[..., 0]).sum()
                + linalg.cond(x, "fro").sum() + linalg.vander(x[0, 0]).sum())

    assert_all_close(*on_cpu_and_cuda(lambda device, x: program(device, x).reshape(1), [a]), rtol=1e-10, atol=1e-10)
    x = fibril.tensor(a, device="cuda")
    assert linalg.lu_factor_ex(x).info.device == linalg.lu_factor(x).pivots.device == x.device
