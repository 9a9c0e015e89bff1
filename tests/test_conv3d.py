"""conv3d and conv_transpose3d (composed from the 2-D kernels) against a float64 direct-loop
reference and PyTorch, forward and gradients, gradcheck; the Conv3d and ConvTranspose3d
modules (state dicts from torch, padding modes, output_size, repr) and bad input."""

import numpy as np
import pytest

import fibril
from fibril.nn.conv3d import Conv3d, ConvTranspose3d
from fibril.ops.conv3d import conv3d, conv_transpose3d
from op_check import check_op, torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def ref_conv3d(x, w, b, stride, padding, dilation, groups):
    """Direct loop over the taps; padding an int per dim (both sides)."""
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    o, cg, *kernel = w.shape
    out = [(xp.shape[2 + i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(3)]
    y = np.zeros((x.shape[0], o, *out))
    og = o // groups
    for g in range(groups):
        for kd, kh, kw in np.ndindex(*kernel):
            start = [k * d for k, d in zip((kd, kh, kw), dilation)]
            win = xp[:, g * cg:(g + 1) * cg, start[0]::stride[0], start[1]::stride[1], start[2]::stride[2]]
            win = win[:, :, :out[0], :out[1], :out[2]]
            y[:, g * og:(g + 1) * og] += np.einsum("ncdhw,oc->nodhw", win, w[g * og:(g + 1) * og, :, kd, kh, kw])
    return y + b[None, :, None, None, None]


@pytest.mark.parametrize("stride,padding,dilation,groups", [
    ((1, 1, 1), (0, 0, 0), (1, 1, 1), 1),
    ((2, 1, 3), (1, 2, 0), (1, 2, 1), 2),
    ((1, 2, 1), (2, 0, 1), (2, 1, 1), 4),
])
def test_conv3d_matches_direct_loop(stride, padding, dilation, groups):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 4, 7, 6, 8)), rng.standard_normal((8, 4 // groups, 3, 2, 3)), \
        rng.standard_normal(8)
    y = conv3d(fibril.tensor(x), fibril.tensor(w), fibril.tensor(b), stride, padding, dilation, groups)
    np.testing.assert_allclose(y.numpy(), ref_conv3d(x, w, b, stride, padding, dilation, groups), rtol=1e-10,
                               atol=1e-10)


CONV_CASES = [  # x shape, weight shape, options
    ((2, 3, 5, 6, 7), (4, 3, 3, 3, 3), dict()),
    ((2, 4, 6, 5, 7), (6, 2, 3, 2, 3), dict(stride=(2, 1, 2), padding=(1, 0, 2), dilation=(1, 2, 1), groups=2)),
    ((1, 4, 5, 6, 4), (4, 1, 2, 3, 2), dict(padding="same", dilation=(2, 1, 1), groups=4)),
    ((2, 2, 4, 5, 6), (3, 2, 2, 2, 2), dict(padding="valid", stride=2)),
    ((3, 5, 4, 4), (2, 3, 3, 1, 2), dict(padding=1)),  # unbatched
    ((1, 2, 3, 3, 3), (2, 2, 1, 1, 1), dict(stride=(3, 1, 2))),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's, about its own copy
@pytest.mark.parametrize("x_shape,w_shape,kw", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv3d_matches_torch(x_shape, w_shape, kw, bias):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape)] + \
        ([rng.standard_normal(w_shape[0])] if bias else [])
    check_op(lambda *a: conv3d(*a, **kw), lambda *a: TF.conv3d(*a, **kw), arrays, atol=1e-10, rtol=1e-10,
             gradcheck=bias)


TRANSPOSED_CASES = [
    ((2, 3, 3, 4, 3), (3, 2, 3, 3, 3), dict()),
    ((2, 4, 3, 2, 4), (4, 3, 3, 2, 2), dict(stride=(2, 1, 3), padding=(1, 0, 1), output_padding=(1, 0, 2),
                                           dilation=(1, 2, 1), groups=2)),
    ((1, 2, 2, 3, 2), (2, 1, 2, 3, 2), dict(stride=3, padding=1, output_padding=2)),  # beyond the padding
    ((1, 2, 2, 2, 2), (2, 2, 1, 1, 1), dict(stride=(3, 2, 1), padding=(1, 0, 0), output_padding=(2, 1, 0))),
    ((4, 3, 2, 3), (4, 2, 2, 2, 3), dict(stride=2, dilation=(2, 1, 1))),  # unbatched
]


@pytest.mark.parametrize("x_shape,w_shape,kw", TRANSPOSED_CASES)
def test_conv_transpose3d_matches_torch(x_shape, w_shape, kw):
    rng = np.random.default_rng(2)
    groups = kw.get("groups", 1)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[1] * groups)]
    check_op(lambda *a: conv_transpose3d(*a, **kw), lambda *a: TF.conv_transpose3d(*a, **kw), arrays, atol=1e-10,
             rtol=1e-10)


def test_conv_transpose3d_is_conv3d_adjoint():
    """<conv3d(x, w), y> == <x, conv_transpose3d(y, w)> with the same options."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 4, 7, 6, 5)), rng.standard_normal((6, 2, 3, 2, 3))
    kw = dict(stride=(2, 1, 2), padding=(1, 1, 0), dilation=(1, 2, 1), groups=2)
    y = conv3d(fibril.tensor(x), fibril.tensor(w), **kw).numpy()
    dy = rng.standard_normal(y.shape)
    dx = conv_transpose3d(fibril.tensor(dy), fibril.tensor(w), output_padding=(0, 0, 0), **kw)
    dx = np.pad(dx.numpy(), [(0, a - b) for a, b in zip(x.shape, dx.shape)])
    np.testing.assert_allclose((y * dy).sum(), (x * dx).sum(), rtol=1e-10)


def test_float32_matches_float64():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 3, 5, 6, 7)), rng.standard_normal((4, 3, 3, 3, 3))
    y64 = conv3d(fibril.tensor(x), fibril.tensor(w), padding=1).numpy()
    y32 = conv3d(fibril.tensor(x.astype(np.float32)), fibril.tensor(w.astype(np.float32)), padding=1)
    assert y32.dtype == fibril.float32
    np.testing.assert_allclose(y32.numpy(), y64, rtol=1e-4, atol=1e-4)


def test_non_contiguous_input():
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal((2, 3, 5, 4, 6)), rng.standard_normal((4, 3, 2, 3, 2))]
    check_op(lambda x, w: conv3d(x, w, padding=1), lambda x, w: TF.conv3d(x, w, padding=1), arrays,
             layout=lambda t: t.transpose(2, 4).contiguous().transpose(2, 4), atol=1e-10, rtol=1e-10, gradcheck=False)


def test_empty_batch():
    x, w = fibril.zeros(0, 3, 4, 4, 4, requires_grad=True), fibril.ones(2, 3, 3, 3, 3, requires_grad=True)
    y = conv3d(x, w, padding=1)
    assert y.shape == (0, 2, 4, 4, 4)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 4, 4, 4)
    np.testing.assert_array_equal(w.grad.numpy(), 0)


@pytest.mark.parametrize("make", [
    lambda m: m.Conv3d(4, 6, 3, stride=2, padding=1),
    lambda m: m.Conv3d(4, 8, (3, 2, 1), padding="same", dilation=(1, 2, 1), groups=2, bias=False),
    lambda m: m.Conv3d(4, 4, 3, padding=(1, 2, 0), padding_mode="reflect"),
    lambda m: m.Conv3d(4, 4, 2, padding=1, padding_mode="circular"),
    lambda m: m.Conv3d(4, 2, (2, 3, 3), padding="same", padding_mode="replicate"),
    lambda m: m.ConvTranspose3d(4, 6, 3, stride=2, padding=1, output_padding=1),
    lambda m: m.ConvTranspose3d(4, 2, (2, 3, 2), stride=(1, 2, 2), groups=2, dilation=(2, 1, 1), bias=False),
])
def test_modules_match_torch(make):
    """torch's state dict loads into fibril's module and gives the same outputs and gradients."""
    import fibril.nn.conv3d as fibril_conv3d

    torch.manual_seed(0)
    tm, fm = make(torch.nn).double(), make(fibril_conv3d).double()
    assert repr(fm) == repr(tm)
    assert [(k, tuple(v.shape)) for k, v in fm.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in tm.state_dict().items()]
    fm.load_state_dict({k: fibril.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(6).standard_normal((2, 4, 5, 6, 5))
    xf, xt = fibril.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = fm(xf), tm(xt)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(xf.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(fm.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_conv_transpose3d_output_size():
    torch.manual_seed(0)
    tm = torch.nn.ConvTranspose3d(3, 2, 3, stride=2, padding=1).double()
    fm = ConvTranspose3d(3, 2, 3, stride=2, padding=1).double()
    fm.load_state_dict({k: fibril.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(7).standard_normal((1, 3, 3, 4, 4))
    y = fm(fibril.tensor(x), output_size=(6, 7, 8))
    yt = tm(torch.tensor(x), output_size=(6, 7, 8))
    assert y.shape == (1, 2, 6, 7, 8)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="output size"):
        fm(fibril.tensor(x), output_size=(9, 9, 9))


def test_module_init_bounds():
    m = Conv3d(4, 6, (3, 2, 2))
    bound = 1 / np.sqrt(4 * 12)
    assert m.weight.shape == (6, 4, 3, 2, 2) and m.bias.shape == (6,)
    assert np.abs(m.weight.detach().numpy()).max() <= bound + 1e-7
    assert np.abs(m.bias.detach().numpy()).max() <= bound + 1e-7
    assert ConvTranspose3d(4, 6, 3, groups=2).weight.shape == (4, 3, 3, 3, 3)


@pytest.mark.parametrize("x_shape,w_shape,kwargs,match", [
    ((2, 3, 8, 8, 8), (4, 2, 3, 3, 3), {}, r"\[2, 3, 8, 8, 8\].*\[4, 2, 3, 3, 3\]"),
    ((2, 4, 8, 8, 8), (6, 2, 3, 3, 3), dict(groups=3), "groups"),
    ((2, 3, 2, 8, 8), (4, 3, 5, 3, 3), {}, "non-positive output depth"),
    ((2, 3, 8, 8), (4, 3, 3, 3), {}, "5-D weight"),
    ((3, 8, 8), (4, 3, 3, 3, 3), {}, "4-D"),
    ((2, 3, 8, 8, 8), (4, 3, 3, 3, 3), dict(stride=(1, 0, 1)), "positive"),
    ((2, 3, 8, 8, 8), (4, 3, 3, 3, 3), dict(padding=(-1, 0, 0)), "non-negative"),
    ((2, 3, 8, 8, 8), (4, 3, 3, 3, 3), dict(padding=(1, 1)), "3 values"),
    ((2, 3, 8, 8, 8), (4, 3, 3, 3, 3), dict(padding="full"), "padding"),
    ((2, 3, 8, 8, 8), (4, 3, 3, 3, 3), dict(padding="same", stride=(2, 1, 1)), "strided"),
])
def test_conv3d_bad_input(x_shape, w_shape, kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv3d(fibril.zeros(*x_shape), fibril.zeros(*w_shape), **kwargs)


@pytest.mark.parametrize("x_shape,w_shape,kwargs,match", [
    ((1, 4, 3, 3, 3), (4, 2, 3, 3, 3), dict(output_padding=(1, 0, 0)), "output_padding"),
    ((1, 3, 3, 3, 3), (4, 2, 3, 3, 3), {}, "in_channels"),
    ((1, 4, 3, 3, 3), (4, 2, 3, 3, 3), dict(groups=3), "groups"),
    ((1, 4, 1, 3, 3), (4, 2, 1, 3, 3), dict(padding=(1, 0, 0)), "non-positive output depth"),
    ((1, 4, 3, 3, 3), (4, 2, 3, 3, 3), dict(padding="same"), "padding"),
])
def test_conv_transpose3d_bad_input(x_shape, w_shape, kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv_transpose3d(fibril.zeros(*x_shape), fibril.zeros(*w_shape), **kwargs)


def test_bad_bias_and_dtypes():
    x, w = fibril.zeros(1, 3, 4, 4, 4), fibril.zeros(2, 3, 3, 3, 3)
    with pytest.raises(ValueError, match=r"bias.*\[5\]"):
        conv3d(x, w, fibril.zeros(5))
    with pytest.raises(ValueError, match=r"bias.*\[5\]"):
        conv_transpose3d(fibril.zeros(1, 2, 3, 3, 3), w, fibril.zeros(5))
    with pytest.raises(TypeError, match="float64"):
        conv3d(x, w.double())
    with pytest.raises(TypeError, match="Tensors"):
        conv3d(x, w.numpy())
    with pytest.raises(ValueError, match="divisible"):
        Conv3d(3, 4, 3, groups=2)
