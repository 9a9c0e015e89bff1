"""CUDA matmul against PyTorch on a GPU: `python bench/cuda_matmul.py` (needs fibril built with
CUDA and a CUDA PyTorch). Each row times fibril and torch on the same device tensors (shared
through DLPack), float32 exact (fibril precision "highest" vs torch allow_tf32 False) and TF32
("high" vs allow_tf32 True), float16 and bfloat16 (tensor cores, float32 accumulation, vs
torch in the same dtype), and prints TFLOP/s, torch time / fibril time (the target: >= 0.85
exact, >= 0.60 on tensor cores on an H100) and the max error relative to a float64 product.
"""
import os
import sys

import torch

import fibril

if not __package__:  # run as `python bench/cuda_matmul.py`: bench.cuda from the repo root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.cuda import measure  # noqa: E402

SHAPES = [  # (batch or 0, m, k, n, B read transposed as Linear's weight.T)
    (0, 4096, 4096, 4096, False), (0, 2048, 2048, 2048, False), (0, 1024, 1024, 1024, False),
    (0, 4096, 4096, 4096, True), (0, 128, 4096, 4096, True), (0, 8192, 64, 8192, False),
    (0, 64, 8192, 64, False), (32, 512, 512, 512, False),
]
GEMV = [(0, 1, 4096, 4096, False), (0, 4096, 4096, 1, False), (0, 1, 4096, 4096, True)]
HALF_SHAPES = [(0, 4096, 4096, 4096, False), (0, 2048, 2048, 2048, False), (0, 1024, 1024, 1024, False),
               (0, 8192, 4096, 4096, True), (0, 1000, 1000, 1000, False), (32, 512, 512, 512, False)]
# mode: (torch dtype, fibril dtype, TF32 allowed)
MODES = {"fp32": (torch.float32, fibril.float32, False), "tf32": (torch.float32, fibril.float32, True),
         "fp16": (torch.float16, fibril.float16, False), "bf16": (torch.bfloat16, fibril.bfloat16, False)}


def sync():
    fibril.cuda.synchronize()
    torch.cuda.synchronize()


def row(batch, m, k, n, b_t, mode):
    dtype, _, tf32 = MODES[mode]
    a = torch.randn(*((batch,) if batch else ()), m, k, device="cuda").to(dtype)
    if b_t:
        w = torch.randn(n, k, device="cuda").to(dtype)
        b, fb = w.t(), fibril.from_dlpack(w).mT
    else:
        b = torch.randn(*((batch,) if batch else ()), k, n, device="cuda").to(dtype)
        fb = fibril.from_dlpack(b)
    fa = fibril.from_dlpack(a)
    torch.cuda.synchronize()  # fibril runs on its own stream
    torch.backends.cuda.matmul.allow_tf32 = tf32
    fibril.set_float32_matmul_precision("high" if tf32 else "highest")
    times = measure({"fibril": lambda: fa @ fb, "torch": lambda: a @ b}, sync)
    t_fibril, t_torch = times["fibril"], times["torch"]
    ref = a.double() @ b.double()
    got = torch.from_dlpack(fa @ fb)
    fibril.cuda.synchronize()
    err = ((got.double() - ref).abs().max() / ref.abs().max()).item()
    flop = 2.0 * max(batch, 1) * m * k * n
    print(f"{'bmm %d x ' % batch if batch else ''}{m}x{k}x{n}{' (B = W.T)' if b_t else ''} "
          f"{mode}: fibril {flop / t_fibril / 1e12:6.2f} TFLOP/s, "
          f"torch {flop / t_torch / 1e12:6.2f}, ratio {t_torch / t_fibril:.2f}, rel err {err:.1e}", flush=True)


def main(modes=("fp32", "tf32", "fp16", "bf16")):
    for mode in modes:
        for shape in SHAPES if mode in ("fp32", "tf32") else HALF_SHAPES:
            row(*shape, mode)
    if "fp32" in modes:
        for shape in GEMV:
            row(*shape, "fp32")
    fibril.set_float32_matmul_precision("highest")


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or tuple(MODES))
