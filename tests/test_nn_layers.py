"""Activation, loss, norm and Bilinear modules (fibril.nn.activation, fibril.nn.loss, ...)
against torch.nn, and Sequential's Linear + activation fusion into the GEMM epilogue."""

import numpy as np
import pytest

import fibril
import fibril.nn as nn
import fibril.nn.functional as F
from op_check import check_op, torch

needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")

ACTIVATIONS = [
    ("ReLU", {}), ("ReLU6", {}), ("LeakyReLU", {"negative_slope": 0.2}), ("ELU", {"alpha": 0.7}), ("SELU", {}),
    ("CELU", {"alpha": 1.3}), ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("SiLU", {}), ("Mish", {}),
    ("Sigmoid", {}), ("Tanh", {}), ("Softplus", {"beta": 2.0, "threshold": 5.0}), ("Softsign", {}),
    ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}), ("Hardsigmoid", {}), ("Hardswish", {}),
    ("Softmax", {"dim": 1}), ("LogSoftmax", {"dim": -1}), ("PReLU", {"num_parameters": 3, "init": 0.1}),
]


@needs_torch
@pytest.mark.parametrize("name,kwargs", ACTIVATIONS)
def test_activation_modules_match_torch(name, kwargs):
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs).double()
    assert repr(ours) == repr(theirs)
    x = np.random.default_rng(0).standard_normal((4, 3, 5)) * 3
    xf, xt = fibril.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    if name == "PReLU":
        ours.double()
    out, ref = ours(xf), theirs(xt)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    out.sum().backward(), ref.sum().backward()
    # torch's float64 hardsigmoid and celu backwards round some constants to float32 (fibril's
    # match the exact derivative): equal to ~2e-7 only
    np.testing.assert_allclose(xf.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-12)


def test_inplace_writes_the_input():
    x = fibril.tensor([-1.0, 2.0])
    out = nn.ReLU(inplace=True)(x)
    assert out is x and x.tolist() == [0.0, 2.0]
    assert repr(nn.LeakyReLU(0.1, inplace=True)) == "LeakyReLU(negative_slope=0.1, inplace=True)"
    with pytest.raises(TypeError):
        nn.ELU(1.0, 2.0)


LOSSES = [
    ("L1Loss", {}, "regression"), ("MSELoss", {"reduction": "sum"}, "regression"),
    ("SmoothL1Loss", {"beta": 0.5}, "regression"), ("HuberLoss", {"delta": 0.7, "reduction": "none"}, "regression"),
    ("CrossEntropyLoss", {"label_smoothing": 0.1, "ignore_index": 2}, "classes"),
    ("CrossEntropyLoss", {"weight": [1.0, 2.0, 0.5, 1.5]}, "classes"),
    ("NLLLoss", {"weight": [1.0, 2.0, 0.5, 1.5]}, "log_probs"),
    ("BCELoss", {}, "probs"), ("BCEWithLogitsLoss", {"pos_weight": [2.0, 1.0, 0.5, 3.0]}, "binary"),
    ("KLDivLoss", {"reduction": "batchmean"}, "log_probs_vs_probs"),
    ("MultiMarginLoss", {"p": 2, "margin": 0.5}, "classes"),
    ("HingeEmbeddingLoss", {"margin": 0.8}, "signs"),
]


def _loss_inputs(kind, rng):
    x = rng.standard_normal((6, 4))
    if kind == "regression":
        return x, rng.standard_normal((6, 4))
    if kind in ("classes", "log_probs"):
        if kind == "log_probs":
            x = x - np.log(np.exp(x).sum(1, keepdims=True))
        return x, rng.integers(0, 4, size=6)
    if kind == "probs":
        return 1 / (1 + np.exp(-x)), rng.random((6, 4))
    if kind == "binary":
        return x, (rng.random((6, 4)) > 0.5).astype(np.float64)
    if kind == "log_probs_vs_probs":
        p = np.exp(rng.standard_normal((6, 4)))
        return x - np.log(np.exp(x).sum(1, keepdims=True)), p / p.sum(1, keepdims=True)
    return x, np.where(rng.random((6, 4)) > 0.5, 1.0, -1.0)


@needs_torch
@pytest.mark.parametrize("name,kwargs,kind", LOSSES)
def test_loss_modules_match_torch(name, kwargs, kind):
    def build(lib, to_tensor):
        args = {k: to_tensor(np.array(v)) if isinstance(v, list) else v for k, v in kwargs.items()}
        return getattr(lib, name)(**args)

    ours = build(nn, fibril.tensor)
    theirs = build(torch.nn, lambda a: torch.tensor(a))
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x, y = _loss_inputs(kind, np.random.default_rng(1))
    xf, xt = fibril.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xf, fibril.tensor(y)), theirs(xt, torch.tensor(y))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-9, atol=1e-12)
    out.sum().backward(), ref.sum().backward()
    np.testing.assert_allclose(xf.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)


@needs_torch
def test_margin_ranking_loss_module():
    a, b = np.random.default_rng(2).standard_normal((2, 7))
    sign = np.sign(np.random.default_rng(3).standard_normal(7))
    out = nn.MarginRankingLoss(margin=0.3)(fibril.tensor(a), fibril.tensor(b), fibril.tensor(sign))
    ref = torch.nn.MarginRankingLoss(margin=0.3)(torch.tensor(a), torch.tensor(b), torch.tensor(sign))
    assert out.item() == pytest.approx(ref.item())


@needs_torch
def test_sequential_fuses_linear_and_activation_into_the_gemm():
    fibril.manual_seed(0)
    model = nn.Sequential(nn.Linear(9, 16), nn.ReLU(), nn.Linear(16, 8), nn.GELU(), nn.Linear(8, 3))
    theirs = torch.nn.Sequential(torch.nn.Linear(9, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8), torch.nn.GELU(),
                                 torch.nn.Linear(8, 3)).double()
    model.double()
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((5, 9))
    out, ref = model(fibril.tensor(x)), theirs(torch.tensor(x))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=1e-12)
    out.sum().backward(), ref.sum().backward()
    for (name, p), q in zip(model.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), atol=1e-12, err_msg=name)
    with fibril.no_grad():  # here GELU fuses as well
        np.testing.assert_allclose(model(fibril.tensor(x)).numpy(), ref.detach().numpy(), atol=1e-12)
    seen = []
    model[1].register_forward_hook(lambda m, args, out: seen.append(out.shape))
    model(fibril.tensor(x))
    assert seen == [(5, 16)]  # a hooked activation runs as its own module


NORMS = [
    ("LayerNorm", (5,), {}, (3, 4, 5)), ("LayerNorm", ((4, 5),), {"bias": False}, (3, 4, 5)),
    ("RMSNorm", (5,), {"eps": 1e-6}, (3, 4, 5)), ("GroupNorm", (2, 4), {}, (3, 4, 6)),
    ("BatchNorm1d", (4,), {}, (8, 4)), ("BatchNorm1d", (4,), {"momentum": None}, (8, 4, 3)),
    ("BatchNorm2d", (3,), {"affine": False}, (4, 3, 5, 5)), ("BatchNorm3d", (2,), {}, (2, 2, 3, 3, 3)),
    ("BatchNorm2d", (3,), {"track_running_stats": False}, (4, 3, 2, 2)),
]


@needs_torch
@pytest.mark.parametrize("name,args,kwargs,shape", NORMS)
def test_norm_modules_match_torch(name, args, kwargs, shape):
    ours, theirs = getattr(nn, name)(*args, **kwargs).double(), getattr(torch.nn, name)(*args, **kwargs).double()
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(5)
    for step in range(3):  # training steps update the running statistics
        x = rng.standard_normal(shape) * 2 + step
        xf, xt = fibril.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, ref = ours(xf), theirs(xt)
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=1e-10)
        (out * out).sum().backward(), (ref * ref).sum().backward()
        np.testing.assert_allclose(xf.grad.numpy(), xt.grad.numpy(), atol=1e-9)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), atol=1e-10, err_msg=key)
    ours.eval(), theirs.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(ours(fibril.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               atol=1e-10)


def test_batch_norm_rejects_wrong_rank():
    with pytest.raises(ValueError, match="4D"):
        nn.BatchNorm2d(3)(fibril.zeros(2, 3))


@needs_torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_embedding_max_norm_matches_torch(norm_type):
    torch.manual_seed(0)
    tm = torch.nn.Embedding(10, 4, max_norm=1.5, norm_type=norm_type).double()
    fm = nn.Embedding(10, 4, max_norm=1.5, norm_type=norm_type).double()
    fm.load_state_dict({"weight": fibril.tensor(tm.weight.detach().numpy())})
    assert repr(fm) == repr(tm)
    idx = np.array([[1, 3, 3], [7, 1, 0]])
    y, yt = fm(fibril.tensor(idx)), tm(torch.tensor(idx))
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(fm.weight.detach().numpy(), tm.weight.detach().numpy(), rtol=1e-12)
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(fm.weight.grad.numpy(), tm.weight.grad.numpy())


def np_bilinear(x1, x2, w, b=None):
    y = np.einsum("...i,oij,...j->...o", x1, w, x2)
    return y if b is None else y + b


@pytest.mark.parametrize("batch", [(), (5,), (2, 3), (2, 1, 3), (0,)])
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_functional(batch, bias):
    """Forward against einsum, forward and every gradient against torch, gradcheck (float64)."""
    shapes = [batch + (3,), batch + (4,), (2, 3, 4)] + ([(2,)] if bias else [])
    torch_fn = torch.nn.functional.bilinear if torch is not None else None
    check_op(F.bilinear, torch_fn, [np.random.default_rng(i).standard_normal(s) for i, s in enumerate(shapes)],
             numpy_fn=np_bilinear, atol=1e-12, rtol=1e-10, gradcheck=0 not in batch)


def test_bilinear_reads_strided_inputs():
    rng = np.random.default_rng(3)
    x1, x2, w = rng.standard_normal((3, 5)), rng.standard_normal((4, 5)), rng.standard_normal((2, 3, 4))
    w_view = fibril.tensor(np.ascontiguousarray(w.transpose(2, 0, 1)), requires_grad=True)
    out = F.bilinear(fibril.tensor(x1).T, fibril.tensor(x2).T, w_view.permute(1, 2, 0))
    np.testing.assert_allclose(out.detach().numpy(), np_bilinear(x1.T, x2.T, w), atol=1e-12)
    out.sum().backward()
    assert w_view.grad.shape == (4, 2, 3)


@needs_torch
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_module_matches_torch(bias):
    theirs = torch.nn.Bilinear(6, 5, 7, bias=bias).double()
    ours = nn.Bilinear(6, 5, 7, bias=bias).double()
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: fibril.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(6)
    x1, x2, cot = rng.standard_normal((2, 3, 6)), rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 3, 7))
    xs = [fibril.tensor(a, requires_grad=True) for a in (x1, x2)]
    ts = [torch.tensor(a, requires_grad=True) for a in (x1, x2)]
    out, ref = ours(*xs), theirs(*ts)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=1e-12, rtol=1e-10)
    out.backward(fibril.tensor(cot)), ref.backward(torch.tensor(cot))
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), atol=1e-12, rtol=1e-10)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), atol=1e-12, rtol=1e-10, err_msg=name)


def test_bilinear_module_init():
    fibril.manual_seed(0)
    m = nn.Bilinear(16, 3, 200)
    assert m.weight.shape == (200, 16, 3) and m.bias.shape == (200,) and m.weight.dtype == fibril.float32
    for p in (m.weight, m.bias):
        values = p.detach().numpy()
        assert np.abs(values).max() <= 0.25 and np.abs(values).max() > 0.24  # uniform(-1/sqrt(16), 1/sqrt(16))
    assert abs(m.weight.detach().numpy().mean()) < 0.01
    assert nn.Bilinear(2, 3, 4, bias=False).bias is None
    assert nn.Bilinear(2, 3, 4)(fibril.ones(5, 2), fibril.ones(5, 3)).shape == (5, 4)
    with pytest.raises(ValueError, match="in1_features"):
        nn.Bilinear(0, 3, 4)


def test_bilinear_bad_shapes():
    t = lambda *s: fibril.zeros(*s)  # noqa: E731
    with pytest.raises(ValueError, match=r"batch dims.*\[2, 3\].*\[3, 4\]"):
        F.bilinear(t(2, 3), t(3, 4), t(5, 3, 4))
    with pytest.raises(ValueError, match=r"last dims.*\[2, 3\].*\[2, 5\].*\[5, 3, 4\]"):
        F.bilinear(t(2, 3), t(2, 5), t(5, 3, 4))
    with pytest.raises(ValueError, match=r"weight must be 3-D.*\[3, 4\]"):
        F.bilinear(t(2, 3), t(2, 4), t(3, 4))
    with pytest.raises(ValueError, match=r"bias must have shape \[5\], got \[4\]"):
        F.bilinear(t(2, 3), t(2, 4), t(5, 3, 4), t(4))
    with pytest.raises(ValueError, match="batch dims"):
        F.bilinear(t(3), t(2, 4), t(5, 3, 4))
