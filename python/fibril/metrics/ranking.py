"""ROC curve and area under it, as scikit-learn: roc_curve, auc, roc_auc_score (binary, and
one-vs-rest for multiclass scores)."""

import warnings

import numpy as np

from ._inputs import as_numpy


def _binary_inputs(y_true, y_score, pos_label):
    y_true, y_score = as_numpy(y_true, "y_true").ravel(), as_numpy(y_score, "y_score").astype(np.float64).ravel()
    if len(y_true) != len(y_score):
        raise ValueError(f"y_true ({len(y_true)}) and y_score ({len(y_score)}) have different numbers of samples")
    classes = np.unique(y_true)
    if pos_label is None:
        if len(classes) > 2 or not set(classes.tolist()) <= {0, 1, -1}:
            raise ValueError(f"y_true takes values in {classes.tolist()} and pos_label is not specified: either "
                             "make y_true take value in {0, 1} or {-1, 1} or pass pos_label explicitly.")
        pos_label = 1
    if not np.all(np.isfinite(y_score)):
        raise ValueError("y_score contains NaN or infinity")
    return (y_true == pos_label).astype(np.float64), y_score


def _binary_counts(y_true, y_score):
    """False and true positives at each distinct threshold, highest first."""
    order = np.argsort(y_score, kind="mergesort")[::-1]
    y_score, y_true = y_score[order], y_true[order]
    distinct = np.where(np.diff(y_score))[0]
    threshold_idxs = np.r_[distinct, y_true.size - 1]
    tps = np.cumsum(y_true)[threshold_idxs]
    fps = 1 + threshold_idxs - tps
    return fps, tps, y_score[threshold_idxs]


def roc_curve(y_true, y_score, pos_label=None, drop_intermediate=True):
    """(fpr, tpr, thresholds): the curve starts at (0, 0) with threshold inf; collinear
    points dropped when drop_intermediate."""
    y_true, y_score = _binary_inputs(y_true, y_score, pos_label)
    fps, tps, thresholds = _binary_counts(y_true, y_score)
    if drop_intermediate and fps.shape[0] > 2:
        keep = np.where(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])[0]
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    thresholds = np.r_[np.inf, thresholds]
    if fps[-1] <= 0:
        warnings.warn("No negative samples in y_true, false positive value should be meaningless", RuntimeWarning,
                      stacklevel=2)
        fpr = np.full(fps.shape, np.nan)
    else:
        fpr = fps / fps[-1]
    if tps[-1] <= 0:
        warnings.warn("No positive samples in y_true, true positive value should be meaningless", RuntimeWarning,
                      stacklevel=2)
        tpr = np.full(tps.shape, np.nan)
    else:
        tpr = tps / tps[-1]
    return fpr, tpr, thresholds


def auc(x, y):
    """Area under the curve through the points (x, y) (x monotonic), by the trapezoidal rule."""
    x, y = as_numpy(x, "x").astype(np.float64), as_numpy(y, "y").astype(np.float64)
    if x.shape[0] < 2:
        raise ValueError(f"At least 2 points are needed to compute area under curve, but x.shape = {x.shape[0]}")
    direction = 1
    dx = np.diff(x)
    if np.any(dx < 0):
        if np.all(dx <= 0):
            direction = -1
        else:
            raise ValueError(f"x is neither increasing nor decreasing : {x}.")
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 names it trapz
    return float(direction * trapezoid(y, x))


def _binary_auc(y_true, y_score):
    if len(np.unique(y_true)) != 2:
        raise ValueError("Only one class is present in y_true. ROC AUC score is not defined in that case.")
    fpr, tpr, _ = roc_curve(y_true, y_score)
    return auc(fpr, tpr)


def roc_auc_score(y_true, y_score, average="macro", multi_class="raise", labels=None):
    """Area under the ROC curve. Binary: y_score of shape (n,) scores the greater label.
    Multiclass: y_score of shape (n, classes) (probabilities) with multi_class="ovr", each
    class against the rest, averaged ("macro", "weighted" by prevalence, or None per class)."""
    y_true, y_score = as_numpy(y_true, "y_true"), as_numpy(y_score, "y_score").astype(np.float64)
    classes = np.unique(y_true) if labels is None else np.asarray(labels)
    if y_score.ndim == 2 and y_score.shape[1] == 2 and len(classes) <= 2:
        y_score = y_score[:, 1]
    if y_score.ndim == 1:
        if len(np.unique(y_true)) > 2:
            raise ValueError("multiclass y_true needs y_score of shape (n, classes) and multi_class='ovr'")
        return _binary_auc((y_true == classes[-1]).astype(np.int64), y_score)
    if multi_class != "ovr":
        raise ValueError("multi_class must be 'ovr' for multiclass scores (got {multi_class!r}); 'ovo' is not "
                         "implemented")
    if average not in ("macro", "weighted", None):
        raise ValueError(f"average must be 'macro', 'weighted' or None for one-vs-rest, got {average!r}")
    if y_score.shape != (len(y_true), len(classes)):
        raise ValueError(f"y_score of shape {y_score.shape} does not match {len(y_true)} samples of "
                         f"{len(classes)} classes")
    if not np.allclose(y_score.sum(axis=1), 1):
        raise ValueError("Target scores need to be probabilities for multiclass roc_auc, i.e. they should sum "
                         "up to 1.0 over classes")
    scores = np.array([_binary_auc((y_true == c).astype(np.int64), y_score[:, i]) for i, c in enumerate(classes)])
    if average is None:
        return scores
    weights = np.array([np.sum(y_true == c) for c in classes]) if average == "weighted" else None
    return float(np.average(scores, weights=weights))
