"""Reduce ops on Tensors: forward vs numpy (float64) and PyTorch, gradients vs PyTorch and
gradcheck, over dim subsets, keepdim, and non-contiguous inputs."""

import math
import warnings

import numpy as np
import pytest

import fibril
from op_check import check_op, make_inputs, torch

DIMS = [None, 0, -1, (0, 2), (1,)]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "prod", "logsumexp"])
def test_reductions(name, dim, keepdim):
    if name == "logsumexp" and dim is None:
        pytest.skip("torch.logsumexp needs dims")
    if name == "prod" and isinstance(dim, tuple):
        pytest.skip("torch.prod takes one dim")
    np_fn = {"sum": np.sum, "mean": np.mean, "amax": np.max, "amin": np.min, "prod": np.prod,
             "logsumexp": lambda a, axis, keepdims: np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims))}[name]
    axis = dim if not isinstance(dim, tuple) else tuple(dim)

    def fib(x):
        return getattr(x, name)(dim, keepdim=keepdim) if dim is not None else getattr(x, name)()

    def tor(x):
        return getattr(x, name)(dim, keepdim=keepdim) if dim is not None else getattr(x, name)()

    expected = (lambda a: np_fn(a, axis=axis, keepdims=keepdim)) if dim is not None else (lambda a: np_fn(a))
    check_op(fib, tor, make_inputs([(2, 3, 4)]), numpy_fn=expected, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("correction", [0, 1])
@pytest.mark.parametrize("dim", [None, 1, (0, 2)])
@pytest.mark.parametrize("name", ["var", "std"])
def test_moments(name, dim, correction):
    np_fn = getattr(np, name)
    check_op(lambda x: getattr(x, name)(dim, correction=correction),
             lambda x: getattr(x, name)(dim, correction=correction), make_inputs([(3, 4, 5)]),
             numpy_fn=lambda a: np_fn(a, axis=dim, ddof=correction), atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("p", [1, 2, 3, float("inf"), "fro"])
def test_norm(p):
    np_p = 2 if p == "fro" else p
    check_op(lambda x: x.norm(p, dim=1), lambda x: x.norm(p, dim=1), make_inputs([(4, 6)]),
             numpy_fn=lambda a: np.linalg.norm(a, ord=np_p, axis=1), atol=1e-9, rtol=1e-9)


def test_std_gradient_is_zero_where_the_std_is_zero():
    x = fibril.tensor([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]], dtype=fibril.float64, requires_grad=True)
    x.std(1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0, 0.0], [-0.5, 0.0, 0.5]])


def test_var_of_one_element_is_nan_with_a_nan_gradient():
    x = fibril.tensor([3.0], requires_grad=True)
    y = x.var()
    y.backward()
    assert math.isnan(y.item()) and math.isnan(x.grad.item())


# (values, dim, correction) with N - correction <= 0, over all elements (torch's own rule) or
# along dims: the values and gradients are inf or nan, as torch's, never an exception.
NO_DOF = [([3.0], None, 1), ([[3.0], [4.0]], 1, 1), ([[3.0, 4.0]], 1, 2), ([[3.0, 4.0]], 1, 3),
          ([[3.0, 3.0]], 1, 3), ([[2.0, 2.0, 5.0]], None, 3), ([[3.0, 4.0]], None, 2), ([[3.0, 4.0]], (0, 1), 3)]


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("case", range(len(NO_DOF)))
@pytest.mark.parametrize("name", ["var", "std"])
def test_moments_without_degrees_of_freedom_match_torch(name, case, keepdim):
    values, dim, correction = NO_DOF[case]
    x = fibril.tensor(values, dtype=fibril.float64, requires_grad=True)
    t = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    y = getattr(x, name)(dim, correction=correction, keepdim=keepdim)
    with warnings.catch_warnings():  # torch warns that there are no degrees of freedom
        warnings.simplefilter("ignore")
        r = getattr(t, name)(dim, correction=correction, keepdim=keepdim)
    cot = np.linspace(-1.0, 2.0, r.numel()).reshape(tuple(r.shape))
    y.backward(fibril.tensor(cot))
    r.backward(torch.tensor(cot))
    np.testing.assert_array_equal(y.detach().numpy(), r.detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


NORM_ZEROS = np.array([[0.0, 1.0, -2.0, 0.5], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, -1.0]])


@pytest.mark.parametrize("dim, keepdim", [(None, False), (1, False), (1, True), (0, True), ((0, 1), False)])
@pytest.mark.parametrize("p", [0, 0.5, 1, 1.5, 2, 3, float("inf"), float("-inf"), "fro"])
def test_norm_gradient_at_zeros(p, dim, keepdim):
    """Zero elements (and all-zero rows) get a zero gradient for every p, as in torch."""
    if dim is None:
        fib, tor = (lambda x: x.norm(p)), (lambda t: t.norm(p))
    else:
        fib, tor = (lambda x: x.norm(p, dim, keepdim)), (lambda t: t.norm(p, dim, keepdim))
    x = fibril.tensor(NORM_ZEROS, requires_grad=True)
    fib(x).sum().backward()
    assert x.grad.shape == x.shape and np.all(x.grad.numpy()[NORM_ZEROS == 0] == 0)
    check_op(fib, tor, [NORM_ZEROS], atol=1e-12, rtol=1e-12, gradcheck=False)


def test_norm_gradcheck_with_zeros_where_differentiable():
    (a,) = make_inputs([(3, 4)])
    a[0, 1] = a[2, 0] = 0.0
    for p in (1.5, 3):
        x = fibril.tensor(a, requires_grad=True)
        assert fibril.testing.gradcheck(lambda t: t.norm(p, 1), [x])


@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_indices(keepdim):
    (a,) = make_inputs([(4, 5)])
    x = fibril.tensor(a, requires_grad=True)
    values, indices = x.max(1, keepdim=keepdim)
    np.testing.assert_array_equal(values.detach().numpy(), a.max(1, keepdims=keepdim))
    np.testing.assert_array_equal(indices.numpy(), a.argmax(1).reshape(values.shape))
    assert indices.dtype == fibril.int64
    check_op(lambda t: t.max(1, keepdim=keepdim).values, lambda t: t.max(1, keepdim=keepdim).values, [a])
    check_op(lambda t: t.min(0).values, lambda t: t.min(0).values, [a])
    np.testing.assert_array_equal(x.argmin(0).numpy(), a.argmin(0))
    assert x.argmax().item() == a.argmax()


def test_cumulative():
    check_op(lambda x: x.cumsum(1), lambda x: x.cumsum(1), make_inputs([(3, 5)]),
             numpy_fn=lambda a: np.cumsum(a, 1), atol=1e-12)
    check_op(lambda x: x.cumprod(0), lambda x: x.cumprod(0), make_inputs([(4, 3)], low=0.5, high=1.5),
             numpy_fn=lambda a: np.cumprod(a, 0), atol=1e-12)


ZEROS = np.array([[0.0, 2.0, 3.0, 4.0, 0.5], [1.0, 0.0, 2.0, 0.0, 3.0], [2.0, 3.0, 0.0, 0.0, 1.5],
                  [1.0, 2.0, 3.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0], [1.5, 2.0, 0.5, 3.0, -1.0]])


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("transposed", [False, True])
def test_cumprod_gradient_with_zeros(dim, transposed):
    # one zero, several, at either end, none and all, in one slice or across slices
    layout = (lambda t: t.T.contiguous().T) if transposed else None
    check_op(lambda x: x.cumprod(dim), lambda x: x.cumprod(dim), [ZEROS], layout=layout,
             numpy_fn=lambda a: np.cumprod(a, dim), atol=1e-12)


@pytest.mark.parametrize("shape, dim", [((3, 17), 1), ((129,), 0), ((2, 3, 4), 1), ((), 0), ((0, 3), 0), ((3, 0), 1)])
def test_cumprod_gradient_odd_shapes(shape, dim):
    (a,) = make_inputs([shape], seed=3)
    a.reshape(-1)[::5] = 0.0
    check_op(lambda x: x.cumprod(dim), lambda x: x.cumprod(dim), [a], numpy_fn=lambda v: np.cumprod(v, dim),
             atol=1e-12)


def test_cumprod_gradient_keeps_the_input_dtype():
    x = fibril.tensor([[1.0, 0.0, 2.0], [3.0, 4.0, 0.5]], requires_grad=True)
    y = x.cumprod(1, dtype=fibril.float64)
    y.sum().backward()
    assert y.dtype == fibril.float64 and x.grad.dtype == fibril.float32
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, 1.0 + 2.0, 0.0], [1.0 + 4.0 + 2.0, 3.0 + 1.5, 12.0]])


def test_prod_gradient_with_zeros():
    a = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])
    check_op(lambda x: x.prod(1), lambda x: x.prod(1), [a], gradcheck=False)


def test_reductions_of_non_contiguous_inputs():
    check_op(lambda x: x.sum(0), lambda x: x.sum(0), make_inputs([(5, 6)]), layout=lambda t: t.T,
             numpy_fn=lambda a: a.T.sum(0), atol=1e-12)


def test_any_all_and_dtypes():
    t = fibril.tensor([[True, False], [True, True]])
    assert t.any().item() and not t.all().item()
    assert t.all(1).tolist() == [False, True]
    assert fibril.tensor([1, 2, 3]).sum().dtype == fibril.int64
    with pytest.raises(TypeError):
        fibril.tensor([1, 2, 3]).mean()


def test_reduce_errors():
    x = fibril.zeros(2, 3)
    with pytest.raises(IndexError):
        x.sum(2)
    with pytest.raises(ValueError, match="more than once"):
        x.sum((0, 0))
    with pytest.raises(IndexError):
        fibril.zeros(0, 3).amax(0)


def test_sum_to_shape_of_broadcast_gradients():
    a = fibril.tensor(np.ones((3, 1)), requires_grad=True)
    b = fibril.tensor(np.ones((2, 1, 4)), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.tolist() == [[8.0]] * 3 and b.grad.numpy().tolist() == np.full((2, 1, 4), 3.0).tolist()


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_a_small_composite_graph_matches_torch():
    """softmax cross-entropy written with primitive ops: exercises broadcasting, reduce and the engine."""
    logits, = make_inputs([(4, 7)])
    target = np.array([1, 0, 6, 3])
    onehot = np.eye(7)[target]

    def loss(lib, x):
        z = x - x.amax(1, keepdim=True)
        logp = z - z.exp().sum(1, keepdim=True).log()
        return -(logp * lib.tensor(onehot)).sum() / 4

    x = fibril.tensor(logits, requires_grad=True)
    t = torch.tensor(logits, requires_grad=True)
    lf, lt = loss(fibril, x), loss(torch, t)
    lf.backward()
    lt.backward()
    np.testing.assert_allclose(lf.item(), lt.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), atol=1e-12)


# ------------------------------------------------------------------------------ CUDA
def _np(t):
    return t.detach().to("cpu").numpy()


@pytest.mark.cuda
class TestCuda:
    """Forward on cuda tensors against the CPU, and the gradients that need no elementwise
    kernel on the device (sum: an expanded view; max/min along a dim: one scatter)."""

    def _pair(self, shape, seed=0):
        x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
        return fibril.tensor(x), fibril.tensor(x, device="cuda", requires_grad=True)

    @pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "prod", "logsumexp", "var", "std", "norm"])
    def test_forward(self, name):
        xc, xd = self._pair((4, 5, 6))
        for dim in [None, 0, (0, 2), -1]:
            if dim is None and name == "logsumexp":
                continue
            args = () if dim is None else (dim,)
            if name == "norm":
                args = (2,) + args
            want = _np(getattr(xc, name)(*args))
            got = getattr(xd, name)(*args)
            assert got.device == "cuda:0"
            np.testing.assert_allclose(_np(got), want, rtol=2e-6, atol=2e-6)

    def test_sum_backward(self):
        _, xd = self._pair((3, 4))
        xd.sum().backward()
        assert xd.grad.device == "cuda:0"
        np.testing.assert_array_equal(_np(xd.grad), np.ones((3, 4), np.float32))
        _, yd = self._pair((3, 4, 5))
        yd.sum((0, 2)).backward(fibril.tensor(np.arange(4, dtype=np.float32), device="cuda"))
        np.testing.assert_array_equal(_np(yd.grad), np.broadcast_to(np.arange(4.0)[:, None], (3, 4, 5)))

    @pytest.mark.parametrize("is_max", [True, False])
    @pytest.mark.parametrize("dim,keepdim", [(0, False), (1, True), (-1, False)])
    def test_max_min_dim_backward(self, is_max, dim, keepdim):
        xc, xd = self._pair((4, 5, 3), seed=2)
        xc.requires_grad = True
        fn = "max" if is_max else "min"
        out_c, out_d = getattr(xc, fn)(dim, keepdim=keepdim), getattr(xd, fn)(dim, keepdim=keepdim)
        np.testing.assert_array_equal(_np(out_d.values), _np(out_c.values))
        np.testing.assert_array_equal(_np(out_d.indices), out_c.indices.numpy())
        g = np.random.default_rng(9).standard_normal(out_c.values.shape).astype(np.float32)
        out_c.values.backward(fibril.tensor(g))
        out_d.values.backward(fibril.tensor(g, device="cuda"))
        np.testing.assert_array_equal(_np(xd.grad), _np(xc.grad))

    def test_argmax_cumsum(self):
        xc, xd = self._pair((5, 7), seed=4)
        np.testing.assert_array_equal(_np(xd.argmax(1)), _np(xc.argmax(1)))
        np.testing.assert_allclose(_np(xd.cumsum(1)), _np(xc.cumsum(1)), rtol=1e-6)
