"""Regression tests from fuzzing fibril.optim against torch.optim: optimizers with several
param groups, None and zero grads, float64 params and state-dict round trips; schedulers' lr
(and momentum) sequences over 100 steps, state dicts and tensor rates; the differences found."""

import math
import warnings

import numpy as np
import pytest

import fibril
from fibril import nn, optim
from fibril.optim import lr_scheduler
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")


def pair(values):
    return torch.tensor(values, requires_grad=True), nn.Parameter(fibril.tensor(values))


def assert_params_close(fparams, tparams, rtol=1e-9):
    for fp, tp in zip(fparams, tparams):
        ours, ref = fp.detach().numpy(), tp.detach().numpy()
        assert ours.dtype == ref.dtype
        np.testing.assert_allclose(ours, ref, rtol=rtol, atol=rtol)


# ------------------------------------------------------------------------------ optimizers
GROUP_CASES = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True), dict(momentum=0.5, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01, amsgrad=True), dict(betas=(0.5, 0.9), weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.01), dict(amsgrad=True, maximize=True, eps=1e-3)),
    ("RMSprop", dict(lr=0.01, centered=True), dict(momentum=0.9, alpha=0.5, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01), dict(weight_decay=0.1, maximize=True)),
    ("Adadelta", dict(rho=0.5), dict(lr=0.5, weight_decay=0.1, maximize=True)),
    ("Adamax", dict(lr=0.05), dict(betas=(0.5, 0.9), weight_decay=0.1)),
    ("NAdam", dict(lr=0.05, momentum_decay=0.1), dict(decoupled_weight_decay=True, weight_decay=0.1, maximize=True)),
    ("RAdam", dict(lr=0.05), dict(betas=(0.5, 0.9), decoupled_weight_decay=True, weight_decay=0.1)),
    ("ASGD", dict(lr=0.1, t0=3), dict(lambd=0.1, alpha=0.5, weight_decay=0.1)),
    ("Rprop", dict(lr=0.1), dict(etas=(0.3, 1.5), step_sizes=(1e-3, 0.2), maximize=True)),
    ("Adafactor", dict(lr=0.1), dict(beta2_decay=-0.5, d=2.0, weight_decay=0.1)),
]


@pytest.mark.parametrize("name, options, group_options", GROUP_CASES)
def test_groups_none_and_zero_grads_and_resume_match_torch(name, options, group_options):
    """Two groups (the second with its own options), float64 params of odd shapes, grads that
    are None or zero on some steps, and a resume from a state dict half way (ours and torch's)."""
    rng = np.random.default_rng(0)
    shapes = [(), (3,), (4, 5), (2, 1, 3)]
    pairs = [pair(rng.standard_normal(s)) for s in shapes]
    tparams, fparams = [t for t, _ in pairs], [f for _, f in pairs]

    def make(lib_optim, params):
        return getattr(lib_optim, name)([{"params": params[:2]}, {"params": params[2:], **group_options}], **options)

    topt, fopt = make(torch.optim, tparams), make(optim, fparams)
    for step in range(30):
        for i, (tp, fp) in enumerate(zip(tparams, fparams)):
            if (i + step) % 3 == 0:
                tp.grad = fp.grad = None
                continue
            grad = rng.standard_normal(tuple(tp.shape)) * ((i + step) % 4 != 1)
            tp.grad, fp.grad = torch.tensor(grad), fibril.tensor(grad)
        topt.step()
        fopt.step()
        if step == 14:
            resumed = make(optim, fparams)
            resumed.load_state_dict(fopt.state_dict())
            fopt = resumed
        if step == 21:
            resumed = make(optim, fparams)
            resumed.load_state_dict(topt.state_dict())
            fopt = resumed
            torch_resumed = make(torch.optim, tparams)
            torch_resumed.load_state_dict(topt.state_dict())
            topt = torch_resumed
    assert_params_close(fparams, tparams)
    tsd, fsd = topt.state_dict(), fopt.state_dict()
    assert [sorted(g) for g in fsd["param_groups"]] == [sorted(g) for g in tsd["param_groups"]]
    assert sorted(fsd["state"]) == sorted(tsd["state"])
    for index, tstate in tsd["state"].items():
        assert sorted(fsd["state"][index]) == sorted(tstate)


def test_adagrad_initial_accumulator_is_the_constructors_for_every_group():
    # torch fills every group's "sum" with the constructor's initial_accumulator_value
    tp, fp = pair(np.ones((2, 3)))
    tq, fq = pair(np.ones(4))
    topt = torch.optim.Adagrad([{"params": [tp]}, {"params": [tq], "initial_accumulator_value": 1.0}], lr=0.1)
    fopt = optim.Adagrad([{"params": [fp]}, {"params": [fq], "initial_accumulator_value": 1.0}], lr=0.1)
    assert float(fopt.state[fq]["sum"].sum()) == float(topt.state[tq]["sum"].sum()) == 0.0
    for _ in range(3):
        tp.grad, tq.grad = torch.ones(2, 3, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
        fp.grad, fq.grad = fibril.ones(2, 3, dtype=fibril.float64), fibril.ones(4, dtype=fibril.float64)
        topt.step()
        fopt.step()
    assert_params_close([fp, fq], [tp, tq])


def test_sgd_group_without_momentum_under_nesterov_defaults():
    # torch checks nesterov on the constructor's options only
    tp, fp = pair(np.arange(3.0))
    tq, fq = pair(np.arange(4.0))
    topt = torch.optim.SGD([{"params": [tp]}, {"params": [tq], "momentum": 0.0}], lr=0.1, momentum=0.9, nesterov=True)
    fopt = optim.SGD([{"params": [fp]}, {"params": [fq], "momentum": 0.0}], lr=0.1, momentum=0.9, nesterov=True)
    for step in range(5):
        for tparam, fparam in ((tp, fp), (tq, fq)):
            grad = np.full(tuple(tparam.shape), step - 2.0)
            tparam.grad, fparam.grad = torch.tensor(grad), fibril.tensor(grad)
        topt.step()
        fopt.step()
    assert_params_close([fp, fq], [tp, tq])
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([fp], lr=0.1, nesterov=True)


def test_rprop_takes_a_tensor_lr():
    tp, fp = pair(np.linspace(-1, 1, 5))
    topt, fopt = torch.optim.Rprop([tp], lr=torch.tensor(0.1)), optim.Rprop([fp], lr=fibril.tensor(0.1))
    for step in range(4):
        grad = np.linspace(-1, 1, 5) * (-1) ** step
        tp.grad, fp.grad = torch.tensor(grad), fibril.tensor(grad)
        topt.step()
        fopt.step()
    assert_params_close([fp], [tp], rtol=1e-7)


def test_adafactor_zero_grad_with_tiny_eps1_stays_finite():
    # eps1^2 = 1e-40 is float32-subnormal: flushed to 0 it made the step inf * 0 = nan
    for shape in [(3,), (2, 3)]:
        tp, fp = pair(np.full(shape, 0.7, dtype=np.float32))
        topt = torch.optim.Adafactor([tp], lr=0.1, eps=(1e-20, 1e-2))
        fopt = optim.Adafactor([fp], lr=0.1, eps=(1e-20, 1e-2))
        tp.grad, fp.grad = torch.zeros(shape), fibril.zeros(shape)
        topt.step()
        fopt.step()
        assert_params_close([fp], [tp], rtol=1e-6)


def test_zero_grad_without_set_to_none_zeroes_the_same_tensor():
    _, fp = pair(np.ones(3))
    opt = optim.SGD([fp], lr=0.1)
    fp.grad = fibril.ones(3, dtype=fibril.float64)
    grad = fp.grad
    opt.zero_grad(set_to_none=False)
    assert fp.grad is grad and float(grad.abs().sum()) == 0.0
    opt.zero_grad()
    assert fp.grad is None


def test_duplicate_params_in_a_group_warn_and_step_twice_as_torch():
    tp, fp = pair(np.zeros(2))
    with pytest.warns(UserWarning, match="duplicate parameters"):
        topt = torch.optim.SGD([tp, tp], lr=0.1)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        fopt = optim.SGD([fp, fp], lr=0.1)
    tp.grad, fp.grad = torch.ones(2, dtype=torch.float64), fibril.ones(2, dtype=fibril.float64)
    topt.step()
    fopt.step()
    assert_params_close([fp], [tp])


def test_load_state_dict_takes_a_slightly_negative_scheduled_lr():
    # CosineAnnealingLR's recursive form can round eta_min=0 to -4e-19; torch loads such a
    # state dict (it validates constructor options only)
    _, fp = pair(np.zeros(2))
    opt = optim.SGD([fp], lr=0.1)
    saved = opt.state_dict()
    saved["param_groups"][0]["lr"] = -4.440892098500626e-19
    fresh = optim.SGD([fp], lr=0.1)
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == -4.440892098500626e-19


# ------------------------------------------------------------------------------ schedulers
class Power:
    """A callable object: its attributes go into the scheduler's state dict."""

    def __init__(self, base):
        self.base = base

    def __call__(self, epoch):
        return self.base ** epoch


SCHEDULERS = [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[10, 10, 40, 75], gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.97)),
    ("CosineAnnealingLR", dict(T_max=33, eta_min=1e-3)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, eta_min=1e-3)),
    ("CyclicLR", dict(base_lr=[0.001, 0.002], max_lr=0.1, step_size_up=4, step_size_down=7, mode="triangular2")),
    ("CyclicLR", dict(base_lr=0.001, max_lr=[0.1, 0.2], step_size_up=5, mode="exp_range", gamma=0.99,
                      base_momentum=[0.7, 0.75])),
    ("CyclicLR", dict(base_lr=0.001, max_lr=0.1, step_size_up=3, scale_fn=Power(0.9), scale_mode="iterations",
                      cycle_momentum=False)),
    ("OneCycleLR", dict(max_lr=[0.1, 0.2], total_steps=100, anneal_strategy="linear", three_phase=True)),
    ("OneCycleLR", dict(max_lr=0.1, epochs=10, steps_per_epoch=10, pct_start=0.25, max_momentum=[0.95, 0.96])),
    ("LambdaLR", dict(lr_lambda=[Power(0.95), Power(0.99)])),
    ("MultiplicativeLR", dict(lr_lambda=Power(0.9999))),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.5, total_iters=30)),
    ("ConstantLR", dict(factor=0.5, total_iters=20)),
    ("PolynomialLR", dict(total_iters=50, power=2.0)),
]


def make_optimizers(kind):
    lrs = [0.1, 0.05]
    tparams = [torch.zeros(2, requires_grad=True) for _ in lrs]
    fparams = [nn.Parameter(fibril.zeros(2)) for _ in lrs]
    tgroups = [{"params": [p], "lr": lr} for p, lr in zip(tparams, lrs)]
    fgroups = [{"params": [p], "lr": lr} for p, lr in zip(fparams, lrs)]
    if kind == "adam":
        return torch.optim.Adam(tgroups), optim.Adam(fgroups)
    return torch.optim.SGD(tgroups, momentum=0.9), optim.SGD(fgroups, momentum=0.9)


def assert_same_rates(fopt, topt, fsched, tsched):
    for fgroup, tgroup in zip(fopt.param_groups, topt.param_groups):
        assert math.isclose(fgroup["lr"], tgroup["lr"], rel_tol=1e-12, abs_tol=1e-15)
        assert math.isclose(fgroup.get("momentum", fgroup.get("betas", (0,))[0]),
                            tgroup.get("momentum", tgroup.get("betas", (0,))[0]), rel_tol=1e-12)
    for ours, theirs in zip(fsched.get_last_lr(), tsched.get_last_lr()):
        assert math.isclose(ours, theirs, rel_tol=1e-12, abs_tol=1e-15)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name, options", SCHEDULERS)
def test_scheduler_sequence_and_state_dict_resume_match_torch(name, options, kind):
    topt, fopt = make_optimizers(kind)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **options)
    fsched = getattr(lr_scheduler, name)(fopt, **options)
    assert_same_rates(fopt, topt, fsched, tsched)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's "optimizer.step() before lr_scheduler.step()"
        for step in range(1, 100):
            tsched.step()
            fsched.step()
            assert_same_rates(fopt, topt, fsched, tsched)
            if step == 45:
                tsaved, fsaved = tsched.state_dict(), fsched.state_dict()
                ignored = {"_get_lr_called_within_step", "_is_initial"}
                assert sorted(set(fsaved) - ignored) == sorted(set(tsaved) - ignored)
                fopt_saved = fopt.state_dict()
                _, fopt = make_optimizers(kind)
                fsched = getattr(lr_scheduler, name)(fopt, **options)
                fopt.load_state_dict(fopt_saved)
                fsched.load_state_dict(fsaved)
                assert_same_rates(fopt, topt, fsched, tsched)


def test_sequential_and_chained_schedulers_match_torch():
    def build(lib, opt):
        sched = lib.optim.lr_scheduler if lib is torch else lr_scheduler
        warm = sched.LinearLR(opt, start_factor=0.1, total_iters=10)
        cos = sched.CosineAnnealingLR(opt, T_max=40, eta_min=1e-4)
        step = sched.StepLR(opt, step_size=5, gamma=0.9)
        sequential = sched.SequentialLR(opt, [warm, cos, step], milestones=[10, 50])
        return sched.ChainedScheduler([sequential, sched.ExponentialLR(opt, gamma=0.999)])

    topt, fopt = make_optimizers("sgd")
    tsched, fsched = build(torch, topt), build(fibril, fopt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(100):
            tsched.step()
            fsched.step()
            assert_same_rates(fopt, topt, fsched, tsched)


def test_one_cycle_state_dict_has_torchs_keys_and_validation():
    topt, fopt = make_optimizers("adam")
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.1, total_steps=10, three_phase=True)
    fsched = lr_scheduler.OneCycleLR(fopt, max_lr=0.1, total_steps=10, three_phase=True)
    tsaved, fsaved = tsched.state_dict(), fsched.state_dict()
    for key in ("_schedule_phases", "_anneal_func_type", "use_beta1", "total_steps", "cycle_momentum"):
        assert fsaved[key] == tsaved[key]
    for options in (dict(total_steps=10, pct_start=0), dict(total_steps=10, pct_start=1),
                    dict(epochs=2.0, steps_per_epoch=5), dict(epochs=2, steps_per_epoch=0)):
        with pytest.raises(ValueError):
            torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.1, **options)
        with pytest.raises(ValueError):
            lr_scheduler.OneCycleLR(fopt, max_lr=0.1, **options)


def test_one_cycle_resumed_with_last_epoch_keeps_the_groups_momentum_bounds():
    topt, fopt = make_optimizers("sgd")
    for opt, sched in ((topt, torch.optim.lr_scheduler), (fopt, lr_scheduler)):
        sched.OneCycleLR(opt, max_lr=0.1, total_steps=50, max_momentum=0.97)
        resumed = sched.OneCycleLR(opt, max_lr=0.1, total_steps=50, last_epoch=10)
        assert [g["max_momentum"] for g in opt.param_groups] == [0.97, 0.97]
        assert resumed.last_epoch == 11
    for fgroup, tgroup in zip(fopt.param_groups, topt.param_groups):
        assert math.isclose(fgroup["lr"], tgroup["lr"], rel_tol=1e-12)
        assert math.isclose(fgroup["momentum"], tgroup["momentum"], rel_tol=1e-12)


@pytest.mark.parametrize("name, options", [
    ("StepLR", dict(step_size=2)),
    ("ReduceLROnPlateau", dict(patience=0)),
    ("OneCycleLR", dict(max_lr=0.1, total_steps=20)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3)),
])
def test_a_tensor_lr_is_filled_in_place_as_torch(name, options):
    rates = []
    for lib, sched, optimizers, param in ((torch, torch.optim.lr_scheduler, torch.optim, torch.zeros(2)),
                                          (fibril, lr_scheduler, optim, fibril.zeros(2))):
        lr = lib.tensor(0.1)
        opt = optimizers.Adam([param.requires_grad_()], lr=lr)
        scheduler = getattr(sched, name)(opt, **options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(6):
                scheduler.step(1.0) if name == "ReduceLROnPlateau" else scheduler.step()
        assert opt.param_groups[0]["lr"] is lr
        last = scheduler.get_last_lr()[0]
        assert isinstance(last, lib.Tensor) and last is not lr
        rates.append(float(lr))
    assert rates[0] == rates[1]
