"""Optimizers and gradient clipping against torch.optim / torch.nn.utils: 100-step
trajectories on random params and gradients (odd shapes, one over a kernel span), param
groups, state dicts (ours and torch's), frozen params, bad options."""

import math

import numpy as np
import pytest

import fibril
from fibril import nn, optim
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")


SHAPES = [(3,), (5, 7), (2, 3, 4), (1,), (33000,)]  # the last spans two kernel work items
STEPS = 100
DTYPES = [np.float32, np.float64]

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.02, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True)),
    ("Adam", dict(lr=0.01, betas=(0.6, 0.9), amsgrad=True, weight_decay=0.05)),  # lerp weight >= 0.5
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.9, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, maximize=True, eps=1e-4)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1, eps=1e-5)),
    ("Adagrad", dict(lr=0.1, maximize=True)),
]


def make_params(rng, dtype, shapes=SHAPES):
    values = [rng.standard_normal(s).astype(dtype) for s in shapes]
    return ([torch.tensor(v, requires_grad=True) for v in values],
            [nn.Parameter(fibril.tensor(v)) for v in values])


def set_grads(rng, tparams, fparams, skip=()):
    for i, (tp, fp) in enumerate(zip(tparams, fparams)):
        if i in skip:
            tp.grad, fp.grad = None, None
            continue
        g = rng.standard_normal(tuple(tp.shape)).astype(fp.detach().numpy().dtype)
        tp.grad, fp.grad = torch.tensor(g), fibril.tensor(g)


def assert_params_close(fparams, tparams, rtol=1e-6):
    for fp, tp in zip(fparams, tparams):
        ours, ref = fp.detach().numpy(), tp.detach().numpy()
        assert ours.dtype == ref.dtype
        np.testing.assert_allclose(ours, ref, rtol=rtol, atol=rtol * np.abs(ref).max())


def run_both(name, tgroups, fgroups, rng, steps=STEPS, skip=(), **options):
    topt, fopt = getattr(torch.optim, name)(tgroups, **options), getattr(optim, name)(fgroups, **options)
    tparams = [p for g in topt.param_groups for p in g["params"]]
    fparams = [p for g in fopt.param_groups for p in g["params"]]
    for _ in range(steps):
        set_grads(rng, tparams, fparams, skip)
        topt.step()
        fopt.step()
    return topt, fopt, tparams, fparams


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, options", CASES)
def test_trajectory_matches_torch(name, options, dtype):
    rng = np.random.default_rng(0)
    tparams, fparams = make_params(rng, dtype)
    run_both(name, tparams, fparams, rng, **options)
    assert_params_close(fparams, tparams)


@pytest.mark.parametrize("name, extra", [("SGD", dict(momentum=0.9)), ("Adam", dict(amsgrad=True)),
                                         ("RMSprop", dict(centered=True)), ("Adagrad", dict(lr_decay=0.1))])
def test_param_groups_with_their_own_options(name, extra):
    rng = np.random.default_rng(1)
    tparams, fparams = make_params(rng, np.float32)
    lr = {"SGD": 0.05, "Adam": 0.01, "RMSprop": 0.01, "Adagrad": 0.1}[name]

    def groups(params):
        return [{"params": params[:2]}, {"params": params[2:], "lr": lr / 3, "weight_decay": 0.1, **extra}]

    topt, fopt, _, _ = run_both(name, groups(tparams), groups(fparams), rng, steps=30, lr=lr)
    assert_params_close(fparams, tparams)
    assert fopt.param_groups[1]["lr"] == lr / 3 and fopt.param_groups[0]["weight_decay"] == 0


def test_mixed_dtypes_in_one_group():
    rng = np.random.default_rng(2)
    t32, f32 = make_params(rng, np.float32, [(4, 5)])
    t64, f64 = make_params(rng, np.float64, [(6,)])
    run_both("Adam", t32 + t64, f32 + f64, rng, steps=20, lr=0.01)
    assert_params_close(f32 + f64, t32 + t64)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_frozen_params_untouched(name):
    rng = np.random.default_rng(3)
    tparams, fparams = make_params(rng, np.float32)
    before = fparams[1].detach().numpy().copy()
    options = {"lr": 0.01, "momentum": 0.9} if name != "Adagrad" else {"lr": 0.01}
    if name == "Adam":
        options.pop("momentum")
    topt, fopt, _, _ = run_both(name, tparams, fparams, rng, steps=10, skip=(1,), **options)
    np.testing.assert_array_equal(fparams[1].detach().numpy(), before)
    assert_params_close(fparams, tparams)
    if name != "Adagrad":  # Adagrad makes every param's state up front, as torch
        assert fparams[1] not in fopt.state and sorted(fopt.state_dict()["state"]) == [0, 2, 3, 4]


def test_frozen_by_module_requires_grad():
    fibril.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    model[0].requires_grad_(False)
    opt = optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().numpy().copy() for p in model.parameters()]
    model(fibril.randn(5, 4)).sum().backward()
    opt.step()
    after = [p.detach().numpy() for p in model.parameters()]
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    assert not np.array_equal(after[2], before[2])


@pytest.mark.parametrize("name, options", [("SGD", dict(lr=0.05, momentum=0.9)), ("Adam", dict(amsgrad=True)),
                                           ("RMSprop", dict(momentum=0.5, centered=True)), ("Adagrad", dict())])
def test_state_dict_round_trip(name, options):
    rng = np.random.default_rng(4)
    tparams, fparams = make_params(rng, np.float32)
    topt, fopt, _, _ = run_both(name, tparams, fparams, rng, steps=10, **options)
    sd = fopt.state_dict()
    tsd = topt.state_dict()
    assert sd["param_groups"] == tsd["param_groups"] or {
        k: v for k, v in sd["param_groups"][0].items()} == {k: v for k, v in tsd["param_groups"][0].items()}
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for i, state in sd["state"].items():
        assert sorted(state) == sorted(tsd["state"][i])
        for key, value in state.items():
            np.testing.assert_allclose(value.numpy(), tsd["state"][i][key].numpy(), rtol=1e-5, atol=1e-6)
    # A fresh optimizer on copies of the params, loaded from our state dict, continues the same.
    copies = [nn.Parameter(fibril.tensor(p.detach().numpy())) for p in fparams]
    fresh = getattr(optim, name)(copies, **options)
    fresh.load_state_dict(sd)
    for _ in range(5):
        set_grads(rng, tparams, fparams)
        for c, p in zip(copies, fparams):
            c.grad = p.grad
        fopt.step()
        fresh.step()
        topt.step()
    assert_params_close(copies, [p.detach() for p in fparams], rtol=0)
    assert_params_close(fparams, tparams)


@pytest.mark.parametrize("name, options", [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
                                           ("AdamW", dict(lr=0.01, amsgrad=True)),
                                           ("RMSprop", dict(momentum=0.5)), ("Adagrad", dict(lr_decay=0.01))])
def test_loads_torch_state_dict(name, options):
    rng = np.random.default_rng(5)
    tparams, fparams = make_params(rng, np.float64)
    topt = getattr(torch.optim, name)(tparams, **options)
    for _ in range(10):
        set_grads(rng, tparams, fparams)
        topt.step()
    for fp, tp in zip(fparams, tparams):
        fp.detach().numpy()[...] = tp.detach().numpy()
    fopt = getattr(optim, name)(fparams, **options)
    fopt.load_state_dict(topt.state_dict())  # torch tensors, torch layout
    for _ in range(20):
        set_grads(rng, tparams, fparams)
        topt.step()
        fopt.step()
    assert_params_close(fparams, tparams)
    assert fopt.state[fparams[0]][next(iter(topt.state[tparams[0]]))] is not None


def test_load_state_dict_mismatch():
    a = [nn.Parameter(fibril.zeros(2)), nn.Parameter(fibril.zeros(3))]
    opt = optim.SGD(a, lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": []})
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0], "lr": 0.1}]})


def test_zero_grad_and_closure():
    p = nn.Parameter(fibril.tensor([1.0, -2.0]))
    opt = optim.SGD([p], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 5.0
    np.testing.assert_allclose(p.detach().numpy(), [0.0, 0.0])
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None


def test_step_bumps_the_version():
    p = nn.Parameter(fibril.ones(3))
    y = p * 2
    saved = p * p  # saves p
    opt = optim.SGD([p], lr=0.1)
    p.grad = fibril.ones(3)
    opt.step()
    with pytest.raises(RuntimeError, match="inplace"):
        saved.sum().backward()
    del y


def test_non_contiguous_param_and_grad():
    base = fibril.tensor(np.arange(12.0, dtype=np.float32).reshape(3, 4))
    p = base.T  # a view, updated in place through it
    p.requires_grad_(True)
    g = fibril.ones(4, 3)
    p.grad = fibril.tensor(np.ones((3, 4), dtype=np.float32)).T
    optim.SGD([p], lr=0.5).step()
    np.testing.assert_array_equal(base.numpy(), np.arange(12.0, dtype=np.float32).reshape(3, 4) - 0.5)
    del g


@pytest.mark.parametrize("make, message", [
    (lambda ps: optim.SGD(ps, lr=-0.1), "Invalid learning rate"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=-1), "Invalid momentum value"),
    (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1), "Invalid weight_decay value"),
    (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda ps: optim.Adam(ps, lr=-1), "Invalid learning rate"),
    (lambda ps: optim.Adam(ps, eps=-1), "Invalid epsilon value"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), "Invalid beta parameter at index 0"),
    (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), "Invalid beta parameter at index 1"),
    (lambda ps: optim.AdamW(ps, weight_decay=-1), "Invalid weight_decay value"),
    (lambda ps: optim.RMSprop(ps, alpha=-1), "Invalid alpha value"),
    (lambda ps: optim.RMSprop(ps, momentum=-1), "Invalid momentum value"),
    (lambda ps: optim.Adagrad(ps, lr_decay=-1), "Invalid lr_decay value"),
    (lambda ps: optim.Adagrad(ps, initial_accumulator_value=-1), "Invalid initial_accumulator_value value"),
    (lambda ps: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda ps: optim.SGD([{"params": ps}, {"params": ps[:1]}], lr=0.1), "more than one parameter group"),
    (lambda ps: optim.SGD([{"params": ps, "lr": -1}], lr=0.1), "Invalid learning rate"),
])
def test_bad_options_raise_value_error_as_torch(make, message):
    params = [nn.Parameter(fibril.zeros(2)), nn.Parameter(fibril.zeros(3))]
    with pytest.raises(ValueError, match=message):
        make(params)


def test_bad_params_raise_type_error():
    p = nn.Parameter(fibril.zeros(2))
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([1.0], lr=0.1)


def test_grad_of_another_shape_is_refused():
    p = nn.Parameter(fibril.zeros(2, 3))
    p.grad = fibril.zeros(3)
    with pytest.raises(ValueError, match=r"\[adam\] grad 0 is float32\[3\]"):
        optim.Adam([p]).step()


def test_add_param_group_later():
    rng = np.random.default_rng(6)
    tparams, fparams = make_params(rng, np.float32)
    topt, fopt = torch.optim.Adam(tparams[:2], lr=0.01), optim.Adam(fparams[:2], lr=0.01)
    for _ in range(3):
        set_grads(rng, tparams, fparams)
        topt.step()
        fopt.step()
    topt.add_param_group({"params": tparams[2:], "lr": 0.02})
    fopt.add_param_group({"params": fparams[2:], "lr": 0.02})
    for _ in range(10):
        set_grads(rng, tparams, fparams)
        topt.step()
        fopt.step()
    assert_params_close(fparams, tparams)
    assert fopt.state_dict()["param_groups"][1]["params"] == [2, 3, 4]


# ------------------------------------------------------------------------------ clipping
def grads_pair(rng, dtype, scale=1.0):
    tparams, fparams = make_params(rng, dtype)
    for tp, fp in zip(tparams, fparams):
        g = (scale * rng.standard_normal(tuple(tp.shape))).astype(dtype)
        tp.grad, fp.grad = torch.tensor(g), fibril.tensor(g)
    return tparams, fparams


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype):
    rng = np.random.default_rng(7)
    tparams, fparams = grads_pair(rng, dtype)
    flat = np.concatenate([tp.grad.numpy().astype(np.float64).ravel() for tp in tparams])
    tnorm = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type)
    fnorm = nn.utils.clip_grad_norm_(fparams, max_norm, norm_type)
    assert fnorm.shape == () and fnorm.dtype == (fibril.float32 if dtype == np.float32 else fibril.float64)
    # The exact norm (float64) to 1e-6; torch's float32 sums (1- and 3-norms) are a few ulps off it.
    p = math.inf if norm_type == "inf" else norm_type
    np.testing.assert_allclose(fnorm.item(), np.linalg.norm(flat, p), rtol=1e-6)
    np.testing.assert_allclose(fnorm.item(), tnorm.item(), rtol=1e-5)
    for fp, tp in zip(fparams, tparams):
        np.testing.assert_allclose(fp.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-9)


def test_clip_grad_norm_skips_missing_grads_and_takes_one_tensor():
    p, q = nn.Parameter(fibril.zeros(2)), nn.Parameter(fibril.zeros(2))
    p.grad = fibril.tensor([3.0, 4.0])
    assert nn.utils.clip_grad_norm_([p, q], 1.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-5)
    assert q.grad is None
    assert nn.utils.clip_grad_norm_(p, 10.0).item() == pytest.approx(1.0, rel=1e-5)
    assert nn.utils.clip_grad_norm_([q], 1.0).item() == 0.0


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_clip_grad_norm_nonfinite(bad):
    p = nn.Parameter(fibril.zeros(3))
    p.grad = fibril.tensor([1.0, bad, 2.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad.numpy(), [1.0, bad, 2.0])  # untouched
    tp = torch.nn.Parameter(torch.zeros(3))
    tp.grad = torch.tensor([1.0, bad, 2.0])
    tnorm = torch.nn.utils.clip_grad_norm_([tp], 1.0)
    fnorm = nn.utils.clip_grad_norm_([p], 1.0)
    np.testing.assert_array_equal(fnorm.item(), tnorm.item())
    np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())


def test_clip_grad_norm_bad_norm_type():
    p = nn.Parameter(fibril.zeros(3))
    p.grad = fibril.ones(3)
    with pytest.raises(ValueError, match="norm_type"):
        nn.utils.clip_grad_norm_([p], 1.0, norm_type=0)
    with pytest.raises(ValueError, match="norm_type"):
        nn.utils.clip_grad_norm_([p], 1.0, norm_type="fro")


def test_clip_grad_value_matches_torch():
    rng = np.random.default_rng(8)
    tparams, fparams = grads_pair(rng, np.float32)
    torch.nn.utils.clip_grad_value_(tparams, 0.5)
    nn.utils.clip_grad_value_(fparams, 0.5)
    for fp, tp in zip(fparams, tparams):
        np.testing.assert_array_equal(fp.grad.numpy(), tp.grad.numpy())


def test_norm_independent_of_threads(num_threads):
    rng = np.random.default_rng(9)
    _, fparams = grads_pair(rng, np.float32)
    grads = [p.grad for p in fparams] * 10
    num_threads(1)
    one = nn.utils.get_total_norm(grads).item()
    num_threads(2)
    assert nn.utils.get_total_norm(grads).item() == one


def test_penalties_are_differentiable():
    p = nn.Parameter(fibril.tensor([1.0, -2.0]))
    q = nn.Parameter(fibril.tensor([3.0]))
    loss = nn.utils.l1_penalty([p, q], 0.5) + nn.utils.l2_penalty([p, q], 0.1)
    assert loss.item() == pytest.approx(0.5 * 6 + 0.1 * 14)
    loss.backward()
    np.testing.assert_allclose(p.grad.numpy(), [0.5 + 0.2, -0.5 - 0.4], rtol=1e-6)


# ------------------------------------------------------------------------------------- CUDA
# The multi-tensor CUDA steps (csrc/cuda/optim.cu) step by step against the CPU optimizers on the
# same gradients: one launch per step over all params (the 33000-element one spans several
# chunks; a view at an odd offset takes the scalar path). Under FIBRIL_CUDA_EMULATOR=1 they run
# on the CPU emulator.
CUDA_SHAPES = [(3,), (5, 7), (1,), (33000,), (2, 3, 4)]


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, options", CASES)
def test_cuda_steps_match_cpu(name, options, dtype):
    rng = np.random.default_rng(7)
    values = [rng.standard_normal(s).astype(dtype) for s in CUDA_SHAPES]
    cparams = [nn.Parameter(fibril.tensor(v)) for v in values]
    dparams = [nn.Parameter(fibril.tensor(v, device="cuda")) for v in values]
    copt, dopt = getattr(optim, name)(cparams, **options), getattr(optim, name)(dparams, **options)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for _ in range(4):
        for cp, dp in zip(cparams, dparams):
            g = rng.standard_normal(cp.shape).astype(dtype)
            cp.grad, dp.grad = fibril.tensor(g), fibril.tensor(g, device="cuda")
        copt.step()
        dopt.step()
        for cp, dp in zip(cparams, dparams):
            assert dp.device == "cuda:0"
            ref = cp.detach().numpy()
            np.testing.assert_allclose(dp.detach().cpu().numpy(), ref, rtol=rtol, atol=rtol * np.abs(ref).max())
    for cp, dp in zip(cparams, dparams):  # the state too, and on the device
        for key, value in copt.state[cp].items():
            other = dopt.state[dp][key]
            if key == "step":
                assert other.item() == value.item()
                continue
            assert other.device == "cuda:0"
            np.testing.assert_allclose(other.cpu().numpy(), value.numpy(), rtol=rtol, atol=rtol * 10)


@pytest.mark.cuda
def test_cuda_many_tensors_unaligned_view_and_mixed_devices():
    rng = np.random.default_rng(8)
    values = [rng.standard_normal(7 + i).astype(np.float32) for i in range(45)]  # over one launch's table
    cparams = [nn.Parameter(fibril.tensor(v)) for v in values]
    dparams = [nn.Parameter(fibril.tensor(v, device="cuda")) for v in values]
    base = fibril.tensor(rng.standard_normal(4101).astype(np.float32), device="cuda")
    view = base[1:]  # 4 bytes past an aligned start: the scalar path
    view.requires_grad_(True)
    cview = nn.Parameter(fibril.tensor(base.cpu().numpy()[1:]))
    copt, dopt = optim.Adam(cparams + [cview], lr=0.01), optim.Adam(dparams + [view], lr=0.01)
    for _ in range(2):
        for cp, dp in zip(cparams + [cview], dparams + [view]):
            g = rng.standard_normal(cp.shape).astype(np.float32)
            cp.grad, dp.grad = fibril.tensor(g), fibril.tensor(g, device="cuda")
        copt.step()
        dopt.step()
    for cp, dp in zip(cparams + [cview], dparams + [view]):
        np.testing.assert_allclose(dp.detach().cpu().numpy(), cp.detach().numpy(), rtol=1e-5, atol=1e-6)
    p = nn.Parameter(fibril.zeros(3, device="cuda"))
    p.grad = fibril.ones(3)
    with pytest.raises(RuntimeError, match="same device"):
        optim.SGD([p], lr=0.1).step()


@pytest.mark.cuda
def test_cuda_sgd_fresh_and_continuing_buffers_in_one_step():
    """A param whose first gradient comes at step 2 has a fresh buffer while the other's continues."""
    rng = np.random.default_rng(9)
    values = [rng.standard_normal(5000).astype(np.float32) for _ in range(2)]
    cparams = [nn.Parameter(fibril.tensor(v)) for v in values]
    dparams = [nn.Parameter(fibril.tensor(v, device="cuda")) for v in values]
    opts = dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    copt, dopt = optim.SGD(cparams, **opts), optim.SGD(dparams, **opts)
    for step in range(3):
        for i, (cp, dp) in enumerate(zip(cparams, dparams)):
            g = rng.standard_normal(5000).astype(np.float32)
            cp.grad, dp.grad = (None, None) if step == 0 and i == 1 else (fibril.tensor(g),
                                                                          fibril.tensor(g, device="cuda"))
        copt.step()
        dopt.step()
    for cp, dp in zip(cparams, dparams):
        np.testing.assert_allclose(dp.detach().cpu().numpy(), cp.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_load_state_dict_of_an_older_checkpoint_fills_new_options():
    """param_groups saved before an option existed (no 'maximize', 'foreach'...) take the
    optimizer's defaults, as torch."""
    p = fibril.nn.Parameter(fibril.ones(2))
    opt = fibril.optim.Adam([p], lr=0.1)
    saved = opt.state_dict()
    for key in ("maximize", "foreach", "capturable", "differentiable", "fused"):
        saved["param_groups"][0].pop(key, None)
    opt.load_state_dict(saved)
    p.sum().backward()
    opt.step()
    assert opt.param_groups[0]["maximize"] is False
    np.testing.assert_allclose(p.detach().numpy(), [0.9, 0.9], rtol=1e-6)
