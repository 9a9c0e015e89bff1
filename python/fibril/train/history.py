"""History: what fit records each epoch (train and validation loss, metrics, learning rate, time)."""

import math


def _mode(monitor, mode):
    """'min' or 'max' for a logged quantity; 'auto' guesses max for scores (accuracy, F1, AUC, R2)."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    scores = ("acc", "f1", "auc", "precision", "recall", "r2", "score")
    return "max" if any(s in monitor for s in scores) else "min"


def improved(mode, value, best, min_delta=0.0):
    if best is None:
        return not math.isnan(value)
    return value < best - min_delta if mode == "min" else value > best + min_delta


class History:
    """history["val_loss"] is the list of per-epoch values (Keras's `history.history` too)."""

    def __init__(self):
        self.history = {}
        self.epochs = []
        self.stop_reason = None

    def append(self, epoch, logs):
        for key in logs:
            if key not in self.history:
                self.history[key] = [math.nan] * len(self.epochs)
        for key, values in self.history.items():
            values.append(logs.get(key, math.nan))
        self.epochs.append(epoch)

    def __getitem__(self, key):
        if key not in self.history:
            raise KeyError(f"History has no {key!r}; it has {sorted(self.history)}")
        return self.history[key]

    def __contains__(self, key):
        return key in self.history

    def __len__(self):
        return len(self.epochs)

    def best(self, monitor="val_loss", mode="auto"):
        """(epoch, value) of the best value of `monitor`."""
        values = self[monitor]
        mode = _mode(monitor, mode)
        best = None
        for epoch, value in zip(self.epochs, values):
            if improved(mode, value, None if best is None else best[1]):
                best = (epoch, value)
        if best is None:
            raise ValueError(f"{monitor} has no finite value in this history")
        return best

    def __str__(self):
        keys = list(self.history)
        lines = ["epoch " + " ".join(f"{k:>12}" for k in keys)]
        for i, epoch in enumerate(self.epochs):
            lines.append(f"{epoch:>5} " + " ".join(f"{self.history[k][i]:>12.5g}" for k in keys))
        return "\n".join(lines)

    def __repr__(self):
        return f"History(epochs={len(self)}, keys={list(self.history)})"
