"""Losses composed from elementwise and reduce ops (triplet, cosine embedding, Gaussian and
Poisson NLL, soft margin, multilabel margins) and F.gumbel_softmax: forward and gradients
against PyTorch in float64, gradcheck, the modules, shape errors."""

import math

import numpy as np
import pytest

import fibril
import fibril.nn.functional as F
from fibril.nn import loss as L
from op_check import check_op, make_inputs, torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
REDUCTIONS = ["none", "mean", "sum"]


def _tf():
    return torch.nn.functional


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kwargs", [{}, {"margin": 2.0, "p": 1, "swap": True}, {"p": 3, "eps": 1e-3}])
@pytest.mark.parametrize("shape", [(4, 5), (5,)])
def test_triplet_margin_loss(reduction, kwargs, shape):
    arrays = make_inputs([shape] * 3, seed=1)
    check_op(lambda a, p, n: F.triplet_margin_loss(a, p, n, reduction=reduction, **kwargs),
             lambda a, p, n: _tf().triplet_margin_loss(a, p, n, reduction=reduction, **kwargs), arrays,
             rtol=1e-10, atol=1e-10)


@needs_torch
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_margin_with_distance_loss(swap):
    arrays = make_inputs([(4, 3)] * 3, seed=2)
    check_op(lambda a, p, n: F.triplet_margin_with_distance_loss(a, p, n, swap=swap, margin=1.5),
             lambda a, p, n: _tf().triplet_margin_with_distance_loss(a, p, n, swap=swap, margin=1.5), arrays,
             rtol=1e-10, atol=1e-10)
    check_op(lambda a, p, n: L.TripletMarginWithDistanceLoss(distance_function=lambda x, y: (x - y).abs().sum(-1),
                                                             reduction="none")(a, p, n),
             lambda a, p, n: torch.nn.TripletMarginWithDistanceLoss(
                 distance_function=lambda x, y: (x - y).abs().sum(-1), reduction="none")(a, p, n),
             arrays, rtol=1e-10, atol=1e-10)


def test_triplet_errors():
    a = fibril.zeros(2, 3)
    with pytest.raises(ValueError, match=r"\[2, 3\], \[3\]"):
        F.triplet_margin_loss(a, fibril.zeros(3), a)
    with pytest.raises(ValueError, match="margin"):
        F.triplet_margin_with_distance_loss(a, a, a, margin=0.0)


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5, 4), (4,)])
def test_cosine_embedding_loss(reduction, shape):
    x1, x2 = make_inputs([shape, shape], seed=3)
    y = np.array([1.0, -1.0, 1.0, -1.0, -1.0][:shape[0]] if len(shape) == 2 else -1.0)
    fn = lambda a, b: F.cosine_embedding_loss(a, b, fibril.tensor(y), margin=0.1, reduction=reduction)
    ref = lambda a, b: _tf().cosine_embedding_loss(a, b, torch.tensor(y), margin=0.1, reduction=reduction)
    check_op(fn, ref, [x1, x2], rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match=r"\[5, 4\], \[5, 3\]"):
        F.cosine_embedding_loss(fibril.zeros(5, 4), fibril.zeros(5, 3), fibril.zeros(5))


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var_shape", [(3, 4), (3,), (3, 1), (1, 4)])
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll_loss(reduction, var_shape, full):
    x, t = make_inputs([(3, 4), (3, 4)], seed=4)
    v = make_inputs([var_shape], seed=5, low=0.0, high=2.0)[0]
    v.flat[0] = 1e-8  # clamped to eps: the gradient still passes, as torch's
    check_op(lambda a, b, c: F.gaussian_nll_loss(a, b, c, full=full, reduction=reduction),
             lambda a, b, c: _tf().gaussian_nll_loss(a, b, c, full=full, reduction=reduction), [x, t, v],
             rtol=1e-8, atol=1e-8, gradcheck=False)
    assert L.GaussianNLLLoss(full=full)(fibril.tensor(x), fibril.tensor(t), 0.5).item() == pytest.approx(
        torch.nn.GaussianNLLLoss(full=full)(torch.tensor(x), torch.tensor(t), 0.5).item(), rel=1e-12)


def test_gaussian_nll_loss_errors():
    x = fibril.zeros(3, 4)
    with pytest.raises(ValueError, match=r"\[2, 4\]"):
        F.gaussian_nll_loss(x, x, fibril.ones(2, 4))
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x, x, fibril.full((3, 4), -1.0))


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input, full", [(True, False), (False, False), (True, True), (False, True)])
def test_poisson_nll_loss(reduction, log_input, full):
    x = make_inputs([(3, 4)], seed=6, low=0.1 if not log_input else -2.0, high=2.0)[0]
    t = np.random.default_rng(7).integers(0, 5, (3, 4)).astype(np.float64)
    check_op(lambda a, b: F.poisson_nll_loss(a, b, log_input=log_input, full=full, reduction=reduction),
             lambda a, b: _tf().poisson_nll_loss(a, b, log_input=log_input, full=full, reduction=reduction),
             [x, t], rtol=1e-10, atol=1e-10, grad=False)
    check_op(lambda a: L.PoissonNLLLoss(log_input, full)(a, fibril.tensor(t)),
             lambda a: torch.nn.PoissonNLLLoss(log_input, full)(a, torch.tensor(t)), [x], rtol=1e-10, atol=1e-10)


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_loss(reduction):
    x = make_inputs([(3, 5)], seed=8, low=-30.0, high=30.0)[0]
    y = np.sign(make_inputs([(3, 5)], seed=9)[0])
    check_op(lambda a: F.soft_margin_loss(a, fibril.tensor(y), reduction=reduction),
             lambda a: _tf().soft_margin_loss(a, torch.tensor(y), reduction=reduction), [x], rtol=1e-10, atol=1e-10)
    assert L.SoftMarginLoss()(fibril.tensor(x), fibril.tensor(y)).item() == pytest.approx(
        torch.nn.SoftMarginLoss()(torch.tensor(x), torch.tensor(y)).item(), rel=1e-12)


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_multilabel_soft_margin_loss(reduction, weighted):
    x, t = make_inputs([(4, 3), (4, 3)], seed=10, low=0.0, high=1.0)
    w = np.array([0.5, 1.0, 2.0])
    fw, tw = (fibril.tensor(w), torch.tensor(w)) if weighted else (None, None)
    check_op(lambda a, b: F.multilabel_soft_margin_loss(a, b, weight=fw, reduction=reduction),
             lambda a, b: _tf().multilabel_soft_margin_loss(a, b, weight=tw, reduction=reduction), [x * 8 - 4, t],
             rtol=1e-10, atol=1e-10)
    got = L.MultiLabelSoftMarginLoss(weight=fw)(fibril.tensor(x), fibril.tensor(t)).item()
    assert got == pytest.approx(torch.nn.MultiLabelSoftMarginLoss(weight=tw)(torch.tensor(x), torch.tensor(t)).item())


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_loss(reduction):
    x = make_inputs([(3, 4)], seed=11)[0]
    y = np.array([[3, 0, -1, 1], [1, 2, 3, 0], [2, 2, -1, -1]])  # a full row; a duplicate target
    check_op(lambda a: F.multilabel_margin_loss(a, fibril.tensor(y), reduction=reduction),
             lambda a: _tf().multilabel_margin_loss(a, torch.tensor(y), reduction=reduction), [x],
             rtol=1e-10, atol=1e-10)
    check_op(lambda a: L.MultiLabelMarginLoss()(a, fibril.tensor(y[0])),
             lambda a: torch.nn.MultiLabelMarginLoss()(a, torch.tensor(y[0])), [x[0]], rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match=r"\[3, 4\] and \[3\]"):
        F.multilabel_margin_loss(fibril.tensor(x), fibril.tensor(y[:, 0]))


@needs_torch
def test_triplet_and_cosine_modules():
    a, p, n = make_inputs([(4, 3)] * 3, seed=12)
    got = L.TripletMarginLoss(margin=0.5, swap=True)(*map(fibril.tensor, (a, p, n))).item()
    assert got == pytest.approx(torch.nn.TripletMarginLoss(margin=0.5, swap=True)(
        *map(torch.tensor, (a, p, n))).item(), rel=1e-12)
    y = np.array([1.0, -1.0, -1.0, 1.0])
    got = L.CosineEmbeddingLoss(0.2, "sum")(fibril.tensor(a), fibril.tensor(p), fibril.tensor(y)).item()
    assert got == pytest.approx(torch.nn.CosineEmbeddingLoss(0.2, reduction="sum")(
        torch.tensor(a), torch.tensor(p), torch.tensor(y)).item(), rel=1e-12)


def test_gumbel_softmax_distribution():
    fibril.manual_seed(0)
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    logits = fibril.tensor(np.log(probs)).reshape(1, 4).expand(20000, 4).contiguous()
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True)
    assert set(np.unique(hard.numpy())) == {0.0, 1.0} and np.all(hard.numpy().sum(1) == 1)
    # Gumbel-max: argmax of logits + Gumbel noise is drawn with softmax(logits)'s probabilities
    freq = hard.numpy().mean(0)
    np.testing.assert_allclose(freq, probs, atol=4 * np.sqrt(probs * (1 - probs) / 20000).max())
    soft = F.gumbel_softmax(logits, tau=2.0, dim=1)
    np.testing.assert_allclose(soft.numpy().sum(1), 1.0, rtol=1e-5)
    assert soft.numpy().min() > 0 and not np.all(soft.numpy() == hard.numpy())


def test_gumbel_softmax_hard_straight_through():
    fibril.manual_seed(1)
    logits = fibril.tensor(np.random.default_rng(0).standard_normal((3, 5)), requires_grad=True)
    w = fibril.tensor(np.random.default_rng(1).standard_normal((3, 5)))
    fibril.manual_seed(2)
    (F.gumbel_softmax(logits, tau=0.7, hard=True) * w).sum().backward()
    fibril.manual_seed(2)
    soft_logits = fibril.tensor(logits.detach().numpy(), requires_grad=True)
    (F.gumbel_softmax(soft_logits, tau=0.7) * w).sum().backward()
    np.testing.assert_allclose(logits.grad.numpy(), soft_logits.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert np.abs(logits.grad.numpy()).sum() > 0


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (2, 2, 3, 4)])
def test_triplet_losses_on_batch_dims_match_torch(reduction, shape):
    arrays = make_inputs([shape] * 3, seed=4)
    check_op(lambda a, p, n: F.triplet_margin_loss(a, p, n, reduction=reduction, swap=True),
             lambda a, p, n: _tf().triplet_margin_loss(a, p, n, reduction=reduction, swap=True), arrays,
             rtol=1e-10, atol=1e-10)
    check_op(lambda a, p, n: F.triplet_margin_with_distance_loss(a, p, n, reduction=reduction),
             lambda a, p, n: _tf().triplet_margin_with_distance_loss(a, p, n, reduction=reduction), arrays,
             rtol=1e-10, atol=1e-10)


def test_triplet_loss_3d_is_the_2d_loss_per_batch_entry():
    a, p, n = (np.random.default_rng(s).standard_normal((2, 3, 4)).astype(np.float32) for s in (5, 6, 7))
    got = F.triplet_margin_loss(fibril.tensor(a), fibril.tensor(p), fibril.tensor(n), reduction="none")
    assert got.shape == (2, 3)
    for b in range(2):
        want = F.triplet_margin_loss(fibril.tensor(a[b]), fibril.tensor(p[b]), fibril.tensor(n[b]), reduction="none")
        np.testing.assert_allclose(got[b].numpy(), want.numpy(), rtol=1e-6)
