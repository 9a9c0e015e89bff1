"""Module hooks beyond forward: full backward (pre-)hooks, state_dict and load_state_dict
hooks, extra state; and ParameterList / ParameterDict entries that are not tensors. Each
compared with torch.nn where it imports: the same model in both libraries, the same hooks, the
gradients each hook sees and the .grad they leave."""

import collections
import warnings

import numpy as np
import pytest

import fibril
import fibril.nn as nn
from fibril.nn import module as module_mod
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)


def _host(values):
    """A hook's tuple of gradients as numpy arrays (None kept), from either library."""
    return [None if v is None else v.detach().numpy().copy() for v in values]


def _assert_same(ours, theirs):
    """Equal gradient tuples (None where torch's has None)."""
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if b is None:
            assert a is None, (i, a)
        else:
            assert a is not None, i
            np.testing.assert_allclose(a, b, atol=1e-12, rtol=1e-10, err_msg=f"entry {i}")


def _recorder(log):
    def pre(module, grad_output):
        log.append(("pre", type(module).__name__, _host(grad_output)))

    def full(module, grad_input, grad_output):
        log.append(("full", type(module).__name__, _host(grad_input), _host(grad_output)))

    return pre, full


def _assert_same_logs(ours, theirs):
    """Equal hook logs: ("pre", name, grad_output) and ("full", name, grad_input, grad_output)."""
    assert [entry[:2] for entry in ours] == [entry[:2] for entry in theirs]
    for a, b in zip(ours, theirs):
        if a[0] == "full":
            _assert_same(a[2], b[2])
        _assert_same(a[-1], b[-1])


def _two_way(lib):
    """A module with several inputs (tensors, a number, a tensor that requires no grad, a
    keyword) and outputs (an unused one, a detached one, an integer one, None). `b` and `aux`
    reach the unused output only: as torch, the input b gets zeros, the parameter aux nothing."""

    class TwoWay(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = lib.nn.Parameter(lib.tensor([1.5, -0.5], dtype=lib.float64))
            self.aux = lib.nn.Parameter(lib.tensor([0.25, 2.0], dtype=lib.float64))

        def forward(self, a, b, k, c, bias=None):
            mixed = a * self.scale * k * c
            if bias is not None:
                mixed = mixed + bias
            return mixed, b.exp() * self.aux, (a * 2).detach(), lib.tensor([1, 2]), None

    return TwoWay()


def _layer_case(name, lib):
    """(module, positional inputs, keyword inputs, positions of the tensor inputs that require
    no grad) for one layer, in float64."""
    rng = np.random.default_rng(0)
    nn_ = lib.nn

    def leaf(shape, requires_grad=True):
        return lib.tensor(rng.standard_normal(shape), dtype=lib.float64, requires_grad=requires_grad)

    if name == "linear":
        module, args, kwargs = nn_.Linear(4, 3), (leaf((2, 4)),), {}
    elif name == "conv":
        module, args, kwargs = nn_.Conv2d(2, 3, 3, padding=1), (leaf((2, 2, 5, 5)),), {}
    elif name == "attention":
        module = nn_.MultiheadAttention(8, 2, batch_first=True)
        args, kwargs = (leaf((2, 3, 8)), leaf((2, 4, 8)), leaf((2, 4, 8), requires_grad=False)), {}
    else:
        module = _two_way(lib)
        args = (leaf((2,)), leaf((2,)), 0.5, leaf((2,), requires_grad=False))
        kwargs = {"bias": leaf((2,))}
    return module.double(), args, kwargs


def _copy_weights(ours, theirs):
    ours.load_state_dict({k: fibril.tensor(v.numpy()) for k, v in theirs.state_dict().items()})


@pytest.mark.parametrize("name", ["linear", "conv", "attention", "several_inputs"])
def test_full_backward_hooks_see_torchs_gradients(name):
    """Every hook sees the gradients torch's sees, w.r.t. the module's inputs and outputs, and
    the gradients they leave in .grad are torch's."""
    torch = pytest.importorskip("torch")
    ours, args, kwargs = _layer_case(name, fibril)
    theirs, targs, tkwargs = _layer_case(name, torch)
    _copy_weights(ours, theirs)
    logs = {}
    for lib, module in (("ours", ours), ("theirs", theirs)):
        logs[lib] = []
        pre, full = _recorder(logs[lib])
        module.register_full_backward_pre_hook(pre)
        module.register_full_backward_hook(full)
    out, ref = ours(*args, **kwargs), theirs(*targs, **tkwargs)
    if isinstance(ref, tuple):  # attention, several_inputs: the other outputs get no gradient
        assert len(out) == len(ref)
        out, ref = out[0], ref[0]
    cot = np.random.default_rng(1).standard_normal(tuple(ref.shape))
    out.backward(fibril.tensor(cot))
    ref.backward(torch.tensor(cot))
    assert len(logs["ours"]) == 2
    _assert_same_logs(logs["ours"], logs["theirs"])
    leaves = [(a, t) for a, t in zip([*args, *kwargs.values()], [*targs, *tkwargs.values()]) if hasattr(a, "grad")]
    for a, t in leaves + list(zip(ours.parameters(), theirs.parameters())):
        _assert_same(_host([a.grad]), _host([t.grad]))


def _chain(lib):
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.ReLU(), lib.nn.Linear(4, 2), lib.nn.Tanh()).double()


def test_hooks_replace_gradients_in_order_as_torch():
    """A pre-hook's grad_output and a full hook's grad_input replace the gradients passed on;
    prepend runs first; a removed hook no longer runs; Sequential's fused Linear + ReLU runs
    each module's hooks."""
    torch = pytest.importorskip("torch")
    ours, theirs = _chain(fibril), _chain(torch)
    _copy_weights(ours, theirs)
    logs = {}
    for lib, model in (("ours", ours), ("theirs", theirs)):
        log = logs[lib] = []
        model[2].register_full_backward_pre_hook(lambda m, go: (go[0] * 3,))
        model[2].register_full_backward_pre_hook(lambda m, go, log=log: log.append(("first", _host(go))),
                                                 prepend=True)
        model[1].register_full_backward_hook(lambda m, gi, go: (gi[0] + 1,))
        gone = model[0].register_full_backward_hook(lambda m, gi, go, log=log: log.append(("gone",)))
        model[0].register_full_backward_hook(lambda m, gi, go, log=log: log.append(("linear0", _host(gi),
                                                                                       _host(go))))
        gone.remove()
    x = np.random.default_rng(2).standard_normal((5, 3))
    xs, xt = fibril.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours(xs).sum().backward()
    theirs(xt).sum().backward()
    assert [e[0] for e in logs["ours"]] == [e[0] for e in logs["theirs"]] == ["first", "linear0"]
    for a, b in zip(logs["ours"], logs["theirs"]):
        for x_, y_ in zip(a[1:], b[1:]):
            _assert_same(x_, y_)
    _assert_same(_host([xs.grad]), _host([xt.grad]))
    for p, q in zip(ours.parameters(), theirs.parameters()):
        _assert_same(_host([p.grad]), _host([q.grad]))


def test_hooks_without_an_input_that_requires_grad_run_on_the_outputs():
    """No input requires grad: the full hook runs with grad_input all None (with torch's
    warning) and may return only None; a hook on a module whose output requires no grad never
    runs."""
    torch = pytest.importorskip("torch")
    for lib in (fibril, torch):
        layer, seen = lib.nn.Linear(2, 2), []
        layer.register_full_backward_hook(lambda m, gi, go: seen.append((gi, len(go))))
        with pytest.warns(UserWarning, match="no inputs require gradients"):
            layer(lib.ones(3, 2)).sum().backward()
        assert seen == [((None,), 1)]
        layer.register_full_backward_hook(lambda m, gi, go: (go[0],))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(RuntimeError, match="should always return None"):
                layer(lib.ones(3, 2)).sum().backward()
        frozen = lib.nn.Linear(2, 2).requires_grad_(False)
        frozen.register_full_backward_hook(lambda m, gi, go: seen.append("frozen"))
        (frozen(lib.ones(1, 2)) * lib.ones(1, 2, requires_grad=True)).sum().backward()
        assert "frozen" not in seen


def test_hook_errors_as_torch():
    """A hook that returns the wrong number of gradients, and a forward that changes a hooked
    input in place (ReLU(inplace=True)), raise as torch's do."""
    torch = pytest.importorskip("torch")
    for lib in (fibril, torch):
        x = lib.ones(2, 3, requires_grad=True)
        layer = lib.nn.Linear(3, 3)
        layer.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
        with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
            layer(x).sum().backward()
        layer = lib.nn.Linear(3, 3)
        layer.register_full_backward_pre_hook(lambda m, go: ())
        with pytest.raises(RuntimeError, match="invalid number of grad_output, got 0, but expected 1"):
            layer(x).sum().backward()
        relu = lib.nn.ReLU(inplace=True)
        relu.register_full_backward_hook(lambda m, gi, go: None)
        with pytest.raises(RuntimeError):
            relu(x * 1)
    layer = nn.Linear(3, 3)
    layer.register_full_backward_hook(lambda m, gi, go: (fibril.ones(3),))
    with pytest.raises(RuntimeError, match=r"shape \[3\] for input 0, which has shape \[2, 3\]"):
        layer(fibril.ones(2, 3, requires_grad=True)).sum().backward()


def test_without_backward_hooks_nothing_is_wrapped():
    """No backward hook: a module's inputs and outputs pass as they are (the fast path); with
    one, the module's forward and its caller see aliases recorded by BackwardHookFunction;
    removed again, nothing is wrapped."""
    identity, x = nn.Identity(), fibril.ones(2, requires_grad=True)
    assert identity(x) is x
    seen = []
    handle = identity.register_full_backward_hook(lambda m, gi, go: seen.append(gi[0].tolist()))
    out = identity(x)
    assert out is not x and out.grad_fn.name() == "BackwardHookFunctionBackward0"
    (out * 3).sum().backward()
    assert seen == [[3.0, 3.0]] and x.grad.tolist() == [3.0, 3.0]
    with handle:
        pass  # leaving the block removes the hook
    assert identity(x) is x
    identity.register_full_backward_pre_hook(lambda m, go: None)
    with fibril.no_grad():
        assert identity(x) is x


def test_a_gradient_that_bypasses_the_outputs_runs_no_hook():
    """The module's input alias used outside it: its gradient reaches the inputs' node without
    passing the outputs', and the full hook does not run, as torch."""
    torch = pytest.importorskip("torch")
    for lib in (fibril, torch):
        class Keep(lib.nn.Module):
            def forward(self, x):
                self.seen_input = x
                return x * 2

        keep, calls = Keep(), []
        keep.register_full_backward_hook(lambda m, gi, go: calls.append(gi))
        x = lib.ones(2, requires_grad=True)
        keep(x)
        keep.seen_input.sum().backward()
        assert calls == [] and x.grad.tolist() == [1.0, 1.0]


def test_global_backward_hooks_run_before_the_modules_own():
    torch = pytest.importorskip("torch")
    for lib, registry in ((fibril, module_mod), (torch, torch.nn.modules.module)):
        calls = []
        model = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.Tanh())
        model[0].register_full_backward_hook(lambda m, gi, go: calls.append("own"))
        handles = [registry.register_module_full_backward_hook(lambda m, gi, go: calls.append(type(m).__name__)),
                   registry.register_module_full_backward_pre_hook(
                       lambda m, go: calls.append("pre " + type(m).__name__))]
        try:
            model(lib.ones(1, 2, requires_grad=True)).sum().backward()
        finally:
            for handle in handles:
                handle.remove()
        assert calls == ["pre Sequential", "pre Tanh", "Tanh", "pre Linear", "Linear", "own", "Sequential"]
        calls.clear()
        model(lib.ones(1, 2, requires_grad=True)).sum().backward()
        assert calls == ["own"]


def test_register_backward_hook_is_the_full_hook_with_a_warning():
    layer, seen = nn.Linear(3, 2), []
    with pytest.warns(FutureWarning, match="register_full_backward_hook"):
        layer.register_backward_hook(lambda m, gi, go: seen.append((len(gi), tuple(gi[0].shape))))
    layer(fibril.ones(4, 3, requires_grad=True)).sum().backward()
    assert seen == [(1, (4, 3))]


# ---------------------------------------------------------------- state_dict hooks

def _nested(lib):
    lib.manual_seed(0)
    model = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.Sequential(lib.nn.Linear(3, 1)))
    return model.double()


def test_state_dict_hooks_as_torch():
    """Pre-hooks see (prefix, keep_vars) before a module's part is collected; post-hooks see
    the dict with the module's part (children included) and edit it in place; a public
    post-hook that returns something raises; the private one's result replaces the dict at
    the root only; the metadata records each module's version."""
    torch = pytest.importorskip("torch")
    results = []
    for lib in (fibril, torch):
        model, log = _nested(lib), []
        model.register_state_dict_pre_hook(lambda m, prefix, keep_vars: log.append(("pre", prefix, keep_vars)))
        model[1].register_state_dict_pre_hook(lambda m, prefix, keep_vars: log.append(("pre", prefix, keep_vars)))

        def drop_bias(module, sd, prefix, meta, log=log):
            log.append(("post", prefix, sorted(sd), meta))
            del sd[prefix + "0.bias"]

        model[1].register_state_dict_post_hook(drop_bias)
        model[1]._register_state_dict_hook(lambda m, sd, prefix, meta: {"ignored": 1})
        root = model._register_state_dict_hook(lambda m, sd, prefix, meta: collections.OrderedDict(extra=sd))
        state = model.state_dict(prefix="top.", keep_vars=True)
        assert list(state) == ["extra"]
        assert state["extra"]["top.0.weight"] is model[0].weight
        root.remove()
        plain = model.state_dict()
        results.append((log, list(plain), dict(plain._metadata)))
        model[0].register_state_dict_post_hook(lambda m, sd, prefix, meta: sd)
        with pytest.raises(RuntimeError, match="state_dict post-hook must return None"):
            model.state_dict()
    assert results[0] == results[1]


def _counter(lib):
    """A module with extra (non-tensor) state."""

    class Counter(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib.nn.Linear(2, 2)
            self.steps = 0

        def get_extra_state(self):
            return {"steps": self.steps}

        def set_extra_state(self, state):
            self.steps = state["steps"]

    return Counter()


def test_extra_state_round_trips_as_torch():
    torch = pytest.importorskip("torch")
    outcomes = []
    for lib in (fibril, torch):
        model = lib.nn.Sequential(_counter(lib), lib.nn.Linear(2, 1))
        model[0].steps = 7
        state = model.state_dict()
        assert state["0._extra_state"] == {"steps": 7}
        fresh = lib.nn.Sequential(_counter(lib), lib.nn.Linear(2, 1))
        fresh.load_state_dict(state)
        assert fresh[0].steps == 7
        del state["0._extra_state"]
        with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "0._extra_state"'):
            fresh.load_state_dict(state)
        lenient = fresh.load_state_dict(state, strict=False)
        unexpected = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.Linear(2, 1)).load_state_dict(
            model.state_dict(), strict=False)
        outcomes.append((list(model.state_dict()), lenient.missing_keys, lenient.unexpected_keys,
                         unexpected.missing_keys, unexpected.unexpected_keys))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == ["0._extra_state", "0.lin.weight", "0.lin.bias", "1.weight", "1.bias"]


def test_load_state_dict_pre_hooks_edit_what_loads_as_torch():
    """A pre-hook renames an old key before its module loads (its children see the edit too);
    the private form takes no module."""
    torch = pytest.importorskip("torch")
    outcomes = []
    for lib in (fibril, torch):
        source, model, calls = _nested(lib), _nested(lib), []
        state = {k.replace("1.0.", "1.old."): v for k, v in source.state_dict().items()}

        def rename(module, sd, prefix, meta, strict, missing, unexpected, errors, calls=calls):
            calls.append((type(module).__name__, prefix, sorted(sd), strict))
            for key in [k for k in sd if ".old." in k]:
                sd[key.replace(".old.", ".0.")] = sd.pop(key)

        model[1].register_load_state_dict_pre_hook(rename)
        model[1][0]._register_load_state_dict_pre_hook(lambda sd, prefix, *rest, calls=calls: calls.append(prefix))
        result = model.load_state_dict(state)
        assert (result.missing_keys, result.unexpected_keys) == ([], [])
        weight = model[1][0].weight.detach()
        assert np.array_equal(weight.numpy(), source[1][0].weight.detach().numpy())
        outcomes.append(calls)
    assert outcomes[0] == outcomes[1]


def test_load_state_dict_post_hooks_edit_the_incompatible_keys_as_torch():
    torch = pytest.importorskip("torch")
    for lib in (fibril, torch):
        model, seen = _nested(lib), []
        state = model.state_dict()
        state.pop("1.0.bias")
        state["stray"] = lib.zeros(1)

        def forgive(module, keys):
            seen.append((list(keys.missing_keys), list(keys.unexpected_keys)))
            keys.missing_keys.clear()

        # model[1]'s post-hook runs after the root's own keys were checked, before the root's post-hook.
        model[1].register_load_state_dict_post_hook(forgive)
        handle = model.register_load_state_dict_post_hook(lambda m, keys: keys.unexpected_keys.remove("stray"))
        result = model.load_state_dict(state)
        assert seen == [(["1.0.bias"], ["stray"])] and (result.missing_keys, result.unexpected_keys) == ([], [])
        handle.remove()
        with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "stray"') as err:
            model.load_state_dict(state)
        assert "Missing" not in str(err.value)
        model.register_load_state_dict_post_hook(lambda m, keys: keys.missing_keys.append("made.up"))
        with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "made.up"'):
            model.load_state_dict(model.state_dict())
        model.register_load_state_dict_post_hook(lambda m, keys: keys)
        with pytest.raises(AssertionError, match="not expected to return new values"):
            model.load_state_dict(model.state_dict(), strict=False)


def test_load_state_dict_checks_its_argument_and_takes_metadata():
    with pytest.raises(TypeError, match="dict-like"):
        nn.Linear(1, 1).load_state_dict([("weight", fibril.zeros(1, 1))])
    model, seen = _nested(fibril), []
    model[1].register_load_state_dict_pre_hook(lambda m, sd, prefix, meta, *rest: seen.append((prefix, meta)))
    model.load_state_dict(model.state_dict(), assign=True)
    assert seen == [("1.", {"version": 1, "assign_to_params_buffers": True})]


# ---------------------------------------------------------------- ParameterList / ParameterDict

def test_parameter_containers_hold_any_object_as_torch():
    """Tensors become Parameters, modules submodules, anything else stays as it is; repr, state
    dict and parameters as torch's (torch's dtype names read fibril's)."""
    torch = pytest.importorskip("torch")

    def build(lib):
        values = [lib.zeros(2, 3), "abc", 3, lib.nn.Linear(1, 1), None, lib.zeros(()),
                  lib.nn.Parameter(lib.zeros(2, dtype=lib.float64))]
        entries = {"a": lib.zeros(2, 3), "b": "x", "c": None, "d": lib.nn.Linear(1, 1),
                   "e": lib.zeros(2, dtype=lib.float16)}
        return lib.nn.ParameterList(values), lib.nn.ParameterDict(entries)

    (our_list, our_dict), (their_list, their_dict) = build(fibril), build(torch)
    for ours, theirs in ((our_list, their_list), (our_dict, their_dict)):
        assert repr(ours) == repr(theirs).replace("torch.", "fibril.")
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [type(v).__name__ for v in our_list] == [type(v).__name__ for v in their_list]
    assert [type(v).__name__ for v in our_dict.values()] == [type(v).__name__ for v in their_dict.values()]
    params = build(fibril)[0]
    assert len(params) == 7 and params[1] == "abc" and params[4] is None and isinstance(params[0], nn.Parameter)
    assert isinstance(params[3], nn.Linear) and [type(v) for v in params[1:3]] == [str, int]
    params[1] = fibril.ones(1)
    assert isinstance(params[1], nn.Parameter) and "1" in dict(params.named_parameters())
    with pytest.raises(TypeError, match="cannot assign 'str' as parameter '1'"):
        params[1] = "again"  # as torch: a registered parameter takes a tensor or None
    with pytest.raises(TypeError, match="iterable"):
        params.extend(fibril.zeros(2))
    mixed = nn.ParameterDict({"m": nn.Linear(1, 1)})
    mixed["m"] = fibril.zeros(1)
    assert list(mixed.state_dict()) == ["m"] and not mixed._modules
