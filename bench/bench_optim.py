"""Optim family: one optimizer step (Adam, AdamW, SGD with momentum) over 16M float32
parameters in 100 tensors, fibril's fused multi-tensor kernel against torch.optim with
fused=True and with foreach=True (one case each), and a plain numpy step.

GB/s counts the bytes of params, grads and state read and written once per step: Adam and
AdamW 28 B per parameter (param r+w, grad r, exp_avg r+w, exp_avg_sq r+w), SGD momentum
20 B (param r+w, grad r, buffer r+w). The % column compares it with the copy peak.
Each call is one step of an optimizer built on the first call; the check compares the first
tensor after that first step with numpy's.
"""
import functools

import numpy as np

from bench.harness import Case

N = 1 << 24
TENSORS = 100
LR, BETAS, EPS, WD, MOMENTUM = 1e-3, (0.9, 0.999), 1e-8, 0.01, 0.9
BYTES = {"Adam": 28, "AdamW": 28, "SGD": 20}
OPTIONS = {"Adam": dict(lr=LR, betas=BETAS, eps=EPS), "AdamW": dict(lr=LR, betas=BETAS, eps=EPS, weight_decay=WD),
           "SGD": dict(lr=LR, momentum=MOMENTUM)}

_live = {}  # (case, lib) -> step function; one case's optimizers at a time (~1 GB each)
_referenced = set()  # cases whose numpy reference step has been taken


def bounds():
    edges = np.linspace(0, N, TENSORS + 1).astype(np.int64)
    return list(zip(edges[:-1], edges[1:]))


def inputs():
    rng = np.random.default_rng(0)
    return rng.standard_normal(N, dtype=np.float32), rng.standard_normal(N, dtype=np.float32)


def stepper(case, lib, build):
    """An op that builds its optimizer on the first call and steps it on every call. numpy's
    first call is the harness's reference: a step of a throwaway optimizer."""

    def op(params, grads):
        key = (case, lib)
        if lib == "numpy" and case not in _referenced:
            _referenced.add(case)
            return build(np.asarray(params), grads)().copy()
        if key not in _live:
            _live.clear()
            _live[key] = build(np.asarray(params), grads)
        return _live[key]()

    return op


def fibril_build(name, flat, grads):
    import fibril

    params = [fibril.nn.Parameter(fibril.tensor(flat[a:b])) for a, b in bounds()]
    for p, (a, b) in zip(params, bounds()):
        p.grad = grads[a:b]
    opt = getattr(fibril.optim, name)(params, **OPTIONS[name])

    def step():
        opt.step()
        return params[0].detach()

    return step


def torch_build(name, variant, flat, grads):
    import torch

    params = [torch.nn.Parameter(torch.tensor(flat[a:b])) for a, b in bounds()]
    for p, (a, b) in zip(params, bounds()):
        p.grad = grads[a:b]
    opt = getattr(torch.optim, name)(params, **OPTIONS[name], **{variant: True})

    def step():
        opt.step()
        return params[0].detach()

    return step


def numpy_build(name, flat, grads):
    """torch's formulas in numpy, in place, with scratch buffers (no allocation per step)."""
    params = [flat[a:b].copy() for a, b in bounds()]
    grads = [grads[a:b] for a, b in bounds()]
    state = [[np.zeros_like(p) for _ in range(2)] for p in params]
    scratch = [np.empty_like(p) for p in params]
    count = [0]

    def step():
        count[0] += 1
        t = count[0]
        for p, g, (m, v), s in zip(params, grads, state, scratch):
            if name == "SGD":
                if t == 1:
                    m[...] = g
                else:
                    m *= MOMENTUM
                    m += g
                p -= np.float32(LR) * m
                continue
            if name == "AdamW":
                p *= np.float32(1 - LR * WD)
            m += np.float32(1 - BETAS[0]) * (g - m)
            v *= np.float32(BETAS[1])
            np.multiply(g, g, out=s)
            s *= np.float32(1 - BETAS[1])
            v += s
            np.sqrt(v, out=s)
            s /= np.float32((1 - BETAS[1] ** t) ** 0.5)
            s += np.float32(EPS)
            np.divide(m, s, out=s)
            s *= np.float32(-LR / (1 - BETAS[0] ** t))
            p += s
        return params[0]

    return step


def assert_close(out, ref, inputs):
    if out.dtype != ref.dtype or out.shape != ref.shape:
        raise AssertionError(f"got {out.dtype} {out.shape}, numpy gives {ref.dtype} {ref.shape}")
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-7)


def cases(quick):
    names = ("Adam",) if quick else ("Adam", "AdamW", "SGD")
    out = []
    for name in names:
        for variant in ("fused", "foreach"):
            case = f"{name} 16M/100 vs torch {variant}"
            out.append(Case(
                name=case,
                work=BYTES[name] * N,
                unit="GB/s",
                inputs=inputs,
                ops={"fibril": stepper(case, "fibril", functools.partial(fibril_build, name)),
                     "numpy": stepper(case, "numpy", functools.partial(numpy_build, name)),
                     "torch": stepper(case, "torch", functools.partial(torch_build, name, variant))},
                check=assert_close,
            ))
    return out
