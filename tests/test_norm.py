"""Norm family: layer_norm, rms_norm, group_norm and batch_norm (training with running
statistics, eval, affine or not) against a float64 numpy reference and PyTorch (forward and
gradients), gradcheck, float32 parity, non-contiguous inputs and bad input."""

import numpy as np
import pytest

import fibril
import fibril.nn.functional as F
from op_check import check_op, make_inputs, torch

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
