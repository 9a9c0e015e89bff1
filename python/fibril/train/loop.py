"""fit, evaluate and predict: the training loop a PyTorch user writes by hand, with a
History, callbacks, scheduler stepping, gradient clipping and a guard against NaN losses.

Batches are (input, target) pairs (or longer tuples whose first two items are those):
`loss_fn(model(input), target)`. Metrics are functions of (targets, outputs) as numpy arrays
over the whole epoch, as in fibril.metrics (scores of shape (n, classes) count as their argmax
label for the classification metrics)."""

import math
import time
import warnings

import numpy as np

from ..autograd import no_grad
from ..nn.utils import clip_grad_norm_
from ..ops.join import cat
from ..optim.lr_scheduler import ReduceLROnPlateau
from ..tensor import Tensor
from .. import metrics as _metrics
from ..metrics._inputs import as_numpy
from .callbacks import ProgressBar
from .history import History

ON_NAN = ("stop", "raise", "continue")


class Run:
    """What callbacks see: the model, optimizer, loaders, history, epoch, and stop_training."""

    def __init__(self, model, optimizer, train_loader, epochs):
        self.model, self.optimizer, self.train_loader, self.epochs = model, optimizer, train_loader, epochs
        self.history = History()
        self.epoch = 0
        self.stop_training = False


def _metric_fns(metrics):
    """name -> fn(y_true, y_pred) from a dict, or a list of names of fibril.metrics functions / callables."""
    if metrics is None:
        return {}
    if isinstance(metrics, dict):
        return dict(metrics)
    out = {}
    for m in metrics:
        if isinstance(m, str):
            fn = getattr(_metrics, m, None) or getattr(_metrics, m + "_score", None)
            if fn is None:
                raise ValueError(f"unknown metric {m!r}; pass a function or a name from fibril.metrics")
            out[m] = fn
        elif callable(m):
            out[m.__name__] = m
        else:
            raise TypeError(f"metrics must be names or functions, got {type(m).__name__}")
    return out


def _split(batch):
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return batch[0], batch[1]
    raise ValueError("fit expects batches of (input, target); got a "
                     f"{type(batch).__name__}{'' if not hasattr(batch, '__len__') else f' of {len(batch)} items'}")


def _numpy(t):
    return as_numpy(t, "batch").copy()


def _on(device, x):
    """x (a tensor, or a tuple/list of them) on `device`; x itself when device is None."""
    if device is None:
        return x
    if isinstance(x, (tuple, list)):
        return type(x)(_on(device, v) for v in x)
    return x.to(device) if isinstance(x, Tensor) else x


def _batch_size(x):
    return x.shape[0] if hasattr(x, "shape") and len(x.shape) else 1


def _epoch_metrics(fns, targets, outputs, prefix=""):
    if not fns:
        return {}
    y_true, y_pred = np.concatenate(targets), np.concatenate(outputs)
    return {prefix + name: float(fn(y_true, y_pred)) for name, fn in fns.items()}


def evaluate(model, loader, loss_fn=None, metrics=None, prefix="", device=None):
    """Mean loss and metrics over `loader` in eval mode without gradients; the model's
    train/eval mode is restored afterwards. device: where the batches go (the model must
    already be there)."""
    fns = _metric_fns(metrics)
    was_training = model.training
    model.eval()
    total, count, targets, outputs = 0.0, 0, [], []
    try:
        with no_grad():
            for batch in loader:
                x, y = _on(device, _split(batch))
                out = model(x)
                n = _batch_size(x)
                if loss_fn is not None:
                    total += float(loss_fn(out, y).item()) * n
                count += n
                if fns:
                    targets.append(_numpy(y))
                    outputs.append(_numpy(out))
    finally:
        model.train(was_training)
    logs = {prefix + "loss": total / count} if loss_fn is not None else {}
    logs.update(_epoch_metrics(fns, targets, outputs, prefix))
    return logs


def predict(model, loader, device=None):
    """The model's outputs over `loader` (first item of each batch, moved to `device` when
    given), concatenated, in eval mode."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outs = [model(_on(device, batch[0] if isinstance(batch, (tuple, list)) else batch)) for batch in loader]
    finally:
        model.train(was_training)
    return cat(outs)


def _check_options(epochs, on_nan, scheduler_step):
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if on_nan not in ON_NAN:
        raise ValueError(f"on_nan must be one of {ON_NAN}, got {on_nan!r}")
    if scheduler_step not in ("epoch", "batch"):
        raise ValueError(f"scheduler_step must be 'epoch' or 'batch', got {scheduler_step!r}")


def _train_epoch(run, loss_fn, optimizer, fns, callbacks, scheduler, scheduler_step, clip_grad_norm, on_nan,
                 device):
    """One pass over the training data; returns the epoch's logs, or None when a NaN stopped it."""
    model = run.model
    model.train()
    total, count, skipped, targets, outputs = 0.0, 0, 0, [], []
    for batch_index, batch in enumerate(run.train_loader):
        x, y = _on(device, _split(batch))
        out = model(x)
        loss = loss_fn(out, y)
        value = float(loss.item())
        if not math.isfinite(value):
            message = f"fit: the loss is {value} at epoch {run.epoch}, batch {batch_index}"
            if on_nan == "raise":
                raise FloatingPointError(message + " (on_nan='continue' skips such batches; a lower learning rate "
                                         "or gradient clipping may help)")
            if on_nan == "stop":
                warnings.warn(message + "; training stopped (pass on_nan='continue' to skip such batches and go on)",
                              RuntimeWarning, stacklevel=3)
                run.history.stop_reason = message
                run.stop_training = True
                return None
            skipped += 1
            continue
        optimizer.zero_grad()
        loss.backward()
        if clip_grad_norm is not None:
            clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        if scheduler is not None and scheduler_step == "batch":
            scheduler.step()
        n = _batch_size(x)
        total += value * n
        count += n
        if fns:
            targets.append(_numpy(y))
            outputs.append(_numpy(out))
        for cb in callbacks:
            cb.on_batch_end(run, batch_index, {"loss": value})
    logs = {"loss": total / count if count else math.nan}
    logs.update(_epoch_metrics(fns, targets, outputs) if targets else {})
    if skipped:
        logs["skipped_batches"] = float(skipped)
    return logs


def fit(model, loss_fn, optimizer, train_loader, val_loader=None, epochs=1, callbacks=(), metrics=None,
        scheduler=None, scheduler_step="epoch", clip_grad_norm=None, on_nan="stop", progress=True, device=None):
    """Trains `model` for `epochs` passes over train_loader and returns the History.

    Each epoch logs the mean training loss and metrics, then (with val_loader) "val_loss"
    and "val_<metric>", the learning rate "lr" (first param group, after the epoch's steps)
    and "time" (seconds). scheduler steps after each epoch (or each batch with
    scheduler_step="batch"); ReduceLROnPlateau is stepped with val_loss (else loss).
    clip_grad_norm clips the total gradient norm before each step. A non-finite loss stops
    training with a warning (on_nan="stop"), raises FloatingPointError ("raise"), or skips
    that batch and goes on ("continue"). progress adds a ProgressBar callback. device ("cuda",
    ...): the model is moved there first (before the optimizer's first step, as its
    parameters are moved in place) and every batch as it comes.
    """
    _check_options(epochs, on_nan, scheduler_step)
    if device is not None:
        model.to(device)
    fns = _metric_fns(metrics)
    callbacks = list(callbacks)
    if progress and not any(isinstance(cb, ProgressBar) for cb in callbacks):
        callbacks.insert(0, ProgressBar())
    run = Run(model, optimizer, train_loader, epochs)
    for cb in callbacks:
        cb.on_train_begin(run)
    try:
        for epoch in range(1, epochs + 1):
            run.epoch = epoch
            start = time.perf_counter()
            for cb in callbacks:
                cb.on_epoch_begin(run)
            logs = _train_epoch(run, loss_fn, optimizer, fns, callbacks, scheduler, scheduler_step, clip_grad_norm,
                                on_nan, device)
            if logs is None:
                break
            if val_loader is not None:
                logs.update(evaluate(model, val_loader, loss_fn, fns, prefix="val_", device=device))
            if scheduler is not None and scheduler_step == "epoch":
                if isinstance(scheduler, ReduceLROnPlateau):
                    scheduler.step(logs.get("val_loss", logs["loss"]))
                else:
                    scheduler.step()
            logs["lr"] = float(optimizer.param_groups[0]["lr"])
            logs["time"] = time.perf_counter() - start
            run.history.append(epoch, logs)
            for cb in callbacks:
                cb.on_epoch_end(run, logs)
            if run.stop_training:
                break
    finally:
        for cb in callbacks:
            cb.on_train_end(run)
    return run.history
