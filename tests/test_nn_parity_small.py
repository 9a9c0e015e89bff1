"""Small PyTorch-parity defects found by fuzzing, each against torch: nn.init and layers on
zero-size tensors, F.linear with a 1-D weight, pad's keyword signature, flatten of a 0-d
input, channel-wise and alpha dropout (ranks, warnings, errors, which elements drop
together), and in-place changes of a backward-hooked module's inputs or outputs."""

import warnings

import numpy as np
import pytest

import fibril
from fibril import nn
from fibril.ops import random as fibril_random
from fibril.ops.matmul import linear as fused_linear
from op_check import check_op, torch_one_thread  # noqa: F401 (an autouse fixture)

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")


def _outcome(fn):
    """What fn() gives: ("ok", its result, the warnings' messages) or (error type name, message)."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            result = fn()
        except Exception as error:  # the type is what is compared
            return type(error).__name__, str(error)
    return "ok", result, [str(w.message) for w in seen]


# ------------------------------------------------------------------------------ nn.init on zero-size tensors
INITS = {"kaiming_uniform_": (), "kaiming_normal_": (), "xavier_uniform_": (), "xavier_normal_": (), "uniform_": (),
         "normal_": (), "orthogonal_": (), "trunc_normal_": (), "zeros_": (), "ones_": (), "constant_": (0.5,)}


@needs_torch
@pytest.mark.parametrize("name", INITS)
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0,), (2, 0, 3), (0, 0)])
def test_init_of_a_zero_element_tensor_as_torch(name, shape):
    """kaiming_* warn that it is a no-op before looking at the fans (even of a 1-D tensor), the
    others return the tensor as it is or raise as torch's (fans of a 1-D tensor, 0/0 fans)."""
    results = []
    for lib in (torch, fibril):
        tensor = lib.empty(shape)
        outcome = _outcome(lambda: getattr(lib.nn.init, name)(tensor, *INITS[name]))
        if outcome[0] == "ok":
            assert outcome[1] is tensor and tuple(outcome[1].shape) == shape
            results.append(outcome[2])
        else:
            results.append(outcome[0])
    assert results[1] == results[0]


@needs_torch
@pytest.mark.parametrize("in_features, out_features", [(0, 3), (3, 0), (0, 0)])
def test_linear_with_a_zero_size_builds_and_runs(in_features, out_features):
    built = []
    for lib in (torch, fibril):
        with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
            built.append(lib.nn.Linear(in_features, out_features, dtype=lib.float64))
    theirs, ours = built
    assert repr(ours) == repr(theirs)
    np.testing.assert_array_equal(ours.bias.detach().numpy(), theirs.bias.detach().numpy())  # no inputs: bias 0
    x = np.random.default_rng(0).standard_normal((2, in_features))
    cot = np.random.default_rng(1).standard_normal((2, out_features))
    tx, fx = torch.tensor(x, requires_grad=True), fibril.tensor(x, requires_grad=True)
    ty, fy = theirs(tx), ours(fx)
    np.testing.assert_array_equal(fy.detach().numpy(), ty.detach().numpy())
    ty.backward(torch.tensor(cot))
    fy.backward(fibril.tensor(cot))
    for f, t in [(fx, tx), (ours.weight, theirs.weight), (ours.bias, theirs.bias)]:
        assert tuple(f.grad.shape) == tuple(t.grad.shape)
        np.testing.assert_allclose(f.grad.numpy(), t.grad.numpy(), rtol=1e-12)


@needs_torch
@pytest.mark.parametrize("build", [
    lambda lib: lib.nn.Conv1d(3, 0, 3), lambda lib: lib.nn.Conv2d(0, 3, 3), lambda lib: lib.nn.Conv2d(3, 0, 3),
    lambda lib: lib.nn.ConvTranspose2d(0, 3, 3), lambda lib: lib.nn.ConvTranspose2d(3, 0, 3),
    lambda lib: lib.nn.LSTMCell(3, 0), lambda lib: lib.nn.GRUCell(3, 0), lambda lib: lib.nn.RNNCell(3, 0),
    lambda lib: lib.nn.Bilinear(3, 0, 3), lambda lib: lib.nn.Embedding(0, 3), lambda lib: lib.nn.Embedding(3, 0),
])
def test_layers_with_a_zero_size_build_as_torch(build):
    theirs, ours = _outcome(lambda: build(torch)), _outcome(lambda: build(fibril))
    assert ours[0] == theirs[0] == "ok"
    assert repr(ours[1]) == repr(theirs[1]) and ours[2] == theirs[2]
    for (name, f), (_, t) in zip(ours[1].named_parameters(), theirs[1].named_parameters()):
        assert tuple(f.shape) == tuple(t.shape), name


@needs_torch
@pytest.mark.parametrize("cell", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cells_without_inputs_run_as_torch(cell):
    """input_size 0: the output comes from the biases and the hidden state alone."""
    theirs = getattr(torch.nn, cell)(0, 3, dtype=torch.float64)
    ours = getattr(nn, cell)(0, 3, dtype=fibril.float64)
    ours.load_state_dict({k: fibril.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    t_out, f_out = theirs(torch.zeros(2, 0, dtype=torch.float64)), ours(fibril.zeros(2, 0, dtype=fibril.float64))
    t_out, f_out = (t_out, f_out) if cell != "LSTMCell" else (t_out[1], f_out[1])
    np.testing.assert_allclose(f_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-12)


@needs_torch
def test_embedding_without_features_looks_up_empty_rows():
    ours = nn.Embedding(3, 0)
    assert tuple(ours(fibril.tensor([0, 2, 2])).shape) == tuple(torch.nn.Embedding(3, 0)(torch.tensor([0, 2, 2])).shape)


# ------------------------------------------------------------------------------ F.linear with a 1-D weight
LINEAR_1D = [  # input shape, bias shape (None: no bias)
    ((2, 4), None), ((2, 3, 4), None), ((4,), None), ((4,), ()), ((2, 3, 4), ()), ((2, 2, 3, 4), ()), ((0, 3, 4), ()),
]


@pytest.mark.parametrize("input_shape, bias_shape", LINEAR_1D)
def test_linear_with_a_1d_weight_drops_the_feature_dim(input_shape, bias_shape):
    """Values and gradients (the 0-d bias's too) as torch's; gradcheck on fibril's."""
    shapes = [input_shape, (4,)] + ([] if bias_shape is None else [bias_shape])
    arrays = [np.random.default_rng(i).uniform(-2, 2, s) for i, s in enumerate(shapes)]
    out = check_op(lambda *t: nn.functional.linear(*t), lambda *t: torch.nn.functional.linear(*t), arrays,
                   atol=1e-12, rtol=1e-12)
    assert tuple(out.shape) == input_shape[:-1]


@needs_torch
@pytest.mark.parametrize("input_shape, weight_shape, bias_shape", [
    ((2, 4), (4,), ()), ((2, 4), (4,), (1,)), ((2, 3, 4), (4,), (3,)), ((4,), (4,), (1,)),  # torch's addmm path
    ((2, 4), (3,), None),  # features differ
    ((), (4,), None), ((2, 4), (), None),  # 0-d
    ((2, 4), (1, 3, 4), None),  # 3-D weight
])
def test_linear_bad_shapes_raise_as_torch(input_shape, weight_shape, bias_shape):
    def call(lib):
        bias = None if bias_shape is None else lib.ones(bias_shape, dtype=lib.float64)
        return lib.nn.functional.linear(lib.ones(input_shape, dtype=lib.float64),
                                        lib.ones(weight_shape, dtype=lib.float64), bias)

    assert _outcome(lambda: call(torch))[0] == "RuntimeError"
    with pytest.raises(RuntimeError):
        call(fibril)


def test_linear_with_a_1d_weight_keeps_the_fused_relu():
    x, w, b = fibril.tensor([[1.0, -2.0], [3.0, 1.0]]), fibril.tensor([1.0, 1.0]), fibril.tensor(0.5)
    x = x.reshape(1, 2, 2)
    assert fused_linear(x, w, b, activation="relu").tolist() == [[0.0, 4.5]]


# ------------------------------------------------------------------------------ pad's keywords
@needs_torch
@pytest.mark.parametrize("mode, value", [("constant", 2.5), ("constant", None), ("reflect", None),
                                         ("replicate", None), ("circular", None)])
def test_pad_takes_torchs_keywords(mode, value):
    a = np.random.default_rng(0).uniform(-2, 2, (1, 2, 5))
    check_op(lambda t: nn.functional.pad(input=t, pad=(2, 1), mode=mode, value=value),
             lambda t: torch.nn.functional.pad(input=t, pad=(2, 1), mode=mode, value=value), [a],
             atol=1e-12, rtol=1e-12)
    assert tuple(fibril.pad(input=fibril.ones(2, 3), pad=[1, 1]).shape) == (2, 5)


# ------------------------------------------------------------------------------ flatten of 0-d and 1-d input
@needs_torch
@pytest.mark.parametrize("call", [
    lambda lib, x: lib.flatten(x), lambda lib, x: lib.flatten(x, 0, 0), lambda lib, x: lib.flatten(x, -1, -1),
    lambda lib, x: x.flatten(), lambda lib, x: lib.nn.Flatten(0)(x), lambda lib, x: lib.nn.Flatten(-1, 0)(x),
])
def test_flatten_of_a_0d_tensor_is_a_1_element_view(call):
    for lib in (torch, fibril):
        x = lib.tensor(3.0, requires_grad=True)
        out = call(lib, x)
        assert tuple(out.shape) == (1,) and out._base is x
        (out * 2).sum().backward()
        assert x.grad.item() == 2.0


@needs_torch
@pytest.mark.parametrize("call", [
    lambda lib, x: lib.nn.Flatten()(x), lambda lib, x: lib.flatten(x, 1), lambda lib, x: lib.flatten(x, 0, 1),
])
def test_flatten_of_a_0d_tensor_checks_its_dims(call):
    assert _outcome(lambda: call(torch, torch.tensor(3.0)))[0] == "IndexError"
    assert _outcome(lambda: call(fibril, fibril.tensor(3.0)))[0] == "IndexError"


@needs_torch
def test_flatten_module_on_1d_input_as_torch():
    for lib in (torch, fibril):
        with pytest.raises(IndexError, match=r"range of \[-1, 0\], but got 1"):
            lib.nn.Flatten()(lib.ones(5))
        assert tuple(lib.nn.Flatten(0)(lib.ones(5)).shape) == (5,)


# ------------------------------------------------------------------------------ channel-wise and alpha dropout
DROPOUTS = ["dropout1d", "dropout2d", "dropout3d", "feature_alpha_dropout", "alpha_dropout"]


@needs_torch
@pytest.mark.parametrize("name", DROPOUTS)
@pytest.mark.parametrize("shape", [(), (2,), (0,), (2, 2), (2, 2, 2), (2, 2, 2, 2), (2, 2, 2, 2, 2), (2,) * 6])
@pytest.mark.parametrize("training, p", [(True, 0.5), (False, 0.5), (True, 0.0), (True, 1.0)])
def test_dropout_variants_accept_and_warn_as_torch(name, shape, training, p):
    """Which ranks each takes, the warnings it gives, and the error type where torch refuses."""
    theirs = _outcome(lambda: getattr(torch.nn.functional, name)(torch.ones(shape), p, training))
    ours = _outcome(lambda: getattr(fibril_random, name)(fibril.ones(shape), p, training))
    assert ours[0] == theirs[0], (ours, theirs)
    if theirs[0] == "ok":
        assert tuple(ours[1].shape) == shape and ours[2] == theirs[2]


@pytest.mark.parametrize("name", DROPOUTS)
def test_dropout_variants_check_p(name):
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        getattr(fibril_random, name)(fibril.ones(2, 3, 4), 1.5)


def _runs(out, shape, mask_dims):
    """out as (draws, elements sharing one draw)."""
    return out.reshape(int(np.prod(shape[:mask_dims])), -1)


@pytest.mark.parametrize("name, shape, mask_dims", [
    ("dropout2d", (8, 16, 30), 2),  # torch 2.13: 3-D is (N, C, L), not unbatched (C, H, W)
    ("dropout2d", (4, 16, 5, 6), 2), ("dropout1d", (8, 16, 30), 2), ("dropout1d", (16, 30), 1),
    ("dropout3d", (2, 16, 3, 4, 5), 2), ("dropout3d", (16, 3, 4, 5), 1),
])
def test_channel_dropout_keeps_or_drops_whole_rows(name, shape, mask_dims):
    """Each draw's elements are all zero or all scaled by 1/(1-p); about p of the draws drop."""
    fibril.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = getattr(fibril_random, name)(fibril.ones(*shape, dtype=fibril.float64), 0.25).numpy()
    runs = _runs(out, shape, mask_dims)
    assert np.all((runs == 0).all(-1) | (runs == 1 / 0.75).all(-1))
    dropped = (runs[:, 0] == 0).mean()
    assert 0.1 < dropped < 0.4


def test_dropout2d_of_3d_input_warns_and_drops_channels_along_l():
    """As torch 2.13: one draw per (n, c) of a 3-D input, with its warning; gradients pass
    through the same mask."""
    fibril.manual_seed(1)
    x = fibril.ones(6, 8, 10, dtype=fibril.float64, requires_grad=True)
    with pytest.warns(UserWarning, match=r"Received a 3D input to dropout2d .* interpreted as shape \(N, C, L\)"):
        out = nn.Dropout2d(0.5)(x)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), out.detach().numpy())
    rows = out.detach().numpy()
    assert np.all((rows == 0).all(-1) | (rows == 2).all(-1))
    assert 0 < (rows[..., 0] == 0).sum() < 48


_SELU_NEG = 1.7580993408473766  # selu's limit at -inf, negated


@pytest.mark.parametrize("name, shape", [("alpha_dropout", (200000,)), ("feature_alpha_dropout", (4000, 50, 2))])
def test_alpha_dropouts_keep_mean_and_variance(name, shape):
    fibril.manual_seed(2)
    x = fibril.randn(*shape, dtype=fibril.float64)
    out = getattr(fibril_random, name)(x, 0.3, training=True).numpy()
    assert abs(out.mean()) < 0.02 and abs(out.std() - 1) < 0.02
    a = ((_SELU_NEG ** 2 * 0.3 + 1) * 0.7) ** -0.5
    dropped = np.isclose(out, -_SELU_NEG * a * 0.7, rtol=1e-12, atol=0)  # the value a dropped element takes
    assert 0.25 < dropped.mean() < 0.35
    if name == "feature_alpha_dropout":  # whole (n, c) runs drop together
        runs = dropped.reshape(-1, 2)
        assert np.all(runs.all(-1) | ~runs.any(-1))


@needs_torch
@pytest.mark.parametrize("module", ["Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"])
def test_dropout_modules_as_torch(module):
    ours = getattr(nn.dropout, module)(0.2, inplace=True)
    assert repr(ours) == repr(getattr(torch.nn, module)(0.2, inplace=True))
    x = fibril.ones(*{"Dropout2d": (2, 3, 4, 5), "Dropout3d": (2, 3, 4, 5, 6)}.get(module, (2, 3, 4)))
    assert ours.eval()(x) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        getattr(nn.dropout, module)(-0.1)


def test_inplace_channel_dropout_writes_into_the_input():
    fibril.manual_seed(3)
    x = fibril.ones(4, 8, 6)
    out = fibril_random.dropout1d(x, 0.5, inplace=True)
    assert out is x and set(np.unique(x.numpy()).tolist()) == {0.0, 2.0}


# ------------------------------------------------------------------------------ backward hooks and in-place changes
_HOOK_IN_PLACE = "Output 0 of BackwardHookFunction is a view and is being modified in ?place"
_HOOK_BASE_CHANGED = "Output 0 of BackwardHookFunction is a view and its base or another view of its base has been"


def _hooked(lib, module, pre=False):
    if pre:
        module.register_full_backward_pre_hook(lambda m, grad_output: None)
    else:
        module.register_full_backward_hook(lambda m, grad_input, grad_output: None)
    return module


def _twice(lib):
    """A module of lib whose forward is x * 2."""
    class Twice(lib.nn.Module):
        def forward(self, x):
            return x * 2

    return Twice()


IN_PLACE_AFTER_HOOKED = {
    "identity, mul_": (lambda lib: lib.nn.Identity(), lambda lib, y: y.mul_(2)),
    "identity, ReLU(inplace=True)": (lambda lib: lib.nn.Identity(), lambda lib, y: lib.nn.ReLU(inplace=True)(y)),
    "identity, slice add_": (lambda lib: lib.nn.Identity(), lambda lib, y: y[:2].add_(1)),
    "tanh, mul_": (lambda lib: lib.nn.Tanh(), lambda lib, y: y.mul_(2)),
    "x * 2, mul_": (_twice, lambda lib, y: y.mul_(2)),
}


@needs_torch
@pytest.mark.parametrize("pre", [False, True])
@pytest.mark.parametrize("case", IN_PLACE_AFTER_HOOKED)
def test_changing_a_hooked_modules_output_in_place_raises_as_torch(case, pre):
    """The output of a module with backward hooks is a view autograd refuses to change in place
    (the change would bypass the hooks' node and give a wrong input gradient), as torch's,
    for the identity and for any other module."""
    build, change = IN_PLACE_AFTER_HOOKED[case]
    for lib in (torch, fibril):
        x = lib.ones(3, dtype=lib.float64, requires_grad=True)
        y = _hooked(lib, build(lib), pre)(x)
        with pytest.raises(RuntimeError, match=r"Output 0 of \w+ is a view and is being modified in ?place"):
            change(lib, y)


@needs_torch
def test_hooked_modules_forward_may_not_change_its_input_in_place():
    """ReLU(inplace=True) with a backward (pre-)hook, and a hooked Identity followed by one."""
    for lib in (torch, fibril):
        for pre in (False, True):
            x = lib.ones(3, dtype=lib.float64, requires_grad=True)
            with pytest.raises(RuntimeError, match=_HOOK_IN_PLACE):
                _hooked(lib, lib.nn.ReLU(inplace=True), pre)(x * 1)
        model = lib.nn.Sequential(_hooked(lib, lib.nn.Identity()), lib.nn.ReLU(inplace=True))
        with pytest.raises(RuntimeError, match=_HOOK_IN_PLACE):
            model(lib.ones(3, dtype=lib.float64, requires_grad=True))


@needs_torch
@pytest.mark.parametrize("grad_mode", [True, False])
def test_changing_the_base_of_a_hooked_output_raises_when_it_is_used(grad_mode):
    for lib in (torch, fibril):
        a = lib.ones(3, dtype=lib.float64, requires_grad=True)
        x = a * 1
        y = _hooked(lib, lib.nn.Identity())(x)
        if grad_mode:
            x.mul_(2)
        else:
            with lib.no_grad():
                x.mul_(2)
        with pytest.raises(RuntimeError, match=_HOOK_BASE_CHANGED):
            y.sum().backward()


def _hooked_gradients(lib, build, program):
    """x's gradient and the hook's grad_input / grad_output after program(lib, module(x))."""
    seen = []
    module = build(lib)
    module.register_full_backward_hook(lambda m, gi, go: seen.append([g.detach().numpy().copy() for g in gi + go]))
    x = lib.tensor([1.0, -2.0, 3.0], dtype=lib.float64, requires_grad=True)
    program(lib, module(x)).sum().backward()
    return [x.grad.numpy()] + [g for entry in seen for g in entry]


@needs_torch
@pytest.mark.parametrize("program", [
    lambda lib, y: y * 3, lambda lib, y: y.clone().mul_(3), lambda lib, y: lib.nn.ReLU(inplace=True)(y * 1),
])
@pytest.mark.parametrize("build", [lambda lib: lib.nn.Identity(), lambda lib: lib.nn.Tanh(), _twice])
def test_hooked_gradients_without_in_place_changes_as_torch(build, program):
    """Where torch allows it (no change, or one of a copy), the gradients are still right."""
    ours, theirs = _hooked_gradients(fibril, build, program), _hooked_gradients(torch, build, program)
    assert len(ours) == len(theirs)
    for got, want in zip(ours, theirs):
        np.testing.assert_allclose(got, want, rtol=1e-12)
