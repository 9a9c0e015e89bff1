"""Convolution family: conv1d/conv2d and conv_transpose1d/2d against a float64 direct-loop
reference (forward, input and weight gradients) on odd geometries, PyTorch parity in float32
and float64, gradcheck on small cases, the nn modules (state dicts, padding modes, repr) and
bad input."""

import numpy as np
import pytest

import fibril
import fibril.nn as nn
import fibril.nn.functional as F
from op_check import check_op, torch

TF = torch.nn.functional if torch is not None else None
needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")


# ---- float64 direct-loop reference ---------------------------------------------------------

def _windows(xp, ky, kx, stride, dilation, out):
    """xp[:, :, ky*d + s*i, kx*d + s*j] for the output grid: the input every output reads at one tap."""
    (sh, sw), (dh, dw), (oh, ow) = stride, dilation, out
    return xp[:, :, ky * dh: ky * dh + sh * (oh - 1) + 1: sh, kx * dw: kx * dw + sw * (ow - 1) + 1: sw]


def _geometry(x_shape, w_shape, stride, before, after, dilation):
    return tuple((x_shape[2 + i] + before[i] + after[i] - dilation[i] * (w_shape[2 + i] - 1) - 1) // stride[i] + 1
                 for i in range(2))


def ref_conv2d(x, w, b, stride, before, after, dilation, groups):
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    og = o // groups
    out = _geometry(x.shape, w.shape, stride, before, after, dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (before[0], max(after[0], 0)), (before[1], max(after[1], 0))))
    y = np.zeros((n, o) + out)
    for g in range(groups):
        xg = xp[:, g * cg:(g + 1) * cg]
        for ky in range(kh):
            for kx in range(kw):
                win = _windows(xg, ky, kx, stride, dilation, out)
                y[:, g * og:(g + 1) * og] += np.einsum("ncij,oc->noij", win, w[g * og:(g + 1) * og, :, ky, kx])
    return y if b is None else y + b[None, :, None, None]


def ref_conv2d_grads(x, w, gy, stride, before, after, dilation, groups):
    o, cg, kh, kw = w.shape
    og = o // groups
    out = gy.shape[2:]
    pads = ((0, 0), (0, 0), (before[0], max(after[0], 0)), (before[1], max(after[1], 0)))
    xp = np.pad(x, pads)
    gxp, gw = np.zeros_like(xp), np.zeros_like(w)
    for g in range(groups):
        sl_c, sl_o = slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)
        for ky in range(kh):
            for kx in range(kw):
                win = _windows(xp[:, sl_c], ky, kx, stride, dilation, out)
                gw[sl_o, :, ky, kx] = np.einsum("noij,ncij->oc", gy[:, sl_o], win)
                _windows(gxp[:, sl_c], ky, kx, stride, dilation, out)[...] += \
                    np.einsum("noij,oc->ncij", gy[:, sl_o], w[sl_o, :, ky, kx])
    h, wd = x.shape[2:]
    return gxp[:, :, before[0]:before[0] + h, before[1]:before[1] + wd], gw


def _padding_pair(padding, kernel, dilation):
    if padding == "same":
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return [t // 2 for t in total], [t - t // 2 for t in total]
    if padding == "valid":
        return [0, 0], [0, 0]
    p = [padding, padding] if isinstance(padding, int) else list(padding)
    return p, p


CASES = [
    # (N, C, H, W), (O, kh, kw), stride, padding, dilation, groups
    ((2, 3, 9, 8), (4, 1, 1), 1, 0, 1, 1),
    ((2, 3, 9, 8), (4, 3, 3), 1, 1, 1, 1),
    ((1, 2, 11, 10), (3, 5, 5), 2, 2, 1, 1),
    ((2, 4, 13, 12), (6, 7, 7), 3, 3, 1, 2),
    ((2, 4, 9, 9), (4, 3, 3), 1, "same", 2, 4),
    ((2, 4, 10, 7), (8, 3, 3), 2, 1, 1, 4),
    ((1, 3, 8, 8), (5, 3, 2), (2, 1), (1, 0), (1, 2), 1),
    ((2, 2, 7, 9), (4, 4, 2), 1, "same", 1, 2),
    ((1, 2, 2, 2), (3, 5, 5), 1, 2, 1, 1),
    ((2, 6, 17, 19), (12, 3, 3), 1, "valid", 1, 3),
    ((1, 1, 28, 28), (8, 3, 3), 1, 1, 1, 1),
    ((2, 20, 6, 6), (40, 3, 3), 1, 1, 1, 1),
    # more input than output channels: the input gradient runs as a forward convolution
    ((2, 6, 9, 10), (4, 3, 4), 1, "same", (2, 1), 2),
    ((1, 8, 7, 7), (3, 5, 3), 1, (2, 0), 1, 1),
    # the flat forward form (64+ taps per output, output rows at most 32 wide)
    ((2, 16, 9, 11), (6, 3, 3), 1, "same", (2, 1), 2),
    ((1, 8, 10, 12), (4, 3, 3), 1, "valid", 1, 1),
    ((3, 12, 8, 9), (5, 4, 2), 1, "same", 1, 1),
    ((1, 16, 5, 6), (8, 3, 3), 1, (3, 2), 1, 1),  # the input gradient's padding is negative
    ((2, 2, 11, 13), (3, 3, 3), 1, 2, 2, 1),  # the thin weight gradient (few taps), dilated
    # strided flat forms: phase planes
    ((2, 8, 15, 17), (6, 3, 3), 2, 1, 2, 1),
    ((1, 64, 9, 10), (4, 1, 1), 2, 0, 1, 1),
    ((2, 3, 13, 16), (4, 3, 3), (2, 3), (1, 2), 1, 1),
    # depthwise with more than 16 taps: the direct form sums them in blocks of 16
    ((2, 3, 11, 12), (3, 5, 5), 1, 2, 1, 3),
    ((1, 4, 12, 10), (8, 5, 4), 1, "same", (1, 2), 4),
    # large maps: the flat GEMM runs in chunks of output rows (padded, strided, in place)
    ((2, 8, 60, 45), (64, 3, 3), 1, 1, 1, 1),
    ((1, 8, 61, 50), (128, 3, 3), 2, 1, 1, 1),
    ((1, 8, 60, 45), (64, 3, 3), 1, "valid", 1, 1),
    # 1x1 at stride 1, no padding: the GEMMs read x as a plain B
    ((3, 40, 7, 9), (24, 1, 1), 1, 0, 2, 2),
    ((1, 33, 12, 11), (70, 1, 1), 1, "same", 1, 1),
    # small maps: several images per GEMM (a group, and the thread's last partial one)
    ((19, 8, 4, 5), (6, 3, 3), 1, 1, 1, 1),
    ((7, 16, 6, 7), (4, 3, 3), 2, 1, 1, 2),
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@pytest.mark.parametrize("layout", ["contiguous", "strided"])
@pytest.mark.parametrize("case", CASES)
def test_conv2d_matches_reference(case, layout):
    xs, (o, kh, kw), stride, padding, dilation, groups = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs)
    w = rng.standard_normal((o, xs[1] // groups, kh, kw))
    b = rng.standard_normal(o)
    stride, dilation = _pair(stride), _pair(dilation)
    before, after = _padding_pair(padding, (kh, kw), dilation)
    y_ref = ref_conv2d(x, w, b, stride, before, after, dilation, groups)
    gy = rng.standard_normal(y_ref.shape)
    gx_ref, gw_ref = ref_conv2d_grads(x, w, gy, stride, before, after, dilation, groups)

    xt = fibril.tensor(x, requires_grad=True)
    wt = fibril.tensor(w, requires_grad=True)
    bt = fibril.tensor(b, requires_grad=True)
    inp = xt.transpose(2, 3).contiguous().transpose(2, 3) if layout == "strided" else xt
    y = F.conv2d(inp, wt, bt, stride=stride, padding=padding, dilation=dilation, groups=groups)
    np.testing.assert_allclose(y.detach().numpy(), y_ref, rtol=1e-10, atol=1e-10)
    y.backward(fibril.tensor(gy))
    np.testing.assert_allclose(xt.grad.numpy(), gx_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(wt.grad.numpy(), gw_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(bt.grad.numpy(), gy.sum(axis=(0, 2, 3)), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 1)])
def test_conv2d_flat_form_gradcheck(stride, padding):
    """64+ taps per output on small maps: the flat forms (phase planes at stride 2, several
    images per GEMM)."""
    rng = np.random.default_rng(5)
    x = fibril.tensor(rng.standard_normal((3, 8, 5, 4)), requires_grad=True)
    w = fibril.tensor(rng.standard_normal((3, 8, 3, 3)), requires_grad=True)
    b = fibril.tensor(rng.standard_normal(3), requires_grad=True)
    assert fibril.testing.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding), [x, w, b])


@pytest.mark.parametrize("case", [
    ((2, 3, 10), (4, 3), 1, 1, 1, 1),
    ((1, 4, 17), (8, 5), 2, 2, 2, 2),
    ((3, 4, 9), (4, 3), 1, "same", 1, 4),
    ((2, 2, 5), (3, 7), 3, 3, 1, 1),
])
def test_conv1d_matches_reference(case):
    xs, (o, k), stride, padding, dilation, groups = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal(xs)
    w = rng.standard_normal((o, xs[1] // groups, k))
    before, after = _padding_pair(padding, (1, k), (1, dilation))
    before[0] = after[0] = 0
    ref = ref_conv2d(x[:, :, None], w[:, :, None], None, (1, stride), before, after, (1, dilation), groups)[:, :, 0]
    y = F.conv1d(fibril.tensor(x), fibril.tensor(w), None, stride, padding, dilation, groups)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-10, atol=1e-10)


def test_conv2d_float32_large_channels_matches_float64():
    """The AVX2 panel paths (16-wide im2col runs, 8x8 transposed blocks) against float64."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 64, 20, 21)).astype(np.float32)
    w = (rng.standard_normal((96, 64, 3, 3)) / 24).astype(np.float32)
    xt, wt = fibril.tensor(x, requires_grad=True), fibril.tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, padding=1)
    args = ((1, 1), (1, 1), (1, 1), (1, 1), 1)
    ref = ref_conv2d(x.astype(np.float64), w.astype(np.float64), None, *args)
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-4, atol=1e-4)
    gy = rng.standard_normal(ref.shape).astype(np.float32)
    y.backward(fibril.tensor(gy))
    gx_ref, gw_ref = ref_conv2d_grads(x.astype(np.float64), w.astype(np.float64), gy.astype(np.float64), *args)
    np.testing.assert_allclose(xt.grad.numpy(), gx_ref, rtol=1e-4, atol=1e-4 * np.abs(gx_ref).max())
    np.testing.assert_allclose(wt.grad.numpy(), gw_ref, rtol=1e-4, atol=1e-4 * np.abs(gw_ref).max())


def test_unbatched_input():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((3, 6, 6)), rng.standard_normal((2, 3, 3, 3))
    y = F.conv2d(fibril.tensor(x), fibril.tensor(w), padding=1)
    assert y.shape == (2, 6, 6)
    ref = ref_conv2d(x[None], w, None, (1, 1), (1, 1), (1, 1), (1, 1), 1)[0]
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("groups,stride,padding", [(1, 1, 1), (2, 2, 0), (4, 1, "same")])
def test_conv2d_gradcheck(groups, stride, padding):
    rng = np.random.default_rng(4)
    x = fibril.tensor(rng.standard_normal((2, 4, 5, 5)), requires_grad=True)
    w = fibril.tensor(rng.standard_normal((4, 4 // groups, 3, 3)), requires_grad=True)
    b = fibril.tensor(rng.standard_normal(4), requires_grad=True)
    assert fibril.testing.gradcheck(
        lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding, groups=groups), [x, w, b])


# ---- transposed convolution ----------------------------------------------------------------

def ref_conv_transpose2d(x, w, b, stride, padding, output_padding, dilation, groups):
    """The adjoint of the convolution from the output back to x."""
    kh, kw = w.shape[2:]
    out = tuple((x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * ((kh, kw)[i] - 1)
                + output_padding[i] + 1 for i in range(2))
    after = [padding[i] - output_padding[i] for i in range(2)]
    dummy = np.zeros((x.shape[0], w.shape[1] * groups) + out)
    gx, _ = ref_conv2d_grads(dummy, w, x, stride, padding, after, dilation, groups)
    return gx if b is None else gx + b[None, :, None, None]


@pytest.mark.parametrize("case", [
    # (N, Cin, H, W), Cout, k, stride, padding, output_padding, dilation, groups
    ((2, 4, 5, 6), 3, 3, 1, 0, 0, 1, 1),
    ((2, 4, 5, 5), 6, 3, 2, 1, 1, 1, 2),
    ((1, 3, 4, 7), 2, 4, 2, 1, 0, 1, 1),
    ((2, 2, 3, 3), 4, 3, 3, 2, 2, 2, 2),
    ((1, 6, 6, 5), 6, 5, 1, 2, 0, 1, 6),
])
def test_conv_transpose2d_matches_reference(case):
    xs, cout, k, s, p, op, d, groups = case
    rng = np.random.default_rng(5)
    x = rng.standard_normal(xs)
    w = rng.standard_normal((xs[1], cout // groups, k, k))
    b = rng.standard_normal(cout)
    y = F.conv_transpose2d(fibril.tensor(x), fibril.tensor(w), fibril.tensor(b), s, p, op, groups, d)
    ref = ref_conv_transpose2d(x, w, b, (s, s), (p, p), (op, op), (d, d), groups)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-10, atol=1e-10)


def test_conv_transpose_gradcheck():
    rng = np.random.default_rng(6)
    x = fibril.tensor(rng.standard_normal((1, 4, 3, 3)), requires_grad=True)
    w = fibril.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    b = fibril.tensor(rng.standard_normal(6), requires_grad=True)
    assert fibril.testing.gradcheck(
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2), [x, w, b])
    x1 = fibril.tensor(rng.standard_normal((2, 2, 5)), requires_grad=True)
    w1 = fibril.tensor(rng.standard_normal((2, 3, 3)), requires_grad=True)
    assert fibril.testing.gradcheck(lambda x, w: F.conv_transpose1d(x, w, stride=2, dilation=2), [x1, w1])


# ---- PyTorch parity ------------------------------------------------------------------------

TORCH_CASES = [
    dict(stride=1, padding=1, dilation=1, groups=1),
    dict(stride=2, padding=0, dilation=1, groups=2),
    dict(stride=1, padding="same", dilation=2, groups=1),
    dict(stride=3, padding=2, dilation=1, groups=4),
    dict(stride=1, padding="valid", dilation=1, groups=8),
]


@needs_torch
@pytest.mark.parametrize("kwargs", TORCH_CASES)
def test_conv2d_torch_parity(kwargs):
    groups = kwargs["groups"]
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal((2, 8, 11, 10)), rng.standard_normal((16, 8 // groups, 3, 3)),
              rng.standard_normal(16)]
    check_op(lambda x, w, b: F.conv2d(x, w, b, **kwargs), lambda x, w, b: TF.conv2d(x, w, b, **kwargs), arrays,
             atol=1e-9, rtol=1e-9, gradcheck=False)


@needs_torch
@pytest.mark.parametrize("kwargs", [dict(stride=1, padding=2), dict(stride=2, padding=1,
                                                                   dilation=2, groups=2)])
def test_conv1d_torch_parity(kwargs):
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal((3, 4, 20)), rng.standard_normal((6, 4 // kwargs.get("groups", 1), 5)),
              rng.standard_normal(6)]
    check_op(lambda x, w, b: F.conv1d(x, w, b, **kwargs), lambda x, w, b: TF.conv1d(x, w, b, **kwargs), arrays,
             atol=1e-9, rtol=1e-9, gradcheck=False)


@needs_torch
@pytest.mark.parametrize("kwargs", [dict(stride=2, padding=1, output_padding=1),
                                    dict(stride=1, padding=0, groups=2, dilation=2),
                                    dict(stride=3, padding=1, output_padding=2)])
def test_conv_transpose_torch_parity(kwargs):
    rng = np.random.default_rng(9)
    g = kwargs.get("groups", 1)
    arrays = [rng.standard_normal((2, 4, 6, 5)), rng.standard_normal((4, 6 // g, 3, 3)), rng.standard_normal(6)]
    check_op(lambda x, w, b: F.conv_transpose2d(x, w, b, **kwargs),
             lambda x, w, b: TF.conv_transpose2d(x, w, b, **kwargs), arrays, atol=1e-9, rtol=1e-9, gradcheck=False)
    arrays1 = [a[:, :, 0] for a in arrays[:2]] + [arrays[2]]
    check_op(lambda x, w, b: F.conv_transpose1d(x, w, b, **kwargs),
             lambda x, w, b: TF.conv_transpose1d(x, w, b, **kwargs), arrays1, atol=1e-9, rtol=1e-9, gradcheck=False)


@needs_torch
@pytest.mark.parametrize("shape,groups,k,stride", [
    ((4, 32, 14, 14), 32, 3, 1),    # depthwise
    ((2, 16, 9, 9), 16, 5, 2),      # depthwise, strided
    ((2, 8, 10, 10), 8, 3, 1),      # depthwise with a channel multiplier below (16 outputs)
    ((8, 3, 32, 32), 1, 7, 2),      # first layer
    ((2, 3, 50, 70), 1, 7, 2),      # first layer, rows wide enough for the vector phase split
    ((2, 3, 40, 76), 1, 3, 2),      # stride 2 over rows wide enough for the vector panel path
    ((4, 3, 30, 37), 1, 3, 1),      # first layer, stride 1: the thin weight gradient
    ((4, 64, 12, 12), 1, 1, 1),     # 1x1
])
def test_float32_torch_parity(shape, groups, k, stride):
    rng = np.random.default_rng(10)
    out = 2 * shape[1] if groups == shape[1] and shape[1] == 8 else (shape[1] if groups > 1 else 24)
    x = rng.standard_normal(shape).astype(np.float32)
    w = (rng.standard_normal((out, shape[1] // groups, k, k)) / k).astype(np.float32)
    b = rng.standard_normal(out).astype(np.float32)
    kw = dict(stride=stride, padding=k // 2, groups=groups)
    xf, wf, bf = (fibril.tensor(a, requires_grad=True) for a in (x, w, b))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y, yt = F.conv2d(xf, wf, bf, **kw), TF.conv2d(xt, wt, bt, **kw)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    gy = rng.standard_normal(yt.shape).astype(np.float32)
    y.backward(fibril.tensor(gy))
    yt.backward(torch.tensor(gy))
    for a, t in ((xf, xt), (wf, wt), (bf, bt)):
        scale = np.abs(t.grad.numpy()).max()
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-4 * scale)


def test_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(11)
    x = fibril.tensor(rng.standard_normal((9, 8, 12, 12)).astype(np.float32), requires_grad=True)
    w = fibril.tensor(rng.standard_normal((16, 8, 3, 3)).astype(np.float32), requires_grad=True)
    results = []
    threads = fibril.get_num_threads()
    try:
        for n in (1, 2):
            fibril.set_num_threads(n)
            x.grad = w.grad = None
            y = F.conv2d(x, w, padding=1)
            y.sum().backward()
            results.append((y.detach().numpy(), x.grad.numpy(), w.grad.numpy()))
    finally:
        fibril.set_num_threads(threads)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape,weight,padding", [
    ((5, 6, 11, 13), (6, 1, 3, 3), 1),     # depthwise: both gradients in one pass over grad_out
    ((3, 4, 9, 8), (8, 1, 5, 3), (2, 1)),  # channel multiplier 2
    ((2, 6, 10, 9), (12, 3, 3, 3), 1),     # grouped, not direct: the two passes
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_both_gradients_match_each_alone(shape, weight, padding, dtype, num_threads):
    """x and w both needing gradients take conv_backward, one pass where the kernels allow:
    the same bits as each gradient alone, on any thread count, and the float64 reference."""
    rng = np.random.default_rng(12)
    x, w = rng.standard_normal(shape).astype(dtype), rng.standard_normal(weight).astype(dtype)
    groups = shape[1] // weight[1]
    pad = (padding, padding) if isinstance(padding, int) else padding
    gy = rng.standard_normal(ref_conv2d(x, w, None, (1, 1), pad, pad, (1, 1), groups).shape).astype(dtype)
    gx_ref, gw_ref = ref_conv2d_grads(x.astype(np.float64), w.astype(np.float64), gy.astype(np.float64), (1, 1),
                                      pad, pad, (1, 1), groups)

    def grads(want_x, want_w):
        xt, wt = fibril.tensor(x, requires_grad=want_x), fibril.tensor(w, requires_grad=want_w)
        F.conv2d(xt, wt, padding=padding, groups=groups).backward(fibril.tensor(gy))
        return xt.grad.numpy() if want_x else None, wt.grad.numpy() if want_w else None

    runs = []
    for threads in (1, 2):
        num_threads(threads)
        runs.append((grads(True, True), grads(True, False)[0], grads(False, True)[1]))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for (gx, gw), gx_alone, gw_alone in runs:
        np.testing.assert_array_equal(gx, gx_alone)
        np.testing.assert_array_equal(gw, gw_alone)
        np.testing.assert_array_equal(gx, runs[0][0][0])
        np.testing.assert_array_equal(gw, runs[0][0][1])
        np.testing.assert_allclose(gx, gx_ref, rtol=tol, atol=tol * np.abs(gx_ref).max())
        np.testing.assert_allclose(gw, gw_ref, rtol=tol, atol=tol * np.abs(gw_ref).max())


# ---- modules --------------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize("make", [
    lambda m: m.Conv2d(4, 6, 3, stride=2, padding=1, bias=True),
    lambda m: m.Conv2d(4, 8, (3, 2), padding="same", dilation=2, groups=2, bias=False),
    lambda m: m.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"),
    lambda m: m.Conv2d(4, 4, 3, padding=(1, 2), padding_mode="circular"),
    lambda m: m.Conv2d(4, 4, 3, padding="same", padding_mode="replicate"),
    lambda m: m.Conv1d(4, 6, 5, stride=2, padding=2),
    lambda m: m.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1),
    lambda m: m.ConvTranspose1d(4, 2, 4, stride=2, groups=2),
])
def test_modules_match_torch(make):
    torch.manual_seed(0)
    tm = make(torch.nn).double()
    fm = make(nn).double()
    assert repr(fm) == repr(tm)
    assert [(k, tuple(v.shape)) for k, v in fm.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in tm.state_dict().items()]
    fm.load_state_dict({k: fibril.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    dims = 1 if "1d" in type(tm).__name__ else 2
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 4) + (9,) * dims)
    xf, xt = fibril.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = fm(xf), tm(xt)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(xf.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(fm.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-10, atol=1e-10)


@needs_torch
def test_conv_transpose_output_size():
    torch.manual_seed(0)
    tm = torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1).double()
    fm = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1).double()
    fm.load_state_dict({k: fibril.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(13).standard_normal((1, 3, 4, 4))
    y = fm(fibril.tensor(x), output_size=(8, 8))
    yt = tm(torch.tensor(x), output_size=(8, 8))
    assert y.shape == (1, 2, 8, 8)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="output size"):
        fm(fibril.tensor(x), output_size=(10, 10))


def test_module_init_bounds():
    m = nn.Conv2d(8, 4, 3)
    bound = 1 / np.sqrt(8 * 9)
    assert m.weight.shape == (4, 8, 3, 3) and m.bias.shape == (4,)
    assert np.abs(m.weight.detach().numpy()).max() <= bound + 1e-7
    assert np.abs(m.bias.detach().numpy()).max() <= bound + 1e-7


# ---- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("x_shape,w_shape,kwargs,match", [
    ((2, 3, 8, 8), (4, 2, 3, 3), {}, r"\[2, 3, 8, 8\].*\[4, 2, 3, 3\]"),
    ((2, 4, 8, 8), (6, 2, 3, 3), dict(groups=3), "groups"),
    ((2, 3, 2, 2), (4, 3, 5, 5), {}, "non-positive output size"),
    ((2, 8), (4, 3, 3, 3), {}, "3-D"),
    ((2, 3, 8, 8), (4, 3, 3, 3), dict(stride=0), "positive"),
    ((2, 3, 8, 8), (4, 3, 3, 3), dict(padding=-1), "non-negative"),
    ((2, 3, 8, 8), (4, 3, 3, 3), dict(padding="full"), "padding"),
    ((2, 3, 8, 8), (4, 3, 3, 3), dict(padding="same", stride=2), "strided"),
])
def test_bad_input(x_shape, w_shape, kwargs, match):
    x, w = fibril.zeros(*x_shape), fibril.zeros(*w_shape)
    with pytest.raises(ValueError, match=match):
        F.conv2d(x, w, **kwargs)


def test_bad_bias_and_dtypes():
    x, w = fibril.zeros(2, 3, 8, 8), fibril.zeros(4, 3, 3, 3)
    with pytest.raises(ValueError, match=r"bias.*\[5\]"):
        F.conv2d(x, w, fibril.zeros(5))
    with pytest.raises(TypeError, match="float64"):
        F.conv2d(x, w.double())
    with pytest.raises(TypeError, match="int64"):
        F.conv2d(fibril.zeros(2, 3, 8, 8, dtype=fibril.int64), fibril.zeros(4, 3, 3, 3, dtype=fibril.int64))
    with pytest.raises(ValueError, match="divisible"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(fibril.zeros(1, 4, 3, 3), fibril.zeros(4, 2, 3, 3), stride=1, output_padding=1)


def test_empty_batch():
    x, w = fibril.zeros(0, 3, 8, 8, requires_grad=True), fibril.ones(4, 3, 3, 3, requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    assert y.shape == (0, 4, 8, 8)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 8, 8)
    np.testing.assert_array_equal(w.grad.numpy(), 0)


# ------------------------------------------------------------------------------ CUDA
CUDA_CASES = [  # x shape, weight shape, options
    ((2, 3, 9, 10), (5, 3, 3, 3), dict(stride=1, padding=1)),
    ((2, 4, 11, 9), (6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
    ((1, 4, 8, 8), (4, 1, 3, 3), dict(stride=2, padding=1, groups=4)),
    ((2, 3, 7, 7), (4, 3, 1, 1), dict()),
    ((2, 2, 6, 7), (3, 2, 3, 3), dict(padding="same", dilation=2)),
    ((3, 70, 5, 5), (66, 70, 2, 2), dict(stride=1)),  # more than one 64-wide tile along M and K
    ((2, 3, 17), (4, 3, 5), dict(stride=2, padding=2)),  # conv1d
    ((5, 3, 9, 8), (4, 3, 3, 2), dict(stride=(2, 3), padding=(2, 1), dilation=(2, 1))),
    ((3, 2, 4, 4), (3, 2, 5, 5), dict(padding=1)),  # taps past the input on both sides
    ((5, 6, 7, 6), (9, 2, 3, 3), dict(padding=1, groups=3)),
    ((5, 2, 6, 6), (4, 1, 3, 3), dict(stride=(1, 2), groups=2)),  # the emulator's chunks: 3 + 2 images
]


@pytest.mark.cuda
@pytest.mark.parametrize("xs,ws,kw", CUDA_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_conv_matches_cpu(xs, ws, kw, dtype):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    conv = F.conv1d if len(xs) == 3 else F.conv2d
    y_cpu = conv(fibril.tensor(x), fibril.tensor(w), fibril.tensor(b), **kw)
    g = rng.standard_normal(y_cpu.shape).astype(dtype)
    results = {}
    for device in ("cpu", "cuda"):
        xt = fibril.tensor(x, device=device, requires_grad=True)
        wt = fibril.tensor(w, device=device, requires_grad=True)
        y = conv(xt, wt, fibril.tensor(b, device=device), **kw).detach()
        conv(xt, wt, **kw).backward(fibril.tensor(g, device=device))
        results[device] = [t.cpu().numpy() for t in (y, xt.grad, wt.grad)]
    tol = 1e-4 if dtype == np.float32 else 1e-11
    for name, a, c in zip(("y", "grad x", "grad w"), results["cpu"], results["cuda"]):
        np.testing.assert_allclose(c, a, rtol=tol, atol=tol * np.abs(a).max(), err_msg=name)


@pytest.mark.cuda
def test_cuda_conv_mixed_devices_raise():
    with pytest.raises(RuntimeError, match="same device"):
        F.conv2d(fibril.randn(1, 2, 5, 5).cuda(), fibril.randn(3, 2, 3, 3))
