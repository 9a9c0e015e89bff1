"""fibril.linalg against torch.linalg: values, gradients (random cotangents, or losses that do
not depend on the signs of eigen/singular vectors), second derivatives through the backward
formulas, gradcheck, float32, batches, and torch's errors."""

import math

import numpy as np
import pytest

import fibril
from fibril import linalg
from op_check import assert_all_close, on_cpu_and_cuda, torch_one_thread  # noqa: F401 (autouse fixture)

torch = pytest.importorskip("torch")


# ------------------------------------------------------------------------------ helpers
def random(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def well_conditioned(shape, seed=0):
    """Square matrices I * n + noise: far from singular."""
    n = shape[-1]
    return random(shape, seed) + n * np.eye(n)


def spd(shape, seed=0):
    """Symmetric positive-definite matrices."""
    x = random(shape, seed)
    return x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])


def symmetric(shape, seed=0):
    """Symmetric matrices with well separated eigenvalues."""
    q, _ = np.linalg.qr(random(shape, seed))
    values = np.arange(1, shape[-1] + 1) * 1.5 - 2.0
    return (q * values[..., None, :]) @ np.swapaxes(q, -1, -2)


def leaves(arrays, dtype=np.float64):
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    return ([fibril.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def as_tuple(out):
    return tuple(out) if isinstance(out, tuple) else (out,)


def assert_same(got, want, atol, rtol):
    assert tuple(got.shape) == tuple(want.shape), (tuple(got.shape), tuple(want.shape))
    assert got.dtype.name == str(want.dtype).replace("torch.", "")
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), atol=atol, rtol=rtol)


def compare(fibril_fn, torch_fn, arrays, loss=None, dtype=np.float64, atol=1e-9, rtol=1e-9, seed=1, signless=False):
    """Same outputs (up to sign with signless: eigen/singular vectors); then backward of
    loss(outputs) (default: a random cotangent per float output) gives the same leaf gradients."""
    xs, ts = leaves(arrays, dtype)
    got, want = as_tuple(fibril_fn(*xs)), as_tuple(torch_fn(*ts))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert_same(g.abs() if signless else g, w.abs() if signless else w, atol, rtol)
    if loss is None:
        rng = np.random.default_rng(seed)
        cotangents = [rng.standard_normal(tuple(w.shape)).astype(dtype) for w in want]
        pairs = [(g, w, c) for g, w, c in zip(got, want, cotangents) if w.requires_grad]
        fibril.autograd.backward([g for g, _, _ in pairs], [fibril.tensor(c) for _, _, c in pairs])
        torch.autograd.backward([w for _, w, _ in pairs], [torch.tensor(c) for _, _, c in pairs])
    else:
        loss(fibril, *got).backward()
        loss(torch, *want).backward()
    for x, t in zip(xs, ts):
        expected = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        actual = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
        np.testing.assert_allclose(actual, expected, atol=atol * 10, rtol=rtol * 10)
    return got


def weighted_abs(lib, *tensors):
    """A loss that does not change when an eigen/singular vector pair flips sign."""
    total = 0
    for k, t in enumerate(tensors):
        weights = lib.tensor(random(tuple(t.shape), seed=10 + k), dtype=t.dtype)
        total = total + (t.abs() * weights).sum()
    return total


def gradcheck(fn, *arrays):
    assert fibril.testing.gradcheck(fn, [fibril.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)
                                         for a in arrays])


def grad_with_graph(out, cotangent):
    """The gradient of out with respect to the inputs of the op that made it, recorded so that
    it can be differentiated again: out's backward formula run with grad mode on (fibril's
    engine runs backward formulas with it off)."""
    node = out.grad_fn
    cotangents = [None] * node.num_outputs
    cotangents[out._output_nr] = cotangent
    with fibril.enable_grad():
        grads = node.function.backward(node.ctx, *cotangents)
    return grads[0] if isinstance(grads, tuple) else grads


def check_second_derivative(fibril_fn, torch_fn, array, atol=1e-8):
    """d/dA <W, d<C, f(A)>/dA> (a Hessian-vector product) equals torch's double backward."""
    (x,), (t,) = leaves([array])
    out, ref = fibril_fn(x), torch_fn(t)
    cotangent = random(tuple(ref.shape), seed=3)
    weights = random(tuple(t.shape), seed=4)
    (g_ref,) = torch.autograd.grad(ref, t, torch.tensor(cotangent), create_graph=True)
    (g_ref * torch.tensor(weights)).sum().backward()
    g = grad_with_graph(out, fibril.tensor(cotangent))
    np.testing.assert_allclose(g.detach().numpy(), g_ref.detach().numpy(), atol=atol, rtol=1e-7)
    (g * fibril.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), atol=atol, rtol=1e-7)


# ------------------------------------------------------------------------------ norms
@pytest.mark.parametrize("ord", [2, 1, 0, 3, 0.5, -1, math.inf, -math.inf])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (-1, False), ((0, 2), True)])
def test_vector_norm(ord, dim, keepdim):
    compare(lambda lib_x: linalg.vector_norm(lib_x, ord, dim, keepdim),
            lambda t: torch.linalg.vector_norm(t, ord, dim, keepdim), [random((2, 3, 4))])


@pytest.mark.parametrize("ord", ["fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf])
def test_matrix_norm(ord):
    compare(lambda x: linalg.matrix_norm(x, ord), lambda t: torch.linalg.matrix_norm(t, ord), [random((2, 3, 4))])


@pytest.mark.parametrize("ord", ["fro", "nuc", 2, -1, math.inf])
def test_matrix_norm_other_dims_keepdim(ord):
    compare(lambda x: linalg.matrix_norm(x, ord, dim=(2, 0), keepdim=True),
            lambda t: torch.linalg.matrix_norm(t, ord, dim=(2, 0), keepdim=True), [random((4, 2, 3))])


@pytest.mark.parametrize("shape,ord,dim", [
    ((3, 4), None, None), ((2, 3, 4), None, None), ((3, 4), 2, None), ((3, 4), "nuc", None), ((4,), 3, None),
    ((2, 3, 4), None, (0, 2)), ((2, 3, 4), -math.inf, 1), ((2, 3, 4), 1, (1, 2)), ((2, 3, 4), "fro", (0, 1)),
])
def test_norm_dispatch(shape, ord, dim):
    compare(lambda x: linalg.norm(x, ord, dim), lambda t: torch.linalg.norm(t, ord, dim), [random(shape)])


def test_norms_float32_and_dtype():
    compare(lambda x: linalg.matrix_norm(x, "nuc"), lambda t: torch.linalg.matrix_norm(t, "nuc"),
            [random((2, 3, 3))], dtype=np.float32, atol=1e-5, rtol=1e-5)
    x = fibril.tensor(random((3, 4)), dtype=fibril.float32)
    assert linalg.vector_norm(x, dtype=fibril.float64).dtype == fibril.float64
    np.testing.assert_allclose(linalg.vector_norm(x, dtype=fibril.float64).item(),
                               torch.linalg.vector_norm(torch.tensor(x.numpy()), dtype=torch.float64).item())


def test_norms_gradcheck():
    gradcheck(lambda x: linalg.vector_norm(x, 3, -1), random((2, 3)))
    gradcheck(lambda x: linalg.matrix_norm(x, "nuc"), random((3, 2)))
    gradcheck(lambda x: linalg.matrix_norm(x, -2), random((2, 3)))
    gradcheck(lambda x: linalg.matrix_norm(x, math.inf), random((2, 3)))


@pytest.mark.parametrize("ord", [2, 3, "fro"])
def test_norm_second_derivative(ord):
    if ord == "fro":
        check_second_derivative(lambda x: linalg.matrix_norm(x), lambda t: torch.linalg.matrix_norm(t),
                                random((3, 4)))
    else:
        check_second_derivative(lambda x: linalg.vector_norm(x, ord, -1),
                                lambda t: torch.linalg.vector_norm(t, ord, -1), random((3, 4)))


def test_norm_errors():
    x = fibril.tensor(random((2, 3)))
    with pytest.raises(RuntimeError, match="Order 3 not supported"):
        linalg.matrix_norm(x, 3)
    with pytest.raises(RuntimeError, match="Order abc not supported"):
        linalg.matrix_norm(x, "abc")
    with pytest.raises(RuntimeError, match="must have at least 2 dimensions"):
        linalg.matrix_norm(fibril.tensor(random(3)))
    with pytest.raises(RuntimeError, match="dims must be different"):
        linalg.matrix_norm(x, dim=(-2, 0))
    with pytest.raises(RuntimeError, match="Expected a floating point"):
        linalg.vector_norm(fibril.ones(3, dtype=fibril.int64))
    with pytest.raises(RuntimeError, match="inf norm on an empty tensor"):
        linalg.vector_norm(fibril.ones(0), math.inf)
    with pytest.raises(RuntimeError, match="without narrowing"):
        linalg.vector_norm(fibril.ones(3, dtype=fibril.float64), dtype=fibril.float32)
    with pytest.raises(RuntimeError, match=r"must be of length 1 or 2. Got \[0, 1, 2\]"):
        linalg.norm(fibril.ones(2, 2, 2), dim=(0, 1, 2))
    with pytest.raises(RuntimeError, match="must be 1D or 2D. Got 3D"):
        linalg.norm(fibril.ones(2, 2, 2), ord=2)
    assert linalg.vector_norm(fibril.ones(0)).item() == 0


# ------------------------------------------------------------------------------ determinants and inverses
@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 4, 4), (1, 1)])
def test_det_slogdet_inv(shape):
    arrays = [random(shape, seed=5)]
    compare(linalg.det, torch.linalg.det, arrays)
    compare(linalg.slogdet, torch.linalg.slogdet, arrays)
    compare(linalg.inv, torch.linalg.inv, arrays)
    compare(lambda x: linalg.inv_ex(x).inverse, lambda t: torch.linalg.inv_ex(t).inverse, arrays)


def test_det_inv_float32():
    for fibril_fn, torch_fn in [(linalg.det, torch.linalg.det), (linalg.inv, torch.linalg.inv),
                                (linalg.slogdet, torch.linalg.slogdet)]:
        compare(fibril_fn, torch_fn, [well_conditioned((2, 3, 3))], dtype=np.float32, atol=1e-4, rtol=1e-4)


def test_det_of_singular_matrices():
    # The gradient is the adjugate, which a singular matrix has too (torch's double-backward path).
    a = np.array([[[1.0, 2.0], [2.0, 4.0]], [[2.0, 1.0], [1.0, 3.0]]])
    x = fibril.tensor(a, requires_grad=True)
    d = linalg.det(x)
    np.testing.assert_allclose(d.detach().numpy(), [0.0, 5.0], atol=1e-12)
    d.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[[4.0, -2.0], [-2.0, 1.0]], [[3.0, -1.0], [-1.0, 2.0]]], atol=1e-12)
    sign, logabsdet = linalg.slogdet(fibril.zeros(3, 3))
    assert sign.item() == 0 and logabsdet.item() == -math.inf
    gradcheck(linalg.det, np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, 1.0, 0.0]]))


def test_det_inv_gradcheck():
    gradcheck(linalg.det, random((2, 3, 3), seed=2))
    gradcheck(lambda x: linalg.slogdet(x).logabsdet, random((3, 3), seed=2))
    gradcheck(linalg.inv, random((2, 2, 2), seed=2))
    gradcheck(lambda x: linalg.matrix_power(x, -3), well_conditioned((2, 2)))


@pytest.mark.parametrize("name", ["det", "inv", "slogdet"])
def test_det_inv_second_derivative(name):
    fibril_fn = {"det": linalg.det, "inv": linalg.inv, "slogdet": lambda x: linalg.slogdet(x).logabsdet}[name]
    torch_fn = {"det": torch.linalg.det, "inv": torch.linalg.inv,
                "slogdet": lambda t: torch.linalg.slogdet(t).logabsdet}[name]
    check_second_derivative(fibril_fn, torch_fn, random((2, 3, 3), seed=6))


def test_inverse_errors():
    with pytest.raises(RuntimeError, match="A must be batches of square matrices, but they are 2 by 3 matrices"):
        linalg.inv(fibril.ones(2, 3))
    with pytest.raises(RuntimeError, match="must have at least 2 dimensions"):
        linalg.det(fibril.ones(3))
    with pytest.raises(RuntimeError, match="Expected a floating point or complex tensor as input. Got Long"):
        linalg.inv(fibril.ones(2, 2, dtype=fibril.int64))
    with pytest.raises(RuntimeError, match="Low precision dtypes not supported. Got Half"):
        linalg.inv(fibril.ones(2, 2, dtype=fibril.float16))
    matrices = np.stack([np.eye(3), [[1.0, 1.0, 3.0], [2.0, 2.0, 6.0], [1.0, 1.0, 1.0]],
                         [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]])
    singular = fibril.tensor(matrices)
    with pytest.raises(linalg.LinAlgError, match=r"linalg.inv: \(Batch element 1\): The diagonal element 2 is zero"):
        linalg.inv(singular)
    with pytest.raises(linalg.LinAlgError, match=r"linalg.inv: The diagonal element 1 is zero"):
        linalg.inv(fibril.zeros(3, 3))
    inverse, info = linalg.inv_ex(singular)
    assert info.tolist() == torch.linalg.inv_ex(torch.tensor(matrices)).info.tolist() == [0, 2, 3]
    assert info.dtype == fibril.int32
    assert np.isnan(inverse[1].numpy()).all() and np.allclose(inverse[0].numpy(), np.eye(3))
    assert issubclass(linalg.LinAlgError, RuntimeError)


# ------------------------------------------------------------------------------ solvers
@pytest.mark.parametrize("a_shape,b_shape,left", [((3, 3), (3, 2), True), ((3, 3), (3,), True),
                                                  ((2, 3, 3), (2, 3), True), ((2, 1, 3, 3), (4, 3, 2), True),
                                                  ((3, 3), (2, 3, 1), True), ((2, 3, 3), (4, 3), False)])
def test_solve(a_shape, b_shape, left):
    compare(lambda a, b: linalg.solve(a, b, left=left), lambda a, b: torch.linalg.solve(a, b, left=left),
            [well_conditioned(a_shape, seed=1), random(b_shape, seed=2)])


def test_solve_float32_gradcheck_second_derivative():
    compare(linalg.solve, torch.linalg.solve, [well_conditioned((2, 3, 3)), random((2, 3, 2))], dtype=np.float32,
            atol=1e-5, rtol=1e-5)
    gradcheck(linalg.solve, well_conditioned((2, 2, 2)), random((2, 2, 1)))
    b = random((3, 2), seed=7)
    check_second_derivative(lambda a: linalg.solve(a, fibril.tensor(b)),
                            lambda a: torch.linalg.solve(a, torch.tensor(b)), well_conditioned((3, 3)))


@pytest.mark.parametrize("upper,left,unitriangular", [(True, True, False), (False, False, True), (False, True, False)])
def test_solve_triangular(upper, left, unitriangular):
    compare(lambda a, b: linalg.solve_triangular(a, b, upper=upper, left=left, unitriangular=unitriangular),
            lambda a, b: torch.linalg.solve_triangular(a, b, upper=upper, left=left, unitriangular=unitriangular),
            [well_conditioned((2, 3, 3)), random((2, 3, 3), seed=3)])


def test_solve_errors():
    a = fibril.tensor(well_conditioned((3, 3)))
    with pytest.raises(RuntimeError, match=r"Incompatible shapes of A and B for the equation AX = B \(3x3 and 4x2\)"):
        linalg.solve(a, fibril.ones(4, 2, dtype=fibril.float64))
    with pytest.raises(RuntimeError, match=r"for the equation XA = B \(3x3 and 3x1\)"):
        linalg.solve(a, fibril.ones(3, dtype=fibril.float64), left=False)
    with pytest.raises(RuntimeError, match=r"\[2\] and \[4\]"):
        linalg.solve(fibril.tensor(well_conditioned((2, 3, 3))), fibril.ones(4, 3, 2, dtype=fibril.float64))
    with pytest.raises(RuntimeError, match="Expected A and B to have the same dtype"):
        linalg.solve(a, fibril.ones(3))
    singular = fibril.tensor(np.stack([np.eye(2), np.ones((2, 2))]))
    with pytest.raises(linalg.LinAlgError, match=r"\(Batch element 1\): The solver failed because the input matrix"):
        linalg.solve(singular, fibril.ones(2, 2, 1, dtype=fibril.float64))


def test_matrix_power():
    for n in (0, 1, 2, 5, -1, -2):
        compare(lambda x: linalg.matrix_power(x, n), lambda t: torch.linalg.matrix_power(t, n),
                [well_conditioned((2, 3, 3)) / 3])
    with pytest.raises(RuntimeError, match="square matrices"):
        linalg.matrix_power(fibril.ones(2, 3), 2)


def test_pinv():
    for shape in [(4, 3), (2, 3, 5), (3, 3)]:
        compare(linalg.pinv, torch.linalg.pinv, [random(shape, seed=4)])
    compare(lambda x: linalg.pinv(x, hermitian=True), lambda t: torch.linalg.pinv(t, hermitian=True),
            [symmetric((2, 3, 3))])
    rank_one = np.outer([1.0, 2.0, 3.0], [1.0, -1.0])
    compare(linalg.pinv, torch.linalg.pinv, [rank_one], loss=lambda lib, p: (p * p).sum())
    compare(lambda x: linalg.pinv(x, atol=0.5), lambda t: torch.linalg.pinv(t, atol=0.5), [random((3, 3), seed=5)])
    gradcheck(linalg.pinv, random((3, 2), seed=4))
    gradcheck(linalg.pinv, random((2, 3), seed=4))


@pytest.mark.parametrize("a_shape,b_shape", [((5, 3), (5, 2)), ((2, 5, 3), (2, 5)), ((3, 3), (3, 2)),
                                             ((2, 3, 5), (2, 3, 2))])
def test_lstsq(a_shape, b_shape):
    compare(lambda a, b: linalg.lstsq(a, b).solution, lambda a, b: torch.linalg.lstsq(a, b).solution,
            [random(a_shape, seed=1), random(b_shape, seed=2)], atol=1e-8, rtol=1e-8)
    for driver in ("gelsy", "gelsd", "gels"):
        got = linalg.lstsq(fibril.tensor(random(a_shape, seed=1)), fibril.tensor(random(b_shape, seed=2)),
                           driver=driver)
        want = torch.linalg.lstsq(torch.tensor(random(a_shape, seed=1)), torch.tensor(random(b_shape, seed=2)),
                                  driver=driver)
        for g, w in zip(got[1:], want[1:]):
            assert_same(g, w, 1e-8, 1e-8)


def test_lstsq_residuals_rank_deficient_and_gradcheck():
    compare(lambda a, b: linalg.lstsq(a, b, driver="gelsd").residuals,
            lambda a, b: torch.linalg.lstsq(a, b, driver="gelsd").residuals, [random((5, 3)), random((5, 2), seed=1)],
            atol=1e-8, rtol=1e-8)
    a = random((5, 3))
    a[:, 2] = a[:, 1]
    got = linalg.lstsq(fibril.tensor(a), fibril.tensor(random((5, 2), seed=1)))
    want = torch.linalg.lstsq(torch.tensor(a), torch.tensor(random((5, 2), seed=1)))
    assert got.rank.item() == want.rank.item() == 2
    np.testing.assert_allclose(got.solution.numpy(), want.solution.numpy(), atol=1e-8)
    gradcheck(lambda a, b: linalg.lstsq(a, b).solution, random((4, 2)), random((4, 1), seed=1))
    with pytest.raises(RuntimeError, match=r"input.size\(-2\) should match other.size\(-2\)"):
        linalg.lstsq(fibril.ones(4, 3), fibril.ones(5, 2))
    with pytest.raises(RuntimeError, match="parameter `driver` should be one of"):
        linalg.lstsq(fibril.ones(4, 3), fibril.ones(4, 2), driver="x")


def test_matrix_rank():
    a = np.stack([np.ones((3, 3)), np.eye(3), random((3, 3))])
    for kwargs in [{}, {"hermitian": True}, {"atol": 1.5}, {"rtol": 0.5}]:
        got = linalg.matrix_rank(fibril.tensor(a), **kwargs)
        want = torch.linalg.matrix_rank(torch.tensor(a), **kwargs)
        assert got.tolist() == want.tolist() and got.dtype == fibril.int64


# ------------------------------------------------------------------------------ decompositions
@pytest.mark.parametrize("shape,upper", [((3, 3), False), ((2, 4, 4), True)])
def test_cholesky(shape, upper):
    compare(lambda x: linalg.cholesky(x, upper=upper), lambda t: torch.linalg.cholesky(t, upper=upper), [spd(shape)])


def test_cholesky_float32_gradcheck_second_derivative():
    compare(linalg.cholesky, torch.linalg.cholesky, [spd((2, 3, 3))], dtype=np.float32, atol=1e-5, rtol=1e-5)
    gradcheck(lambda x: linalg.cholesky(x @ x.mT), well_conditioned((3, 3)))
    check_second_derivative(linalg.cholesky, torch.linalg.cholesky, spd((3, 3)))


def test_cholesky_errors():
    not_definite = np.stack([np.eye(3), np.diag([1.0, -1.0, 1.0])])
    with pytest.raises(linalg.LinAlgError, match=r"linalg.cholesky: \(Batch element 1\): The factorization could not "
                                                 r"be completed because the input is not positive-definite \(the "
                                                 r"leading minor of order 2 is not positive-definite\)."):
        linalg.cholesky(fibril.tensor(not_definite))
    L, info = linalg.cholesky_ex(fibril.tensor(not_definite))
    assert info.tolist() == [0, 2]
    np.testing.assert_allclose(L[0].numpy(), np.eye(3))
    with pytest.raises(RuntimeError, match="square matrices"):
        linalg.cholesky(fibril.ones(2, 3))


@pytest.mark.parametrize("shape,mode", [((4, 3), "reduced"), ((3, 3), "complete"), ((2, 3, 5), "reduced"),
                                        ((2, 3, 5), "complete"), ((2, 5, 3), "r")])
def test_qr(shape, mode):
    if mode == "r":
        got = linalg.qr(fibril.tensor(random(shape)), mode="r")
        want = torch.linalg.qr(torch.tensor(random(shape)), mode="r")
        assert_same(got.Q, want.Q, 0, 0)
        assert_same(got.R, want.R, 1e-12, 1e-12)
        return
    compare(lambda x: linalg.qr(x, mode), lambda t: torch.linalg.qr(t, mode), [random(shape)])


def test_qr_gradcheck_and_errors():
    gradcheck(lambda x: linalg.qr(x), random((3, 2)))
    gradcheck(lambda x: linalg.qr(x), random((2, 3)))
    x = fibril.tensor(random((3, 2)), requires_grad=True)
    with pytest.raises(RuntimeError, match="depends on Q, which is not computed when mode='r'"):
        linalg.qr(x, mode="r").R.sum().backward()
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete' and nrows > ncols"):
        linalg.qr(x, mode="complete").Q.sum().backward()
    with pytest.raises(RuntimeError, match="unrecognized mode 'x'"):
        linalg.qr(x, mode="x")


@pytest.mark.parametrize("shape,uplo", [((4, 4), "L"), ((2, 3, 3), "U")])
def test_eigh(shape, uplo):
    a = symmetric(shape)
    compare(lambda x: linalg.eigh(x, uplo), lambda t: torch.linalg.eigh(t, uplo), [a], loss=weighted_abs,
            signless=True)
    compare(lambda x: linalg.eigvalsh(x, uplo), lambda t: torch.linalg.eigvalsh(t, uplo), [a])
    # only the named triangle is read
    lopsided = np.tril(a) if uplo == "L" else np.triu(a)
    np.testing.assert_allclose(linalg.eigvalsh(fibril.tensor(lopsided), uplo).numpy(), np.linalg.eigvalsh(a))


def test_eigh_float32_gradcheck_and_errors():
    compare(linalg.eigvalsh, torch.linalg.eigvalsh, [symmetric((2, 3, 3))], dtype=np.float32, atol=1e-5, rtol=1e-5)
    sym = lambda x: (x + x.mT) * 0.5
    gradcheck(lambda x: weighted_abs(fibril, *linalg.eigh(sym(x))), symmetric((3, 3)) + random((3, 3)) * 0.1)
    with pytest.raises(RuntimeError, match="Expected UPLO argument to be 'L' or 'U', but got X"):
        linalg.eigh(fibril.eye(2), UPLO="X")
    with pytest.raises(RuntimeError, match="linalg.eigh: A must be batches of square matrices"):
        linalg.eigvalsh(fibril.ones(2, 3))


@pytest.mark.parametrize("shape,full_matrices", [((4, 3), False), ((2, 3, 5), False), ((3, 3), True),
                                                 ((2, 4, 3), True)])
def test_svd(shape, full_matrices):
    a = random(shape, seed=8)
    k = min(shape[-2:])
    # Only the first k columns of U (rows of Vh) are determined by A, up to sign.
    loss = lambda lib, U, S, Vh: weighted_abs(lib, U[..., :k], S, Vh[..., :k, :])
    compare(lambda x: linalg.svd(x, full_matrices), lambda t: torch.linalg.svd(t, full_matrices), [a], loss=loss,
            signless=True)
    compare(linalg.svdvals, torch.linalg.svdvals, [a])


def test_svd_float32_and_gradcheck():
    compare(linalg.svdvals, torch.linalg.svdvals, [random((2, 4, 3))], dtype=np.float32, atol=1e-5, rtol=1e-5)
    gradcheck(lambda x: weighted_abs(fibril, *linalg.svd(x, full_matrices=False)), random((3, 2), seed=9))
    gradcheck(lambda x: weighted_abs(fibril, *linalg.svd(x, full_matrices=False)), random((2, 3), seed=9))
    with pytest.raises(RuntimeError, match="linalg.svd: The input tensor A must have at least 2 dimensions"):
        linalg.svd(fibril.ones(3))


# ------------------------------------------------------------------------------ products
def test_multi_dot():
    shapes = [(3,), (3, 5), (5, 2), (2, 4), (4,)]
    compare(lambda *xs: linalg.multi_dot(xs), lambda *ts: torch.linalg.multi_dot(ts), [random(s, seed=i)
                                                                                      for i, s in enumerate(shapes)])
    compare(lambda *xs: linalg.multi_dot(xs), lambda *ts: torch.linalg.multi_dot(ts),
            [random((2, 6)), random((6, 1), seed=1), random((1, 5), seed=2)])
    gradcheck(lambda a, b, c: linalg.multi_dot([a, b, c]), random((2, 3)), random((3, 1)), random((1, 2)))
    with pytest.raises(RuntimeError, match="expected at least 2 tensors but got 1"):
        linalg.multi_dot([fibril.ones(2, 2)])
    with pytest.raises(RuntimeError, match="tensor 1 must be 2D but got 3D"):
        linalg.multi_dot([fibril.ones(2, 2), fibril.ones(2, 2, 2), fibril.ones(2, 2)])
    with pytest.raises(RuntimeError, match=r"tensors 0 and 1 with shapes \[2, 3\] and \[2, 3\] cannot be multiplied"):
        linalg.multi_dot([fibril.ones(2, 3), fibril.ones(2, 3)])


def test_vecdot_cross_diagonal_matmul():
    compare(linalg.vecdot, torch.linalg.vecdot, [random((2, 3)), random((3,), seed=1)])
    compare(lambda x, y: linalg.vecdot(x, y, dim=0), lambda x, y: torch.linalg.vecdot(x, y, dim=0),
            [random((4, 3)), random((4, 3), seed=1)])
    compare(linalg.cross, torch.linalg.cross, [random((1, 3)), random((2, 3), seed=1)])
    compare(lambda x: linalg.diagonal(x, offset=1), lambda t: torch.linalg.diagonal(t, offset=1), [random((2, 3, 4))])
    compare(linalg.matmul, torch.linalg.matmul, [random((2, 3, 4)), random((4,), seed=1)])
    with pytest.raises(RuntimeError, match="Expected x and y to have the same dtype"):
        linalg.vecdot(fibril.ones(3), fibril.ones(3, dtype=fibril.float64))


# ------------------------------------------------------------------------------ top-level names
def test_top_level_aliases():
    a = well_conditioned((2, 3, 3))
    x, t = fibril.tensor(a), torch.tensor(a)
    np.testing.assert_allclose(fibril.det(x).numpy(), torch.det(t).numpy())
    np.testing.assert_allclose(x.inverse().numpy(), t.inverse().numpy())
    np.testing.assert_allclose(fibril.logdet(x).numpy(), torch.logdet(t).numpy())
    np.testing.assert_allclose(fibril.cholesky(fibril.tensor(spd((3, 3))), True).numpy(),
                               torch.linalg.cholesky(torch.tensor(spd((3, 3))), upper=True).numpy())
    b = random((4, 3))
    got, want = fibril.svd(fibril.tensor(b)), torch.svd(torch.tensor(b))
    assert [tuple(g.shape) for g in got] == [tuple(w.shape) for w in want]
    np.testing.assert_allclose(np.abs(got.V.numpy()), np.abs(want.V.numpy()), atol=1e-12)
    got, want = fibril.svd(fibril.tensor(b), some=False), torch.svd(torch.tensor(b), some=False)
    assert [tuple(g.shape) for g in got] == [tuple(w.shape) for w in want]
    np.testing.assert_allclose(fibril.pinverse(fibril.tensor(b)).numpy(), torch.pinverse(torch.tensor(b)).numpy(),
                               atol=1e-12)


# ------------------------------------------------------------------------------ devices
@pytest.mark.cuda
def test_on_cuda():
    """Results and gradients stay on the device (the factorisations run on the host)."""
    a = well_conditioned((2, 3, 3))

    def program(device, x):
        return (linalg.inv(x).sum() + linalg.det(x).sum() + linalg.svdvals(x).sum() + linalg.matrix_norm(x, 2).sum()
                + linalg.cholesky(x @ x.mT).sum() + linalg.solve(x, x[..., 0]).sum())

    assert_all_close(*on_cpu_and_cuda(lambda device, x: program(device, x).reshape(1), [a]), rtol=1e-10, atol=1e-10)
    x = fibril.tensor(a, device="cuda")
    assert linalg.inv_ex(x).info.device == linalg.matrix_rank(x).device == linalg.qr(x).Q.device == x.device
