"""Convolution and pooling family, float32 NCHW, fibril vs PyTorch (numpy has no convolution:
its float64 per-tap tensordot is the untimed reference for the check).

GFLOP/s counts 2 multiply-adds per tap per output: 2*N*O*OH*OW*(C/groups)*kh*kw for the
forward; forward+backward adds the weight gradient (1x more) and, except for first layers
whose input is data (no gradient wanted, as in training), the input gradient (1x more). The
forward+backward op returns the weight's gradient, which is what is checked. Pooling rows
count the bytes that must move (GB/s): forward reads x, writes y; backward reads g, writes gx.
"""
import functools

import numpy as np

from bench.grad import fwd_bwd
from bench.harness import Case

# name, (N, C, H, W), (O, kh, kw), stride, padding, groups, first layer (input needs no grad)
CONVS = (
    ("3x3 64->64 56x56 b32", (32, 64, 56, 56), (64, 3, 3), 1, 1, 1, False),
    ("3x3 128->128 28x28 b32", (32, 128, 28, 28), (128, 3, 3), 1, 1, 1, False),
    ("1x1 256->64 56x56 b16", (16, 256, 56, 56), (64, 1, 1), 1, 0, 1, False),
    ("7x7/2 3->64 224 b8", (8, 3, 224, 224), (64, 7, 7), 2, 3, 1, True),
    ("dw3x3 256 14x14 b32", (32, 256, 14, 14), (256, 3, 3), 1, 1, 256, False),
    ("mnist 1->32 28x28 b64", (64, 1, 28, 28), (32, 3, 3), 1, 1, 1, True),
    ("mnist 32->64 28x28 b64", (64, 32, 28, 28), (64, 3, 3), 1, 1, 1, False),
)
POOL_SHAPE = (32, 64, 56, 56)
QUICK = ("3x3 64->64 56x56 b32",)


def _functional(lib):
    if lib == "fibril":
        import fibril.nn.functional as F
    else:
        import torch.nn.functional as F
    return F


def conv_forward(lib, stride, padding, groups, x, w):
    return _functional(lib).conv2d(x, w, None, stride, padding, 1, groups)


def conv_forward_backward(lib, stride, padding, groups, first, x, w, g):
    leaf_x = x if first else x.detach().requires_grad_()
    leaf_w = w.detach().requires_grad_()
    _functional(lib).conv2d(leaf_x, leaf_w, None, stride, padding, 1, groups).backward(g)
    return leaf_w.grad


def _taps(x, w, stride, padding, groups):
    """For each tap (ky, kx) and group: the input window every output reads, float64."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    for ky in range(kh):
        for kx in range(kw):
            win = xp[:, :, ky: ky + stride * (oh - 1) + 1: stride, kx: kx + stride * (ow - 1) + 1: stride]
            yield ky, kx, win


def reference_forward(stride, padding, groups, x, w):
    o, cg = w.shape[:2]
    og = o // groups
    y = None
    for ky, kx, win in _taps(x, w, stride, padding, groups):
        if groups == 1:
            part = np.tensordot(win, w[:, :, ky, kx].astype(np.float64), axes=([1], [1])).transpose(0, 3, 1, 2)
        else:  # one input channel per group: a per-channel product
            part = win.repeat(og, axis=1) * w[:, 0, ky, kx].astype(np.float64)[None, :, None, None]
        y = part if y is None else y + part
    return y.astype(np.float32)


def reference_weight_grad(stride, padding, groups, first, x, w, g):
    gw = np.zeros(w.shape)
    og = w.shape[0] // groups
    for ky, kx, win in _taps(x, w, stride, padding, groups):
        if groups == 1:
            gw[:, :, ky, kx] = np.tensordot(g.astype(np.float64), win, axes=([0, 2, 3], [0, 2, 3]))
        else:
            gw[:, 0, ky, kx] = (g.astype(np.float64) * win.repeat(og, axis=1)).sum(axis=(0, 2, 3))
    return gw.astype(np.float32)


def conv_inputs(x_shape, w_shape, grad, out_shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    fan_in = np.prod(w_shape[1:])
    w = (rng.standard_normal(w_shape) / np.sqrt(fan_in)).astype(np.float32)
    return (x, w, rng.standard_normal(out_shape, dtype=np.float32)) if grad else (x, w)


def close(out, ref, inputs):
    if out.dtype != np.float32 or out.shape != ref.shape:
        raise AssertionError(f"got {out.dtype} {out.shape}, reference gives {ref.dtype} {ref.shape}")
    np.testing.assert_allclose(out, ref, rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(ref).max())))


def conv_cases(names):
    out = []
    for name, xs, (o, kh, kw), stride, padding, groups, first in CONVS:
        if name not in names:
            continue
        ws = (o, xs[1] // groups, kh, kw)
        oh, ow = (xs[2] + 2 * padding - kh) // stride + 1, (xs[3] + 2 * padding - kw) // stride + 1
        ys = (xs[0], o, oh, ow)
        flops = 2.0 * np.prod(ys) * ws[1] * kh * kw
        geo = (stride, padding, groups)
        out.append(Case(name=f"{name} fwd", work=flops, unit="GFLOP/s",
                        inputs=functools.partial(conv_inputs, xs, ws, False, ys),
                        ops={"fibril": functools.partial(conv_forward, "fibril", *geo),
                             "torch": functools.partial(conv_forward, "torch", *geo)},
                        reference=functools.partial(reference_forward, *geo), check=close))
        out.append(Case(name=f"{name} fwd+bwd", work=flops * (2 if first else 3), unit="GFLOP/s",
                        inputs=functools.partial(conv_inputs, xs, ws, True, ys),
                        ops={"fibril": functools.partial(conv_forward_backward, "fibril", *geo, first),
                             "torch": functools.partial(conv_forward_backward, "torch", *geo, first)},
                        reference=functools.partial(reference_weight_grad, *geo, first), check=close))
    return out


def _pool(lib, kind, x):
    F = _functional(lib)
    return F.max_pool2d(x, 2) if kind == "max" else F.avg_pool2d(x, 2)


def reference_pool(kind, x):
    n, c, h, w = x.shape
    blocks = x.reshape(n, c, h // 2, 2, w // 2, 2)
    return blocks.max(axis=(3, 5)) if kind == "max" else blocks.mean(axis=(3, 5), dtype=np.float32)


def reference_pool_grad(kind, x, g):
    n, c, h, w = x.shape
    if kind == "avg":
        return np.repeat(np.repeat(g / 4, 2, axis=2), 2, axis=3)
    blocks = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    first = blocks.argmax(axis=-1)
    onehot = (np.arange(4) == first[..., None]) * g[..., None]
    return onehot.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(x.shape)


def pool_inputs(grad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(POOL_SHAPE, dtype=np.float32)
    out = POOL_SHAPE[:2] + (POOL_SHAPE[2] // 2, POOL_SHAPE[3] // 2)
    return (x, rng.standard_normal(out, dtype=np.float32)) if grad else (x,)


def pool_cases():
    out = []
    size = np.prod(POOL_SHAPE) * 4
    for kind in ("max", "avg"):
        out.append(Case(name=f"{kind}_pool2d 2x2 fwd", work=size * 1.25, unit="GB/s",
                        inputs=functools.partial(pool_inputs, False),
                        ops={"fibril": functools.partial(_pool, "fibril", kind),
                             "torch": functools.partial(_pool, "torch", kind)},
                        reference=functools.partial(reference_pool, kind), check=close))
        out.append(Case(name=f"{kind}_pool2d 2x2 fwd+bwd", work=size * 2.5, unit="GB/s",
                        inputs=functools.partial(pool_inputs, True),
                        ops={"fibril": fwd_bwd(functools.partial(_pool, "fibril", kind)),
                             "torch": fwd_bwd(functools.partial(_pool, "torch", kind))},
                        reference=functools.partial(reference_pool_grad, kind), check=close))
    return out


def cases(quick):
    if quick:
        return conv_cases(QUICK)
    return conv_cases([c[0] for c in CONVS]) + pool_cases()
