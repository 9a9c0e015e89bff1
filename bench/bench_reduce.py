"""Reduce family: sums over rows and columns, mean/var over the last dim, max and argmax along
a dim, a full sum, of a 4096x4096 float32 matrix (64 MiB: bound by memory bandwidth).

GB/s counts the bytes of input read; the % column compares it with the copy peak
(read + write), the memory traffic the machine sustains.
"""
import functools

import numpy as np

from bench.harness import Case

N = 4096

OPS = {
    "sum rows": {
        "fibril": lambda a: a.sum(1),
        "numpy": lambda x: x.sum(1),
        "torch": lambda t: t.sum(1),
    },
    "sum cols": {
        "fibril": lambda a: a.sum(0),
        "numpy": lambda x: x.sum(0),
        "torch": lambda t: t.sum(0),
    },
    "sum all": {
        "fibril": lambda a: a.sum(),
        "numpy": lambda x: x.sum(),
        "torch": lambda t: t.sum(),
    },
    "mean rows": {
        "fibril": lambda a: a.mean(-1),
        "numpy": lambda x: x.mean(-1),
        "torch": lambda t: t.mean(-1),
    },
    "var rows": {
        "fibril": lambda a: a.var(-1),
        "numpy": lambda x: x.var(-1, ddof=1),
        "torch": lambda t: t.var(-1),
    },
    "max rows": {
        "fibril": lambda a: a.max(1).values,
        "numpy": lambda x: x.max(1),
        "torch": lambda t: t.max(1).values,
    },
    "amax cols": {
        "fibril": lambda a: a.amax(0),
        "numpy": lambda x: x.max(0),
        "torch": lambda t: t.amax(0),
    },
    "argmax rows": {
        "fibril": lambda a: a.argmax(1),
        "numpy": lambda x: x.argmax(1),
        "torch": lambda t: t.argmax(1),
    },
}
QUICK = ("sum rows", "sum cols")


def random_matrix(n):
    return (np.random.default_rng(0).random((n, n), dtype=np.float32),)


def assert_close(out, ref, inputs):
    """Same dtype and shape as numpy's; values within float32 rounding of a different order."""
    if out.dtype != ref.dtype or out.shape != ref.shape:
        raise AssertionError(f"got {out.dtype} {out.shape}, numpy gives {ref.dtype} {ref.shape}")
    np.testing.assert_allclose(out, ref, rtol=2e-5)


def cases(quick):
    return [
        Case(
            name=f"{name} {N}x{N}",
            work=4 * N * N,
            unit="GB/s",
            inputs=functools.partial(random_matrix, N),
            ops=OPS[name],
            check=assert_close,
        )
        for name in (QUICK if quick else OPS)
    ]
