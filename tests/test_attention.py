"""Attention family: scaled_dot_product_attention against a float64 numpy reference
(softmax(q k^T scale + mask) v) over sequence lengths 1 to 1000, head dims 16 to 256, cross
attention, causal and masked, fully masked rows, broadcast batch and head dims; gradients
against PyTorch and gradcheck; dropout reproducibility and its gradients; the float32
probabilities' accuracy (the kernel's exp); thread-count independence; bad input."""

import math

import numpy as np
import pytest

import fibril
import fibril.nn.functional as F
from fibril import _C
from op_check import torch

TF = torch.nn.functional if torch is not None else None
needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")


def np_attention(q, k, v, mask=None, causal=False, scale=None):
    """Naive float64 reference; mask bool (True attends) or additive. Rows with no key left give 0."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], dtype=bool)), s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    m = s.max(-1, keepdims=True)
    p = np.exp(s - np.where(np.isfinite(m), m, 0))
    den = p.sum(-1, keepdims=True)
    p = np.divide(p, den, out=np.zeros_like(p), where=den > 0)
    return p @ v


def rand(shape, seed, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def qkv(b, h, tq, tk, d, dv=None, dtype=np.float64, seed=0):
    return (rand((b, h, tq, d), seed, dtype), rand((b, h, tk, d), seed + 1, dtype),
            rand((b, h, tk, dv or d), seed + 2, dtype))


def run(q, k, v, mask=None, **kw):
    t = [fibril.tensor(a) for a in (q, k, v)]
    m = None if mask is None else fibril.tensor(mask)
    return F.scaled_dot_product_attention(*t, attn_mask=m, **kw).numpy()


@pytest.mark.parametrize("tq,tk,d", [(1, 1, 16), (7, 7, 64), (129, 129, 80), (1000, 1000, 128), (7, 129, 16),
                                     (129, 7, 64), (1000, 129, 64), (1, 1000, 80), (65, 200, 256), (3, 5, 1)])
@pytest.mark.parametrize("causal", [False, True])
def test_forward_float64(tq, tk, d, causal):
    q, k, v = qkv(1, 2, tq, tk, d)
    np.testing.assert_allclose(run(q, k, v, is_causal=causal), np_attention(q, k, v, causal=causal), atol=1e-12,
                               rtol=1e-10)


@pytest.mark.parametrize("tq,tk,d,dv", [(129, 129, 64, 64), (1000, 1000, 64, 64), (7, 300, 128, 32), (33, 17, 80, 96)])
def test_forward_float32(tq, tk, d, dv):
    q, k, v = qkv(2, 2, tq, tk, d, dv, np.float32)
    want = np_attention(*(a.astype(np.float64) for a in (q, k, v)), causal=True)
    got = run(q, k, v, is_causal=True)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("spread,rtol", [(1, 2e-6), (8, 3e-5)])
@pytest.mark.parametrize("causal", [False, True])
def test_probabilities_accuracy(spread, rtol, causal):
    """With v = I the output is the probability matrix, so the float32 kernel's exp shows: every
    probability within rtol of float64's, the smallest (1e-30 at spread 8) included. Scores of
    spread 1 round to ~1e-6 of their own, so the 2e-6 leaves the exp (1.6e-7) little room."""
    q, k, _ = qkv(1, 2, 70, 150, 16, dtype=np.float32, seed=5)
    q *= spread
    v = np.broadcast_to(np.eye(150, dtype=np.float32), (1, 2, 150, 150))
    want = np_attention(q.astype(np.float64), k.astype(np.float64), v, causal=causal)
    np.testing.assert_allclose(run(q, k, v, is_causal=causal), want, rtol=rtol, atol=1e-37)


@pytest.mark.parametrize("mask_shape", [(129, 70), (2, 1, 129, 70), (1, 3, 1, 70), (70,), (2, 3, 129, 1)])
@pytest.mark.parametrize("kind", ["bool", "additive"])
@pytest.mark.parametrize("causal", [False, True])
def test_masks_broadcast(mask_shape, kind, causal):
    q, k, v = qkv(2, 3, 129, 70, 16, seed=3)
    rng = np.random.default_rng(5)
    mask = rng.random(mask_shape) < 0.8 if kind == "bool" else rng.standard_normal(mask_shape)
    np.testing.assert_allclose(run(q, k, v, mask, is_causal=causal), np_attention(q, k, v, mask, causal), atol=1e-12,
                               rtol=1e-10)


def test_scale_and_three_dims():
    q, k, v = qkv(1, 4, 9, 11, 8)
    got = run(q[0], k[0], v[0], scale=0.3)
    np.testing.assert_allclose(got, np_attention(q[0], k[0], v[0], scale=0.3), atol=1e-12)


def test_strided_heads():
    """Head-split views of (B, T, H, D) projections are read in place."""
    base = rand((2, 33, 3, 16), 7)
    x = fibril.tensor(base, requires_grad=True)
    view = x.transpose(1, 2)
    out = F.scaled_dot_product_attention(view, view, view, is_causal=True)
    ref = np.swapaxes(base, 1, 2)
    np.testing.assert_allclose(out.detach().numpy(), np_attention(ref, ref, ref, causal=True), atol=1e-12)
    out.sum().backward()
    assert x.grad.shape == x.shape


def test_fully_masked_rows_give_zero():
    """As PyTorch 2.13 on CPU: output 0 and gradients 0 on a row whose keys are all masked."""
    q, k, v = qkv(1, 2, 5, 6, 8)
    mask = np.ones((5, 6), dtype=bool)
    mask[2] = False
    ts = [fibril.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ts, attn_mask=fibril.tensor(mask))
    assert np.all(out.detach().numpy()[:, :, 2] == 0)
    out.sum().backward()
    assert np.all(ts[0].grad.numpy()[:, :, 2] == 0)
    for additive in (np.where(mask, 0.0, -np.inf), None):
        m = None if additive is None else fibril.tensor(additive)
        got = F.scaled_dot_product_attention(*(fibril.tensor(a) for a in (q, k, v)), attn_mask=m,
                                             is_causal=additive is None).numpy()
        assert np.all(np.isfinite(got))
    if torch is not None:
        tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
        ref = TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=torch.tensor(mask))
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=1e-12)
        ref.sum().backward()
        np.testing.assert_allclose(ts[0].grad.numpy(), tq.grad.numpy(), atol=1e-12)


def test_no_keys():
    q, k, v = qkv(1, 1, 3, 0, 4)
    assert np.all(run(q, k, v) == 0)


@needs_torch
@pytest.mark.parametrize("tq,tk,d,causal,mask", [(7, 7, 16, True, None), (129, 70, 64, False, "bool"),
                                                 (70, 129, 80, True, "additive"), (200, 200, 32, True, None),
                                                 (65, 65, 16, True, "bool"), (1, 9, 16, False, None)])
def test_gradients_vs_torch(tq, tk, d, causal, mask):
    q, k, v = qkv(2, 2, tq, tk, d, seed=11)
    rng = np.random.default_rng(2)
    m = None
    if mask == "bool":
        m = rng.random((tq, tk)) < 0.7
    elif mask == "additive":
        m = rng.standard_normal((2, 1, tq, tk))
    cot = rng.standard_normal((2, 2, tq, d))
    xs = [fibril.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*xs, attn_mask=None if m is None else fibril.tensor(m), is_causal=causal)
    out.backward(fibril.tensor(cot))
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    ref = TF.scaled_dot_product_attention(*ts, attn_mask=None if m is None else torch.tensor(m), is_causal=causal)
    ref.backward(torch.tensor(cot))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=1e-11, rtol=1e-9)
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), atol=1e-10, rtol=1e-8)


@needs_torch
def test_float32_parity_with_torch():
    q, k, v = qkv(2, 4, 129, 129, 64, dtype=np.float32, seed=4)
    xs = [fibril.tensor(a, requires_grad=True) for a in (q, k, v)]
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*xs, is_causal=True)
    ref = TF.scaled_dot_product_attention(*ts, is_causal=True)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=1e-5, rtol=1e-4)
    out.sum().backward()
    ref.sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), atol=1e-4, rtol=1e-3)


# (query, key, value) shapes whose batch and head dims broadcast, and a mask shape for each
BROADCAST = [((2, 3, 8), (1, 4, 8), (1, 4, 8), (3, 4)),
             ((2, 3, 8), (4, 8), (4, 8), (2, 3, 4)),
             ((3, 8), (2, 4, 8), (2, 4, 8), (2, 1, 4)),
             ((2, 3, 5, 8), (2, 1, 6, 8), (2, 1, 6, 8), (1, 3, 5, 6)),
             ((1, 3, 5, 8), (2, 3, 6, 8), (2, 1, 6, 4), (2, 1, 1, 6)),
             ((2, 1, 5, 8), (1, 3, 6, 8), (1, 3, 6, 8), (5, 6))]


@pytest.mark.parametrize("shapes", BROADCAST)
@pytest.mark.parametrize("mask", [None, "bool", "additive"])
def test_broadcast_batch_dims(shapes, mask):
    """Against the float64 reference (numpy's matmul broadcasts the same way), and gradcheck."""
    arrays = [rand(s, seed) for seed, s in enumerate(shapes[:3])]
    rng = np.random.default_rng(8)
    m = {None: None, "bool": rng.random(shapes[3]) < 0.7, "additive": rng.standard_normal(shapes[3])}[mask]
    np.testing.assert_allclose(run(*arrays, m, is_causal=mask is None), np_attention(*arrays, m, mask is None),
                               atol=1e-12, rtol=1e-10)
    xs = [fibril.tensor(a, requires_grad=True) for a in arrays]
    fm = None if m is None else fibril.tensor(m)
    assert fibril.testing.gradcheck(lambda *t: F.scaled_dot_product_attention(*t, attn_mask=fm), xs)


@needs_torch
@pytest.mark.parametrize("shapes", BROADCAST)
@pytest.mark.parametrize("mask,causal", [(None, False), (None, True), ("bool", False), ("additive", False)])
def test_broadcast_batch_dims_vs_torch(shapes, mask, causal):
    arrays = [rand(s, seed + 60) for seed, s in enumerate(shapes[:3])]
    rng = np.random.default_rng(9)
    m = {None: None, "bool": rng.random(shapes[3]) < 0.7, "additive": rng.standard_normal(shapes[3])}[mask]
    xs = [fibril.tensor(a, requires_grad=True) for a in arrays]
    out = F.scaled_dot_product_attention(*xs, attn_mask=None if m is None else fibril.tensor(m), is_causal=causal)
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    ref = TF.scaled_dot_product_attention(*ts, attn_mask=None if m is None else torch.tensor(m), is_causal=causal)
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=1e-12, rtol=1e-10)
    cot = rng.standard_normal(tuple(ref.shape))
    out.backward(fibril.tensor(cot))
    ref.backward(torch.tensor(cot))
    for x, t in zip(xs, ts):
        assert x.grad.shape == x.shape
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), atol=1e-11, rtol=1e-9)


def test_broadcast_equals_materialized_with_dropout():
    """A broadcast key and value give what their materialized copies give, dropout included,
    and their gradients are those of the copies summed over the broadcast dims."""
    q, k, v = rand((2, 3, 7, 8), 70), rand((1, 3, 9, 8), 71), rand((2, 1, 9, 5), 72)
    results = []
    for kk, vv in ((k, v), (np.broadcast_to(k, (2, 3, 9, 8)).copy(), np.broadcast_to(v, (2, 3, 9, 5)).copy())):
        xs = [fibril.tensor(a, requires_grad=True) for a in (q, kk, vv)]
        out = F.scaled_dot_product_attention(*xs, dropout_p=0.3, generator=_seeded(4))
        out.backward(fibril.tensor(rand(out.shape, 73)))
        results.append([out.detach().numpy()] + [x.grad.numpy() for x in xs])
    (out, gq, gk, gv), (out_m, gq_m, gk_m, gv_m) = results
    np.testing.assert_array_equal(out, out_m)
    np.testing.assert_array_equal(gq, gq_m)
    np.testing.assert_allclose(gk, gk_m.sum(0, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(gv, gv_m.sum(1, keepdims=True), atol=1e-12)


@pytest.mark.parametrize("causal,mask", [(False, None), (True, None), (False, "bool"), (True, "additive")])
def test_gradcheck(causal, mask):
    q, k, v = qkv(1, 2, 3, 4, 3, seed=21)
    m = None
    if mask == "bool":
        mm = np.ones((3, 4), dtype=bool)
        mm[0, 1] = mm[2, 3] = False
        m = fibril.tensor(mm)
    elif mask == "additive":
        m = fibril.tensor(rand((3, 4), 9))
    xs = [fibril.tensor(a, requires_grad=True) for a in (q, k, v)]
    assert fibril.testing.gradcheck(
        lambda *t: F.scaled_dot_product_attention(*t, attn_mask=m, is_causal=causal), xs)


def _seeded(seed):
    g = fibril.Generator()
    g.manual_seed(seed)
    return g


def test_dropout_reproducible_and_consistent():
    q, k, v = qkv(2, 2, 70, 90, 16, seed=30)
    a = run(q, k, v, dropout_p=0.3, generator=_seeded(1))
    b = run(q, k, v, dropout_p=0.3, generator=_seeded(1))
    c = run(q, k, v, dropout_p=0.3, generator=_seeded(2))
    assert np.array_equal(a, b) and not np.allclose(a, c)
    # The mask is the dropout kernel's on a (B, H, L, S) tensor from the same (seed, offset).
    gen = _seeded(1)
    seed, offset = gen._next(0)
    _, keep = _C.dropout(fibril.ones(2, 2, 70, 90, dtype="float64")._data, 0.3, seed, offset)
    s = q @ np.swapaxes(k, -1, -2) / 4
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(a, (p * fibril.Tensor._wrap(keep).numpy()) @ v, atol=1e-12)
    fibril.manual_seed(5)
    d1 = run(q, k, v, dropout_p=0.5)
    fibril.manual_seed(5)
    assert np.array_equal(d1, run(q, k, v, dropout_p=0.5))


def test_dropout_gradcheck():
    q, k, v = qkv(1, 1, 4, 5, 3, seed=31)
    xs = [fibril.tensor(a, requires_grad=True) for a in (q, k, v)]
    assert fibril.testing.gradcheck(
        lambda *t: F.scaled_dot_product_attention(*t, dropout_p=0.4, generator=_seeded(3), is_causal=True), xs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_thread_count_independent(dtype):
    q, k, v = qkv(1, 3, 200, 150, 32, dtype=dtype, seed=40)
    results = []
    old = fibril.get_num_threads()
    try:
        for n in (1, 2, 3):
            fibril.set_num_threads(n)
            xs = [fibril.tensor(a, requires_grad=True) for a in (q, k, v)]
            out = F.scaled_dot_product_attention(*xs, is_causal=True, dropout_p=0.2, generator=_seeded(9))
            out.sum().backward()
            results.append([out.detach().numpy()] + [x.grad.numpy() for x in xs])
    finally:
        fibril.set_num_threads(old)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)


def test_bad_input():
    t = lambda *s: fibril.zeros(*s)  # noqa: E731
    with pytest.raises(ValueError, match=r"\[2, 3, 5, 8\].*\[2, 3, 5, 7\]"):
        F.scaled_dot_product_attention(t(2, 3, 5, 8), t(2, 3, 5, 7), t(2, 3, 5, 7))
    with pytest.raises(ValueError, match=r"batch and head dims.*\[2, 3, 5, 8\].*\[2, 4, 5, 8\]"):
        F.scaled_dot_product_attention(t(2, 3, 5, 8), t(2, 4, 5, 8), t(2, 4, 5, 8))
    with pytest.raises(ValueError, match="batch and head dims"):
        F.scaled_dot_product_attention(t(2, 5, 8), t(1, 6, 8), t(3, 6, 8))
    with pytest.raises(ValueError, match="as many rows"):
        F.scaled_dot_product_attention(t(2, 5, 8), t(2, 6, 8), t(2, 5, 8))
    with pytest.raises(ValueError, match=r"attn_mask of shape \[4, 6\].*\[2, 5, 6\]"):
        F.scaled_dot_product_attention(t(2, 5, 8), t(2, 6, 8), t(2, 6, 8), attn_mask=t(4, 6))
    with pytest.raises(ValueError, match="same number of dims"):
        F.scaled_dot_product_attention(t(8), t(8), t(8))
    with pytest.raises(TypeError, match="float64"):
        F.scaled_dot_product_attention(t(2, 5, 8), fibril.zeros(2, 5, 8, dtype="float64"), t(2, 5, 8))
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(t(2, 5, 8), t(2, 5, 8), t(2, 5, 8), dropout_p=1.5)


# ------------------------------------------------------------------------------------- CUDA
# The CUDA kernels (csrc/cuda/attention.cu) against the CPU op and the float64 reference; small
# shapes that cross the kernels' tiles (64 queries or keys; 32 / 16 in the float64 and wide-head
# configurations) and their edges. Under FIBRIL_CUDA_EMULATOR=1 they run on the CPU emulator.


def cuda_run(q, k, v, mask=None, grad=None, dtype=None, **kw):
    """(out, [gq, gk, gv]) on cuda, as numpy; gradients when `grad` (the output's cotangent) is given."""
    xs = [fibril.tensor(a, dtype=dtype, device="cuda", requires_grad=grad is not None) for a in (q, k, v)]
    m = None if mask is None else fibril.tensor(mask, device="cuda")
    out = F.scaled_dot_product_attention(*xs, attn_mask=m, **kw)
    assert out.device == "cuda:0"
    grads = []
    if grad is not None:
        out.backward(fibril.tensor(grad, dtype=dtype, device="cuda"))
        grads = [host(x.grad) for x in xs]
    return host(out), grads


def host(t):
    """t as numpy on the host; 16-bit values as float32."""
    t = t.detach().cpu()
    return (t.float() if t.dtype in (fibril.float16, fibril.bfloat16) else t).numpy()


def cpu_run(q, k, v, mask=None, grad=None, **kw):
    xs = [fibril.tensor(a, requires_grad=grad is not None) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*xs, attn_mask=None if mask is None else fibril.tensor(mask), **kw)
    grads = []
    if grad is not None:
        out.backward(fibril.tensor(grad))
        grads = [x.grad.numpy() for x in xs]
    return out.detach().numpy(), grads


@pytest.mark.cuda
@pytest.mark.parametrize("tq,tk,d,dv", [(1, 1, 16, 16), (7, 7, 64, 64), (33, 33, 16, 16), (65, 65, 64, 64),
                                        (7, 70, 64, 32), (70, 7, 33, 33), (33, 20, 100, 72)])
@pytest.mark.parametrize("causal", [False, True])
def test_cuda_forward_backward_float32(tq, tk, d, dv, causal):
    q, k, v = qkv(2, 2, tq, tk, d, dv, np.float32, seed=50)
    cot = rand((2, 2, tq, dv), 51, np.float32)
    out, grads = cuda_run(q, k, v, grad=cot, is_causal=causal)
    ref_out, ref_grads = cpu_run(q, k, v, grad=cot, is_causal=causal)
    want = np_attention(*(a.astype(np.float64) for a in (q, k, v)), causal=causal)
    np.testing.assert_allclose(out, want, atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(out, ref_out, atol=2e-5, rtol=1e-4)
    for got, ref in zip(grads, ref_grads):
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-3)


@pytest.mark.cuda
@pytest.mark.parametrize("tq,tk,d,causal", [(17, 40, 16, True), (40, 17, 64, False), (20, 20, 120, True)])
def test_cuda_float64_matches_reference(tq, tk, d, causal):
    q, k, v = qkv(1, 2, tq, tk, d, seed=52)
    cot = rand((1, 2, tq, d), 53)
    out, grads = cuda_run(q, k, v, grad=cot, is_causal=causal)
    ref_out, ref_grads = cpu_run(q, k, v, grad=cot, is_causal=causal)
    np.testing.assert_allclose(out, np_attention(q, k, v, causal=causal), atol=1e-12, rtol=1e-10)
    for got, ref in zip(grads, ref_grads):
        np.testing.assert_allclose(got, ref, atol=1e-11, rtol=1e-9)


@pytest.mark.cuda
@pytest.mark.parametrize("mask_shape,kind,causal", [((33, 70), "bool", False), ((2, 1, 33, 70), "additive", True),
                                                    ((70,), "bool", True), ((2, 3, 33, 1), "additive", False)])
def test_cuda_masks_broadcast(mask_shape, kind, causal):
    q, k, v = qkv(2, 3, 33, 70, 16, seed=54)
    rng = np.random.default_rng(55)
    mask = rng.random(mask_shape) < 0.8 if kind == "bool" else rng.standard_normal(mask_shape)
    cot = rand((2, 3, 33, 16), 56)
    out, grads = cuda_run(q, k, v, mask, grad=cot, is_causal=causal)
    ref_out, ref_grads = cpu_run(q, k, v, mask, grad=cot, is_causal=causal)
    np.testing.assert_allclose(out, np_attention(q, k, v, mask, causal), atol=1e-12, rtol=1e-10)
    for got, ref in zip(grads, ref_grads):
        np.testing.assert_allclose(got, ref, atol=1e-11, rtol=1e-9)


@pytest.mark.cuda
def test_cuda_strided_heads_scale_and_fully_masked_rows():
    base = rand((2, 33, 3, 16), 57, np.float32)
    x = fibril.tensor(base, device="cuda", requires_grad=True)
    view = x.transpose(1, 2)  # (B, H, T, D) read in place: rows 3*16 apart
    out = F.scaled_dot_product_attention(view, view, view, is_causal=True, scale=0.3)
    ref = np.swapaxes(base, 1, 2).astype(np.float64)
    np.testing.assert_allclose(out.detach().cpu().numpy(), np_attention(ref, ref, ref, causal=True, scale=0.3),
                               atol=2e-5, rtol=1e-4)
    q, k, v = qkv(1, 2, 5, 6, 8)
    mask = np.ones((5, 6), dtype=bool)
    mask[2] = False
    out, grads = cuda_run(q, k, v, mask, grad=np.ones((1, 2, 5, 8)))
    assert np.all(out[:, :, 2] == 0) and np.all(grads[0][:, :, 2] == 0)
    np.testing.assert_allclose(out, np_attention(q, k, v, mask), atol=1e-12)
    assert np.all(cuda_run(*qkv(1, 1, 3, 0, 4))[0] == 0)  # no keys


@pytest.mark.cuda
def test_cuda_dropout_drops_what_the_cpu_drops():
    q, k, v = qkv(1, 2, 20, 30, 16, seed=58)
    cot = rand((1, 2, 20, 16), 59)
    out, grads = cuda_run(q, k, v, grad=cot, dropout_p=0.3, generator=_seeded(4), is_causal=True)
    ref_out, ref_grads = cpu_run(q, k, v, grad=cot, dropout_p=0.3, generator=_seeded(4), is_causal=True)
    np.testing.assert_allclose(out, ref_out, atol=1e-12, rtol=1e-10)
    for got, ref in zip(grads, ref_grads):
        np.testing.assert_allclose(got, ref, atol=1e-11, rtol=1e-9)


# float16/bfloat16 on CUDA: the tensor-core forward and backward (csrc/cuda/attention_tc.cu;
# forward tiles of 128 queries (64 for wide heads with a mask or dropout) and 32 keys, backward
# blocks of 64 keys and tiles of 16 or 32 queries), against the float64 reference on the 16-bit
# inputs. P is rounded to 16 bits before P V, as in FlashAttention, so the tolerance is a few
# units of the dtype's last place.
TOL_16 = {"float16": 4e-3, "bfloat16": 2.5e-2}


def rounded(a, dtype):
    return fibril.tensor(a, dtype=dtype).float().numpy().astype(np.float64)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("tq,tk,d,dv", [(1, 1, 8, 8), (7, 70, 64, 64), (129, 65, 64, 32), (200, 130, 128, 128),
                                        (65, 200, 40, 128), (130, 64, 96, 8)])
@pytest.mark.parametrize("causal", [False, True])
def test_cuda_16bit_tensor_cores_match_reference(dtype, tq, tk, d, dv, causal):
    q, k, v = (rounded(a, dtype) for a in qkv(2, 2, tq, tk, d, dv, seed=60))
    cot = rand((2, 2, tq, dv), 61)
    out, grads = cuda_run(q, k, v, grad=cot, dtype=dtype, is_causal=causal)
    want = np_attention(q, k, v, causal=causal)
    np.testing.assert_allclose(out, want, atol=TOL_16[dtype], rtol=TOL_16[dtype])
    ref_out, ref_grads = cpu_run(q, k, v, grad=rounded(cot, dtype), is_causal=causal)
    for got, ref in zip(grads, ref_grads):
        np.testing.assert_allclose(got, ref, atol=4 * TOL_16[dtype], rtol=4 * TOL_16[dtype])


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_cuda_16bit_head_views_broadcast_and_fallbacks(dtype):
    base = rounded(rand((2, 70, 3, 16), 62), dtype)
    x = fibril.tensor(base, dtype=dtype, device="cuda")
    view = x.transpose(1, 2)  # (B, H, T, D) read in place: rows 3*16 apart
    out = F.scaled_dot_product_attention(view, view, view, is_causal=True, scale=0.3)
    ref = np.swapaxes(base, 1, 2)
    np.testing.assert_allclose(out.float().cpu().numpy(), np_attention(ref, ref, ref, causal=True, scale=0.3),
                               atol=TOL_16[dtype], rtol=TOL_16[dtype])
    q = rounded(rand((2, 3, 20, 16), 63), dtype)
    kv = rounded(rand((1, 1, 30, 16), 64), dtype)  # key and value broadcast over batch and heads
    t = [fibril.tensor(a, dtype=dtype, device="cuda") for a in (q, kv)]
    out = F.scaled_dot_product_attention(t[0], t[1].expand(2, 3, 30, 16), t[1].expand(2, 3, 30, 16))
    np.testing.assert_allclose(out.float().cpu().numpy(), np_attention(q, kv, kv), atol=TOL_16[dtype],
                               rtol=TOL_16[dtype])
    # Head dims not multiples of 8 or wider than 128: the widened float32 kernels.
    for d in (12, 136):
        q, k, v = (rounded(a, dtype) for a in qkv(1, 2, 20, 30, d, seed=65))
        out, _ = cuda_run(q, k, v, dtype=dtype)
        np.testing.assert_allclose(out, np_attention(q, k, v), atol=TOL_16[dtype], rtol=TOL_16[dtype])
    assert np.all(cuda_run(*qkv(1, 1, 3, 0, 8), dtype=dtype)[0] == 0)  # no keys


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("d,mask_shape,kind,causal", [(64, (33, 70), "bool", False),
                                                      (32, (2, 1, 33, 70), "additive", True),
                                                      (128, (70,), "bool", True), (72, (2, 3, 33, 1), "additive", False)])
def test_cuda_16bit_masks_broadcast(dtype, d, mask_shape, kind, causal):
    q, k, v = (rounded(a, dtype) for a in qkv(2, 3, 33, 70, d, seed=66))
    rng = np.random.default_rng(67)
    mask = rng.random(mask_shape) < 0.8 if kind == "bool" else rounded(rng.standard_normal(mask_shape), dtype)
    if kind == "bool" and len(mask_shape) == 2:
        mask[5] = False  # a row with every key masked: 0, and no gradient
    cot = rounded(rand((2, 3, 33, d), 68), dtype)
    out, grads = cuda_run(q, k, v, mask, grad=cot, dtype=dtype, is_causal=causal)
    np.testing.assert_allclose(out, np_attention(q, k, v, mask, causal), atol=TOL_16[dtype], rtol=TOL_16[dtype])
    _, ref_grads = cpu_run(q, k, v, mask, grad=cot, is_causal=causal)
    for got, ref in zip(grads, ref_grads):
        np.testing.assert_allclose(got, ref, atol=4 * TOL_16[dtype], rtol=4 * TOL_16[dtype])


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("d", [64, 128])
def test_cuda_16bit_dropout_drops_what_the_cpu_drops(dtype, d):
    q, k, v = (rounded(a, dtype) for a in qkv(1, 2, 40, 50, d, seed=69))
    cot = rounded(rand((1, 2, 40, d), 70), dtype)
    out, grads = cuda_run(q, k, v, grad=cot, dtype=dtype, dropout_p=0.3, generator=_seeded(5), is_causal=True)
    ref_out, ref_grads = cpu_run(q, k, v, grad=cot, dropout_p=0.3, generator=_seeded(5), is_causal=True)
    np.testing.assert_allclose(out, ref_out, atol=2 * TOL_16[dtype], rtol=2 * TOL_16[dtype])
    for got, ref in zip(grads, ref_grads):
        np.testing.assert_allclose(got, ref, atol=4 * TOL_16[dtype], rtol=4 * TOL_16[dtype])


@pytest.mark.cuda
def test_cuda_bad_input():
    q = fibril.zeros(1, 2, 5, 8, device="cuda")
    with pytest.raises(RuntimeError, match="same device"):
        F.scaled_dot_product_attention(q, fibril.zeros(1, 2, 5, 8), q)
    with pytest.raises(RuntimeError, match="same device"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=fibril.ones(5, 5, dtype="bool"))
    wide = fibril.zeros(1, 1, 3, 300, device="cuda")
    with pytest.raises(NotImplementedError, match="head dims up to 256"):
        F.scaled_dot_product_attention(wide, wide, wide)
