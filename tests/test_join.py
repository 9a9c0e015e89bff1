"""cat, stack, split, chunk, unbind, repeat, tile, roll and pad (all modes), with gradients."""

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


def _np_pad(a, pad, mode):
    """numpy's pad for torch's pad argument (last dim first). Negative pads crop: circular
    wraps what is left, reflect and replicate use the edges from before the crop (as torch)."""
    pairs = [(0, 0)] * (a.ndim - len(pad) // 2) + [(pad[i], pad[i + 1]) for i in range(len(pad) - 2, -1, -2)]
    crop = tuple(slice(max(-lo, 0), a.shape[d] - max(-hi, 0)) for d, (lo, hi) in enumerate(pairs))
    grow = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
    if mode == "circular":
        return np.pad(a[crop], grow, mode="wrap")
    padded = np.pad(a, grow, mode={"reflect": "reflect", "replicate": "edge"}[mode])
    return padded[tuple(slice(max(-lo, 0), padded.shape[d] - max(-hi, 0)) for d, (lo, hi) in enumerate(pairs))]


MODES = ["reflect", "replicate", "circular"]
PAD_CASES = [((2, 5), (1, 2)), ((2, 5), (4, 4)), ((1, 3, 4), (3, 0, 2, 3)), ((2, 3, 4, 5), (1, 2, 0, 1, 2, 1)),
             ((2, 1, 5), (-1, 2)), ((2, 1, 5), (2, -1)), ((1, 6), (-3, 2)), ((1, 2, 3, 4), (0, 0, 1, 1)),
             ((3, 17), (16, 5))]


def _largest_allowed(shape, pad, mode):
    """pad with each value cut to what mode allows (reflect: below the size; circular: up to
    what cropping leaves)."""
    out = []
    for i in range(0, len(pad), 2):
        lo, hi, n = pad[i], pad[i + 1], shape[-1 - i // 2]
        limit = {"reflect": n - 1, "circular": n - max(-lo, 0) - max(-hi, 0)}.get(mode, max(lo, hi))
        out += [min(lo, limit), min(hi, limit)]
    return tuple(out)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", range(len(PAD_CASES)))
def test_pad_modes(mode, case):
    shape, pad = PAD_CASES[case]
    pad = _largest_allowed(shape, pad, mode)
    (a,) = make_inputs([shape])
    tf = None
    if torch is not None:
        import torch.nn.functional as tf
    layout = (lambda t: t.transpose(-1, -2).contiguous().transpose(-1, -2)) if len(shape) > 2 else None
    check_op(lambda t: fibril.pad(t, pad, mode=mode), lambda t: tf.pad(t, pad, mode=mode), [a],
             numpy_fn=lambda v: _np_pad(v, pad, mode), atol=1e-12, layout=layout)


@pytest.mark.parametrize("mode", MODES)
def test_pad_gradient_adds_every_use(mode):
    # each input element is read by several outputs (edges most of all): its gradient is their count
    x = fibril.ones(1, 4, dtype=fibril.float64, requires_grad=True)
    fibril.pad(x, (3, 3), mode=mode).sum().backward()
    expected = {"reflect": [2, 3, 3, 2], "replicate": [4, 1, 1, 4], "circular": [2, 3, 3, 2]}[mode]
    np.testing.assert_array_equal(x.grad.numpy(), [expected])


@pytest.mark.parametrize("mode", MODES)
def test_pad_modes_empty_batch_other_dtypes_and_ranks(mode):
    out = fibril.pad(fibril.zeros(0, 3, 4), (1, 2), mode=mode)
    assert tuple(out.shape) == (0, 3, 7)
    ints = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(fibril.pad(fibril.tensor(ints), (2, 1, 1, 2), mode=mode).numpy(),
                                  _np_pad(ints, (2, 1, 1, 2), mode))
    assert tuple(fibril.pad(fibril.zeros(2, 3), (0, 0), mode=mode).shape) == (2, 3)
    a = np.arange(5.0)  # any number of dims (torch: the padded dims and one or two more)
    np.testing.assert_array_equal(fibril.pad(fibril.tensor(a), (2, 3), mode=mode).numpy(), _np_pad(a, (2, 3), mode))


PAD_BAD = [
    (lambda: fibril.pad(fibril.zeros(2, 3), (3, 0), mode="reflect"), r"reflect padding \(3, 0\) of dimension 1 "
     r"must be less than its size 3 \(input shape \[2, 3\]\)"),
    (lambda: fibril.pad(fibril.zeros(2, 3), (0, 4), mode="circular"), r"circular padding \(0, 4\).*at most the size 3 it "
     r"wraps around \(input shape \[2, 3\]\)"),
    (lambda: fibril.pad(fibril.zeros(2, 3), (-2, 2), mode="circular"), r"at most the size 1 it wraps around"),
    (lambda: fibril.pad(fibril.zeros(2, 0), (1, 1), mode="replicate"), r"size 0 \(input shape \[2, 0\]\)"),
    (lambda: fibril.pad(fibril.zeros(2, 0), (1, 1), mode="reflect"), r"less than its size 0"),
    (lambda: fibril.pad(fibril.zeros(2, 3), (1, 1, 1), mode="reflect"), r"must be even.*\[2, 3\], got 3"),
    (lambda: fibril.pad(fibril.zeros(3), (1, 1, 1, 1)), r"at most 2 \* ndim \(2\)"),
    (lambda: fibril.pad(fibril.zeros(2, 3), (-2, -2), mode="replicate"), r"negative size -1"),
    (lambda: fibril.pad(fibril.zeros(2, 3), (1, 1), mode="reflect", value=1.0), r"doesn't take in value"),
    (lambda: fibril.pad(fibril.zeros(2, 3), (1, 1), mode="symmetric"), r"mode must be one of"),
]


@pytest.mark.parametrize("case", range(len(PAD_BAD)))
def test_pad_bad_inputs(case):
    fn, message = PAD_BAD[case]
    with pytest.raises(ValueError, match=message):
        fn()
