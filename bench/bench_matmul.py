"""Matmul family: float32 GEMM on square, skinny (few rows of A against a 4096x4096 B),
Linear-layer and batched shapes. GFLOP/s counts 2*m*n*k per product; % peak compares it with
the machine's fp32 FMA peak on the same threads.

`linear` rows compute relu(x @ W.T + b), the bias and activation fused into fibril's GEMM;
numpy and PyTorch run the same three steps their users would write.
"""
import functools

import numpy as np

from bench.harness import Case

SQUARE = (64, 128, 256, 512, 1024, 2048, 4096)
SKINNY_ROWS = (1, 4, 16, 32)
LINEAR = ((64, 784, 256), (512, 768, 3072), (512, 3072, 768))  # batch x in x out
BATCHED = (64, 128, 64, 128)  # batch x (m x k @ k x n)
QUICK_SQUARE = (256, 1024)


def operands(*shapes):
    rng = np.random.default_rng(0)
    return tuple(rng.standard_normal(s, dtype=np.float32) for s in shapes)


def assert_close(out, ref, inputs):
    """float32 sums of k products in another order: within a few ulps of the magnitude."""
    if out.dtype != ref.dtype or out.shape != ref.shape:
        raise AssertionError(f"got {out.dtype} {out.shape}, numpy gives {ref.dtype} {ref.shape}")
    k = inputs[0].shape[-1]
    np.testing.assert_allclose(out, ref, atol=2e-6 * np.sqrt(k) * max(1.0, np.abs(ref).max()), rtol=1e-4)


MATMUL = {
    "fibril": lambda a, b: a @ b,
    "numpy": lambda a, b: a @ b,
    "torch": lambda a, b: a @ b,
}


def _linear_fibril(x, w, b):
    from fibril.ops.matmul import linear
    return linear(x, w, b, "relu")


def _linear_torch(x, w, b):
    import torch
    return torch.relu(torch.nn.functional.linear(x, w, b))


LINEAR_RELU = {
    "fibril": _linear_fibril,
    "numpy": lambda x, w, b: np.maximum(x @ w.T + b, 0),
    "torch": _linear_torch,
}


def matmul_case(name, m, k, n, batch=None):
    lead = () if batch is None else (batch,)
    return Case(name=name, work=2.0 * m * n * k * (batch or 1), unit="GFLOP/s",
                inputs=functools.partial(operands, lead + (m, k), lead + (k, n)), ops=MATMUL, check=assert_close)


def cases(quick):
    out = [matmul_case(f"square {n}", n, n, n) for n in (QUICK_SQUARE if quick else SQUARE)]
    if quick:
        return out
    out += [matmul_case(f"skinny {m}x4096x4096", m, 4096, 4096) for m in SKINNY_ROWS]
    out += [Case(name=f"linear {m}x{k}x{n}", work=2.0 * m * n * k, unit="GFLOP/s",
                 inputs=functools.partial(operands, (m, k), (n, k), (n,)), ops=LINEAR_RELU, check=assert_close)
            for m, k, n in LINEAR]
    batch, m, k, n = BATCHED
    out.append(matmul_case(f"batched {batch}x{m}x{k}x{n}", m, k, n, batch))
    return out
