"""Automatic mixed precision: fibril.autocast's op policy against torch.autocast("cpu") (output
dtypes, gradients), the autocast state (nesting, enabled=False, decorator, threads), GradScaler
(scaling, skipped steps, backoff and growth, errors, state_dict) and custom_fwd/custom_bwd."""

import threading
import warnings

import numpy as np
import pytest

import fibril
import fibril.nn.functional as F
from fibril import nn
from op_check import torch_one_thread  # noqa: F401  (autouse fixture)

torch = pytest.importorskip("torch")
tF = torch.nn.functional

RNG = np.random.default_rng(0)


def _name(dtype):
    return str(dtype).rsplit(".", 1)[-1]


def _pair(array, dtype="float32", requires_grad=False):
    """The same values as a fibril and a torch tensor of dtype."""
    a = fibril.tensor(array.astype(np.float32)).to(getattr(fibril, dtype))
    t = torch.tensor(array.astype(np.float32)).to(getattr(torch, dtype))
    a.requires_grad_(requires_grad)
    t.requires_grad_(requires_grad)
    return a, t


def _int_pair(array):
    return fibril.tensor(array.astype(np.int64)), torch.tensor(array.astype(np.int64))


def _u(*shape, low=-1.0, high=1.0):
    return RNG.uniform(low, high, shape)


# name -> (input builder, op) ; the builder returns, per library, the op's arguments. Each op runs
# under fibril.autocast("cpu") and torch.autocast("cpu") and the output dtypes must match.
def _args(*specs):
    """specs: (array, dtype) for floating tensors, ("int", array) for int64 ones, or plain values."""
    ours, theirs = [], []
    for spec in specs:
        if isinstance(spec, tuple) and isinstance(spec[0], str):
            a, t = _int_pair(spec[1])
        elif isinstance(spec, tuple):
            a, t = _pair(spec[0], spec[1])
        else:
            a = t = spec
        ours.append(a)
        theirs.append(t)
    return ours, theirs


F32, BF16, F16 = "float32", "bfloat16", "float16"
CASES = {
    # lower precision on CPU
    "matmul": (lambda: _args((_u(3, 4), F32), (_u(4, 5), F32)), lambda L, a, b: L.matmul(a, b)),
    "matmul_batched": (lambda: _args((_u(2, 3, 4), F32), (_u(4, 5), F32)), lambda L, a, b: a @ b),
    "mm": (lambda: _args((_u(3, 4), F32), (_u(4, 5), F32)), lambda L, a, b: L.mm(a, b)),
    "mm_f16_input": (lambda: _args((_u(3, 4), F16), (_u(4, 5), F32)), lambda L, a, b: L.mm(a, b)),
    "bmm": (lambda: _args((_u(2, 3, 4), F32), (_u(2, 4, 5), F32)), lambda L, a, b: L.bmm(a, b)),
    "addmm": (lambda: _args((_u(5), F32), (_u(3, 4), F32), (_u(4, 5), F32)), lambda L, c, a, b: L.addmm(c, a, b)),
    "baddbmm": (lambda: _args((_u(2, 3, 5), F32), (_u(2, 3, 4), F32), (_u(2, 4, 5), F32)),
                lambda L, c, a, b: L.baddbmm(c, a, b)),
    "addbmm": (lambda: _args((_u(3, 5), F32), (_u(2, 3, 4), F32), (_u(2, 4, 5), F32)),
               lambda L, c, a, b: L.addbmm(c, a, b)),
    "linear": (lambda: _args((_u(3, 4), F32), (_u(5, 4), F32), (_u(5), F32)), lambda L, x, w, b: _F(L).linear(x, w, b)),
    "linear_bf16_input": (lambda: _args((_u(3, 4), BF16), (_u(5, 4), F32)), lambda L, x, w: _F(L).linear(x, w)),
    "conv1d": (lambda: _args((_u(1, 2, 6), F32), (_u(3, 2, 3), F32), (_u(3), F32)),
               lambda L, x, w, b: _F(L).conv1d(x, w, b)),
    "conv2d": (lambda: _args((_u(1, 2, 5, 5), F32), (_u(3, 2, 3, 3), F32), (_u(3), F32)),
               lambda L, x, w, b: _F(L).conv2d(x, w, b, padding=1)),
    "conv3d": (lambda: _args((_u(1, 2, 4, 4, 4), F32), (_u(3, 2, 2, 2, 2), F32), (_u(3), F32)),
               lambda L, x, w, b: _F(L).conv3d(x, w, b)),
    "conv_transpose1d": (lambda: _args((_u(1, 2, 5), F32), (_u(2, 3, 3), F32), (_u(3), F32)),
                         lambda L, x, w, b: _F(L).conv_transpose1d(x, w, b, stride=2)),
    "conv_transpose2d": (lambda: _args((_u(1, 2, 4, 4), F32), (_u(2, 3, 3, 3), F32), (_u(3), F32)),
                         lambda L, x, w, b: _F(L).conv_transpose2d(x, w, b)),
    "conv_transpose3d": (lambda: _args((_u(1, 2, 3, 3, 3), F32), (_u(2, 3, 2, 2, 2), F32), (_u(3), F32)),
                         lambda L, x, w, b: _F(L).conv_transpose3d(x, w, b)),
    "sdpa": (lambda: _args((_u(1, 2, 4, 8), F32), (_u(1, 2, 5, 8), F32), (_u(1, 2, 5, 8), F32)),
             lambda L, q, k, v: _F(L).scaled_dot_product_attention(q, k, v)),
    "sdpa_float_mask": (lambda: _args((_u(1, 4, 8), F32), (_u(1, 5, 8), F32), (_u(1, 5, 8), F32), (_u(4, 5), F32)),
                        lambda L, q, k, v, m: _F(L).scaled_dot_product_attention(q, k, v, attn_mask=m)),
    "prelu": (lambda: _args((_u(2, 3, 4), F32), (np.array([0.25]), F32)), lambda L, x, w: _F(L).prelu(x, w)),
    "chain_matmul": (lambda: _args((_u(3, 3), F32), (_u(3, 3), F32), (_u(3, 3), F32)),
                     lambda L, a, b, c: L.chain_matmul(a, b, c) if L is fibril else L.linalg.multi_dot([a, b, c])),
    # not on the CPU lists: their inputs' dtype
    "mv": (lambda: _args((_u(3, 4), F32), (_u(4), F32)), lambda L, a, v: L.mv(a, v)),
    "dot": (lambda: _args((_u(4), F32), (_u(4), F32)), lambda L, a, b: L.dot(a, b)),
    "addmv": (lambda: _args((_u(3), F32), (_u(3, 4), F32), (_u(4), F32)), lambda L, c, a, v: L.addmv(c, a, v)),
    "addr": (lambda: _args((_u(3, 4), F32), (_u(3), F32), (_u(4), F32)), lambda L, c, a, b: L.addr(c, a, b)),
    "matmul_float64": (lambda: _args((_u(3, 4), "float64"), (_u(4, 5), "float64")), lambda L, a, b: a @ b),
    "relu_bf16": (lambda: _args((_u(3, 4), BF16)), lambda L, x: _F(L).relu(x)),
    "relu_f32": (lambda: _args((_u(3, 4), F32)), lambda L, x: _F(L).relu(x)),
    "add_bf16_f32": (lambda: _args((_u(3, 4), BF16), (_u(3, 4), F32)), lambda L, a, b: a + b),
    "softmax_bf16": (lambda: _args((_u(3, 4), BF16)), lambda L, x: _F(L).softmax(x, -1)),
    "log_softmax_f32": (lambda: _args((_u(3, 4), F32)), lambda L, x: _F(L).log_softmax(x, -1)),
    "layer_norm_bf16": (lambda: _args((_u(3, 4), BF16)), lambda L, x: _F(L).layer_norm(x, (4,))),
    "gaussian_nll_bf16": (lambda: _args((_u(3, 4), BF16), (_u(3, 4), BF16), (_u(3, 4, low=0.5), BF16)),
                          lambda L, x, t, v: _F(L).gaussian_nll_loss(x, t, v)),
    # float32 on CPU: the losses (bfloat16 inputs)
    "mse_loss": (lambda: _args((_u(3, 4), BF16), (_u(3, 4), BF16)), lambda L, x, t: _F(L).mse_loss(x, t)),
    "mse_loss_mixed": (lambda: _args((_u(3, 4), BF16), (_u(3, 4), F32)), lambda L, x, t: _F(L).mse_loss(x, t)),
    "l1_loss": (lambda: _args((_u(3, 4), BF16), (_u(3, 4), BF16)), lambda L, x, t: _F(L).l1_loss(x, t)),
    "smooth_l1_loss": (lambda: _args((_u(3, 4), BF16), (_u(3, 4), BF16)), lambda L, x, t: _F(L).smooth_l1_loss(x, t)),
    "huber_loss": (lambda: _args((_u(3, 4), BF16), (_u(3, 4), BF16)), lambda L, x, t: _F(L).huber_loss(x, t)),
    "nll_loss": (lambda: _args((_u(3, 4), BF16), ("int", np.array([0, 3, 1]))),
                 lambda L, x, t: _F(L).nll_loss(x, t)),
    "cross_entropy": (lambda: _args((_u(3, 4), BF16), ("int", np.array([0, 3, 1]))),
                      lambda L, x, t: _F(L).cross_entropy(x, t)),
    "cross_entropy_probs": (lambda: _args((_u(3, 4), BF16), (np.full((3, 4), 0.25), BF16)),
                            lambda L, x, t: _F(L).cross_entropy(x, t)),
    "binary_cross_entropy": (lambda: _args((_u(3, 4, low=0.1, high=0.9), BF16), (_u(3, 4, low=0, high=1), BF16)),
                             lambda L, x, t: _F(L).binary_cross_entropy(x, t)),
    "bce_with_logits": (lambda: _args((_u(3, 4), BF16), (_u(3, 4, low=0, high=1), BF16)),
                        lambda L, x, t: _F(L).binary_cross_entropy_with_logits(x, t)),
    "kl_div": (lambda: _args((_u(3, 4), BF16), (_u(3, 4, low=0.1, high=1), BF16)),
               lambda L, x, t: _F(L).kl_div(x, t, reduction="batchmean")),
    "cosine_embedding_loss": (lambda: _args((_u(3, 4), BF16), (_u(3, 4), BF16), (np.array([1.0, -1.0, 1.0]), F32)),
                              lambda L, a, b, y: _F(L).cosine_embedding_loss(a, b, y)),
    "margin_ranking_loss": (lambda: _args((_u(4), BF16), (_u(4), BF16), (np.array([1.0, -1.0, 1.0, -1.0]), BF16)),
                            lambda L, a, b, y: _F(L).margin_ranking_loss(a, b, y)),
    "hinge_embedding_loss": (lambda: _args((_u(3, 4), BF16), (np.sign(_u(3, 4)), BF16)),
                             lambda L, x, y: _F(L).hinge_embedding_loss(x, y)),
    "multi_margin_loss": (lambda: _args((_u(3, 4), BF16), ("int", np.array([0, 3, 1]))),
                          lambda L, x, y: _F(L).multi_margin_loss(x, y)),
    "multilabel_margin_loss": (lambda: _args((_u(2, 4), BF16), ("int", np.array([[3, 0, -1, 1], [1, -1, 0, 0]]))),
                               lambda L, x, y: _F(L).multilabel_margin_loss(x, y)),
    "triplet_margin_loss": (lambda: _args((_u(3, 4), BF16), (_u(3, 4), BF16), (_u(3, 4), BF16)),
                            lambda L, a, p, n: _F(L).triplet_margin_loss(a, p, n)),
    "poisson_nll_loss": (lambda: _args((_u(3, 4), BF16), (_u(3, 4, low=0, high=3), BF16)),
                         lambda L, x, t: _F(L).poisson_nll_loss(x, t)),
    "soft_margin_loss": (lambda: _args((_u(3, 4), BF16), (np.sign(_u(3, 4)), BF16)),
                         lambda L, x, y: _F(L).soft_margin_loss(x, y)),
    "ctc_loss": (lambda: _args((np.log(np.full((6, 2, 4), 0.25)), BF16), ("int", np.array([[1, 2], [3, 3]])),
                               ("int", np.array([6, 5])), ("int", np.array([2, 2]))),
                 lambda L, lp, t, il, tl: _F(L).ctc_loss(lp, t, il, tl)),
}


def _F(lib):
    return F if lib is fibril else tF


@pytest.mark.parametrize("name", sorted(CASES))
def test_output_dtype_matches_torch_cpu_autocast(name):
    build, op = CASES[name]
    ours, theirs = build()
    with torch.autocast("cpu"):
        expected = op(torch, *theirs)
    with fibril.autocast("cpu"):
        got = op(fibril, *ours)
    assert _name(got.dtype) == _name(expected.dtype), (name, got.dtype, expected.dtype)
    tol = 5e-2 * max(1.0, float(expected.detach().float().abs().max()))
    np.testing.assert_allclose(got.detach().to(fibril.float32).numpy(), expected.detach().float().numpy(),
                               atol=tol, rtol=5e-2)


@pytest.mark.parametrize("name", ["matmul", "linear", "conv2d", "mse_loss", "relu_f32", "add_bf16_f32"])
def test_float16_autocast_matches_torch(name):
    build, op = CASES[name]
    ours, theirs = build()
    with torch.autocast("cpu", dtype=torch.float16):
        expected = op(torch, *theirs)
    with fibril.autocast("cpu", dtype=fibril.float16):
        got = op(fibril, *ours)
    assert _name(got.dtype) == _name(expected.dtype)


def test_outside_autocast_nothing_is_cast():
    x, w = fibril.randn(3, 4), fibril.randn(5, 4)
    assert F.linear(x, w).dtype == fibril.float32
    with fibril.autocast("cpu", enabled=False):
        assert F.linear(x, w).dtype == fibril.float32
    with fibril.autocast("cpu"):
        assert F.linear(x, w).dtype == fibril.bfloat16
        with fibril.autocast("cpu", enabled=False):
            assert F.linear(x, w).dtype == fibril.float32
        assert F.linear(x, w).dtype == fibril.bfloat16
    assert F.linear(x, w).dtype == fibril.float32


def test_state_functions_and_nesting():
    assert not fibril.is_autocast_enabled("cpu") and not fibril.is_autocast_cpu_enabled()
    assert fibril.get_autocast_dtype("cpu") == fibril.bfloat16 == fibril.get_autocast_cpu_dtype()
    assert fibril.get_autocast_dtype("cuda") == fibril.float16 == fibril.get_autocast_gpu_dtype()
    with fibril.autocast("cpu", dtype=fibril.float16):
        assert fibril.is_autocast_enabled("cpu") and fibril.is_autocast_cpu_enabled()
        assert not fibril.is_autocast_enabled()  # no argument: cuda, as torch
        assert fibril.get_autocast_dtype("cpu") == fibril.float16
        with fibril.autocast("cpu"):  # no dtype: the current one, as torch
            assert fibril.get_autocast_dtype("cpu") == fibril.float16
            assert (fibril.randn(2, 2) @ fibril.randn(2, 2)).dtype == fibril.float16
        with fibril.autocast("cpu", dtype=fibril.bfloat16):
            assert (fibril.randn(2, 2) @ fibril.randn(2, 2)).dtype == fibril.bfloat16
        assert fibril.get_autocast_dtype("cpu") == fibril.float16
    assert not fibril.is_autocast_enabled("cpu")
    assert fibril.get_autocast_dtype("cpu") == fibril.bfloat16
    fibril.set_autocast_enabled("cpu", True)
    try:
        assert fibril.is_autocast_enabled("cpu")
        assert (fibril.randn(2, 2) @ fibril.randn(2, 2)).dtype == fibril.bfloat16
    finally:
        fibril.set_autocast_enabled("cpu", False)
    assert (fibril.randn(2, 2) @ fibril.randn(2, 2)).dtype == fibril.float32


def test_state_restored_after_exception():
    with pytest.raises(ZeroDivisionError):
        with fibril.autocast("cpu", dtype=fibril.float16):
            1 / 0
    assert not fibril.is_autocast_enabled("cpu")
    assert fibril.get_autocast_dtype("cpu") == fibril.bfloat16
    assert fibril.amp.state.state.nesting == 0


def test_decorator_form_and_reentry():
    @fibril.autocast("cpu")
    def forward(x, w, depth):
        inner = forward(x, w, depth - 1) if depth else None
        assert fibril.is_autocast_enabled("cpu")
        return F.linear(x, w), inner

    out, inner = forward(fibril.randn(2, 3), fibril.randn(4, 3), 2)
    assert out.dtype == fibril.bfloat16 and inner[0].dtype == fibril.bfloat16
    assert not fibril.is_autocast_enabled("cpu")
    with pytest.raises(TypeError):
        fibril.autocast("cpu")(3)


def test_state_is_thread_local():
    seen = {}

    def other():
        seen["enabled"] = fibril.is_autocast_enabled("cpu")
        seen["dtype"] = (fibril.randn(2, 2) @ fibril.randn(2, 2)).dtype

    with fibril.autocast("cpu"):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert seen == {"enabled": False, "dtype": fibril.float32}


def test_unsupported_dtype_and_device():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ac = fibril.autocast("cpu", dtype=fibril.float32)
    assert not ac._enabled and any("not supported" in str(w.message) for w in caught)
    with ac:
        assert not fibril.is_autocast_enabled("cpu")
    with pytest.raises(RuntimeError):
        fibril.autocast("tpu")
    with pytest.raises(ValueError):
        fibril.autocast(0)
    assert fibril.amp.is_autocast_available("cpu") and not fibril.amp.is_autocast_available("tpu")
    if not fibril.cuda.is_available():
        with pytest.warns(UserWarning, match="CUDA is not available"):
            ac = fibril.autocast("cuda")
        with ac:
            assert not fibril.is_autocast_enabled("cuda")


def test_integer_and_float64_tensors_untouched():
    x = fibril.randn(3, 4, dtype=fibril.float64)
    with fibril.autocast("cpu"):
        assert F.linear(x, fibril.randn(5, 4, dtype=fibril.float64)).dtype == fibril.float64
        target = fibril.tensor([0, 1, 2])
        assert F.cross_entropy(fibril.randn(3, 4).to(fibril.bfloat16), target).dtype == fibril.float32
        assert target.dtype == fibril.int64
        y = fibril.amp.policy.autocast_inputs("lower", fibril.tensor([1, 2]), None, 3.0)
        assert y[0].dtype == fibril.int64 and y[1] is None and y[2] == 3.0


def _mlp_pair(seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-0.5, 0.5, s).astype(np.float32) for s in [(16, 8), (16,), (4, 16), (4,)]]
    ours = [fibril.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    return ours, theirs


def test_gradients_reach_float32_parameters_like_torch():
    params, tparams = _mlp_pair()
    xa, ya = RNG.uniform(-1, 1, (6, 8)), RNG.uniform(-1, 1, (6, 4))
    x, y = fibril.tensor(xa.astype(np.float32)), fibril.tensor(ya.astype(np.float32))
    tx, ty = torch.tensor(xa.astype(np.float32)), torch.tensor(ya.astype(np.float32))
    w1, b1, w2, b2 = params
    with fibril.autocast("cpu"):
        h = F.relu(F.linear(x, w1, b1))
        out = F.linear(h, w2, b2)
        loss = F.mse_loss(out, y)
    assert h.dtype == out.dtype == fibril.bfloat16 and loss.dtype == fibril.float32
    loss.backward()
    tw1, tb1, tw2, tb2 = tparams
    with torch.autocast("cpu"):
        tloss = tF.mse_loss(tF.linear(tF.relu(tF.linear(tx, tw1, tb1)), tw2, tb2), ty)
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=2e-2, atol=1e-3)
    for p, tp in zip(params, tparams):
        assert p.grad.dtype == fibril.float32
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), atol=2e-2, rtol=5e-2)


def test_conv_gradients_like_torch():
    xa, wa = RNG.uniform(-1, 1, (2, 3, 6, 6)), RNG.uniform(-0.5, 0.5, (4, 3, 3, 3))
    x, tx = _pair(xa)
    w, tw = _pair(wa, requires_grad=True)
    with fibril.autocast("cpu"):
        loss = F.conv2d(x, w, padding=1).float().square().mean()
    with torch.autocast("cpu"):
        tloss = tF.conv2d(tx, tw, padding=1).float().square().mean()
    loss.backward()
    tloss.backward()
    assert w.grad.dtype == fibril.float32
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), atol=2e-2, rtol=5e-2)


def test_parameter_casts_are_cached_within_a_region():
    w = fibril.randn(4, 4, requires_grad=True)
    x = fibril.randn(2, 4)
    cache = lambda: fibril.amp.state.state.cache or {}  # noqa: E731
    with fibril.autocast("cpu"):
        y = F.linear(x, w)
        z = F.linear(y, w)
        assert len(cache()) == 1
        with fibril.autocast("cpu", cache_enabled=False):
            F.linear(x, w)
        assert len(cache()) == 1
    assert len(cache()) == 0  # cleared on leaving the outermost region
    (y.float().sum() + z.float().sum()).backward()
    w2 = w.detach().clone().requires_grad_(True)
    w2_cast = w2.to(fibril.bfloat16)  # one cast for both uses, as the cache gives
    y2 = F.linear(x.to(fibril.bfloat16), w2_cast)
    (y2.float().sum() + F.linear(y2, w2_cast).float().sum()).backward()
    np.testing.assert_allclose(w.grad.numpy(), w2.grad.numpy(), rtol=1e-6)


def test_training_loop_with_grad_scaler_loss_falls():
    fibril.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    opt = fibril.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scaler = fibril.amp.GradScaler("cpu", init_scale=2.0**10)
    xa = RNG.uniform(-1, 1, (64, 8)).astype(np.float32)
    x, y = fibril.tensor(xa), fibril.tensor(np.sin(xa.sum(1, keepdims=True)).astype(np.float32))
    losses = []
    for _ in range(40):
        opt.zero_grad()
        with fibril.autocast("cpu"):
            loss = F.mse_loss(model(x), y)
        assert loss.dtype == fibril.float32
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    assert all(p.dtype == fibril.float32 for p in model.parameters())
    assert losses[-1] < 0.5 * losses[0]


def _one_param_optimizer(value=1.0):
    p = fibril.tensor([value, value], requires_grad=True)
    return p, fibril.optim.SGD([p], lr=1.0)


def test_grad_scaler_scale_and_unscale():
    scaler = fibril.amp.GradScaler("cpu")
    assert scaler.is_enabled() and scaler.get_scale() == 2.0**16
    out = scaler.scale(fibril.tensor(3.0))
    assert out.item() == 3.0 * 2**16 and out.shape == ()
    nested = scaler.scale([fibril.tensor(1.0), (fibril.tensor(2.0), fibril.tensor(4.0))])
    assert isinstance(nested, list) and isinstance(nested[1], tuple)
    assert [nested[0].item(), nested[1][0].item(), nested[1][1].item()] == [2.0**16, 2.0**17, 2.0**18]
    with pytest.raises(ValueError):
        scaler.scale(3.0)
    p, opt = _one_param_optimizer()
    scaler.scale((p * 2).sum()).backward()
    assert p.grad.numpy().tolist() == [2.0**17, 2.0**17]
    scaler.unscale_(opt)
    assert p.grad.numpy().tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    assert scaler.step(opt) is None  # SGD.step returns None; the step ran
    assert p.detach().numpy().tolist() == [-1.0, -1.0]
    with pytest.raises(RuntimeError, match="after step"):
        scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 2.0**16 and scaler._get_growth_tracker() == 1


def _inf_step(scaler, p, opt, bad):
    opt.zero_grad()
    loss = (p * (float("inf") if bad else 1.0)).sum()
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()


def test_grad_scaler_skips_inf_steps_backs_off_and_grows():
    scaler = fibril.amp.GradScaler("cpu", init_scale=8.0, growth_factor=4.0, backoff_factor=0.25,
                                   growth_interval=3)
    p, opt = _one_param_optimizer()
    _inf_step(scaler, p, opt, bad=True)
    assert p.detach().numpy().tolist() == [1.0, 1.0]  # skipped
    assert scaler.get_scale() == 2.0 and scaler._get_growth_tracker() == 0
    _inf_step(scaler, p, opt, bad=False)
    _inf_step(scaler, p, opt, bad=False)
    assert scaler.get_scale() == 2.0 and scaler._get_growth_tracker() == 2
    np.testing.assert_allclose(p.detach().numpy(), [-1.0, -1.0])
    _inf_step(scaler, p, opt, bad=False)
    assert scaler.get_scale() == 8.0 and scaler._get_growth_tracker() == 0
    scaler.update(new_scale=5.0)  # no inf checks needed with an explicit scale
    assert scaler.get_scale() == 5.0
    scaler.update(new_scale=fibril.tensor(3.0))
    assert scaler.get_scale() == 3.0
    nan = fibril.amp.GradScaler("cpu")
    q, qopt = _one_param_optimizer()
    nan.scale((q * float("nan")).sum()).backward()
    nan.step(qopt)
    nan.update()
    assert q.detach().numpy().tolist() == [1.0, 1.0] and nan.get_scale() == 2.0**15


def test_grad_scaler_sequence_matches_torch():
    pattern = [False, True, False, False, False, True, True, False, False, False, False]
    ours = fibril.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=2)
    theirs = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=2)
    p, opt = _one_param_optimizer()
    tp = torch.tensor([1.0, 1.0], requires_grad=True)
    topt = torch.optim.SGD([tp], lr=1.0)
    for bad in pattern:
        _inf_step(ours, p, opt, bad)
        topt.zero_grad()
        theirs.scale((tp * (float("inf") if bad else 1.0)).sum()).backward()
        theirs.step(topt)
        theirs.update()
        assert ours.get_scale() == theirs.get_scale()
        assert ours._get_growth_tracker() == theirs._get_growth_tracker()
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy())
    assert ours.state_dict() == theirs.state_dict()


def test_grad_scaler_state_dict_round_trip():
    a = fibril.amp.GradScaler("cpu", init_scale=64.0, growth_factor=3.0, backoff_factor=0.25, growth_interval=7)
    p, opt = _one_param_optimizer()
    _inf_step(a, p, opt, bad=False)
    state = a.state_dict()
    assert state == {"scale": 64.0, "growth_factor": 3.0, "backoff_factor": 0.25, "growth_interval": 7,
                     "_growth_tracker": 1}
    b = fibril.amp.GradScaler("cpu")
    b.load_state_dict(state)
    assert b.state_dict() == state
    assert b.get_growth_factor() == 3.0 and b.get_backoff_factor() == 0.25 and b.get_growth_interval() == 7
    b.set_growth_factor(5.0)
    b.set_backoff_factor(0.125)
    b.set_growth_interval(11)
    assert (b.get_growth_factor(), b.get_backoff_factor(), b.get_growth_interval()) == (5.0, 0.125, 11)
    with pytest.raises(RuntimeError, match="empty"):
        b.load_state_dict({})


def test_grad_scaler_disabled_is_a_pass_through():
    scaler = fibril.amp.GradScaler("cpu", enabled=False)
    assert not scaler.is_enabled() and scaler.get_scale() == 1.0 and scaler.state_dict() == {}
    loss = fibril.tensor(2.0)
    assert scaler.scale(loss) is loss
    p, opt = _one_param_optimizer()
    (p * 3).sum().backward()
    scaler.unscale_(opt)
    assert p.grad.numpy().tolist() == [3.0, 3.0]
    scaler.step(opt)
    scaler.update()
    assert p.detach().numpy().tolist() == [-2.0, -2.0]
    scaler.load_state_dict({})  # ignored


def test_grad_scaler_errors():
    scaler = fibril.amp.GradScaler("cpu")
    p, opt = _one_param_optimizer()
    with pytest.raises(AssertionError):
        scaler.step(opt)  # scale() never ran
    scaler.scale(fibril.tensor(1.0))
    with pytest.raises(AssertionError, match="No inf checks"):
        scaler.step(opt)  # no grads
    with pytest.raises(RuntimeError, match="Closure"):
        scaler.step(opt, closure=lambda: None)
    q = fibril.tensor([1.0], requires_grad=True)
    (q.to(fibril.float16) * 2).sum().backward()
    q.grad = q.grad.to(fibril.float16)
    with pytest.raises(ValueError, match="FP16"):
        scaler.unscale_(fibril.optim.SGD([q], lr=1.0))
    with pytest.raises(AssertionError):
        fibril.amp.GradScaler("cpu", growth_factor=0.5)
    if not fibril.cuda.is_available():
        with pytest.warns(UserWarning, match="CUDA is not available"):
            assert not fibril.cuda.amp.GradScaler().is_enabled()


class _CastingMatmul(fibril.autograd.Function):
    seen = {}

    @staticmethod
    @fibril.amp.custom_fwd(device_type="cpu", cast_inputs=fibril.float32)
    def forward(ctx, a, b):
        _CastingMatmul.seen["fwd"] = (a.dtype, b.dtype, fibril.is_autocast_enabled("cpu"))
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    @fibril.amp.custom_bwd(device_type="cpu")
    def backward(ctx, g):
        _CastingMatmul.seen["bwd"] = fibril.is_autocast_enabled("cpu")
        a, b = ctx.saved_tensors
        return g @ b.mT, a.mT @ g


class _AutocastMatmul(fibril.autograd.Function):
    seen = {}

    @staticmethod
    @fibril.amp.custom_fwd(device_type="cpu")
    def forward(ctx, a, b):
        _AutocastMatmul.seen["fwd"] = fibril.is_autocast_enabled("cpu")
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    @fibril.amp.custom_bwd(device_type="cpu")
    def backward(ctx, g):
        _AutocastMatmul.seen["bwd"] = (fibril.is_autocast_enabled("cpu"), fibril.get_autocast_dtype("cpu"))
        a, b = ctx.saved_tensors
        return g @ b.mT, a.mT @ g


def test_custom_fwd_cast_inputs():
    a = fibril.randn(3, 4).to(fibril.bfloat16).requires_grad_(True)
    b = fibril.randn(4, 2, requires_grad=True)
    with fibril.autocast("cpu"):
        out = _CastingMatmul.apply(a, b)
    assert _CastingMatmul.seen["fwd"] == (fibril.float32, fibril.float32, False)
    assert out.dtype == fibril.float32
    out.sum().backward()
    assert _CastingMatmul.seen["bwd"] is False
    assert a.grad.dtype == fibril.bfloat16 and b.grad.dtype == fibril.float32
    # outside autocast: a no-op
    out = _CastingMatmul.apply(fibril.randn(3, 4), fibril.randn(4, 2))
    assert _CastingMatmul.seen["fwd"] == (fibril.float32, fibril.float32, False) and out.dtype == fibril.float32


def test_custom_bwd_runs_with_forward_autocast_state():
    a = fibril.randn(3, 4, requires_grad=True)
    b = fibril.randn(4, 2, requires_grad=True)
    with fibril.autocast("cpu", dtype=fibril.float16):
        out = _AutocastMatmul.apply(a, b)
    assert _AutocastMatmul.seen["fwd"] is True and out.dtype == fibril.float16
    out.float().sum().backward()  # outside the region: backward still sees float16 autocast
    assert _AutocastMatmul.seen["bwd"] == (True, fibril.float16)
    assert not fibril.is_autocast_enabled("cpu")
    assert a.grad.dtype == fibril.float32 and b.grad.dtype == fibril.float32
    with pytest.raises(ValueError):
        fibril.amp.custom_fwd(device_type=None)


# The CUDA policy, on a GPU or the emulator (FIBRIL_CUDA_EMULATOR=1).
@pytest.mark.cuda
def test_cuda_autocast_policy():
    x = fibril.randn(4, 8, device="cuda")
    w = fibril.randn(6, 8, device="cuda", requires_grad=True)
    c = fibril.randn(4, 8)
    with fibril.autocast("cuda"):
        y = F.linear(x, w)
        assert y.dtype == fibril.float16
        assert F.softmax(y, -1).dtype == fibril.float32  # float32 on CUDA, not on CPU
        assert F.log_softmax(y, -1, dtype=fibril.float16).dtype == fibril.float16
        assert F.mse_loss(y, fibril.zeros(4, 6, device="cuda")).dtype == fibril.float32
        assert fibril.mv(x, x[0]).dtype == fibril.float16  # lower precision on CUDA only
        assert (c @ c.mT).dtype == fibril.float32  # a CPU tensor: CUDA autocast leaves it alone
        assert F.softmax(c, -1).dtype == fibril.float32
        with pytest.raises(RuntimeError, match="unsafe to autocast"):
            F.binary_cross_entropy(x.sigmoid(), x.sigmoid())
    y.float().sum().backward()
    assert w.grad.dtype == fibril.float32
    with fibril.autocast("cpu"):
        assert (x @ x.mT).dtype == fibril.float32  # CPU autocast leaves CUDA tensors alone
        assert (c @ c.mT).dtype == fibril.bfloat16


@pytest.mark.cuda
def test_cuda_grad_scaler_skips_inf():
    scaler = fibril.cuda.amp.GradScaler(init_scale=4.0)
    p = fibril.tensor([1.0, 1.0], device="cuda", requires_grad=True)
    opt = fibril.optim.SGD([p], lr=1.0)
    _inf_step(scaler, p, opt, bad=True)
    assert p.detach().cpu().numpy().tolist() == [1.0, 1.0] and scaler.get_scale() == 2.0
    _inf_step(scaler, p, opt, bad=False)
    assert p.detach().cpu().numpy().tolist() == [0.0, 0.0]


# ------------------------------------------------------------------------------ float32 ops and the rest of the policy
def _spd(n, seed):
    a = np.random.default_rng(seed).standard_normal((n, n)).astype(np.float32)
    return a @ a.T + n * np.eye(n, dtype=np.float32)


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


_SPD, _RECT, _B = _spd(3, 1), _rand(4, 3, seed=2), _rand(3, 2, seed=3)
_CHOL = np.linalg.cholesky(_SPD).astype(np.float32)

# name -> (function of the module (torch or fibril), the float32 inputs); each output's dtype and
# value checked against torch's under autocast("cpu"), with float32 and with bfloat16 inputs.
_F32_CASES = {
    "linalg.inv": (lambda T, a: T.linalg.inv(a), [_SPD]),
    "linalg.inv_ex": (lambda T, a: T.linalg.inv_ex(a)[0], [_SPD]),
    "inverse": (lambda T, a: T.inverse(a), [_SPD]),
    "linalg.solve": (lambda T, a, b: T.linalg.solve(a, b), [_SPD, _B]),
    "linalg.cholesky": (lambda T, a: T.linalg.cholesky(a), [_SPD]),
    "linalg.cholesky_ex": (lambda T, a: T.linalg.cholesky_ex(a)[0], [_SPD]),
    "cholesky": (lambda T, a: T.cholesky(a), [_SPD]),
    "cholesky_inverse": (lambda T, l: T.cholesky_inverse(l), [_CHOL]),
    "cholesky_solve": (lambda T, b, l: T.cholesky_solve(b, l), [_B, _CHOL]),
    "linalg.qr": (lambda T, a: T.linalg.qr(a)[1].abs(), [_RECT]),
    "linalg.svd": (lambda T, a: T.linalg.svd(a)[1], [_RECT]),
    "svd": (lambda T, a: T.svd(a)[1], [_RECT]),
    "linalg.svdvals": (lambda T, a: T.linalg.svdvals(a), [_RECT]),
    "linalg.eigh": (lambda T, a: T.linalg.eigh(a)[0], [_SPD]),
    "linalg.eigvalsh": (lambda T, a: T.linalg.eigvalsh(a), [_SPD]),
    "linalg.householder_product": (lambda T, a, t: T.linalg.householder_product(a, t), [_RECT, _rand(3, seed=4)]),
    "linalg.lstsq": (lambda T, a, b: T.linalg.lstsq(a, b)[0], [_RECT, _rand(4, 2, seed=5)]),
    "linalg.cond": (lambda T, a: T.linalg.cond(a), [_SPD]),
    "linalg.tensorsolve": (lambda T, a, b: T.linalg.tensorsolve(a, b), [_SPD[None].repeat(2, 0)[:, :2].reshape(2, 3, 2)[:, :2].reshape(2, 2, 2) * 0 + np.eye(4, dtype=np.float32).reshape(2, 2, 4)[:, :, :4].reshape(2, 2, 2, 2) * 3 + _rand(2, 2, 2, 2, seed=6) * 0.1, _rand(2, 2, seed=7)]),
    "pinverse": (lambda T, a: T.pinverse(a), [_RECT]),
    "lu_solve": (lambda T, b, a: T.lu_solve(b, *T.linalg.lu_factor(a.float())), [_B, _SPD]),
    "cdist": (lambda T, a, b: T.cdist(a, b), [_rand(30, 3, seed=8), _rand(27, 3, seed=9)]),
    "trace": (lambda T, a: T.trace(a), [_SPD]),
    "prod": (lambda T, a: T.prod(a), [_rand(3, 3, seed=10)]),
    "prod_dim": (lambda T, a: T.prod(a, 1), [_rand(3, 3, seed=10)]),
    "quantile": (lambda T, a: T.quantile(a, 0.3, dim=1), [_rand(3, 5, seed=11)]),
    "nanquantile": (lambda T, a: T.nanquantile(a, 0.7), [_rand(3, 5, seed=11)]),
    "max_pool3d": (lambda T, a: T.nn.functional.max_pool3d(a, 2), [_rand(1, 2, 4, 4, 4, seed=12)]),
    "avg_pool3d": (lambda T, a: T.nn.functional.avg_pool3d(a, 2), [_rand(1, 2, 4, 4, 4, seed=12)]),
    "adaptive_avg_pool3d": (lambda T, a: T.nn.functional.adaptive_avg_pool3d(a, 2), [_rand(1, 2, 4, 4, 4, seed=12)]),
    "adaptive_max_pool3d": (lambda T, a: T.nn.functional.adaptive_max_pool3d(a, 2), [_rand(1, 2, 4, 4, 4, seed=12)]),
    "grid_sample": (lambda T, a, g: T.nn.functional.grid_sample(a, g.clamp(-1, 1), align_corners=False),
                    [_rand(1, 2, 4, 4, seed=13), _rand(1, 3, 3, 2, seed=14)]),
    "pad_reflect1d": (lambda T, a: T.nn.functional.pad(a, (2, 2), mode="reflect"), [_rand(1, 2, 5, seed=15)]),
    "pad_reflect2d": (lambda T, a: T.nn.functional.pad(a, (2, 2, 1, 1), mode="reflect"), [_rand(1, 2, 5, 5, seed=15)]),
    "pad_reflect3d": (lambda T, a: T.nn.functional.pad(a, (1,) * 6, mode="reflect"), [_rand(1, 2, 3, 3, 3, seed=15)]),
    "pad_replicate1d": (lambda T, a: T.nn.functional.pad(a, (2, 1), mode="replicate"), [_rand(1, 2, 5, seed=15)]),
    "pad_replicate2d": (lambda T, a: T.nn.functional.pad(a, (2, 1, 1, 2), mode="replicate"), [_rand(1, 2, 5, 5, seed=15)]),
    "pad_replicate3d": (lambda T, a: T.nn.functional.pad(a, (1,) * 6, mode="replicate"), [_rand(1, 2, 3, 3, 3, seed=15)]),
    "pad_circular2d": (lambda T, a: T.nn.functional.pad(a, (1,) * 4, mode="circular"), [_rand(1, 2, 3, 3, seed=15)]),
    "prelu": (lambda T, a, w: T.nn.functional.prelu(a, w), [_rand(2, 3, 4, seed=16), _rand(3, seed=17)]),
    "bilinear": (lambda T, a, b, w: T.nn.functional.bilinear(a, b, w), [_rand(2, 3, seed=18), _rand(2, 4, seed=19),
                                                                       _rand(5, 3, 4, seed=20)]),
    "inner": (lambda T, a, b: T.inner(a, b), [_rand(2, 3, seed=21), _rand(4, 3, seed=22)]),
    "inner_1d": (lambda T, a, b: T.inner(a, b), [_rand(3, seed=21), _rand(3, seed=22)]),
    "linalg.vecdot": (lambda T, a, b: T.linalg.vecdot(a, b), [_rand(2, 3, seed=21), _rand(2, 3, seed=22)]),
    "linalg.pinv": (lambda T, a: T.linalg.pinv(a), [_RECT]),  # float32 in only: torch refuses bfloat16
    "linalg.det": (lambda T, a: T.linalg.det(a), [_SPD]),
    "linalg.lu_factor": (lambda T, a: T.linalg.lu_factor(a)[0], [_SPD]),
    "linalg.solve_triangular": (lambda T, a, b: T.linalg.solve_triangular(a, b, upper=True), [_SPD, _B]),
    "linalg.solve_ex": (lambda T, a, b: T.linalg.solve_ex(a, b)[0], [_SPD, _B]),
    "linalg.matrix_norm": (lambda T, a: T.linalg.matrix_norm(a), [_SPD]),
    "linalg.vector_norm": (lambda T, a: T.linalg.vector_norm(a), [_SPD]),
    "exp": (lambda T, a: T.exp(a), [_rand(3, seed=23)]),  # CUDA-only float32 ops: untouched on CPU
    "sum": (lambda T, a: T.sum(a), [_rand(3, seed=23)]),
    "layer_norm": (lambda T, a: T.nn.functional.layer_norm(a, (4,)), [_rand(2, 4, seed=24)]),
}
# torch has no bfloat16 kernel for these (nor a cast): float32 inputs only
_F32_ONLY = {"linalg.pinv", "linalg.det", "linalg.lu_factor", "linalg.solve_triangular", "linalg.solve_ex"}


@pytest.mark.parametrize("name", sorted(_F32_CASES))
@pytest.mark.parametrize("low_input", [False, True], ids=["f32_in", "bf16_in"])
def test_policy_matches_torch_cpu_autocast(name, low_input):
    import torch

    if low_input and name in _F32_ONLY:
        pytest.skip("torch has no bfloat16 kernel for it")
    fn, arrays = _F32_CASES[name]
    tt = [torch.tensor(a) for a in arrays]
    ft = [fibril.tensor(a) for a in arrays]
    if low_input:
        tt, ft = [t.bfloat16() for t in tt], [t.to(fibril.bfloat16) for t in ft]
    with torch.autocast("cpu"):
        expected = fn(torch, *tt)
    with fibril.autocast("cpu"):
        got = fn(fibril, *ft)
    assert str(got.dtype).split(".")[-1] == str(expected.dtype).split(".")[-1], (got.dtype, expected.dtype)
    np.testing.assert_allclose(got.float().detach().numpy(), expected.float().detach().numpy(), rtol=3e-2, atol=3e-2)


_GRAD_CASES = ["linalg.inv", "linalg.solve", "linalg.cholesky", "linalg.svdvals", "linalg.eigvalsh", "cdist", "trace",
               "prod", "quantile", "max_pool3d", "avg_pool3d", "adaptive_avg_pool3d", "grid_sample", "pad_reflect2d",
               "pad_replicate3d", "prelu", "bilinear", "inner", "inner_1d", "linalg.vecdot", "linalg.lstsq"]


@pytest.mark.parametrize("name", _GRAD_CASES)
def test_policy_gradients_reach_float32_inputs(name):
    import torch

    fn, arrays = _F32_CASES[name]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    ft = [fibril.tensor(a, requires_grad=True) for a in arrays]
    with torch.autocast("cpu"):
        torch_out = fn(torch, *tt)
    with fibril.autocast("cpu"):
        out = fn(fibril, *ft)
    torch_out.float().sum().backward()
    out.float().sum().backward()
    for f, t in zip(ft, tt):
        if t.grad is None:
            continue
        assert f.grad is not None and f.grad.dtype == fibril.float32
        np.testing.assert_allclose(f.grad.numpy(), t.grad.numpy(), rtol=5e-2, atol=5e-2)


def test_linalg_internals_stay_float32_under_autocast():
    a = fibril.tensor(_SPD)
    with fibril.autocast("cpu"):
        x = fibril.linalg.solve(a, fibril.tensor(_B))
        lu, piv = fibril.linalg.lu_factor(a)
        y = fibril.linalg.lu_solve(lu, piv, fibril.tensor(_B))
        assert fibril.is_autocast_enabled("cpu")  # restored after the float32 region
    assert x.dtype == y.dtype == fibril.float32
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(_SPD, _B), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y.numpy(), np.linalg.solve(_SPD, _B), rtol=1e-5, atol=1e-5)
    assert not fibril.is_autocast_enabled("cpu")


def test_prelu_module_and_functional_agree_under_autocast():
    m = nn.PReLU(3)
    x = fibril.randn(2, 3, 4)
    with fibril.autocast("cpu"):
        assert m(x).dtype == F.prelu(x, m.weight).dtype == fibril.bfloat16
    m(x).sum().backward()
    assert m.weight.grad.dtype == fibril.float32


_CUDA_FP32 = {
    "exp": lambda x: fibril.exp(x), "expm1": lambda x: fibril.expm1(x), "log": lambda x: fibril.log(x.abs()),
    "log2": lambda x: fibril.log2(x.abs()), "log10": lambda x: fibril.log10(x.abs()),
    "log1p": lambda x: fibril.log1p(x.abs()), "reciprocal": lambda x: fibril.reciprocal(x),
    "rsqrt": lambda x: fibril.rsqrt(x.abs()), "sinh": lambda x: fibril.sinh(x), "cosh": lambda x: fibril.cosh(x),
    "tan": lambda x: fibril.tan(x), "asin": lambda x: fibril.asin(x.clamp(-0.5, 0.5)),
    "acos": lambda x: fibril.acos(x.clamp(-0.5, 0.5)), "pow": lambda x: fibril.pow(x, 2),
    "pow_tensor": lambda x: fibril.pow(x.abs(), x), "softplus": lambda x: F.softplus(x),
    "layer_norm": lambda x: F.layer_norm(x, (4,)), "group_norm": lambda x: F.group_norm(x, 2),
    "sum": lambda x: x.sum(), "sum_dim": lambda x: fibril.sum(x, 1), "cumsum": lambda x: fibril.cumsum(x, 1),
    "cumprod": lambda x: fibril.cumprod(x, 1), "prod": lambda x: fibril.prod(x), "logsumexp": lambda x: fibril.logsumexp(x, 1),
    "norm": lambda x: fibril.norm(x), "vector_norm": lambda x: fibril.linalg.vector_norm(x),
    "matrix_norm": lambda x: fibril.linalg.matrix_norm(x), "dist": lambda x: fibril.dist(x, x * 2),
    "renorm": lambda x: fibril.renorm(x, 2, 0, 1.0), "cdist": lambda x: fibril.cdist(x, x),
}


@pytest.mark.cuda
def test_cuda_autocast_float32_ops():
    """torch's CUDA autocast float32 list (torch.amp docs, 'CUDA Ops that can autocast to float32'):
    float16 inputs come out float32 under autocast('cuda'); on CPU (no CPU autocast) untouched."""
    x = fibril.randn(2, 4, device="cuda").to(fibril.float16)
    c = fibril.randn(2, 4).to(fibril.bfloat16)
    with fibril.autocast("cuda"):
        for name, fn in _CUDA_FP32.items():
            assert fn(x).dtype == fibril.float32, name
            assert fn(c).dtype == fibril.bfloat16, name
        assert fibril.sum(x, dtype=fibril.float16).dtype == fibril.float16  # an explicit dtype wins
        assert fibril.sin(x).dtype == fibril.float16  # not listed
        assert F.prelu(x.float(), fibril.ones(4, device="cuda")).dtype == fibril.float16
        assert fibril.linalg.vecdot(x.float(), x.float()).dtype == fibril.float16
        w = fibril.randn(3, 4, 4, device="cuda")
        assert F.bilinear(x, x, w).dtype == fibril.float32  # promoted (float16, float32)
        assert F.bilinear(x, x, w.to(fibril.float16)).dtype == fibril.float16
    y = fibril.randn(2, 4, device="cuda", requires_grad=True)
    with fibril.autocast("cuda"):
        out = fibril.exp(y.to(fibril.float16)).sum()
    out.backward()
    assert y.grad.dtype == fibril.float32
