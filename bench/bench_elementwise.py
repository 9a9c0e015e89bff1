"""Elementwise family: contiguous binary ops, a broadcast add, and the vectorized float32 math.

GB/s counts bytes read plus bytes written: 3 x 4 per element for a binary op on float32, 2 x 4
for a unary one; the row-vector broadcast reads the matrix and writes the result (2 x 4). The
math functions are checked against numpy in float64, to 4 float32 ulps.
"""
import functools

import numpy as np

import fibril
from bench.harness import Case

N = 1 << 24  # 16M float32: 64 MiB per operand, far beyond the 8 MiB L3
QUICK_N = 1 << 22
ROWS = 4096  # broadcast add: (4096, 4096) matrix + (4096,) row


def binary(name):
    """The public Tensor API (fibril.add, ...), Python layer included."""
    return getattr(fibril, name)


def unary(name):
    return getattr(fibril, name)


def vectors(n, count):
    rng = np.random.default_rng(0)
    return tuple(rng.uniform(-4, 4, n).astype(np.float32) for _ in range(count))


def matrix_and_row(n):
    rng = np.random.default_rng(0)
    return rng.random((n, n), dtype=np.float32), rng.random(n, dtype=np.float32)


def check_math(fn64, out, ref, inputs):
    """numpy's dtype and shape; values within 4 float32 ulps of fn computed in float64."""
    if out.dtype != ref.dtype or out.shape != ref.shape:
        raise AssertionError(f"got {out.dtype} {out.shape}, numpy gives {ref.dtype} {ref.shape}")
    np.testing.assert_allclose(out, fn64(inputs[0].astype(np.float64)), rtol=4.8e-7, atol=1e-30)


def numpy_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def torch_op(name):
    """torch.<name>, looked up at call time: torch is optional."""
    def op(*tensors):
        import torch
        return getattr(torch, name)(*tensors)
    return op


def cases(quick):
    n = QUICK_N if quick else N
    out = [
        Case(name=f"{name} {n >> 20}M", work=12 * n, unit="GB/s", inputs=functools.partial(vectors, n, 2),
             ops={"fibril": binary(name), "numpy": np_fn, "torch": torch_op(name)})
        for name, np_fn in (("add", np.add), ("mul", np.multiply))
    ]
    out.append(Case(name=f"add row {ROWS}x{ROWS}", work=8 * ROWS * ROWS, unit="GB/s",
                    inputs=functools.partial(matrix_and_row, ROWS),
                    ops={"fibril": binary("add"), "numpy": np.add, "torch": torch_op("add")}))
    math = (("exp", np.exp), ("tanh", np.tanh), ("sigmoid", numpy_sigmoid))
    out += [
        Case(name=f"{name} {n >> 20}M", work=8 * n, unit="GB/s", inputs=functools.partial(vectors, n, 1),
             ops={"fibril": unary(name), "numpy": np_fn, "torch": torch_op(name)},
             check=functools.partial(check_math, np_fn))
        for name, np_fn in (math[:1] if quick else math)
    ]
    return out
