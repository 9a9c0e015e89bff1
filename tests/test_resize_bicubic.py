"""F.interpolate(mode='bicubic') and nn.Upsample(mode='bicubic') against torch in float64:
values and gradients for up- and downsampling, non-square sizes, align_corners, scale_factor
with and without recompute_scale_factor, float32, and the errors."""

import numpy as np
import pytest

import fibril
import fibril.nn as nn
import fibril.nn.functional as F
from op_check import check_op, make_inputs, torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")
TF = torch.nn.functional

BICUBIC = [
    ((2, 3, 4, 5), dict(size=(9, 7))),  # upsampling
    ((1, 2, 9, 8), dict(size=(4, 3))),  # downsampling: taps past the borders repeat the edge
    ((2, 1, 5, 6), dict(size=(3, 11))),  # one dim down, the other up
    ((1, 2, 1, 4), dict(size=(3, 1))),  # single rows and columns
    ((1, 1, 6, 6), dict(size=(6, 6))),  # same size: a copy
    ((2, 2, 4, 5), dict(scale_factor=2.5)),
    ((1, 3, 7, 6), dict(scale_factor=(0.6, 1.7))),
    ((1, 2, 3, 4), dict(scale_factor=2.3, recompute_scale_factor=True)),
    ((1, 2, 9, 7), dict(scale_factor=(0.45, 0.7), recompute_scale_factor=True)),
]


@pytest.mark.parametrize("align_corners", [None, False, True])
@pytest.mark.parametrize("shape, kwargs", BICUBIC)
def test_bicubic_matches_torch(shape, kwargs, align_corners):
    kwargs = dict(kwargs, mode="bicubic", align_corners=align_corners)
    check_op(lambda x: F.interpolate(x, **kwargs), lambda x: TF.interpolate(x, **kwargs), make_inputs([shape], seed=3),
             atol=1e-12, rtol=1e-12, layout=lambda t: t.transpose(-1, -2).contiguous().transpose(-1, -2))


@pytest.mark.parametrize("align_corners", [None, False])
def test_bicubic_kept_size_with_another_scale(align_corners):
    """Sizes kept but a scale of 1.05: torch's forward resamples; its backward copies the gradient
    (a same-size shortcut, so torch's own gradcheck fails here). fibril's gradient is the forward's."""
    kwargs = dict(scale_factor=1.05, mode="bicubic", align_corners=align_corners)
    a = make_inputs([(1, 2, 5, 7)], seed=6)[0]
    out = check_op(lambda x: F.interpolate(x, **kwargs), lambda x: TF.interpolate(x, **kwargs), [a], atol=1e-12,
                   rtol=1e-12, grad=False)
    assert not np.allclose(out.numpy(), a)
    assert fibril.testing.gradcheck(lambda x: F.interpolate(x, **kwargs), [fibril.tensor(a, requires_grad=True)])


@pytest.mark.parametrize("seed", range(6))
def test_bicubic_random_sizes_match_torch(seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), *(int(n) for n in rng.integers(1, 10, 2)))
    kwargs = dict(size=tuple(int(n) for n in rng.integers(1, 14, 2)), mode="bicubic",
                  align_corners=bool(seed % 2))
    check_op(lambda x: F.interpolate(x, **kwargs), lambda x: TF.interpolate(x, **kwargs), make_inputs([shape], seed),
             atol=1e-12, rtol=1e-12, gradcheck=False)


@pytest.mark.parametrize("align_corners", [False, True])
def test_bicubic_float32(align_corners):
    a = make_inputs([(2, 3, 5, 7)], seed=4)[0].astype(np.float32)
    for kwargs in (dict(size=(12, 4)), dict(scale_factor=1.7)):
        kwargs = dict(kwargs, mode="bicubic", align_corners=align_corners)
        got = F.interpolate(fibril.tensor(a), **kwargs)
        assert got.dtype == fibril.float32
        np.testing.assert_allclose(got.numpy(), TF.interpolate(torch.tensor(a), **kwargs).numpy(), rtol=1e-5,
                                   atol=1e-5)


def test_upsample_module_bicubic():
    a = make_inputs([(1, 2, 3, 4)], seed=5)[0]
    pairs = [
        (nn.Upsample(scale_factor=2, mode="bicubic"), torch.nn.Upsample(scale_factor=2, mode="bicubic")),
        (nn.Upsample(size=(5, 2), mode="bicubic", align_corners=True),
         torch.nn.Upsample(size=(5, 2), mode="bicubic", align_corners=True)),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        np.testing.assert_allclose(ours(fibril.tensor(a)).numpy(), theirs(torch.tensor(a)).numpy(), atol=1e-12)


def test_bicubic_errors():
    x = fibril.ones(1, 2, 3, 4)
    with pytest.raises(NotImplementedError, match="4D"):
        F.interpolate(fibril.ones(1, 2, 3), size=5, mode="bicubic")
    with pytest.raises(NotImplementedError, match="4D"):
        F.interpolate(fibril.ones(1, 1, 2, 3, 4), size=5, mode="bicubic")
    with pytest.raises(NotImplementedError, match="antialias"):
        F.interpolate(x, size=2, mode="bicubic", antialias=True)
    with pytest.raises(NotImplementedError, match="floating-point"):
        F.interpolate(fibril.ones(1, 2, 3, 4, dtype=fibril.int64), size=2, mode="bicubic")
    with pytest.raises(ValueError, match="bicubic"):  # the message lists bicubic among the modes
        F.interpolate(x, size=2, mode="nearest", align_corners=True)


@pytest.mark.parametrize("shape,kwargs", [((2, 3, 7, 9), {"size": (3, 4)}), ((2, 3, 7, 9), {"scale_factor": 0.5}),
                                          ((1, 2, 5, 6), {"size": (8, 11)}), ((2, 3, 10), {"size": 4})])
def test_area_mode_matches_torch(shape, kwargs):
    x = np.random.default_rng(3).standard_normal(shape)
    ours = fibril.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    out, ref = F.interpolate(ours, mode="area", **kwargs), torch.nn.functional.interpolate(theirs, mode="area", **kwargs)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    weights = np.random.default_rng(4).standard_normal(ref.shape)
    (out * fibril.tensor(weights)).sum().backward()
    (ref * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_area_mode_on_volumes_and_six_dims_refused():
    x = np.random.default_rng(6).standard_normal((1, 2, 5, 6, 7))
    np.testing.assert_allclose(F.interpolate(fibril.tensor(x), size=(2, 3, 4), mode="area").numpy(),
                               torch.nn.functional.interpolate(torch.tensor(x), size=(2, 3, 4), mode="area").numpy(),
                               rtol=1e-12, atol=1e-12)
    with pytest.raises(NotImplementedError, match="5-D"):
        F.interpolate(fibril.ones(1, 1, 2, 2, 2, 2), size=1, mode="area")
