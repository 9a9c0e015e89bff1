"""fibril.utils.checkpoint against torch.utils.checkpoint in float64: gradients of inputs and
of parameters reached through closures equal to the plain run's (both variants), dropout
replayed from the saved RNG state, kwargs, non-tensor arguments and outputs,
checkpoint_sequential, torch's warnings and errors, and activations not kept after forward."""

import gc
import warnings
import weakref

import numpy as np
import pytest

import fibril
import fibril.nn as nn
from fibril.utils.checkpoint import CheckpointError, checkpoint, checkpoint_sequential
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")

VARIANTS = [pytest.param(True, id="reentrant"), pytest.param(False, id="non_reentrant")]


def _close(ours, theirs):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


def _mlp(lib):
    return lib.nn.Sequential(lib.nn.Linear(4, 6), lib.nn.Tanh(), lib.nn.Linear(6, 5), lib.nn.Sigmoid(),
                             lib.nn.Linear(5, 3))


def _pair():
    torch.manual_seed(0)
    theirs = _mlp(torch).double()
    ours = _mlp(fibril).double()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _inputs(requires_grad=True):
    x = np.random.default_rng(1).standard_normal((7, 4))
    return (fibril.tensor(x).requires_grad_(requires_grad), torch.tensor(x).requires_grad_(requires_grad))


def _check_grads(ours, theirs):
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert (p.grad is None) == (q.grad is None), name
        if q.grad is not None:
            _close(p.grad, q.grad)


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_gradients_equal_the_plain_run(use_reentrant):
    ours, theirs = _pair()
    x, tx = _inputs()
    y = checkpoint(lambda h: ours(h).square(), x, use_reentrant=use_reentrant)
    (theirs(tx).square() * 1.5).sum().backward()  # torch without checkpoint: the reference
    (y * 1.5).sum().backward()
    _close(y, theirs(tx).square())
    _close(x.grad, tx.grad)
    _check_grads(ours, theirs)


def test_non_reentrant_reaches_parameters_when_no_input_requires_grad():
    ours, theirs = _pair()
    x, tx = _inputs(requires_grad=False)
    y = checkpoint(ours, x, use_reentrant=False)
    ty = torch.utils.checkpoint.checkpoint(theirs, tx, use_reentrant=False)
    assert y.requires_grad and ty.requires_grad
    y.sum().backward(), ty.sum().backward()
    _check_grads(ours, theirs)


def test_reentrant_without_inputs_that_require_grad_warns_and_gives_no_gradients():
    ours, theirs = _pair()
    x, tx = _inputs(requires_grad=False)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True") as ours_w:
        y = checkpoint(ours, x, use_reentrant=True)
    with pytest.warns(UserWarning) as theirs_w:
        ty = torch.utils.checkpoint.checkpoint(theirs, tx, use_reentrant=True)
    assert str(ours_w[0].message) == str(theirs_w[0].message)
    assert y.requires_grad == ty.requires_grad is False


def test_autograd_grad_through_non_reentrant_checkpoint():
    ours, theirs = _pair()
    x, tx = _inputs()
    loss = checkpoint(ours, x, use_reentrant=False).tanh().sum()
    tloss = torch.utils.checkpoint.checkpoint(theirs, tx, use_reentrant=False).tanh().sum()
    got = fibril.autograd.grad(loss, [x, *ours.parameters()])
    want = torch.autograd.grad(tloss, [tx, *theirs.parameters()])
    for a, b in zip(got, want):
        _close(a, b)
    assert all(p.grad is None for p in ours.parameters())  # returned, not accumulated


def test_closure_over_a_tensor_with_history():
    p, tp = (t.detach() + 1.0 for t in _inputs())
    p.requires_grad_(), tp.requires_grad_()
    x, tx = _inputs()
    w, tw = p * 2.0, tp * 2.0
    y = checkpoint(lambda h: (h * w).exp(), x, use_reentrant=False)
    ty = torch.utils.checkpoint.checkpoint(lambda h: (h * tw).exp(), tx, use_reentrant=False)
    (y.sum() + w.square().sum()).backward(), (ty.sum() + tw.square().sum()).backward()
    _close(p.grad, tp.grad)
    _close(x.grad, tx.grad)


@pytest.mark.parametrize("outer", VARIANTS)
@pytest.mark.parametrize("inner", VARIANTS)
def test_nested_checkpoints(outer, inner):
    ours, theirs = _pair()
    x, tx = _inputs()

    def make(net, lib_checkpoint):
        return lambda h: net[3:](lib_checkpoint(net[:3], h, use_reentrant=inner)).exp()

    y = checkpoint(make(ours, checkpoint), x, use_reentrant=outer)
    ty = torch.utils.checkpoint.checkpoint(make(theirs, torch.utils.checkpoint.checkpoint), tx, use_reentrant=outer)
    y.sum().backward(), ty.sum().backward()
    _close(x.grad, tx.grad)
    _check_grads(ours, theirs)


def _dropout_net(p):
    return nn.Sequential(nn.Linear(6, 6), nn.Dropout(p), nn.Tanh(), nn.Linear(6, 2)).double()


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_dropout_draws_the_same_mask_when_recomputed(use_reentrant):
    fibril.manual_seed(3)
    net = _dropout_net(0.5)
    x = fibril.randn(8, 6, dtype=fibril.float64, requires_grad=True)

    def grads(use_checkpoint, preserve=True):
        net.zero_grad()
        x.grad = None
        fibril.manual_seed(11)
        y = checkpoint(net, x, use_reentrant=use_reentrant, preserve_rng_state=preserve) if use_checkpoint else net(x)
        y.square().sum().backward()
        after = fibril.rand(3)  # the stream goes on as though nothing were recomputed
        return [x.grad] + [p.grad for p in net.parameters()] + [after]

    for a, b in zip(grads(True), grads(False)):
        _close(a, b)
    # without the saved state the recomputation draws another mask: other gradients
    unpreserved = grads(True, preserve=False)
    assert not np.allclose(unpreserved[0].numpy(), grads(False)[0].numpy())


def test_kwargs_and_non_tensor_arguments_and_outputs():
    ours, theirs = _pair()
    x, tx = _inputs()
    z, tz = (t.detach() * 0.5 for t in _inputs())

    def make(net):
        def fn(h, n, tag, *, bias, scale=1.0):
            out = net(h * scale) + bias.sum()
            return {"out": out, "tag": tag, "pair": (out.exp() * n, n)}

        return fn

    got = checkpoint(make(ours), x, 3, "a", use_reentrant=False, bias=z, scale=2.0)
    want = torch.utils.checkpoint.checkpoint(make(theirs), tx, 3, "a", use_reentrant=False, bias=tz, scale=2.0)
    assert got["tag"] == "a" and got["pair"][1] == 3 and isinstance(got["pair"], tuple)
    _close(got["out"], want["out"])
    (got["out"].sum() + got["pair"][0].mean()).backward()
    (want["out"].sum() + want["pair"][0].mean()).backward()
    _close(x.grad, tx.grad)
    _check_grads(ours, theirs)


def test_reentrant_tuple_outputs_with_non_tensors():
    ours, theirs = _pair()
    x, tx = _inputs()

    def make(net):
        return lambda h, k, nothing: (net(h), k, "tag", net(h).tanh() * k if nothing is None else None)

    got = checkpoint(make(ours), x, 2.0, None, use_reentrant=True)
    want = torch.utils.checkpoint.checkpoint(make(theirs), tx, 2.0, None, use_reentrant=True)
    assert got[1:3] == want[1:3] == (2.0, "tag")
    got[3].sum().backward(), want[3].sum().backward()  # output 0 gets no gradient: zeros
    _close(x.grad, tx.grad)
    _check_grads(ours, theirs)


def test_reentrant_refuses_kwargs_as_torch():
    x, tx = _inputs()
    with pytest.raises(ValueError) as ours:
        checkpoint(lambda h, scale: h * scale, x, use_reentrant=True, scale=2.0)
    with pytest.raises(ValueError) as theirs:
        torch.utils.checkpoint.checkpoint(lambda h, scale: h * scale, tx, use_reentrant=True, scale=2.0)
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError, match="only supported when use_reentrant=False"):
        checkpoint(lambda h: h, x, use_reentrant=True, debug=True)


def test_use_reentrant_none_warns_as_torch_and_means_reentrant():
    x, tx = _inputs()
    with pytest.warns(UserWarning) as ours:
        y = checkpoint(lambda h: h.exp(), x)
    with pytest.warns(UserWarning) as theirs:
        torch.utils.checkpoint.checkpoint(lambda h: h.exp(), tx)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    assert y.grad_fn.name() == "CheckpointFunctionBackward0"
    with pytest.warns(UserWarning) as ours:
        checkpoint_sequential([nn.Tanh(), nn.Tanh()], 2, x)
    with pytest.warns(UserWarning) as theirs:
        torch.utils.checkpoint.checkpoint_sequential([torch.nn.Tanh(), torch.nn.Tanh()], 2, tx)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]


def test_invalid_determinism_check_raises_as_torch():
    x, tx = _inputs()
    with pytest.raises(ValueError) as ours:
        checkpoint(lambda h: h, x, use_reentrant=False, determinism_check="strict")
    with pytest.raises(ValueError) as theirs:
        torch.utils.checkpoint.checkpoint(lambda h: h, tx, use_reentrant=False, determinism_check="strict")
    assert str(ours.value) == str(theirs.value)


def test_recomputation_that_differs_raises_unless_the_check_is_off():
    calls = []

    def shifty(h):
        calls.append(1)
        return h[: 7 - len(calls)].exp()

    x, _ = _inputs()
    y = checkpoint(shifty, x, use_reentrant=False)
    with pytest.raises(CheckpointError, match="different metadata"):
        y.sum().backward()
    calls.clear()
    x.grad = None
    y = checkpoint(shifty, x, use_reentrant=False, determinism_check="none")
    with pytest.raises(RuntimeError, match="Mismatch in shape"):  # the engine's own check, then
        y.sum().backward()


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_input_changed_in_place_after_forward_raises(use_reentrant):
    x, _ = _inputs()
    h = x * 1.0
    y = checkpoint(lambda a: a.exp().sum(), h, use_reentrant=use_reentrant)
    with fibril.no_grad():
        h.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_checkpoint_sequential_matches_the_plain_run(use_reentrant):
    ours, theirs = _pair()
    x, tx = _inputs()
    y = checkpoint_sequential(ours, 2, x, use_reentrant=use_reentrant)
    ty = torch.utils.checkpoint.checkpoint_sequential(theirs, 2, tx, use_reentrant=use_reentrant)
    _close(y, ty)
    y.square().sum().backward(), ty.square().sum().backward()
    _close(x.grad, tx.grad)
    _check_grads(ours, theirs)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: extra"):
        checkpoint_sequential(ours, 2, x, use_reentrant=use_reentrant, extra=1)


def test_without_grad_mode_the_function_just_runs():
    ours, _ = _pair()
    x, _ = _inputs()
    with fibril.no_grad():
        y = checkpoint(ours, x, use_reentrant=False)
    assert not y.requires_grad


def test_a_gradient_penalty_differentiates_through_the_region():
    """create_graph through a non-reentrant region: the penalty's gradients reach the input
    and the parameters the region used, as torch's."""
    ours, theirs = _pair()
    x, xt = _inputs()
    for lib, net, ck, inp in ((fibril, ours, checkpoint, x), (torch, theirs, torch.utils.checkpoint.checkpoint, xt)):
        y = ck(lambda h: net(h).tanh(), inp, use_reentrant=False).sum()
        (g,) = lib.autograd.grad(y, inp, create_graph=True)
        (g * g).sum().backward()
    _close(x.grad, xt.grad)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        _close(p.grad, q.grad)


@pytest.mark.parametrize("use_reentrant", VARIANTS)
def test_activations_are_not_kept_after_forward(use_reentrant):
    net = nn.Sequential(*(nn.Linear(64, 64) for _ in range(4))).double()
    kept = []

    def traced(h):
        for layer in net:
            h = layer(h).tanh()
            kept.append(weakref.ref(h))
        return h

    x = fibril.randn(256, 64, dtype=fibril.float64, requires_grad=True)
    plain = traced(x)
    gc.collect()
    assert sum(r() is not None for r in kept) == 4  # the graph holds them: the check can fail
    del plain
    kept.clear()
    gc.collect()
    before = fibril.memory_stats()["allocated"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = checkpoint(traced, x, use_reentrant=use_reentrant)
    gc.collect()
    alive = [r() for r in kept[:-1]]
    assert all(t is None for t in alive), "an intermediate activation outlived the checkpointed forward"
    assert fibril.memory_stats()["allocated"] - before <= 2 * y.nbytes
    y.sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in net.parameters())
