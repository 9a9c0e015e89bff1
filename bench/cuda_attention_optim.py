"""GPU check and timing of the CUDA attention and optimizer kernels against PyTorch CUDA
(run on a machine with a GPU: `python bench/cuda_attention_optim.py [--quick] [--dtype D]`).

Attention: scaled_dot_product_attention, B8 H16 D64, T 1024 and 4096, causal and not, forward
and forward+backward, against torch.nn.functional.scaled_dot_product_attention on the same CUDA
tensors: float32 (TF32 off) by default, float16 or bfloat16 with `--dtype`, where torch is held
to its flash backend. The outputs are compared before anything is timed.
GFLOP/s count 4 T^2 D per head forward and 14 T^2 D forward+backward (halved when causal).
Optimizers: Adam and SGD with momentum over 10M and 100M float32 parameters in 50 tensors,
against torch.optim (fused=True and foreach); GB/s count the bytes each step must move
(Adam 28 per parameter, SGD momentum 20). Times are bench.cuda's measure (median of
interleaved samples, each closed by a synchronize).
"""
import argparse
import contextlib
import os
import sys

import torch

import fibril
from fibril import _C, nn, optim

if not __package__:  # run as `python bench/cuda_attention_optim.py`: bench.cuda from the repo root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.cuda import measure  # noqa: E402

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def fsync():
    fibril.cuda.synchronize()


def tsync():
    torch.cuda.synchronize()


def sync():
    fsync()
    tsync()


def fib(t):
    return fibril.from_dlpack(t.detach())


def torch_backend(dtype):
    """The flash kernel for 16-bit inputs (what the issue's target names); torch's own choice
    for float32, which flash does not take."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel
    return sdpa_kernel(SDPBackend.FLASH_ATTENTION)


def attention(quick, dtype):
    shapes = [(8, 16, 1024, 64)] if quick else [(8, 16, 1024, 64), (8, 16, 4096, 64), (4, 16, 1024, 128)]
    print(f"attention {str(dtype)[6:]}: ms (GFLOP/s), fibril vs torch SDPA"
          f"{'' if dtype == torch.float32 else ' (flash)'}")
    for b, h, t, d in shapes:
        for causal in (False, True):
            gen = torch.Generator(device="cuda").manual_seed(0)
            q, k, v, g = (torch.randn(b, h, t, d, device="cuda", generator=gen).to(dtype) for _ in range(4))
            tsync()  # fibril runs on its own stream
            fq, fk, fv, fg = (fib(x)._data for x in (q, k, v, g))
            out, lse = _C.attention(fq, fk, fv, None, 0.0, causal, None, 0, 0)
            fsync()
            with torch_backend(dtype):
                ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
            got = torch.from_dlpack(fibril.Tensor._wrap(out))
            err = (got.float() - ref.float()).abs().max().item()
            gq, gk, gv = _C.attention_backward(fg, fq, fk, fv, out, lse, None, 0.0, causal, None, 0, 0)
            fsync()
            qs, ks, vs = (x.detach().requires_grad_() for x in (q, k, v))
            with torch_backend(dtype):
                torch.nn.functional.scaled_dot_product_attention(qs, ks, vs, is_causal=causal).backward(g)
            gerr = max((torch.from_dlpack(fibril.Tensor._wrap(a)).float() - x.grad.float()).abs().max().item()
                       for a, x in zip((gq, gk, gv), (qs, ks, vs)))
            fwd = {"fibril": lambda: _C.attention(fq, fk, fv, None, 0.0, causal, None, 0, 0),
                   "torch": lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)}
            with torch_backend(dtype):
                times = measure(fwd, sync)
            ffwd, tfwd = times["fibril"], times["torch"]

            def fboth():
                o, l_ = _C.attention(fq, fk, fv, None, 0.0, causal, None, 0, 0)
                _C.attention_backward(fg, fq, fk, fv, o, l_, None, 0.0, causal, None, 0, 0)

            def tboth():
                for x in (qs, ks, vs):
                    x.grad = None
                torch.nn.functional.scaled_dot_product_attention(qs, ks, vs, is_causal=causal).backward(g)

            with torch_backend(dtype):
                times = measure({"fibril": fboth, "torch": tboth}, sync)
            fb, tb = times["fibril"], times["torch"]
            flops = 4 * t * t * d * b * h / (2 if causal else 1)
            print(f"  B{b} H{h} T{t} D{d} {'causal' if causal else 'full  '} max|err| out {err:.1e} grads {gerr:.1e}"
                  f" | fwd {ffwd * 1e3:7.3f} ({flops / ffwd / 1e9:6.0f}) torch {tfwd * 1e3:7.3f}"
                  f" ({flops / tfwd / 1e9:6.0f}) ratio torch/fibril {tfwd / ffwd:4.2f}"
                  f" | fwd+bwd {fb * 1e3:7.3f} ({3.5 * flops / fb / 1e9:6.0f}) torch {tb * 1e3:7.3f}"
                  f" ratio {tb / fb:4.2f}", flush=True)
            del q, k, v, g, fq, fk, fv, fg, out, lse, gq, gk, gv, qs, ks, vs


def optimizers(quick):
    print("optimizers float32 (50 tensors): ms (GB/s), fibril vs torch")
    for total in ([10_000_000] if quick else [10_000_000, 100_000_000]):
        sizes = [total // 50] * 50
        for name, kw, bytes_per in (("Adam", dict(lr=1e-3), 28), ("SGD", dict(lr=1e-2, momentum=0.9), 20)):
            tparams = [torch.randn(n, device="cuda").requires_grad_() for n in sizes]
            for p in tparams:
                p.grad = torch.randn_like(p)
            fparams = []
            tsync()
            for p in tparams:
                fp = nn.Parameter(fibril.from_dlpack(p.detach().clone()))
                fp.grad = fibril.from_dlpack(p.grad.clone())
                fparams.append(fp)
            fopt = getattr(optim, name)(fparams, **kw)
            ref = [p.detach().clone() for p in tparams]
            tsync()
            fopt.step()
            fsync()
            topt = getattr(torch.optim, name)(ref, **kw)
            for r, p in zip(ref, tparams):
                r.grad = p.grad
            topt.step()
            err = max((torch.from_dlpack(f.detach()) - r).abs().max().item() for f, r in zip(fparams, ref))
            steps, refused = {"fibril": fopt.step}, {}
            for mode in ("fused", "foreach"):
                try:
                    steps[mode] = getattr(torch.optim, name)(tparams, **kw, **{mode: True}).step
                except (TypeError, RuntimeError) as e:
                    refused[mode] = e
            times = measure(steps, sync)
            ft = times["fibril"]
            line = f"  {name:4s} {total / 1e6:5.0f}M max|err| {err:.1e} | fibril {ft * 1e3:7.3f} ({bytes_per * total / ft / 1e9:6.0f})"
            for mode in ("fused", "foreach"):
                if mode in refused:
                    line += f" | torch {mode}: {refused[mode]}"
                    continue
                tt = times[mode]
                line += f" | torch {mode} {tt * 1e3:7.3f} ({bytes_per * total / tt / 1e9:6.0f}) ratio {tt / ft:4.2f}"
            print(line, flush=True)
            del tparams, fparams, fopt, topt, ref, steps


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python bench/cuda_attention_optim.py")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default="float32",
                        help="attention's dtype (the optimizers stay float32)")
    parser.add_argument("--only", choices=("attention", "optimizers"))
    args = parser.parse_args()
    print(torch.cuda.get_device_name(), flush=True)
    if args.only != "optimizers":
        attention(args.quick, getattr(torch, args.dtype))
    if args.only != "attention":
        optimizers(args.quick)
