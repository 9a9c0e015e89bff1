"""F.affine_grid and F.grid_sample (python/fibril/ops/sampling.py) against PyTorch: values and
the gradients w.r.t. the input, the grid and theta, every mode, padding mode and align_corners,
with points inside, on and past the border; gradcheck; bad arguments."""

import numpy as np
import pytest

import fibril
import fibril.nn.functional as F
from op_check import check_op, torch


def _tf():
    return torch.nn.functional if torch is not None else None


@pytest.mark.filterwarnings("ignore:Since version 1.3.0, affine_grid")
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (1, 1, 1, 3)])
def test_affine_grid(size, align_corners):
    theta = np.random.default_rng(0).standard_normal((size[0], 2, 3))
    check_op(lambda t: F.affine_grid(t, size, align_corners=align_corners),
             lambda t: _tf().affine_grid(t, list(size), align_corners=align_corners), [theta], atol=1e-10)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample(mode, padding_mode, align_corners):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 5, 6))
    grid = rng.uniform(-1.5, 1.5, (2, 4, 3, 2))  # a third of the points past the border
    sample = lambda a, g: F.grid_sample(a, g, mode, padding_mode, align_corners)  # noqa: E731
    reference = lambda a, g: _tf().grid_sample(a, g, mode, padding_mode, align_corners)  # noqa: E731
    # gradcheck away from the kinks (pixel centres, borders) where finite differences straddle two pieces
    check_op(sample, reference, [x, grid], atol=1e-10, gradcheck=mode == "bilinear")
    grid[0, 0, 0] = (1.0, -1.0)  # exactly on corners
    grid[1, 0, 0] = (0.0, 0.0)
    check_op(sample, reference, [x, grid], atol=1e-10, gradcheck=False)


def test_affine_grid_then_grid_sample_identity_is_the_input():
    x = fibril.tensor(np.random.default_rng(2).standard_normal((1, 2, 4, 5)))
    theta = fibril.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], dtype=fibril.float64)
    for align in (False, True):
        out = F.grid_sample(x, F.affine_grid(theta, (1, 2, 4, 5), align_corners=align), align_corners=align)
        np.testing.assert_allclose(out.numpy(), x.numpy(), atol=1e-12)


def test_bad_arguments_raise():
    x, grid = fibril.zeros(1, 1, 3, 3), fibril.zeros(1, 2, 2, 2)
    with pytest.raises(ValueError, match="mode"):
        F.grid_sample(x, grid, mode="bicubic")
    with pytest.raises(ValueError, match="padding_mode"):
        F.grid_sample(x, grid, padding_mode="wrap")
    with pytest.raises(ValueError, match=r"\(1, 2, 2\)"):
        F.grid_sample(x, fibril.zeros(1, 2, 2))
    with pytest.raises(ValueError, match=r"\(N, 2, 3\)"):
        F.affine_grid(fibril.zeros(1, 3, 3), (1, 1, 2, 2))
    with pytest.raises(ValueError, match="N = 1"):
        F.affine_grid(fibril.zeros(1, 2, 3), (2, 1, 2, 2))
