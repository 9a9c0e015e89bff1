"""Pooling family: max/avg pooling 1-D and 2-D (padding, dilation, ceil_mode,
count_include_pad, divisor_override, indices) and adaptive pooling against a float64 loop
reference and PyTorch, forward and gradients, gradcheck, modules and bad input."""

import math

import numpy as np
import pytest

import fibril
import fibril.nn as nn
import fibril.nn.functional as F
from op_check import check_op, make_inputs, torch

TF = torch.nn.functional if torch is not None else None
needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")


def _out(size, k, s, p, d, ceil_mode):
    span = size + 2 * p - d * (k - 1) - 1
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def ref_pool2d(x, k, s, p, d=(1, 1), ceil_mode=False, kind="max", count_include_pad=True, divisor=None):
    n, c, h, w = x.shape
    oh, ow = _out(h, k[0], s[0], p[0], d[0], ceil_mode), _out(w, k[1], s[1], p[1], d[1], ceil_mode)
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            rows = [i * s[0] - p[0] + t * d[0] for t in range(k[0])]
            cols = [j * s[1] - p[1] + t * d[1] for t in range(k[1])]
            vr = [r for r in rows if 0 <= r < h]
            vc = [q for q in cols if 0 <= q < w]
            win = x[:, :, vr][:, :, :, vc]
            if kind == "max":
                y[:, :, i, j] = win.max(axis=(2, 3))
            else:
                if divisor:
                    div = divisor
                elif count_include_pad:
                    div = (min(i * s[0] - p[0] + k[0], h + p[0]) - (i * s[0] - p[0])) * \
                          (min(j * s[1] - p[1] + k[1], w + p[1]) - (j * s[1] - p[1]))
                else:
                    div = len(vr) * len(vc)
                y[:, :, i, j] = win.sum(axis=(2, 3)) / div
    return y


def ref_adaptive2d(x, out, kind):
    h, w = x.shape[2:]
    y = np.zeros(x.shape[:2] + tuple(out))
    for i in range(out[0]):
        for j in range(out[1]):
            r0, r1 = i * h // out[0], -(-(i + 1) * h // out[0])
            c0, c1 = j * w // out[1], -(-(j + 1) * w // out[1])
            win = x[:, :, r0:r1, c0:c1]
            y[:, :, i, j] = win.max(axis=(2, 3)) if kind == "max" else win.mean(axis=(2, 3))
    return y


MAX_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 1)),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=2, stride=3, padding=1, ceil_mode=True),
]


@pytest.mark.parametrize("kw", MAX_CASES)
def test_max_pool2d(kw):
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8))
    k = kw["kernel_size"] if isinstance(kw["kernel_size"], tuple) else (kw["kernel_size"],) * 2
    s = kw.get("stride", k)
    s = s if isinstance(s, tuple) else (s, s)
    p = kw.get("padding", 0)
    p = p if isinstance(p, tuple) else (p, p)
    d = kw.get("dilation", 1)
    d = d if isinstance(d, tuple) else (d, d)
    ref = ref_pool2d(x, k, s, p, d, kw.get("ceil_mode", False))
    check_op(lambda t: F.max_pool2d(t, **kw), (lambda t: TF.max_pool2d(t, **kw)) if torch else None, [x],
             numpy_fn=lambda a: ref, atol=1e-12, gradcheck=False)


@pytest.mark.parametrize("width", [5, 14, 16, 37])
@pytest.mark.parametrize("divisor", [None, 3])
def test_avg_pool2d_2x2_float32(width, divisor):
    """The float 2x2 path (8 outputs per step, masked row ends, odd sizes): the scalar window's
    sums and rounding, exactly, and its gradient."""
    rng = np.random.default_rng(width)
    x = rng.standard_normal((2, 3, 11, width)).astype(np.float32)
    xt = fibril.tensor(x, requires_grad=True)
    y = F.avg_pool2d(xt, 2, divisor_override=divisor)
    d, h, w = np.float32(divisor or 4), 11 // 2, width // 2
    c = x[:, :, :2 * h, :2 * w].reshape(2, 3, h, 2, w, 2)
    ref = (((c[:, :, :, 0, :, 0] + c[:, :, :, 0, :, 1]) + c[:, :, :, 1, :, 0]) + c[:, :, :, 1, :, 1]) / d
    np.testing.assert_array_equal(y.detach().numpy(), ref)
    g = rng.standard_normal(ref.shape).astype(np.float32)
    y.backward(fibril.tensor(g))
    gx = np.zeros_like(x)
    gx[:, :, :2 * h, :2 * w] = np.repeat(np.repeat(g / d, 2, axis=2), 2, axis=3)
    np.testing.assert_array_equal(xt.grad.numpy(), gx)


@pytest.mark.parametrize("kw", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 1), ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=2, divisor_override=3),
])
def test_avg_pool2d(kw):
    x = np.random.default_rng(1).standard_normal((2, 3, 9, 8))
    k = kw["kernel_size"] if isinstance(kw["kernel_size"], tuple) else (kw["kernel_size"],) * 2
    s = kw.get("stride", k)
    s = s if isinstance(s, tuple) else (s, s)
    p = kw.get("padding", 0)
    p = p if isinstance(p, tuple) else (p, p)
    ref = ref_pool2d(x, k, s, p, ceil_mode=kw.get("ceil_mode", False), kind="avg",
                     count_include_pad=kw.get("count_include_pad", True), divisor=kw.get("divisor_override"))
    check_op(lambda t: F.avg_pool2d(t, **kw), (lambda t: TF.avg_pool2d(t, **kw)) if torch else None, [x],
             numpy_fn=lambda a: ref, atol=1e-12, gradcheck=False)


@pytest.mark.parametrize("out", [(1, 1), (3, 4), (5, 7), (9, 8), (4, None)])
def test_adaptive_pool2d(out):
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 8))
    full = (out[0], 8 if out[1] is None else out[1])
    for kind, fn, tfn in (("avg", F.adaptive_avg_pool2d, "adaptive_avg_pool2d"),
                          ("max", F.adaptive_max_pool2d, "adaptive_max_pool2d")):
        ref = ref_adaptive2d(x, full, kind)
        check_op(lambda t: fn(t, out), (lambda t: getattr(TF, tfn)(t, out)) if torch else None, [x],
                 numpy_fn=lambda a: ref, atol=1e-12, gradcheck=False)


@pytest.mark.parametrize("name,kw", [
    ("max_pool1d", dict(kernel_size=3, stride=2, padding=1)),
    ("max_pool1d", dict(kernel_size=2, dilation=2, ceil_mode=True)),
    ("avg_pool1d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("avg_pool1d", dict(kernel_size=4, stride=3, ceil_mode=True)),
    ("adaptive_avg_pool1d", dict(output_size=4)),
    ("adaptive_max_pool1d", dict(output_size=3)),
])
def test_pool1d(name, kw):
    x = np.random.default_rng(3).standard_normal((2, 3, 11))
    check_op(lambda t: getattr(F, name)(t, **kw), (lambda t: getattr(TF, name)(t, **kw)) if torch else None,
             [x], atol=1e-12, gradcheck=False)


def test_gradcheck():
    rng = np.random.default_rng(4)
    # Distinct values keep the max's argmax away from ties (finite differences need that).
    x = fibril.tensor(rng.permutation(2 * 2 * 6 * 5).reshape(2, 2, 6, 5) / 7.0, requires_grad=True)
    for fn in (lambda t: F.max_pool2d(t, 3, 2, 1), lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=False),
               lambda t: F.adaptive_avg_pool2d(t, (4, 3)), lambda t: F.adaptive_max_pool2d(t, (2, 4)),
               lambda t: F.avg_pool1d(t.reshape(4, 6, 5), 2, ceil_mode=True)):
        assert fibril.testing.gradcheck(fn, [x], eps=1e-4)


@needs_torch
def test_indices_and_unbatched_match_torch():
    x = np.random.default_rng(5).standard_normal((3, 7, 6)).astype(np.float32)
    y, idx = F.max_pool2d(fibril.tensor(x), 3, 2, 1, return_indices=True)
    yt, it = TF.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), yt.numpy())
    np.testing.assert_array_equal(idx.numpy(), it.numpy())
    assert idx.dtype == fibril.int64
    y, idx = F.adaptive_max_pool2d(fibril.tensor(x), (2, 3), return_indices=True)
    yt, it = TF.adaptive_max_pool2d(torch.tensor(x), (2, 3), return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), it.numpy())


@needs_torch
def test_nan_propagates_like_torch():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    x[0, 0, 1, 1] = np.nan
    y, idx = F.max_pool2d(fibril.tensor(x), 2, return_indices=True)
    yt, it = TF.max_pool2d(torch.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), yt.numpy())
    np.testing.assert_array_equal(idx.numpy(), it.numpy())


def test_non_contiguous_input():
    x = np.random.default_rng(6).standard_normal((2, 3, 8, 8))
    t = fibril.tensor(x).transpose(2, 3)
    ref = ref_pool2d(x.transpose(0, 1, 3, 2), (2, 2), (2, 2), (0, 0))
    np.testing.assert_allclose(F.max_pool2d(t, 2).numpy(), ref)


@needs_torch
def test_modules_repr_match_torch():
    for make in (lambda m: m.MaxPool2d(3, 2, 1), lambda m: m.AvgPool2d(2), lambda m: m.MaxPool1d(2),
                 lambda m: m.AvgPool1d(3, 2, 1), lambda m: m.AdaptiveAvgPool2d((1, 1)),
                 lambda m: m.AdaptiveMaxPool2d(2), lambda m: m.AdaptiveAvgPool1d(4)):
        assert repr(make(nn)) == repr(make(torch.nn))
    x = np.random.default_rng(7).standard_normal((2, 3, 8, 8))
    np.testing.assert_allclose(nn.MaxPool2d(2)(fibril.tensor(x)).numpy(),
                               torch.nn.MaxPool2d(2)(torch.tensor(x)).numpy())


@pytest.mark.parametrize("call,match", [
    (lambda x: F.max_pool2d(x, 9), "smaller than the kernel"),
    (lambda x: F.max_pool2d(x, 2, padding=2), "at most half"),
    (lambda x: F.avg_pool2d(x, 0), "positive"),
    (lambda x: F.max_pool2d(x[0, 0, 0], 2), "3-D or 4-D"),
    (lambda x: F.max_pool2d(x, (2, 2, 2)), "2 values"),
    (lambda x: F.adaptive_avg_pool2d(x, (2, 2, 2)), "2 values"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call(fibril.zeros(2, 3, 8, 8))


def test_bad_dtype():
    with pytest.raises(TypeError, match="int64"):
        F.max_pool2d(fibril.zeros(2, 3, 8, 8, dtype=fibril.int64), 2)


@needs_torch
@pytest.mark.parametrize("name,kw,shape", [
    ("max_pool2d", dict(kernel_size=(1, 2), stride=2, dilation=(1, 2), ceil_mode=True), (2, 3, 9, 2)),
    ("avg_pool2d", dict(kernel_size=(3, 2), stride=2, ceil_mode=True, count_include_pad=False), (2, 3, 3, 1)),
    ("max_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (1, 2, 1, 2)),
])
def test_ceil_mode_input_smaller_than_kernel_matches_torch(name, kw, shape):
    """With ceil_mode PyTorch still gives one (partial) window when the input is smaller than the kernel."""
    x = np.random.default_rng(8).standard_normal(shape)
    check_op(lambda t: getattr(F, name)(t, **kw), lambda t: getattr(TF, name)(t, **kw), [x], atol=1e-12,
             gradcheck=False)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("values", ["ties", "nan"])
@pytest.mark.parametrize("width,kw", [
    (28, dict(kernel_size=2)), (14, dict(kernel_size=2)), (16, dict(kernel_size=2)), (37, dict(kernel_size=2)),
    (5, dict(kernel_size=2)),
    (37, dict(kernel_size=2, ceil_mode=True)), (31, dict(kernel_size=3, stride=2, padding=1)),
    (9, dict(kernel_size=3, stride=1, padding=1)), (40, dict(kernel_size=2, stride=2, dilation=2)),
    (17, dict(kernel_size=(2, 3), stride=(2, 1))),
])
def test_max_pool_vector_rows_match_torch_indices(width, kw, values, dtype):
    """Rows wide enough for the kernel's vector blocks (and their overlapping last block):
    ties and NaNs pick the same element as torch (first maximum, last NaN)."""
    rng = np.random.default_rng(width)
    x = rng.integers(0, 3, (2, 3, 10, width)).astype(dtype)
    if values == "nan":
        x[rng.random(x.shape) < 0.1] = np.nan
    y, i = F.max_pool2d(fibril.from_numpy(x), return_indices=True, **kw)
    yt, it = TF.max_pool2d(torch.from_numpy(x), return_indices=True, **kw)
    np.testing.assert_array_equal(np.asarray(y), yt.numpy())
    np.testing.assert_array_equal(np.asarray(i), it.numpy())


# ------------------------------------------------------------------------------ CUDA
CUDA_CASES = [
    ("max_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("max_pool2d", dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1), ceil_mode=True)),
    ("avg_pool2d", dict(kernel_size=3, stride=1, padding=1)),
    ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False, ceil_mode=True)),
    ("avg_pool2d", dict(kernel_size=2, divisor_override=3)),
    ("adaptive_avg_pool2d", dict(output_size=(3, 4))),
    ("adaptive_max_pool2d", dict(output_size=(4, 3))),
    ("max_pool1d", dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool1d", dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
    ("adaptive_avg_pool1d", dict(output_size=5)),
]


@pytest.mark.cuda
@pytest.mark.parametrize("name,kw", CUDA_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_pool_matches_cpu(name, kw, dtype):
    rng = np.random.default_rng(0)
    shape = (2, 3, 9, 11) if name.endswith("2d") else (2, 3, 13)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[5] = np.nan  # NaN propagates the same way on both devices
    g = rng.standard_normal(getattr(F, name)(fibril.tensor(x), **kw).shape).astype(dtype)
    outs = {}
    for device in ("cpu", "cuda"):
        xt = fibril.tensor(x, device=device, requires_grad=True)
        y = getattr(F, name)(xt, **kw)
        y.backward(fibril.tensor(g, device=device))
        assert y.device == xt.grad.device == ("cuda:0" if device == "cuda" else "cpu")
        outs[device] = y.detach().cpu().numpy(), xt.grad.cpu().numpy()
    tol = 1e-6 if dtype == np.float32 else 1e-12
    for a, b in zip(outs["cpu"], outs["cuda"]):
        np.testing.assert_allclose(b, a, rtol=tol, atol=tol)


@pytest.mark.cuda
def test_cuda_max_pool_indices_match_cpu():
    x = np.random.default_rng(1).integers(0, 3, (2, 2, 8, 8)).astype(np.float32)  # many ties
    cpu = F.max_pool2d(fibril.tensor(x), 3, 2, 1, return_indices=True)
    cuda = F.max_pool2d(fibril.tensor(x, device="cuda"), 3, 2, 1, return_indices=True)
    for a, b in zip(cpu, cuda):
        np.testing.assert_array_equal(b.cpu().numpy(), a.numpy())


@pytest.mark.cuda
def test_cuda_pool_modules_and_mixed_devices():
    x = fibril.randn(2, 3, 8, 8).cuda()
    assert nn.MaxPool2d(2)(x).device == "cuda:0"
    assert nn.AdaptiveAvgPool2d(1)(x).shape == (2, 3, 1, 1)
    with pytest.raises(RuntimeError, match="same device"):
        fibril._C.max_pool_backward(fibril.randn(2, 3, 4, 4)._data, F.max_pool2d(x, 2, return_indices=True)[1]._data,
                                    (2, 3, 8, 8), 2)


@pytest.mark.parametrize("pool,kw,shape", [
    (F.max_pool2d, dict(kernel_size=(3, 2), stride=(3, 3), padding=(1, 0), dilation=(2, 1), ceil_mode=True),
     (1, 3, 1, 5)),
    (F.max_pool1d, dict(kernel_size=3, stride=3, padding=1, dilation=2, ceil_mode=True), (2, 1, 1)),
])
def test_window_wholly_in_padding(pool, kw, shape):
    """Dilation can leave a window with no input under it: -inf, as in torch, and no gradient
    (its index lies outside the plane; backward used to write there)."""
    x = fibril.randn(*shape, requires_grad=True)
    y, idx = pool(x, return_indices=True, **kw)
    assert np.isneginf(y.detach().numpy()).any()
    for _ in range(20):
        x.grad = None
        pool(x, **kw).sum().backward()
        assert not x.grad.numpy().any()


@pytest.mark.parametrize("norm_type", [1, 2, 3.0])
@pytest.mark.parametrize("dims, kernel, stride, ceil_mode", [
    (1, 3, 2, False), (1, 2, None, True), (2, 2, 2, True), (2, (2, 3), (1, 2), False),
])
def test_lp_pool_matches_torch(dims, kernel, stride, ceil_mode, norm_type):
    """(sum of x^p over each window)^(1/p): F.lp_pool1d/2d and nn.LPPool1d/2d, values and gradients."""
    shape = (2, 3, 9) if dims == 1 else (1, 2, 5, 7)
    (x,) = make_inputs([shape], low=0.1, high=2.0)
    name = f"lp_pool{dims}d"
    check_op(lambda t: getattr(F, name)(t, norm_type, kernel, stride, ceil_mode),
             lambda t: getattr(torch.nn.functional, name)(t, norm_type, kernel, stride, ceil_mode), [x],
             atol=1e-12, rtol=1e-10)
    module = getattr(fibril.nn, f"LPPool{dims}d")(norm_type, kernel, stride, ceil_mode)
    np.testing.assert_allclose(module(fibril.tensor(x)).numpy(),
                               getattr(F, name)(fibril.tensor(x), norm_type, kernel, stride, ceil_mode).numpy())
