"""Overhead family: ops on 100-element float32 tensors, where the kernel is a small part of the
time and the rest is the Python layer, the binding and the autograd recording: what a small
model pays per op. The throughput columns count bytes read and written and mean little here;
read the time column (per call) and the ratio.

Breakdown of fibril's `a + b` with requires_grad (quiet machine, 2026-11-26; timeit minima):
the _C.binary call 1.4 us (0.4 us of it in C++: the kernel and the output's allocation, the
rest pybind11's dispatch and argument conversion); the forward's Python (one frame, bound by
functools.partial) ~0.7 us; Function.apply in C++ with the context, node, edges and the
output's Tensor ~0.9 us; the operator itself nothing (Tensor.__add__ is the Function's apply,
csrc/python/bind_autograd.cpp). Harness, two quiet runs: a + b no grad 3.2 us (torch 3.6-3.7),
with grad 5.2-5.3 us (torch 6.0-6.3: 1.14-1.21x), forward+backward 112-135 us (1.12-1.21x),
linear+relu 16x32 forward+backward 222-244 us (1.16-1.17x).
"""
import functools

import numpy as np

from bench.harness import Case

N = 100
BATCH, FEATURES = 16, 32


def vectors(count):
    rng = np.random.default_rng(0)
    return tuple(rng.uniform(-4, 4, N).astype(np.float32) for _ in range(count))


def layer_inputs():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((BATCH, FEATURES), dtype=np.float32),
            rng.standard_normal((FEATURES, FEATURES), dtype=np.float32) / FEATURES ** 0.5,
            rng.standard_normal(FEATURES, dtype=np.float32))


def leaves(lib, args):
    """Every argument a leaf that requires grad (numpy has no autograd: as it is)."""
    return args if lib == "numpy" else [x.requires_grad_() for x in args]


def add(a, b):
    return a + b


def add_backward(a, b):
    """Forward, backward from a ones gradient; the leaves' grads reset each call."""
    a.grad = b.grad = None
    (a + b).sum().backward()
    return a.grad


def numpy_add_backward(a, b):
    return np.ones_like(a)


def layer_leaves(lib, args):
    """The layer's leaves, and the library's functional module as the last argument."""
    if lib == "numpy":
        return args
    import importlib
    return leaves(lib, args) + [importlib.import_module(f"{lib}.nn.functional")]


def linear_relu(x, w, b, F):
    """relu(x @ w.T + b) forward and backward of the summed output; returns w's gradient."""
    x.grad = w.grad = b.grad = None
    F.relu(F.linear(x, w, b)).sum().backward()
    return w.grad


def numpy_linear_relu(x, w, b):
    mask = (x @ w.T + b > 0).astype(np.float32)
    return mask.T @ x


def cases(quick):
    two = functools.partial(vectors, 2)
    layer_bytes = 4 * (2 * BATCH * FEATURES + FEATURES * FEATURES + FEATURES)
    return [
        Case(name=f"a + b {N}", work=12 * N, unit="GB/s", inputs=two,
             ops={"fibril": add, "numpy": np.add, "torch": add}),
        Case(name=f"a + b {N} grad", work=12 * N, unit="GB/s", inputs=two, setup=leaves,
             ops={"fibril": add, "numpy": np.add, "torch": add}),
        Case(name=f"a + b {N} fwd+bwd", work=12 * N, unit="GB/s", inputs=two, setup=leaves,
             ops={"fibril": add_backward, "numpy": numpy_add_backward, "torch": add_backward}),
        Case(name=f"linear+relu {BATCH}x{FEATURES} f+b", work=layer_bytes, unit="GB/s", inputs=layer_inputs,
             setup=layer_leaves, ops={"fibril": linear_relu, "numpy": numpy_linear_relu, "torch": linear_relu},
             check=lambda out, ref, inputs: np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)),
    ]
