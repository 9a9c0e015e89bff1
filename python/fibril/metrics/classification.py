"""Classification metrics with scikit-learn's names, arguments and results: accuracy_score,
top_k_accuracy_score, precision/recall/F1 (binary, macro, micro, weighted, or per class),
confusion_matrix. y_pred may be scores of shape (n, classes); their argmax is the label."""

import warnings

import numpy as np

from ._inputs import as_numpy, labels_pair

AVERAGES = ("binary", "micro", "macro", "weighted", None)


def accuracy_score(y_true, y_pred, normalize=True):
    """The fraction (or, normalize=False, the number) of correct predictions."""
    y_true, y_pred = labels_pair(y_true, y_pred)
    correct = int(np.sum(y_true == y_pred))
    return correct / len(y_true) if normalize else correct


accuracy = accuracy_score


def top_k_accuracy_score(y_true, y_score, k=2, labels=None, normalize=True):
    """The fraction of samples whose true label is among the k highest scores (ties broken by
    the higher column first, as scikit-learn). Binary scores of shape (n,) score class 1."""
    y_true, y_score = as_numpy(y_true, "y_true"), as_numpy(y_score, "y_score").astype(np.float64)
    classes = np.unique(y_true) if labels is None else np.asarray(labels)
    if y_score.ndim == 1:
        if len(classes) > 2:
            raise ValueError("top_k_accuracy_score: 1-D y_score is for binary labels; pass (n, classes) scores")
        # as scikit-learn: scores all in [0, 1] are probabilities, thresholded at 0.5, others at 0
        threshold = 0.5 if y_score.min() >= 0 and y_score.max() <= 1 else 0.0
        positive = y_score > threshold
        y_score = np.stack([~positive, positive], axis=1).astype(np.float64)
        classes = np.unique(np.concatenate([classes, [0, 1]])) if len(classes) < 2 else classes
    if y_score.ndim != 2 or y_score.shape[0] != len(y_true):
        raise ValueError(f"y_score of shape {y_score.shape} does not match {len(y_true)} labels")
    if y_score.shape[1] != len(classes):
        raise ValueError(f"Number of classes in y_true ({len(classes)}) not equal to the number of columns in "
                         f"'y_score' ({y_score.shape[1]}); pass labels")
    column = np.searchsorted(classes, y_true)
    if np.any(column >= len(classes)) or np.any(classes[np.minimum(column, len(classes) - 1)] != y_true):
        raise ValueError("y_true holds labels that are not in `labels`")
    if k >= y_score.shape[1]:
        hits = np.ones(len(y_true), dtype=bool)
    else:
        top = np.argsort(y_score, axis=1, kind="stable")[:, ::-1][:, :k]
        hits = np.any(top == column[:, None], axis=1)
    return float(np.mean(hits)) if normalize else int(np.sum(hits))


def _positions(labels, values):
    """The index of each value in labels, -1 where absent."""
    order = np.argsort(labels, kind="stable")
    at = np.minimum(np.searchsorted(labels, values, sorter=order), len(labels) - 1)
    found = order[at]
    return np.where(labels[found] == values, found, -1)


def confusion_matrix(y_true, y_pred, labels=None, normalize=None):
    """C[i, j]: samples of true label labels[i] predicted as labels[j]. normalize: 'true'
    (rows sum to 1), 'pred' (columns) or 'all'."""
    y_true, y_pred = labels_pair(y_true, y_pred)
    labels = np.unique(np.concatenate([y_true, y_pred])) if labels is None else np.asarray(labels)
    if labels.size == 0:
        raise ValueError("'labels' should contain at least one label")
    rows, cols = _positions(labels, y_true), _positions(labels, y_pred)
    keep = (rows >= 0) & (cols >= 0)  # samples with a label outside `labels` are left out
    rows, cols = rows[keep], cols[keep]
    cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(cm, (rows, cols), 1)
    if normalize is None:
        return cm
    if normalize not in ("true", "pred", "all"):
        raise ValueError(f"normalize must be one of {{'true', 'pred', 'all', None}}, got {normalize!r}")
    with np.errstate(all="ignore"):
        if normalize == "true":
            out = cm / cm.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            out = cm / cm.sum(axis=0, keepdims=True)
        else:
            out = cm / cm.sum()
    return np.nan_to_num(out)


def _divide(num, den, zero_division, what):
    """num / den with zero_division where den == 0 ('warn' gives 0 and warns, as scikit-learn)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    zero = den == 0
    out = np.divide(num, np.where(zero, 1, den))
    if np.any(zero):
        if zero_division == "warn":
            warnings.warn(f"{what} is ill-defined and being set to 0.0 in labels with no samples; use "
                          "zero_division to control this", RuntimeWarning, stacklevel=4)
            fill = 0.0
        else:
            fill = float(zero_division)
        out = np.where(zero, fill, out)
    return out


def _nanaverage(values, weights):
    """np.average leaving out NaNs (zero_division=np.nan), as scikit-learn; NaN when all are."""
    keep = ~np.isnan(values)
    if not keep.any():
        return np.nan
    if weights is None or weights[keep].sum() == 0:
        return float(np.mean(values[keep]))
    return float(np.average(values[keep], weights=weights[keep]))


def _counts(y_true, y_pred, labels, average, pos_label):
    """Per-label (true positives, predicted, actual) and the labels they are for."""
    present = np.unique(np.concatenate([y_true, y_pred]))
    if average not in AVERAGES:
        raise ValueError(f"average has to be one of {AVERAGES}, got {average!r}")
    if average == "binary":
        if len(present) > 2:
            raise ValueError(f"Target is multiclass but average='binary'. Please choose another average setting, "
                             f"one of {[a for a in AVERAGES if a != 'binary']}.")
        if pos_label not in present and len(present) == 2:
            raise ValueError(f"pos_label={pos_label} is not a valid label. It should be one of {present.tolist()}")
        labels = np.asarray([pos_label])
    elif labels is None:
        labels = present
    else:
        labels = np.asarray(labels)
    tp = np.array([np.sum((y_true == c) & (y_pred == c)) for c in labels.tolist()], dtype=np.float64)
    predicted = np.array([np.sum(y_pred == c) for c in labels.tolist()], dtype=np.float64)
    actual = np.array([np.sum(y_true == c) for c in labels.tolist()], dtype=np.float64)
    return tp, predicted, actual


def precision_recall_fscore_support(y_true, y_pred, beta=1.0, labels=None, pos_label=1, average=None,
                                    zero_division="warn"):
    """scikit-learn's function: precision, recall, F-beta and support (None when averaged)."""
    y_true, y_pred = labels_pair(y_true, y_pred)
    tp, predicted, actual = _counts(y_true, y_pred, labels, average, pos_label)
    if average == "micro":
        tp, predicted, actual = tp.sum(keepdims=True), predicted.sum(keepdims=True), actual.sum(keepdims=True)
    precision = _divide(tp, predicted, zero_division, "Precision")
    recall = _divide(tp, actual, zero_division, "Recall")
    beta2 = beta * beta  # F = (1 + b^2) tp / (b^2 (tp + fn) + tp + fp), from counts
    f_score = _divide((1 + beta2) * tp, beta2 * actual + predicted, zero_division, "F-score")
    if average is None:
        return precision, recall, f_score, actual.astype(np.int64)
    if average == "weighted":
        weights = actual
        if weights.sum() == 0:
            zero = 0.0 if zero_division == "warn" else float(zero_division)
            return zero, zero, zero, None
    else:
        weights = None
    return (_nanaverage(precision, weights), _nanaverage(recall, weights), _nanaverage(f_score, weights), None)


def precision_score(y_true, y_pred, labels=None, pos_label=1, average="binary", zero_division="warn"):
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
                                           zero_division=zero_division)[0]


def recall_score(y_true, y_pred, labels=None, pos_label=1, average="binary", zero_division="warn"):
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
                                           zero_division=zero_division)[1]


def fbeta_score(y_true, y_pred, beta, labels=None, pos_label=1, average="binary", zero_division="warn"):
    return precision_recall_fscore_support(y_true, y_pred, beta=beta, labels=labels, pos_label=pos_label,
                                           average=average, zero_division=zero_division)[2]


def f1_score(y_true, y_pred, labels=None, pos_label=1, average="binary", zero_division="warn"):
    return fbeta_score(y_true, y_pred, 1.0, labels=labels, pos_label=pos_label, average=average,
                       zero_division=zero_division)
