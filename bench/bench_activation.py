"""Activation family: gelu (erf form), gelu (tanh form) and silu over 16M float32, forward and
forward+backward.

GB/s counts the bytes each pass must move: forward reads x and writes y (8 B/element);
backward reads x and g and writes the gradient (12 B), so forward+backward is 20 B/element.
% compares it with the copy peak (read + write).
"""
import functools
import math

import numpy as np

from bench.grad import fwd_bwd
from bench.harness import Case

N = 1 << 24
ERF = np.vectorize(math.erf, otypes=[np.float32])


def np_gelu(x):
    return (0.5 * x * (1 + ERF(x / np.float32(math.sqrt(2))))).astype(np.float32)


def np_gelu_grad(x, g):
    cdf = 0.5 * (1 + ERF(x / np.float32(math.sqrt(2))))
    return (g * (cdf + x * np.exp(-0.5 * x * x) / np.float32(math.sqrt(2 * math.pi)))).astype(np.float32)


def np_gelu_tanh(x):
    return (0.5 * x * (1 + np.tanh(np.float32(math.sqrt(2 / math.pi)) * (x + np.float32(0.044715) * x ** 3))))


def np_gelu_tanh_grad(x, g):
    k, c = np.float32(math.sqrt(2 / math.pi)), np.float32(0.044715)
    t = np.tanh(k * (x + c * x ** 3))
    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * c * x * x))


def np_silu(x):
    return x / (1 + np.exp(-x))


def np_silu_grad(x, g):
    s = 1 / (1 + np.exp(-x))
    return g * s * (1 + x * (1 - s))


def _f(lib):
    if lib == "fibril":
        import fibril.nn.functional as F
    else:
        import torch.nn.functional as F
    return F


ACTS = {  # name -> (F attribute, kwargs, numpy forward, numpy gradient)
    "gelu": ("gelu", {}, np_gelu, np_gelu_grad),
    "gelu_tanh": ("gelu", {"approximate": "tanh"}, np_gelu_tanh, np_gelu_tanh_grad),
    "silu": ("silu", {}, np_silu, np_silu_grad),
}


def ops(name, grad):
    attr, kw, ref, ref_grad = ACTS[name]

    def run(lib, *a):
        fn = functools.partial(getattr(_f(lib), attr), **kw)
        return fwd_bwd(fn)(*a) if grad else fn(*a)

    return {"fibril": functools.partial(run, "fibril"), "numpy": ref_grad if grad else ref,
            "torch": functools.partial(run, "torch")}


def inputs(grad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(N, dtype=np.float32) * 3
    return (x, rng.standard_normal(N, dtype=np.float32)) if grad else (x,)


def assert_close(out, ref, inputs):
    if out.dtype != np.float32 or out.shape != ref.shape:
        raise AssertionError(f"got {out.dtype} {out.shape}, numpy gives {ref.dtype} {ref.shape}")
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def cases(quick):
    return [Case(name=f"{name} {'fwd+bwd' if grad else 'fwd'} 16M", work=(20 if grad else 8) * N, unit="GB/s",
                 inputs=functools.partial(inputs, grad), ops=ops(name, grad), check=assert_close)
            for name in (("gelu",) if quick else ACTS) for grad in ((False,) if quick else (False, True))]
