"""nn.utils.prune against PyTorch in float64, on Linear and Conv2d modules holding the same
values: the masks of L1 / Ln pruning (alone, iterated, global, from a custom mask), outputs and
gradients of weight_orig, state_dict keys and values, remove(), is_pruned, the errors; and the
counts and structure of the random methods, which use fibril's RNG."""

import numpy as np
import pytest

import fibril
import fibril.nn as nn
from fibril.nn.utils import prune as FP
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")
TP = pytest.importorskip("torch.nn.utils.prune")


def _np(t):
    return t.detach().numpy()


def _close(a, b, **kw):
    np.testing.assert_allclose(_np(a), _np(b), rtol=1e-10, atol=1e-12, **kw)


def _pair(kind, seed=0):
    """A torch module in float64 and a fibril one holding its values: a Linear or a Conv2d."""
    torch.manual_seed(seed)
    t, f = {"linear": (lambda: torch.nn.Linear(5, 4), lambda: nn.Linear(5, 4)),
            "conv": (lambda: torch.nn.Conv2d(3, 4, 3), lambda: nn.Conv2d(3, 4, 3))}[kind]
    t, f = t().double(), f().double()
    f.load_state_dict(t.state_dict())
    return t, f


def _input(kind, seed=1):
    shape = {"linear": (3, 5), "conv": (2, 3, 5, 5)}[kind]
    x = np.random.default_rng(seed).standard_normal(shape)
    return torch.tensor(x), fibril.tensor(x)


def _both(t, f, prune):
    """prune(module, library's prune module) on both modules."""
    prune(t, TP)
    prune(f, FP)


def _check_same(t, f, kind):
    """Equal state dicts (keys in order and values), forward outputs and parameter gradients."""
    ts, fs = t.state_dict(), f.state_dict()
    assert list(fs) == list(ts)
    for key in ts:
        _close(fs[key], ts[key], err_msg=key)
    xt, xf = _input(kind)
    yt, yf = t(xt), f(xf)
    _close(yf, yt)
    (yt ** 2).sum().backward()
    (yf ** 2).sum().backward()
    tp = dict(t.named_parameters())
    assert [name for name, _ in f.named_parameters()] == list(tp)
    for name, p in f.named_parameters():
        _close(p.grad, tp[name].grad, err_msg=name)


@pytest.mark.parametrize("kind", ["linear", "conv"])
@pytest.mark.parametrize("amount", [3, 0.4, 0, 1.0])
def test_l1_unstructured(kind, amount):
    t, f = _pair(kind)
    _both(t, f, lambda m, P: P.l1_unstructured(m, "weight", amount))
    assert isinstance(f.weight_orig, nn.Parameter) and "weight" not in f._parameters
    assert int((f.weight_mask == 0).sum()) == int((t.weight_mask == 0).sum())
    _check_same(t, f, kind)
    assert _np(f.weight_orig.grad)[_np(f.weight_mask) == 0].tolist() == [0.0] * int((f.weight_mask == 0).sum())


@pytest.mark.parametrize("kind", ["linear", "conv"])
@pytest.mark.parametrize("n", [1, 2, float("inf")])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_ln_structured(kind, n, dim):
    t, f = _pair(kind)
    _both(t, f, lambda m, P: P.ln_structured(m, "weight", 0.5, n, dim))
    _check_same(t, f, kind)


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_iterative_pruning_composes_masks(kind):
    t, f = _pair(kind)

    def prune(m, P):
        P.l1_unstructured(m, "weight", 0.3)
        P.ln_structured(m, "weight", 1, 2, 1)
        P.l1_unstructured(m, "weight", 2)

    _both(t, f, prune)
    hooks = [entry[0] for entry in f._forward_pre_hooks.values()]
    assert len(hooks) == 1 and isinstance(hooks[0], FP.PruningContainer) and len(hooks[0]) == 3
    assert [type(m).__name__ for m in hooks[0]] == ["L1Unstructured", "LnStructured", "L1Unstructured"]
    _check_same(t, f, kind)


def test_importance_scores():
    t, f = _pair("linear")
    scores = np.random.default_rng(2).standard_normal((4, 5))
    TP.l1_unstructured(t, "weight", 6, importance_scores=torch.tensor(scores))
    FP.l1_unstructured(f, "weight", 6, importance_scores=fibril.tensor(scores))
    _check_same(t, f, "linear")
    with pytest.raises(AssertionError):
        FP.l1_unstructured(f, "bias", 1, importance_scores=fibril.tensor(scores))


def test_global_unstructured():
    (t1, f1), (t2, f2) = _pair("linear"), _pair("conv", seed=3)
    TP.l1_unstructured(t2, "weight", 5)
    FP.l1_unstructured(f2, "weight", 5)
    for P, m1, m2 in ((TP, t1, t2), (FP, f1, f2)):
        P.global_unstructured([(m1, "weight"), (m1, "bias"), (m2, "weight")], P.L1Unstructured, amount=0.4)
    _check_same(t1, f1, "linear")
    _check_same(t2, f2, "conv")
    assert isinstance(f1._forward_pre_hooks[next(iter(f1._forward_pre_hooks))][0], FP.CustomFromMask)
    with pytest.raises(TypeError):
        FP.global_unstructured([(f1, "weight")], FP.LnStructured, amount=1, n=2, dim=0)


def test_custom_from_mask_and_identity():
    t, f = _pair("conv")
    mask = (np.random.default_rng(4).random((4, 3, 3, 3)) > 0.5).astype(np.float64)
    TP.custom_from_mask(t, "weight", torch.tensor(mask))
    FP.custom_from_mask(f, "weight", fibril.tensor(mask))
    _both(t, f, lambda m, P: P.identity(m, "bias"))
    _check_same(t, f, "conv")


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_remove_makes_pruning_permanent(kind):
    t, f = _pair(kind)

    def prune(m, P):
        P.l1_unstructured(m, "weight", 0.5)
        P.l1_unstructured(m, "bias", 1)
        P.remove(m, "weight")

    _both(t, f, prune)
    assert isinstance(f.weight, nn.Parameter) and "weight_orig" not in f._parameters
    assert "weight_mask" not in f._buffers and FP.is_pruned(f)
    _check_same(t, f, kind)
    FP.remove(f, "bias")
    assert not FP.is_pruned(f) and not f._forward_pre_hooks
    with pytest.raises(ValueError):
        FP.remove(f, "weight")


def test_is_pruned_looks_into_submodules():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    assert not FP.is_pruned(model)
    FP.random_unstructured(model[2], "weight", 1)
    assert FP.is_pruned(model)


def test_prune_method_on_a_tensor():
    x = np.random.default_rng(5).standard_normal((4, 6))
    for method_t, method_f in ((TP.L1Unstructured(5), FP.L1Unstructured(5)),
                               (TP.LnStructured(2, 2, dim=1), FP.LnStructured(2, 2, dim=1))):
        _close(method_f.prune(fibril.tensor(x)), method_t.prune(torch.tensor(x)))


@pytest.mark.parametrize("make, exc", [
    (lambda P, m: P.l1_unstructured(m, "weight", 21), ValueError),
    (lambda P, m: P.l1_unstructured(m, "weight", -0.1), ValueError),
    (lambda P, m: P.l1_unstructured(m, "weight", 1.5), ValueError),
    (lambda P, m: P.l1_unstructured(m, "weight", -1), ValueError),
    (lambda P, m: P.l1_unstructured(m, "weight", "a"), TypeError),
    (lambda P, m: P.l1_unstructured(m, "nope", 1), AttributeError),
    (lambda P, m: P.ln_structured(m, "weight", 5, 2, 0), ValueError),
    (lambda P, m: P.ln_structured(m, "weight", 1, 2, 2), IndexError),
    (lambda P, m: P.ln_structured(m, "bias", 1, 2, 0), ValueError),
    (lambda P, m: P.remove(m, "weight"), ValueError),
])
def test_errors_match_torch(make, exc):
    t, f = _pair("linear")
    with pytest.raises(exc):
        make(TP, t)
    with pytest.raises(exc):
        make(FP, f)
    assert isinstance(f.weight, nn.Parameter) and not FP.is_pruned(f)  # left as it was
    _check_same(t, f, "linear")


def test_random_unstructured_count():
    f = nn.Linear(10, 6)
    FP.random_unstructured(f, "weight", 0.25)
    assert int((f.weight_mask == 0).sum()) == 15
    FP.random_unstructured(f, "weight", 10)  # ten more, among the entries still kept
    assert int((f.weight_mask == 0).sum()) == 25
    np.testing.assert_array_equal(_np(f.weight), _np(f.weight_orig) * _np(f.weight_mask))


@pytest.mark.parametrize("dim", [0, 1])
def test_random_structured_slices(dim):
    f = nn.Conv2d(4, 6, 3)
    FP.random_structured(f, "weight", 2, dim)
    mask = _np(f.weight_mask)
    other = tuple(d for d in range(4) if d != dim)
    per_slice = mask.sum(axis=other)
    assert sorted(per_slice.tolist()) == [0.0] * 2 + [mask.size / mask.shape[dim]] * (mask.shape[dim] - 2)
