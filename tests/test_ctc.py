"""F.ctc_loss and nn.CTCLoss against torch in float64: losses and gradients on random sizes,
padded and concatenated targets, repeated labels, impossible alignments (inf, NaN gradients,
zero_infinity), every reduction, unbatched input, unnormalised log_probs, float32, errors."""

import numpy as np
import pytest

import fibril
import fibril.nn as nn
import fibril.nn.functional as F
from fibril import autograd
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _case(seed, steps, batch, classes, longest, blank=0, normalised=True, repeats=False):
    """log_probs (T, N, C), padded targets (N, S) free of blank, and lengths; the first sample
    uses the whole input."""
    rng = np.random.default_rng(seed)
    lp = rng.standard_normal((steps, batch, classes)) * 2
    if normalised:
        lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    targets = (blank + rng.integers(1, classes, (batch, longest))) % classes
    if repeats:  # runs of one label: the path must pass a blank between them
        targets[:, 1::2] = targets[:, : longest // 2]
    input_lengths = rng.integers(1, steps + 1, batch)
    input_lengths[0] = steps
    target_lengths = rng.integers(0, longest + 1, batch)
    return lp, targets, input_lengths, target_lengths


def _concatenated(targets, target_lengths):
    return np.concatenate([row[:n] for row, n in zip(targets, target_lengths)])


def _compare(lp, targets, input_lengths, target_lengths, tensor_lengths=True, atol=1e-10, **kwargs):
    """Loss and the gradient of a random cotangent, fibril vs torch; NaN where torch has NaN."""
    def lengths(lib):
        if tensor_lengths:
            return lib.tensor(input_lengths), lib.tensor(target_lengths)
        return [int(n) for n in input_lengths], tuple(int(n) for n in target_lengths)

    x = fibril.tensor(lp, requires_grad=True)
    t = torch.tensor(lp, requires_grad=True)
    ours = F.ctc_loss(x, fibril.tensor(targets), *lengths(fibril), **kwargs)
    ref = TF.ctc_loss(t, torch.tensor(targets), *lengths(torch), **kwargs)
    assert tuple(ours.shape) == tuple(ref.shape)
    assert ours.dtype.name == str(ref.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.detach().numpy(), ref.detach().numpy(), rtol=atol, atol=atol)
    cot = np.random.default_rng(7).uniform(0.5, 1.5, tuple(ref.shape))
    ours.backward(fibril.tensor(cot, dtype=ours.dtype))
    ref.backward(torch.tensor(cot, dtype=ref.dtype))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=atol, atol=atol)
    return ours, x.grad


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("seed", range(4))
def test_padded_targets_match_torch(seed, reduction):
    rng = np.random.default_rng(100 + seed)
    steps, batch, classes = (int(n) for n in rng.integers([4, 1, 2], [14, 6, 7]))
    case = _case(seed, steps, batch, classes, longest=int(rng.integers(1, steps // 2 + 2)))
    _compare(*case, reduction=reduction)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_concatenated_targets_and_sequence_lengths_match_torch(reduction):
    lp, targets, input_lengths, target_lengths = _case(1, 9, 4, 5, 4)
    flat = _concatenated(targets, target_lengths)
    loss, grad = _compare(lp, flat, input_lengths, target_lengths, tensor_lengths=False, reduction=reduction)
    padded, padded_grad = _compare(lp, targets, input_lengths, target_lengths, reduction=reduction)
    np.testing.assert_allclose(loss.detach().numpy(), padded.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad.numpy(), padded_grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("blank", [0, 2, 4])
def test_repeated_labels_and_other_blanks_match_torch(blank):
    _compare(*_case(2, 12, 3, 5, 5, blank=blank, repeats=True), blank=blank, reduction="sum")


def test_unnormalised_log_probs_get_torchs_gradient():
    """ATen's gradient assumes log_probs came from log_softmax: exp(lp) minus the occupancy."""
    lp, targets, input_lengths, target_lengths = _case(3, 7, 3, 4, 3, normalised=False)
    _, grad = _compare(lp, targets, input_lengths, target_lengths, reduction="sum")
    assert not np.allclose(grad.numpy().sum(-1), 0)  # a normalised input's gradient sums to 0 over the classes


@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_impossible_alignments(reduction, zero_infinity):
    """A target longer than its input (or needing more steps for its repeats) has an infinite
    loss: torch's NaN gradient for that sample, or 0 for both with zero_infinity."""
    lp, targets, _, _ = _case(4, 6, 4, 5, 4)
    targets[2] = [1, 1, 1, 2]  # three repeats need 2 blanks between them: 6 steps for 4 labels plus 2
    input_lengths, target_lengths = np.array([6, 2, 5, 0]), np.array([2, 3, 4, 1])
    loss, grad = _compare(lp, targets, input_lengths, target_lengths, reduction=reduction, zero_infinity=zero_infinity)
    nan_rows = np.isnan(grad.numpy()).any(axis=(0, 2))
    assert nan_rows.tolist() == ([False] * 4 if zero_infinity else [False, True, True, False])
    if reduction == "none":
        expected = [False] * 4 if zero_infinity else [False, True, True, True]
        assert np.isinf(loss.detach().numpy()).tolist() == expected


def test_empty_inputs_and_targets():
    lp, targets, _, _ = _case(5, 5, 4, 3, 2)
    _compare(lp, targets, np.array([5, 0, 0, 3]), np.array([0, 0, 2, 0]), reduction="none", zero_infinity=True)
    _compare(lp, targets[:, :0], np.array([5, 4, 1, 3]), np.zeros(4, dtype=np.int64), reduction="mean")


def test_minus_infinity_log_probs_give_torchs_nans_and_no_others():
    lp, targets, input_lengths, target_lengths = _case(6, 8, 3, 4, 3)
    lp[2, 0, 1] = lp[5, 1, 0] = lp[0, 2, 3] = -np.inf
    _, grad = _compare(lp, targets, input_lengths, target_lengths, reduction="sum")
    assert np.isnan(grad.numpy()).any()


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_unbatched_input(reduction):
    lp, targets, _, _ = _case(7, 8, 1, 5, 3)
    loss, _ = _compare(lp[:, 0], targets[0], np.array([7]), np.array([3]), reduction=reduction)
    assert loss.ndim == 0


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_float32_within_float32_tolerance(reduction):
    lp, targets, input_lengths, target_lengths = _case(8, 30, 4, 12, 10)
    loss, grad = _compare(lp.astype(np.float32), targets.astype(np.int32), input_lengths, target_lengths,
                          atol=2e-5, reduction=reduction)
    assert loss.dtype == fibril.float32 and grad.dtype == fibril.float32


def test_long_sequences_in_float32_keep_float64_accuracy():
    """Hundreds of steps, whose path probabilities underflow any float, stay finite in log space;
    fibril recurses in float64 for float32 too, so it meets torch's float64 result (torch's own
    float32 recursion drifts ~2e-3 from it here)."""
    lp, targets, input_lengths, target_lengths = _case(9, 400, 2, 30, 60)
    x = fibril.tensor(lp.astype(np.float32), requires_grad=True)
    t = torch.tensor(lp.astype(np.float32).astype(np.float64), requires_grad=True)
    args = (targets, input_lengths, target_lengths)
    loss = F.ctc_loss(x, *(fibril.tensor(a) for a in args), reduction="sum")
    ref = TF.ctc_loss(t, *(torch.tensor(a) for a in args), reduction="sum")
    loss.backward()
    ref.backward()
    assert loss.dtype == x.grad.dtype == fibril.float32
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), atol=1e-6)


def test_module_and_repr():
    lp, targets, input_lengths, target_lengths = _case(10, 6, 3, 4, 3)
    for kwargs in ({}, {"blank": 3, "reduction": "sum", "zero_infinity": True}):
        ours, theirs = nn.CTCLoss(**kwargs), torch.nn.CTCLoss(**kwargs)
        assert repr(ours) == repr(theirs)
        assert (ours.blank, ours.reduction, ours.zero_infinity) == (theirs.blank, theirs.reduction,
                                                                    theirs.zero_infinity)
        args = (torch.tensor(targets), torch.tensor(input_lengths), torch.tensor(target_lengths))
        got = ours(fibril.tensor(lp), *(fibril.tensor(a.numpy()) for a in args))
        np.testing.assert_allclose(got.numpy(), theirs(torch.tensor(lp), *args).numpy(), rtol=1e-12)


def test_grad_fn_name_and_no_double_backward():
    lp, targets, input_lengths, target_lengths = _case(11, 5, 2, 4, 2)
    x = fibril.tensor(lp, requires_grad=True)
    loss = F.ctc_loss(x, fibril.tensor(targets), fibril.tensor(input_lengths), fibril.tensor(target_lengths),
                      reduction="none")
    assert loss.grad_fn.name() == "CtcLossBackward0"
    (g,) = autograd.grad(loss.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="CtcLoss does not support double backward"):
        g.sum().backward()


def _error_cases():
    lp = np.log(np.full((6, 3, 5), 0.2))
    tg = np.ones((3, 4), dtype=np.int64)
    il, tl = [6, 5, 4], [4, 2, 0]
    return [
        ("reduction", lp, tg, il, tl, {"reduction": "average"}),
        ("float lengths", lp, tg, np.array([6.0, 5, 4]), np.array(tl), {}),
        ("mixed lengths", lp, tg, np.array(il), tl, {}),
        ("int lengths", lp[:, 0], tg[0], 6, 4, {}),
        ("float16", lp.astype(np.float16), tg, il, tl, {}),
        ("empty", lp[:0], tg, [0, 0, 0], tl, {}),
        ("1-d log_probs", lp[:, 0, 0], tg, il, tl, {}),
        ("4-d log_probs", lp[None], tg, il, tl, {}),
        ("3-d targets", lp, tg[None], il, tl, {}),
        ("blank", lp, tg, il, tl, {"blank": 5}),
        ("negative blank", lp, tg, il, tl, {"blank": -1}),
        ("input_lengths count", lp, tg, il[:2], tl, {}),
        ("target_lengths count", lp, tg, il, tl[:2], {}),
        ("negative target length", lp, tg, il, [4, -1, 0], {}),
        ("padded rows", lp, tg[:2], il, tl, {}),
        ("padded columns", lp, tg, il, [5, 2, 0], {}),
        ("concatenated size", lp, tg.ravel()[:5], il, tl, {}),
        ("input too long", lp, tg, [7, 5, 4], tl, {}),
        ("negative input length", lp, tg, [-1, 5, 4], tl, {}),
    ]


@pytest.mark.parametrize("case", _error_cases(), ids=lambda case: case[0])
def test_errors_match_torch(case):
    _, lp, targets, input_lengths, target_lengths, kwargs = case

    def call(lib):
        def convert(v):
            return lib.tensor(v) if isinstance(v, np.ndarray) else v
        return lib.nn.functional.ctc_loss(lib.tensor(lp), lib.tensor(targets), convert(input_lengths),
                                          convert(target_lengths), **kwargs)

    with pytest.raises(Exception) as expected:
        call(torch)
    with pytest.raises(expected.type):
        call(fibril)


def test_labels_out_of_range_raise():
    """torch reads past the class axis here; fibril refuses."""
    lp = fibril.zeros(4, 2, 3)
    with pytest.raises(RuntimeError, match="target labels"):
        F.ctc_loss(lp, fibril.tensor([[1, 3], [2, 1]]), [4, 4], [2, 2])
