"""Extra nn API: shrink/gate activations, distances, interpolate, pixel shuffle, padding
modules, channel and alpha dropout, broadcast helpers: forward and gradients vs torch."""

import numpy as np
import pytest

import fibril
import fibril.nn as nn
import fibril.nn.functional as F
from op_check import check_op, make_inputs, torch

TF = torch.nn.functional if torch is not None else None
needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")


@needs_torch
@pytest.mark.parametrize("name, kwargs", [
    ("logsigmoid", {}), ("tanhshrink", {}), ("hardshrink", {}), ("hardshrink", {"lambd": 1.2}),
    ("softshrink", {}), ("softshrink", {"lambd": 0.7}), ("threshold", {"threshold": 0.3, "value": -2.0}),
    ("glu", {"dim": 1}), ("glu", {}), ("softmin", {"dim": 0}), ("softmin", {"dim": -1}),
    ("rrelu", {"lower": 0.1, "upper": 0.4}),
])
def test_activation_matches_torch(name, kwargs):
    # values near the shrink thresholds are kept away: the kinks are not differentiable there
    arrays = make_inputs([(3, 4, 6)], seed=1, transform=lambda a: np.where(np.abs(np.abs(a) - 0.5) < 0.05, 0.9, a))
    check_op(lambda x: getattr(F, name)(x, **kwargs), lambda x: getattr(TF, name)(x, **kwargs), arrays)


@needs_torch
def test_softmin_implicit_dim_and_float32():
    a = make_inputs([(2, 5)])[0].astype(np.float32)
    got = F.softmin(fibril.tensor(a)).numpy()
    np.testing.assert_allclose(got, torch.softmax(-torch.tensor(a), 1).numpy(), rtol=1e-6)


def test_activation_errors():
    with pytest.raises(ValueError, match=r"\[2, 3\]"):
        F.glu(fibril.ones(2, 3))
    with pytest.raises(ValueError, match="lambd"):
        F.softshrink(fibril.ones(2), -1.0)
    with pytest.raises(TypeError):
        nn.Threshold(0.5)


def test_rrelu_training_slopes_within_bounds():
    x = -fibril.ones(1000)
    slopes = -F.rrelu(x, 0.2, 0.3, training=True).numpy()
    assert slopes.min() >= 0.2 and slopes.max() <= 0.3 and slopes.std() > 0.01
    assert np.all(F.rrelu(fibril.ones(5), training=True).numpy() == 1)


@needs_torch
@pytest.mark.parametrize("p, dim", [(2.0, 1), (1.0, -1), (3.0, 0), (float("inf"), 1)])
def test_normalize(p, dim):
    check_op(lambda x: F.normalize(x, p, dim), lambda x: TF.normalize(x, p, dim), make_inputs([(3, 4, 5)]))


@needs_torch
def test_normalize_clamps_zero_vector():
    a = np.zeros((2, 3))
    a[1] = [1.0, 2.0, 2.0]
    check_op(lambda x: F.normalize(x, eps=1e-3), lambda x: TF.normalize(x, eps=1e-3), [a], gradcheck=False)


@needs_torch
@pytest.mark.parametrize("shapes, dim", [([(4, 5), (4, 5)], 1), ([(3, 1, 6), (1, 2, 6)], -1), ([(5,), (5,)], 0)])
def test_cosine_similarity(shapes, dim):
    check_op(lambda a, b: F.cosine_similarity(a, b, dim), lambda a, b: TF.cosine_similarity(a, b, dim),
             make_inputs(shapes))


@needs_torch
def test_cosine_similarity_small_norms_match_torch():
    a, b = make_inputs([(3, 4), (3, 4)], seed=2)
    a[0] *= 1e-5
    check_op(lambda x, y: F.cosine_similarity(x, y, eps=1e-3), lambda x, y: TF.cosine_similarity(x, y, eps=1e-3),
             [a, b], gradcheck=False)


@needs_torch
@pytest.mark.parametrize("p, keepdim", [(2.0, False), (1.0, True), (3.0, False), (float("inf"), False)])
@pytest.mark.parametrize("shapes", [[(4, 5), (4, 5)], [(3, 5), (5,)], [(6,), (6,)]])
def test_pairwise_distance(shapes, p, keepdim):
    check_op(lambda a, b: F.pairwise_distance(a, b, p, keepdim=keepdim),
             lambda a, b: TF.pairwise_distance(a, b, p, keepdim=keepdim), make_inputs(shapes))


@needs_torch
def test_distance_modules():
    a, b = make_inputs([(3, 4), (3, 4)])
    fa, fb, ta, tb = fibril.tensor(a), fibril.tensor(b), torch.tensor(a), torch.tensor(b)
    np.testing.assert_allclose(nn.CosineSimilarity(dim=0)(fa, fb).numpy(), torch.nn.CosineSimilarity(0)(ta, tb))
    np.testing.assert_allclose(nn.PairwiseDistance(1.0, keepdim=True)(fa, fb).numpy(),
                               torch.nn.PairwiseDistance(1.0, keepdim=True)(ta, tb))


# ------------------------------------------------------------------------------ interpolate
INTERPOLATIONS = [
    ((2, 3, 5), dict(size=9, mode="nearest")),
    ((2, 3, 7), dict(size=3, mode="nearest")),
    ((1, 2, 5), dict(scale_factor=2.5, mode="nearest")),
    ((1, 2, 5), dict(scale_factor=1.7, mode="nearest-exact")),
    ((2, 3, 4, 5), dict(size=(7, 3), mode="nearest")),
    ((2, 3, 4, 5), dict(scale_factor=(2, 0.6), mode="nearest")),
    ((2, 3, 5), dict(size=8, mode="linear")),
    ((2, 3, 5), dict(size=8, mode="linear", align_corners=True)),
    ((2, 3, 6), dict(size=4, mode="linear")),
    ((2, 3, 5), dict(scale_factor=1.5, mode="linear")),
    ((1, 2, 4, 5), dict(size=(7, 3), mode="bilinear")),
    ((1, 2, 4, 5), dict(size=(7, 1), mode="bilinear", align_corners=True)),
    ((1, 2, 3, 4), dict(scale_factor=(2.0, 1.5), mode="bilinear")),
    ((1, 2, 3, 4), dict(scale_factor=2.3, mode="bilinear", recompute_scale_factor=True)),
    ((1, 1, 2, 3, 4), dict(size=(3, 4, 5), mode="trilinear")),
]


@needs_torch
@pytest.mark.parametrize("shape, kwargs", INTERPOLATIONS)
def test_interpolate_matches_torch(shape, kwargs):
    check_op(lambda x: F.interpolate(x, **kwargs), lambda x: TF.interpolate(x, **kwargs), make_inputs([shape]),
             layout=lambda t: t.transpose(-1, -2).contiguous().transpose(-1, -2))


@needs_torch
@pytest.mark.parametrize("shape, kwargs", [INTERPOLATIONS[1], INTERPOLATIONS[5], INTERPOLATIONS[11]])
def test_interpolate_float32(shape, kwargs):
    a = make_inputs([shape])[0].astype(np.float32)
    got = F.interpolate(fibril.tensor(a), **kwargs)
    assert got.dtype == fibril.float32
    np.testing.assert_allclose(got.numpy(), TF.interpolate(torch.tensor(a), **kwargs).numpy(), rtol=1e-5, atol=1e-6)


@needs_torch
def test_upsample_modules_and_aliases():
    a = make_inputs([(1, 2, 3, 4)])[0]
    x, t = fibril.tensor(a), torch.tensor(a)
    pairs = [
        (nn.Upsample(scale_factor=2, mode="bilinear"), torch.nn.Upsample(scale_factor=2, mode="bilinear")),
        (nn.UpsamplingNearest2d(size=(5, 7)), torch.nn.UpsamplingNearest2d(size=(5, 7))),
        (nn.UpsamplingBilinear2d(scale_factor=3), torch.nn.UpsamplingBilinear2d(scale_factor=3)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours(x).numpy(), theirs(t).numpy(), atol=1e-12)
        assert repr(ours) == repr(theirs)
    np.testing.assert_allclose(F.upsample_bilinear(x, size=(4, 6)).numpy(),
                               TF.interpolate(t, size=(4, 6), mode="bilinear", align_corners=True).numpy(), atol=1e-12)
    np.testing.assert_allclose(F.upsample_nearest(x, scale_factor=2).numpy(),
                               TF.interpolate(t, scale_factor=2).numpy())


def test_interpolate_errors():
    x = fibril.ones(1, 2, 3, 4)
    with pytest.raises(ValueError, match="exactly one"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="exactly one"):
        F.interpolate(x, size=2, scale_factor=2)
    with pytest.raises(ValueError, match="align_corners"):
        F.interpolate(x, size=2, align_corners=True)
    with pytest.raises(NotImplementedError, match="4D"):
        F.interpolate(x, size=2, mode="linear")
    with pytest.raises(ValueError, match="mode"):
        F.interpolate(x, size=2, mode="cubic")
    with pytest.raises(ValueError, match=r"\(1, 2, 3\)"):
        F.interpolate(x, size=(1, 2, 3))
    with pytest.raises(ValueError, match=r"\[1, 2, 3, 4\]"):
        F.interpolate(x, scale_factor=0.1)


# ------------------------------------------------------------------------------ pixel shuffle
@needs_torch
@pytest.mark.parametrize("shape, r", [((2, 8, 3, 5), 2), ((9, 2, 1), 3), ((2, 1, 4, 3, 2), 1)])
def test_pixel_shuffle_roundtrip(shape, r):
    check_op(lambda x: F.pixel_shuffle(x, r), lambda x: TF.pixel_shuffle(x, r), make_inputs([shape]))
    out_shape = TF.pixel_shuffle(torch.zeros(shape), r).shape
    check_op(lambda x: F.pixel_unshuffle(x, r), lambda x: TF.pixel_unshuffle(x, r), make_inputs([out_shape]))
    assert repr(nn.PixelShuffle(r)) == repr(torch.nn.PixelShuffle(r))
    assert repr(nn.PixelUnshuffle(r)) == repr(torch.nn.PixelUnshuffle(r))


def test_pixel_shuffle_errors():
    with pytest.raises(ValueError, match=r"\[1, 6, 2, 2\]"):
        F.pixel_shuffle(fibril.ones(1, 6, 2, 2), 2)
    with pytest.raises(ValueError, match=r"\[1, 1, 3, 4\]"):
        F.pixel_unshuffle(fibril.ones(1, 1, 3, 4), 2)
    with pytest.raises(ValueError, match="positive integer"):
        F.pixel_shuffle(fibril.ones(1, 4, 2, 2), 0)


# ------------------------------------------------------------------------------ padding modules
PADS = [
    ("ZeroPad1d", (2,), (2, 3, 5)), ("ZeroPad2d", ((1, 0, 2, 3),), (2, 3, 4, 5)),
    ("ConstantPad1d", ((1, 2), 3.5), (3, 4)), ("ConstantPad2d", (1, -1.0), (1, 3, 4)),
    ("ReflectionPad1d", ((2, 3),), (2, 3, 5)), ("ReflectionPad2d", (2,), (1, 2, 3, 4)),
    ("ReplicationPad1d", (3,), (3, 4)), ("ReplicationPad2d", ((1, 2, 0, 3),), (2, 1, 3, 4)),
    ("CircularPad1d", ((1, 2),), (2, 3, 5)), ("CircularPad2d", (1,), (2, 3, 4)),
]


@needs_torch
@pytest.mark.parametrize("name, args, shape", PADS)
def test_padding_modules_match_torch(name, args, shape):
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs) and ours.padding == theirs.padding
    assert list(ours.parameters()) == []
    check_op(ours, theirs, make_inputs([shape]))


def test_padding_module_errors():
    with pytest.raises(ValueError, match="4 ints"):
        nn.ReflectionPad2d((1, 2))
    with pytest.raises(ValueError, match=r"\[1, 2, 3, 4\]"):
        nn.ReflectionPad1d(1)(fibril.ones(1, 2, 3, 4))


@needs_torch
@pytest.mark.parametrize("name, args", [
    ("LogSigmoid", ()), ("Tanhshrink", ()), ("Hardshrink", (0.3,)), ("Softshrink", ()), ("Threshold", (0.1, 20)),
    ("GLU", (0,)), ("Softmin", (1,)), ("RReLU", (0.1, 0.2)),
])
def test_activation_modules(name, args):
    ours, theirs = getattr(nn, name)(*args).eval(), getattr(torch.nn, name)(*args).eval()
    assert repr(ours) == repr(theirs)
    a = make_inputs([(4, 6)], seed=3)[0]
    np.testing.assert_allclose(ours(fibril.tensor(a)).numpy(), theirs(torch.tensor(a)).numpy(), atol=1e-12)


def test_threshold_inplace():
    x = fibril.tensor([-1.0, 0.5, 2.0])
    y = nn.Threshold(1.0, 9.0, inplace=True)(x)
    assert x.tolist() == [9.0, 9.0, 2.0] and y.tolist() == x.tolist()


# ------------------------------------------------------------------------------ dropout
@pytest.mark.filterwarnings("ignore:.*Received a 3D input to dropout2d")
@pytest.mark.parametrize("fn, shape, spatial", [
    (F.dropout1d, (4, 6, 50), 1), (F.dropout1d, (6, 50), 1), (F.dropout2d, (4, 6, 5, 7), 2),
    (F.dropout2d, (6, 5, 7), 1),  # 3-D: (N, C, L), as torch 2.13
])
def test_channel_dropout_zeroes_whole_channels(fn, shape, spatial):
    fibril.manual_seed(0)
    out = fn(fibril.ones(*shape), 0.5).numpy()
    assert set(np.unique(out).tolist()) == {0.0, 2.0}
    per_channel = out.reshape(shape[:-spatial] + (-1,))
    assert np.all(per_channel.min(axis=-1) == per_channel.max(axis=-1))
    x = fibril.ones(*shape)
    assert fn(x, 0.5, training=False) is x
    assert np.all(fn(x, 1.0).numpy() == 0)


def test_channel_dropout_errors():
    with pytest.raises(RuntimeError, match=r"\[2, 3, 4, 5\]"):
        F.dropout1d(fibril.ones(2, 3, 4, 5))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout2d(fibril.ones(2, 3, 4), 1.5)


def test_alpha_dropout_keeps_mean_and_variance():
    fibril.manual_seed(0)
    x = fibril.randn(200000, dtype=fibril.float64)
    out = F.alpha_dropout(x, 0.3, training=True).numpy()
    assert abs(out.mean()) < 0.01 and abs(out.std() - 1) < 0.01
    assert F.alpha_dropout(x, 0.3) is x
    assert np.all(F.alpha_dropout(x, 1.0, training=True).numpy() == 0)


# ------------------------------------------------------------------------------ broadcasting, one_hot
@needs_torch
def test_broadcast_to_and_tensors():
    check_op(lambda x: fibril.broadcast_to(x, (2, -1, 4)), lambda x: torch.broadcast_to(x, (2, -1, 4)),
             make_inputs([(3, 1)]))
    check_op(lambda a, b: fibril.stack(fibril.broadcast_tensors(a, b)),
             lambda a, b: torch.stack(torch.broadcast_tensors(a, b)), make_inputs([(3, 1), (1, 4)]))
    with pytest.raises(ValueError, match=r"\[3\], \[4\]"):
        fibril.broadcast_tensors(fibril.ones(3), fibril.ones(4))
    with pytest.raises(ValueError):
        fibril.broadcast_to(fibril.ones(3), (4,))


def test_numel_is_tensor_one_hot():
    assert fibril.numel(fibril.ones(2, 3, 0)) == 0 and fibril.numel(fibril.ones(2, 3)) == 6
    assert fibril.is_tensor(nn.Parameter(fibril.ones(1))) and not fibril.is_tensor(np.ones(1))
    got = F.one_hot(fibril.tensor([2, 0]))
    assert got.dtype == fibril.int64 and got.tolist() == [[0, 0, 1], [1, 0, 0]]
    assert F.one_hot(fibril.tensor([1]), 4).tolist() == [[0, 1, 0, 0]]


def test_interpolate_skips_the_scale_where_the_size_is_kept_or_doubled():
    # floor(n * s) == n: linear modes copy that dim; 2-D nearest copies it, or reads i >> 1 at 2n
    a = np.arange(6.0).reshape(1, 1, 6)
    np.testing.assert_array_equal(F.interpolate(fibril.tensor(a), scale_factor=1.1, mode="linear").numpy(), a)
    b = np.arange(4.0).reshape(1, 1, 2, 2)
    for mode in ["nearest", "bilinear"]:
        x = fibril.tensor(b)
        out = F.interpolate(x, scale_factor=1.3, mode=mode)
        assert out is not x
        np.testing.assert_array_equal(out.numpy(), b)
    c = F.interpolate(fibril.tensor(np.arange(3.0).reshape(1, 1, 1, 3)), scale_factor=(1, 2.1))
    np.testing.assert_array_equal(c.numpy().ravel(), [0, 0, 1, 1, 2, 2])


@needs_torch
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "linear", "bilinear", "trilinear"])
@pytest.mark.parametrize("scale", [1.1, 1.3, 1.9, 2.0, 2.1, 0.5, 0.7])
def test_interpolate_scale_factors_match_torch(mode, scale):
    spatial = {"linear": 1, "bilinear": 2, "trilinear": 3}.get(mode)
    for nd in [spatial] if spatial else [1, 2, 3]:
        for n in [2, 3, 5, 6, 9]:
            a = np.random.default_rng(n).standard_normal((1, 2) + tuple(n + k for k in range(nd)))
            for align_corners in [None] if spatial is None else [False, True]:
                for recompute in [None, True]:
                    kw = dict(scale_factor=scale, mode=mode, align_corners=align_corners,
                              recompute_scale_factor=recompute)
                    np.testing.assert_allclose(F.interpolate(fibril.tensor(a), **kw).numpy(),
                                               TF.interpolate(torch.tensor(a), **kw).numpy(), rtol=1e-7, atol=1e-12)
