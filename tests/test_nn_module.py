"""fibril.nn module system: registration, traversal, modes, freezing, conversion, state_dict
(strict errors, torch interop), hooks, containers and repr — against torch.nn where it imports."""

import collections

import numpy as np
import pytest

import fibril
import fibril.nn as nn

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


class Block(nn.Module):
    def __init__(self, lib_nn, width):
        super().__init__()
        self.fc = lib_nn.Linear(width, width)
        self.drop = lib_nn.Dropout(0.25)
        self.register_buffer("scale", (fibril if lib_nn is nn else torch).ones(width))
        self.register_buffer("scratch", (fibril if lib_nn is nn else torch).zeros(2), persistent=False)

    def forward(self, x):
        return self.drop(self.fc(x)) * self.scale


def make_model(lib_nn, base):
    class Model(base):
        def __init__(self):
            super().__init__()
            self.embed = lib_nn.Embedding(11, 6, padding_idx=0)
            self.blocks = lib_nn.ModuleList([TorchBlock(lib_nn, 6) if base is not nn.Module else Block(lib_nn, 6)
                                             for _ in range(2)])
            self.head = lib_nn.Sequential(lib_nn.Flatten(), lib_nn.Linear(18, 4, bias=False))

        def forward(self, idx):
            h = self.embed(idx)
            for block in self.blocks:
                h = block(h)
            return self.head(h)

    return Model()


if torch is not None:
    class TorchBlock(torch.nn.Module):
        def __init__(self, lib_nn, width):
            super().__init__()
            self.fc = lib_nn.Linear(width, width)
            self.drop = lib_nn.Dropout(0.25)
            self.register_buffer("scale", torch.ones(width))
            self.register_buffer("scratch", torch.zeros(2), persistent=False)

        def forward(self, x):
            return self.drop(self.fc(x)) * self.scale


def test_registration_and_traversal():
    model = make_model(nn, nn.Module)
    names = [n for n, _ in model.named_parameters()]
    assert names == ["embed.weight", "blocks.0.fc.weight", "blocks.0.fc.bias", "blocks.1.fc.weight",
                     "blocks.1.fc.bias", "head.1.weight"]
    assert [n for n, _ in model.named_buffers()] == ["blocks.0.scale", "blocks.0.scratch", "blocks.1.scale",
                                                     "blocks.1.scratch"]
    # A module's own parameters and persistent buffers come before its children's (as torch).
    assert list(model.state_dict()) == ["embed.weight", "blocks.0.scale", "blocks.0.fc.weight", "blocks.0.fc.bias",
                                        "blocks.1.scale", "blocks.1.fc.weight", "blocks.1.fc.bias", "head.1.weight"]
    assert [n for n, _ in model.named_children()] == ["embed", "blocks", "head"]
    assert len(list(model.modules())) == 12
    assert model.get_submodule("blocks.1.fc") is model.blocks[1].fc
    assert model.get_parameter("head.1.weight") is model.head[1].weight
    with pytest.raises(AttributeError):
        model.get_submodule("blocks.7")
    with pytest.raises(AttributeError, match="nope"):
        model.nope


@needs_torch
def test_names_match_torch():
    ours, theirs = make_model(nn, nn.Module), make_model(torch.nn, torch.nn.Module)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    for (n1, p1), (n2, p2) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert n1 == n2 and tuple(p1.shape) == tuple(p2.shape)


def test_shared_parameters_are_listed_once():
    layer = nn.Linear(3, 3)
    model = nn.Sequential(layer, nn.ReLU() if hasattr(nn, "ReLU") else nn.Identity(), layer)
    assert len(list(model.parameters())) == 2
    assert len(list(model.named_parameters(remove_duplicate=False))) == 4


def test_assignment_rules():
    m = nn.Module()
    m.w = nn.Parameter(fibril.zeros(2))
    assert "w" in m._parameters
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.w = fibril.zeros(2)
    m.w = None
    assert m.w is None and list(m.parameters()) == []
    m.sub = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="child module"):
        m.sub = 3
    del m.sub
    assert not hasattr(m, "sub")
    with pytest.raises(KeyError, match="\\."):
        m.register_buffer("a.b", fibril.zeros(1))

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(fibril.zeros(1))

    with pytest.raises(AttributeError, match="__init__"):
        Early()


def test_parameter_shares_memory_and_requires_grad():
    t = fibril.zeros(3)
    p = nn.Parameter(t)
    assert p.requires_grad and p.is_leaf and isinstance(p, fibril.Tensor)
    with fibril.no_grad():
        t.fill_(2.0)
    assert p.tolist() == [2.0, 2.0, 2.0]
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert not nn.Parameter(fibril.zeros(1), requires_grad=False).requires_grad


def test_train_eval_and_dropout_identity():
    model = make_model(nn, nn.Module)
    model.eval()
    assert all(not m.training for m in model.modules())
    idx = fibril.tensor([[1, 2, 3], [0, 4, 5]])
    np.testing.assert_array_equal(model(idx).detach().numpy(), model(idx).detach().numpy())
    model.train()
    assert all(m.training for m in model.modules())


def test_freezing_and_zero_grad():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    model(fibril.randn(5, 3)).sum().backward()
    assert model[0].weight.grad is None and model[0].bias.grad is None
    assert model[1].weight.grad is not None
    model.zero_grad(set_to_none=False)
    assert np.all(model[1].weight.grad.numpy() == 0)
    model.zero_grad()
    assert model[1].weight.grad is None


def test_to_dtype_keeps_parameter_identity():
    model = nn.Linear(3, 2)
    weight = model.weight
    model(fibril.randn(1, 3)).sum().backward()
    model.double()
    assert model.weight is weight and weight.dtype == fibril.float64 and weight.grad.dtype == fibril.float64
    out = model(fibril.randn(4, 3, dtype=fibril.float64))
    assert out.dtype == fibril.float64
    with pytest.raises(TypeError, match="floating"):
        model.to(fibril.int64)


@needs_torch
def test_state_dict_round_trips_with_torch():
    ours, theirs = make_model(nn, nn.Module), make_model(torch.nn, torch.nn.Module)
    ours.eval(), theirs.eval()
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    idx = np.array([[1, 2, 3], [0, 4, 10]])
    np.testing.assert_allclose(ours(fibril.tensor(idx)).detach().numpy(),
                               theirs(torch.tensor(idx)).detach().numpy(), atol=1e-5)
    fresh = make_model(nn, nn.Module).eval()
    result = fresh.load_state_dict({k: fibril.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_allclose(fresh(fibril.tensor(idx)).detach().numpy(),
                               theirs(torch.tensor(idx)).detach().numpy(), atol=1e-5)


def test_load_state_dict_errors_list_every_problem():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    state = model.state_dict()
    state.pop("1.bias")
    state["extra"] = fibril.zeros(1)
    state["0.weight"] = fibril.zeros(5, 3)
    with pytest.raises(RuntimeError) as err:
        model.load_state_dict(state)
    text = str(err.value)
    assert 'Missing key(s) in state_dict: "1.bias"' in text
    assert 'Unexpected key(s) in state_dict: "extra"' in text
    assert "size mismatch for 0.weight" in text and "[5, 3]" in text and "[4, 3]" in text
    state["0.weight"] = fibril.zeros(4, 3)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["1.bias"] and result.unexpected_keys == ["extra"]
    assert np.all(model[0].weight.detach().numpy() == 0)


def test_load_state_dict_copies_in_place_or_assigns():
    model = nn.Linear(2, 2)
    weight = model.weight
    model.load_state_dict({"weight": fibril.ones(2, 2), "bias": fibril.zeros(2)})
    assert model.weight is weight and weight.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    new = fibril.full((2, 2), 3.0)
    model.load_state_dict({"weight": new, "bias": fibril.zeros(2)}, assign=True)
    assert model.weight is not weight and model.weight.requires_grad


def test_forward_hooks_and_removal():
    layer = nn.Linear(2, 2)
    calls = []
    pre = layer.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    post = layer.register_forward_hook(lambda m, args, out: calls.append(out.shape) or out + 1)
    out = layer(fibril.ones(3, 2))
    np.testing.assert_allclose(out.detach().numpy(), np.broadcast_to(layer.bias.detach().numpy() + 1, (3, 2)))
    assert calls == [(3, 2)]
    pre.remove()
    post.remove()
    assert layer(fibril.ones(1, 2)).shape == (1, 2) and len(calls) == 1


def test_apply_visits_children_first():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2)))
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Linear", "Sequential", "Sequential"]


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.Identity(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and len(seq[1:]) == 2
    del seq[1]
    assert [n for n, _ in seq.named_children()] == ["0", "1"]
    seq.append(nn.Identity())
    assert seq(fibril.randn(4, 2)).shape == (4, 1)
    with pytest.raises(IndexError):
        seq[5]
    named = nn.Sequential(collections.OrderedDict([("a", nn.Linear(1, 1)), ("b", nn.Identity())]))
    assert list(named.state_dict()) == ["a.weight", "a.bias"]
    layers = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity) and len(layers) == 4
    heads = nn.ModuleDict({"x": nn.Linear(1, 2)})
    heads["y"] = nn.Identity()
    assert list(heads.keys()) == ["x", "y"] and "x" in heads
    params = nn.ParameterList([fibril.zeros(2), nn.Parameter(fibril.ones(3))])
    assert [tuple(p.shape) for p in params.parameters()] == [(2,), (3,)]


@needs_torch
def test_repr_matches_torch():
    ours = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.1), nn.Flatten(), nn.Embedding(5, 2, padding_idx=1),
                         nn.ModuleList([nn.Identity()]), nn.Unflatten(1, (2, 4)))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.1), torch.nn.Flatten(),
                                 torch.nn.Embedding(5, 2, padding_idx=1), torch.nn.ModuleList([torch.nn.Identity()]),
                                 torch.nn.Unflatten(1, (2, 4)))
    assert repr(ours) == repr(theirs)


# ---------------------------------------------------------------- layers

def test_linear_default_init_bounds():
    fibril.manual_seed(0)
    layer = nn.Linear(100, 50)
    bound = 1 / np.sqrt(100)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert w.std() > 0.8 * bound / np.sqrt(3)


@needs_torch
def test_linear_forward_and_gradients_match_torch():
    ours = nn.Linear(7, 5)
    theirs = torch.nn.Linear(7, 5).double()
    ours.double()
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, 2, 7))
    out, ref = ours(fibril.tensor(x)), theirs(torch.tensor(x))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=1e-12)
    out.sum().backward(), ref.sum().backward()
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.bias.grad.numpy(), theirs.bias.grad.numpy(), atol=1e-12)


def test_embedding_padding_row_gets_no_gradient():
    emb = nn.Embedding(6, 3, padding_idx=2)
    assert emb.weight[2].tolist() == [0.0, 0.0, 0.0]
    idx = fibril.tensor([[2, 1, 2], [5, 2, 1]])
    emb(idx).sum().backward()
    grad = emb.weight.grad.numpy()
    np.testing.assert_array_equal(grad[2], 0)
    np.testing.assert_array_equal(grad[1], 2)
    np.testing.assert_array_equal(grad[5], 1)
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(3, 2, padding_idx=3)
    frozen = nn.Embedding.from_pretrained(fibril.ones(4, 2))
    assert not frozen.weight.requires_grad and frozen(fibril.tensor([3])).tolist() == [[1.0, 1.0]]


def test_channel_dropout_zeroes_whole_channels():
    fibril.manual_seed(3)
    drop = nn.Dropout2d(0.5)
    out = drop(fibril.ones(8, 16, 5, 5)).numpy()
    per_channel = out.reshape(8, 16, 25)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert 0.2 < (per_channel[..., 0] == 0).mean() < 0.8
    drop.eval()
    assert np.all(drop(fibril.ones(2, 3, 4, 4)).numpy() == 1)
    assert nn.Dropout1d(0.3)(fibril.ones(4, 5, 6)).shape == (4, 5, 6)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_flatten_unflatten():
    x = fibril.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)


@pytest.mark.parametrize("pool", [lambda: nn.MaxPool2d(2), lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
                                  lambda: nn.MaxPool2d(2, dilation=2), lambda: nn.MaxPool1d(3, stride=2)])
def test_sequential_runs_relu_after_a_following_max_pool(pool):
    """ReLU then a max pool runs as the pool then the ReLU: the same values and gradients, bit
    for bit, NaN and all-negative windows included; a hooked module runs in its own order."""
    pool = pool()
    two_d = isinstance(pool, nn.MaxPool2d)
    fibril.manual_seed(1)
    conv = nn.Conv2d(3, 4, 3, padding=1) if two_d else nn.Conv1d(3, 4, 3, padding=1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 9) if two_d else (2, 3, 11)).astype(np.float32)
    x.flat[0] = np.nan
    x[1] -= 3.0  # mostly negative: windows whose maximum is not positive

    def run(model):
        xt = fibril.tensor(x, requires_grad=True)
        y = model(xt)
        g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
        y.backward(fibril.tensor(g))
        grads = [xt.grad.numpy().copy()] + [p.grad.numpy().copy() for p in conv.parameters()]
        conv.zero_grad()
        return [y.detach().numpy()] + grads

    fused = run(nn.Sequential(conv, nn.ReLU(), pool))
    plain = run(lambda t: pool(nn.ReLU()(conv(t))))
    for a, b in zip(fused, plain):
        np.testing.assert_array_equal(a, b)
    relu, seen = nn.ReLU(), []
    relu.register_forward_hook(lambda m, args, out: seen.append(tuple(out.shape)))
    hooked = run(nn.Sequential(conv, relu, pool))
    assert seen == [(2, 4, 9, 9) if two_d else (2, 4, 11)]
    for a, b in zip(hooked, plain):
        np.testing.assert_array_equal(a, b)



@needs_torch
def test_load_state_dict_takes_torch_tensors():
    """A torch state dict loads as it is (through DLPack); other values name their type."""
    t = torch.nn.Linear(3, 2)
    m = nn.Linear(3, 2)
    m.load_state_dict(t.state_dict())
    np.testing.assert_array_equal(m.weight.detach().numpy(), t.weight.detach().numpy())
    assert m.weight.requires_grad
    with pytest.raises(RuntimeError, match="expected a Tensor, got builtins.list"):
        m.load_state_dict({"weight": [[1.0] * 3] * 2, "bias": m.bias})


@needs_torch
@pytest.mark.parametrize("dtypes", [("float16",), ("bfloat16",), ("float16", "float32"), ("float16", "bfloat16")])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, "inf"])
def test_clip_grad_norm_16bit_matches_torch(dtypes, norm_type):
    """16-bit gradients (mixed or not with float32) clip as torch's: the norm's value and dtype, the scaled grads."""
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(shape).astype(np.float32) * 3 for shape in [(5, 7), (11,)]]
    dtype_of = [dtypes[i % len(dtypes)] for i in range(len(grads))]
    fparams, tparams = [], []
    for g, d in zip(grads, dtype_of):
        p, tp = nn.Parameter(fibril.zeros(g.shape, dtype=getattr(fibril, d))), torch.zeros(g.shape, dtype=getattr(torch, d))
        p.grad, tp.grad = fibril.tensor(g).to(getattr(fibril, d)), torch.tensor(g).to(getattr(torch, d))
        fparams.append(p)
        tparams.append(tp)
    tnorm = torch.nn.utils.clip_grad_norm_(tparams, 0.5, norm_type)
    fnorm = nn.utils.clip_grad_norm_(fparams, 0.5, norm_type)
    assert fnorm.dtype.name == str(tnorm.dtype).split(".")[1]
    np.testing.assert_allclose(fnorm.float().item(), tnorm.float().item(), rtol=1e-2)
    for p, tp in zip(fparams, tparams):
        assert p.grad.dtype == p.dtype
        np.testing.assert_allclose(p.grad.float().numpy(), tp.grad.float().numpy(), rtol=1e-2, atol=1e-3)


def test_replaced_members_keep_their_place():
    """Reassigning a submodule or a parameter keeps its place in state_dict() and parameters()
    (so optimizer indices and torch state dicts still line up), as torch."""
    m = nn.Sequential()
    m.a, m.b = nn.Linear(2, 2), nn.Linear(2, 2)
    m.a = nn.Linear(2, 2)
    m.a.weight = nn.Parameter(fibril.zeros(2, 2))
    assert list(m.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    assert [name for name, _ in m.a.named_parameters()] == ["weight", "bias"]


def test_train_runs_each_childs_own_train():
    class FrozenNorm(nn.BatchNorm1d):
        calls = []

        def train(self, mode=True):
            self.calls.append(mode)
            return super().train(False)  # stays in eval, as a frozen BatchNorm does

    m = nn.Sequential(nn.Linear(3, 3), FrozenNorm(3))
    m.eval().train()
    assert FrozenNorm.calls == [False, True] and m.training and not m[1].training


def test_load_result_prints_as_torch_and_to_takes_non_blocking():
    m = nn.Linear(2, 2)
    assert repr(m.load_state_dict(m.state_dict())) == "<All keys matched successfully>"
    assert (repr(m.load_state_dict({"weight": m.weight.detach()}, strict=False))
            == "_IncompatibleKeys(missing_keys=['bias'], unexpected_keys=[])")
    assert m.to(fibril.float64, non_blocking=True).weight.dtype == fibril.float64


def test_forward_hooks_with_kwargs_prepend_and_always_call():
    class Add(nn.Module):
        def forward(self, x, y=0.0):
            if y is None:
                raise ValueError("no y")
            return x + y

    m, seen = Add(), []
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"y": kwargs["y"] * 10}), with_kwargs=True)
    m.register_forward_hook(lambda mod, args, kwargs, out: out + kwargs["y"], with_kwargs=True)
    m.register_forward_hook(lambda mod, args, out: out * 2, prepend=True)  # runs before the one above
    assert m(fibril.tensor(1.0), y=fibril.tensor(1.0)).item() == 32.0  # (1 + 10) * 2 + 10
    m = Add()
    m.register_forward_hook(lambda mod, args, out: seen.append(out), always_call=True)
    with pytest.raises(ValueError, match="no y"):
        m(fibril.tensor(1.0), y=None)
    assert seen == [None]


def test_registering_over_another_member_raises():
    """register_buffer / add_module / register_parameter over a name the module already uses
    for another kind of member, or for a method, raise KeyError (as torch) instead of filing
    the name twice."""
    for register in (lambda m: m.register_buffer("weight", fibril.zeros(1)),
                     lambda m: m.add_module("bias", nn.ReLU()),
                     lambda m: m.register_buffer("forward", fibril.zeros(1)),
                     lambda m: m.register_parameter("forward", None)):
        with pytest.raises(KeyError, match="already exists"):
            register(nn.Linear(2, 2))


def test_sequential_and_module_list_edit_as_torch():
    a, b, c = nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1)
    named = nn.Sequential(collections.OrderedDict([("first", a), ("act", b), ("last", c)]))
    del named[1]
    assert list(named._modules) == ["0", "1"]  # renumbered, as torch
    with pytest.raises(IndexError):
        nn.Sequential(a).insert(3, b)
    seq = nn.Sequential(a, b)
    assert seq.pop(0) is a and list(seq) == [b]
    joined = nn.Sequential(a) + nn.Sequential(b, c)
    assert list(joined) == [a, b, c] and list(joined._modules) == ["0", "1", "2"]
    seq += nn.Sequential(c)
    assert list(seq) == [b, c]
    with pytest.raises(ValueError):
        seq + [a]
    modules = nn.ModuleList([a, b])
    assert modules.pop(-1) is b and list(modules + [c]) == [a, c]
    modules += [b]
    assert list(modules) == [a, b]


@needs_torch
def test_module_list_repr_groups_equal_entries_as_torch():
    def build(lib):
        block = [lib.Sequential(lib.Linear(2, 2), lib.ReLU()) for _ in range(2)]
        return lib.ModuleList([lib.Linear(2, 2) for _ in range(3)] + [lib.ReLU()] + block)

    assert repr(build(nn)) == repr(build(torch.nn))
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())


def test_parameter_list_slices_sets_and_extends():
    a, b, c = (nn.Parameter(fibril.zeros(i + 1)) for i in range(3))
    params = nn.ParameterList([a, b])
    assert len(params[1:]) == 1 and params[1:][0] is b
    params[0] = c
    params += [a]
    params.extend([fibril.ones(2)])
    assert params[0] is c and params[2] is a and isinstance(params[3], nn.Parameter)
    assert [name for name, _ in params.named_parameters()] == ["0", "1", "2", "3"]


def test_deprecated_container_holds_its_keyword_children():
    with pytest.warns(FutureWarning, match="nn.Container` is deprecated"):
        box = fibril.nn.Container(first=fibril.nn.Linear(2, 3), second=fibril.nn.ReLU())
    assert [name for name, _ in box.named_children()] == ["first", "second"]
    assert len(list(box.parameters())) == 2


def test_batchnorm_state_dict_without_num_batches_tracked_loads_as_torch():
    """A plain dict (no version metadata) may lack num_batches_tracked: it keeps its value, as
    torch; a versioned state dict without it is refused."""
    torch = pytest.importorskip("torch")
    for module, reference in ((fibril.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)),
                              (fibril.nn.InstanceNorm2d(3, track_running_stats=True),
                               torch.nn.InstanceNorm2d(3, track_running_stats=True))):
        module.num_batches_tracked.fill_(4)
        plain = {k: v for k, v in module.state_dict().items() if k != "num_batches_tracked"}
        assert str(module.load_state_dict(plain)) == str(reference.load_state_dict(
            {k: torch.from_numpy(v.numpy()) for k, v in plain.items()}))
        assert module.num_batches_tracked.item() == 4
        versioned = module.state_dict()
        del versioned["num_batches_tracked"]
        with pytest.raises(RuntimeError, match="num_batches_tracked"):
            module.load_state_dict(versioned)
        assert versioned._metadata[""]["version"] == reference.state_dict()._metadata[""]["version"] == 2
