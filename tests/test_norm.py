"""Norm family: layer_norm, rms_norm, group_norm and batch_norm (training with running
statistics, eval, affine or not) against a float64 numpy reference and PyTorch (forward and
gradients), gradcheck, float32 parity, non-contiguous inputs and bad input."""

import numpy as np
import pytest

import fibril
import fibril.nn.functional as F
from op_check import assert_all_close, check_op, make_inputs, on_cpu_and_cuda, torch

TF = torch.nn.functional if torch is not None else None
needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")


def np_layer_norm(a, k, eps=1e-5):
    axes = tuple(range(a.ndim - k, a.ndim))
    m = a.mean(axis=axes, keepdims=True)
    return (a - m) / np.sqrt(a.var(axis=axes, keepdims=True) + eps)


def np_rms_norm(a, k, eps):
    axes = tuple(range(a.ndim - k, a.ndim))
    return a / np.sqrt((a * a).mean(axis=axes, keepdims=True) + eps)


def transposed(t):
    return t.transpose(0, 1).contiguous().transpose(0, 1)


@pytest.mark.parametrize("layout", [None, transposed])
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("shape,normalized", [((6, 7), (7,)), ((3, 4, 5), (4, 5)), ((2, 3, 33), (33,))])
def test_layer_norm(shape, normalized, affine, layout):
    arrays = make_inputs([shape] + ([normalized, normalized] if affine else []))
    k = len(normalized)

    def ref(a, w=None, b=None):
        y = np_layer_norm(a, k)
        return y if w is None else y * w + b

    check_op(lambda x, *p: F.layer_norm(x, normalized, *p), lambda x, *p: TF.layer_norm(x, normalized, *p), arrays,
             numpy_fn=ref, atol=1e-10, rtol=1e-9, layout=(lambda t: layout(t) if t.ndim == len(shape) else t)
             if layout else None)


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("eps", [None, 1e-3])
def test_rms_norm(affine, eps):
    shape, normalized = (4, 3, 6), (3, 6)
    arrays = make_inputs([shape] + ([normalized] if affine else []))
    ref_eps = np.finfo(np.float64).eps if eps is None else eps

    def ref(a, w=None):
        y = np_rms_norm(a, 2, ref_eps)
        return y if w is None else y * w

    check_op(lambda x, *w: F.rms_norm(x, normalized, *w, eps=eps), lambda x, *w: TF.rms_norm(x, normalized, *w, eps=eps),
             arrays, numpy_fn=ref, atol=1e-10, rtol=1e-9)


@pytest.mark.parametrize("affine", [False, True])
def test_group_norm(affine):
    arrays = make_inputs([(2, 6, 5)] + ([(6,), (6,)] if affine else []))
    check_op(lambda x, *p: F.group_norm(x, 3, *p), lambda x, *p: TF.group_norm(x, 3, *p), arrays, atol=1e-10, rtol=1e-9)


@pytest.mark.parametrize("layout", [None, transposed])
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 7), (2, 3, 4, 5)])
def test_batch_norm_training(shape, affine, layout):
    c = shape[1]
    arrays = make_inputs([shape] + ([(c,), (c,)] if affine else []))

    def ref(a, w=None, b=None):
        axes = (0,) + tuple(range(2, a.ndim))
        y = (a - a.mean(axes, keepdims=True)) / np.sqrt(a.var(axes, keepdims=True) + 1e-5)
        view = (1, c) + (1,) * (a.ndim - 2)
        return y if w is None else y * w.reshape(view) + b.reshape(view)

    lay = (lambda t: layout(t) if t.ndim == len(shape) else t) if layout else None
    check_op(lambda x, *p: F.batch_norm(x, None, None, *p, training=True),
             lambda x, *p: TF.batch_norm(x, None, None, *p, training=True), arrays, numpy_fn=ref, atol=1e-10,
             rtol=1e-9, layout=lay)


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_norm_running_stats_and_eval(dtype):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((8, 4, 3, 3)) * 2 + 1).astype(dtype)
    rm, rv = fibril.zeros(4, dtype=dtype), fibril.ones(4, dtype=dtype)
    trm, trv = torch.zeros(4, dtype=getattr(torch, dtype)), torch.ones(4, dtype=getattr(torch, dtype))
    w, b = rng.uniform(0.5, 1.5, 4).astype(dtype), rng.uniform(-1, 1, 4).astype(dtype)
    for _ in range(3):
        got = F.batch_norm(fibril.tensor(a), rm, rv, fibril.tensor(w), fibril.tensor(b), training=True, momentum=0.3)
        want = TF.batch_norm(torch.tensor(a), trm, trv, torch.tensor(w), torch.tensor(b), training=True, momentum=0.3)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=tol, atol=tol)
    # eval: the running statistics normalize; gradients to x, weight and bias
    x, tx = fibril.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    fw, tw = fibril.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    y = F.batch_norm(x, rm, rv, fw, None, training=False)
    ty = TF.batch_norm(tx, trm, trv, tw, None, training=False)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    g = rng.standard_normal(a.shape).astype(dtype)
    y.backward(fibril.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(fw.grad.numpy(), tw.grad.numpy(), rtol=10 * tol, atol=10 * tol)


def test_batch_norm_eval_gradcheck():
    rm = fibril.tensor([0.5, -0.2, 0.1], dtype=fibril.float64)
    rv = fibril.tensor([1.5, 0.7, 2.0], dtype=fibril.float64)
    check_op(lambda x, w, b: F.batch_norm(x, rm, rv, w, b), lambda x, w, b: TF.batch_norm(
        x, torch.tensor(rm.numpy()), torch.tensor(rv.numpy()), w, b), make_inputs([(4, 3, 2), (3,), (3,)]),
        atol=1e-10, rtol=1e-9)


@needs_torch
@pytest.mark.parametrize("name", ["layer_norm", "rms_norm"])
def test_row_norms_float32_large_rows(name):
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((37, 4099)) * 3 + 5).astype(np.float32)
    w, b = rng.uniform(0.5, 1.5, 4099).astype(np.float32), rng.uniform(-1, 1, 4099).astype(np.float32)
    fargs = [fibril.tensor(w, requires_grad=True)] + ([fibril.tensor(b, requires_grad=True)] if name == "layer_norm" else [])
    targs = [torch.tensor(w, requires_grad=True)] + ([torch.tensor(b, requires_grad=True)] if name == "layer_norm" else [])
    x, t = fibril.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = getattr(F, name)(x, (4099,), *fargs), getattr(TF, name)(t, (4099,), *targs)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(a.shape).astype(np.float32)
    y.backward(fibril.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-4)
    for p, tp in zip(fargs, targs):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-3)


def test_layer_norm_constant_rows():
    x = fibril.full((3, 8), 7.0, requires_grad=True)
    y = F.layer_norm(x, (8,))
    np.testing.assert_array_equal(y.detach().numpy(), np.zeros((3, 8)))
    y.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_norm_results_do_not_depend_on_threads():
    a = np.random.default_rng(2).standard_normal((300, 64))
    outs = []
    for threads in (1, 2):
        fibril.set_num_threads(threads)
        w = fibril.ones(64, dtype=fibril.float64, requires_grad=True)
        F.layer_norm(fibril.tensor(a), (64,), w).sum().backward()
        outs.append(w.grad.numpy())
    fibril.set_num_threads(2)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_batch_norm_one_value_per_channel_in_training():
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\[1, 3\]"):
        F.batch_norm(fibril.zeros((1, 3)), None, None, training=True)
    F.batch_norm(fibril.zeros((1, 3)), fibril.zeros(3), fibril.ones(3), training=False)


def test_bad_shapes_name_both():
    with pytest.raises(ValueError, match=r"\[5\].*\[3, 4\]"):
        F.layer_norm(fibril.zeros((3, 4)), (5,))
    with pytest.raises(ValueError, match=r"weight of shape \[3\].*\[4\]"):
        F.layer_norm(fibril.zeros((3, 4)), (4,), fibril.ones(3))
    with pytest.raises(ValueError, match=r"weight of shape \[2\].*\[3\].*\[4, 3\]"):
        F.batch_norm(fibril.zeros((4, 3)), None, None, fibril.ones(2), training=True)
    with pytest.raises(ValueError, match="groups"):
        F.group_norm(fibril.zeros((2, 6, 3)), 4)


# ------------------------------------------------------------------------------------- CUDA
# The fused kernels on "cuda" (a GPU, or FIBRIL_CUDA_EMULATOR=1) against the CPU kernels and a
# float64 numpy reference: warp rows (<= 1024) and block rows in forward, block rows with the
# per-block weight/bias partials in backward, odd lengths (scalar heads and tails around the
# 128-bit loads), float64, batch norm in training (chunks merged per channel) and eval.
CUDA_TOL = {"float32": dict(rtol=5e-5, atol=5e-5), "float64": dict(rtol=1e-11, atol=1e-12)}


@pytest.mark.cuda
@pytest.mark.parametrize("n", [1, 3, 31, 33, 1000, 1025, 1031])
@pytest.mark.parametrize("name", ["layer_norm", "rms_norm"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_row_norms(n, name, dtype):
    rng = np.random.default_rng(n)
    a = (rng.standard_normal((3, n)) * 2 + 1).astype(dtype)
    w, b = rng.uniform(0.5, 1.5, n).astype(dtype), rng.uniform(-1, 1, n).astype(dtype)
    if name == "layer_norm":
        cpu, cuda = on_cpu_and_cuda(lambda d, x, w, b: F.layer_norm(x, (n,), w, b), [a, w, b])
        ref = np_layer_norm(a.astype(np.float64), 1) * w + b
    else:
        cpu, cuda = on_cpu_and_cuda(lambda d, x, w: F.rms_norm(x, (n,), w, eps=1e-6), [a, w])
        ref = np_rms_norm(a.astype(np.float64), 1, 1e-6) * w
    assert_all_close(cpu, cuda, **CUDA_TOL[dtype])
    np.testing.assert_allclose(cuda[0], ref, **CUDA_TOL[dtype])


@pytest.mark.cuda
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("name", ["layer_norm", "rms_norm"])
def test_cuda_row_norms_many_rows_and_trailing_dims(name, affine):
    """300 rows of (3, 11): several rows per backward block, partials summed over blocks."""
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((100, 3, 3, 11))] + ([rng.uniform(0.5, 1.5, (3, 11))] if affine else [])
    if name == "layer_norm":
        arrays += [rng.uniform(-1, 1, (3, 11))] if affine else []
        fn = lambda d, x, *p: F.layer_norm(x, (3, 11), *p)  # noqa: E731
    else:
        fn = lambda d, x, *p: F.rms_norm(x, (3, 11), *p, eps=1e-5)  # noqa: E731
    cpu, cuda = on_cpu_and_cuda(fn, arrays)
    assert_all_close(cpu, cuda, **CUDA_TOL["float64"])


@pytest.mark.cuda
def test_cuda_layer_norm_long_rows_partials_in_global_scratch():
    """6200 float64 columns: the per-block weight/bias partials (97 KiB) exceed shared memory."""
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal((2, 6200)), rng.uniform(0.5, 1.5, 6200), rng.uniform(-1, 1, 6200)]
    cpu, cuda = on_cpu_and_cuda(lambda d, x, w, b: F.layer_norm(x, (6200,), w, b), arrays)
    assert_all_close(cpu, cuda, **CUDA_TOL["float64"])


@pytest.mark.cuda
def test_cuda_layer_norm_misaligned_base():
    """A view one element into its buffer: the scalar path (y is 16-byte aligned, x is not)."""
    flat = np.random.default_rng(2).standard_normal(1 + 40 * 36).astype(np.float32)
    want = F.layer_norm(fibril.tensor(flat)[1:].reshape(40, 36), (36,)).numpy()
    got = F.layer_norm(fibril.tensor(flat, device="cuda")[1:].reshape(40, 36), (36,)).cpu().numpy()
    np.testing.assert_allclose(got, want, **CUDA_TOL["float32"])


@pytest.mark.cuda
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 3, 4, 4), (3, 2, 1030)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_batch_norm(shape, training, dtype):
    rng = np.random.default_rng(len(shape))
    c = shape[1]
    a = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    w, b = rng.uniform(0.5, 1.5, c).astype(dtype), rng.uniform(-1, 1, c).astype(dtype)
    stats = {}

    def fn(device, x, w, b):
        rm = fibril.tensor(np.linspace(-0.5, 0.5, c).astype(dtype), device=device)
        rv = fibril.tensor(np.linspace(0.5, 2.0, c).astype(dtype), device=device)
        y = F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.3)
        stats[device] = (rm, rv)
        return y

    cpu, cuda = on_cpu_and_cuda(fn, [a, w, b])
    assert_all_close(cpu, cuda, **CUDA_TOL[dtype])
    for want, got in zip(stats["cpu"], stats["cuda"]):
        np.testing.assert_allclose(got.cpu().numpy(), want.numpy(), **CUDA_TOL[dtype])
    if training:
        axes = (0,) + tuple(range(2, len(shape)))
        view = (1, c) + (1,) * (len(shape) - 2)
        a64 = a.astype(np.float64)
        ref = (a64 - a64.mean(axes, keepdims=True)) / np.sqrt(a64.var(axes, keepdims=True) + 1e-5)
        np.testing.assert_allclose(cuda[0], ref * w.reshape(view) + b.reshape(view), **CUDA_TOL[dtype])


@pytest.mark.cuda
def test_cuda_norm_modules():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 6, 33))
    for make in (lambda: fibril.nn.LayerNorm(33, dtype=fibril.float64),
                 lambda: fibril.nn.RMSNorm([6, 33], dtype=fibril.float64)):
        grads = []
        for device in ("cpu", "cuda"):
            m = make().to(device)
            x = fibril.tensor(a, device=device, requires_grad=True)
            m(x).backward(fibril.ones((4, 6, 33), dtype=fibril.float64, device=device))
            assert m.weight.grad.device == x.device
            grads.append([x.grad.cpu().numpy(), m.weight.grad.cpu().numpy()])
        for want, got in zip(*grads):
            np.testing.assert_allclose(got, want, **CUDA_TOL["float64"])
    bn = fibril.nn.BatchNorm2d(6, dtype=fibril.float64).to("cuda").eval()
    y = bn(fibril.tensor(a.reshape(2, 6, 11, 6), device="cuda"))
    np.testing.assert_allclose(y.detach().cpu().numpy(), a.reshape(2, 6, 11, 6) / np.sqrt(1 + 1e-5), rtol=1e-12)


@pytest.mark.cuda
def test_cuda_mixed_devices_are_runtime_errors():
    x = fibril.zeros((2, 3), device="cuda")
    with pytest.raises(RuntimeError, match="same device"):
        F.layer_norm(x, (3,), fibril.ones(3))
    with pytest.raises(RuntimeError, match="same device"):
        F.batch_norm(x, fibril.zeros(3), fibril.ones(3), training=False)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_rms_norm_default_eps_16bit(dtype):
    # torch's default eps is that of the compute dtype: float32's for 16-bit input, not the 16-bit eps
    eps = np.finfo(np.float64 if dtype == "float64" else np.float32).eps
    x = fibril.full((2, 4), 1e-2, dtype=getattr(fibril, dtype))
    expected = 1e-2 / np.sqrt(1e-4 + eps)
    for y in (F.rms_norm(x, [4]), fibril.nn.RMSNorm(4, dtype=getattr(fibril, dtype))(x)):
        assert y.dtype == x.dtype
        np.testing.assert_allclose(y.detach().float().numpy(), expected, rtol=1e-2)


@pytest.mark.parametrize("shape", [(0, 3, 4), (0, 3, 2, 2), (2, 3, 0)])
def test_batch_norm_eval_on_an_empty_input(shape):
    """No values per channel: an empty output and zero weight and bias gradients, as torch
    (the kernel's work split divided by the element count: a SIGFPE)."""
    m = (fibril.nn.BatchNorm1d(3) if len(shape) == 3 else fibril.nn.BatchNorm2d(3)).eval()
    x = fibril.ones(*shape, requires_grad=True)
    y = m(x)
    y.sum().backward()
    assert y.shape == shape and x.grad.shape == shape
    assert not m.weight.grad.numpy().any() and not m.bias.grad.numpy().any()


def test_group_norm_on_an_empty_batch():
    x = fibril.ones(0, 4, 3, requires_grad=True)
    w = fibril.ones(4, requires_grad=True)
    y = F.group_norm(x, 2, w)
    y.sum().backward()
    assert y.shape == (0, 4, 3) and not w.grad.numpy().any()


@pytest.mark.parametrize("shape, size", [((2, 5, 4), 3), ((1, 6, 3, 4), 4), ((2, 3, 2, 2, 2), 5), ((1, 2, 3), 1)])
def test_local_response_norm_matches_torch(shape, size):
    """x / (k + alpha * mean of x^2 over `size` neighbouring channels)^beta: F and the module."""
    (x,) = make_inputs([shape], seed=5)
    check_op(lambda t: F.local_response_norm(t, size, 1e-2, 0.75, 2.0),
             lambda t: torch.nn.functional.local_response_norm(t, size, 1e-2, 0.75, 2.0), [x], atol=1e-12, rtol=1e-10)
    module = fibril.nn.LocalResponseNorm(size, 1e-2, 0.75, 2.0)
    np.testing.assert_allclose(module(fibril.tensor(x)).numpy(),
                               F.local_response_norm(fibril.tensor(x), size, 1e-2, 0.75, 2.0).numpy())
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        F.local_response_norm(fibril.zeros(2, 3), 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [500.7, 1000.3, -77.1, 3.3])
@pytest.mark.parametrize("n", [6, 7, 33, 100])
def test_constant_rows_normalize_to_exactly_zero(dtype, value, n):
    """A constant row's mean is its value exactly (sum / n alone may miss by an ulp, which the
    near-zero spread would magnify to ~1e-2), as torch."""
    rows = np.full((2, n), value, dtype)
    assert not F.layer_norm(fibril.tensor(rows), [n]).numpy().any()
    assert not F.batch_norm(fibril.tensor(rows.T.copy()), None, None, training=True).numpy().any()
    assert not F.group_norm(fibril.tensor(rows.reshape(2, n, 1)), 1).numpy().any()


def test_rows_with_a_large_mean_match_float64():
    x = 1000.0 + np.random.default_rng(5).standard_normal((4, 64)).astype(np.float32) * 1e-3
    expected = (x - x.astype(np.float64).mean(1, keepdims=True)) / np.sqrt(x.astype(np.float64).var(1, keepdims=True)
                                                                           + 1e-5)
    np.testing.assert_allclose(F.layer_norm(fibril.tensor(x), [64]).numpy(), expected, atol=1e-2)  # torch: 1.9e-2


@pytest.mark.cuda
@pytest.mark.parametrize("n", [6, 33, 1031])
def test_cuda_constant_rows_normalize_to_exactly_zero(n):
    rows = np.full((2, n), 500.7, np.float32)
    assert not F.layer_norm(fibril.tensor(rows, device="cuda"), [n]).cpu().numpy().any()
    assert not F.batch_norm(fibril.tensor(rows.T.copy(), device="cuda"), None, None, training=True).cpu().numpy().any()
