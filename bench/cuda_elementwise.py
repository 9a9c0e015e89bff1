"""GPU timings of the CUDA elementwise, cast and activation kernels against PyTorch CUDA.

Run on a machine with a GPU: `python bench/cuda_elementwise.py`. Times are bench.cuda's
measure (the median of samples of back-to-back calls, each closed by a synchronize, fibril's
and torch's interleaved), so they include the per-call Python and launch overhead (small next
to these sizes); GB/s counts each input read once and the output written once.
"""

import os
import sys

import numpy as np

import fibril
from fibril import _C

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

if not __package__:  # run as `python bench/cuda_elementwise.py`: bench.cuda from the repo root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.cuda import measure  # noqa: E402


def main():
    if not fibril.cuda.is_available() or fibril.cuda.is_emulated():
        sys.exit("needs a GPU (not the emulator)")
    have_torch = torch is not None and torch.cuda.is_available()

    def sync():
        fibril.cuda.synchronize()
        if have_torch:
            torch.cuda.synchronize()

    rng = np.random.default_rng(0)
    n = 1 << 24
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    m = rng.standard_normal((4096, 4096)).astype(np.float32)
    row = rng.standard_normal(4096).astype(np.float32)
    from fibril._interop import from_numpy

    fx, fy, fm, frow = (from_numpy(a).to("cuda") for a in (x, y, m, row))
    B, U, K = _C.BinaryOp, _C.UnaryOp, _C.ActivationKind
    gx = fx
    cases = [
        # name, bytes moved, fibril fn, torch fn (on tx, ty, tm, trow)
        ("add 16M f32", 12 * n, lambda: _C.binary(B.add, fx, fy), lambda t: t[0] + t[1]),
        ("mul 16M f32 * 2.0", 8 * n, lambda: _C.binary(B.mul, fx, 2.0), lambda t: t[0] * 2.0),
        ("add (4096,4096)+(4096,)", 8 * n, lambda: _C.binary(B.add, fm, frow), lambda t: t[2] + t[3]),
        ("add (4096,4096)+T", 12 * n, lambda: _C.binary(B.add, fm, fm.transpose(0, 1)), lambda t: t[2] + t[2].T),
        ("gt 16M f32 -> bool", 9 * n, lambda: _C.binary(B.gt, fx, fy), lambda t: t[0] > t[1]),
        ("exp 16M f32", 8 * n, lambda: _C.unary(U.exp, fx), lambda t: t[0].exp()),
        ("tanh 16M f32", 8 * n, lambda: _C.unary(U.tanh, fx), lambda t: t[0].tanh()),
        ("sigmoid 16M f32", 8 * n, lambda: _C.unary(U.sigmoid, fx), lambda t: t[0].sigmoid()),
        ("where 16M f32", 13 * n, lambda: _C.where(_C.binary(B.gt, fx, 0.0), fx, fy), None),
        ("clamp 16M f32", 8 * n, lambda: _C.clamp(fx, -0.5, 0.5), lambda t: t[0].clamp(-0.5, 0.5)),
        ("astype f32->f64 16M", 12 * n, lambda: fx.astype(fibril.float64), lambda t: t[0].double()),
        ("astype f32->i32 16M", 8 * n, lambda: fx.astype(fibril.int32), lambda t: t[0].int()),
        ("contiguous T (4096,4096)", 8 * n, lambda: fm.transpose(0, 1).contiguous(), lambda t: t[2].T.contiguous()),
        ("gelu fwd 16M", 8 * n, lambda: _C.activation(K.gelu, fx, 0.0, 0.0, 0.0),
         lambda t: torch.nn.functional.gelu(t[0])),
        ("gelu bwd 16M", 12 * n, lambda: _C.activation_backward(K.gelu, fx, gx, 0.0, 0.0, 0.0),
         lambda t: torch.ops.aten.gelu_backward(t[1], t[0])),
        ("gelu_tanh fwd 16M", 8 * n, lambda: _C.activation(K.gelu_tanh, fx, 0.0, 0.0, 0.0),
         lambda t: torch.nn.functional.gelu(t[0], approximate="tanh")),
        ("silu fwd 16M", 8 * n, lambda: _C.activation(K.silu, fx, 0.0, 0.0, 0.0), lambda t: torch.nn.functional.silu(t[0])),
        ("relu fwd 16M", 8 * n, lambda: _C.activation(K.relu, fx, 0.0, 0.0, 0.0), lambda t: torch.relu(t[0])),
    ]
    tt = [torch.from_numpy(a).cuda() for a in (x, y, m, row)] if have_torch else None
    print(f"{'case':28s} {'fibril us':>10s} {'GB/s':>7s} {'torch us':>10s} {'GB/s':>7s} {'ratio':>6s}")
    for name, nbytes, ff, tf in cases:
        calls = {"fibril": ff}
        if tt is not None and tf is not None:
            calls["torch"] = lambda: tf(tt)
        times = measure(calls, sync)
        t_fibril, t_torch = times["fibril"], times.get("torch")
        line = f"{name:28s} {t_fibril * 1e6:10.1f} {nbytes / t_fibril / 1e9:7.0f}"
        if t_torch is not None:
            line += f" {t_torch * 1e6:10.1f} {nbytes / t_torch / 1e9:7.0f} {t_torch / t_fibril:6.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
