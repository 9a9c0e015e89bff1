"""cat, stack, split, chunk, unbind, repeat, tile, roll and constant pad, with gradients."""

import numpy as np
import pytest

import fibril
from op_check import check_op, make_inputs, torch


def test_cat_and_stack():
    arrays = make_inputs([(2, 3), (4, 3), (1, 3)])
    check_op(lambda *xs: fibril.cat(xs, 0), lambda *xs: torch.cat(xs, 0), arrays,
             numpy_fn=lambda *a: np.concatenate(a, 0))
    arrays = make_inputs([(2, 3), (2, 3)])
    for dim in (0, 1, 2, -1):
        check_op(lambda *xs: fibril.stack(xs, dim), lambda *xs: torch.stack(xs, dim), arrays,
                 numpy_fn=lambda *a: np.stack(a, dim))


def test_cat_promotes_and_checks_shapes():
    out = fibril.cat([fibril.tensor([1, 2]), fibril.tensor([0.5])])
    assert out.dtype == fibril.float32 and out.tolist() == [1.0, 2.0, 0.5]
    with pytest.raises(ValueError, match=r"\[2, 3\].*\[2, 4\]"):
        fibril.cat([fibril.zeros(2, 3), fibril.zeros(2, 4)], 0)
    with pytest.raises(ValueError, match="equal size"):
        fibril.stack([fibril.zeros(2), fibril.zeros(3)])


def test_split_chunk_unbind():
    (a,) = make_inputs([(7, 4)])
    x = fibril.tensor(a)
    assert [p.shape[0] for p in x.split(3)] == [3, 3, 1]
    assert [p.shape[0] for p in x.split([2, 5])] == [2, 5]
    assert [p.shape[0] for p in x.chunk(3)] == [3, 3, 1]
    assert [p.tolist() for p in x.unbind(1)] == [list(c) for c in a.T]
    check_op(lambda t: t.split([2, 5])[1], lambda t: t.split([2, 5])[1], [a])
    with pytest.raises(ValueError, match="sum exactly"):
        x.split([2, 2])


def test_repeat_tile_roll():
    (a,) = make_inputs([(2, 3)])
    check_op(lambda t: t.repeat(2, 1, 3), lambda t: t.repeat(2, 1, 3), [a], numpy_fn=lambda v: np.tile(v, (2, 1, 3)))
    check_op(lambda t: t.tile((2,)), lambda t: t.tile((2,)), [a], numpy_fn=lambda v: np.tile(v, (1, 2)))
    check_op(lambda t: t.roll(1, 1), lambda t: t.roll(1, 1), [a], numpy_fn=lambda v: np.roll(v, 1, 1))
    check_op(lambda t: t.roll((-1, 2), (0, 1)), lambda t: t.roll((-1, 2), (0, 1)), [a],
             numpy_fn=lambda v: np.roll(v, (-1, 2), (0, 1)))
    check_op(lambda t: t.roll(4), lambda t: t.roll(4), [a], numpy_fn=lambda v: np.roll(v, 4))


@pytest.mark.parametrize("pad", [(1, 2), (0, 0, 2, 1), (1, 1, 1, 1, 1, 1), (-1, 1)])
def test_constant_pad(pad):
    (a,) = make_inputs([(2, 3, 4)])
    tf = None
    if torch is not None:
        import torch.nn.functional as tf
    check_op(lambda t: fibril.pad(t, pad, value=0.5), lambda t: tf.pad(t, pad, value=0.5), [a])
