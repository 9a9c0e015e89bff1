"""CTC loss (Graves et al., 2006) with torch.nn.functional.ctc_loss's arguments and results.

The forward runs the alpha recursion in log space, the backward the beta recursion, both in
float64 numpy over the batch and the extended labels (blank, l1, blank, l2, ..., blank), one
step per time. The gradient is ATen's: exp(log_probs) minus each label's occupancy, which is the
gradient through the log_softmax that log_probs is taken to come from; torch returns that
gradient for any log_probs, normalised or not, and so does this."""

import functools
import math
import numbers

import numpy as np

from .. import _C
from ..amp.policy import autocast_inputs, active as _autocast_active
from ..autograd import Function
from ..creation import tensor
from ..tensor import Tensor
from . import elementwise as ew
from . import index

_REDUCTIONS = ("none", "mean", "sum")


def _log_add(*terms):
    """log(sum(exp(terms))) elementwise, shifted by the largest term (by 0 where all are -inf), as ATen."""
    top = functools.reduce(np.maximum, terms)
    top = np.where(np.isneginf(top), 0.0, top)
    return np.log(sum(np.exp(t - top) for t in terms)) + top


def _extended_labels(targets, target_lengths, blank):
    """(N, 2 * max_length + 1) labels: blank, l1, blank, l2, ..., blank, then blanks past each target's end."""
    longest = int(target_lengths.max(initial=0))
    labels = np.full((len(target_lengths), 2 * longest + 1), blank, dtype=np.int64)
    inside = np.arange(longest) < target_lengths[:, None]
    labels[:, 1::2] = np.where(inside, targets[:, :longest], blank)
    return labels


def _padded(targets, target_lengths):
    """Concatenated 1-D targets as rows (N, max_length); a padded (N, S) batch as it is."""
    if targets.ndim == 2:
        return targets
    starts = np.cumsum(target_lengths) - target_lengths
    positions = starts[:, None] + np.arange(int(target_lengths.max(initial=0)))
    return targets[np.minimum(positions, max(len(targets) - 1, 0))]  # positions past an end are masked later


def _skips(labels):
    """True where state s may be entered from s - 2: a label unlike the one before it (never a blank)."""
    skip = np.zeros(labels.shape, dtype=bool)
    skip[:, 2:] = labels[:, 2:] != labels[:, :-2]
    return skip


def _emissions(lp, labels):
    """(T, N, S): each state's log probability at each time."""
    return lp[:, np.arange(lp.shape[1])[:, None], labels]


def _alpha(emit, skip):
    """(T, N, S) log alpha: the log probability of the paths over times 0..t that end in state s."""
    steps, n, width = emit.shape
    alpha = np.full((steps, n, width + 2), -np.inf)  # two -inf states before state 0
    alpha[0, :, 2:4] = emit[0, :, :2]
    for t in range(1, steps):
        prev = alpha[t - 1]
        alpha[t, :, 2:] = _log_add(prev[:, 2:], prev[:, 1:-1], np.where(skip, prev[:, :-2], -np.inf)) + emit[t]
    return alpha[:, :, 2:]


def _nll(alpha, input_lengths, target_lengths):
    """-log p(target | input): the paths ending in the last blank or the last label at each input's end."""
    rows = np.arange(len(input_lengths))
    last = alpha[np.maximum(input_lengths - 1, 0), rows]
    before_end = np.where(target_lengths > 0, last[rows, np.maximum(2 * target_lengths - 1, 0)], -np.inf)
    log_likelihood = _log_add(last[rows, 2 * target_lengths], before_end)
    empty_input = np.where(target_lengths == 0, 0.0, -np.inf)
    return -np.where(input_lengths == 0, empty_input, log_likelihood)


def _beta(emit, skip, input_lengths, target_lengths):
    """(T, N, S) log beta: the log probability of the paths over times t..end that start in state s;
    -inf past each input's end and past each target's last state."""
    steps, n, width = emit.shape
    rows = np.arange(n)
    last = input_lengths - 1
    states = np.arange(width) <= 2 * target_lengths[:, None]
    start = np.full((n, width), -np.inf)
    start[rows, 2 * target_lengths] = emit[last, rows, 2 * target_lengths]
    has_label = target_lengths > 0
    before_end = 2 * target_lengths[has_label] - 1
    start[rows[has_label], before_end] = emit[last[has_label], rows[has_label], before_end]
    skip_back = np.zeros_like(skip)
    skip_back[:, :-2] = skip[:, 2:]
    beta = np.full((steps, n, width + 2), -np.inf)  # two -inf states after the last
    for t in range(steps - 1, -1, -1):
        row = np.where((t == last)[:, None], start, -np.inf)
        if t + 1 < steps:
            nxt = beta[t + 1]
            step = _log_add(nxt[:, :-2], nxt[:, 1:-1], np.where(skip_back, nxt[:, 2:], -np.inf)) + emit[t]
            row = np.where((t < last)[:, None] & states, step, row)
        beta[t, :, :-2] = row
    return beta[:, :, :-2]


def _gradient(lp, labels, alpha, nll, input_lengths, target_lengths, grad_out, zero_infinity):
    """(T, N, C): (exp(lp) - occupancy) * grad_out, summing the occupancy of the states that share a label."""
    steps, n, classes = lp.shape
    emit = _emissions(lp, labels)
    beta = _beta(emit, _skips(labels), input_lengths, target_lengths)
    times = np.arange(steps)[:, None]
    running = times < input_lengths  # (T, N)
    state = np.arange(labels.shape[1])
    inside = state <= 2 * target_lengths[:, None]
    # ATen collects every state up to the last blank, but at an input's last time only the final two
    ends = (state == 2 * target_lengths[:, None]) | (state == 2 * target_lengths[:, None] - 1)
    used = running[:, :, None] & inside & ((times != input_lengths - 1)[:, :, None] | ends)
    occupancy = np.where(used, np.exp(alpha + beta + nll[:, None] - emit), 0.0)
    cells = (np.arange(steps)[:, None, None] * n + np.arange(n)[:, None]) * classes + labels
    summed = np.bincount(cells.ravel(), occupancy.ravel(), minlength=steps * n * classes)
    grad = (np.exp(lp) - summed.reshape(steps, n, classes)) * grad_out[:, None]
    # ATen's exp(log(occupancy) + nll - lp) is NaN where the loss is inf or lp is -inf
    grad = np.where(np.isposinf(nll)[:, None] | np.isneginf(lp), np.nan, grad)
    grad = np.where(running[:, :, None], grad, 0.0)
    if zero_infinity:
        grad[:, np.isposinf(nll)] = 0.0
    return grad


def _numpy(x):
    return np.asarray(x.detach().cpu().numpy())


class CtcLoss(Function):
    """Per-sample negative log likelihoods (N,) of (T, N, C) log_probs; the other arguments are numpy."""
    once_differentiable = True  # backward computes on numpy

    @staticmethod
    def forward(ctx, log_probs, labels, input_lengths, target_lengths, zero_infinity):
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = _alpha(_emissions(_numpy(log_probs).astype(np.float64), labels), _skips(labels))
            nll = _nll(alpha, input_lengths, target_lengths)
        ctx.save_for_backward(log_probs)
        ctx.labels, ctx.alpha, ctx.nll = labels, alpha, nll
        ctx.lengths, ctx.zero_infinity = (input_lengths, target_lengths), zero_infinity
        return tensor(nll, dtype=log_probs.dtype, device=log_probs.device)

    @staticmethod
    def backward(ctx, g):
        (log_probs,) = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            grad = _gradient(_numpy(log_probs).astype(np.float64), ctx.labels, ctx.alpha, ctx.nll, *ctx.lengths,
                             _numpy(g).astype(np.float64), ctx.zero_infinity)
        return tensor(grad, dtype=log_probs.dtype, device=log_probs.device), None, None, None, None


def _lengths(value, name):
    """An integer tensor (any shape) or a sequence of ints, as a flat int64 array."""
    if isinstance(value, Tensor):
        if value.dtype.is_floating_point or value.dtype == _C.bool:
            raise RuntimeError(f"ctc_loss: {name} must be integral, got {value.dtype.name}")
        return _numpy(value).astype(np.int64).reshape(-1)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (numbers.Integral, Tensor)) for v in value):
        return np.array([int(v) for v in value], dtype=np.int64)
    raise TypeError(f"ctc_loss: {name} must be a tensor or a sequence of ints, got {type(value).__name__}")


def _check_lengths(input_lengths, target_lengths, targets, batch, steps):
    for name, lengths in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
        if len(lengths) != batch:
            raise RuntimeError(f"ctc_loss: {name} must be of size batch_size ({batch}), got {len(lengths)}")
    if (target_lengths < 0).any():
        raise RuntimeError(f"ctc_loss: expected target_lengths to have value at least 0, got {target_lengths.tolist()}")
    if targets.ndim == 1 and targets.shape[0] != target_lengths.sum():
        raise RuntimeError(f"ctc_loss: concatenated targets must have sum(target_lengths) = {target_lengths.sum()} "
                           f"elements, got {targets.shape[0]}")
    if targets.ndim == 2 and targets.shape[0] != batch:
        raise RuntimeError(f"ctc_loss: padded targets must have batch_size ({batch}) rows, got {targets.shape[0]}")
    if targets.ndim == 2 and targets.shape[1] < target_lengths.max(initial=0):
        raise RuntimeError(f"ctc_loss: padded targets must have at least max(target_lengths) = "
                           f"{target_lengths.max()} columns, got {targets.shape[1]}")
    if ((input_lengths < 0) | (input_lengths > steps)).any():
        raise RuntimeError(f"ctc_loss: expected input_lengths to have values in [0, {steps}] (the input's length), "
                           f"got {input_lengths.tolist()}")


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """log_probs (T, N, C) or unbatched (T, C); targets padded (N, S) or concatenated (sum(target_lengths));
    input_lengths and target_lengths both tensors or both sequences of ints. 'mean' divides each loss by
    its target length (at least 1), then averages over the batch."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if _autocast_active.on:
        (log_probs,) = autocast_inputs("fp32", log_probs)
    if isinstance(input_lengths, Tensor) != isinstance(target_lengths, Tensor):
        raise TypeError("ctc_loss: input_lengths and target_lengths must both be tensors or both be sequences of ints")
    if not isinstance(targets, Tensor):
        raise TypeError(f"ctc_loss: targets must be a tensor, got {type(targets).__name__}")
    input_lengths = _lengths(input_lengths, "input_lengths")
    target_lengths = _lengths(target_lengths, "target_lengths")
    if log_probs.dtype not in (_C.float32, _C.float64):
        raise NotImplementedError(f"ctc_loss: log_probs must be float32 or float64, got {log_probs.dtype.name}")
    if log_probs.numel() == 0:
        raise RuntimeError("ctc_loss: log_probs tensor must not be empty")
    batched = log_probs.ndim == 3
    x = log_probs if batched else index.unsqueeze(log_probs, 1)
    if x.ndim != 3:
        raise RuntimeError(f"ctc_loss: expected log_probs of shape (T, N, C) or (T, C), got {list(log_probs.shape)}")
    if targets.ndim not in (1, 2):
        raise RuntimeError(f"ctc_loss: expected 1-D (concatenated) or 2-D (padded) targets, got shape "
                           f"{list(targets.shape)}")
    steps, batch, classes = x.shape
    if not 0 <= blank < classes:
        raise RuntimeError(f"ctc_loss: blank must be in label range [0, {classes}), got {blank}")
    target_array = _numpy(targets).astype(np.int64)  # float and int32 targets are read as int64, as torch
    _check_lengths(input_lengths, target_lengths, target_array, batch, steps)
    labels = _extended_labels(_padded(target_array, target_lengths), target_lengths, blank)
    if ((labels < 0) | (labels >= classes)).any():
        raise RuntimeError(f"ctc_loss: target labels must be in [0, {classes}) (the number of classes)")
    loss = CtcLoss.apply(x, labels, input_lengths, target_lengths, bool(zero_infinity))
    if zero_infinity:
        loss = ew.where(ew.eq(loss, math.inf), 0.0, loss)
    if reduction == "mean":
        clamped = tensor(np.maximum(target_lengths, 1), dtype=loss.dtype, device=loss.device)
        return ew.div(loss, clamped).mean()
    if reduction == "sum":
        return loss.sum()
    return loss if batched else index.reshape(loss, ())
