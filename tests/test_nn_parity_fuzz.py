"""nn layers and nn.functional against torch, on what a fuzz of random configurations found to
differ: transposed convolutions whose output_padding exceeds their padding, ConvTranspose's
output_size, GroupNorm's and BatchNorm's edge inputs, Embedding's scale_grad_by_freq,
activation modules' positional inplace, softmax without dim, the losses' deprecated
size_average / reduce and their elementwise weight, and reprs."""

import warnings

import numpy as np
import pytest

import fibril
import fibril.nn as nn
import fibril.nn.functional as F
from op_check import torch, torch_one_thread  # noqa: F401 (autouse fixture)

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _pair(name, *args, **kwargs):
    """torch's float64 module and fibril's with the same weights."""
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    ours = getattr(nn, name)(*args, **kwargs).double()
    ours.load_state_dict({k: fibril.tensor(v.detach().numpy().copy()) for k, v in theirs.state_dict().items()})
    return ours, theirs


def _leaves(*arrays):
    return ([fibril.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def _close(ours, theirs, atol=1e-10):
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-9, atol=atol)


def _backward(out, ref, seed=1):
    cot = np.random.default_rng(seed).standard_normal(tuple(ref.shape))
    out.backward(fibril.tensor(cot))
    ref.backward(torch.tensor(cot))


def _silently(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ------------------------------------------------------------------------------ transposed convolutions
@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("kernel, dilation, padding, output_padding", [
    (1, 2, 0, 1), (1, 3, 0, 2), (1, 3, 1, 2), (2, 2, 0, 1), (3, 2, 1, 1),
])
@pytest.mark.parametrize("in_channels, out_channels", [(1, 1), (2, 3)])
def test_conv_transpose_output_padding_beyond_padding(dims, kernel, dilation, padding, output_padding, in_channels,
                                                      out_channels):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, in_channels) + (4,) * dims)
    w = rng.standard_normal((in_channels, out_channels) + (kernel,) * dims)
    b = rng.standard_normal(out_channels)
    (xf, wf, bf), (xt, wt, bt) = _leaves(x, w, b)
    ours_fn, theirs_fn = (F.conv_transpose1d, TF.conv_transpose1d) if dims == 1 else \
        (F.conv_transpose2d, TF.conv_transpose2d)
    options = dict(padding=padding, output_padding=output_padding, dilation=dilation)
    out, ref = ours_fn(xf, wf, bf, **options), theirs_fn(xt, wt, bt, **options)
    _close(out, ref)
    _backward(out, ref)
    for ours, theirs in ((xf, xt), (wf, wt), (bf, bt)):
        _close(ours.grad, theirs.grad)


@pytest.mark.parametrize("unbatched", [False, True])
def test_conv_transpose_module_output_padding_beyond_padding(unbatched):
    ours, theirs = _pair("ConvTranspose2d", 3, 3, 1, dilation=2, output_padding=1)
    x = np.random.default_rng(1).standard_normal((3, 5, 5) if unbatched else (2, 3, 5, 5))
    (xf,), (xt,) = _leaves(x)
    _close(ours(xf), theirs(xt))


@pytest.mark.parametrize("name, kwargs, shape, output_size", [
    ("ConvTranspose1d", dict(stride=1, dilation=2), (2, 2, 5), [10]),  # > the largest size: stride 1 allows one
    ("ConvTranspose2d", dict(stride=1, dilation=2, padding=2), (2, 2, 3, 6), [2, 7]),
    ("ConvTranspose2d", dict(stride=2), (2, 2, 3, 4), [8, 10]),
    ("ConvTranspose2d", dict(stride=2), (2, 2, 3, 4), [2, 2, 8, 10]),  # batch and channels too
    ("ConvTranspose2d", dict(stride=2), (2, 3, 4), [2, 8, 9]),  # unbatched: channels too
    ("ConvTranspose2d", dict(stride=2), (2, 3, 4), [2, 2, 8, 10]),  # unbatched: no batch size
    ("ConvTranspose1d", dict(stride=3), (2, 2, 4), [14]),
])
def test_conv_transpose_output_size(name, kwargs, shape, output_size):
    ours, theirs = _pair(name, 2, 2, 3, **kwargs)
    x = np.random.default_rng(2).standard_normal(shape)
    try:
        ref = theirs(torch.tensor(x), output_size=output_size)
    except ValueError:
        with pytest.raises(ValueError, match="output"):
            ours(fibril.tensor(x), output_size=output_size)
        return
    _close(ours(fibril.tensor(x), output_size=output_size), ref)


@pytest.mark.parametrize("fn, weight_shape, options", [
    ("conv2d", (3, 2, 2, 2), dict(stride=[2])), ("conv2d", (3, 2, 2, 2), dict(padding=(1,), dilation=[2])),
    ("conv1d", (3, 2, 2), dict(stride=[2], padding=(1,))),
    ("conv_transpose2d", (2, 3, 3, 3), dict(stride=[2], output_padding=(1,))),
    ("conv_transpose2d", (2, 3, 3, 3), dict(padding=[1], dilation=(2,))),
])
def test_conv_one_value_for_every_dim(fn, weight_shape, options):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((1, 2) + (5,) * (len(weight_shape) - 2))
    w = rng.standard_normal(weight_shape)
    out = getattr(F, fn)(fibril.tensor(x), fibril.tensor(w), **options)
    _close(out, getattr(TF, fn)(torch.tensor(x), torch.tensor(w), **options))


# ------------------------------------------------------------------------------ normalization
@pytest.mark.parametrize("num_groups, shape", [(3, (1, 3)), (1, (1, 1, 1)), (2, (1, 2)), (3, (2, 3)), (1, (1, 3))])
def test_group_norm_one_value_per_group(num_groups, shape):
    x = np.random.default_rng(3).standard_normal(shape)
    ours, theirs = _pair("GroupNorm", num_groups, shape[1])
    try:
        ref = theirs(torch.tensor(x))
    except ValueError:
        with pytest.raises(ValueError, match="more than 1 value"):
            ours(fibril.tensor(x))
        with pytest.raises(ValueError, match="more than 1 value"):
            F.group_norm(fibril.tensor(x), num_groups)
        return
    _close(ours(fibril.tensor(x)), ref)


@pytest.mark.parametrize("name, shape", [("BatchNorm1d", (0, 3)), ("BatchNorm1d", (0, 3, 4)),
                                         ("BatchNorm2d", (0, 3, 2, 2)), ("BatchNorm2d", (2, 3, 0, 2))])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_empty_batch_in_training(name, shape, affine):
    ours, theirs = _pair(name, 3, affine=affine)
    (xf,), (xt,) = _leaves(np.zeros(shape))
    out, ref = ours(xf), theirs(xt)
    assert tuple(out.shape) == tuple(ref.shape)
    _backward(out, ref)
    assert tuple(xf.grad.shape) == shape
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key].numpy(), value.numpy())
    if affine:
        np.testing.assert_array_equal(ours.weight.grad.numpy(), theirs.weight.grad.numpy())
        np.testing.assert_array_equal(ours.bias.grad.numpy(), theirs.bias.grad.numpy())


# ------------------------------------------------------------------------------ embedding
@pytest.mark.parametrize("padding_idx", [None, 1, -1])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 2, 3), ()])
def test_embedding_scale_grad_by_freq(padding_idx, shape):
    ours, theirs = _pair("Embedding", 5, 3, padding_idx=padding_idx, scale_grad_by_freq=True)
    assert repr(ours) == repr(theirs)
    indices = np.random.default_rng(4).integers(0, 5, size=shape)
    out, ref = ours(fibril.tensor(indices)), theirs(torch.tensor(indices))
    _close(out, ref)
    _backward(out, ref)
    _close(ours.weight.grad, theirs.weight.grad)


def test_embedding_from_pretrained_scale_grad_by_freq():
    weights = np.random.default_rng(5).standard_normal((4, 2))
    ours = nn.Embedding.from_pretrained(fibril.tensor(weights), False, None, None, 2.0, True)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(weights), False, None, None, 2.0, True)
    indices = np.array([[0, 3, 3], [3, 1, 0]])
    out, ref = ours(fibril.tensor(indices)), theirs(torch.tensor(indices))
    _backward(out, ref)
    _close(ours.weight.grad, theirs.weight.grad)
    assert repr(ours) == repr(theirs)


def test_embedding_bag_from_pretrained_takes_torch_positional_order():
    weights = np.random.default_rng(6).standard_normal((4, 2))
    ours = nn.EmbeddingBag.from_pretrained(fibril.tensor(weights), True, None, 2.0, False, "sum")
    theirs = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(weights), True, None, 2.0, False, "sum")
    indices = np.array([[0, 3], [2, 2]])
    _close(ours(fibril.tensor(indices)), theirs(torch.tensor(indices)))
    with pytest.raises(NotImplementedError, match="scale_grad_by_freq"):
        nn.EmbeddingBag(4, 2, scale_grad_by_freq=True)


# ------------------------------------------------------------------------------ activations
@pytest.mark.parametrize("name, args", [
    ("ReLU", (True,)), ("ReLU6", (True,)), ("SELU", (True,)), ("SiLU", (True,)), ("Mish", (True,)),
    ("Hardsigmoid", (True,)), ("Hardswish", (True,)), ("LeakyReLU", (0.2, True)), ("ELU", (0.5, True)),
    ("CELU", (2.0, True)), ("Hardtanh", (-2.0, 2.0, True)), ("Threshold", (0.1, 20.0, True)),
    ("RReLU", (0.1, 0.3, True)), ("Softplus", (2.0, 10.0)), ("GELU", ("tanh",)),
])
def test_activation_positional_arguments(name, args):
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    ours.eval(), theirs.eval()
    x = np.random.default_rng(7).standard_normal((3, 4))
    xf, xt = fibril.tensor(x), torch.tensor(x)
    out, ref = ours(xf), theirs(xt)
    _close(out, ref)
    if getattr(theirs, "inplace", False):
        _close(xf, xt)


@pytest.mark.parametrize("name", ["Sigmoid", "Tanh", "GELU", "Softplus", "Softsign", "LogSigmoid", "Tanhshrink"])
def test_activation_without_inplace_refuses_it(name):
    with pytest.raises(TypeError):
        getattr(torch.nn, name)(inplace=True)
    with pytest.raises(TypeError, match="inplace"):
        getattr(nn, name)(inplace=True)


def test_activation_argument_given_twice():
    with pytest.raises(TypeError, match="multiple values"):
        nn.LeakyReLU(0.1, negative_slope=0.2)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("shape", [(), (4,), (2, 3), (2, 3, 4), (2, 3, 4, 2)])
def test_softmax_without_dim(fn, shape):
    x = np.random.default_rng(8).standard_normal(shape)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        out = getattr(F, fn)(fibril.tensor(x))
    ref = _silently(getattr(TF, fn), torch.tensor(x))
    _close(out, ref)
    _close(getattr(F, fn)(fibril.tensor(x), 0, 3, fibril.float32), getattr(TF, fn)(torch.tensor(x), 0, 3, torch.float32),
           atol=1e-6)


# ------------------------------------------------------------------------------ losses
LEGACY = [(None, False), (False, None), (False, True), (True, False), (True, None), (None, True)]


@pytest.mark.parametrize("size_average, reduce", LEGACY)
@pytest.mark.parametrize("fn", ["mse_loss", "l1_loss", "smooth_l1_loss", "soft_margin_loss", "kl_div",
                                "binary_cross_entropy_with_logits", "poisson_nll_loss", "cross_entropy", "nll_loss"])
def test_loss_functions_deprecated_size_average_and_reduce(fn, size_average, reduce):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 4))
    target = rng.integers(0, 4, size=3) if fn in ("cross_entropy", "nll_loss") else rng.uniform(size=(3, 4))
    (xf,), (xt,) = _leaves(x)
    with pytest.warns(UserWarning, match="size_average and reduce"):
        out = getattr(F, fn)(xf, fibril.tensor(target), size_average=size_average, reduce=reduce)
    ref = _silently(getattr(TF, fn), xt, torch.tensor(target), size_average=size_average, reduce=reduce)
    _close(out, ref)
    _backward(out, ref)
    _close(xf.grad, xt.grad)


@pytest.mark.parametrize("size_average, reduce", LEGACY)
@pytest.mark.parametrize("name", ["MSELoss", "L1Loss", "BCELoss", "CrossEntropyLoss", "NLLLoss", "KLDivLoss",
                                  "SmoothL1Loss", "MarginRankingLoss", "MultiMarginLoss", "TripletMarginLoss",
                                  "CosineEmbeddingLoss", "PoissonNLLLoss", "MultiLabelSoftMarginLoss"])
def test_loss_modules_deprecated_size_average_and_reduce(name, size_average, reduce):
    ours = _silently(getattr(nn, name), size_average=size_average, reduce=reduce)
    theirs = _silently(getattr(torch.nn, name), size_average=size_average, reduce=reduce)
    assert ours.reduction == theirs.reduction


def test_loss_modules_take_torch_positional_order():
    x, target = np.random.default_rng(10).standard_normal((3, 4)), np.array([1, 0, 3])
    weight = np.array([1.0, 2.0, 0.5, 1.5])
    ours = nn.CrossEntropyLoss(fibril.tensor(weight), None, 3, None, "sum", 0.1)
    theirs = torch.nn.CrossEntropyLoss(torch.tensor(weight), None, 3, None, "sum", 0.1)
    _close(ours(fibril.tensor(x), fibril.tensor(target)), theirs(torch.tensor(x), torch.tensor(target)))
    assert nn.PoissonNLLLoss(True, False, None, 1e-8, None, "sum").reduction == "sum"


@pytest.mark.parametrize("fn", ["mse_loss", "l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape", [(), (5,), (2, 3)])
def test_elementwise_loss_weight(fn, reduction, shape):
    rng = np.random.default_rng(11)
    (xf, tf, wf), (xt, tt, wt) = _leaves(rng.standard_normal(shape), rng.standard_normal(shape) * 2,
                                         rng.uniform(size=shape))
    out = getattr(F, fn)(xf, tf, reduction=reduction, weight=wf)
    ref = getattr(TF, fn)(xt, tt, reduction=reduction, weight=wt)
    _close(out, ref)
    _backward(out, ref)
    for ours, theirs in ((xf, xt), (tf, tt), (wf, wt)):
        _close(ours.grad, theirs.grad)
    with pytest.raises(ValueError, match="same size"):
        getattr(F, fn)(xf, tf, weight=fibril.ones(7))


def test_triplet_margin_with_distance_loss_checks_margin_at_construction():
    with pytest.raises(ValueError, match="margin"):
        torch.nn.TripletMarginWithDistanceLoss(margin=0.0)
    with pytest.raises(ValueError, match="margin"):
        nn.TripletMarginWithDistanceLoss(margin=0.0)


# ------------------------------------------------------------------------------ repr and arguments
@pytest.mark.parametrize("build", [
    lambda m: m.MultiheadAttention(4, 2),
    lambda m: m.MultiheadAttention(4, 2, kdim=3, vdim=5, batch_first=True, bias=False),
    lambda m: m.TransformerEncoderLayer(4, 2, 8),
    lambda m: m.TransformerDecoderLayer(4, 2, 8, norm_first=True),
    lambda m: m.Transformer(4, 2, 1, 1, 8),
    lambda m: m.EmbeddingBag(5, 3, mode="max", include_last_offset=True, padding_idx=0),
    lambda m: m.Unflatten(1, [2, 3]),
    lambda m: m.Unflatten(-1, (2, -1)),
    lambda m: m.Hardswish(inplace=True),
    lambda m: m.Hardsigmoid(inplace=True),
    lambda m: m.Embedding(5, 3, scale_grad_by_freq=True),
])
def test_repr_matches_torch(build):
    assert repr(build(nn)) == repr(_silently(build, torch.nn))


def test_unflatten_given_a_list():
    x = np.arange(12.0).reshape(2, 6)
    np.testing.assert_array_equal(nn.Unflatten(1, [2, 3])(fibril.tensor(x)).numpy(), x.reshape(2, 2, 3))
    for bad in (3, (2, 1.5)):
        with pytest.raises(TypeError, match="unflattened_size"):
            nn.Unflatten(1, bad)
