"""Regression metrics as scikit-learn: mean_squared_error, mean_absolute_error, r2_score."""

import numpy as np

from ._inputs import as_numpy

MULTIOUTPUT = ("raw_values", "uniform_average", "variance_weighted")


def _pair(y_true, y_pred):
    y_true, y_pred = as_numpy(y_true, "y_true").astype(np.float64), as_numpy(y_pred, "y_pred").astype(np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true of shape {y_true.shape} and y_pred of shape {y_pred.shape} differ")
    if y_true.ndim not in (1, 2) or y_true.shape[0] == 0:
        raise ValueError(f"expected 1-D or 2-D targets with at least one sample, got shape {y_true.shape}")
    return y_true.reshape(len(y_true), -1), y_pred.reshape(len(y_pred), -1)


def _combine(values, multioutput, weights=None):
    if multioutput == "raw_values":
        return values
    if multioutput not in MULTIOUTPUT:
        raise ValueError(f"multioutput must be one of {MULTIOUTPUT}, got {multioutput!r}")
    return float(np.average(values, weights=weights))


def mean_squared_error(y_true, y_pred, multioutput="uniform_average"):
    y_true, y_pred = _pair(y_true, y_pred)
    return _combine(np.mean((y_true - y_pred) ** 2, axis=0), multioutput)


def mean_absolute_error(y_true, y_pred, multioutput="uniform_average"):
    y_true, y_pred = _pair(y_true, y_pred)
    return _combine(np.mean(np.abs(y_true - y_pred), axis=0), multioutput)


def r2_score(y_true, y_pred, multioutput="uniform_average", force_finite=True):
    """1 - residual sum of squares / total sum of squares, per output. A constant y_true
    gives 1.0 (perfect prediction) or 0.0 when force_finite, else nan or -inf."""
    y_true, y_pred = _pair(y_true, y_pred)
    if len(y_true) < 2:
        raise ValueError("r2_score is not well-defined with less than two samples")
    numerator = np.sum((y_true - y_pred) ** 2, axis=0)
    denominator = np.sum((y_true - y_true.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = 1 - numerator / denominator
    if force_finite:
        scores = np.where(denominator == 0, np.where(numerator == 0, 1.0, 0.0), scores)
    weights = denominator if multioutput == "variance_weighted" else None
    if weights is not None and weights.sum() == 0:
        weights = None
    return _combine(scores, multioutput, weights)
