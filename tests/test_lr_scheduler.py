"""Learning-rate schedulers: every rate, step by step, equal to torch.optim.lr_scheduler's
(and the momentum OneCycleLR and CyclicLR cycle), on an optimizer with two param groups;
closed-form references where torch is missing."""

import math

import numpy as np
import pytest

import fibril
from fibril.optim import lr_scheduler as sched

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")


class Groups:
    """The part of an optimizer a scheduler uses: param_groups and defaults."""

    def __init__(self, lrs, **options):
        self.defaults = {"lr": lrs[0], **options}
        self.param_groups = [{"lr": lr, **options} for lr in lrs]


LRS = [0.1, 0.02]


def pair(options=None):
    options = options or {"momentum": 0.9}
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in LRS]
    make = torch.optim.Adam if "betas" in options else torch.optim.SGD
    theirs = make([{"params": [p], "lr": lr} for p, lr in zip(params, LRS)], **options)
    return Groups(LRS, **options), theirs


def run_both(make, steps=40, options=None, metrics=None, with_momentum=False):
    ours_opt, theirs_opt = pair(options)
    ours, theirs = make(sched, ours_opt), make(torch.optim.lr_scheduler, theirs_opt)
    for i in range(steps):
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12, abs=1e-15), f"step {i}"
        if with_momentum:
            key = "betas" if "betas" in theirs_opt.param_groups[0] else "momentum"
            values = lambda opt: np.ravel([g[key] for g in opt.param_groups])  # noqa: E731 (betas are pairs)
            np.testing.assert_allclose(values(ours_opt), values(theirs_opt), rtol=1e-12)
        theirs_opt.step()
        if metrics is None:
            ours.step(), theirs.step()
        else:
            ours.step(metrics[i]), theirs.step(metrics[i])


@needs_torch
@pytest.mark.parametrize("make", [
    lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    lambda m, o: m.MultiStepLR(o, milestones=[3, 9, 9, 20], gamma=0.3),
    lambda m, o: m.ExponentialLR(o, gamma=0.93),
    lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
    lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=12),
    lambda m, o: m.LambdaLR(o, lr_lambda=lambda e: 1 / (1 + e)),
    lambda m, o: m.LambdaLR(o, lr_lambda=[lambda e: 0.9 ** e, lambda e: 1 + e]),
    lambda m, o: m.ConstantLR(o, factor=0.4, total_iters=9),
    lambda m, o: m.PolynomialLR(o, total_iters=25, power=2.5),
    lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.001),
    lambda m, o: m.MultiplicativeLR(o, lr_lambda=lambda e: 0.95),
    lambda m, o: m.MultiplicativeLR(o, lr_lambda=[lambda e: 0.9, lambda e: 1 + 0.1 * (e % 3 - 1)]),
])
def test_schedules_match_torch(make):
    run_both(make)


@needs_torch
@pytest.mark.parametrize("kwargs", [
    {"total_steps": 40},
    {"epochs": 4, "steps_per_epoch": 10, "anneal_strategy": "linear", "pct_start": 0.4},
    {"total_steps": 40, "three_phase": True, "div_factor": 10.0, "final_div_factor": 100.0},
    {"total_steps": 40, "cycle_momentum": False},
])
def test_one_cycle_matches_torch(kwargs):
    run_both(lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.2], **kwargs), steps=40, with_momentum=True)


@needs_torch
def test_one_cycle_cycles_adam_beta1():
    options = {"betas": (0.9, 0.999)}
    ours_opt = Groups(LRS, **options)
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in LRS]
    theirs_opt = torch.optim.Adam([{"params": [p], "lr": lr} for p, lr in zip(params, LRS)], **options)
    ours = sched.OneCycleLR(ours_opt, max_lr=0.3, total_steps=20)
    theirs = torch.optim.lr_scheduler.OneCycleLR(theirs_opt, max_lr=0.3, total_steps=20)
    for _ in range(19):
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr())
        assert ours_opt.param_groups[0]["betas"] == pytest.approx(theirs_opt.param_groups[0]["betas"])
        theirs_opt.step()
        ours.step(), theirs.step()
    with pytest.raises(ValueError, match="total steps"):
        for _ in range(3):
            ours.step()


@needs_torch
def test_sequential_matches_torch():
    def make(m, o):
        return m.SequentialLR(o, [m.LinearLR(o, start_factor=0.1, total_iters=5),
                                  m.CosineAnnealingLR(o, T_max=8),
                                  m.ExponentialLR(o, gamma=0.8)], milestones=[5, 15])
    run_both(make, steps=30)


def sequential(m, o):
    return m.SequentialLR(o, [m.ConstantLR(o, factor=0.5, total_iters=2), m.PolynomialLR(o, total_iters=4)],
                          milestones=[3])


def chained(m, o):
    return m.ChainedScheduler([m.ConstantLR(o, factor=0.1, total_iters=6), m.ExponentialLR(o, gamma=0.9)],
                              optimizer=o)


@needs_torch
def test_chained_matches_torch():
    run_both(chained, steps=20)
    run_both(lambda m, o: m.ChainedScheduler([m.StepLR(o, step_size=3, gamma=0.5), m.LinearLR(o, total_iters=7)]))


@needs_torch
@pytest.mark.parametrize("make", [sequential, chained])
def test_composite_state_dict_exchanges_with_torch(make):
    """Stepped 5 times, each library's state dict resumes the other's schedule (the rates
    themselves are the optimizer's state: copied)."""
    ours_opt, theirs_opt = pair()
    ours, theirs = make(sched, ours_opt), make(torch.optim.lr_scheduler, theirs_opt)
    for _ in range(5):
        theirs_opt.step()
        ours.step(), theirs.step()
    ours_opt2, theirs_opt2 = pair()
    from_theirs, from_ours = make(sched, ours_opt2), make(torch.optim.lr_scheduler, theirs_opt2)
    for g2, h2, g in zip(ours_opt2.param_groups, theirs_opt2.param_groups, theirs_opt.param_groups):
        g2["lr"] = h2["lr"] = g["lr"]
    from_theirs.load_state_dict(theirs.state_dict())
    from_ours.load_state_dict(ours.state_dict())
    for i in range(6):
        theirs_opt.step(), theirs_opt2.step()
        from_theirs.step(), from_ours.step(), theirs.step()
        assert from_theirs.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12), i
        assert from_ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12), i


PLATEAU_METRICS = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.8, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9, 0.91] * 3


@needs_torch
@pytest.mark.parametrize("kwargs", [
    {"patience": 2},
    {"mode": "max", "patience": 1, "cooldown": 2, "factor": 0.5},
    {"threshold_mode": "abs", "threshold": 0.05, "patience": 1, "min_lr": [0.01, 0.015]},
    {"mode": "max", "threshold_mode": "abs", "threshold": 0.02, "patience": 0},
    {"patience": 0, "factor": 0.5, "min_lr": 0.015, "eps": 0.02},  # cuts under eps are skipped
])
def test_reduce_on_plateau_matches_torch(kwargs):
    run_both(lambda m, o: m.ReduceLROnPlateau(o, **kwargs), steps=len(PLATEAU_METRICS), metrics=PLATEAU_METRICS)


@needs_torch
def test_every_torch_scheduler_exists():
    for name in torch.optim.lr_scheduler.__all__ + ["_LRScheduler"]:
        is_scheduler = issubclass(getattr(torch.optim.lr_scheduler, name), torch.optim.lr_scheduler.LRScheduler)
        assert issubclass(getattr(sched, name), sched.LRScheduler) == is_scheduler, name


@needs_torch
def test_reduce_on_plateau_is_an_lr_scheduler_with_torchs_state_dict():
    ours_opt, theirs_opt = pair()
    ours = sched.ReduceLROnPlateau(ours_opt, patience=1, cooldown=1, min_lr=[0.001, 0.002])
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt, patience=1, cooldown=1, min_lr=[0.001, 0.002])
    assert isinstance(ours, sched.LRScheduler) and not isinstance(ours, sched._SchedulerList)
    assert "initial_lr" not in ours_opt.param_groups[0] and not hasattr(ours, "base_lrs")
    with pytest.raises(NotImplementedError):
        ours.get_lr()
    for metric in PLATEAU_METRICS[:9]:
        ours.step(metric), theirs.step(metric)
    assert ours.state_dict() == theirs.state_dict()

    # each library's state dict resumes the other's (the rates are the optimizer's state: copied)
    ours_opt2, theirs_opt2 = pair()
    for g2, h2, g in zip(ours_opt2.param_groups, theirs_opt2.param_groups, theirs_opt.param_groups):
        g2["lr"] = h2["lr"] = g["lr"]
    from_theirs = sched.ReduceLROnPlateau(ours_opt2, mode="max")
    from_ours = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt2, mode="max")
    from_theirs.load_state_dict(theirs.state_dict())
    from_ours.load_state_dict(ours.state_dict())
    assert from_theirs.mode_worse == math.inf
    for metric in PLATEAU_METRICS[9:]:
        from_theirs.step(metric), from_ours.step(metric), theirs.step(metric)
        assert from_theirs.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-15)
        assert from_ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-15)
    assert theirs.get_last_lr() == pytest.approx([0.001, 0.002])  # reduced to the floors


@needs_torch
@pytest.mark.parametrize("min_lr", [0.005, [0.005]])
def test_reduce_on_plateau_after_a_param_group_is_added(min_lr):
    """As torch: a scalar min_lr covers a group added later, a list of them cannot (RuntimeError)."""
    ours_opt = fibril.optim.SGD([fibril.nn.Parameter(fibril.zeros(1))], lr=0.1)
    theirs_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    ours = sched.ReduceLROnPlateau(ours_opt, patience=0, min_lr=min_lr)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt, patience=0, min_lr=min_lr)
    ours_opt.add_param_group({"params": [fibril.nn.Parameter(fibril.zeros(1))], "lr": 0.03})
    theirs_opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "lr": 0.03})
    ours.step(1.0), theirs.step(1.0)  # the first metric is an improvement
    if isinstance(min_lr, list):
        for scheduler in (ours, theirs):
            with pytest.raises(RuntimeError, match=r"differs from when `ReduceLROnPlateau` was initialized \(1\)"):
                scheduler.step(2.0)
        return
    for metric in [2.0, 3.0, 4.0]:
        ours.step(metric), theirs.step(metric)
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-15)
    assert ours.min_lrs == theirs.min_lrs == [0.005, 0.005]
    assert ours.get_last_lr() == [0.005, 0.005]


class HalvingScale:
    """A callable-object scale_fn: its attributes go into the scheduler's state dict."""

    def __init__(self, base):
        self.base = base

    def __call__(self, x):
        return self.base ** x


@needs_torch
@pytest.mark.parametrize("kwargs,options", [
    ({"mode": "triangular"}, {"momentum": 0.9}),
    ({"mode": "triangular2", "step_size_down": 11}, {"momentum": 0.9}),
    ({"mode": "exp_range", "gamma": 0.99, "base_momentum": [0.7, 0.75], "max_momentum": 0.95}, {"momentum": 0.9}),
    ({"scale_fn": lambda x: 1 / (1 + x), "scale_mode": "iterations"}, {"momentum": 0.9}),
    ({"scale_fn": HalvingScale(0.8)}, {"momentum": 0.9}),
    ({"mode": "triangular2"}, {"betas": (0.9, 0.999)}),
    ({"mode": "exp_range", "gamma": 0.995, "cycle_momentum": False}, {"momentum": 0.9}),
])
def test_cyclic_matches_torch(kwargs, options):
    run_both(lambda m, o: m.CyclicLR(o, base_lr=[0.01, 0.002], max_lr=[0.1, 0.05], step_size_up=7, **kwargs),
             steps=200, options=options, with_momentum=True)


@needs_torch
@pytest.mark.parametrize("make", [
    lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=60),
    lambda m, o: m.PolynomialLR(o, total_iters=150, power=0.9),
    lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=3, eta_min=0.01),
    lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=17),
])
def test_new_schedules_match_torch_over_many_steps(make):
    run_both(make, steps=300)


@needs_torch
@pytest.mark.parametrize("T_mult", [1, 2])
def test_warm_restarts_fractional_epochs_match_torch(T_mult):
    ours_opt, theirs_opt = pair()
    ours = sched.CosineAnnealingWarmRestarts(ours_opt, T_0=4, T_mult=T_mult, eta_min=0.005)
    theirs = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(theirs_opt, T_0=4, T_mult=T_mult, eta_min=0.005)
    epochs = [e + i / 7 for e in range(30) for i in range(7)] + [26, None, None, 3.5, None, 0]
    for epoch in epochs:
        theirs_opt.step()
        ours.step(epoch), theirs.step(epoch)
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12, abs=1e-15), epoch
        assert ours.last_epoch == theirs.last_epoch


def lrs_after(scheduler, steps):
    """The rates of the first param group at epochs 0 .. steps - 1."""
    out = []
    for _ in range(steps):
        out.append(scheduler.get_last_lr()[0])
        scheduler.step()
    return out


def test_closed_forms():
    base, e = LRS[0], range(80)
    got = lrs_after(sched.ConstantLR(Groups(LRS), factor=0.25, total_iters=10), 80)
    assert got == pytest.approx([base * (0.25 if t < 10 else 1.0) for t in e], rel=1e-12)
    got = lrs_after(sched.ConstantLR(Groups(LRS), factor=0.0, total_iters=3), 5)
    assert got == [0.0, 0.0, 0.0, base, base]
    got = lrs_after(sched.PolynomialLR(Groups(LRS), total_iters=50, power=1.7), 80)
    assert got == pytest.approx([base * (1 - min(t, 50) / 50) ** 1.7 for t in e], rel=1e-9, abs=1e-15)
    got = lrs_after(sched.CosineAnnealingWarmRestarts(Groups(LRS), T_0=5, T_mult=2, eta_min=0.01), 80)
    starts = [0, 5, 15, 35, 75]  # restarts after 5, 10, 20, 40 epochs

    def sgdr(t):
        i = max(j for j, s in enumerate(starts) if s <= t)
        return 0.01 + (base - 0.01) * (1 + math.cos(math.pi * (t - starts[i]) / (5 * 2 ** i))) / 2

    assert got == pytest.approx([sgdr(t) for t in e], rel=1e-12)
    opt = Groups(LRS, momentum=0.9)
    got = lrs_after(sched.CyclicLR(opt, base_lr=0.01, max_lr=0.11, step_size_up=4, step_size_down=6,
                                   mode="triangular2", base_momentum=0.8, max_momentum=0.9), 83)

    def triangle(t):
        cycle, x = divmod(t, 10)
        height = x / 4 if x <= 4 else (10 - x) / 6
        return 0.01 + 0.1 * height / 2 ** cycle

    assert got == pytest.approx([triangle(t) for t in range(83)], rel=1e-12)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.9 - (triangle(83) - 0.01))  # the same amplitude


def test_closed_forms_on_step_with_epoch():
    opt = Groups(LRS)
    constant = sched.ConstantLR(opt, factor=0.5, total_iters=4)
    constant.step(6)
    assert constant.get_last_lr() == pytest.approx(LRS)
    constant.step(2)
    assert constant.get_last_lr() == pytest.approx([lr * 0.5 for lr in LRS])
    poly = sched.PolynomialLR(Groups(LRS), total_iters=10, power=2.0)
    poly.step(7)
    assert poly.get_last_lr() == pytest.approx([lr * 0.09 for lr in LRS])
    sgdr = sched.CosineAnnealingWarmRestarts(Groups(LRS), T_0=2, T_mult=2)
    sgdr.step(2 + 4 + 2)  # halfway through the third period, of 8 epochs
    assert (sgdr.T_i, sgdr.T_cur, sgdr.last_epoch) == (8, 2, 8)
    assert sgdr.get_last_lr() == pytest.approx([lr * (1 + math.cos(math.pi / 4)) / 2 for lr in LRS])
    sgdr.step(1.5)
    assert sgdr.get_last_lr() == pytest.approx([lr * (1 + math.cos(0.75 * math.pi)) / 2 for lr in LRS])
    assert sgdr.last_epoch == 1


def test_bad_arguments():
    opt = Groups(LRS, momentum=0.9)
    with pytest.raises(ValueError, match="Factor"):
        sched.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="total_steps"):
        sched.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="milestone"):
        sched.SequentialLR(opt, [sched.StepLR(opt, 2)], milestones=[3])
    for composite in [lambda s: sched.SequentialLR(opt, s, milestones=[2] * (len(s) - 1)), sched.ChainedScheduler]:
        with pytest.raises(ValueError, match="ReduceLROnPlateau"):
            composite([sched.ConstantLR(opt), sched.ReduceLROnPlateau(opt)])
        with pytest.raises(ValueError, match="same optimizer"):
            composite([sched.ConstantLR(opt), sched.ConstantLR(Groups(LRS, momentum=0.9))])
        with pytest.raises(ValueError, match="at least one scheduler"):
            composite([])
    with pytest.raises(ValueError, match="lr_lambdas"):
        sched.LambdaLR(opt, lr_lambda=[lambda e: 1.0])
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 3"):
        sched.MultiplicativeLR(opt, lr_lambda=[lambda e: 1.0] * 3)
    with pytest.raises(TypeError, match="lr_lambda should be a function, but got float"):
        sched.MultiplicativeLR(opt, lr_lambda=0.9)
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 3"):
        sched.ReduceLROnPlateau(opt, min_lr=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="mode average is unknown!"):
        sched.ReduceLROnPlateau(opt, mode="average")
    with pytest.raises(ValueError, match="threshold mode ratio is unknown!"):
        sched.ReduceLROnPlateau(opt, threshold_mode="ratio")
    with pytest.raises(TypeError, match="not an optimizer"):
        sched.ReduceLROnPlateau(object())
    with pytest.raises(ValueError, match="momentum or beta1"):
        sched.OneCycleLR(Groups(LRS), max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="between 0 and 1"):
        sched.ConstantLR(opt, factor=1.5)
    with pytest.raises(ValueError, match="mode is invalid"):
        sched.CyclicLR(opt, base_lr=0.01, max_lr=0.1, mode="square")
    with pytest.raises(ValueError, match="momentum or beta1"):
        sched.CyclicLR(Groups(LRS), base_lr=0.01, max_lr=0.1)
    with pytest.raises(ValueError, match="max_lr"):
        sched.CyclicLR(opt, base_lr=0.01, max_lr=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="T_0"):
        sched.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="T_mult"):
        sched.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=1.5)
    with pytest.raises(ValueError, match="non-negative epoch"):
        sched.CosineAnnealingWarmRestarts(opt, T_0=2).step(-1)


def test_state_dict_resumes_the_schedule():
    opt = Groups(LRS, momentum=0.9)
    a = sched.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        a.step()
    state = a.state_dict()
    assert "optimizer" not in state
    opt2 = Groups([lr for lr in a.get_last_lr()], momentum=0.9)
    for g, g0 in zip(opt2.param_groups, opt.param_groups):
        g["initial_lr"] = g0["initial_lr"]
    b = sched.CosineAnnealingLR(opt2, T_max=10, last_epoch=3)
    b.load_state_dict(state)
    a.step(), b.step()
    assert b.get_last_lr() == pytest.approx(a.get_last_lr())
    assert not math.isnan(b.get_last_lr()[0])


def halving(x):
    return 0.5 ** x


@pytest.mark.parametrize("saved,fresh,stored", [
    (None, None, None), (HalvingScale(0.5), HalvingScale(0.9), {"base": 0.5}), (halving, halving, None),
])
def test_cyclic_state_dict_resumes(saved, fresh, stored):
    """A callable object's attributes are saved (as torch does); a function is not."""
    def make(scale_fn):
        opt = Groups(LRS, momentum=0.9)
        return opt, sched.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=3, mode="exp_range", gamma=0.9,
                                   scale_fn=scale_fn)

    opt_a, a = make(saved)
    for _ in range(5):
        a.step()
    state = a.state_dict()
    assert "optimizer" not in state and state["_scale_fn_custom"] == stored
    opt_b, b = make(fresh)
    b.load_state_dict(state)
    assert "_scale_fn_custom" in state
    for _ in range(10):
        a.step(), b.step()
        assert b.get_last_lr() == pytest.approx(a.get_last_lr())
        assert opt_b.param_groups[0]["momentum"] == pytest.approx(opt_a.param_groups[0]["momentum"])


def test_warm_restarts_state_dict_resumes():
    a = sched.CosineAnnealingWarmRestarts(Groups(LRS), T_0=3, T_mult=2)
    for _ in range(7):
        a.step()
    b = sched.CosineAnnealingWarmRestarts(Groups(LRS), T_0=3, T_mult=2)
    b.load_state_dict(a.state_dict())
    for _ in range(20):
        a.step(), b.step()
        assert b.get_last_lr() == pytest.approx(a.get_last_lr())


def is_plain(value):
    """Numbers, strings, None and lists, tuples and dicts of them: what fibril.save stores."""
    if isinstance(value, dict):
        return all(is_plain(k) and is_plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(is_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


@pytest.mark.parametrize("make", [sequential, chained])
def test_composite_state_dict_resumes_on_a_new_optimizer(make):
    """The state dict holds plain data, not the schedulers (tied to the old optimizer)."""
    opt = Groups(LRS)
    a = make(sched, opt)
    for _ in range(5):
        a.step()
    state = a.state_dict()
    assert is_plain(state) and len(state["_schedulers"]) == 2
    opt_b = Groups(LRS)
    b = make(sched, opt_b)
    for g_b, g in zip(opt_b.param_groups, opt.param_groups):
        g_b["lr"] = g["lr"]  # the optimizer's state, restored with it
    b.load_state_dict(state)
    assert "_schedulers" in state
    old_lrs = [g["lr"] for g in opt.param_groups]
    reference = make(sched, Groups(LRS))
    for _ in range(8):
        reference.step()
    for _ in range(3):
        b.step()
    assert [g["lr"] for g in opt.param_groups] == old_lrs
    assert b.get_last_lr() == pytest.approx(reference.get_last_lr(), rel=1e-12)
    assert [g["lr"] for g in opt_b.param_groups] == pytest.approx(reference.get_last_lr(), rel=1e-12)


def test_lambda_lr_saves_a_callable_objects_attributes():
    """As torch: a lambda is not saved (None), a callable object's attributes are, and a
    state dict with lr_lambdas loads (torch's one too)."""
    class Warm:
        def __init__(self, k):
            self.k = k

        def __call__(self, epoch):
            return self.k * (epoch + 1)

    def scheduler(fn):
        return sched.LambdaLR(fibril.optim.SGD([fibril.nn.Parameter(fibril.zeros(1))], lr=0.1), fn)

    saved = scheduler(Warm(0.5)).state_dict()
    assert saved["lr_lambdas"] == [{"k": 0.5}]
    fresh = Warm(1.0)
    scheduler(fresh).load_state_dict(saved)
    assert fresh.k == 0.5
    plain = scheduler(lambda e: 0.5 ** e)
    assert plain.state_dict()["lr_lambdas"] == [None]
    plain.load_state_dict(plain.state_dict())
    plain.optimizer.step()
    plain.step()
    assert plain.get_last_lr() == [0.05]


def test_reduce_on_plateau_takes_an_epoch():
    opt = fibril.optim.SGD([fibril.nn.Parameter(fibril.zeros(1))], lr=0.1)
    plateau = sched.ReduceLROnPlateau(opt)
    plateau.step(1.0, 5)
    assert plateau.last_epoch == 5
    plateau.step(1.0)
    assert plateau.last_epoch == 6
