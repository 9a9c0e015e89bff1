"""Matmul family: the GEMM against float64 numpy on edge sizes, layouts, dtypes and batch
broadcasting; torch.matmul's 1-D/N-D rules; addmm and linear with the fused epilogue;
gradients (gradcheck and PyTorch); bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fibril
from fibril.ops.matmul import linear
from op_check import check_op

try:
    import torch
except ImportError:
    torch = None

SIZES = [1, 2, 3, 7, 15, 16, 17, 63, 64, 65, 127, 129, 257]


def _rand(shape, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        low = 0 if dtype == np.uint8 else -5
        return rng.integers(low, 6, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _tol(dtype, k):
    return (1e-5 * np.sqrt(k + 1), 1e-5) if dtype == np.float32 else (1e-12 * (k + 1), 1e-12)


def _check(a, b, result=None):
    """fibril's a @ b against the float64 product (integers: exact, with wrap-around)."""
    got = (fibril.from_numpy(a) @ fibril.from_numpy(b)).numpy() if result is None else result
    if np.issubdtype(a.dtype, np.integer):
        expected = np.matmul(a.astype(np.int64), b.astype(np.int64)).astype(a.dtype)
        np.testing.assert_array_equal(got, expected)
        return
    expected = np.matmul(a.astype(np.float64), b.astype(np.float64))
    k = a.shape[-1]
    atol, rtol = _tol(a.dtype, k)
    np.testing.assert_allclose(got, expected, atol=atol * max(1.0, np.abs(expected).max(initial=0)), rtol=rtol)
    assert got.dtype == a.dtype and got.shape == expected.shape


@pytest.mark.parametrize("m", SIZES)
@pytest.mark.parametrize("n", [1, 7, 16, 17, 65, 129])
def test_sizes(m, n):
    for k in (1, 17, 64, 257):
        _check(_rand((m, k)), _rand((k, n), seed=1))


@pytest.mark.parametrize("shape", [(1000, 1000, 3), (3, 1000, 1000), (300, 1000, 200), (1000, 33, 1000),
                                   (24, 600, 40), (25, 600, 40), (6, 5000, 16)])
def test_large_and_blocked(shape):
    """Crosses the KC/MC/NC block edges and both thread splits (rows and columns)."""
    m, k, n = shape
    _check(_rand((m, k)), _rand((k, n), seed=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.uint8])
def test_dtypes(dtype):
    for m, k, n in [(7, 5, 3), (65, 129, 17), (13, 300, 70)]:
        _check(_rand((m, k), dtype), _rand((k, n), dtype, seed=1))


def test_k_zero_gives_zeros():
    out = fibril.zeros(4, 0) @ fibril.zeros(0, 5)
    assert out.shape == (4, 5) and np.all(out.numpy() == 0)
    assert (fibril.zeros(0, 3) @ fibril.zeros(3, 5)).shape == (0, 5)
    assert (fibril.zeros(2, 0, 3) @ fibril.zeros(3, 5)).shape == (2, 0, 5)


LAYOUTS = {
    "contiguous": lambda x: x,
    "transposed": lambda x: np.ascontiguousarray(x.swapaxes(-1, -2)).swapaxes(-1, -2),
    "stepped": lambda x: np.repeat(np.repeat(x, 2, axis=-1), 3, axis=-2)[..., ::3, ::2],
}


@pytest.mark.parametrize("a_layout", LAYOUTS)
@pytest.mark.parametrize("b_layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layouts_are_read_in_place(a_layout, b_layout, dtype):
    for m, k, n in [(5, 3, 2), (33, 70, 19), (130, 40, 260), (8, 300, 40)]:
        a = LAYOUTS[a_layout](_rand((m, k), dtype))
        b = LAYOUTS[b_layout](_rand((k, n), dtype, seed=1))
        fa, fb = fibril.from_numpy(a), fibril.from_numpy(b)
        assert np.shares_memory(fa.numpy(), a)
        _check(a, b, (fa @ fb).numpy())


@pytest.mark.parametrize("a_layout", LAYOUTS)
@pytest.mark.parametrize("b_layout", LAYOUTS)
def test_matrix_vector_forms(a_layout, b_layout):
    """One row or one column of C: the axpy and dot kernels, every operand layout."""
    for m, k, n in [(1, 300, 2500), (1, 7, 3), (2500, 300, 1), (9, 5, 1), (1, 1, 1), (1, 4099, 33)]:
        a = LAYOUTS[a_layout](_rand((m, k)))
        b = LAYOUTS[b_layout](_rand((k, n), seed=1))
        _check(a, b)


@pytest.mark.parametrize("rows", [1, 3])
def test_linear_matrix_vector_epilogue(rows):
    x, w, bias = _rand((rows, 70)), _rand((3000, 70), seed=1), _rand(3000, seed=2)
    out = linear(fibril.from_numpy(x), fibril.from_numpy(w), fibril.from_numpy(bias), "relu").numpy()
    np.testing.assert_allclose(out, np.maximum(x @ w.T + bias, 0), atol=1e-4)


def test_expanded_operands():
    row = _rand((1, 50))
    a = fibril.from_numpy(row).expand(40, 50)
    b = fibril.from_numpy(_rand((50, 1), seed=1)).expand(50, 30)
    _check(np.broadcast_to(row, (40, 50)), np.broadcast_to(b.numpy(), (50, 30)), (a @ b).numpy())


@pytest.mark.parametrize("a_shape,b_shape", [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((5, 2, 3), (3,)), ((3,), (5, 3, 4)),
    ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)), ((5, 1, 2, 3), (4, 3, 6)),
    ((1, 2, 3), (7, 3, 4)), ((2, 1, 4, 5), (1, 3, 5, 2)), ((0, 2, 3), (3, 4)), ((4, 0, 3), (4, 3, 2)),
])
def test_torch_matmul_shape_rules(a_shape, b_shape):
    a, b = _rand(a_shape, np.float64), _rand(b_shape, np.float64, seed=1)
    out = (fibril.from_numpy(a) @ fibril.from_numpy(b)).numpy()
    expected = np.matmul(a, b)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_batched_and_folded_batches_match_loops():
    a, b = _rand((6, 37, 20)), _rand((6, 20, 45), seed=1)
    _check(a, b)
    a4 = _rand((3, 4, 30, 8))
    _check(a4, _rand((8, 19), seed=2))  # (batch, m, k)·(k, n) folds into one GEMM
    _check(a4.transpose(1, 0, 2, 3), _rand((8, 19), seed=2))  # not foldable as a view: copied


# (300, 500, 200) splits A's rows across threads; the short-A shapes split B's columns, each
# thread running its slice's whole GEMM (B read in place, packed, or transposed; with a bias).
@pytest.mark.parametrize("m,k,n,b_t", [(300, 500, 200, False), (40, 700, 999, False), (9, 1300, 700, False),
                                       (50, 400, 1000, True)])
def test_thread_count_does_not_change_results(num_threads, m, k, n, b_t):
    a, b = _rand((m, k)), _rand((n, k) if b_t else (k, n), seed=1)
    bias = fibril.from_numpy(_rand((n,), seed=2))
    fa, fb = fibril.from_numpy(a), fibril.from_numpy(b)
    w = fb if b_t else fb.t()
    num_threads(1)
    one, one_linear = (fa @ w.t()).numpy(), linear(fa, w, bias).numpy()
    num_threads(2)
    two, two_linear = (fa @ w.t()).numpy(), linear(fa, w, bias).numpy()
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one_linear, two_linear)
    np.testing.assert_allclose(one, a.astype(np.float64) @ (b.T if b_t else b), rtol=1e-4, atol=1e-3)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(0, 40), k=st.integers(0, 40), n=st.integers(0, 40),
       batch=st.lists(st.integers(1, 3), max_size=2), a_batched=st.booleans(), b_t=st.booleans(), a_t=st.booleans())
def test_random_shapes_and_layouts(m, k, n, batch, a_batched, b_t, a_t):
    a_shape = tuple(batch if a_batched else []) + (m, k)
    b_shape = tuple([] if a_batched else batch) + (k, n)
    a = _rand(a_shape, np.float64)
    b = _rand(b_shape, np.float64, seed=1)
    if a_t:
        a = LAYOUTS["transposed"](a)
    if b_t:
        b = LAYOUTS["transposed"](b)
    _check(a, b)


# ---------------------------------------------------------------- addmm and linear

@pytest.mark.parametrize("m,k,n", [(13, 300, 64), (64, 784, 256), (129, 520, 33), (300, 40, 250), (28, 17, 256),
                                   (40, 300, 700)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_row_major_a_read_in_place(m, k, n, dtype, num_threads):
    """A small row- or column-major A under few B panels is read in place (not packed): rows
    of a wider matrix (row stride > k), the transpose of one, several k blocks, partial row
    tiles, with alpha and beta."""
    wide, b, c = _rand((m, k + 9), dtype), _rand((k, n), dtype, 1), _rand((m, n), dtype, 2)
    a = wide[:, 3:3 + k]
    tall = np.ascontiguousarray(wide.T)  # (k + 9, m): its rows 3..3+k transposed are a again
    for threads in (1, 2):
        num_threads(threads)
        _check(a, b, (fibril.from_numpy(wide)[:, 3:3 + k] @ fibril.from_numpy(b)).numpy())
        _check(a, b, (fibril.from_numpy(tall)[3:3 + k].T @ fibril.from_numpy(b)).numpy())
        out = fibril.addmm(fibril.from_numpy(c), fibril.from_numpy(wide)[:, 3:3 + k], fibril.from_numpy(b),
                           beta=0.5, alpha=2.0)
        atol, rtol = _tol(dtype, k)
        np.testing.assert_allclose(out.numpy(), 0.5 * c + 2.0 * (a.astype(np.float64) @ b), rtol=rtol,
                                   atol=atol * 4 * np.sqrt(k))


@pytest.mark.parametrize("n", [2, 3, 5, 8, 10, 13, 16])
@pytest.mark.parametrize("m,k", [(2, 16), (7, 15), (5, 33), (64, 100), (301, 257)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_narrow_b_with_contiguous_columns(m, k, n, dtype, num_threads):
    """x @ W.T for a W of at most 16 rows (a classifier head) runs as dot products of
    contiguous rows: every row block and column chunk, k tails, strided rows, a bias and
    relu in the epilogue, alpha and beta, on 1 and 2 threads."""
    wide, w, bias = _rand((m, k + 5), dtype), _rand((n, k + 3), dtype, 1), _rand(n, dtype, 2)
    c = _rand((m, n), dtype, 3)
    x, wk = wide[:, 2:2 + k], w[:, :k]
    z = x.astype(np.float64) @ wk.T.astype(np.float64)
    atol, rtol = _tol(dtype, k)
    for threads in (1, 2):
        num_threads(threads)
        fx, fw = fibril.from_numpy(wide)[:, 2:2 + k], fibril.from_numpy(w)[:, :k]
        _check(x, wk.T, (fx @ fw.T).numpy())
        out = linear(fx, fw, fibril.from_numpy(bias), "relu").numpy()
        np.testing.assert_allclose(out, np.maximum(z + bias, 0), rtol=rtol, atol=atol * np.sqrt(k))
        out = fibril.addmm(fibril.from_numpy(c), fx, fw.T, beta=0.5, alpha=2.0).numpy()
        np.testing.assert_allclose(out, 0.5 * c + 2.0 * z, rtol=rtol, atol=atol * 4 * np.sqrt(k))


def test_addmm_beta_alpha_and_broadcast_input():
    c, a, b = _rand((1, 9), np.float64), _rand((7, 5), np.float64, 1), _rand((5, 9), np.float64, 2)
    out = fibril.addmm(fibril.from_numpy(c), fibril.from_numpy(a), fibril.from_numpy(b), beta=0.5, alpha=2.0)
    np.testing.assert_allclose(out.numpy(), 0.5 * c + 2.0 * a @ b, atol=1e-12)
    nan_input = fibril.full((7, 9), float("nan"), dtype=fibril.float64)
    out = fibril.addmm(nan_input, fibril.from_numpy(a), fibril.from_numpy(b), beta=0)
    np.testing.assert_allclose(out.numpy(), a @ b, atol=1e-12)  # beta = 0 never reads the input


@pytest.mark.parametrize("activation", ["none", "relu", "gelu", "gelu_tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_fused_epilogue(activation, dtype):
    from math import erf
    x, w, bias = _rand((4, 9, 70), dtype), _rand((33, 70), dtype, 1), _rand(33, dtype, 2)
    z = x.astype(np.float64) @ w.T.astype(np.float64) + bias
    expected = {
        "none": z,
        "relu": np.maximum(z, 0),
        "gelu": 0.5 * z * (1 + np.vectorize(erf)(z / np.sqrt(2))),
        "gelu_tanh": 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z ** 3))),
    }[activation]
    out = linear(fibril.from_numpy(x), fibril.from_numpy(w), fibril.from_numpy(bias), activation)
    atol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(out.numpy(), expected, atol=atol, rtol=atol)
    no_bias = linear(fibril.from_numpy(x), fibril.from_numpy(w), None, activation)
    assert no_bias.shape == (4, 9, 33)


def test_linear_strided_bias_and_relu_keeps_nan():
    x, w = _rand((5, 8)), _rand((20, 8), seed=1)
    bias = fibril.from_numpy(_rand(40, seed=2))[::2]
    out = linear(fibril.from_numpy(x), fibril.from_numpy(w), bias, "relu").numpy()
    np.testing.assert_allclose(out, np.maximum(x @ w.T + bias.numpy(), 0), atol=1e-5)
    x[0, 0] = np.nan
    out = linear(fibril.from_numpy(x), fibril.from_numpy(w), None, "relu").numpy()
    assert np.isnan(out[0]).all() and not np.isnan(out[1:]).any()


# ---------------------------------------------------------------- gradients

@pytest.mark.parametrize("a_shape,b_shape", [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)), ((4, 2, 3), (3,)), ((3,), (2, 3, 4)),
])
def test_matmul_gradients(a_shape, b_shape):
    a, b = _rand(a_shape, np.float64), _rand(b_shape, np.float64, seed=1)
    check_op(lambda x, y: x @ y, lambda x, y: x @ y, [a, b], numpy_fn=np.matmul, atol=1e-10)


def test_matmul_gradients_through_transposed_views():
    a, b = _rand((6, 4), np.float64), _rand((5, 6), np.float64, seed=1)
    check_op(lambda x, y: x.mT @ y.mT, lambda x, y: x.mT @ y.mT, [a, b], atol=1e-10)


@pytest.mark.parametrize("a_shape,b_shape", [((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 2, 3), (3,)), ((3,), (3,))])
def test_matmul_keeps_only_what_the_wanted_gradient_reads(a_shape, b_shape):
    """x @ W with W constant saves W alone (torch's rule): changing x in place afterwards is no
    error and leaves x's gradient as it was; with both sides wanted, it is the usual error."""
    rng = np.random.default_rng(11)
    a0, b0 = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    for side in ("a", "b"):
        grads = []
        for change_in_place in (False, True):
            leaf = fibril.tensor(a0 if side == "a" else b0, requires_grad=True)
            x = leaf * 1.0
            out = x @ fibril.tensor(b0) if side == "a" else fibril.tensor(a0) @ x
            if change_in_place:
                x.add_(1.0)
            out.sum().backward()
            grads.append(leaf.grad.numpy())
        np.testing.assert_array_equal(grads[1], grads[0])
    a = fibril.tensor(a0, requires_grad=True) * 1.0
    out = a @ fibril.tensor(b0, requires_grad=True)
    a.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()  # b's gradient reads a


def test_addmm_gradients():
    c, a, b = _rand((4,), np.float64), _rand((3, 5), np.float64, 1), _rand((5, 4), np.float64, 2)
    check_op(lambda c, a, b: fibril.addmm(c, a, b, beta=0.5, alpha=-2.0),
             lambda c, a, b: torch.addmm(c, a, b, beta=0.5, alpha=-2.0), [c, a, b], atol=1e-10)


@pytest.mark.parametrize("activation", ["none", "relu"])
def test_linear_gradients(activation):
    x, w, bias = _rand((2, 3, 6), np.float64), _rand((4, 6), np.float64, 1), _rand(4, np.float64, 2)

    def torch_linear(x, w, b):
        z = torch.nn.functional.linear(x, w, b)
        return torch.relu(z) if activation == "relu" else z

    check_op(lambda x, w, b: linear(x, w, b, activation), torch_linear, [x, w, bias], atol=1e-10)


def test_linear_gelu_epilogue_refuses_gradients():
    x = fibril.randn(2, 3, requires_grad=True)
    with pytest.raises(NotImplementedError, match="gelu"):
        linear(x, fibril.randn(4, 3), None, "gelu")
    with fibril.no_grad():
        assert linear(x, fibril.randn(4, 3), None, "gelu").shape == (2, 4)


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_float32_parity_with_torch():
    a, b = _rand((3, 129, 257)), _rand((257, 65), seed=1)
    got = (fibril.from_numpy(a) @ fibril.from_numpy(b)).numpy()
    np.testing.assert_allclose(got, (torch.from_numpy(a) @ torch.from_numpy(b)).numpy(), atol=2e-4, rtol=1e-4)


# ---------------------------------------------------------------- bad input

def test_inner_dimension_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\[3, 4\].*\[5, 6\]"):
        fibril.zeros(3, 4) @ fibril.zeros(5, 6)
    with pytest.raises(ValueError, match=r"\[2, 3, 4\].*\[5\]"):
        fibril.zeros(2, 3, 4) @ fibril.zeros(5)


def test_batch_mismatch_and_bad_ranks():
    with pytest.raises(ValueError):
        fibril.zeros(2, 3, 4) @ fibril.zeros(3, 4, 5)
    with pytest.raises(ValueError):
        fibril.zeros(()) @ fibril.zeros(3)
    with pytest.raises(ValueError, match="mm"):
        fibril.mm(fibril.zeros(3), fibril.zeros(3, 4))
    with pytest.raises(ValueError, match="bmm"):
        fibril.bmm(fibril.zeros(2, 3, 4), fibril.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="dot"):
        fibril.dot(fibril.zeros(3, 1), fibril.zeros(3))


def test_dtype_mismatch_and_bool_are_type_errors():
    with pytest.raises(TypeError, match="float32.*float64"):
        fibril.zeros(3, 4) @ fibril.zeros(4, 5, dtype=fibril.float64)
    with pytest.raises(TypeError, match="bool"):
        fibril.zeros(3, 4, dtype=fibril.bool) @ fibril.zeros(4, 5, dtype=fibril.bool)


def test_linear_bad_input():
    with pytest.raises(ValueError, match="features"):
        linear(fibril.zeros(3, 4), fibril.zeros(5, 6))
    with pytest.raises(ValueError, match="bias"):
        linear(fibril.zeros(3, 4), fibril.zeros(5, 4), fibril.zeros(4))
    with pytest.raises(ValueError, match="activation"):
        linear(fibril.zeros(3, 4), fibril.zeros(5, 4), None, "tanh")


# ---------------------------------------------------------------- CUDA
# Under FIBRIL_CUDA_EMULATOR=1 these run the same kernels on the CPU (small shapes: the
# emulator runs every thread as a fiber). The emulator reports 4 SMs, so shapes of 4 or more
# 128x128 tiles take the 128-tile SIMT kernel (or, with TF32 allowed, the tensor-core kernel,
# whose plain path is exact float32 there), smaller ones the 64x64 kernel.

def _dev(x):
    return fibril.from_numpy(np.ascontiguousarray(x)).to("cuda")


def _host(t):
    return np.asarray(t.to("cpu"))


def _check_cuda(a, b, da=None, db=None):
    """a @ b on the device (da, db: device views of a and b, default plain copies) against
    float64 numpy and against the CPU kernel."""
    da = _dev(a) if da is None else da
    db = _dev(b) if db is None else db
    out = da @ db
    assert out.device == "cuda:0"
    _check(a, b, _host(out))
    cpu = (fibril.from_numpy(np.ascontiguousarray(a)) @ fibril.from_numpy(np.ascontiguousarray(b))).numpy()
    atol, _ = _tol(a.dtype, a.shape[-1])
    np.testing.assert_allclose(_host(out), cpu, atol=4 * atol * max(1.0, np.abs(cpu).max(initial=0)), rtol=1e-5)


@pytest.fixture
def precision():
    """Lets a test change the float32 matmul precision; restores it afterwards."""
    before = fibril.get_float32_matmul_precision()
    yield fibril.set_float32_matmul_precision
    fibril.set_float32_matmul_precision(before)


CUDA_SHAPES = [(1, 1, 1), (1, 7, 16), (7, 1, 17), (16, 16, 16), (17, 63, 65), (65, 17, 63), (63, 129, 7),
               (129, 65, 129), (1, 129, 65), (65, 129, 1), (129, 1, 129), (7, 65, 1), (260, 16, 132)]


@pytest.mark.cuda
class TestCuda:
    @pytest.mark.parametrize("m,k,n", CUDA_SHAPES)
    def test_sizes(self, m, k, n):
        _check_cuda(_rand((m, k)), _rand((k, n), seed=1))

    @pytest.mark.parametrize("m,k,n", [(17, 33, 65), (65, 40, 64), (1, 64, 33), (33, 64, 1)])
    def test_float64(self, m, k, n):
        _check_cuda(_rand((m, k), np.float64), _rand((k, n), np.float64, seed=1))
        _check_cuda(_rand((m, k), np.float64), _rand((n, k), np.float64, seed=1).T,
                    db=_dev(_rand((n, k), np.float64, seed=1)).mT)

    @pytest.mark.parametrize("level", ["highest", "high"])
    @pytest.mark.parametrize("a_t,b_t", [(False, False), (True, True)])
    @pytest.mark.parametrize("m,k,n,batch", [(50, 700, 60, 0), (9, 1000, 3, 0), (20, 300, 12, 1)])
    def test_split_k(self, precision, level, a_t, b_t, m, k, n, batch):
        """Few output tiles and a long k: the k range is cut into slices whose partial products
        a second pass sums with the epilogue (bias, relu)."""
        precision(level)
        lead = (batch,) if batch else ()
        a, b = _rand(lead + (m, k)), _rand(lead + (k, n), seed=1)
        da = _dev(np.ascontiguousarray(np.swapaxes(a, -1, -2))).mT if a_t else _dev(a)
        db = _dev(np.ascontiguousarray(np.swapaxes(b, -1, -2))).mT if b_t else _dev(b)
        expected = a.astype(np.float64) @ b
        tol = 3e-3 * np.sqrt(k) if level == "high" and not fibril.cuda.is_emulated() else 1e-5 * np.sqrt(k)
        np.testing.assert_allclose(_host(da @ db), expected, atol=tol, rtol=tol)
        if not batch:
            bias = _rand(n, seed=4)
            with fibril.no_grad():
                out = _host(linear(da, db.mT, _dev(bias), "relu"))
            np.testing.assert_allclose(out, np.maximum(expected + bias, 0), atol=tol, rtol=tol)
            c = _rand((m, n), seed=5)
            out = _host(fibril.addmm(_dev(c), da, db, beta=0.5, alpha=2.0))
            np.testing.assert_allclose(out, 0.5 * c + 2.0 * expected, atol=2 * tol, rtol=tol)

    def test_k_zero_and_empty(self):
        out = fibril.zeros(4, 0, device="cuda") @ fibril.zeros(0, 5, device="cuda")
        np.testing.assert_array_equal(_host(out), np.zeros((4, 5), np.float32))
        assert (fibril.zeros(0, 3, device="cuda") @ fibril.zeros(3, 5, device="cuda")).shape == (0, 5)
        bias = _rand(5)
        out = linear(fibril.zeros(4, 0, device="cuda"), fibril.zeros(5, 0, device="cuda"), _dev(bias), "relu")
        np.testing.assert_allclose(_host(out), np.broadcast_to(np.maximum(bias, 0), (4, 5)))

    @pytest.mark.parametrize("a_t,b_t", [(False, False), (True, False), (False, True), (True, True)])
    @pytest.mark.parametrize("m,k,n", [(129, 64, 132), (65, 36, 68), (20, 17, 9)])
    def test_transposed_layouts(self, a_t, b_t, m, k, n):
        a, b = _rand((m, k)), _rand((k, n), seed=1)
        da = _dev(a.T.copy()).mT if a_t else _dev(a)
        db = _dev(b.T.copy()).mT if b_t else _dev(b)
        _check_cuda(a, b, da, db)

    def test_strided_and_offset_views(self):
        big_a, big_b = _rand((70, 90)), _rand((90, 150), seed=1)
        da, db = _dev(big_a), _dev(big_b)
        # stepped columns (no stride 1), an odd base offset (no 16-byte alignment), both
        _check_cuda(big_a[:, ::2], big_b[:45, 1::3], da[:, ::2], db[:45, 1::3])
        _check_cuda(big_a[1:, 1:], big_b[1:, 3:], da[1:, 1:], db[1:, 3:])
        _check_cuda(big_a[3:67, ::3], big_b[::3, 5:70], da[3:67, ::3], db[::3, 5:70])

    @pytest.mark.parametrize("a_shape,b_shape", [((3, 17, 33), (33, 20)), ((4, 65, 17), (4, 17, 33)),
                                                 ((5, 1, 2, 3), (4, 3, 2)), ((2, 1, 9, 8), (2, 3, 8, 12)),
                                                 ((3, 1, 8), (3, 8, 1)), ((3,), (2, 3, 4)), ((4, 2, 3), (3,))])
    def test_batched_and_broadcast(self, a_shape, b_shape):
        a, b = _rand(a_shape), _rand(b_shape, seed=1)
        out = _host(_dev(a) @ _dev(b))
        np.testing.assert_allclose(out, np.matmul(a.astype(np.float64), b), atol=1e-4, rtol=1e-5)
        assert out.shape == np.matmul(a, b).shape

    def test_bmm_of_expanded_operands(self):
        a, b = _rand((1, 20, 9)), _rand((3, 9, 1), seed=1)
        da, db = _dev(a).expand(4, 20, 9), _dev(b)[1:2].expand(4, 9, 7)
        out = _host(fibril.bmm(da, db))
        expected = np.matmul(np.broadcast_to(a, (4, 20, 9)), np.broadcast_to(b[1:2], (4, 9, 7)))
        np.testing.assert_allclose(out, expected, atol=1e-5, rtol=1e-5)

    def test_addmm_alpha_beta(self):
        c, a, b = _rand((1, 9), np.float64), _rand((7, 5), np.float64, 1), _rand((5, 9), np.float64, 2)
        out = fibril.addmm(_dev(c), _dev(a), _dev(b), beta=0.5, alpha=2.0)
        np.testing.assert_allclose(_host(out), 0.5 * c + 2.0 * a @ b, atol=1e-12)
        c32, a32, b32 = _rand((65, 66)), _rand((65, 20), seed=1), _rand((20, 66), seed=2)
        out = fibril.addmm(_dev(c32), _dev(a32), _dev(b32), beta=-1.5, alpha=0.25)
        np.testing.assert_allclose(_host(out), -1.5 * c32 + 0.25 * (a32 @ b32), atol=1e-5)
        nan_input = fibril.full((7, 9), float("nan"), dtype=fibril.float64, device="cuda")
        out = fibril.addmm(nan_input, _dev(a), _dev(b), beta=0)
        np.testing.assert_allclose(_host(out), a @ b, atol=1e-12)  # beta = 0 never reads the input

    @pytest.mark.parametrize("activation", ["none", "relu", "gelu", "gelu_tanh"])
    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_linear_epilogue(self, activation, dtype):
        x, w, bias = _rand((2, 9, 70), dtype), _rand((33, 70), dtype, 1), _rand(33, dtype, 2)
        with fibril.no_grad():
            got = _host(linear(_dev(x), _dev(w), _dev(bias), activation))
            cpu = linear(fibril.from_numpy(x), fibril.from_numpy(w), fibril.from_numpy(bias), activation).numpy()
        atol = 1e-4 if dtype == np.float32 else 1e-11
        np.testing.assert_allclose(got, cpu, atol=atol, rtol=atol)
        sbias = _dev(_rand(66, dtype, 3))[::2]  # a stepped bias
        with fibril.no_grad():
            got = _host(linear(_dev(x[0]), _dev(w), sbias, activation))
            cpu = linear(fibril.from_numpy(x[0]), fibril.from_numpy(w), fibril.from_numpy(_rand(66, dtype, 3)[::2]),
                         activation).numpy()
        np.testing.assert_allclose(got, cpu, atol=atol, rtol=atol)

    def test_relu_keeps_nan(self):
        x, w = _rand((5, 8)), _rand((20, 8), seed=1)
        x[0, 0] = np.nan
        out = _host(linear(_dev(x), _dev(w), None, "relu"))
        assert np.isnan(out[0]).all() and not np.isnan(out[1:]).any()

    def test_matrix_vector_paths(self):
        for dtype in (np.float32, np.float64):
            a, v = _rand((37, 130), dtype), _rand(130, dtype, 1)
            u = _rand(37, dtype, 2)
            for da in (_dev(a), _dev(a.T.copy()).mT):
                np.testing.assert_allclose(_host(da @ _dev(v)), a.astype(np.float64) @ v, atol=1e-4, rtol=1e-5)
                np.testing.assert_allclose(_host(_dev(u) @ da), u @ a.astype(np.float64), atol=1e-4, rtol=1e-5)
            batch = _rand((3, 1, 64), dtype), _rand((3, 64, 45), dtype, 1)
            np.testing.assert_allclose(_host(_dev(batch[0]) @ _dev(batch[1])), np.matmul(*batch), atol=1e-4, rtol=1e-5)

    def test_precision_setting(self, precision):
        assert fibril.get_float32_matmul_precision() == "highest"
        for p in ("high", "medium", "highest"):
            precision(p)
            assert fibril.get_float32_matmul_precision() == p
        with pytest.raises(ValueError, match="highest"):
            precision("fast")

    @pytest.mark.parametrize("a_t,b_t", [(False, False), (True, False), (False, True), (True, True)])
    @pytest.mark.parametrize("m,k,n", [(130, 36, 132), (70, 36, 100)])
    def test_tf32_tiles(self, precision, a_t, b_t, m, k, n):
        """The tensor-core kernels' tiling, pipeline and fragment indexing (their plain float32
        path under the emulator; TF32 on a GPU): edge tiles in m, n and k, partial 16-byte
        chunks (m = 130 read with a row pitch of 132), the epilogue; 128-tiles, and 64-tiles
        when 128-tiles would leave most of the GPU idle (70 x 100)."""
        precision("high")
        a_full, b_full = _rand((m + 2, k)), _rand((k, n), seed=1)
        a = a_full[:m]
        # transposed A is read along m with pitch 132: a column's last 16-byte chunk is partial
        da = _dev(np.pad(a.T, ((0, 0), (0, 2))))[:, :m].mT if a_t else _dev(a_full)[:m]
        db = _dev(b_full.T.copy()).mT if b_t else _dev(b_full)
        got = _host(da @ db)
        expected = a.astype(np.float64) @ b_full
        tol = 1e-5 if fibril.cuda.is_emulated() else 3e-3 * np.sqrt(k)
        np.testing.assert_allclose(got, expected, atol=tol, rtol=tol)
        bias = _rand(n, seed=4)
        with fibril.no_grad():
            out = _host(linear(da, db.mT, _dev(bias), "relu"))
        np.testing.assert_allclose(out, np.maximum(expected + bias, 0), atol=tol, rtol=tol)
        batched = _host(_dev(np.stack([a, 2 * a])) @ db)
        np.testing.assert_allclose(batched, np.stack([expected, 2 * expected]), atol=2 * tol, rtol=tol)

    def test_matmul_gradients(self):
        for a_shape, b_shape in [((17, 9), (9, 20)), ((3, 5, 9), (9, 7)), ((4, 5, 6), (4, 6, 3)), ((9,), (9, 4))]:
            a, b, g = _rand(a_shape, np.float64), _rand(b_shape, np.float64, 1), None
            ta, tb = _dev(a).requires_grad_(), _dev(b).requires_grad_()
            ca, cb = fibril.from_numpy(a).requires_grad_(), fibril.from_numpy(b).requires_grad_()
            out, ref = ta @ tb, ca @ cb
            g = _rand(ref.shape, np.float64, 2)
            out.backward(_dev(g))
            ref.backward(fibril.from_numpy(g))
            assert ta.grad.device == "cuda:0"
            np.testing.assert_allclose(_host(ta.grad), ca.grad.numpy(), atol=1e-12)
            np.testing.assert_allclose(_host(tb.grad), cb.grad.numpy(), atol=1e-12)

    def test_linear_module_forward_backward(self):
        layer = fibril.nn.Linear(12, 5)
        x, g = _rand((6, 12)), _rand((6, 5), seed=1)
        ref_x = fibril.from_numpy(x).requires_grad_()
        ref = layer(ref_x)
        ref.backward(fibril.from_numpy(g))
        ref_grads = [p.grad.numpy() for p in (layer.weight, layer.bias)]
        layer.zero_grad()
        layer.to("cuda")
        assert layer.weight.device == "cuda:0"
        dx = _dev(x).requires_grad_()
        out = layer(dx)
        np.testing.assert_allclose(_host(out), ref.detach().numpy(), atol=1e-5)
        out.backward(_dev(g))
        np.testing.assert_allclose(_host(dx.grad), ref_x.grad.numpy(), atol=1e-5)
        for p, expected in zip((layer.weight, layer.bias), ref_grads):
            assert p.grad.device == "cuda:0"
            np.testing.assert_allclose(_host(p.grad), expected, atol=1e-5)

    def test_mixed_devices_and_dtypes(self):
        with pytest.raises(RuntimeError, match="same device"):
            fibril.zeros(3, 4) @ fibril.zeros(4, 5, device="cuda")
        with pytest.raises(RuntimeError, match="same device"):
            linear(fibril.zeros(3, 4, device="cuda"), fibril.zeros(5, 4, device="cuda"), fibril.zeros(5))
        with pytest.raises(NotImplementedError, match="floating-point operands, got int64"):
            _dev(np.ones((3, 4), np.int64)) @ _dev(np.ones((4, 5), np.int64))


# Shapes whose grids fill a real GPU's SMs: there they take the largest tensor-core tiles
# (wgmma on compute 9.0, 128 x 128 and 128 x 256 tiles), which the small shapes above never
# reach. Too slow for the emulator, whose kernels are the same as for the small shapes.
LARGE_SHAPES = [(1100, 200, 1030, 0), (2100, 136, 2060, 0), (600, 72, 520, 4), (1030, 1000, 1170, 0)]


@pytest.mark.cuda
@pytest.mark.skipif(fibril.cuda.is_emulated(), reason="GPU-sized products")
@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "tf32"])
@pytest.mark.parametrize("m,k,n,batch", LARGE_SHAPES)
@pytest.mark.parametrize("layout", ["nt", "nn", "tn"])
def test_cuda_large_tensor_core_products(precision, dtype, m, k, n, batch, layout):
    """Every layout (n: as stored, t: a transposed view), batches, k off the 64-wide stage, and
    the epilogues (bias + relu, beta C) against the float64 product of the rounded inputs."""
    precision("high")
    fdtype = fibril.float32 if dtype == "tf32" else getattr(fibril, dtype)
    lead = (batch,) if batch else ()

    def operand(shape, transposed, seed):
        x = _rand(lead + (shape[1], shape[0]) if transposed else lead + shape, seed=seed)
        t = _dev(x).to(fdtype)
        x = _host(t.float()).astype(np.float64)
        return (np.swapaxes(x, -1, -2), t.mT) if transposed else (x, t)

    a, da = operand((m, k), layout[0] == "t", 0)
    b, db = operand((k, n), layout[1] == "t", 1)
    expected = a @ b
    out = _host((da @ db).float())
    scale = np.abs(expected).max()
    rtol = 1e-2 if dtype != "tf32" else 3e-3
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol * scale)
    if not batch:
        bias = _dev(_rand(n, seed=4)).to(fdtype)
        with fibril.no_grad():
            fused = _host(linear(da, db.mT, bias, "relu").float())
        np.testing.assert_allclose(fused, np.maximum(expected + _host(bias.float()), 0), rtol=rtol, atol=rtol * scale)
        c = _dev(_rand((m, n), seed=5)).to(fdtype)
        out = _host(fibril.addmm(c, da, db, beta=0.5, alpha=2.0).float())
        np.testing.assert_allclose(out, 0.5 * _host(c.float()) + 2 * expected, rtol=rtol, atol=2 * rtol * scale)
