"""Random family: rand and randn of 16M float32 (fibril's Philox vs numpy's default_rng, PCG64,
and torch's mt19937), each library drawing from its own generator, fresh output each call.

GB/s counts the bytes written (4 per element). numpy's generators run on one thread; fibril
and torch use every thread the harness pins. Values differ by design (different generators),
so the check compares statistics: mean and standard deviation within 6 standard errors of the
distribution's.
"""
import math

import numpy as np

import fibril
from bench.harness import Case

N = 1 << 24  # 16M float32: 64 MiB of output, far beyond the 8 MiB L3
QUICK_N = 1 << 22
MOMENTS = {"rand": (0.5, math.sqrt(1 / 12)), "randn": (0.0, 1.0)}


def ops(name, n):
    rng = np.random.default_rng(0)
    numpy_ops = {"rand": lambda: rng.random(n, dtype=np.float32),
                 "randn": lambda: rng.standard_normal(n, dtype=np.float32)}

    def torch_op():
        import torch
        return getattr(torch, name)(n)

    return {"fibril": lambda: getattr(fibril, name)(n), "numpy": numpy_ops[name], "torch": torch_op}


def check_moments(name):
    mean, std = MOMENTS[name]

    def check(out, ref, inputs):
        if out.dtype != np.float32 or out.shape != ref.shape:
            raise AssertionError(f"got {out.dtype} {out.shape}, expected float32 {ref.shape}")
        x = out.astype(np.float64)
        stderr = std / math.sqrt(x.size)
        if abs(x.mean() - mean) > 6 * stderr or abs(x.std() - std) > 6 * stderr * 2:
            raise AssertionError(f"mean {x.mean():.5f}, std {x.std():.5f}; expected {mean:.5f}, {std:.5f}")

    return check


def cases(quick):
    n = QUICK_N if quick else N
    return [
        Case(name=f"{name} {n >> 20}M f32", work=4 * n, unit="GB/s", inputs=tuple, ops=ops(name, n),
             check=check_moments(name))
        for name in ("rand", "randn")
    ]
