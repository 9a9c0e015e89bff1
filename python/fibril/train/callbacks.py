"""Callbacks for fit: hooks called at the start and end of training, of each epoch and after
each batch. A callback stops training by setting `run.stop_training = True`.

EarlyStopping and ModelCheckpoint watch one logged quantity ("val_loss", "val_accuracy",
...); ProgressBar shows a tqdm bar per epoch (a printed line per epoch without tqdm);
LearningCurve saves the plot of the history as a PNG at the end (with matplotlib)."""

import math
import sys
import warnings

from ..serialization import save
from .history import _mode, improved


class Callback:
    def on_train_begin(self, run):
        pass

    def on_epoch_begin(self, run):
        pass

    def on_batch_end(self, run, batch, logs):
        pass

    def on_epoch_end(self, run, logs):
        pass

    def on_train_end(self, run):
        pass


def _monitored(logs, monitor, who):
    if monitor not in logs:
        raise ValueError(f"{who}: monitor={monitor!r} is not logged; the logs have {sorted(logs)} "
                         "(val_* quantities need a val_loader)")
    return logs[monitor]


class EarlyStopping(Callback):
    """Stops when `monitor` has not improved by more than min_delta for `patience` epochs, and
    (restore_best_weights) loads the weights of the best epoch back into the model at the end."""

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto", restore_best_weights=True,
                 verbose=False):
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), abs(float(min_delta))
        self.mode = _mode(monitor, mode)
        self.restore_best_weights, self.verbose = restore_best_weights, verbose
        self.best = self.best_epoch = self.best_weights = self.stopped_epoch = None
        self.wait = 0

    def on_train_begin(self, run):
        self.best = self.best_epoch = self.best_weights = self.stopped_epoch = None
        self.wait = 0

    def on_epoch_end(self, run, logs):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if improved(self.mode, value, self.best, self.min_delta):
            self.best, self.best_epoch, self.wait = value, run.epoch, 0
            if self.restore_best_weights:
                self.best_weights = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= max(self.patience, 1):
            self.stopped_epoch = run.epoch
            run.stop_training = True
            run.history.stop_reason = (f"early stopping: {self.monitor} did not improve on {self.best:.6g} "
                                       f"(epoch {self.best_epoch}) for {self.wait} epochs")

    def on_train_end(self, run):
        if self.best_weights is not None:
            run.model.load_state_dict(self.best_weights)
            if self.verbose:
                print(f"EarlyStopping: restored the weights of epoch {self.best_epoch} "
                      f"({self.monitor} = {self.best:.6g})")


class ModelCheckpoint(Callback):
    """Saves the model's state_dict (fibril.save) after an epoch: only when `monitor` improves
    (save_best_only), else every epoch. filepath may name logged values: "ckpt-{epoch}.safetensors"."""

    def __init__(self, filepath, monitor="val_loss", mode="auto", save_best_only=True):
        self.filepath, self.monitor, self.mode = str(filepath), monitor, _mode(monitor, mode)
        self.save_best_only = save_best_only
        self.best = self.best_path = None

    def on_train_begin(self, run):
        self.best = self.best_path = None

    def on_epoch_end(self, run, logs):
        path = self.filepath.format(epoch=run.epoch, **logs)
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            if not improved(self.mode, value, self.best):
                return
            self.best, self.best_path = value, path
        save(run.model.state_dict(), path)


def _format_logs(logs):
    return " ".join(f"{k}={v:.4g}" for k, v in logs.items() if isinstance(v, float) and k != "time")


class ProgressBar(Callback):
    """A tqdm bar over each epoch's batches with the running loss; without tqdm, one line per epoch."""

    def __init__(self, file=None):
        self.file = file
        self.bar = None

    def on_epoch_begin(self, run):
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        total = len(run.train_loader) if hasattr(run.train_loader, "__len__") else None
        self.bar = tqdm(total=total, desc=f"epoch {run.epoch}/{run.epochs}", leave=True, file=self.file or sys.stderr,
                        dynamic_ncols=True, unit="batch")

    def on_batch_end(self, run, batch, logs):
        if self.bar is not None:
            self.bar.update(1)
            if batch % 10 == 0:
                self.bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

    def on_epoch_end(self, run, logs):
        if self.bar is None:
            print(f"epoch {run.epoch}/{run.epochs}: {_format_logs(logs)}", file=self.file or sys.stdout)
            return
        self.bar.set_postfix_str(_format_logs(logs), refresh=False)
        self.bar.close()
        self.bar = None

    def on_train_end(self, run):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class LearningCurve(Callback):
    """Saves the learning curves (plot_history) to a PNG at the end of training; warns and
    skips when matplotlib is not installed."""

    def __init__(self, path, keys=None):
        self.path, self.keys = path, keys

    def on_train_end(self, run):
        from .plot import plot_history
        if len(run.history) == 0 or all(math.isnan(v) for v in run.history.history.get("loss", [math.nan])):
            return
        try:
            plot_history(run.history, self.path, self.keys)
        except ImportError as err:
            warnings.warn(f"LearningCurve: no plot saved ({err})", RuntimeWarning, stacklevel=2)
