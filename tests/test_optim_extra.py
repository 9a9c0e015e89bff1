"""NAdam, RAdam, Adamax, Adadelta and ASGD against torch.optim: 20-step trajectories on two
param groups (weight decay, maximize), state dicts exchanged with torch both ways mid-run, an
lr scheduler driving them, bad options; one closed-form step each where torch is missing."""

import math

import numpy as np
import pytest

import fibril
from fibril import nn, optim
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")

SHAPES = [(3,), (5, 7), (2, 3, 4), (1,)]
STEPS = 20
RTOL = {np.float32: 2e-5, np.float64: 1e-11}

CASES = [
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, betas=(0.8, 0.95), weight_decay=0.1, momentum_decay=0.01, maximize=True)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict()),  # rho_t passes 5 at step 6: both branches run
    ("RAdam", dict(lr=0.01, betas=(0.6, 0.9), eps=1e-6, weight_decay=0.1, maximize=True)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, betas=(0.6, 0.99), eps=1e-4, weight_decay=0.1, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1, maximize=True)),
    ("ASGD", dict()),
    ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.5, t0=8, weight_decay=0.1, maximize=True)),  # averages from step 9
]


def make_params(rng, dtype):
    values = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    return [torch.tensor(v, requires_grad=True) for v in values], [nn.Parameter(fibril.tensor(v)) for v in values]


def groups(params):
    """Two groups, the second with its own lr and weight decay."""
    return [{"params": params[:2]}, {"params": params[2:], "lr": 0.003, "weight_decay": 0.05}]


def step_both(rng, topt, fopt, steps, grad=None):
    """Steps both optimizers on the same gradients: grad(rng, shape, dtype), normal by default."""
    grad = grad or (lambda rng, shape, dtype: rng.standard_normal(shape).astype(dtype))
    tparams = [p for g in topt.param_groups for p in g["params"]]
    fparams = [p for g in fopt.param_groups for p in g["params"]]
    for _ in range(steps):
        for tp, fp in zip(tparams, fparams):
            g = grad(rng, tuple(tp.shape), fp.detach().numpy().dtype)
            tp.grad, fp.grad = torch.tensor(g), fibril.tensor(g)
        topt.step()
        fopt.step()


def assert_close(fparams, tparams, dtype):
    for fp, tp in zip(fparams, tparams):
        ours, ref = fp.detach().numpy(), tp.detach().numpy()
        assert ours.dtype == ref.dtype
        np.testing.assert_allclose(ours, ref, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(ref).max())


def assert_state_dicts_match(fsd, tsd, rtol):
    """fibril's optimizer state dict holds torch's entries: the same params and keys, each value
    of torch's dtype and within rtol of torch's."""
    assert sorted(fsd["state"]) == sorted(tsd["state"])
    for i, state in fsd["state"].items():
        assert sorted(state) == sorted(tsd["state"][i])
        for key, value in state.items():
            assert value.dtype.name == str(tsd["state"][i][key].dtype).removeprefix("torch.")
            np.testing.assert_allclose(value.numpy(), tsd["state"][i][key].numpy(), rtol=rtol)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, options", CASES)
def test_trajectory_matches_torch(name, options, dtype):
    rng = np.random.default_rng(0)
    tparams, fparams = make_params(rng, dtype)
    before = [p.detach().numpy().copy() for p in fparams]
    topt = getattr(torch.optim, name)(groups(tparams), **options)
    fopt = getattr(optim, name)(groups(fparams), **options)
    step_both(rng, topt, fopt, STEPS)
    assert_close(fparams, tparams, dtype)
    assert all(not np.array_equal(p.detach().numpy(), b) for p, b in zip(fparams, before))
    assert fopt.defaults == topt.defaults and fopt.param_groups[1]["weight_decay"] == 0.05


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, options", CASES[1::2])
def test_state_dicts_exchange_with_torch(name, options, dtype):
    rng = np.random.default_rng(1)
    tparams, fparams = make_params(rng, dtype)
    topt = getattr(torch.optim, name)(groups(tparams), **options)
    fopt = getattr(optim, name)(groups(fparams), **options)
    step_both(rng, topt, fopt, 7)
    tsd, fsd = topt.state_dict(), fopt.state_dict()
    assert_state_dicts_match(fsd, tsd, RTOL[dtype] * 10)

    # torch's state into fibril (on torch's params), fibril's into torch (on fibril's): both continue as before
    t_copies = [torch.tensor(p.detach().numpy(), requires_grad=True) for p in fparams]
    f_copies = [nn.Parameter(fibril.tensor(p.detach().numpy())) for p in tparams]
    from_torch = getattr(optim, name)(groups(f_copies), **options)
    from_torch.load_state_dict(tsd)
    from_fibril = getattr(torch.optim, name)(groups(t_copies), **options)
    from_fibril.load_state_dict({"state": {i: {k: torch.from_numpy(v.numpy().copy()) for k, v in s.items()}
                                           for i, s in fsd["state"].items()},
                                 "param_groups": fsd["param_groups"]})
    seed = rng.integers(1 << 30)
    step_both(np.random.default_rng(seed), topt, from_torch, 10)
    step_both(np.random.default_rng(seed), from_fibril, fopt, 10)
    assert_close(f_copies, tparams, dtype)
    assert_close(fparams, t_copies, dtype)


@needs_torch
@pytest.mark.parametrize("name", ["NAdam", "RAdam", "Adamax", "Adadelta", "ASGD"])
def test_step_lr_drives_them_as_torch(name):
    rng = np.random.default_rng(2)
    tparams, fparams = make_params(rng, np.float64)
    topt, fopt = getattr(torch.optim, name)(groups(tparams)), getattr(optim, name)(groups(fparams))
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=3, gamma=0.5)
    fsched = optim.lr_scheduler.StepLR(fopt, step_size=3, gamma=0.5)
    for _ in range(10):
        step_both(rng, topt, fopt, 1)
        tsched.step()
        fsched.step()
        assert fsched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-15)
    assert fopt.param_groups[0]["lr"] == pytest.approx(fopt.defaults["lr"] / 8)
    assert_close(fparams, tparams, np.float64)


@pytest.mark.parametrize("name, options, message", [
    ("NAdam", dict(lr=-1), "Invalid learning rate: -1"),
    ("NAdam", dict(momentum_decay=-0.1), "Invalid momentum_decay value: -0.1"),
    ("RAdam", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    ("RAdam", dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    ("Adamax", dict(betas=(-0.1, 0.9)), "Invalid beta parameter at index 0: -0.1"),
    ("Adamax", dict(weight_decay=-1), "Invalid weight_decay value: -1"),
    ("Adadelta", dict(rho=1.5), "Invalid rho value: 1.5"),
    ("Adadelta", dict(eps=-1), "Invalid epsilon value: -1"),
    ("ASGD", dict(lr=-0.1), "Invalid learning rate: -0.1"),
])
def test_bad_options_raise_value_error_as_torch(name, options, message):
    with pytest.raises(ValueError, match=message):
        getattr(optim, name)([nn.Parameter(fibril.zeros(2))], **options)
    if torch is not None:
        with pytest.raises(ValueError, match=message):
            getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **options)


def closed_form_first_step(name, p, g, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Each optimizer's first step from zero state, worked out by hand."""
    if name == "NAdam":  # m = (1-b1) g, v = (1-b2) g^2, denominator sqrt(v / (1-b2)) + eps = |g| + eps
        mu1 = beta1 * (1 - 0.5 * 0.96 ** 0.004)
        mu2 = beta1 * (1 - 0.5 * 0.96 ** 0.008)
        product = float(np.float32(mu1))  # the product of the mu's is kept in float32
        return p - lr * g / (abs(g) + eps) * ((1 - mu1) / (1 - product) + mu2 * (1 - beta1) / (1 - product * mu2))
    if name == "RAdam":  # rho_1 = 1 <= 5: plain bias-corrected momentum
        return p - lr * g
    if name == "Adamax":  # u = max(0, |g| + eps), step lr / (1 - b1) * (1 - b1) g / u
        return p - lr * g / (abs(g) + eps)
    if name == "Adadelta":  # v = (1-rho) g^2, delta = sqrt(eps) / sqrt(v + eps) * g
        rho, eps = 0.9, 1e-6
        return p - lr * math.sqrt(eps) / np.sqrt((1 - rho) * g * g + eps) * g
    if name == "ASGD":  # eta starts at lr, in float32
        eta = float(np.float32(lr))
        return (1 - 1e-4 * eta) * p - eta * g


@pytest.mark.parametrize("name", ["NAdam", "RAdam", "Adamax", "Adadelta", "ASGD"])
def test_first_step_closed_form(name):
    p0, g = np.array([1.5, -2.0, 0.25]), np.array([0.3, -4.0, 1e-3])
    p = nn.Parameter(fibril.tensor(p0))
    opt = getattr(optim, name)([p])
    p.grad = fibril.tensor(g)
    opt.step()
    lr = opt.defaults["lr"]
    np.testing.assert_allclose(p.detach().numpy(), closed_form_first_step(name, p0, g, lr), rtol=1e-12)
    assert opt.state[p]["step"].item() == 1.0


def test_maximize_climbs_and_frozen_params_stay():
    frozen, p = nn.Parameter(fibril.tensor([1.0, 2.0])), nn.Parameter(fibril.tensor([0.5]))
    for make in (optim.NAdam, optim.RAdam, optim.Adamax, optim.Adadelta, optim.ASGD):
        opt = make([frozen, p], maximize=True)
        before = p.item()
        p.grad = fibril.tensor([1.0])
        opt.step()
        assert p.item() > before and frozen.tolist() == [1.0, 2.0] and frozen not in opt.state
