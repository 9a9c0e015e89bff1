"""Attention family: scaled_dot_product_attention, float32, against torch's CPU SDPA (its flash
kernel) on the same threads: B8 H8 T1024 D64 causal and not, forward and forward+backward; B1 H8
T4096 D64 causal, whose peak memory is printed before the table (fibril's allocator peak and
the process's peak RSS over the call, for each library: O(T), never the T x T matrix).

GFLOP/s counts the two products of forward (4 T^2 D per head) and the five of backward
(10 T^2 D, no recomputation counted), halved when causal. numpy has no attention: the untimed
reference is a float64 naive computation of the first 64 query rows of batch 0, head 0 (what
the check compares).
"""
import functools
import gc
import math
import os

import numpy as np

from bench.harness import Case

D = 64
REF_ROWS = 64


def _lib(name):
    if name == "fibril":
        import fibril
        import fibril.nn.functional as F
        return fibril, F
    import torch
    import torch.nn.functional as F
    return torch, F


def sdpa(lib, causal, grad, q, k, v, g=None):
    _, F = _lib(lib)
    if grad:
        q, k, v = (t.detach().requires_grad_() for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    if not grad:
        return out
    out.backward(g)
    return q.grad


def reference(causal, grad, q, k, v, g=None):
    """Output (or dQ) rows [:REF_ROWS] of batch 0, head 0, from those query rows only."""
    q0, k0, v0 = (x[0, 0].astype(np.float64) for x in (q, k, v))
    s = q0[:REF_ROWS] @ k0.T / math.sqrt(q0.shape[1])
    if causal:
        s = np.where(np.tril(np.ones(s.shape, dtype=bool)), s, -np.inf)
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    out = p @ v0
    if not grad:
        return out
    g0 = g[0, 0, :REF_ROWS].astype(np.float64)
    ds = p * (g0 @ v0.T - (g0 * out).sum(1, keepdims=True))
    return ds @ k0 / math.sqrt(q0.shape[1])


def check(out, ref, inputs):
    got = out[0, 0, :REF_ROWS]
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(ref).max())))


def make_inputs(b, h, t, grad):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((b, h, t, D), dtype=np.float32) for _ in range(4 if grad else 3)]
    return tuple(xs)


def _rss_kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))


def memory_report(b=1, h=8, t=4096):
    """Peak memory of one causal forward+backward at (b, h, t, D), per library: the allocator's
    peak for fibril, and the rise of the process's peak RSS (reset through clear_refs) for both."""
    xs = make_inputs(b, h, t, True)
    inputs_mib = 4 * sum(x.size for x in xs) / 2**20
    lines = [f"attention memory, causal fwd+bwd B{b} H{h} T{t} D{D} (inputs {inputs_mib:.0f} MiB, "
             f"one T x T float32 matrix per head would be {4 * h * t * t / 2**20:.0f} MiB):"]
    for lib in ("fibril", "torch"):
        try:
            mod, _ = _lib(lib)
        except ImportError:
            continue
        args = [mod.from_numpy(x) for x in xs]
        gc.collect()
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            base = _rss_kib("VmRSS")
        except OSError:
            base = None
        if lib == "fibril":
            mod.reset_peak_memory_stats()
            before = mod.memory_stats()["allocated"]
        sdpa(lib, True, True, *args)
        extra = ""
        if lib == "fibril":
            extra = f"allocator peak +{(mod.memory_stats()['peak'] - before) / 2**20:.1f} MiB, "
        rss = "n/a" if base is None else f"+{(_rss_kib('VmHWM') - base) / 1024:.1f} MiB"
        lines.append(f"  {lib}: {extra}peak RSS {rss}")
    print("\n".join(lines), flush=True)


def cases(quick):
    if not quick and os.environ.get("FIBRIL_BENCH_NO_MEMORY") is None:
        memory_report()
    out = []
    shapes = [(8, 8, 1024, causal) for causal in (True, False)] + [(1, 8, 4096, True)]
    for b, h, t, causal in shapes:
        for grad in (False, True):
            flops = (14 if grad else 4) * b * h * t * t * D * (0.5 if causal else 1.0)
            name = f"sdpa {'causal ' if causal else ''}{'fwd+bwd' if grad else 'fwd'} B{b}H{h}T{t}"
            out.append(Case(name=name, work=flops, unit="GFLOP/s",
                            inputs=functools.partial(make_inputs, b, h, t, grad),
                            ops={"fibril": functools.partial(sdpa, "fibril", causal, grad),
                                 "torch": functools.partial(sdpa, "torch", causal, grad)},
                            reference=functools.partial(reference, causal, grad), check=check))
    return out[:1] if quick else out
