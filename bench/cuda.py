"""`python -m bench.cuda [--quick] [--only NAME ...]`: every CUDA family beside PyTorch CUDA.

Runs on a machine with a GPU (fibril built with CUDA, torch with CUDA). Each case runs the
same op in fibril and in PyTorch on the same device-resident inputs; outputs are compared, then
timed: a sample is enough back-to-back calls to last SAMPLE_S, closed by a synchronize; the
libraries' samples interleave and the median is reported. Throughput is GB/s for memory-bound
ops (bytes that must move: inputs read once, outputs written once) and TFLOP/s for matmul and
attention; "% ref" is the fraction of this run's reference: HBM bandwidth measured by a large
device-to-device copy, or cuBLAS (PyTorch) for matmul at the same precision.
"""
import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

SAMPLES = 9
SAMPLE_S = 0.05


@dataclass
class Case:
    name: str
    work: float  # bytes or flops per call
    unit: str  # "GB/s" or "TFLOP/s"
    make: Callable  # make(rng) -> tuple of numpy inputs
    fibril: Callable  # fibril(*device tensors) -> tensor
    torch: Callable  # torch(*device tensors) -> tensor
    tol: float = 1e-4
    ref: str = "hbm"  # "hbm" or "torch" (% of PyTorch's own throughput, e.g. cuBLAS)
    setup: Callable | None = None  # setup(lib_name, tensors) -> tensors (e.g. requires_grad)
    dtype: str = "float32"  # "bfloat16": float32 inputs are rounded to bfloat16 on the device


def _time(fn, sync):
    fn()
    sync()
    n, t = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        t = time.perf_counter() - start
        if t >= SAMPLE_S / 4:
            return max(1, int(n * SAMPLE_S / t))
        n *= 4


def measure(calls, sync):
    """Median seconds per call for each named callable, samples interleaved; sync() waits for
    the device. The timing of every bench/cuda*.py script."""
    counts = {k: _time(f, sync) for k, f in calls.items()}
    samples = {k: [] for k in calls}
    for i in range(SAMPLES):
        order = list(calls)[i % len(calls):] + list(calls)[:i % len(calls)]
        for k in order:
            start = time.perf_counter()
            for _ in range(counts[k]):
                calls[k]()
            sync()
            samples[k].append((time.perf_counter() - start) / counts[k])
    return {k: statistics.median(v) for k, v in samples.items()}


def cases(quick, F, fibril, torch):
    f32 = np.float32
    tF = torch.nn.functional
    out = []

    def gemm(m, n, k, tf32):
        mode = "high" if tf32 else "highest"

        def f(a, b):
            fibril.set_float32_matmul_precision(mode)
            return fibril.matmul(a, b)

        def t(a, b):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            return torch.matmul(a, b)

        return Case(f"matmul {'tf32' if tf32 else 'fp32'} {m}x{n}x{k}", 2.0 * m * n * k, "TFLOP/s",
                    lambda r: (r.standard_normal((m, k), f32), r.standard_normal((k, n), f32)), f, t,
                    tol=(5e-2 if tf32 else 1e-3) * np.sqrt(k), ref="torch")

    sizes = [2048] if quick else [1024, 2048, 4096]
    for tf32 in (False, True):
        for s in sizes:
            out.append(gemm(s, s, s, tf32))
    for s in sizes:
        out.append(Case(f"matmul bf16 {s}x{s}x{s}", 2.0 * s ** 3, "TFLOP/s",
                        lambda r, s=s: (r.standard_normal((s, s), f32), r.standard_normal((s, s), f32)),
                        fibril.matmul, torch.matmul, tol=2e-2 * np.sqrt(s), ref="torch", dtype="bfloat16"))
    if not quick:
        out += [gemm(16, 4096, 4096, False), gemm(4096, 4096, 64, False)]
        out.append(Case("bmm fp32 64x(128x64@64x128)", 2.0 * 64 * 128 * 128 * 64, "TFLOP/s",
                        lambda r: (r.standard_normal((64, 128, 64), f32), r.standard_normal((64, 64, 128), f32)),
                        fibril.matmul, torch.matmul, tol=1e-3, ref="torch"))

    n = 1 << 26
    out.append(Case("add 64M", 12.0 * n, "GB/s", lambda r, n=n: (r.standard_normal(n, f32), r.standard_normal(n, f32)),
                    lambda a, b: a + b, lambda a, b: a + b))
    rows, cols = 8192, 8192
    out.append(Case("sum rows 8192x8192", 4.0 * rows * cols, "GB/s",
                    lambda r: (r.standard_normal((rows, cols), f32),),
                    lambda x: x.sum(1), lambda x: x.sum(1), tol=1e-3))
    for c in (1024, 4096, 32768):
        r_ = (1 << 25) // c
        out.append(Case(f"softmax {r_}x{c}", 8.0 * r_ * c, "GB/s", lambda r, r_=r_, c=c: (r.standard_normal((r_, c), f32),),
                        lambda x: F.softmax(x, -1), lambda x: tF.softmax(x, -1), tol=1e-6))
    out.append(Case("softmax bf16 8192x4096", 4.0 * 8192 * 4096, "GB/s", lambda r: (r.standard_normal((8192, 4096), f32),),
                    lambda x: F.softmax(x, -1), lambda x: tF.softmax(x, -1), tol=1e-2, dtype="bfloat16"))
    out.append(Case("log_softmax 4096x4096", 8.0 * 4096 * 4096, "GB/s", lambda r: (r.standard_normal((4096, 4096), f32),),
                    lambda x: F.log_softmax(x, -1), lambda x: tF.log_softmax(x, -1), tol=1e-5))
    v = 50257
    out.append(Case(f"cross_entropy 4096x{v}", 4.0 * 4096 * v, "GB/s",
                    lambda r: (r.standard_normal((4096, v), f32), r.integers(0, v, 4096)),
                    lambda x, y: F.cross_entropy(x, y), lambda x, y: tF.cross_entropy(x, y), tol=1e-4))
    for c in (1024, 4096):
        r_ = (1 << 25) // c
        out.append(Case(f"layer_norm {r_}x{c}", 8.0 * r_ * c, "GB/s",
                        lambda r, r_=r_, c=c: (r.standard_normal((r_, c), f32), r.standard_normal(c, f32),
                                               r.standard_normal(c, f32)),
                        lambda x, w, b: F.layer_norm(x, (x.shape[-1],), w, b),
                        lambda x, w, b: tF.layer_norm(x, (x.shape[-1],), w, b), tol=1e-4))
    out.append(Case("layer_norm bf16 8192x4096", 4.0 * 8192 * 4096, "GB/s",
                    lambda r: (r.standard_normal((8192, 4096), f32), r.standard_normal(4096, f32),
                               r.standard_normal(4096, f32)),
                    lambda x, w, b: F.layer_norm(x, (x.shape[-1],), w, b),
                    lambda x, w, b: tF.layer_norm(x, (x.shape[-1],), w, b), tol=5e-2, dtype="bfloat16"))
    for t_len, causal in ((1024, False), (1024, True), (4096, True)):
        b, h, d = 8, 16, 64
        flops = 4.0 * b * h * t_len * t_len * d * (0.5 if causal else 1.0)
        out.append(Case(f"sdpa fwd T{t_len}{' causal' if causal else ''}", flops, "TFLOP/s",
                        lambda r, t_len=t_len: tuple(r.standard_normal((8, 16, t_len, 64), f32) for _ in range(3)),
                        lambda q, k, v_, c=causal: F.scaled_dot_product_attention(q, k, v_, is_causal=c),
                        lambda q, k, v_, c=causal: tF.scaled_dot_product_attention(q, k, v_, is_causal=c),
                        tol=1e-3, ref="torch"))
    torch.backends.cudnn.allow_tf32 = False  # float32 convolutions on both sides
    for n, c, hw, o, k, stride in ((32, 64, 56, 64, 3, 1), (32, 128, 28, 256, 3, 2), (32, 256, 14, 256, 1, 1)):
        ohw = (hw + 2 * (k // 2) - k) // stride + 1
        out.append(Case(f"conv2d fwd {n}x{c}x{hw}^2 -> {o} k{k}/{stride}", 2.0 * n * o * ohw * ohw * c * k * k, "TFLOP/s",
                        lambda r, n=n, c=c, hw=hw, o=o, k=k: (r.standard_normal((n, c, hw, hw), f32),
                                                              r.standard_normal((o, c, k, k), f32) * 0.05),
                        lambda x, w, s=stride, p=k // 2: F.conv2d(x, w, stride=s, padding=p),
                        lambda x, w, s=stride, p=k // 2: tF.conv2d(x, w, stride=s, padding=p), tol=1e-3, ref="torch"))
    out.append(Case("max_pool2d 64x64x112^2 k3/2", 4.0 * 64 * 64 * (112 * 112 + 56 * 56), "GB/s",
                    lambda r: (r.standard_normal((64, 64, 112, 112), f32),),
                    lambda x: F.max_pool2d(x, 3, 2, 1), lambda x: tF.max_pool2d(x, 3, 2, 1), tol=0))
    seq, batch, inp, hid = 128, 64, 256, 512
    out.append(Case(f"lstm fwd T{seq} B{batch} {inp}->{hid}", 2.0 * seq * batch * 4 * hid * (inp + hid), "TFLOP/s",
                    lambda r: (r.standard_normal((seq, batch, inp), f32),), None, None, tol=1e-4, ref="torch",
                    setup="lstm"))
    p = 1 << 24
    out.append(Case("adam step 16M params", 4.0 * p * 7, "GB/s",
                    lambda r: (r.standard_normal(p, f32), r.standard_normal(p, f32)),
                    None, None, tol=1e-5, setup="adam"))
    return out


def adam_calls(fibril, torch, inputs):
    """One Adam step per call on a 1-D parameter, fibril's and torch's (fused=True)."""
    p0, g0 = inputs
    fp = fibril.nn.Parameter(fibril.tensor(p0, device="cuda"))
    fp.grad = fibril.tensor(g0, device="cuda")
    tp = torch.nn.Parameter(torch.from_numpy(p0).cuda())
    tp.grad = torch.from_numpy(g0).cuda()
    fo = fibril.optim.Adam([fp], lr=1e-3)
    to = torch.optim.Adam([tp], lr=1e-3, fused=True)
    fo.step(), to.step()
    return {"fibril": fo.step, "torch": to.step}, (lambda: fp.detach().cpu().numpy(), lambda: tp.detach().cpu().numpy())


def lstm_calls(fibril, torch, inputs):
    """One nn.LSTM forward per call, the same weights in both libraries (torch: cuDNN)."""
    (x,) = inputs
    t_lstm = torch.nn.LSTM(x.shape[2], 512).cuda()
    f_lstm = fibril.nn.LSTM(x.shape[2], 512)
    f_lstm.load_state_dict({k: fibril.tensor(v.detach().cpu().numpy()) for k, v in t_lstm.state_dict().items()})
    f_lstm = f_lstm.cuda()
    fx, tx = fibril.tensor(x, device="cuda"), torch.from_numpy(x).cuda()
    results = (lambda: f_lstm(fx)[0].detach().cpu().numpy(), lambda: t_lstm(tx)[0].detach().cpu().numpy())

    def f():
        with fibril.no_grad():
            return f_lstm(fx)

    def t():
        with torch.no_grad():
            return t_lstm(tx)

    return {"fibril": f, "torch": t}, results


def hbm_bandwidth(torch):
    """Bytes per second of a 1 GiB device-to-device copy (read + write), PyTorch's."""
    src = torch.empty(1 << 28, device="cuda")
    dst = torch.empty_like(src)
    t = measure({"copy": lambda: dst.copy_(src)}, torch.cuda.synchronize)["copy"]
    return 2 * src.numel() * 4 / t


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.cuda")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", help="run the cases whose name starts with one of these")
    args = parser.parse_args(argv)
    import fibril
    import fibril.nn.functional as F
    import torch
    if not (fibril.cuda.is_available() and torch.cuda.is_available()) or fibril.cuda.is_emulated():
        print("bench.cuda needs a GPU that both fibril and torch can use; nothing to do")
        return 0
    print(fibril.show_config().replace("\n", "; "))
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    hbm = hbm_bandwidth(torch)
    print(f"reference HBM bandwidth (torch copy, read+write): {hbm / 1e9:.0f} GB/s\n")
    row = "{:<34} {:>10} {:>10} {:>9} {:>9} {:>8}  {}"
    print(row.format("case", "fibril", "torch", "fibril", "torch", "% ref", "fibril/torch"))
    rng = np.random.default_rng(0)
    sync = lambda: (fibril.cuda.synchronize(), torch.cuda.synchronize())  # noqa: E731
    failures = 0
    for case in cases(args.quick, F, fibril, torch):
        if args.only and not any(case.name.startswith(o) for o in args.only):
            continue
        try:
            inputs = case.make(rng)
            if case.setup in ("adam", "lstm"):
                calls, results = (adam_calls if case.setup == "adam" else lstm_calls)(fibril, torch, inputs)
                err = float(np.max(np.abs(results[0]() - results[1]())))
            else:
                ft = [fibril.tensor(x, device="cuda") for x in inputs]
                tt = [torch.from_numpy(x).cuda() for x in inputs]
                if case.dtype == "bfloat16":
                    ft = [x.bfloat16() if x.dtype == fibril.float32 else x for x in ft]
                    tt = [x.bfloat16() if x.dtype == torch.float32 else x for x in tt]
                fo, to = case.fibril(*ft), case.torch(*tt)
                a, b = fo.float().cpu().numpy().astype(np.float64), to.float().cpu().numpy().astype(np.float64)
                err = float(np.max(np.abs(a - b) / (1 + np.abs(b)))) if a.size else 0.0
                calls = {"fibril": lambda: case.fibril(*ft), "torch": lambda: case.torch(*tt)}
            if not err <= case.tol:
                print(f"{case.name}: WRONG, max error {err:.3g} > {case.tol:.3g}")
                failures += 1
                continue
            t = measure(calls, sync)
            scale = 1e9 if case.unit == "GB/s" else 1e12
            thr = {k: case.work / v / scale for k, v in t.items()}
            ref = thr["torch"] if case.ref == "torch" else hbm / 1e9
            print(row.format(case.name, f"{t['fibril'] * 1e6:.1f} us", f"{t['torch'] * 1e6:.1f} us",
                             f"{thr['fibril']:.2f}", f"{thr['torch']:.2f}", f"{100 * thr['fibril'] / ref:.0f}%",
                             f"{t['torch'] / t['fibril']:.2f}x  ({case.unit})"))
        except Exception as e:  # report and go on: one family's gap must not hide the others
            print(f"{case.name}: FAILED {type(e).__name__}: {str(e)[:200]}")
            failures += 1
        sys.stdout.flush()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
