"""Softmax family: softmax and log_softmax over the rows of 8192x4096 float32, forward and
forward+backward; cross_entropy on 2048x32000 logits (class indices, mean), forward+backward.

GB/s counts the bytes each pass must move at least: softmax forward reads x and writes y
(8 B/element), its backward reads y and g and writes the gradient (12 B), so forward+backward
is 20 B/element; cross_entropy forward+backward reads the logits twice and writes their
gradient (12 B/element). % compares it with the copy peak (read + write).
"""
import functools

import numpy as np

from bench.grad import fwd_bwd, fwd_bwd_scalar
from bench.harness import Case

ROWS, COLS = 8192, 4096
CE_ROWS, CE_CLASSES = 2048, 32000


def _fibril_f():
    import fibril.nn.functional as F
    return F


def _torch_f():
    import torch.nn.functional as F
    return F


def np_softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def np_log_softmax(x):
    s = x - x.max(1, keepdims=True)
    return s - np.log(np.exp(s).sum(1, keepdims=True))


def np_softmax_grad(x, g):
    y = np_softmax(x)
    return y * (g - (g * y).sum(1, keepdims=True))


def np_log_softmax_grad(x, g):
    return g - np_softmax(x) * g.sum(1, keepdims=True)


def np_cross_entropy_grad(x, target):
    p = np_softmax(x)
    p[np.arange(len(target)), target] -= 1
    return p / len(target)


def by_name(name, grad):
    def fib(*a):
        fn = functools.partial(getattr(_fibril_f(), name), dim=1)
        return fwd_bwd(fn)(*a) if grad else fn(*a)

    def tor(*a):
        fn = functools.partial(getattr(_torch_f(), name), dim=1)
        return fwd_bwd(fn)(*a) if grad else fn(*a)

    return fib, tor


def softmax_ops(name, grad):
    fib, tor = by_name(name, grad)
    ref = {("softmax", False): np_softmax, ("log_softmax", False): np_log_softmax,
           ("softmax", True): np_softmax_grad, ("log_softmax", True): np_log_softmax_grad}[name, grad]
    return {"fibril": fib, "numpy": ref, "torch": tor}


def cross_entropy_ops():
    return {
        "fibril": lambda x, t: fwd_bwd_scalar(_fibril_f().cross_entropy)(x, t),
        "numpy": np_cross_entropy_grad,
        "torch": lambda x, t: fwd_bwd_scalar(_torch_f().cross_entropy)(x, t),
    }


def logits(shape, grad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32) * 4
    return (x, rng.standard_normal(shape, dtype=np.float32)) if grad else (x,)


def logits_and_targets():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((CE_ROWS, CE_CLASSES), dtype=np.float32) * 4,
            rng.integers(0, CE_CLASSES, CE_ROWS))


def assert_close(out, ref, inputs):
    if out.dtype != np.float32 or out.shape != ref.shape:
        raise AssertionError(f"got {out.dtype} {out.shape}, numpy gives {ref.dtype} {ref.shape}")
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(ref).max())))


def cases(quick):
    out = []
    for name in ("softmax", "log_softmax"):
        for grad in (False, True):
            if quick and (grad or name == "log_softmax"):
                continue
            out.append(Case(name=f"{name} {'fwd+bwd' if grad else 'fwd'} {ROWS}x{COLS}",
                            work=(20 if grad else 8) * ROWS * COLS, unit="GB/s",
                            inputs=functools.partial(logits, (ROWS, COLS), grad), ops=softmax_ops(name, grad),
                            check=assert_close))
    if not quick:
        out.append(Case(name=f"cross_entropy fwd+bwd {CE_ROWS}x{CE_CLASSES}", work=12 * CE_ROWS * CE_CLASSES,
                        unit="GB/s", inputs=logits_and_targets, ops=cross_entropy_ops(), check=assert_close))
    return out
