"""fibril.train: the fit loop, History, callbacks (early stopping with best weights restored,
checkpoints, progress bar, learning-curve PNG), schedulers, clipping, NaN handling, search."""

import math
import sys

import numpy as np
import pytest

import fibril
from fibril import nn
from fibril.data import DataLoader, TensorDataset
from fibril.train import (Callback, EarlyStopping, LearningCurve, ModelCheckpoint, evaluate, fit, grid_search,
                          loguniform, plot_history, predict, random_search)


def blobs(n=120, seed=0, flip=False):
    """Three separable Gaussian blobs in 4-D; flip permutes the labels (a validation set that
    gets worse as training goes on)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 4)).astype(np.float32) * 0.5 + np.eye(4, dtype=np.float32)[y] * 3
    if flip:
        y = (y + 1) % 3
    return TensorDataset(fibril.tensor(x), fibril.tensor(y))


def loader(ds, seed=0, batch_size=16, shuffle=True):
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=fibril.Generator().manual_seed(seed))


def setup(lr=0.05, seed=0):
    fibril.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    return model, nn.CrossEntropyLoss(), fibril.optim.SGD(model.parameters(), lr=lr)


def weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


class Snapshots(Callback):
    def __init__(self):
        self.by_epoch = {}

    def on_epoch_end(self, run, logs):
        self.by_epoch[run.epoch] = weights(run.model)


def test_fit_learns_and_records_history():
    model, loss_fn, opt = setup()
    history = fit(model, loss_fn, opt, loader(blobs()), loader(blobs(seed=1), shuffle=False), epochs=6,
                  metrics=["accuracy"], progress=False)
    assert len(history) == 6 and history.epochs == list(range(1, 7))
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"}
    assert history["loss"][-1] < history["loss"][0] / 2
    assert history["val_accuracy"][-1] > 0.95
    assert history.best("val_accuracy")[1] == max(history["val_accuracy"])
    assert "val_loss" in str(history)
    logs = evaluate(model, loader(blobs(seed=1), shuffle=False), loss_fn, metrics={"acc": fibril.metrics.accuracy})
    assert logs["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-6)
    assert logs["acc"] == history["val_accuracy"][-1]
    out = predict(model, loader(blobs(seed=1), shuffle=False))
    assert out.shape == (120, 3) and model.training


def test_fit_is_deterministic_under_a_seed():
    runs = []
    for _ in range(2):
        model, loss_fn, opt = setup()
        fit(model, loss_fn, opt, loader(blobs()), epochs=2, progress=False)
        runs.append(weights(model))
    for key in runs[0]:
        np.testing.assert_array_equal(runs[0][key], runs[1][key])


def test_metrics_of_a_bfloat16_model():
    model, loss_fn, opt = setup()
    model.to(fibril.bfloat16)
    x, y = blobs().tensors
    data = TensorDataset(x.bfloat16(), y)
    history = fit(model, loss_fn, opt, loader(data), epochs=1, metrics=["accuracy"], progress=False)
    assert 0 <= history["accuracy"][0] <= 1
    logs = evaluate(model, loader(data, shuffle=False), metrics=["accuracy"])
    labels = predict(model, loader(data, shuffle=False)).float().numpy().argmax(1)
    assert logs["accuracy"] == np.mean(labels == y.numpy())


def test_early_stopping_restores_the_best_weights():
    model, loss_fn, opt = setup(lr=0.1)
    snaps = Snapshots()
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    history = fit(model, loss_fn, opt, loader(blobs()), loader(blobs(seed=1, flip=True), shuffle=False), epochs=30,
                  callbacks=[snaps, stopper], progress=False)
    best_epoch, best = history.best("val_loss")
    assert stopper.best_epoch == best_epoch and stopper.best == best
    assert len(history) == best_epoch + 2 < 30
    assert stopper.stopped_epoch == len(history) and "early stopping" in history.stop_reason
    restored = weights(model)
    for key, value in snaps.by_epoch[best_epoch].items():
        np.testing.assert_array_equal(restored[key], value)
    assert not np.array_equal(snaps.by_epoch[len(history)]["0.weight"], restored["0.weight"])


class FakeRun:
    def __init__(self):
        self.model, self.epoch, self.stop_training = nn.Linear(1, 1), 0, False
        self.history = fibril.train.History()


def feed(callback, values, key="val_loss"):
    run = FakeRun()
    callback.on_train_begin(run)
    for epoch, value in enumerate(values, 1):
        run.epoch = epoch
        callback.on_epoch_end(run, {key: value})
        if run.stop_training:
            return epoch
    return None


def test_early_stopping_patience_min_delta_and_mode():
    assert feed(EarlyStopping(patience=2), [3.0, 2.0, 2.5, 2.4, 1.0]) == 4
    assert feed(EarlyStopping(patience=2, min_delta=0.5), [3.0, 2.9, 2.8, 1.0]) == 3
    assert feed(EarlyStopping(patience=0), [3.0, 2.0, 2.0]) == 3
    assert feed(EarlyStopping("val_accuracy", patience=1), [0.5, 0.6, 0.55], key="val_accuracy") == 3
    assert feed(EarlyStopping("val_accuracy", patience=1), [0.5, 0.6, 0.7], key="val_accuracy") is None
    with pytest.raises(ValueError, match="monitor='val_loss' is not logged"):
        feed(EarlyStopping(), [1.0], key="loss")


def test_model_checkpoint_saves_the_best(tmp_path):
    pytest.importorskip("safetensors")
    model, loss_fn, opt = setup(lr=0.1)
    snaps = Snapshots()
    ckpt = ModelCheckpoint(tmp_path / "best.safetensors")
    history = fit(model, loss_fn, opt, loader(blobs()), loader(blobs(seed=1, flip=True), shuffle=False), epochs=5,
                  callbacks=[snaps, ckpt], progress=False)
    best_epoch, _ = history.best("val_loss")
    saved = fibril.load(tmp_path / "best.safetensors")
    for key, value in snaps.by_epoch[best_epoch].items():
        np.testing.assert_array_equal(saved[key].numpy(), value)
    every = ModelCheckpoint(str(tmp_path / "e{epoch}.safetensors"), save_best_only=False)
    fit(model, loss_fn, opt, loader(blobs()), epochs=2, callbacks=[every], progress=False)
    assert (tmp_path / "e1.safetensors").exists() and (tmp_path / "e2.safetensors").exists()


def test_scheduler_steps_per_epoch_or_per_batch():
    model, loss_fn, opt = setup(lr=1.0)
    sched = fibril.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = fit(model, loss_fn, opt, loader(blobs()), epochs=3, scheduler=sched, progress=False)
    assert history["lr"] == [0.5, 0.25, 0.125]
    model, loss_fn, opt = setup(lr=1.0)
    sched = fibril.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    history = fit(model, loss_fn, opt, loader(blobs(), batch_size=40), epochs=2, scheduler=sched,
                  scheduler_step="batch", progress=False)
    assert history["lr"] == pytest.approx([0.9 ** 3, 0.9 ** 6])
    model, loss_fn, opt = setup(lr=0.1)
    plateau = fibril.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    history = fit(model, loss_fn, opt, loader(blobs()), loader(blobs(seed=1, flip=True), shuffle=False), epochs=4,
                  scheduler=plateau, progress=False)
    assert history["lr"][-1] < 0.1


def test_gradient_clipping():
    class Norms(Callback):
        norms = []

        def on_batch_end(self, run, batch, logs):
            grads = [p.grad.numpy() for p in run.model.parameters()]
            self.norms.append(math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads)))

    model, loss_fn, opt = setup()
    fit(model, loss_fn, opt, loader(blobs()), epochs=1, clip_grad_norm=0.01, callbacks=[Norms()], progress=False)
    assert max(Norms.norms) <= 0.01 * (1 + 1e-4)


def nan_at(batch):
    calls = [0]

    def loss_fn(out, y):
        calls[0] += 1
        loss = nn.functional.cross_entropy(out, y)
        return loss * float("nan") if calls[0] == batch else loss

    return loss_fn


def test_nan_loss_stops_raises_or_continues():
    model, _, opt = setup()
    with pytest.warns(RuntimeWarning, match="the loss is nan at epoch 1, batch 2.*on_nan='continue'"):
        history = fit(model, nan_at(3), opt, loader(blobs()), epochs=3, progress=False)
    assert len(history) == 0 and "nan" in history.stop_reason
    model, _, opt = setup()
    with pytest.raises(FloatingPointError, match="loss is nan at epoch 2, batch 0"):
        fit(model, nan_at(9), opt, loader(blobs()), epochs=3, on_nan="raise", progress=False)
    model, _, opt = setup()
    history = fit(model, nan_at(2), opt, loader(blobs()), epochs=2, on_nan="continue", progress=False)
    assert len(history) == 2 and history["skipped_batches"][0] == 1 and math.isnan(history["skipped_batches"][1])
    assert all(math.isfinite(v) for v in history["loss"])


def test_progress_bar_with_and_without_tqdm(capsys, monkeypatch):
    pytest.importorskip("tqdm")
    model, loss_fn, opt = setup()
    fit(model, loss_fn, opt, loader(blobs()), epochs=2)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "8/8" in err
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    fit(model, loss_fn, opt, loader(blobs()), epochs=2)
    out = capsys.readouterr().out
    assert "epoch 2/2: loss=" in out


def test_learning_curve_png(tmp_path):
    pytest.importorskip("matplotlib")
    model, loss_fn, opt = setup()
    path = tmp_path / "curve.png"
    history = fit(model, loss_fn, opt, loader(blobs()), loader(blobs(seed=1), shuffle=False), epochs=2,
                  metrics=["accuracy"], callbacks=[LearningCurve(path)], progress=False)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_history(history, tmp_path / "b.png", keys=["accuracy"]) == tmp_path / "b.png"


def build(params):
    fibril.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, params.get("hidden", 8)), nn.ReLU(), nn.Linear(params.get("hidden", 8), 3))
    return model, nn.CrossEntropyLoss(), fibril.optim.SGD(model.parameters(), lr=params["lr"])


def test_grid_search_sorts_trials():
    results = grid_search(build, {"lr": [1e-4, 0.1], "hidden": [4, 8]}, blobs(80), epochs=2, metrics=["accuracy"])
    assert len(results) == 4
    scores = [r["score"] for r in results]
    assert scores == sorted(scores)
    assert results.best_params["lr"] == 0.1 and results.best_score == scores[0]
    table = str(results)
    assert table.splitlines()[0].split() == ["rank", "hidden", "lr", "val_loss", "best", "epoch"]
    accuracy = grid_search(build, {"lr": [1e-4, 0.1]}, blobs(80), epochs=2, metrics=["accuracy"],
                           monitor="val_accuracy")
    assert accuracy.best_score == max(r["score"] for r in accuracy)
    with pytest.raises(ValueError, match="non-empty list"):
        grid_search(build, {"lr": []}, blobs(80))


def test_random_search_is_reproducible():
    space = {"lr": loguniform(1e-3, 0.3), "hidden": [4, 8, 16], "batch_size": [8, 16]}
    a = random_search(build, space, blobs(80), n_iter=3, epochs=1, seed=5)
    b = random_search(build, space, blobs(80), n_iter=3, epochs=1, seed=5)
    assert [r["params"] for r in a] == [r["params"] for r in b]
    assert [r["score"] for r in a] == [r["score"] for r in b]
    assert all(1e-3 <= r["params"]["lr"] < 0.3 for r in a)


def test_bad_arguments():
    model, loss_fn, opt = setup()
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        fit(model, loss_fn, opt, loader(blobs()), epochs=0)
    with pytest.raises(ValueError, match="on_nan"):
        fit(model, loss_fn, opt, loader(blobs()), on_nan="ignore")
    with pytest.raises(ValueError, match="unknown metric"):
        fit(model, loss_fn, opt, loader(blobs()), metrics=["nope"], progress=False)
    with pytest.raises(ValueError, match=r"batches of \(input, target\)"):
        fit(model, loss_fn, opt, [fibril.zeros(2, 4)], progress=False)
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="up")
