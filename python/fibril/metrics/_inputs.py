"""Argument conversion shared by the metrics: tensors, arrays and lists to numpy."""

import numpy as np

from .. import _C
from ..tensor import Tensor


def as_numpy(x, name):
    if isinstance(x, Tensor):
        x = x.detach()
        if x.dtype in (_C.float16, _C.bfloat16):  # numpy has no bfloat16; float16 sums lose precision
            x = x.float()
        x = (x if x.device == "cpu" else x.to("cpu")).numpy()
    x = np.asarray(x)
    if x.dtype == object:
        raise TypeError(f"{name} must be numeric (a tensor, array or list of numbers)")
    return x


def labels_pair(y_true, y_pred):
    """1-D true and predicted labels; y_pred of shape (n, classes) (scores) becomes its argmax."""
    y_true, y_pred = as_numpy(y_true, "y_true"), as_numpy(y_pred, "y_pred")
    if y_pred.ndim == 2 and y_true.ndim == 1:
        y_pred = y_pred.argmax(axis=1)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError(f"expected 1-D labels, got y_true of shape {y_true.shape} and y_pred of shape {y_pred.shape}")
    if len(y_true) != len(y_pred):
        raise ValueError(f"Found input variables with inconsistent numbers of samples: [{len(y_true)}, {len(y_pred)}]")
    if len(y_true) == 0:
        raise ValueError("metrics need at least one sample, got 0")
    return y_true, y_pred
