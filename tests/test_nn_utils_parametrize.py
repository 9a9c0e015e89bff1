"""nn.utils.parametrize (register / remove / cached, right_inverse, original0/1), the
parametrizations weight_norm and spectral_norm and the legacy weight_norm / spectral_norm hooks,
against PyTorch in float64: outputs, gradients, power-iteration buffers, state_dict keys and
values both ways, reprs and errors."""

import copy
import pickle

import numpy as np
import pytest

import fibril
import fibril.nn as nn
from fibril.nn.utils import parametrizations as FP
from fibril.nn.utils import parametrize as P
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")
TP = torch.nn.utils.parametrize
TPS = torch.nn.utils.parametrizations


def _np(t):
    return t.detach().numpy()


def _close(a, b, **kw):
    np.testing.assert_allclose(_np(a), _np(b), rtol=kw.pop("rtol", 1e-10), atol=kw.pop("atol", 1e-12), **kw)


def _pair(make_torch, make_fibril, seed=0):
    """A torch module in float64 and a fibril one holding its values."""
    torch.manual_seed(seed)
    t = make_torch().double()
    f = make_fibril().double()
    f.load_state_dict(t.state_dict())
    return t, f


def _linear_pair(n_in=4, n_out=4, seed=0):
    return _pair(lambda: torch.nn.Linear(n_in, n_out), lambda: nn.Linear(n_in, n_out), seed)


def _input(*shape, seed=1):
    x = np.random.default_rng(seed).standard_normal(shape)
    return torch.tensor(x), fibril.tensor(x)


def _check_state_dicts_equal(f, t):
    fs, ts = f.state_dict(), t.state_dict()
    assert list(fs) == list(ts)
    for key in ts:
        _close(fs[key], ts[key], err_msg=key)


def _check_grads_equal(f, t):
    tp = dict(t.named_parameters())
    assert [name for name, _ in f.named_parameters()] == list(tp)
    for name, p in f.named_parameters():
        _close(p.grad, tp[name].grad, err_msg=name)


def _parametrizations(lib):
    """Symmetric, Double and Split written once for each library (same class names, so reprs compare)."""

    class Symmetric(lib.nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).T

        def right_inverse(self, A):
            return A.triu()

    class Double(lib.nn.Module):
        def forward(self, X):
            return X * 2

        def right_inverse(self, X):
            return X / 2

    class Split(lib.nn.Module):  # two originals: original0 + original1
        def forward(self, a, b):
            return a + b

        def right_inverse(self, Z):
            return Z * 0.25, Z * 0.75

    return Symmetric, Double, Split


T_SYM, T_DOUBLE, T_SPLIT = _parametrizations(torch)
F_SYM, F_DOUBLE, F_SPLIT = _parametrizations(fibril)


# ------------------------------------------------------------------------------ parametrize
def test_register_parametrization_matches_torch():
    t, f = _linear_pair()
    original = f.weight
    TP.register_parametrization(t, "weight", T_SYM())
    P.register_parametrization(f, "weight", F_SYM())
    assert P.is_parametrized(f) and P.is_parametrized(f, "weight") and not P.is_parametrized(f, "bias")
    assert type(f).__name__ == "ParametrizedLinear" and isinstance(f, nn.Linear)
    assert P.type_before_parametrizations(f) is nn.Linear
    assert f.parametrizations.weight.original is original  # the parameter keeps its identity
    assert repr(f) == repr(t)
    _close(f.weight, t.weight)
    np.testing.assert_array_equal(_np(f.weight), _np(f.weight).T)
    _check_state_dicts_equal(f, t)
    xt, xf = _input(3, 4)
    (t(xt) ** 2).sum().backward()
    (f(xf) ** 2).sum().backward()
    _check_grads_equal(f, t)


def test_assignment_goes_through_right_inverse():
    t, f = _linear_pair()
    TP.register_parametrization(t, "weight", T_SYM())
    TP.register_parametrization(t, "weight", T_DOUBLE())
    P.register_parametrization(f, "weight", F_SYM())
    P.register_parametrization(f, "weight", F_DOUBLE())
    assert repr(f) == repr(t)
    original = f.parametrizations.weight.original
    a = np.random.default_rng(2).standard_normal((4, 4))
    a = a + a.T
    t.weight = torch.tensor(a)
    f.weight = fibril.tensor(a)
    assert f.parametrizations.weight.original is original
    _close(f.parametrizations.weight.original, t.parametrizations.weight.original)
    np.testing.assert_allclose(_np(f.weight), a, rtol=1e-12)
    _check_state_dicts_equal(f, t)
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        f.weight = nn.Parameter(fibril.tensor(a))  # as torch: a parameter cannot shadow the property


def test_right_inverse_returning_a_tuple():
    t, f = _linear_pair(3, 2)
    TP.register_parametrization(t, "weight", T_SPLIT())
    P.register_parametrization(f, "weight", F_SPLIT())
    plist = f.parametrizations.weight
    assert plist.ntensors == 2 and not plist.is_tensor
    assert isinstance(plist.original0, nn.Parameter) and plist.original1.requires_grad
    _check_state_dicts_equal(f, t)
    _close(f.weight, t.weight)
    xt, xf = _input(5, 3)
    t(xt).sum().backward()
    f(xf).sum().backward()
    _check_grads_equal(f, t)
    value = np.arange(6.0).reshape(2, 3)
    t.weight, f.weight = torch.tensor(value), fibril.tensor(value)
    _check_state_dicts_equal(f, t)
    with pytest.raises(ValueError, match="Cannot leave unparametrized"):
        P.remove_parametrizations(f, "weight", leave_parametrized=False)
    P.remove_parametrizations(f, "weight")
    TP.remove_parametrizations(t, "weight")
    assert type(f) is nn.Linear and isinstance(f.weight, nn.Parameter)
    _check_state_dicts_equal(f, t)


@pytest.mark.parametrize("leave_parametrized", [True, False])
def test_remove_parametrizations(leave_parametrized):
    t, f = _linear_pair()
    original = f.weight
    for m, lib_p, sym in ((t, TP, T_SYM), (f, P, F_SYM)):
        lib_p.register_parametrization(m, "weight", sym())
        lib_p.register_parametrization(m, "bias", F_DOUBLE() if m is f else T_DOUBLE())
        lib_p.remove_parametrizations(m, "weight", leave_parametrized=leave_parametrized)
    assert type(f).__name__ == "ParametrizedLinear" and list(f.parametrizations) == ["bias"]
    assert f.weight is original  # the same parameter, holding the parametrized value or the original
    _check_state_dicts_equal(f, t)
    P.remove_parametrizations(f, "bias", leave_parametrized)
    TP.remove_parametrizations(t, "bias", leave_parametrized)
    assert type(f) is nn.Linear and not hasattr(f, "parametrizations") and not P.is_parametrized(f)
    _check_state_dicts_equal(f, t)
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        P.remove_parametrizations(f, "weight")


def test_parametrized_buffer():
    t, f = (m() for m in (torch.nn.Module, nn.Module))
    t.register_buffer("scale", torch.ones(3, dtype=torch.float64))
    f.register_buffer("scale", fibril.ones(3, dtype=fibril.float64))
    TP.register_parametrization(t, "scale", T_DOUBLE())
    P.register_parametrization(f, "scale", F_DOUBLE())
    assert list(f.parametrizations.scale._buffers) == ["original"] and not list(f.parameters())
    _check_state_dicts_equal(f, t)
    _close(f.scale, t.scale)


def test_registration_errors_match_torch():
    class Shrink(nn.Module):
        def forward(self, X):
            return X[:2]

    class Halve(nn.Module):
        def forward(self, X):
            return X.float()

    f = nn.Linear(3, 3).double()
    with pytest.raises(ValueError, match="may not change the shape.*unless `unsafe`"):
        P.register_parametrization(f, "weight", Shrink())
    with pytest.raises(ValueError, match="may not change the dtype"):
        P.register_parametrization(f, "weight", Halve())
    assert type(f) is nn.Linear and isinstance(f.weight, nn.Parameter)  # untouched after a failed registration
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized element"):
        P.register_parametrization(f, "nothing", F_DOUBLE())
    P.register_parametrization(f, "weight", Shrink(), unsafe=True)
    assert f.weight.shape == (2, 3) and f.parametrizations.weight.unsafe
    P.register_parametrization(f, "weight", F_DOUBLE())  # unsafe stays
    with pytest.raises(RuntimeError, match="Shrink does not implement right_inverse"):
        f.weight = fibril.zeros(2, 3, dtype=fibril.float64)


def test_cached_computes_once():
    calls = []

    class Counted(nn.Module):
        def forward(self, X):
            calls.append(1)
            return X * 3

    f = nn.Linear(2, 2)
    P.register_parametrization(f, "weight", Counted())
    calls.clear()
    f.weight, f.weight
    assert len(calls) == 2
    with P.cached():
        a, b = f.weight, f.weight
        with P.cached():  # nested: the same cache
            c = f.weight
    assert len(calls) == 3 and a is b is c
    f.weight
    assert len(calls) == 4  # dropped on exit


def test_deepcopy_train_mode_and_pickling():
    f = nn.Linear(3, 3)
    P.register_parametrization(f, "weight", F_SYM())
    f.eval()
    assert not f.parametrizations.weight[0].training
    g = copy.deepcopy(f)
    assert type(g) is type(f) and g.parametrizations.weight.original is not f.parametrizations.weight.original
    np.testing.assert_array_equal(_np(g.weight), _np(f.weight))
    with pytest.raises(RuntimeError, match="only supported through state_dict"):
        pickle.dumps(f)
    d = nn.Linear(3, 3)
    d.train()
    P.register_parametrization(d, "weight", nn.Identity().eval())
    assert d.parametrizations.weight[0].training  # takes the module's mode on registration


def test_transfer_parametrizations_and_params():
    src, dst = nn.Linear(3, 3), nn.Linear(3, 3)
    P.register_parametrization(src, "weight", F_SYM())
    P.transfer_parametrizations_and_params(src, dst)
    assert dst.parametrizations.weight.original is src.parametrizations.weight.original
    np.testing.assert_array_equal(_np(dst.weight), _np(src.weight))


def test_torch_state_dict_loads_into_parametrized_model():
    t, f = _linear_pair(5, 3, seed=3)
    TP.register_parametrization(t, "weight", T_SPLIT())
    P.register_parametrization(f, "weight", F_SPLIT())
    with torch.no_grad():
        t.parametrizations.weight.original0.mul_(3)
    f.load_state_dict(t.state_dict())
    _check_state_dicts_equal(f, t)
    t2 = torch.nn.Linear(5, 3).double()
    TP.register_parametrization(t2, "weight", T_SPLIT())
    t2.load_state_dict({k: torch.from_numpy(_np(v).copy()) for k, v in f.state_dict().items()})
    _check_state_dicts_equal(f, t2)


# ------------------------------------------------------------------------------ parametrizations.weight_norm
WN_CASES = [
    (lambda: torch.nn.Linear(4, 3), lambda: nn.Linear(4, 3), (5, 4), 0),
    (lambda: torch.nn.Linear(4, 3), lambda: nn.Linear(4, 3), (5, 4), None),
    (lambda: torch.nn.Conv1d(2, 3, 3), lambda: nn.Conv1d(2, 3, 3), (2, 2, 6), 1),
    (lambda: torch.nn.Conv1d(2, 3, 3), lambda: nn.Conv1d(2, 3, 3), (2, 2, 6), -2),
    (lambda: torch.nn.Conv2d(2, 3, 2), lambda: nn.Conv2d(2, 3, 2), (1, 2, 4, 4), 3),
]


@pytest.mark.parametrize("make_t, make_f, shape, dim", WN_CASES)
def test_weight_norm_matches_torch(make_t, make_f, shape, dim):
    t, f = _pair(make_t, make_f)
    TPS.weight_norm(t, dim=dim)
    FP.weight_norm(f, dim=dim)
    assert repr(f) == repr(t)
    _check_state_dicts_equal(f, t)
    xt, xf = _input(*shape)
    for _ in range(2):
        yt, yf = t(xt), f(xf)
        _close(yf, yt)
        (yt ** 2).sum().backward()
        (yf ** 2).sum().backward()
        _check_grads_equal(f, t)


def test_weight_norm_loads_legacy_and_torch_state_dicts():
    torch.manual_seed(4)
    with pytest.warns(FutureWarning):
        legacy = torch.nn.utils.weight_norm(torch.nn.Linear(4, 3).double())
    f = FP.weight_norm(nn.Linear(4, 3).double())
    f.load_state_dict(legacy.state_dict())  # weight_g, weight_v -> original0, original1
    xt, xf = _input(2, 4)
    _close(f(xf), legacy(xt))
    t = TPS.weight_norm(torch.nn.Linear(4, 3).double())
    t.load_state_dict(legacy.state_dict())
    f2 = FP.weight_norm(nn.Linear(4, 3).double())
    f2.load_state_dict(t.state_dict())
    _check_state_dicts_equal(f2, t)


# ------------------------------------------------------------------------------ parametrizations.spectral_norm
SN_CASES = [
    (lambda: torch.nn.Linear(5, 3), lambda: nn.Linear(5, 3), (4, 5), {}),
    (lambda: torch.nn.Conv2d(2, 4, 3), lambda: nn.Conv2d(2, 4, 3), (2, 2, 5, 5), {"n_power_iterations": 3}),
    (lambda: torch.nn.ConvTranspose2d(3, 2, 2), lambda: nn.ConvTranspose2d(3, 2, 2), (1, 3, 3, 3), {}),  # dim 1
    (lambda: torch.nn.Linear(5, 3), lambda: nn.Linear(5, 3), (4, 5), {"dim": 1, "eps": 1e-6}),
]


def _copy_spectral_buffers(f, t, prefix):
    """torch's random u and v (after its 15 start-up steps) into fibril's, to compare exactly."""
    buffers = dict(f.named_buffers())
    for name, b in t.named_buffers():
        if name.startswith(prefix):
            buffers[name].copy_(fibril.tensor(_np(b)))


@pytest.mark.parametrize("make_t, make_f, shape, kwargs", SN_CASES)
def test_spectral_norm_matches_torch(make_t, make_f, shape, kwargs):
    t, f = _pair(make_t, make_f)
    TPS.spectral_norm(t, **kwargs)
    FP.spectral_norm(f, **kwargs)
    assert repr(f) == repr(t)
    assert list(f.state_dict()) == list(t.state_dict())
    _copy_spectral_buffers(f, t, "parametrizations")
    xt, xf = _input(*shape)
    for _ in range(3):  # training: u and v step at each access
        yt, yf = t(xt), f(xf)
        _close(yf, yt, rtol=1e-9)
        (yt ** 2).sum().backward()
        (yf ** 2).sum().backward()
        _check_grads_equal(f, t)
        _check_state_dicts_equal(f, t)
    t.eval()
    f.eval()
    u = _np(f.parametrizations.weight[0]._u).copy()
    _close(f(xf), t(xt), rtol=1e-9)
    np.testing.assert_array_equal(_np(f.parametrizations.weight[0]._u), u)  # no step in eval mode
    fresh = make_f().double()
    FP.spectral_norm(fresh, **kwargs)
    fresh.load_state_dict(t.state_dict())
    fresh.eval()
    _close(fresh(xf), t(xt), rtol=1e-9)


def test_spectral_norm_of_a_vector_and_removal():
    t, f = _linear_pair(3, 4)
    TPS.spectral_norm(t, "bias")
    FP.spectral_norm(f, "bias")
    assert list(f.state_dict()) == list(t.state_dict()) == ["weight", "parametrizations.bias.original"]
    _close(f.bias, t.bias)
    t, f = _linear_pair(3, 4)
    TPS.spectral_norm(t)
    FP.spectral_norm(f)
    _copy_spectral_buffers(f, t, "parametrizations")
    TP.remove_parametrizations(t, "weight")  # in training mode: one more step, as torch
    P.remove_parametrizations(f, "weight")
    _check_state_dicts_equal(f, t)


def test_spectral_norm_errors():
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\] but got 2\)"):
        FP.spectral_norm(nn.Linear(2, 2), dim=2)
    with pytest.raises(ValueError, match="n_power_iterations to be positive"):
        FP.spectral_norm(nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(ValueError, match="has no parameter or buffer with name 'kernel'"):
        FP.spectral_norm(nn.Linear(2, 2), "kernel")


# ------------------------------------------------------------------------------ legacy hooks
def test_legacy_weight_norm_matches_torch():
    t, f = _pair(lambda: torch.nn.Conv1d(2, 3, 2), lambda: nn.Conv1d(2, 3, 2))
    with pytest.warns(FutureWarning):
        torch.nn.utils.weight_norm(t, dim=None)
    with pytest.warns(FutureWarning, match="parametrizations.weight_norm"):
        nn.utils.weight_norm(f, dim=None)
    assert f.weight_g.shape == () and repr(f) == repr(t)
    _check_state_dicts_equal(f, t)
    xt, xf = _input(2, 2, 5)
    (t(xt) ** 2).sum().backward()
    (f(xf) ** 2).sum().backward()
    _check_grads_equal(f, t)
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"), pytest.warns(FutureWarning):
        nn.utils.weight_norm(f, dim=None)
    nn.utils.remove_weight_norm(f)
    torch.nn.utils.remove_weight_norm(t)
    assert not f._forward_pre_hooks
    _check_state_dicts_equal(f, t)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found"):
        nn.utils.remove_weight_norm(f)


@pytest.mark.parametrize("make_t, make_f, shape, kwargs", SN_CASES[:3])
def test_legacy_spectral_norm_matches_torch(make_t, make_f, shape, kwargs):
    t, f = _pair(make_t, make_f)
    torch.nn.utils.spectral_norm(t, **kwargs)
    nn.utils.spectral_norm(f, **kwargs)
    _copy_spectral_buffers(f, t, "weight_")
    xt, xf = _input(*shape)
    for _ in range(2):
        yt, yf = t(xt), f(xf)
        _close(yf, yt, rtol=1e-9)
        (yt ** 2).sum().backward()
        (yf ** 2).sum().backward()
        _check_grads_equal(f, t)
        _check_state_dicts_equal(f, t)
    assert f.state_dict()._metadata[""]["spectral_norm"] == t.state_dict()._metadata[""]["spectral_norm"]
    fresh = make_f().double()
    nn.utils.spectral_norm(fresh, **kwargs)
    fresh.load_state_dict(t.state_dict())
    t.eval()
    fresh.eval()
    _close(fresh(xf), t(xt), rtol=1e-9)
    nn.utils.remove_spectral_norm(fresh)
    torch.nn.utils.remove_spectral_norm(t)
    assert not (fresh._forward_pre_hooks or fresh._state_dict_hooks or fresh._load_state_dict_pre_hooks)
    _check_state_dicts_equal(fresh, t)
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found"):
        nn.utils.remove_spectral_norm(fresh)


def test_legacy_spectral_norm_loads_version_0_state_dict():
    t, f = _linear_pair(4, 3)
    torch.nn.utils.spectral_norm(t)
    nn.utils.spectral_norm(f)
    t(torch.zeros(1, 4, dtype=torch.float64))
    old = t.state_dict()  # version 0 had the weight itself and no weight_v
    del old["weight_v"]
    old["weight"] = t.weight.detach()
    old._metadata[""]["spectral_norm"]["weight.version"] = 0
    f.load_state_dict(old)
    t.load_state_dict(old)
    _check_state_dicts_equal(f, t)


# ------------------------------------------------------------------------------ parametrizations.orthogonal
ORTH_CASES = [((4, 4), {}), ((4, 4), {"orthogonal_map": "cayley"}), ((4, 4), {"orthogonal_map": "householder"}),
              ((5, 3), {}), ((3, 5), {"orthogonal_map": "cayley"}), ((5, 3), {"use_trivialization": False}),
              ((3, 5), {"use_trivialization": False}), ((5, 3), {"orthogonal_map": "matrix_exp"})]


@pytest.mark.parametrize("shape, kwargs", ORTH_CASES)
def test_orthogonal_matches_torch(shape, kwargs):
    t, f = _linear_pair(shape[1], shape[0], seed=6)
    TPS.orthogonal(t, **kwargs)
    FP.orthogonal(f, **kwargs)
    assert repr(f) == repr(t) and list(f.state_dict()) == list(t.state_dict())
    if shape[0] == shape[1] or not kwargs.get("use_trivialization", True):
        _check_state_dicts_equal(f, t)  # no random completion of the base: the same start
    f.load_state_dict(t.state_dict())
    w = _np(f.weight)
    small = min(shape)
    np.testing.assert_allclose(w @ w.T if shape[0] < shape[1] else w.T @ w, np.eye(small), atol=1e-12)
    xt, xf = _input(2, shape[1])
    yt, yf = t(xt), f(xf)
    _close(yf, yt, rtol=1e-9)
    (yt ** 2).sum().backward()
    (yf ** 2).sum().backward()
    _check_grads_equal(f, t)


def test_orthogonal_assignment_and_errors():
    t, f = _linear_pair(4, 4, seed=7)
    TPS.orthogonal(t, orthogonal_map="cayley")
    FP.orthogonal(f, orthogonal_map="cayley")
    q = np.linalg.qr(np.random.default_rng(8).standard_normal((4, 4)))[0]
    t.weight, f.weight = torch.tensor(q), fibril.tensor(q)  # orthogonal already: kept as the base
    _check_state_dicts_equal(f, t)
    np.testing.assert_allclose(_np(f.weight), q, atol=1e-12)
    with pytest.raises(ValueError, match=r"Expected a matrix or batch of matrices of shape"):
        f.weight = fibril.zeros(3, 4, dtype=fibril.float64)
    with pytest.raises(ValueError, match="Got a tensor of 1 dimensions"):
        FP.orthogonal(f, "bias")
    with pytest.raises(ValueError, match='orthogonal_map has to be one of "matrix_exp", "cayley", "householder"'):
        FP.orthogonal(nn.Linear(2, 2), orthogonal_map="qr")
    g = FP.orthogonal(nn.Linear(3, 3).double(), use_trivialization=False)
    with pytest.raises(NotImplementedError, match="not possible to assign to the matrix exponential"):
        g.weight = fibril.eye(3, dtype=fibril.float64)
