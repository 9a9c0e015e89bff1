"""F.unfold (im2col) and F.fold (col2im), python/fibril/ops/im2col.py: values and gradients
against PyTorch (and gradcheck), batched and unbatched, every geometry argument; bad shapes."""

import numpy as np
import pytest

import fibril
import fibril.nn.functional as F
from op_check import check_op, make_inputs, torch

GEOMETRIES = [  # input shape, kernel_size, dilation, padding, stride
    ((2, 3, 7, 6), 3, 1, 0, 1),
    ((1, 2, 9, 8), (2, 3), (2, 1), (1, 2), (2, 3)),
    ((3, 5, 5), 2, 1, 1, 2),
    ((1, 1, 4, 4), 1, 1, 0, 1),
    ((2, 2, 6, 7), (3, 2), 1, 1, (1, 2)),
]


def _torch_f():
    return torch.nn.functional if torch is not None else None


@pytest.mark.parametrize("shape, kernel, dilation, padding, stride", GEOMETRIES)
def test_unfold_matches_torch(shape, kernel, dilation, padding, stride):
    (x,) = make_inputs([shape], seed=1)
    tf = _torch_f()
    check_op(lambda t: F.unfold(t, kernel, dilation, padding, stride),
             lambda t: tf.unfold(t, kernel, dilation, padding, stride), [x])


@pytest.mark.parametrize("shape, kernel, dilation, padding, stride", GEOMETRIES)
def test_fold_matches_torch_and_is_unfolds_adjoint(shape, kernel, dilation, padding, stride):
    """fold(unfold(x)) counts each pixel once per block holding it; fold's values and
    gradients match torch's."""
    size = shape[-2:]
    cols = F.unfold(fibril.tensor(make_inputs([shape], seed=2)[0]), kernel, dilation, padding, stride)
    (c,) = make_inputs([tuple(cols.shape)], seed=3)
    tf = _torch_f()
    check_op(lambda t: F.fold(t, size, kernel, dilation, padding, stride),
             lambda t: tf.fold(t, size, kernel, dilation, padding, stride), [c])
    # <unfold(x), c> == <x, fold(c)>: the adjoint identity, without torch
    (x,) = make_inputs([shape], seed=4)
    lhs = float((F.unfold(fibril.tensor(x), kernel, dilation, padding, stride) * fibril.tensor(c)).sum())
    rhs = float((fibril.tensor(x) * F.fold(fibril.tensor(c), size, kernel, dilation, padding, stride)).sum())
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_unfold_fold_modules():
    x = fibril.tensor(make_inputs([(2, 3, 6, 6)])[0])
    cols = fibril.nn.Unfold(kernel_size=2, stride=2)(x)
    assert cols.shape == (2, 12, 9)
    np.testing.assert_allclose(fibril.nn.Fold(output_size=(6, 6), kernel_size=2, stride=2)(cols).numpy(), x.numpy())
    assert repr(fibril.nn.Unfold(3, padding=1)) == "Unfold(kernel_size=3, dilation=1, padding=1, stride=1)"
    assert repr(fibril.nn.Fold((4, 5), 2)) == "Fold(output_size=(4, 5), kernel_size=2, dilation=1, padding=0, stride=1)"


def test_bad_shapes_raise_naming_them():
    x = fibril.zeros(1, 2, 3, 3)
    with pytest.raises(ValueError, match=r"\(1, 2, 3, 3\)"):
        F.unfold(x, 4)
    with pytest.raises(ValueError, match="3-D or 4-D"):
        F.unfold(fibril.zeros(3, 3), 2)
    with pytest.raises(ValueError, match="multiple of the kernel"):
        F.fold(fibril.zeros(1, 5, 4), (3, 3), 2)
    with pytest.raises(ValueError, match="blocks"):
        F.fold(fibril.zeros(1, 8, 5), (3, 3), 2)
    with pytest.raises(ValueError, match="positive"):
        F.unfold(x, 2, stride=0)
