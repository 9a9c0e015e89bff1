"""Anomaly detection (torch.autograd.detect_anomaly): while enabled, every recorded op keeps
the traceback of its forward call, and backward names the op whose backward failed or (with
check_nan) returned NaN, warning with that traceback, as torch does.

Nodes are made in C++ (Function.apply), but each op's context is made by calling FunctionCtx
from the op's caller, with no Python frame of the op's own in between: FunctionCtx gets an
__init__ that records the caller's stack only while anomaly mode is on, so ops cost nothing
extra otherwise."""

import functools
import sys
import traceback
import warnings

from .function import FunctionCtx

_enabled = False
_check_nan = True


def is_anomaly_enabled():
    return _enabled


def is_anomaly_check_nan_enabled():
    return _check_nan


def set_anomaly_enabled(enabled, check_nan=True):
    global _enabled, _check_nan
    _enabled, _check_nan = bool(enabled), bool(check_nan)
    if _enabled:
        FunctionCtx.__init__ = _record_forward_stack
    elif "__init__" in FunctionCtx.__dict__:
        del FunctionCtx.__init__


def _record_forward_stack(ctx):
    ctx._forward_stack = traceback.format_stack(sys._getframe(1))


def forward_stack(node):
    """The formatted traceback of the forward call that recorded node, or None when it was
    recorded outside anomaly mode (or is a leaf's accumulator)."""
    ctx = getattr(node, "ctx", None)
    return None if ctx is None else ctx.__dict__.get("_forward_stack")


def warn_error_in(node):
    """torch's warning when a node's backward raised under anomaly mode."""
    stack = forward_stack(node)
    if stack is None:
        message = (f"Error detected in {node.name()}. No forward pass information available. Enable detect "
                   "anomaly during forward pass for more information.")
    else:
        message = f"Error detected in {node.name()}. Traceback of forward call that caused the error:\n" + "".join(stack)
    warnings.warn(message, stacklevel=2)


def check_nan(node, grads):
    """Raises as torch when one of the gradients node's backward returned holds a NaN."""
    from ..ops.elementwise import isnan

    for i, g in enumerate(grads):
        if g is not None and g.dtype.is_floating_point and bool(isnan(g.detach()).any()):
            raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th output.")


class detect_anomaly:
    """Context manager (and decorator) that enables anomaly detection while inside it."""

    def __init__(self, check_nan=True):
        self.prev = is_anomaly_enabled()
        self.check_nan = check_nan
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime and should only be "
                      "enabled for debugging.", stacklevel=2)

    def __enter__(self):
        set_anomaly_enabled(True, self.check_nan)

    def __exit__(self, *exc):
        set_anomaly_enabled(self.prev, self.prev_check_nan)
        return False

    def __call__(self, fn):
        check = self.check_nan

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with warnings.catch_warnings():  # warned once, when decorating
                warnings.simplefilter("ignore")
                context = detect_anomaly(check)
            with context:
                return fn(*args, **kwargs)

        return wrapper


class set_detect_anomaly:
    """Sets anomaly detection on or off when constructed (a function call), restoring the previous
    setting on leaving a `with` block."""

    def __init__(self, mode, check_nan=True):
        self.prev = is_anomaly_enabled()
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        set_anomaly_enabled(mode, check_nan)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        set_anomaly_enabled(self.prev, self.prev_check_nan)
        return False
