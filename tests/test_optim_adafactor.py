"""Adafactor against torch.optim.Adafactor: params compared after every one of 20 steps (0-d,
1-D, 2-D, 3-D and 4-D params, two param groups; weight decay, maximize, custom eps/d/beta2_decay,
a tensor lr, torch's foreach path), the group-wide default eps1, state dicts exchanged with torch
both ways mid-run, an lr scheduler, the signature and bad options; closed-form first steps and a
state dict round trip where torch is missing."""

import inspect

import numpy as np
import pytest

import fibril
from fibril import nn, optim
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)
from test_optim_extra import assert_close, assert_state_dicts_match, step_both

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")

SHAPES = [(3,), (5, 7), (), (2, 3, 4), (2, 1, 3, 5), (1,)]
RTOL = {np.float32: 2e-5, np.float64: 1e-11}

CASES = [
    dict(),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.5, maximize=True),  # rho_t = 1/sqrt(t) < lr from step 5
    dict(lr=0.03, beta2_decay=-0.5, eps=(1e-3, 2.0), d=1.5, weight_decay=0.05, maximize=True),  # eps2 > RMS(p)
    dict(eps=(0.0, 1e-3), d=4.0),
    dict(lr=0.05, weight_decay=0.1, foreach=True),  # torch's multi-tensor path
]


def make_params(rng, dtype, shapes=SHAPES):
    values = [np.asarray(rng.standard_normal(s)).astype(dtype) for s in shapes]
    return [torch.tensor(v, requires_grad=True) for v in values], [nn.Parameter(fibril.tensor(v)) for v in values]


def groups(params):
    """Two groups, the second with its own lr, weight decay, eps and d."""
    return [{"params": params[:3]}, {"params": params[3:], "lr": 0.2, "weight_decay": 0.05, "eps": (1e-4, 1e-2),
                                     "d": 1.2}]


def grad(rng, shape, dtype):
    return np.asarray(rng.standard_normal(shape)).astype(dtype)


def step_and_compare(rng, topt, fopt, fparams, tparams, dtype, steps):
    for _ in range(steps):
        step_both(rng, topt, fopt, 1, grad=grad)
        assert_close(fparams, tparams, dtype)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", CASES)
def test_trajectory_matches_torch(options, dtype):
    rng = np.random.default_rng(0)
    tparams, fparams = make_params(rng, dtype)
    before = [p.detach().numpy().copy() for p in fparams]
    topt, fopt = torch.optim.Adafactor(groups(tparams), **options), optim.Adafactor(groups(fparams), **options)
    step_and_compare(rng, topt, fopt, fparams, tparams, dtype, 20)
    assert all(not np.array_equal(p.detach().numpy(), b) for p, b in zip(fparams, before))
    assert fopt.defaults == topt.defaults and fopt.param_groups[1]["d"] == 1.2
    for fp, tp in zip(fparams, tparams):
        assert sorted(fopt.state[fp]) == sorted(topt.state[tp])
        for key, value in fopt.state[fp].items():
            assert tuple(value.shape) == tuple(topt.state[tp][key].shape)
            np.testing.assert_allclose(value.numpy(), topt.state[tp][key].numpy(), rtol=RTOL[dtype] * 10)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lr", [0.3, [0.3]])
def test_tensor_lr_matches_torch(lr, dtype):
    """A float32 tensor lr rounds the step's scalars to float32, as torch's; rho_t is lr up to
    step 11, 1/sqrt(t) after."""
    rng = np.random.default_rng(3)
    tparams, fparams = make_params(rng, dtype)
    topt = torch.optim.Adafactor(tparams, lr=torch.tensor(lr), weight_decay=0.1)
    fopt = optim.Adafactor(fparams, lr=fibril.tensor(lr), weight_decay=0.1)
    step_and_compare(rng, topt, fopt, fparams, tparams, dtype, 15)


@needs_torch
def test_default_eps1_is_the_first_params_dtype_eps_for_the_group():
    """As torch: a float64 param after a float32 one in a group gets float32's eps as eps1 (its
    small gradients make the eps1 clamps bite)."""
    rng = np.random.default_rng(4)
    values = [rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((6, 3)), rng.standard_normal(4)]
    tparams = [torch.tensor(v, requires_grad=True) for v in values]
    fparams = [nn.Parameter(fibril.tensor(v)) for v in values]
    topt, fopt = torch.optim.Adafactor(tparams), optim.Adafactor(fparams)
    for _ in range(5):
        step_both(rng, topt, fopt, 1, grad=lambda rng, shape, dtype: 1e-5 * grad(rng, shape, dtype))
        assert_close(fparams[:1], tparams[:1], np.float32)
        assert_close(fparams[1:], tparams[1:], np.float64)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", CASES[1:4])
def test_state_dicts_exchange_with_torch(options, dtype):
    rng = np.random.default_rng(1)
    tparams, fparams = make_params(rng, dtype)
    topt, fopt = torch.optim.Adafactor(groups(tparams), **options), optim.Adafactor(groups(fparams), **options)
    step_both(rng, topt, fopt, 7, grad=grad)
    tsd, fsd = topt.state_dict(), fopt.state_dict()
    assert_state_dicts_match(fsd, tsd, RTOL[dtype] * 10)
    assert fsd["param_groups"] == tsd["param_groups"]

    # torch's state into fibril (on torch's params), fibril's into torch (on fibril's): both continue as before
    t_copies = [torch.tensor(p.detach().numpy(), requires_grad=True) for p in fparams]
    f_copies = [nn.Parameter(fibril.tensor(p.detach().numpy())) for p in tparams]
    from_torch = optim.Adafactor(groups(f_copies), **options)
    from_torch.load_state_dict(tsd)
    from_fibril = torch.optim.Adafactor(groups(t_copies), **options)
    from_fibril.load_state_dict({"state": {i: {k: torch.from_numpy(v.numpy().copy()) for k, v in s.items()}
                                           for i, s in fsd["state"].items()},
                                 "param_groups": fsd["param_groups"]})
    seed = rng.integers(1 << 30)
    step_and_compare(np.random.default_rng(seed), topt, from_torch, f_copies, tparams, dtype, 10)
    step_and_compare(np.random.default_rng(seed), from_fibril, fopt, fparams, t_copies, dtype, 10)


@needs_torch
def test_step_lr_drives_it_as_torch():
    rng = np.random.default_rng(2)
    tparams, fparams = make_params(rng, np.float64)
    topt, fopt = torch.optim.Adafactor(groups(tparams)), optim.Adafactor(groups(fparams))
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=3, gamma=0.5)
    fsched = optim.lr_scheduler.StepLR(fopt, step_size=3, gamma=0.5)
    for _ in range(10):
        step_and_compare(rng, topt, fopt, fparams, tparams, np.float64, 1)
        tsched.step()
        fsched.step()
    assert fopt.param_groups[1]["lr"] == pytest.approx(0.2 / 8)


@needs_torch
def test_signature_matches_torch():
    ours, theirs = inspect.signature(optim.Adafactor), inspect.signature(torch.optim.Adafactor)
    assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == \
           [(p.name, p.kind, p.default) for p in theirs.parameters.values()]


@pytest.mark.parametrize("options, error, message", [
    (dict(lr=-0.1), ValueError, "Learning rate should be >= 0 but is: -0.1"),
    (dict(beta2_decay=0.1), ValueError, "beta2_decay should be <= 0 but is: 0.1"),
    (dict(eps=(-1e-8, 1e-3)), ValueError, "epsilon1 should be >= 0 but is: -1e-08"),
    (dict(eps=(None, -1e-3)), ValueError, "epsilon2 should be >= 0 but is: -0.001"),
    (dict(d=0.5), ValueError, "Clipping threshold d should be >= 1 but is: 0.5"),
    (dict(weight_decay=-0.1), ValueError, "weight_decay should be >= 0 but is: -0.1"),
    (dict(lr=[0.1, 0.2]), ValueError, "Tensor lr must be 1-element"),  # as a tensor of each library
    (dict(differentiable=True), TypeError, "differentiable"),
])
def test_bad_options_raise_as_torch(options, error, message):
    def make(lib, param):
        if isinstance(options.get("lr"), list):
            return lib.optim.Adafactor([param], lr=lib.tensor(options["lr"]))
        return lib.optim.Adafactor([param], **options)

    with pytest.raises(error, match=message):
        make(fibril, nn.Parameter(fibril.zeros(2)))
    if torch is not None:
        with pytest.raises(error, match=message):
            make(torch, torch.zeros(2, requires_grad=True))


def test_bad_options_in_a_new_param_group():
    opt = optim.Adafactor([nn.Parameter(fibril.zeros(2))])
    with pytest.raises(ValueError, match="Clipping threshold d should be >= 1 but is: 0.9"):
        opt.add_param_group({"params": [nn.Parameter(fibril.zeros(3))], "d": 0.9})
    assert len(opt.param_groups) == 1


def test_first_steps_closed_form():
    """Step 1 from zero state: beta2_t = 0, so the variance is grad^2 (1-D) or the rank-1 product
    of its row and column means over the row means' mean (2-D); the update is clipped to RMS d
    and scaled by max(eps2, RMS(p)) * min(lr, 1)."""
    lr, wd, d, eps1, eps2 = 0.05, 0.1, 1.5, 1e-30, 1e-3
    rng = np.random.default_rng(5)
    vector, matrix = rng.standard_normal(4), rng.standard_normal((3, 5))
    gv, gm = rng.standard_normal(4), rng.standard_normal((3, 5))
    params = [nn.Parameter(fibril.tensor(vector)), nn.Parameter(fibril.tensor(matrix))]
    opt = optim.Adafactor(params, lr=lr, weight_decay=wd, d=d, eps=(eps1, eps2), maximize=True)
    params[0].grad, params[1].grad = fibril.tensor(gv), fibril.tensor(gm)
    opt.step()
    for p, p0, g in zip(params, (vector, matrix), (-gv, -gm)):
        if g.ndim > 1:
            row, col = (g * g).mean(-1, keepdims=True), (g * g).mean(-2, keepdims=True)
            var = row * col / row.mean()
            np.testing.assert_allclose(opt.state[p]["row_var"].numpy(), row, rtol=1e-14)
            np.testing.assert_allclose(opt.state[p]["col_var"].numpy(), col, rtol=1e-14)
        else:
            var = g * g
            np.testing.assert_allclose(opt.state[p]["variance"].numpy(), var, rtol=1e-14)
        update = g / np.sqrt(var)
        update /= max(1.0, np.sqrt((update ** 2).mean()) / d)
        alpha = max(eps2, np.sqrt((p0 ** 2).mean())) * lr
        np.testing.assert_allclose(p.detach().numpy(), p0 * (1 - lr * wd) - alpha * update, rtol=1e-13)
        assert opt.state[p]["step"].item() == 1.0 and opt.state[p]["step"].dtype == fibril.float32


def test_frozen_params_stay_and_zero_d_params_step():
    frozen, scalar = nn.Parameter(fibril.tensor([1.0, 2.0])), nn.Parameter(fibril.tensor(0.5))
    opt = optim.Adafactor([frozen, scalar], lr=0.1)
    scalar.grad = fibril.tensor(2.0)
    opt.step()
    # variance g^2, update sign(g), alpha max(eps2, |p|) * lr
    assert scalar.item() == pytest.approx(0.5 - 0.5 * 0.1) and frozen.tolist() == [1.0, 2.0]
    assert frozen not in opt.state and sorted(opt.state[scalar]) == ["step", "variance"]


def test_state_dict_round_trip():
    rng = np.random.default_rng(6)
    values = [rng.standard_normal(s) for s in SHAPES]
    first = [nn.Parameter(fibril.tensor(v)) for v in values]
    opt = optim.Adafactor(groups(first), weight_decay=0.01)

    def step(opt, params, rng):
        for p in params:
            p.grad = fibril.tensor(grad(rng, tuple(p.shape), np.float64))
        opt.step()

    for _ in range(4):
        step(opt, first, rng)
    saved = opt.state_dict()
    resumed_params = [nn.Parameter(fibril.tensor(p.detach().numpy())) for p in first]
    resumed = optim.Adafactor(groups(resumed_params), weight_decay=0.01)
    resumed.load_state_dict(saved)
    assert resumed.state[resumed_params[1]]["row_var"] is not opt.state[first[1]]["row_var"]
    seed = rng.integers(1 << 30)
    for params, o, r in ((first, opt, np.random.default_rng(seed)), (resumed_params, resumed,
                                                                     np.random.default_rng(seed))):
        for _ in range(5):
            step(o, params, r)
    for a, b in zip(resumed_params, first):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert resumed.state[resumed_params[0]]["step"].item() == 9.0
