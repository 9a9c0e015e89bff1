"""Norm family: layer_norm and rms_norm over the rows of 8192x4096 float32 (with weight and
bias), batch_norm in training mode on 32x64x56x56 float32 (with weight, bias and running
statistics); forward, and forward+backward with the weight and bias gradients too.

GB/s counts the bytes each pass must move at least: forward reads x and writes y (8 B/element),
backward reads x and g and writes the gradient (12 B), so forward+backward is 20 B/element.
% compares it with the copy peak (read + write).
"""
import functools

import numpy as np

from bench.harness import Case

ROWS, COLS = 8192, 4096
BN_SHAPE = (32, 64, 56, 56)
EPS = 1e-5


def _lib(name):
    if name == "fibril":
        import fibril
        import fibril.nn.functional as F
        return fibril, F
    import torch
    import torch.nn.functional as F
    return torch, F


def np_layer_norm(x, w, b, rms=False):
    m = 0 if rms else x.mean(1, keepdims=True)
    d = x - m
    return d / np.sqrt((d * d).mean(1, keepdims=True) + EPS) * w + (0 if rms else b)


def np_layer_norm_grad(x, g, w, b, rms=False):
    n = x.shape[1]
    m = 0 if rms else x.mean(1, keepdims=True)
    s = 1 / np.sqrt(((x - m) ** 2).mean(1, keepdims=True) + EPS)
    xhat, gw = (x - m) * s, g * w
    c1 = 0 if rms else gw.sum(1, keepdims=True) / n
    return s * (gw - c1 - xhat * (gw * xhat).sum(1, keepdims=True) / n)


def np_batch_norm(x, w, b):
    m, v = x.mean((0, 2, 3), keepdims=True), x.var((0, 2, 3), keepdims=True)
    return (x - m) / np.sqrt(v + EPS) * w.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1)


def np_batch_norm_grad(x, g, w, b):
    count = x.size / x.shape[1]
    m = x.mean((0, 2, 3), keepdims=True)
    s = 1 / np.sqrt(x.var((0, 2, 3), keepdims=True) + EPS)
    sum_g, sum_gd = g.sum((0, 2, 3), keepdims=True), (g * (x - m)).sum((0, 2, 3), keepdims=True)
    return w.reshape(1, -1, 1, 1) * s * (g - sum_g / count - (x - m) * s * s * sum_gd / count)


def row_norm(lib, rms, grad, x, *rest):
    mod, F = _lib(lib)
    g, w, b = rest if grad else (None,) + rest
    if grad:
        x, w, b = (t.detach().requires_grad_() for t in (x, w, b))
    y = F.rms_norm(x, (COLS,), w, eps=EPS) if rms else F.layer_norm(x, (COLS,), w, b, EPS)
    if not grad:
        return y
    y.backward(g)
    return x.grad


def batch_norm(lib, grad, x, *rest):
    mod, F = _lib(lib)
    g, w, b = rest if grad else (None,) + rest
    rm, rv = mod.zeros(BN_SHAPE[1]), mod.ones(BN_SHAPE[1])
    if grad:
        x, w, b = (t.detach().requires_grad_() for t in (x, w, b))
    y = F.batch_norm(x, rm, rv, w, b, training=True)
    if not grad:
        return y
    y.backward(g)
    return x.grad


def inputs(shape, channels, grad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32) * 2 + 1
    w, b = rng.uniform(0.5, 1.5, channels).astype(np.float32), rng.uniform(-1, 1, channels).astype(np.float32)
    return (x, rng.standard_normal(shape, dtype=np.float32), w, b) if grad else (x, w, b)


def assert_close(out, ref, inputs):
    if out.dtype != np.float32 or out.shape != ref.shape:
        raise AssertionError(f"got {out.dtype} {out.shape}, numpy gives {ref.dtype} {ref.shape}")
    np.testing.assert_allclose(out, ref, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(ref).max())))


def cases(quick):
    out = []
    for name, rms in (("layer_norm", False), ("rms_norm", True)):
        for grad in (False, True):
            ref = np_layer_norm_grad if grad else np_layer_norm
            out.append(Case(name=f"{name} {'fwd+bwd' if grad else 'fwd'} {ROWS}x{COLS}",
                            work=(20 if grad else 8) * ROWS * COLS, unit="GB/s",
                            inputs=functools.partial(inputs, (ROWS, COLS), COLS, grad),
                            ops={"fibril": functools.partial(row_norm, "fibril", rms, grad),
                                 "numpy": functools.partial(ref, rms=rms),
                                 "torch": functools.partial(row_norm, "torch", rms, grad)},
                            check=assert_close))
    for grad in (False, True):
        out.append(Case(name=f"batch_norm {'fwd+bwd' if grad else 'fwd'} 32x64x56x56",
                        work=(20 if grad else 8) * int(np.prod(BN_SHAPE)), unit="GB/s",
                        inputs=functools.partial(inputs, BN_SHAPE, BN_SHAPE[1], grad),
                        ops={"fibril": functools.partial(batch_norm, "fibril", grad),
                             "numpy": np_batch_norm_grad if grad else np_batch_norm,
                             "torch": functools.partial(batch_norm, "torch", grad)},
                        check=assert_close))
    return out[:1] if quick else out
