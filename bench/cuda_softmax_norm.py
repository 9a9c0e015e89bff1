"""CUDA softmax and norm families against torch CUDA, on a GPU machine:

    python bench/cuda_softmax_norm.py            # the shapes of the issue (needs ~6 GiB of GPU memory)
    python bench/cuda_softmax_norm.py --quick    # small shapes, also runs under FIBRIL_CUDA_EMULATOR=1
    python bench/cuda_softmax_norm.py --dtype bfloat16   # (or float16) both libraries in 16-bit

Checks each fibril result against torch first, then times both with bench.cuda's measure
(interleaved samples of several calls, a device synchronize closing each sample, median) and
prints ms, GB/s over the minimal bytes (each operand read once, each result written once) and
fibril's GB/s as a % of a device copy of the same bytes (torch's copy_), with torch's time and
ratio. fibril's cross_entropy forward waits for the device once per call (the out-of-range
target check).
"""

import argparse
import os
import sys

import numpy as np

import fibril
import fibril.nn.functional as F

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

if not __package__:  # run as `python bench/cuda_softmax_norm.py`: bench.cuda from the repo root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.cuda import measure  # noqa: E402


def training_step(forward, leaves, grad):
    """A call that clears the leaves' gradients, then runs forward().backward(grad) (fibril or
    torch tensors alike)."""
    def step():
        for leaf in leaves:
            leaf.grad = None
        forward().backward(grad)
    return step


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"],
                   help="operands (and parameters) in this dtype, for fibril and torch alike")
    args = p.parse_args()
    dtype = getattr(fibril, args.dtype)
    tdtype = getattr(torch, args.dtype) if torch is not None else None
    size = dtype.itemsize  # bytes per element: the GB/s count the operands as stored
    tol16 = 2e-2 if args.dtype != "float32" else None  # a few 16-bit ulps of results near 1
    if not fibril.cuda.is_available():
        sys.exit("fibril.cuda.is_available() is False")
    have_torch = torch is not None and torch.cuda.is_available()
    rng = np.random.default_rng(0)
    if args.quick:
        softmax_shapes, ce_shapes, ln_shapes, bn_shapes = [(64, 1000)], [(8, 1031)], [(64, 1024)], [(4, 8, 6, 6)]
    else:
        softmax_shapes = [(8192, 4096), (8192, 32768)]
        ce_shapes = [(8192, 50257)]
        ln_shapes = [(8192, 1024), (8192, 4096)]
        bn_shapes = [(32, 64, 56, 56)]
    rows = []

    def sync():
        fibril.cuda.synchronize()
        if have_torch:
            torch.cuda.synchronize()

    def bench(name, shape, nbytes, ours, theirs, check):
        if have_torch:
            check()
        times = measure({"ours": ours, "theirs": theirs} if have_torch else {"ours": ours}, sync)
        t_ours, t_theirs = times["ours"], times.get("theirs", float("nan"))
        t_copy = float("nan")
        if have_torch:
            n = nbytes // 8
            src, dst = torch.empty(n, device="cuda"), torch.empty(n, device="cuda")
            t_copy = measure({"copy": lambda: dst.copy_(src)}, sync)["copy"]
            del src, dst
        gbs = nbytes / t_ours / 1e9
        copy_gbs = nbytes / t_copy / 1e9
        rows.append((name, "x".join(map(str, shape)), t_ours * 1e3, gbs, 100 * gbs / copy_gbs, t_theirs * 1e3,
                     t_theirs / t_ours))

    def pair(a, requires_grad=False):
        """fibril and torch tensors of a on the GPU; floating-point arrays in the chosen dtype."""
        floating = np.issubdtype(a.dtype, np.floating)
        f = fibril.tensor(a, device="cuda")
        if floating:
            f = f.to(dtype)
        f = f.detach().requires_grad_(requires_grad) if requires_grad else f
        t = None
        if have_torch:
            t = torch.tensor(a, device="cuda", dtype=tdtype if floating else None, requires_grad=requires_grad)
        return f, t

    def close(f, t, tol=2e-5):
        tol = tol16 or tol
        np.testing.assert_allclose(f.detach().cpu().float().numpy(), t.detach().cpu().float().numpy(), rtol=tol,
                                   atol=tol)

    for shape in softmax_shapes:
        a = rng.standard_normal(shape).astype(np.float32)
        x, tx = pair(a)
        el = a.size * size
        for name in ("softmax", "log_softmax"):
            fb, tb = getattr(F, name), getattr(torch, name) if have_torch else None
            with fibril.no_grad():
                bench(f"{name} fwd", shape, 2 * el, lambda: fb(x, -1), lambda: tb(tx, -1),
                      lambda: close(fb(x, -1), tb(tx, -1)))
            y, ty = fb(x, -1), (tb(tx, -1) if have_torch else None)
            g, tg = pair(rng.standard_normal(shape).astype(np.float32))
            log = name == "log_softmax"
            bench(f"{name} bwd", shape, 3 * el,
                  lambda: fibril._C.softmax_backward(y._data, g._data, -1, log),
                  lambda: torch.ops.aten._log_softmax_backward_data(tg, ty, -1, tdtype) if log
                  else torch.ops.aten._softmax_backward_data(tg, ty, -1, tdtype),
                  lambda: None)
            del y, ty, g, tg
        del x, tx

    for shape in ce_shapes:
        a = rng.standard_normal(shape).astype(np.float32)
        target = rng.integers(0, shape[1], shape[0])
        x, tx = pair(a, requires_grad=True)
        t, tt = pair(target)
        el = a.size * size

        ones, tones = pair(np.ones(shape[0], np.float32))
        ours_step = training_step(lambda: F.cross_entropy(x, t, reduction="none"), [x], ones)
        theirs_step = training_step(lambda: torch.nn.functional.cross_entropy(tx, tt, reduction="none"), [tx], tones)
        with fibril.no_grad():
            bench("cross_entropy fwd", shape, el, lambda: F.cross_entropy(x, t, reduction="none"),
                  lambda: torch.nn.functional.cross_entropy(tx, tt, reduction="none"),
                  lambda: close(F.cross_entropy(x, t, reduction="none"),
                                torch.nn.functional.cross_entropy(tx, tt, reduction="none"), 1e-4))
        bench("cross_entropy fwd+bwd", shape, 3 * el, ours_step, theirs_step, lambda: None)
        del x, tx

    for shape in ln_shapes:
        n = shape[-1]
        a = rng.standard_normal(shape).astype(np.float32)
        x, tx = pair(a, requires_grad=True)
        w, tw = pair(rng.uniform(0.5, 1.5, n).astype(np.float32), True)
        b, tb = pair(rng.uniform(-1, 1, n).astype(np.float32), True)
        g, tg = pair(rng.standard_normal(shape).astype(np.float32))
        el = a.size * size
        for name in ("layer_norm", "rms_norm"):
            if name == "layer_norm":
                ours = lambda: F.layer_norm(x, (n,), w, b)  # noqa: E731
                theirs = lambda: torch.nn.functional.layer_norm(tx, (n,), tw, tb)  # noqa: E731
            else:
                ours = lambda: F.rms_norm(x, (n,), w, eps=1e-6)  # noqa: E731
                theirs = lambda: torch.nn.functional.rms_norm(tx, (n,), tw, eps=1e-6)  # noqa: E731
            with fibril.no_grad():
                bench(f"{name} fwd", shape, 2 * el, ours, theirs,
                      lambda: close(ours(), theirs(), 1e-4) if have_torch else None)
            bench(f"{name} fwd+bwd (w, b grads)", shape, 5 * el, training_step(ours, [x, w, b], g),
                  training_step(theirs, [tx, tw, tb], tg), lambda: None)
        del x, tx, g, tg

    for shape in bn_shapes:
        c = shape[1]
        a = rng.standard_normal(shape).astype(np.float32)
        x, tx = pair(a, requires_grad=True)
        w, tw = pair(np.ones(c, np.float32), True)
        b, tb = pair(np.zeros(c, np.float32), True)
        rm, trm = pair(np.zeros(c, np.float32))
        rv, trv = pair(np.ones(c, np.float32))
        g, tg = pair(rng.standard_normal(shape).astype(np.float32))
        el = a.size * size
        ours = lambda: F.batch_norm(x, rm, rv, w, b, training=True)  # noqa: E731
        theirs = lambda: torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training=True)  # noqa: E731
        with fibril.no_grad():
            bench("batch_norm fwd (train)", shape, 2 * el, ours, theirs, lambda: None)
        bench("batch_norm fwd+bwd", shape, 5 * el, training_step(ours, [x, w, b], g),
              training_step(theirs, [tx, tw, tb], tg), lambda: None)

    print(f"dtype {args.dtype}")
    print(f"{'op':32} {'shape':>16} {'ms':>9} {'GB/s':>8} {'% copy':>7} {'torch ms':>9} {'torch/ours':>10}")
    for r in rows:
        print(f"{r[0]:32} {r[1]:>16} {r[2]:9.3f} {r[3]:8.0f} {r[4]:7.0f} {r[5]:9.3f} {r[6]:10.2f}")


if __name__ == "__main__":
    main()
