"""Lazy modules (fibril.nn.lazy) and UninitializedParameter / UninitializedBuffer against
torch.nn in float64: reprs and state dicts before the first forward, the shapes inferred, the
class they become, their initialization, outputs and gradients with torch's weights, state
dict loading into an uninitialized module, copies, optimizers; and nn.Buffer, NLLLoss2d and
the RNN base classes."""

import copy
import pickle
import re
import warnings

import numpy as np
import pytest

import fibril
from fibril.nn import lazy
from fibril.nn.linear import Linear
from fibril.nn.loss import NLLLoss, NLLLoss2d
from fibril.nn.module import Module
from fibril.nn.parameter import Buffer, Parameter, UninitializedBuffer, UninitializedParameter, is_lazy
from fibril.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from fibril.optim import SGD, Adagrad, Adam
from fibril.optim.lbfgs import LBFGS
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")

# (class name, constructor kwargs, input shape)
LAZY = [
    ("LazyLinear", {"out_features": 4}, (3, 5)),
    ("LazyLinear", {"out_features": 4, "bias": False}, (2, 3, 6)),
    ("LazyConv1d", {"out_channels": 4, "kernel_size": 3, "padding": 1}, (2, 3, 7)),
    ("LazyConv2d", {"out_channels": 4, "kernel_size": 3, "groups": 2, "padding_mode": "reflect", "padding": 1},
     (2, 6, 5, 5)),
    ("LazyConv3d", {"out_channels": 2, "kernel_size": 2, "stride": 2, "bias": False}, (1, 3, 4, 4, 4)),
    ("LazyConvTranspose1d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "output_padding": 1}, (2, 3, 5)),
    ("LazyConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "groups": 2}, (2, 6, 4, 4)),
    ("LazyConvTranspose3d", {"out_channels": 2, "kernel_size": 2}, (1, 3, 3, 3, 3)),
    ("LazyBatchNorm1d", {}, (4, 3)),
    ("LazyBatchNorm2d", {"momentum": None, "bias": False}, (4, 3, 2, 2)),
    ("LazyBatchNorm3d", {"affine": False}, (2, 3, 2, 2, 2)),
    ("LazyInstanceNorm1d", {}, (2, 3, 6)),
    ("LazyInstanceNorm2d", {"affine": False, "track_running_stats": False}, (2, 3, 4, 4)),
    ("LazyInstanceNorm3d", {"momentum": 0.3}, (2, 3, 2, 3, 2)),
]


def _numpy(t):
    return t.detach().numpy() if isinstance(t, fibril.Tensor) else t.detach().cpu().numpy()


def _state_repr(state):
    """Keys, and the repr of an uninitialized entry or the shape of another."""
    return [(k, repr(v) if "Uninitialized" in repr(type(v)) else tuple(v.shape)) for k, v in state.items()]


@pytest.mark.parametrize("name,kwargs,shape", LAZY, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(LAZY)])
def test_lazy_module_matches_torch(name, kwargs, shape):
    ours, theirs = getattr(lazy, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    assert repr(ours) == repr(theirs)
    assert ours.has_uninitialized_params() == theirs.has_uninitialized_params()
    assert ours.has_uninitialized_params() == (kwargs.get("affine", True) or kwargs.get("track_running_stats", True))
    assert _state_repr(ours.state_dict()) == _state_repr(theirs.state_dict())
    ours.double(), theirs.double()  # before the first forward: the dtype they materialize with
    x = np.random.default_rng(0).standard_normal(shape)
    ours(fibril.tensor(x)), theirs(torch.tensor(x))
    assert type(ours) is getattr(fibril.nn, name[len("Lazy"):]) and type(ours).__name__ == type(theirs).__name__
    assert repr(ours) == repr(theirs) and not any(map(is_lazy, [*ours.parameters(), *ours.buffers()]))
    assert not ours._forward_pre_hooks and not hasattr(ours, "_initialize_hook")
    assert _state_repr(ours.state_dict()) == _state_repr(theirs.state_dict())
    assert all(type(p) is Parameter and p.dtype == fibril.float64 for p in ours.parameters())
    # torch's values from here on: outputs and gradients of a second batch
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(1).standard_normal(shape)
    xf, xt = fibril.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xf), theirs(xt)
    np.testing.assert_allclose(_numpy(out), _numpy(ref), rtol=1e-10, atol=1e-12)
    w = np.random.default_rng(2).standard_normal(tuple(ref.shape))
    (out * fibril.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(xf.grad.numpy(), _numpy(xt.grad), rtol=1e-9, atol=1e-11)
    for key, param in ours.named_parameters():
        np.testing.assert_allclose(param.grad.numpy(), _numpy(theirs.get_parameter(key).grad), rtol=1e-9, atol=1e-11)
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(_numpy(value), _numpy(theirs.state_dict()[key]), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make,fan_in", [(lambda: lazy.LazyLinear(64), 50), (lambda: lazy.LazyConv1d(16, 5), 50)])
def test_materialized_parameters_get_the_regular_initialization(make, fan_in):
    """kaiming_uniform_(a=sqrt(5)) and a bias in ±1/sqrt(fan_in): uniform, so std bound/sqrt(3)."""
    module = make()
    module(fibril.zeros(2, 50) if isinstance(module, lazy.LazyLinear) else fibril.zeros(2, 10, 9))
    bound = 1 / np.sqrt(fan_in)
    for param in (module.weight, module.bias):
        values = param.detach().numpy()
        assert np.abs(values).max() <= bound
        assert abs(values.std() / (bound / np.sqrt(3)) - 1) < 0.3


def test_lazy_batch_norm_starts_from_ones_zeros_and_unit_stats():
    module = lazy.LazyBatchNorm1d()
    module.eval()
    x = fibril.randn(4, 3)
    out = module(x)
    assert module.weight.tolist() == [1.0] * 3 and module.bias.tolist() == [0.0] * 3
    assert module.running_mean.tolist() == [0.0] * 3 and module.running_var.tolist() == [1.0] * 3
    assert type(module.running_mean) is fibril.Tensor and module.num_batches_tracked.item() == 0
    np.testing.assert_allclose(out.detach().numpy(), x.numpy() / np.sqrt(1 + 1e-5), rtol=1e-6)


def test_loading_values_materializes_an_uninitialized_module():
    torch.manual_seed(0)
    source = torch.nn.Linear(5, 3).double()
    ours, theirs = lazy.LazyLinear(3).double(), torch.nn.LazyLinear(3).double()
    assert repr(ours.load_state_dict(source.state_dict())) == repr(theirs.load_state_dict(source.state_dict()))
    # materialized, but still lazy until a forward sets in_features (as torch)
    assert type(ours) is lazy.LazyLinear and repr(ours) == repr(theirs)
    assert type(ours.weight) is Parameter and tuple(ours.weight.shape) == (3, 5)
    x = np.random.default_rng(0).standard_normal((2, 5))
    np.testing.assert_allclose(ours(fibril.tensor(x)).detach().numpy(), _numpy(theirs(torch.tensor(x))), rtol=1e-12)
    assert type(ours) is Linear and repr(ours) == repr(theirs) == "Linear(in_features=5, out_features=3, bias=True)"


def test_loading_uninitialized_state():
    ours = lazy.LazyLinear(3)
    assert not ours.load_state_dict(lazy.LazyLinear(3).state_dict()).missing_keys
    assert ours.has_uninitialized_params() and type(ours.weight) is UninitializedParameter
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized parameter"):
        Linear(4, 3).load_state_dict(lazy.LazyLinear(3).state_dict())
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "bias"'):
        ours.load_state_dict({"weight": fibril.zeros(3, 5)})
    assert type(ours.weight) is Parameter and type(ours.bias) is UninitializedParameter


def test_uninitialized_tensors_refuse_use():
    param = UninitializedParameter(dtype=fibril.float64)
    assert repr(param) == "<UninitializedParameter>" and isinstance(param, Parameter) and is_lazy(param)
    assert param.requires_grad and param.dtype == fibril.float64 and param.device == "cpu"
    with pytest.raises(ValueError, match="uninitialized parameter"):
        param + 1
    with pytest.raises(RuntimeError, match="Can't access the shape"):
        param.shape
    param.materialize((2, 3))
    assert type(param) is Parameter and tuple(param.shape) == (2, 3) and param.dtype == fibril.float64
    assert param.requires_grad and not is_lazy(param)
    buffer = UninitializedBuffer(persistent=False)
    assert repr(buffer) == "<UninitializedBuffer>" and isinstance(buffer, Buffer) and not buffer.requires_grad
    buffer.materialize((4,), dtype=fibril.float64)
    assert type(buffer) is fibril.Tensor and buffer.dtype == fibril.float64 and isinstance(buffer, Buffer)


def test_a_module_that_never_materializes_raises():
    class Forgetful(lazy.LazyModuleMixin, Module):
        def __init__(self):
            super().__init__()
            self.weight = UninitializedParameter()

        def initialize_parameters(self, x):
            pass

    with pytest.raises(RuntimeError, match="module Forgetful has not been fully initialized"):
        Forgetful()(fibril.zeros(2))


def test_lazy_conv_input_errors_match_torch():
    for make, shape in [(lambda lib: lib.LazyConv2d(4, 3, groups=2), (1, 3, 5, 5)),
                        (lambda lib: lib.LazyConv2d(4, 3), (5, 5))]:
        ours, theirs = make(lazy), make(torch.nn)
        with pytest.raises((ValueError, RuntimeError)) as expected:
            theirs(torch.zeros(shape))
        with pytest.raises(expected.type) as got:
            ours(fibril.zeros(*shape))
        assert str(got.value).split("size")[0] == str(expected.value).split("size")[0]
        # still lazy, in_channels set when only the groups refused it
        assert repr(ours) == repr(theirs) and ours.has_uninitialized_params() and ours._forward_pre_hooks


@pytest.mark.parametrize("name,kwargs,shape", LAZY, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(LAZY)])
def test_loading_values_into_each_uninitialized_module_matches_torch(name, kwargs, shape):
    """Loading materializes the tensors but leaves the inferred size 0 (LazyLinear's alone
    takes it from the first input), reset_parameters then keeps the loaded values, and the
    first forward only swaps the class, as torch's (whose InstanceNorm then refuses affine)."""
    torch.manual_seed(0)
    source = getattr(torch.nn, name)(**kwargs).double()
    x = torch.randn(*shape, dtype=torch.float64)
    source(x)
    state = source.state_dict()
    ours, theirs = getattr(lazy, name)(**kwargs).double(), getattr(torch.nn, name)(**kwargs).double()
    loaded = ours.load_state_dict({k: fibril.tensor(_numpy(v)) for k, v in state.items()})
    assert repr(loaded) == repr(theirs.load_state_dict(state))
    assert type(ours).__name__ == type(theirs).__name__ == name and repr(ours) == repr(theirs)
    assert not ours.has_uninitialized_params() and not theirs.has_uninitialized_params()
    ours.reset_parameters(), theirs.reset_parameters()
    for key, value in ours.state_dict().items():
        assert type(value) is fibril.Tensor and str(value.dtype) == str(state[key].dtype).replace("torch", "fibril")
        np.testing.assert_array_equal(_numpy(value), _numpy(state[key]))
    try:
        expected = _numpy(theirs(x))
    except ValueError as error:
        with pytest.raises(ValueError, match=f"^{re.escape(str(error))}$"):
            ours(fibril.tensor(x.numpy()))
    else:
        np.testing.assert_allclose(_numpy(ours(fibril.tensor(x.numpy()))), expected, rtol=1e-10, atol=1e-12)
    assert type(ours).__name__ == type(theirs).__name__ == name[len("Lazy"):] and repr(ours) == repr(theirs)


def test_loading_some_values_materializes_only_those():
    ours, theirs = lazy.LazyBatchNorm1d(), torch.nn.LazyBatchNorm1d()
    # (num_batches_tracked given: torch's norms, lazy or not, fill it in when it is missing; fibril's do not)
    loaded = ours.load_state_dict({"weight": fibril.ones(3), "num_batches_tracked": fibril.tensor(2)}, strict=False)
    expected = theirs.load_state_dict({"weight": torch.ones(3), "num_batches_tracked": torch.tensor(2)}, strict=False)
    assert (loaded.missing_keys, loaded.unexpected_keys) == (expected.missing_keys, expected.unexpected_keys)
    assert _state_repr(ours.state_dict()) == _state_repr(theirs.state_dict())
    assert ours.has_uninitialized_params() and theirs.has_uninitialized_params()
    ours.reset_parameters()  # refused by the uninitialized tensors: nothing to do yet
    assert ours.weight.tolist() == [1.0] * 3 and type(ours.bias) is UninitializedParameter
    assert ours.num_batches_tracked.item() == 2


@pytest.mark.parametrize("name,kwargs,shape", LAZY, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(LAZY)])
def test_constructor_dtype_reaches_the_materialized_tensors(name, kwargs, shape):
    ours = getattr(lazy, name)(**kwargs, dtype=fibril.float64, device="cpu")
    theirs = getattr(torch.nn, name)(**kwargs, dtype=torch.float64, device="cpu")

    def kinds(module):
        return [(k, str(v.dtype).split(".")[-1], str(v.device)) for k, v in module.state_dict().items()]

    assert all(t.dtype == fibril.float64 and t.device == "cpu" for t in ours.parameters())
    x = np.random.default_rng(0).standard_normal(shape)
    ours(fibril.tensor(x)), theirs(torch.tensor(x))
    assert kinds(ours) == kinds(theirs)
    assert all(type(p) is Parameter and p.requires_grad for p in ours.parameters())


@pytest.mark.parametrize("make,shape", [
    (lambda lib: lib.LazyConv1d(4, 3), (3, 7)),
    (lambda lib: lib.LazyConvTranspose2d(4, 3, groups=2), (6, 4, 4)),
    (lambda lib: lib.LazyConv3d(2, 2, bias=False), (3, 4, 4, 4)),
    (lambda lib: lib.LazyConvTranspose3d(2, 2), (2, 3, 3, 3, 3)),
])
def test_unbatched_inputs_infer_in_channels_as_torch(make, shape):
    ours, theirs = make(lazy), make(torch.nn)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    assert tuple(ours(fibril.tensor(x)).shape) == tuple(theirs(torch.tensor(x)).shape)
    assert repr(ours) == repr(theirs) and _state_repr(ours.state_dict()) == _state_repr(theirs.state_dict())


def test_lazy_instance_norm_infers_from_dim_1_even_unbatched_as_torch():
    ours, theirs = lazy.LazyInstanceNorm1d(), torch.nn.LazyInstanceNorm1d()
    with pytest.raises(ValueError) as expected:
        theirs(torch.zeros(3, 6))
    with pytest.raises(ValueError, match=f"^{re.escape(str(expected.value))}$"):
        ours(fibril.zeros(3, 6))
    assert repr(ours) == repr(theirs) == \
        "InstanceNorm1d(6, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"


def test_copies_stay_lazy_and_initialize_on_their_own():
    module = fibril.nn.Sequential(lazy.LazyLinear(4), fibril.nn.ReLU(), lazy.LazyBatchNorm1d())
    for clone in (copy.deepcopy(module), pickle.loads(pickle.dumps(module))):
        assert type(clone[0]) is lazy.LazyLinear and type(clone[2].running_mean) is UninitializedBuffer
        clone(fibril.zeros(2, 7))
        assert type(clone[0]) is Linear and tuple(clone[0].weight.shape) == (4, 7)
        assert type(clone[2]).__name__ == "BatchNorm1d"
    assert module[0].has_uninitialized_params()  # the original is untouched
    # deepcopy keeps the dtype to materialize with; pickle does not, as torch
    assert copy.deepcopy(lazy.LazyLinear(2).double()).weight.dtype == fibril.float64
    assert pickle.loads(pickle.dumps(lazy.LazyLinear(2).double())).weight.dtype == fibril.float32


def test_optimizers_take_uninitialized_parameters_as_torch():
    """SGD and Adam take them (a step skips them: no gradient) and train them once a forward
    materialized them; Adagrad, which makes its state at once, and LBFGS.step refuse."""
    module = lazy.LazyLinear(3)
    optimizer = Adam(module.parameters(), lr=0.1)
    optimizer.step()
    module(fibril.randn(2, 4)).sum().backward()
    before = module.weight.detach().clone()
    optimizer.step()
    assert tuple(optimizer.state[module.weight]["exp_avg"].shape) == (3, 4)
    assert not np.allclose(module.weight.detach().numpy(), before.numpy())
    SGD(lazy.LazyLinear(3).parameters(), lr=0.1).step()
    # torch's Adagrad refuses them with a ValueError, fibril's reading their shape (a RuntimeError)
    with pytest.raises((ValueError, RuntimeError), match="uninitialized"):
        Adagrad(lazy.LazyLinear(3).parameters())
    with pytest.raises(ValueError, match="uninitialized"):
        torch.optim.Adagrad(torch.nn.LazyLinear(3).parameters())
    lbfgs = LBFGS(lazy.LazyLinear(3).parameters())
    with pytest.raises(ValueError, match="uninitialized"):
        lbfgs.step(lambda: fibril.tensor(0.0))


def test_buffer_assignment_registers_as_torch():
    for lib, buffer in ((fibril, Buffer), (torch, torch.nn.Buffer)):
        module = lib.nn.Module()
        t = lib.ones(3)
        module.kept = buffer(t)
        module.scratch = buffer(t, persistent=False)
        module.plain = lib.zeros(2)
        assert [n for n, _ in module.named_buffers()] == ["kept", "scratch"]
        assert list(module.state_dict()) == ["kept"]
        assert isinstance(module.kept, buffer) and not isinstance(t, buffer)
        assert type(module.kept) is lib.Tensor and module.kept.data_ptr() == t.data_ptr()
        module.kept = lib.zeros(3)  # a plain tensor now replaces the buffer, which stays persistent
        assert list(module.state_dict()) == ["kept"] and module.kept.tolist() == [0.0] * 3
        with pytest.raises(KeyError, match="attribute 'plain' already exists"):
            module.plain = buffer(t)
    assert issubclass(Buffer, fibril.Tensor) and not Buffer(fibril.ones(2, requires_grad=True)).grad_fn


def test_nll_loss_2d_is_deprecated_nll_loss():
    with pytest.warns(FutureWarning, match="`NLLLoss2d` has been deprecated"):
        ours = NLLLoss2d(ignore_index=1, reduction="sum")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs = torch.nn.NLLLoss2d(ignore_index=1, reduction="sum")
    assert isinstance(ours, NLLLoss) and repr(ours) == repr(theirs)
    x = np.log(np.random.default_rng(0).dirichlet(np.ones(3), size=(2, 4, 4))).transpose(0, 3, 1, 2)
    target = np.random.default_rng(1).integers(0, 3, size=(2, 4, 4))
    np.testing.assert_allclose(ours(fibril.tensor(x), fibril.tensor(target)).item(),
                               theirs(torch.tensor(x), torch.tensor(target)).item(), rtol=1e-12)


def test_rnn_base_classes_and_modes_match_torch():
    for ours, theirs in [(RNN(3, 4, nonlinearity="relu"), torch.nn.RNN(3, 4, nonlinearity="relu")),
                         (LSTM(3, 4), torch.nn.LSTM(3, 4)), (GRU(3, 4), torch.nn.GRU(3, 4))]:
        assert isinstance(ours, RNNBase) and ours.mode == theirs.mode
    assert all(isinstance(cell(3, 4), RNNCellBase) for cell in (RNNCell, LSTMCell, GRUCell))
    ours, theirs = RNNBase("LSTM", 3, 4, num_layers=2), torch.nn.RNNBase("LSTM", 3, 4, num_layers=2)
    assert repr(ours) == repr(theirs)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    with pytest.raises(ValueError, match="Unrecognized RNN mode: lstm"):
        RNNBase("lstm", 3, 4)
