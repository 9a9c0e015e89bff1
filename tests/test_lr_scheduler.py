"""Learning-rate schedulers: every rate, step by step, equal to torch.optim.lr_scheduler's
(and the momentum OneCycleLR cycles), on an optimizer with two param groups."""

import math

import pytest

from fibril.optim import lr_scheduler as sched

torch = pytest.importorskip("torch")


class Groups:
    """The part of an optimizer a scheduler uses: param_groups and defaults."""

    def __init__(self, lrs, **options):
        self.defaults = {"lr": lrs[0], **options}
        self.param_groups = [{"lr": lr, **options} for lr in lrs]


LRS = [0.1, 0.02]


def pair(options=None):
    options = options or {"momentum": 0.9}
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in LRS]
    theirs = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, LRS)], **options)
    return Groups(LRS, **options), theirs


def run_both(make, steps=40, options=None, metrics=None, with_momentum=False):
    ours_opt, theirs_opt = pair(options)
    ours, theirs = make(sched, ours_opt), make(torch.optim.lr_scheduler, theirs_opt)
    for i in range(steps):
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12, abs=1e-15), f"step {i}"
        if with_momentum:
            key = "betas" if "betas" in theirs_opt.param_groups[0] else "momentum"
            assert [g[key] for g in ours_opt.param_groups] == pytest.approx([g[key] for g in theirs_opt.param_groups])
        theirs_opt.step()
        if metrics is None:
            ours.step(), theirs.step()
        else:
            ours.step(metrics[i]), theirs.step(metrics[i])


@pytest.mark.parametrize("make", [
    lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    lambda m, o: m.MultiStepLR(o, milestones=[3, 9, 9, 20], gamma=0.3),
    lambda m, o: m.ExponentialLR(o, gamma=0.93),
    lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
    lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=12),
    lambda m, o: m.LambdaLR(o, lr_lambda=lambda e: 1 / (1 + e)),
    lambda m, o: m.LambdaLR(o, lr_lambda=[lambda e: 0.9 ** e, lambda e: 1 + e]),
])
def test_schedules_match_torch(make):
    run_both(make)


@pytest.mark.parametrize("kwargs", [
    {"total_steps": 40},
    {"epochs": 4, "steps_per_epoch": 10, "anneal_strategy": "linear", "pct_start": 0.4},
    {"total_steps": 40, "three_phase": True, "div_factor": 10.0, "final_div_factor": 100.0},
    {"total_steps": 40, "cycle_momentum": False},
])
def test_one_cycle_matches_torch(kwargs):
    run_both(lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.2], **kwargs), steps=40, with_momentum=True)


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


def test_sequential_matches_torch():
    def make(m, o):
        return m.SequentialLR(o, [m.LinearLR(o, start_factor=0.1, total_iters=5),
                                  m.CosineAnnealingLR(o, T_max=8),
                                  m.ExponentialLR(o, gamma=0.8)], milestones=[5, 15])
    run_both(make, steps=30)


def test_reduce_on_plateau_matches_torch():
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.8, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9, 0.91] * 3
    for kwargs in [{"patience": 2}, {"mode": "max", "patience": 1, "cooldown": 2, "factor": 0.5},
                   {"threshold_mode": "abs", "threshold": 0.05, "patience": 1, "min_lr": [0.01, 0.015]}]:
        run_both(lambda m, o: m.ReduceLROnPlateau(o, **kwargs), steps=len(metrics), metrics=metrics)


def test_bad_arguments():
    opt = Groups(LRS, momentum=0.9)
    with pytest.raises(ValueError, match="Factor"):
        sched.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="total_steps"):
        sched.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="milestone"):
        sched.SequentialLR(opt, [sched.StepLR(opt, 2)], milestones=[3])
    with pytest.raises(ValueError, match="lr_lambdas"):
        sched.LambdaLR(opt, lr_lambda=[lambda e: 1.0])
    with pytest.raises(ValueError, match="momentum or beta1"):
        sched.OneCycleLR(Groups(LRS), max_lr=0.1, total_steps=10)


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
