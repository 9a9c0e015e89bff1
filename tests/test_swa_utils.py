"""fibril.optim.swa_utils against torch.optim.swa_utils in float64: AveragedModel step by step
(SWA and EMA, per-tensor and multi-tensor averaging functions, buffers averaged or copied),
state dicts both ways, update_bn, and SWALR's rates and state dict."""

import numpy as np
import pytest

import fibril
from fibril.optim import swa_utils
from fibril.optim.sgd import SGD
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")
tswa = torch.optim.swa_utils


def _net(lib):
    return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.BatchNorm1d(4), lib.nn.Tanh(), lib.nn.Linear(4, 2))


def _pair():
    torch.manual_seed(0)
    theirs = _net(torch).double()
    ours = _net(fibril).double()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _train_step(ours, theirs, rng):
    """New weights and BatchNorm statistics, the same in both models."""
    with torch.no_grad():
        for t in theirs.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.tensor(rng.standard_normal(t.shape)))
            else:
                t.add_(3)
    ours.load_state_dict(theirs.state_dict())


def _same_state(ours, theirs):
    mine, want = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(want)
    for key in want:
        assert mine[key].dtype.name == str(want[key].dtype).removeprefix("torch."), key
        np.testing.assert_allclose(mine[key].numpy(), want[key].numpy(), rtol=1e-13, atol=1e-15, err_msg=key)


AVERAGING = {
    "swa": lambda m: {},
    "swa_fn": lambda m: {"avg_fn": m.get_swa_avg_fn()},
    "swa_multi": lambda m: {"multi_avg_fn": m.get_swa_multi_avg_fn()},
    "ema_fn": lambda m: {"avg_fn": m.get_ema_avg_fn(0.9)},
    "ema_multi": lambda m: {"multi_avg_fn": m.get_ema_multi_avg_fn(0.8)},
}


# multi-tensor SWA of the integer buffer raises in torch: see the test after this one
@pytest.mark.parametrize("averaging, use_buffers", [(name, use_buffers) for name in AVERAGING for use_buffers in
                                                    (False, True) if (name, use_buffers) != ("swa_multi", True)])
def test_averaged_model_matches_torch_step_by_step(averaging, use_buffers):
    ours, theirs = _pair()
    avg = swa_utils.AveragedModel(ours, use_buffers=use_buffers, **AVERAGING[averaging](swa_utils))
    tavg = tswa.AveragedModel(theirs, use_buffers=use_buffers, **AVERAGING[averaging](tswa))
    _same_state(avg, tavg)
    rng = np.random.default_rng(1)
    for step in range(5):
        _train_step(ours, theirs, rng)
        avg.update_parameters(ours), tavg.update_parameters(theirs)
        _same_state(avg, tavg)
    assert int(avg.n_averaged) == 5
    x = np.random.default_rng(2).standard_normal((6, 3))
    avg.eval(), tavg.eval()
    np.testing.assert_allclose(avg(fibril.tensor(x)).detach().numpy(), tavg(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12)


def test_multi_tensor_swa_of_integer_buffers_raises_as_torch():
    ours, theirs = _pair()
    avg = swa_utils.AveragedModel(ours, multi_avg_fn=swa_utils.get_swa_multi_avg_fn(), use_buffers=True)
    tavg = tswa.AveragedModel(theirs, multi_avg_fn=tswa.get_swa_multi_avg_fn(), use_buffers=True)
    avg.update_parameters(ours), tavg.update_parameters(theirs)
    with pytest.raises(RuntimeError) as mine:
        avg.update_parameters(ours)
    with pytest.raises(RuntimeError) as want:
        tavg.update_parameters(theirs)
    assert str(mine.value) == str(want.value)


def test_averaged_model_leaves_the_model_alone_and_its_copy_apart():
    ours, _ = _pair()
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    avg = swa_utils.AveragedModel(ours)
    for p in avg.parameters():
        assert all(p is not q for q in ours.parameters())
    avg.update_parameters(ours)
    avg.update_parameters(ours)
    for key, value in ours.state_dict().items():
        assert fibril.equal(value, before[key]), key


def test_state_dicts_load_both_ways():
    ours, theirs = _pair()
    avg, tavg = swa_utils.AveragedModel(ours), tswa.AveragedModel(theirs)
    rng = np.random.default_rng(3)
    for _ in range(3):
        _train_step(ours, theirs, rng)
        tavg.update_parameters(theirs)
    avg.load_state_dict(tavg.state_dict())
    _same_state(avg, tavg)
    fresh = tswa.AveragedModel(_net(torch).double())
    fresh.load_state_dict({k: torch.tensor(v.numpy()) for k, v in avg.state_dict().items()})
    _same_state(avg, fresh)
    _train_step(ours, theirs, rng)  # the next update weighs the model by 1 / 4 in both
    avg.update_parameters(ours), tavg.update_parameters(theirs)
    _same_state(avg, tavg)


def test_errors_match_torch():
    ours, theirs = _pair()
    with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn"):
        swa_utils.AveragedModel(ours, avg_fn=swa_utils.get_swa_avg_fn(), multi_avg_fn=swa_utils.get_swa_multi_avg_fn())
    for make in ("get_ema_avg_fn", "get_ema_multi_avg_fn"):
        with pytest.raises(ValueError) as mine:
            getattr(swa_utils, make)(1.5)
        with pytest.raises(ValueError) as want:
            getattr(tswa, make)(1.5)
        assert str(mine.value) == str(want.value)


@pytest.mark.parametrize("batches", ["tensors", "pairs"])
def test_update_bn_matches_torch(batches):
    ours, theirs = _pair()
    ours.eval(), theirs.eval()
    data = [np.random.default_rng(i).standard_normal((5 + i, 3)) * (i + 1) for i in range(4)]

    def loader(lib):
        if batches == "tensors":
            return [lib.tensor(x) for x in data]
        return [(lib.tensor(x), lib.zeros(len(x))) for x in data]

    swa_utils.update_bn(loader(fibril), ours)
    tswa.update_bn(loader(torch), theirs)
    _same_state(ours, theirs)
    assert not ours.training and ours[1].momentum == 0.1


def test_fibril_utils_data_holds_fibril_datas_objects_under_torchs_names():
    import fibril.data
    import fibril.utils.data

    names = [n for n in torch.utils.data.__all__ if hasattr(fibril.data, n)]
    assert "DataLoader" in names and "get_worker_info" in names
    for name in names:  # whatever fibril.data has of torch's
        assert getattr(fibril.utils.data, name) is getattr(fibril.data, name), name


def test_update_bn_through_fibril_utils_data_loader():
    from fibril.utils.data import DataLoader, TensorDataset

    ours, theirs = _pair()
    x = np.random.default_rng(4).standard_normal((20, 3))
    swa_utils.update_bn(DataLoader(TensorDataset(fibril.tensor(x)), batch_size=6), ours)
    tswa.update_bn(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(x)), batch_size=6), theirs)
    _same_state(ours, theirs)


def _optimizers():
    values = [np.zeros(1), np.zeros(2)]
    ours = SGD([{"params": [fibril.tensor(v).requires_grad_()], "lr": lr} for v, lr in zip(values, (0.5, 0.2))])
    theirs = torch.optim.SGD([{"params": [torch.tensor(v, requires_grad=True)], "lr": lr}
                              for v, lr in zip(values, (0.5, 0.2))])
    return ours, theirs


@pytest.mark.parametrize("kwargs", [
    {"swa_lr": 0.05},
    {"swa_lr": [0.05, 0.01], "anneal_epochs": 3, "anneal_strategy": "linear"},
    {"swa_lr": 0.3, "anneal_epochs": 0},
    {"swa_lr": 0.01, "anneal_epochs": 1, "anneal_strategy": "cos"},
])
def test_swalr_rates_and_state_dict_match_torch(kwargs):
    ours_opt, theirs_opt = _optimizers()
    ours, theirs = swa_utils.SWALR(ours_opt, **kwargs), tswa.SWALR(theirs_opt, **kwargs)
    for step in range(14):
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-14), step
        assert ours.state_dict() == theirs.state_dict()
        theirs_opt.step()
        ours.step(), theirs.step()
    assert [g["swa_lr"] for g in ours_opt.param_groups] == [g["swa_lr"] for g in theirs_opt.param_groups]


def test_swalr_resumes_from_torchs_state_dict():
    ours_opt, theirs_opt = _optimizers()
    theirs = tswa.SWALR(theirs_opt, swa_lr=0.05, anneal_epochs=6, anneal_strategy="linear")
    for _ in range(2):
        theirs_opt.step()
        theirs.step()
    ours = swa_utils.SWALR(ours_opt, swa_lr=0.05)  # cos, 10 epochs until the state dict says otherwise
    for group, their_group in zip(ours_opt.param_groups, theirs_opt.param_groups):
        group["lr"] = their_group["lr"]
    ours.load_state_dict(theirs.state_dict())
    assert ours.anneal_func is swa_utils.SWALR._linear_anneal
    for step in range(6):
        theirs_opt.step()
        ours.step(), theirs.step()
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-14), step


def test_swalr_warnings_and_errors_match_torch():
    ours_opt, theirs_opt = _optimizers()
    ours, theirs = swa_utils.SWALR(ours_opt, swa_lr=0.05), tswa.SWALR(theirs_opt, swa_lr=0.05)
    with pytest.warns(UserWarning) as mine:
        ours.get_lr()
    with pytest.warns(UserWarning) as want:
        theirs.get_lr()
    assert str(mine[0].message) == str(want[0].message)
    for kwargs in ({"anneal_strategy": "exp"}, {"anneal_epochs": -1}, {"anneal_epochs": 2.0}, {"swa_lr": [0.1]}):
        args = {"swa_lr": 0.05, **kwargs}
        with pytest.raises(ValueError) as mine:
            swa_utils.SWALR(ours_opt, **args)
        with pytest.raises(ValueError) as want:
            tswa.SWALR(theirs_opt, **args)
        assert str(mine.value) == str(want.value)
