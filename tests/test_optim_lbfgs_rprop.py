"""LBFGS and Rprop against torch.optim. LBFGS: step-by-step trajectories, losses and evaluation
counts on Rosenbrock, least squares and an L2-regularized logistic regression, both line-search
modes, in float64 (float32 loosely); state dicts round trip and exchange with torch; one param
group only. Rprop: 20-step trajectories on two param groups, state dicts exchanged with torch,
bad options; a closed-form run where torch is missing."""

import numpy as np
import pytest

import fibril
from fibril import nn, optim
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)
from test_optim_extra import assert_close, assert_state_dicts_match, make_params, step_both

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")

_rng = np.random.default_rng(0)
X = _rng.standard_normal((40, 5))
W_TRUE = _rng.standard_normal((5, 1))
Y = X @ W_TRUE + 0.1 * _rng.standard_normal((40, 1))
LABELS = np.sign(X @ W_TRUE + 0.5 * _rng.standard_normal((40, 1)))


def constant(lib, array, like):
    return lib.tensor(array.astype(like.detach().numpy().dtype))


def rosenbrock(lib, x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def least_squares(lib, w, b, unused):
    return ((constant(lib, X, w) @ w + b - constant(lib, Y, w)) ** 2).mean()


def logistic(lib, w, b):
    z = constant(lib, X, w) @ w + b
    return (-constant(lib, LABELS, w) * z).exp().log1p().mean() + 0.01 * (w ** 2).sum()


PROBLEMS = {  # the loss and its params' starting values
    "rosenbrock": (rosenbrock, [np.array([-1.5, 2.0, -0.5, 1.0])]),
    "least_squares": (least_squares, [np.zeros((5, 1)), np.zeros(1), np.ones(3)]),  # one param gets no grad
    "logistic": (logistic, [np.zeros((5, 1)), np.zeros(1)]),
}


class LbfgsRun:
    """One library's LBFGS on one problem: step() records the params and the returned loss."""

    def __init__(self, lib, problem, dtype=np.float64, values=None, **options):
        self.lib, (self.loss_fn, starts) = lib, PROBLEMS[problem]
        values = [v.astype(dtype) for v in (values or starts)]
        if lib is torch:
            self.params = [torch.tensor(v, requires_grad=True) for v in values]
        else:
            self.params = [nn.Parameter(fibril.tensor(v)) for v in values]
        self.opt = lib.optim.LBFGS(self.params, **options)
        self.trajectory, self.losses = [], []

    def closure(self):
        self.opt.zero_grad()
        loss = self.loss_fn(self.lib, *self.params)
        loss.backward()
        return loss

    def step(self, steps=1):
        for _ in range(steps):
            self.losses.append(float(self.opt.step(self.closure).detach()))
            self.trajectory.append(self.values())

    def values(self):
        return [p.detach().numpy().copy() for p in self.params]

    def counters(self):
        state = self.opt.state[self.params[0]]
        return state["func_evals"], state["n_iter"]


def assert_runs_close(ours, theirs, rtol):
    assert len(ours.trajectory) == len(theirs.trajectory)
    for step, (mine, ref) in enumerate(zip(ours.trajectory, theirs.trajectory)):
        for a, b in zip(mine, ref):
            assert a.dtype == b.dtype
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(), err_msg=f"step {step}")
    np.testing.assert_allclose(ours.losses, theirs.losses, rtol=rtol, atol=rtol * max(theirs.losses))


LBFGS_CASES = [
    dict(),
    dict(line_search_fn="strong_wolfe"),
    dict(lr=0.5, max_iter=7, history_size=3),
    dict(max_iter=7, max_eval=9, history_size=3, line_search_fn="strong_wolfe"),
    dict(max_iter=4, tolerance_grad=1e-5, tolerance_change=1e-6, line_search_fn="strong_wolfe"),
]


@needs_torch
@pytest.mark.parametrize("options", LBFGS_CASES)
@pytest.mark.parametrize("problem", ["rosenbrock", "least_squares", "logistic"])
def test_lbfgs_trajectory_matches_torch(problem, options):
    options = {"max_iter": 5, **options} if problem == "rosenbrock" else options  # a path over several steps
    ours, theirs = LbfgsRun(fibril, problem, **options), LbfgsRun(torch, problem, **options)
    ours.step(6)
    theirs.step(6)
    assert_runs_close(ours, theirs, rtol=1e-10)
    assert ours.counters() == theirs.counters()
    assert ours.opt.defaults == theirs.opt.defaults
    assert not np.allclose(ours.trajectory[0][0], PROBLEMS[problem][1][0])


@needs_torch
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_float32_first_steps_match_torch(line_search_fn):
    """float32: the scalars round as torch's; near the optimum rounding decides when to stop,
    so only the first steps are compared."""
    ours = LbfgsRun(fibril, "least_squares", np.float32, max_iter=3, line_search_fn=line_search_fn)
    theirs = LbfgsRun(torch, "least_squares", np.float32, max_iter=3, line_search_fn=line_search_fn)
    ours.step(2)
    theirs.step(2)
    assert_runs_close(ours, theirs, rtol=1e-5)
    assert ours.opt.state[ours.params[0]]["H_diag"].dtype == fibril.float32


def test_lbfgs_solves_least_squares():
    run = LbfgsRun(fibril, "least_squares", tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe")
    run.step(3)
    solution, *_ = np.linalg.lstsq(np.hstack([X, np.ones((40, 1))]), Y, rcond=None)
    np.testing.assert_allclose(np.vstack([run.params[0].detach().numpy(), run.params[1].detach().numpy()]),
                               solution, rtol=1e-6, atol=1e-8)
    assert run.params[2].tolist() == [1.0, 1.0, 1.0] and run.params[2].grad is None


def test_lbfgs_stops_at_once_at_an_optimum():
    run = LbfgsRun(fibril, "rosenbrock", values=[np.ones(4)])
    run.step(2)
    assert run.counters() == (2, 0) and run.losses == [0.0, 0.0]


def torch_copy(value):
    """A fibril state value as torch's (tensors in lists too)."""
    if isinstance(value, list):
        return [torch_copy(v) for v in value]
    return torch.from_numpy(value.numpy().copy()) if isinstance(value, fibril.Tensor) else value


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_state_dict_round_trip(line_search_fn):
    options = dict(max_iter=3, history_size=4, line_search_fn=line_search_fn)
    first = LbfgsRun(fibril, "logistic", **options)
    first.step(2)
    saved = first.opt.state_dict()
    resumed = LbfgsRun(fibril, "logistic", values=first.values(), **options)
    resumed.opt.load_state_dict(saved)
    state, original = resumed.opt.state[resumed.params[0]], first.opt.state[first.params[0]]
    assert sorted(state) == sorted(original) and state["old_dirs"] is not original["old_dirs"]
    assert all(a is not b for a, b in zip(state["old_dirs"], original["old_dirs"]))
    first.step(3)
    resumed.step(3)
    for mine, ref in zip(resumed.trajectory, first.trajectory[2:]):
        for a, b in zip(mine, ref):
            np.testing.assert_array_equal(a, b)
    assert resumed.counters() == first.counters()


@needs_torch
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_state_dicts_exchange_with_torch(line_search_fn):
    options = dict(max_iter=3, history_size=4, line_search_fn=line_search_fn)
    ours, theirs = LbfgsRun(fibril, "logistic", **options), LbfgsRun(torch, "logistic", **options)
    ours.step(2)
    theirs.step(2)
    ours_sd, theirs_sd = ours.opt.state_dict(), theirs.opt.state_dict()
    assert sorted(ours_sd["state"][0]) == sorted(theirs_sd["state"][0])
    assert ours_sd["param_groups"] == theirs_sd["param_groups"]

    from_theirs = LbfgsRun(fibril, "logistic", values=theirs.values(), **options)
    from_theirs.opt.load_state_dict(theirs_sd)
    from_ours = LbfgsRun(torch, "logistic", values=ours.values(), **options)
    from_ours.opt.load_state_dict({"state": {0: {k: torch_copy(v) for k, v in ours_sd["state"][0].items()}},
                                   "param_groups": ours_sd["param_groups"]})
    for run in (ours, theirs, from_theirs, from_ours):
        run.trajectory, run.losses = [], []
        run.step(3)
    assert_runs_close(from_theirs, theirs, rtol=1e-10)
    assert_runs_close(ours, from_ours, rtol=1e-10)
    assert from_theirs.counters() == theirs.counters()


def test_lbfgs_bad_arguments():
    p, q = nn.Parameter(fibril.zeros(2)), nn.Parameter(fibril.zeros(3))
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        optim.LBFGS([{"params": [p]}, {"params": [q]}])
    opt = optim.LBFGS([p])
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        opt.add_param_group({"params": [q]})
    assert len(opt.param_groups) == 1
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        optim.LBFGS([p], lr=-1)
    with pytest.raises(ValueError, match="only 'strong_wolfe' is supported"):
        optim.LBFGS([p], line_search_fn="armijo")
    with pytest.raises(TypeError):
        opt.step()  # a closure is required
    assert optim.LBFGS([p], max_iter=8).defaults["max_eval"] == 10
    if torch is not None:
        t = torch.zeros(2, requires_grad=True)
        with pytest.raises(ValueError, match="doesn't support per-parameter options"):
            torch.optim.LBFGS([{"params": [t]}, {"params": [torch.zeros(3, requires_grad=True)]}])
        with pytest.raises(ValueError, match="Invalid learning rate: -1"):
            torch.optim.LBFGS([t], lr=-1)
        with pytest.raises(TypeError):
            torch.optim.LBFGS([t]).step()


# ------------------------------------------------------------------------------ Rprop
RTOL = {np.float32: 1e-6, np.float64: 1e-13}

RPROP_CASES = [
    dict(),
    dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.08)),  # both bounds of the step size are hit
    dict(lr=0.02, maximize=True, foreach=False, capturable=False),
]


def groups(params):
    """Two groups, the second with its own lr and etas."""
    return [{"params": params[:2]}, {"params": params[2:], "lr": 0.003, "etas": (0.4, 1.1)}]


def random_grad(rng, shape, dtype):
    """Gradients whose signs often flip, some elements exactly zero."""
    g = rng.standard_normal(shape)
    return np.where(rng.random(shape) < 0.2, 0.0, g).astype(dtype)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", RPROP_CASES)
def test_rprop_trajectory_matches_torch(options, dtype):
    rng = np.random.default_rng(0)
    tparams, fparams = make_params(rng, dtype)
    before = [p.detach().numpy().copy() for p in fparams]
    topt, fopt = torch.optim.Rprop(groups(tparams), **options), optim.Rprop(groups(fparams), **options)
    step_both(rng, topt, fopt, 20, grad=random_grad)
    assert_close(fparams, tparams, dtype)
    for fp, tp in zip(fparams, tparams):
        np.testing.assert_allclose(fopt.state[fp]["step_size"].numpy(), topt.state[tp]["step_size"].numpy(),
                                   rtol=RTOL[dtype])
    assert all(not np.array_equal(p.detach().numpy(), b) for p, b in zip(fparams, before))
    assert fopt.defaults == topt.defaults and fopt.param_groups[1]["etas"] == (0.4, 1.1)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rprop_state_dicts_exchange_with_torch(dtype):
    rng = np.random.default_rng(1)
    options = RPROP_CASES[1]
    tparams, fparams = make_params(rng, dtype)
    topt, fopt = torch.optim.Rprop(groups(tparams), **options), optim.Rprop(groups(fparams), **options)
    step_both(rng, topt, fopt, 7, grad=random_grad)
    tsd, fsd = topt.state_dict(), fopt.state_dict()
    assert_state_dicts_match(fsd, tsd, RTOL[dtype])

    t_copies = [torch.tensor(p.detach().numpy(), requires_grad=True) for p in fparams]
    f_copies = [nn.Parameter(fibril.tensor(p.detach().numpy())) for p in tparams]
    from_torch = optim.Rprop(groups(f_copies), **options)
    from_torch.load_state_dict(tsd)
    from_fibril = torch.optim.Rprop(groups(t_copies), **options)
    state = {i: {k: torch_copy(v) for k, v in s.items()} for i, s in fsd["state"].items()}
    from_fibril.load_state_dict({"state": state, "param_groups": fsd["param_groups"]})
    seed = rng.integers(1 << 30)
    step_both(np.random.default_rng(seed), topt, from_torch, 10, grad=random_grad)
    step_both(np.random.default_rng(seed), from_fibril, fopt, 10, grad=random_grad)
    assert_close(f_copies, tparams, dtype)
    assert_close(fparams, t_copies, dtype)


@pytest.mark.parametrize("options, error, message", [
    (dict(lr=-0.1), ValueError, "Invalid learning rate: -0.1"),
    (dict(etas=(1.0, 1.2)), ValueError, "Invalid eta values: 1.0, 1.2"),
    (dict(etas=(0.5, 0.9)), ValueError, "Invalid eta values: 0.5, 0.9"),
    (dict(etas=(0.5, 1.0)), ValueError, "Invalid eta values: 0.5, 1.0"),
    (dict(etas=(0.0, 1.2)), ValueError, "Invalid eta values: 0.0, 1.2"),
])
def test_rprop_bad_options_raise_as_torch(options, error, message):
    with pytest.raises(error, match=message):
        optim.Rprop([nn.Parameter(fibril.zeros(2))], **options)
    if torch is not None:
        with pytest.raises(error, match=message):
            torch.optim.Rprop([torch.zeros(2, requires_grad=True)], **options)


def test_rprop_steps_by_hand():
    """Element by element: same sign grows the step by etaplus, a flip shrinks it by etaminus
    and skips the move (and the next step's comparison), zero keeps it; clamped to step_sizes."""
    p = nn.Parameter(fibril.zeros(4, dtype=fibril.float64))
    opt = optim.Rprop([p], lr=0.1, etas=(0.5, 2.0), step_sizes=(0.04, 0.3), foreach=True, capturable=True)
    expected = np.zeros(4)
    for grad, steps, moves in [  # moves: the signs of the grad, zeroed where it flipped
        ([1.0, 1.0, -1.0, 0.0], [0.1, 0.1, 0.1, 0.1], [1, 1, -1, 0]),  # prev = 0: factor 1
        ([1.0, -1.0, -1.0, 1.0], [0.2, 0.05, 0.2, 0.1], [1, 0, -1, 1]),
        ([1.0, -1.0, -1.0, -1.0], [0.3, 0.05, 0.3, 0.05], [1, -1, -1, 0]),  # [1]: prev was zeroed
        ([1.0, 1.0, 1.0, 1.0], [0.3, 0.04, 0.15, 0.05], [1, 0, 0, 1]),
    ]:
        p.grad = fibril.tensor(grad, dtype=fibril.float64)
        opt.step()
        expected -= np.array(moves) * np.array(steps)
        np.testing.assert_allclose(opt.state[p]["step_size"].numpy(), steps, rtol=1e-15)
        np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-15)
    assert opt.state[p]["step"].item() == 4.0
    with pytest.raises(NotImplementedError):
        optim.Rprop([p], differentiable=True)
