"""float16 and bfloat16 (csrc/core/half.h): conversions, promotion, interop, and every family
that takes them, on the CPU (float32 compute, rounded back) and on CUDA (16-bit loads and
stores, float32 math; matmul on tensor cores). References are float64 numpy results of the
16-bit inputs, rounded to the 16-bit type where the op's result is."""

import numpy as np
import pytest

import fibril
import fibril.nn.functional as F

try:
    import torch
except ImportError:
    torch = None

HALVES = [fibril.float16, fibril.bfloat16]
# One unit in the last place at 1.0: the rounding of one result.
EPS = {fibril.float16: 2.0 ** -10, fibril.bfloat16: 2.0 ** -7}


def bf16_round(x):
    """float32 -> bfloat16 values (as float32), round to nearest even; NaN stays NaN."""
    x = np.asarray(x, np.float32)
    u = x.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint32) << 16
    out = r.astype(np.uint32).view(np.float32)
    return np.where(np.isnan(x), np.float32(np.nan), out)


def rounded(x, dtype):
    """Values of x (any float array) rounded to dtype, as float64."""
    x = np.asarray(x, np.float64)
    if dtype == fibril.float16:
        return x.astype(np.float16).astype(np.float64)
    if dtype == fibril.bfloat16:
        return bf16_round(x.astype(np.float32)).astype(np.float64)
    return x.astype(np.float32).astype(np.float64) if dtype == fibril.float32 else x


def values(t):
    """A tensor's values on the host as float64."""
    return t.detach().cpu().float().numpy().astype(np.float64)


def make(shape, dtype, device="cpu", seed=0, low=-2.0, high=2.0):
    """A 16-bit tensor and its exact values (float64)."""
    a = np.random.default_rng(seed).uniform(low, high, size=shape)
    t = fibril.tensor(a.astype(np.float32), device=device).to(dtype)
    return t, values(t)


# ------------------------------------------------------------------------ conversions

EDGES = np.array([0.0, -0.0, 1.0, -1.0, 65504.0, 65519.99, 65520.0, 1e6, -1e6, np.inf, -np.inf, 2.0 ** -14,
                  2.0 ** -24, 2.0 ** -25, 1.5 * 2.0 ** -25, 3 * 2.0 ** -26, 2.0 ** -15 + 2.0 ** -25, 1.0009765625,
                  1.00048828125, 1.00146484375, 3.0e-8, 0.1, 1 / 3], np.float32)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_float16_rounding_matches_numpy(device):
    rng = np.random.default_rng(0)
    x = np.concatenate([EDGES, -EDGES, rng.standard_normal(5000).astype(np.float32) * 10.0 ** rng.integers(-7, 5, 5000),
                        np.array([np.nan], np.float32)]).astype(np.float32)
    h = fibril.tensor(x, device=device).half()
    assert h.dtype == fibril.float16 and h.element_size() == 2
    got = h.cpu().numpy()
    assert got.dtype == np.float16
    with np.errstate(over="ignore"):  # numpy warns where it rounds to inf
        want = x[:-1].astype(np.float16)
    np.testing.assert_array_equal(got.view(np.uint16)[:-1], want.view(np.uint16))
    assert np.isnan(got[-1])
    back = fibril.from_numpy(got).to(device).float().cpu().numpy()
    np.testing.assert_array_equal(back, got.astype(np.float32))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_bfloat16_rounding(device):
    rng = np.random.default_rng(1)
    x = np.concatenate([EDGES, -EDGES, rng.standard_normal(5000).astype(np.float32) * 10.0 ** rng.integers(-30, 30, 5000),
                        np.array([np.nan, 3.3895314e38, 3.4e38], np.float32)]).astype(np.float32)
    b = fibril.tensor(x, device=device).bfloat16()
    assert b.dtype == fibril.bfloat16 and b.element_size() == 2
    np.testing.assert_array_equal(b.float().cpu().numpy(), bf16_round(x))
    if torch is not None:
        np.testing.assert_array_equal(b.float().cpu().numpy(), torch.tensor(x).bfloat16().float().numpy())


@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_casts_between_all_dtypes(dtype, device):
    x = np.array([-3.7, -1.0, -0.5, 0.0, 0.4, 1.0, 2.5, 100.25, 300.0], np.float32)
    t = fibril.tensor(x, device=device).to(dtype)
    want = rounded(x, dtype)
    for other in [fibril.float32, fibril.float64, fibril.float16, fibril.bfloat16]:
        np.testing.assert_array_equal(values(t.to(other)), rounded(want, other))
    np.testing.assert_array_equal(t.long().cpu().numpy(), np.trunc(want).astype(np.int64))
    np.testing.assert_array_equal(t.to(fibril.uint8).cpu().numpy(), np.trunc(want).astype(np.int64).astype(np.uint8))
    np.testing.assert_array_equal(t.bool().cpu().numpy(), want != 0)
    ints = fibril.tensor([-5, 0, 7, 2049], device=device)
    np.testing.assert_array_equal(values(ints.to(dtype)), rounded(np.array([-5.0, 0, 7, 2049]), dtype))
    strided = fibril.tensor(np.arange(24, dtype=np.float32).reshape(4, 6), device=device).to(dtype).T
    np.testing.assert_array_equal(values(strided.contiguous()), np.arange(24.0).reshape(4, 6).T)
    full = fibril.full((3, 5), 1.1, dtype=dtype, device=device)
    np.testing.assert_array_equal(values(full), np.full((3, 5), rounded(np.array(1.1), dtype)))


def test_dtype_objects_and_interop():
    assert fibril.half is fibril.float16
    assert fibril.float16.itemsize == 2 and fibril.bfloat16.itemsize == 2
    assert fibril.float16.is_floating_point and fibril.bfloat16.is_floating_point
    assert repr(fibril.bfloat16) == "fibril.bfloat16"
    a = np.arange(6, dtype=np.float16).reshape(2, 3)
    t = fibril.from_numpy(a)
    assert t.dtype == fibril.float16
    a[0, 0] = 7
    assert t[0, 0].item() == 7.0  # zero-copy
    b = fibril.tensor([1.5, 2.25], dtype=fibril.bfloat16)
    assert b.tolist() == [1.5, 2.25] and b[1].item() == 2.25
    assert "dtype=fibril.bfloat16" in repr(b)
    with pytest.raises(TypeError, match="bfloat16"):
        b.numpy()
    assert fibril.zeros(2, 2, dtype=fibril.float16).dtype == fibril.float16
    assert fibril.arange(5, dtype=fibril.bfloat16).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert fibril.tensor([1.0], dtype="float16").dtype == fibril.float16
    assert fibril.tensor([1.0], dtype="bfloat16").dtype == fibril.bfloat16


@pytest.mark.skipif(torch is None, reason="needs torch")
def test_dlpack_roundtrip_with_torch():
    for tdt, fdt in [(torch.float16, fibril.float16), (torch.bfloat16, fibril.bfloat16)]:
        src = torch.linspace(-3, 3, 13).to(tdt)
        t = fibril.from_dlpack(src)
        assert t.dtype == fdt
        np.testing.assert_array_equal(values(t), src.float().numpy())
        back = torch.from_dlpack(t)
        assert back.dtype == tdt and torch.equal(back, src)


def test_finfo_and_iinfo():
    for dtype in [fibril.float16, fibril.bfloat16, fibril.float32, fibril.float64]:
        info = fibril.finfo(dtype)
        assert info.bits == 8 * dtype.itemsize
        exact = lambda v: fibril.tensor([v], dtype=fibril.float64).to(dtype).double().item()  # noqa: E731
        assert exact(info.max) == info.max and exact(1.0 + info.eps) == 1.0 + info.eps
        if torch is not None:
            ref = torch.finfo(getattr(torch, dtype.name))
            assert (info.eps, info.max, info.min, info.tiny) == (ref.eps, ref.max, ref.min, ref.tiny)
    assert fibril.finfo().dtype == fibril.float32
    assert fibril.iinfo(fibril.int32).max == 2 ** 31 - 1 and fibril.iinfo(fibril.uint8).min == 0
    with pytest.raises(TypeError):
        fibril.finfo(fibril.int64)
    with pytest.raises(TypeError):
        fibril.iinfo(fibril.float16)


def test_promotion():
    h = fibril.ones(3, dtype=fibril.float16)
    b = fibril.ones(3, dtype=fibril.bfloat16)
    assert (h + b).dtype == fibril.float32
    assert (h + fibril.ones(3)).dtype == fibril.float32
    assert (h + fibril.ones(3, dtype=fibril.float64)).dtype == fibril.float64
    assert (h + 1.5).dtype == fibril.float16
    assert (b * 2).dtype == fibril.bfloat16
    assert (h + fibril.ones(3, dtype=fibril.int64)).dtype == fibril.float16
    assert (fibril.ones(3, dtype=fibril.int32) / fibril.ones(3, dtype=fibril.int32)).dtype == fibril.float32
    assert (h + fibril.tensor(2.0)).dtype == fibril.float16  # a 0-d float32 does not promote
    assert (h < b).dtype == fibril.bool


# ------------------------------------------------------------------------ families

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("device", DEVICES)
def test_elementwise(dtype, device):
    x, xv = make((37, 5), dtype, device, seed=2)
    y, yv = make((5,), dtype, device, seed=3, low=0.5, high=2.0)
    cases = [
        (x + y, xv + yv), (x * y, xv * yv), (x / y, xv / yv), (x - 1.25, xv - 1.25), (-x, -xv), (x.abs(), np.abs(xv)),
        (fibril.exp(x), np.exp(xv)), (fibril.tanh(x), np.tanh(xv)), (fibril.sigmoid(x), 1 / (1 + np.exp(-xv))),
        (fibril.sqrt(y), np.sqrt(yv)), (x ** 2, xv ** 2), (fibril.maximum(x, y), np.maximum(xv, yv)),
        (x.clamp(-0.5, 0.75), np.clip(xv, -0.5, 0.75)), (fibril.where(x > 0, x, y), np.where(xv > 0, xv, yv)),
        (fibril.floor(x * 3), np.floor(rounded(xv * 3, dtype))),
    ]
    for got, want in cases:
        assert got.dtype == dtype and got.device == x.device
        np.testing.assert_allclose(values(got), rounded(want, dtype), rtol=EPS[dtype], atol=EPS[dtype])
    assert ((x > y).cpu().numpy() == (xv > yv)).all()
    z = x.clone()
    z += y
    np.testing.assert_allclose(values(z), rounded(xv + yv, dtype), rtol=EPS[dtype], atol=EPS[dtype])


@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("device", DEVICES)
def test_other_operands_round_to_the_16_bit_dtype_first(dtype, device):
    """A Python number, a 0-d float32 tensor or an integer tensor meets a 16-bit tensor in the
    16-bit dtype (as torch computes): 0.1 is the dtype's 0.1, 2049 is 2048."""
    x = fibril.full((3,), 0.1, dtype=dtype, device=device)
    assert (x == 0.1).all().item() and not (x != 0.1).any().item() and (x >= 0.1).all().item()
    assert (x == fibril.tensor(0.1, device=device)).all().item()
    big = fibril.tensor([2048.0], dtype=dtype, device=device)
    ints = fibril.tensor([2049, 2050], device=device)
    want = rounded(np.array([2049.0, 2050.0]), dtype) == 2048.0
    np.testing.assert_array_equal((big == ints).cpu().numpy(), want)


@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("device", DEVICES)
def test_reductions(dtype, device):
    x, xv = make((6, 300), dtype, device, seed=4)
    tol = dict(rtol=2 * EPS[dtype], atol=2 * EPS[dtype])
    for got, want in [(x.sum(1), xv.sum(1)), (x.mean(), xv.mean()), (x.amax(0), xv.max(0)), (x.std(1), xv.std(1, ddof=1)),
                      (x.norm(), np.linalg.norm(xv)), (fibril.logsumexp(x, 1), np.log(np.exp(xv).sum(1))),
                      (x.cumsum(1), xv.cumsum(1))]:
        assert got.dtype == dtype
        np.testing.assert_allclose(values(got), rounded(want, dtype), rtol=tol["rtol"], atol=tol["atol"] * np.abs(want).max())
    assert (x.argmax(1).cpu().numpy() == xv.argmax(1)).all()
    assert x.sum(1, dtype=fibril.float32).dtype == fibril.float32
    # long rows (block rows, several pieces), columns, a misaligned view, NaN
    y, yv = make((3, 20011), dtype, device, seed=17)
    for got, want in [(y.sum(1), yv.sum(1)), (y[:, 3:].mean(1), yv[:, 3:].mean(1)), (y.amin(1), yv.min(1)),
                      (y.sum(0), yv.sum(0)), (y.T.amax(1), yv.max(0))]:
        assert got.dtype == dtype
        np.testing.assert_allclose(values(got), rounded(want, dtype), rtol=2 * EPS[dtype],
                                   atol=4 * EPS[dtype] * np.sqrt(yv.shape[1]))
    y[1, 77] = float("nan")
    assert np.isnan(values(y.amax(1))[1]) and np.isnan(values(y.sum(1))[1]) and not np.isnan(values(y.sum(1))[0])


@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("device", DEVICES)
def test_softmax_norm_activation_with_grads(dtype, device):
    x, xv = make((9, 40), dtype, device, seed=5)
    tol = dict(rtol=4 * EPS[dtype], atol=4 * EPS[dtype])
    e = np.exp(xv - xv.max(1, keepdims=True))
    np.testing.assert_allclose(values(F.softmax(x, 1)), e / e.sum(1, keepdims=True), **tol)
    np.testing.assert_allclose(values(F.log_softmax(x, 1)), np.log(e / e.sum(1, keepdims=True)), **tol)
    mu, var = xv.mean(1, keepdims=True), xv.var(1, keepdims=True)
    ln = F.layer_norm(x, (40,))
    assert ln.dtype == dtype
    np.testing.assert_allclose(values(ln), (xv - mu) / np.sqrt(var + 1e-5), rtol=8 * EPS[dtype], atol=8 * EPS[dtype])
    np.testing.assert_allclose(values(F.gelu(x)), 0.5 * xv * (1 + np.vectorize(__import__("math").erf)(xv / 2 ** 0.5)),
                               **tol)
    np.testing.assert_allclose(values(F.relu(x)), np.maximum(xv, 0), **tol)
    target = fibril.tensor(np.arange(9) % 40, device=device)
    loss = F.cross_entropy(x, target)
    assert loss.dtype == dtype
    want = -np.log(e / e.sum(1, keepdims=True))[np.arange(9), np.arange(9) % 40].mean()
    np.testing.assert_allclose(values(loss), want, **tol)
    # gradients come back in the input's dtype
    leaf = x.detach().requires_grad_(True)
    w = fibril.ones(40, dtype=dtype, device=device, requires_grad=True)
    (F.layer_norm(F.gelu(leaf), (40,), weight=w).sum() + F.cross_entropy(leaf, target)).backward()
    assert leaf.grad.dtype == dtype and w.grad.dtype == dtype
    ref = fibril.tensor(xv, dtype=fibril.float64, requires_grad=True)
    w64 = fibril.ones(40, dtype=fibril.float64, requires_grad=True)
    (F.layer_norm(F.gelu(ref), (40,), weight=w64).sum() + F.cross_entropy(ref, target.cpu())).backward()
    scale = np.abs(ref.grad.numpy()).max()
    np.testing.assert_allclose(values(leaf.grad), ref.grad.numpy(), rtol=0.05, atol=0.05 * scale)
    np.testing.assert_allclose(values(w.grad), w64.grad.numpy(), rtol=0.05, atol=0.05 * np.abs(w64.grad.numpy()).max())


@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("device", DEVICES)
def test_batch_norm_updates_running_stats(dtype, device):
    bn = fibril.nn.BatchNorm1d(4).to(device).to(dtype)
    x, xv = make((16, 4), dtype, device, seed=6)
    y = bn(x)
    assert y.dtype == dtype and bn.running_mean.dtype == dtype
    np.testing.assert_allclose(values(bn.running_mean), rounded(0.1 * xv.mean(0), dtype), rtol=2 * EPS[dtype],
                               atol=1e-3)
    np.testing.assert_allclose(values(y), (xv - xv.mean(0)) / np.sqrt(xv.var(0) + 1e-5), rtol=0.02, atol=0.02)


def matmul_reference(av, bv, dtype):
    return rounded(av @ bv, dtype)


# Shapes covering the tensor-core tiles (128 and 64), their edges, k not a multiple of the
# 64-deep stage, gemv (m or n = 1), and k = 0.
MATMUL_SHAPES = [(1, 1, 1), (3, 5, 7), (64, 64, 64), (130, 72, 136), (70, 100, 36), (257, 129, 200), (1, 300, 70),
                 (300, 1, 70), (40, 0, 24)]


@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("m,k,n", MATMUL_SHAPES)
def test_matmul(dtype, device, m, k, n):
    a, av = make((m, k), dtype, device, seed=7)
    b, bv = make((k, n), dtype, device, seed=8)
    c = a @ b
    assert c.dtype == dtype and tuple(c.shape) == (m, n)
    # float32 accumulation: the only errors are the final rounding and the sum's
    np.testing.assert_allclose(values(c), matmul_reference(av, bv, dtype), rtol=2 * EPS[dtype],
                               atol=2 * EPS[dtype] * max(1.0, np.sqrt(k)))


@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("device", DEVICES)
def test_matmul_layouts_batches_and_linear(dtype, device):
    tol = dict(rtol=2 * EPS[dtype], atol=2 * EPS[dtype] * 12)
    a, av = make((3, 96, 136), dtype, device, seed=9)
    b, bv = make((136, 80), dtype, device, seed=10)
    np.testing.assert_allclose(values(a @ b), rounded(av @ bv, dtype), **tol)
    # transposed operands (the mn layouts), a broadcast batch, an odd offset view (no 16-byte loads)
    at, bt = a.transpose(1, 2).contiguous().transpose(1, 2), b.T.contiguous().T
    np.testing.assert_allclose(values(at @ bt), rounded(av @ bv, dtype), **tol)
    bb, bbv = make((3, 136, 80), dtype, device, seed=11)
    np.testing.assert_allclose(values(fibril.bmm(a, bb)), rounded(av @ bbv, dtype), **tol)
    wide, wv = make((96, 137), dtype, device, seed=12)
    np.testing.assert_allclose(values(wide[:, 1:] @ b), rounded(wv[:, 1:] @ bv, dtype), **tol)
    # linear with bias and the fused activations; gradients in the input dtype
    x, xv = make((33, 136), dtype, device, seed=13)
    lin = fibril.nn.Linear(136, 72).to(device).to(dtype)
    w, bias = values(lin.weight), values(lin.bias)
    pre = xv @ w.T + bias
    np.testing.assert_allclose(values(lin(x)), rounded(pre, dtype), **tol)
    np.testing.assert_allclose(values(F.relu(lin(x))), rounded(np.maximum(pre, 0), dtype), **tol)
    leaf = x.detach().requires_grad_(True)
    lin(leaf).sum().backward()
    assert leaf.grad.dtype == dtype and lin.weight.grad.dtype == dtype
    np.testing.assert_allclose(values(leaf.grad), rounded(np.ones((33, 72)) @ w, dtype), **tol)
    np.testing.assert_allclose(values(lin.weight.grad), rounded(np.ones((72, 33)) @ xv, dtype), rtol=0.02, atol=0.1)
    addmm = fibril.addmm(fibril.ones(96, 80, dtype=dtype, device=device), a[0], b, beta=0.5, alpha=2.0)
    np.testing.assert_allclose(values(addmm), rounded(0.5 + 2 * av[0] @ bv, dtype), rtol=tol["rtol"], atol=2 * tol["atol"])


@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("device", DEVICES)
def test_conv_pool_attention_widen(dtype, device):
    """The families without 16-bit kernels compute in float32: the float32 result, rounded. CUDA
    attention has a 16-bit forward (tensor cores, P rounded to the dtype before P V): within a
    few units of the dtype's last place of that result."""
    x, xv = make((2, 3, 9, 9), dtype, device, seed=14)
    w, wv = make((4, 3, 3, 3), dtype, device, seed=15)
    f32 = lambda t: fibril.tensor(t, dtype=fibril.float32)
    for got, want in [(F.conv2d(x, w, padding=1), F.conv2d(f32(xv), f32(wv), padding=1)),
                      (F.max_pool2d(x, 2), F.max_pool2d(f32(xv), 2)), (F.avg_pool2d(x, 3), F.avg_pool2d(f32(xv), 3))]:
        assert got.dtype == dtype and got.device == x.device
        np.testing.assert_array_equal(values(got), rounded(want.numpy(), dtype))
    q, qv = make((2, 5, 8), dtype, device, seed=16)
    got = F.scaled_dot_product_attention(q, q, q, is_causal=True)
    assert got.dtype == dtype
    want = F.scaled_dot_product_attention(f32(qv), f32(qv), f32(qv), is_causal=True).numpy()
    if device == "cpu":
        np.testing.assert_array_equal(values(got), rounded(want, dtype))
    else:
        np.testing.assert_allclose(values(got), want, rtol=4 * EPS[dtype], atol=4 * EPS[dtype])
    leaf = q.detach().requires_grad_(True)
    F.scaled_dot_product_attention(leaf, leaf, leaf).sum().backward()
    assert leaf.grad.dtype == dtype
    cx = x.detach().requires_grad_(True)
    F.max_pool2d(F.conv2d(cx, w), 2).sum().backward()
    assert cx.grad.dtype == dtype and np.isfinite(values(cx.grad)).all()


@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("device", DEVICES)
def test_training_step_in_16_bit(dtype, device):
    """Embedding, dropout, layers and AdamW on 16-bit parameters: the optimizer updates in
    float32 and rounds the parameters and its state back to their dtype."""
    fibril.manual_seed(0)
    model = fibril.nn.Sequential(fibril.nn.Embedding(10, 16), fibril.nn.Dropout(0.1), fibril.nn.Linear(16, 10))
    model.to(device).to(dtype)
    opt = fibril.optim.AdamW(model.parameters(), lr=1e-2)
    tokens = fibril.tensor(np.arange(24) % 10, device=device)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = F.cross_entropy(model(tokens), tokens)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(p.dtype == dtype for p in model.parameters())
    assert all(s.dtype == dtype for st in opt.state.values() for s in st.values() if hasattr(s, "dtype") and s.ndim)
    assert losses[-1] < 0.5 * losses[0]
    drop = F.dropout(fibril.ones(1000, dtype=dtype, device=device), 0.5)
    assert drop.dtype == dtype and set(np.unique(values(drop))) <= {0.0, 2.0}
    r = fibril.randn(1000, dtype=dtype, device=device)
    assert r.dtype == dtype and abs(values(r).mean()) < 0.2


@pytest.mark.parametrize("device", DEVICES)
def test_unsupported_families_raise_type_error(device):
    x = fibril.ones(3, 2, 8, dtype=fibril.float16, device=device)
    with pytest.raises(TypeError, match="float16"):
        fibril.nn.LSTM(8, 4).to(device).half()(x)


def test_modules_convert_to_half():
    m = fibril.nn.Sequential(fibril.nn.Linear(4, 3), fibril.nn.ReLU(), fibril.nn.Linear(3, 2))
    m.half()
    assert all(p.dtype == fibril.float16 for p in m.parameters())
    assert m(fibril.ones(5, 4, dtype=fibril.float16)).dtype == fibril.float16
    m.bfloat16()
    assert all(p.dtype == fibril.bfloat16 for p in m.parameters())
    m.float()
    assert all(p.dtype == fibril.float32 for p in m.parameters())


# ------------------------------------------------------------------------ 16-bit row kernels (softmax, losses, norms)
#
# On CUDA these read and write float16/bfloat16 directly (float32 math); the CPU widens. Row
# lengths reach every kernel path: a warp per row (n <= 1024, kept in registers), a block per
# row (kept in registers up to 4 packs of 8 per thread, streamed twice above), odd lengths (a
# scalar head and tail around the 16-byte packs), a view at an odd offset (scalar rows).


def exact(shape, dtype, seed, low=-2.0, high=2.0):
    """float64 values that are exact in dtype."""
    return rounded(np.random.default_rng(seed).uniform(low, high, size=shape), dtype)


def on_device(a, dtype, device, offset=0):
    """A leaf tensor of a's values in dtype on device; offset > 0 makes it a view that starts
    offset elements into its buffer (a misaligned base)."""
    flat = np.concatenate([np.zeros(offset), np.asarray(a, np.float64).ravel()])
    t = fibril.tensor(flat.astype(np.float32), device=device).to(dtype)[offset:].reshape(np.shape(a))
    return t.detach().requires_grad_(True)


def grads_of(fn, arrays, g, dtype, device, offset=0):
    """fn's result and its inputs' gradients for the upstream gradient g, run in dtype on
    device, as float64 arrays (None for an input without a gradient)."""
    ts = [on_device(a, dtype, device, offset) for a in arrays]
    y = fn(*ts)
    y.backward(fibril.tensor(np.asarray(g, np.float32), device=device).to(dtype))
    return y, [None if t.grad is None else values(t.grad) for t in ts]


def close(got, want, dtype, ulps):
    """got within `ulps` 16-bit ulps of want, relative to each value and to want's largest."""
    scale = max(1.0, float(np.abs(want).max())) if np.size(want) else 1.0
    np.testing.assert_allclose(got, want, rtol=ulps * EPS[dtype], atol=ulps * EPS[dtype] * scale)


def compare_native(fn, arrays, g, dtype, ulps, offset=0, device="cuda"):
    """fn in dtype on device against fn in float64 on the CPU over the same values (forward and
    gradients), and against the CPU's widened 16-bit run."""
    y, grads = grads_of(fn, arrays, g, dtype, device, offset)
    assert y.dtype == dtype and y.device == ("cuda:0" if device == "cuda" else "cpu")
    y64, grads64 = grads_of(fn, arrays, g, fibril.float64, "cpu")
    close(values(y), values(y64), dtype, ulps)
    for got, want in zip(grads, grads64):
        if want is not None:
            close(got, want, dtype, ulps)
    y_cpu, grads_cpu = grads_of(fn, arrays, g, dtype, "cpu")
    close(values(y), values(y_cpu), dtype, 2)
    for got, want in zip(grads, grads_cpu):
        if want is not None:
            close(got, want, dtype, 2)


SOFTMAX_ROWS = [(5, 1), (9, 40), (4, 1001), (3, 1024), (3, 1500), (2, 17000), (0, 5)]


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape", SOFTMAX_ROWS)
def test_cuda_native_softmax_rows(dtype, log, shape):
    fn = (lambda x: F.log_softmax(x, 1)) if log else (lambda x: F.softmax(x, 1))
    compare_native(fn, [exact(shape, dtype, 20, -4, 4)], exact(shape, dtype, 21), dtype, 4)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape", [(6, 300), (3, 1100), (2, 2100), (2, 17)])
def test_cuda_native_softmax_misaligned(dtype, log, shape):
    fn = (lambda x: F.log_softmax(x, 1)) if log else (lambda x: F.softmax(x, 1))
    compare_native(fn, [exact(shape, dtype, 22, -4, 4)], exact(shape, dtype, 23), dtype, 4, offset=1)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", HALVES)
def test_cuda_native_softmax_other_dim_and_dtype_contract(dtype):
    x = on_device(exact((4, 9, 3), dtype, 24), dtype, "cuda")
    y = F.softmax(x, 1)
    assert y.dtype == dtype
    want = np.exp(values(x)) / np.exp(values(x)).sum(1, keepdims=True)
    close(values(y), want, dtype, 4)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("n", [13, 1037])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cuda_native_cross_entropy(dtype, n, weighted, smoothing):
    rows = 7
    target = np.random.default_rng(25).integers(0, n, rows)
    target[2] = -100
    target[5] = 3
    w = exact((n,), dtype, 26, 0.5, 2.0)
    t_cuda, t_cpu = fibril.tensor(target, device="cuda"), fibril.tensor(target)

    def fn(x, *wt):
        t = t_cuda if x.device != fibril.tensor(0.0).device else t_cpu
        return F.cross_entropy(x, t, weight=wt[0] if wt else None, reduction="none", label_smoothing=smoothing)

    arrays = [exact((rows, n), dtype, 27, -4, 4)] + ([w] if weighted else [])
    g = exact((rows,), dtype, 28, 0.5, 1.5)
    compare_native(fn, arrays, g, dtype, 8)
    loss, _ = grads_of(fn, arrays, g, dtype, "cuda")
    assert values(loss)[2] == 0.0
    # ignore_index as a class, and the mean over the kept rows
    x = on_device(arrays[0], dtype, "cuda")
    kept = np.where(target == -100, 0, target)
    got = F.cross_entropy(x, fibril.tensor(kept, device="cuda"), ignore_index=3, label_smoothing=smoothing)
    want = F.cross_entropy(fibril.tensor(arrays[0]), fibril.tensor(kept), ignore_index=3, label_smoothing=smoothing)
    assert got.dtype == dtype
    close(values(got), values(want), dtype, 8)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", HALVES)
def test_cuda_native_cross_entropy_stats_and_nll(dtype):
    x = on_device(exact((6, 50), dtype, 29), dtype, "cuda")
    target = fibril.tensor([0, 49, 7, 3, 3, 12], device="cuda")
    opts = fibril._C.ClassLossOptions(None, -100, 0.0, True)
    loss, row_weight, stats = fibril._C.class_loss(x._data, target._data, opts)
    wrap = fibril.Tensor._wrap
    assert wrap(loss).dtype == dtype and wrap(row_weight).dtype == dtype and wrap(stats).dtype == fibril.float32
    nll = F.nll_loss(F.log_softmax(x, 1), target)
    xv = values(x)
    lse = np.log(np.exp(xv).sum(1))
    close(values(nll), np.mean(lse - xv[np.arange(6), [0, 49, 7, 3, 3, 12]]), dtype, 8)
    with pytest.raises(IndexError):
        F.cross_entropy(x, fibril.tensor([0, 50, 7, 3, 3, 12], device="cuda"))


NORM_N = [7, 40, 1024, 1500, 12300, 12304]


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("n", NORM_N)
@pytest.mark.parametrize("affine", ["none", "weight", "both"])
def test_cuda_native_layer_norm(dtype, n, affine):
    rows = 3
    arrays = [exact((rows, n), dtype, 30, -3, 3)]
    if affine != "none":
        arrays.append(exact((n,), dtype, 31, 0.5, 1.5))
    if affine == "both":
        arrays.append(exact((n,), dtype, 32, -0.5, 0.5))
    fn = lambda x, *p: F.layer_norm(x, (n,), *p)  # noqa: E731
    compare_native(fn, arrays, exact((rows, n), dtype, 33), dtype, 8)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("n", [7, 1024, 1500])
@pytest.mark.parametrize("weighted", [False, True])
def test_cuda_native_rms_norm(dtype, n, weighted):
    rows = 4
    arrays = [exact((rows, n), dtype, 34, -3, 3)] + ([exact((n,), dtype, 35, 0.5, 1.5)] if weighted else [])
    fn = lambda x, *w: F.rms_norm(x, (n,), *w, eps=1e-6)  # noqa: E731
    compare_native(fn, arrays, exact((rows, n), dtype, 36), dtype, 8)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", HALVES)
def test_cuda_native_norms_misaligned_and_stats_dtype(dtype):
    arrays = [exact((40, 36), dtype, 37), exact((36,), dtype, 38, 0.5, 1.5), exact((36,), dtype, 39)]
    fn = lambda x, w, b: F.layer_norm(x, (36,), w, b)  # noqa: E731
    compare_native(fn, arrays, exact((40, 36), dtype, 40), dtype, 8, offset=1)
    x = on_device(arrays[0], dtype, "cuda")
    y, mean, rstd = fibril._C.row_norm(False, x._data, [36], None, None, 1e-5)
    wrap = fibril.Tensor._wrap
    assert wrap(y).dtype == dtype and wrap(mean).dtype == fibril.float32 and wrap(rstd).dtype == fibril.float32
    close(values(wrap(mean)), values(x).mean(1), dtype, 1)
    # a float32 weight with 16-bit x takes the widened path: the gradient stays float32
    w32 = fibril.tensor(arrays[1].astype(np.float32), device="cuda", requires_grad=True)
    F.layer_norm(x, (36,), w32).sum().backward()
    assert w32.grad.dtype == fibril.float32 and x.grad.dtype == dtype


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", HALVES)
@pytest.mark.parametrize("shape", [(4, 3, 16), (3, 5, 7), (6, 4)])
@pytest.mark.parametrize("training", [True, False])
def test_cuda_native_batch_norm(dtype, shape, training):
    c = shape[1]
    arrays = [exact(shape, dtype, 41), exact((c,), dtype, 42, 0.5, 1.5), exact((c,), dtype, 43, -0.5, 0.5)]
    stats = [exact((c,), dtype, 44, -0.2, 0.2), exact((c,), dtype, 45, 0.5, 1.5)]
    runs = {}

    def fn_for(device, dt):
        rm, rv = (fibril.tensor(s.astype(np.float32), device=device).to(dt) for s in stats)
        runs[(device, dt)] = (rm, rv)
        return lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=training)

    y, grads = grads_of(fn_for("cuda", dtype), arrays, exact(shape, dtype, 46), dtype, "cuda")
    y64, grads64 = grads_of(fn_for("cpu", fibril.float64), arrays, exact(shape, dtype, 46), fibril.float64, "cpu")
    assert y.dtype == dtype
    close(values(y), values(y64), dtype, 8)
    for got, want in zip(grads, grads64):
        close(got, want, dtype, 8)
    for got, want in zip(runs[("cuda", dtype)], runs[("cpu", fibril.float64)]):
        assert got.dtype == dtype
        close(values(got), rounded(values(want), dtype), dtype, 2)
