"""nn.utils odds and ends against PyTorch in float64: parameters_to_vector /
vector_to_parameters, conv/linear + BatchNorm fusion, stateless.functional_call (tied weights,
strict, buffers updated in place) and skip_init."""

import warnings

import numpy as np
import pytest

import fibril
import fibril.nn as nn
from fibril.nn.utils import stateless
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)
from test_nn_utils_parametrize import _close, _np, _pair

torch = pytest.importorskip("torch")




def _input(*shape, seed=1):
    x = np.random.default_rng(seed).standard_normal(shape)
    return torch.tensor(x), fibril.tensor(x)


def _mlp(lib):
    return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2))


# ------------------------------------------------------------------------------ parameters <-> vector
def test_parameters_to_vector_and_back():
    t, f = _pair(lambda: _mlp(torch), lambda: _mlp(fibril))
    vt = torch.nn.utils.parameters_to_vector(t.parameters())
    vf = nn.utils.parameters_to_vector(f.parameters())
    assert vf.shape == vt.shape == (26,)
    _close(vf, vt)
    (vt ** 3).sum().backward()
    (vf ** 3).sum().backward()
    for (name, p), q in zip(f.named_parameters(), t.parameters()):
        _close(p.grad, q.grad, err_msg=name)
    new = np.linspace(-1, 1, 26)
    first = f[0].weight
    torch.nn.utils.vector_to_parameters(torch.tensor(new), t.parameters())
    nn.utils.vector_to_parameters(fibril.tensor(new), f.parameters())
    assert f[0].weight is first and isinstance(first, nn.Parameter) and first.requires_grad
    for (name, p), q in zip(f.named_parameters(), t.parameters()):
        _close(p, q, err_msg=name)
    with pytest.raises(TypeError, match="expected fibril.Tensor, but got: numpy.ndarray"):
        nn.utils.vector_to_parameters(new, f.parameters())


# ------------------------------------------------------------------------------ fusion
CONV_BN = [
    (lambda: torch.nn.Conv2d(3, 4, 3, bias=False), lambda: nn.Conv2d(3, 4, 3, bias=False),
     lambda: torch.nn.BatchNorm2d(4), lambda: nn.BatchNorm2d(4), (2, 3, 5, 5), False),
    (lambda: torch.nn.Conv1d(2, 3, 2), lambda: nn.Conv1d(2, 3, 2),
     lambda: torch.nn.BatchNorm1d(3, affine=False), lambda: nn.BatchNorm1d(3, affine=False), (2, 2, 6), False),
    (lambda: torch.nn.ConvTranspose2d(3, 2, 2), lambda: nn.ConvTranspose2d(3, 2, 2),
     lambda: torch.nn.BatchNorm2d(2), lambda: nn.BatchNorm2d(2), (1, 3, 3, 3), True),
]


def _trained_bn(make_t, make_f, channels_shape, seed):
    """A BatchNorm pair with running stats and (when affine) weights away from their defaults."""
    t, f = _pair(make_t, make_f, seed)
    xt, _ = _input(*channels_shape, seed=seed)
    t(xt * 3 + 1)
    if t.affine:
        with torch.no_grad():
            t.weight.uniform_(0.5, 2)
            t.bias.uniform_(-1, 1)
    f.load_state_dict(t.state_dict())
    return t.eval(), f.eval()


@pytest.mark.parametrize("make_tc, make_fc, make_tb, make_fb, shape, transpose", CONV_BN)
def test_fuse_conv_bn_eval_matches_torch(make_tc, make_fc, make_tb, make_fb, shape, transpose):
    tc, fc = _pair(make_tc, make_fc)
    tc.eval(), fc.eval()
    channels = tc.out_channels
    tb, fb = _trained_bn(make_tb, make_fb, (8, channels) + shape[2:], seed=2)
    t_fused = torch.nn.utils.fuse_conv_bn_eval(tc, tb, transpose)
    f_fused = nn.utils.fuse_conv_bn_eval(fc, fb, transpose)
    assert f_fused is not fc and type(f_fused) is type(fc) and fc.bias is not f_fused.bias
    assert isinstance(f_fused.bias, nn.Parameter) and f_fused.bias.requires_grad == t_fused.bias.requires_grad
    for name, p in t_fused.state_dict().items():
        _close(f_fused.state_dict()[name], p, err_msg=name)
    xt, xf = _input(*shape)
    _close(f_fused(xf), fb(fc(xf)), rtol=1e-9)
    _close(f_fused(xf), t_fused(xt), rtol=1e-9)


@pytest.mark.parametrize("bias, features", [(True, 3), (False, 3), (True, 1)])
def test_fuse_linear_bn_eval_matches_torch(bias, features):
    tl, fl = _pair(lambda: torch.nn.Linear(4, 3, bias=bias), lambda: nn.Linear(4, 3, bias=bias))
    tl.eval(), fl.eval()
    tb, fb = _trained_bn(lambda: torch.nn.BatchNorm1d(features), lambda: nn.BatchNorm1d(features), (6, features), 3)
    t_fused = torch.nn.utils.fuse_linear_bn_eval(tl, tb)
    f_fused = nn.utils.fuse_linear_bn_eval(fl, fb)
    assert f_fused.bias.requires_grad == t_fused.bias.requires_grad
    _close(f_fused.weight, t_fused.weight)
    _close(f_fused.bias, t_fused.bias)
    xt, xf = _input(5, 4)
    _close(f_fused(xf), t_fused(xt), rtol=1e-9)


def test_fusion_errors():
    with pytest.raises(AssertionError, match="Fusion only for eval!"):
        nn.utils.fuse_conv_bn_eval(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2).eval())
    with pytest.raises(AssertionError, match="linear.out_features == bn.num_features"):
        nn.utils.fuse_linear_bn_eval(nn.Linear(2, 3).eval(), nn.BatchNorm1d(2).eval())
    with pytest.raises(AssertionError, match="running_mean and bn.running_var must not be None"):
        nn.utils.fuse_linear_bn_eval(nn.Linear(2, 3).eval(), nn.BatchNorm1d(3, track_running_stats=False).eval())


def test_fuse_weights_keep_dtypes():
    w, b = fibril.ones(2, 3, dtype=fibril.float32), fibril.ones(2, dtype=fibril.float64)
    stats = [fibril.ones(2, dtype=fibril.float64) for _ in range(4)]
    fw, fb = nn.utils.fuse_linear_bn_weights(w, b, stats[0], stats[1], 1e-5, stats[2], stats[3])
    assert fw.dtype == fibril.float32 and fb.dtype == fibril.float64


# ------------------------------------------------------------------------------ functional_call
def _call(lib_call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return lib_call(*args, **kwargs)


def test_functional_call_matches_torch():
    t, f = _pair(lambda: _mlp(torch), lambda: _mlp(fibril))
    rng = np.random.default_rng(5)
    values = {name: rng.standard_normal(tuple(p.shape)) for name, p in t.named_parameters() if name != "2.bias"}
    tv = {k: torch.tensor(v, requires_grad=True) for k, v in values.items()}
    fv = {k: fibril.tensor(v, requires_grad=True) for k, v in values.items()}
    before = {k: _np(p).copy() for k, p in f.named_parameters()}
    xt, xf = _input(4, 3)
    yt = _call(torch.nn.utils.stateless.functional_call, t, tv, xt)
    with pytest.warns(FutureWarning, match="deprecated"):
        yf = stateless.functional_call(f, fv, (xf,))
    _close(yf, yt)
    (yt ** 2).sum().backward()
    (yf ** 2).sum().backward()
    for k in values:
        _close(fv[k].grad, tv[k].grad, err_msg=k)
    _close(f[2].bias.grad, t[2].bias.grad)  # the module's own where not replaced
    assert f[0].weight.grad is None  # replaced: the given tensor took the gradient
    for k, p in f.named_parameters():
        np.testing.assert_array_equal(_np(p), before[k], err_msg=k)
        assert isinstance(p, nn.Parameter)


def test_functional_call_buffers_kwargs_and_strict():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(2)

        def forward(self, x, scale=1.0):
            return self.bn(x) * scale

    m = Scaled()
    state = {k: v.detach().clone() for k, v in m.state_dict().items()}
    x = fibril.tensor([[1.0, 2.0], [3.0, 5.0]])
    out = _call(stateless.functional_call, m, state, x, {"scale": 2.0})
    assert out.shape == (2, 2)
    np.testing.assert_allclose(_np(state["bn.running_mean"]), [0.2, 0.35], rtol=1e-6)  # updated in place
    np.testing.assert_array_equal(_np(m.bn.running_mean), [0, 0])  # the module's own untouched
    with pytest.raises(RuntimeError, match=r"Error\(s\) in reparametrizing for Scaled:\n\tUnexpected key\(s\): "
                                           r"'bn.extra'.\n\tMissing key\(s\): 'bn.bias'"):
        _call(stateless.functional_call, m, {**{k: v for k, v in state.items() if k != "bn.bias"},
                                              "bn.extra": fibril.ones(1)}, x, strict=True)
    assert not hasattr(m.bn, "extra")  # a name the module lacked is removed again
    _call(stateless.functional_call, m, {"bn.extra": fibril.ones(1)}, x)
    assert not hasattr(m.bn, "extra")


def test_functional_call_tied_weights():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2, bias=False)
            self.b = nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    m = Tied()
    x = fibril.ones(1, 2)
    eye = fibril.eye(2)
    np.testing.assert_array_equal(_np(_call(stateless.functional_call, m, {"a.weight": eye}, x)), [[1, 1]])
    untied = _call(stateless.functional_call, m, {"a.weight": eye}, x, tie_weights=False)
    np.testing.assert_allclose(_np(untied), _np(m.b(x)), rtol=1e-6)
    with pytest.raises(ValueError, match=r"multiple values for keys \['a.weight', 'b.weight'\], which are tied"):
        _call(stateless.functional_call, m, {"a.weight": eye, "b.weight": eye * 2}, x)


# ------------------------------------------------------------------------------ skip_init
def test_skip_init():
    m = nn.utils.skip_init(nn.Linear, 5, 1, dtype=fibril.float64)
    assert isinstance(m, nn.Linear) and m.weight.shape == (1, 5) and m.weight.dtype == fibril.float64
    m = nn.utils.skip_init(nn.Linear, in_features=6, out_features=2)
    assert m.weight.shape == (2, 6) and m.weight.device == "cpu"
    with pytest.raises(RuntimeError, match="Expected a Module"):
        nn.utils.skip_init(int)
    with pytest.raises(RuntimeError, match="must support a 'device' arg"):
        nn.utils.skip_init(nn.Tanh)
