"""Softmax family: softmax, log_softmax and the losses, PyTorch names and semantics.

softmax, log_softmax and the class-index losses (cross_entropy, nll_loss) are fused kernels,
forward and backward one _C call each. The elementwise losses (binary cross entropy with
logits, mse, l1, smooth l1/huber, hinge and margin losses, kl_div) and cross_entropy with
class probabilities are composed from elementwise and reduce ops, which give their gradients;
binary_cross_entropy is a Function of its own, for PyTorch's gradients where x is 0 or 1."""

import math
import warnings

import numpy as np

from .. import _C
from ..amp.policy import autocast_inputs, active as _autocast_active
from ..autograd import Function, is_grad_enabled
from ..autograd.composed import composed_gradients
from ..tensor import Tensor
from . import elementwise as ew
from . import index
from .activation import relu, softplus
from .gather import gather, one_hot
from .reduce import cumprod, norm

_REDUCTIONS = ("none", "mean", "sum")


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim, log):
        y = Tensor._wrap(_C.softmax(x._data, dim, log))
        ctx.save_for_backward(y)
        ctx.dim, ctx.log = dim, log
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        if is_grad_enabled():  # create_graph: the same formula as ops, so it is recorded
            if ctx.log:
                return ew.sub(g, ew.mul(ew.exp(y), g.sum(ctx.dim, keepdim=True))), None, None
            return ew.mul(y, ew.sub(g, ew.mul(g, y).sum(ctx.dim, keepdim=True))), None, None
        return Tensor._wrap(_C.softmax_backward(y._data, g._data, ctx.dim, ctx.log)), None, None


def softmax(input, dim, dtype=None):
    if _autocast_active.on and dtype is None:
        (input,) = autocast_inputs("fp32_cuda", input)
    return Softmax.apply(input if dtype is None else input.to(dtype), dim, False)


def log_softmax(input, dim, dtype=None):
    if _autocast_active.on and dtype is None:
        (input,) = autocast_inputs("fp32_cuda", input)
    return Softmax.apply(input if dtype is None else input.to(dtype), dim, True)


class ClassLoss(Function):
    """cross_entropy (logits) or nll_loss per sample ("none"), summed ("sum") or averaged over
    the samples' weights w[target] ("mean"), in one node: the sum and the division as nodes of
    their own made a small model's step slower (MLP 28x28 step ~927 -> ~890 us). Under create_graph the backward recomputes the loss from
    differentiable ops (autograd.composed)."""

    @staticmethod
    def forward(ctx, x, target, options, reduction, spec):
        loss, row_weight, stats = _C.class_loss(x._data, target._data, options)
        ctx.save_for_backward(x, target)
        ctx.stats, ctx.options, ctx.rows, ctx.scale = stats, options, loss.shape, None
        ctx.reduction, ctx.spec = reduction, spec
        ctx.reduced = reduction != "none"
        if not ctx.reduced:
            return Tensor._wrap(loss)
        total = _C.reduce(_C.ReduceOp.sum, loss, None, False, None)
        if reduction == "sum":
            return Tensor._wrap(total)
        ctx.scale = _C.reduce(_C.ReduceOp.sum, row_weight, None, False, None)
        return Tensor._wrap(_C.binary(_C.BinaryOp.div, total, ctx.scale))

    @staticmethod
    def backward(ctx, g):
        x, target = ctx.saved_tensors
        if is_grad_enabled():
            compose = lambda x: _class_loss_composed(x, target, ctx.reduction, *ctx.spec)  # noqa: E731
            return composed_gradients(compose, (x,), ctx.needs_input_grad, g) + (None,) * 4
        rows = g._data
        if ctx.reduced:
            per_row = rows if ctx.scale is None else _C.binary(_C.BinaryOp.div, rows, ctx.scale)
            rows = per_row.expand(list(ctx.rows)).contiguous()
        gx = _C.class_loss_backward(rows, x._data, target._data, ctx.stats, ctx.options)
        return Tensor._wrap(gx), None, None, None, None


def _class_loss_composed(x, target, reduction, weight, ignore_index, label_smoothing, logits):
    """cross_entropy (logits) or nll_loss with class indices, from differentiable ops."""
    class_dim = 1 if x.ndim >= 2 else 0
    log_p = log_softmax(x, class_dim) if logits else x
    kept = ew.ne(target, ignore_index)
    safe = ew.where(kept, target, 0)
    row_weight = kept.to(x.dtype) if weight is None else ew.mul(gather(weight, 0, safe.flatten()).view(safe.shape), kept)
    loss = ew.neg(ew.mul(index.squeeze(gather(log_p, class_dim, index.unsqueeze(safe, class_dim)), class_dim),
                         row_weight))
    if label_smoothing > 0:
        weighted = log_p if weight is None else ew.mul(log_p, _class_view(weight, x.ndim))
        smooth = ew.mul(ew.neg(weighted.sum(class_dim)), kept)
        loss = ew.add(ew.mul(loss, 1.0 - label_smoothing), ew.mul(smooth, label_smoothing / x.shape[class_dim]))
    return _reduce(loss, reduction, row_weight.sum())


def _legacy_reduction(size_average, reduce, reduction):
    """The reduction torch's deprecated size_average and reduce pick when either is given. A
    string in size_average's place is taken as the reduction, given positionally as in
    CosineEmbeddingLoss(0.2, 'sum') (torch would read it as size_average=True)."""
    if isinstance(size_average, str):
        return size_average
    if size_average is None and reduce is None:
        return reduction
    if reduce is not None and not reduce:
        reduction = "none"
    else:
        reduction = "mean" if size_average is None or size_average else "sum"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead.",
                  UserWarning, stacklevel=3)
    return reduction


def _check_reduction(name, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(loss, reduction, count=None):
    """'mean' divides by `count` (a tensor or number) when given, else by the element count."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    return ew.div(total, loss.numel() if count is None else count)


def _class_loss(name, input, target, weight, ignore_index, reduction, label_smoothing, logits):
    _check_reduction(name, reduction)
    options = _C.ClassLossOptions(None if weight is None else weight._data, ignore_index, label_smoothing, logits)
    return ClassLoss.apply(input, target, options, reduction, (weight, ignore_index, label_smoothing, logits))


def _same_shape(name, input, target):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{name}: target shape {list(target.shape)} does not match input shape "
                         f"{list(input.shape)}")


def _broadcasts(*tensors):
    try:
        np.broadcast_shapes(*(tuple(t.shape) for t in tensors))
    except ValueError:
        return False
    return True


def _weight_fits(name, what, weight, input):
    """weight must broadcast to input's shape, not widen the loss beyond it."""
    if weight is None:
        return
    if not _broadcasts(weight, input) or np.broadcast_shapes(weight.shape, input.shape) != tuple(input.shape):
        raise ValueError(f"{name}: {what} of shape {list(weight.shape)} does not broadcast to the input's shape "
                         f"{list(input.shape)}")


def _broadcast_target(name, input, target, warn=True, stacklevel=3):
    """A target of another size broadcasts against the input, as in torch; mse, l1, smooth l1
    and huber warn that it is likely a mistake (stacklevel: the user's frame)."""
    if tuple(input.shape) == tuple(target.shape):
        return
    if not _broadcasts(input, target):
        raise ValueError(f"{name}: target shape {list(target.shape)} does not broadcast with input shape "
                         f"{list(input.shape)}")
    if warn:
        warnings.warn(f"{name}: using a target size ({list(target.shape)}) that is different to the input size "
                      f"({list(input.shape)}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=stacklevel)


def _class_view(t, ndim):
    """A per-class tensor shaped to broadcast along dim 1 of an ndim input (dim 0 if 1-d)."""
    return t if ndim <= 2 else index.reshape(t, (-1,) + (1,) * (ndim - 2))


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Class indices (integer target of input's shape without dim 1) or class probabilities
    (a float target of input's shape), as torch.nn.functional.cross_entropy."""
    if _autocast_active.on:
        input, target, weight = autocast_inputs("fp32", input, target, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if not target.dtype.is_floating_point:
        return _class_loss("cross_entropy", input, target, weight, ignore_index, reduction, label_smoothing, True)
    _check_reduction("cross_entropy", reduction)
    _same_shape("cross_entropy", input, target)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    class_dim = 1 if input.ndim >= 2 else 0
    classes = input.shape[class_dim]
    q = target if label_smoothing == 0 else ew.add(ew.mul(target, 1.0 - label_smoothing), label_smoothing / classes)
    terms = ew.mul(log_softmax(input, class_dim), q)
    if weight is not None:
        terms = ew.mul(terms, _class_view(weight, input.ndim))
    loss = ew.neg(terms.sum(class_dim))
    return _reduce(loss, reduction, input.numel() // classes if input.numel() else 0)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    if _autocast_active.on:
        input, weight = autocast_inputs("fp32", input, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _class_loss("nll_loss", input, target, weight, ignore_index, reduction, 0.0, False)


def _weighted(loss, weight):
    return loss if weight is None else ew.mul(loss, weight)


def _clamped_logs(x):
    """log x and log(1 - x), each clamped at -100 as PyTorch does."""
    return ew.clamp(ew.log(x), min=-100.0), ew.clamp(ew.log1p(ew.neg(x)), min=-100.0)


class BinaryCrossEntropy(Function):
    """-(t log x + (1 - t) log(1 - x)) with PyTorch's gradients: the composed ones are NaN where
    x is 0 or 1 (0 * inf), which float32 sigmoid reaches."""

    @staticmethod
    def forward(ctx, x, t):
        ctx.save_for_backward(x, t)
        log_x, log_1mx = _clamped_logs(x)
        return ew.neg(ew.add(ew.mul(t, log_x), ew.mul(ew.sub(1.0, t), log_1mx)))

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved_tensors
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = ew.div(ew.mul(g, ew.sub(x, t)), ew.clamp(ew.mul(x, ew.sub(1.0, x)), min=1e-12))
        if ctx.needs_input_grad[1]:
            log_x, log_1mx = _clamped_logs(x)
            gt = ew.mul(g, ew.sub(log_1mx, log_x))
        return gx, gt


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    if _autocast_active.on:
        input, target, weight = autocast_inputs("bce", input, target, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("binary_cross_entropy", reduction)
    _same_shape("binary_cross_entropy", input, target)
    _weight_fits("binary_cross_entropy", "weight", weight, input)
    if input.numel() and not ew.logical_and(ew.ge(input, 0), ew.le(input, 1)).all().item():
        raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 and 1")
    return _reduce(_weighted(BinaryCrossEntropy.apply(input, target), weight), reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """(1 - t) x + (1 + (pw - 1) t) softplus(-x); its gradient is sigmoid(x) - t without pos_weight."""
    if _autocast_active.on:
        input, target, weight, pos_weight = autocast_inputs("fp32", input, target, weight, pos_weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    _same_shape("binary_cross_entropy_with_logits", input, target)
    _weight_fits("binary_cross_entropy_with_logits", "weight", weight, input)
    _weight_fits("binary_cross_entropy_with_logits", "pos_weight", pos_weight, input)
    # No threshold: softplus(-x) ~ -x beyond it would drop the tail that is all the loss where
    # t = 0 and x << 0, after (1 - t) x cancels -x.
    softplus_neg = softplus(ew.neg(input), threshold=math.inf)
    log_weight = 1.0 if pos_weight is None else ew.add(ew.mul(ew.sub(pos_weight, 1.0), target), 1.0)
    loss = ew.add(ew.mul(ew.sub(1.0, target), input), ew.mul(log_weight, softplus_neg))
    return _reduce(_weighted(loss, weight), reduction)


def _elementwise_weight(input, weight):
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"Weights and input must have the same size: weight {list(weight.shape)}, input "
                         f"{list(input.shape)}")


def _reduce_weighted(loss, weight, reduction):
    """loss times weight, reduced; 'mean' divides by the weights' sum (torch's mse and l1)."""
    if weight is None:
        return _reduce(loss, reduction)
    loss = ew.mul(loss, weight)
    return _reduce(loss, reduction, weight.sum() if reduction == "mean" else None)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """(input - target)^2; weight (input's shape) scales each term, and 'mean' then divides by
    its sum."""
    if _autocast_active.on:
        input, target, weight = autocast_inputs("fp32", input, target, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("mse_loss", reduction)
    _broadcast_target("mse_loss", input, target)
    _elementwise_weight(input, weight)
    d = ew.sub(input, target)
    return _reduce_weighted(ew.mul(d, d), weight, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """|input - target|; weight (input's shape) scales each term, and 'mean' then divides by
    its sum."""
    if _autocast_active.on:
        input, target, weight = autocast_inputs("fp32", input, target, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("l1_loss", reduction)
    _broadcast_target("l1_loss", input, target)
    _elementwise_weight(input, weight)
    return _reduce_weighted(ew.abs(ew.sub(input, target)), weight, reduction)


def _huber(name, input, target, reduction, delta, scale, weight=None):
    if _autocast_active.on:
        input, target, weight = autocast_inputs("fp32", input, target, weight)
    _check_reduction(name, reduction)
    _broadcast_target(name, input, target, stacklevel=4)
    _elementwise_weight(input, weight)
    d = ew.abs(ew.sub(input, target))
    quadratic = ew.mul(ew.mul(d, d), 0.5 * scale / delta if delta else 0.0)
    linear = ew.mul(ew.sub(d, 0.5 * delta), scale)
    return _reduce(_weighted(ew.where(ew.lt(d, delta), quadratic, linear), weight), reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - beta / 2."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    return _huber("smooth_l1_loss", input, target, reduction, beta, 1.0)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta (|d| - delta / 2): smooth_l1 scaled by delta;
    weight (input's shape) scales each term ('mean' stays the mean, as torch's)."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    return _huber("huber_loss", input, target, reduction, delta, delta, weight)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """target (log target - input), 0 where target is 0; reduction 'batchmean' divides by dim 0."""
    if _autocast_active.on:
        input, target = autocast_inputs("fp32", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"kl_div: reduction must be one of {_REDUCTIONS + ('batchmean',)}, got {reduction!r}")
    _broadcast_target("kl_div", input, target, warn=False)
    if log_target:
        loss = ew.mul(ew.exp(target), ew.sub(target, input))
    else:
        positive = ew.gt(target, 0)
        log_t = ew.log(ew.where(positive, target, 1.0))
        loss = ew.where(positive, ew.mul(target, ew.sub(log_t, input)), ew.mul(target, 0.0))
    if reduction == "batchmean":
        return ew.div(loss.sum(), input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """max(0, -y (x1 - x2) + margin)."""
    if _autocast_active.on:
        input1, input2, target = autocast_inputs("fp32", input1, input2, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("margin_ranking_loss", reduction)
    if not input1.ndim == input2.ndim == target.ndim or not _broadcasts(input1, input2, target):
        raise ValueError(f"margin_ranking_loss: input1 {list(input1.shape)}, input2 {list(input2.shape)} and "
                         f"target {list(target.shape)} must have the same number of dims and broadcast")
    loss = ew.clamp(ew.add(ew.mul(ew.neg(target), ew.sub(input1, input2)), margin), min=0.0)
    return _reduce(loss, reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """x where y == 1, max(0, margin - x) where y == -1 (both terms where y is neither)."""
    if _autocast_active.on:
        input, target = autocast_inputs("fp32", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("hinge_embedding_loss", reduction)
    _broadcast_target("hinge_embedding_loss", input, target, warn=False)
    zero = ew.mul(input, 0.0)
    hinge = ew.where(ew.ne(target, 1), ew.clamp(ew.sub(margin, input), min=0.0), zero)
    return _reduce(ew.add(hinge, ew.where(ew.ne(target, -1), input, zero)), reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """sum over j != y of max(0, margin - x[y] + x[j])^p (times w[y]), divided by the classes."""
    if _autocast_active.on:
        input, weight = autocast_inputs("fp32", input, weight)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("multi_margin_loss", reduction)
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: only p == 1 and p == 2 are supported, got {p}")
    x = input if input.ndim == 2 else index.reshape(input, (1, -1))
    y = target if target.ndim == 1 else index.reshape(target, (1,))
    if x.shape[0] != y.shape[0] or y.ndim != 1:
        raise ValueError(f"multi_margin_loss: target shape {list(target.shape)} does not match input shape "
                         f"{list(input.shape)}")
    classes = x.shape[1]
    picked = gather(x, 1, index.reshape(y, (-1, 1)))
    terms = relu(ew.add(ew.sub(x, picked), margin))  # no gradient at the hinge, as torch
    if p == 2:
        terms = ew.mul(terms, terms)
    if weight is not None:
        terms = ew.mul(terms, index.reshape(gather(weight, 0, y), (-1, 1)))
    terms = ew.where(one_hot(y, classes).bool(), 0.0, terms)
    loss = ew.div(terms.sum(1), classes)
    return _reduce(loss if input.ndim == 2 else index.reshape(loss, ()), reduction)


def _same_ndim(name, *tensors):
    if len({t.ndim for t in tensors}) != 1:
        raise ValueError(f"{name}: expected inputs with the same number of dims, got shapes "
                         f"{', '.join(str(list(t.shape)) for t in tensors)}")


def _pairwise_distance(x1, x2, p=2.0, eps=1e-6):
    return norm(ew.add(ew.sub(x1, x2), eps), p, max(x1.ndim, x2.ndim) - 1)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0,
                                      swap=False, reduction="mean"):
    """max(0, margin + d(a, p) - d(a, n)); swap takes min(d(a, n), d(p, n)) for d(a, n)."""
    _check_reduction("triplet_margin_with_distance_loss", reduction)
    if margin <= 0:
        raise ValueError(f"triplet_margin_with_distance_loss: margin must be greater than 0, got {margin}")
    _same_ndim("triplet_margin_with_distance_loss", anchor, positive, negative)
    distance = distance_function or _pairwise_distance
    d_neg = distance(anchor, negative)
    if swap:
        d_neg = ew.minimum(d_neg, distance(positive, negative))
    return _reduce(ew.clamp(ew.sub(ew.add(distance(anchor, positive), margin), d_neg), min=0.0), reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """The triplet loss with the p-norm distance of (x1 - x2 + eps) along the last dim."""
    if _autocast_active.on:
        anchor, positive, negative = autocast_inputs("fp32", anchor, positive, negative)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _same_ndim("triplet_margin_loss", anchor, positive, negative)
    return triplet_margin_with_distance_loss(anchor, positive, negative,
                                             distance_function=lambda a, b: _pairwise_distance(a, b, p, eps),
                                             margin=margin, swap=swap, reduction=reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """1 - cos(x1, x2) where y == 1, max(0, cos(x1, x2) - margin) where y == -1."""
    if _autocast_active.on:
        input1, input2, target = autocast_inputs("fp32", input1, input2, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("cosine_embedding_loss", reduction)
    if input1.shape != input2.shape or input1.ndim not in (1, 2) or target.ndim != input1.ndim - 1:
        raise ValueError(f"cosine_embedding_loss: expected 1-D or 2-D inputs of the same shape and a target with "
                         f"one dim less, got {list(input1.shape)}, {list(input2.shape)} and {list(target.shape)}")
    dim = input1.ndim - 1
    # as ATen: each squared magnitude gets 1e-12, so a zero vector gives cos 0, not NaN
    squares = ew.mul(ew.add(ew.mul(input1, input1).sum(dim), 1e-12), ew.add(ew.mul(input2, input2).sum(dim), 1e-12))
    cos = ew.div(ew.mul(input1, input2).sum(dim), ew.sqrt(squares))
    zero = ew.mul(cos, 0.0)
    loss = ew.add(ew.where(ew.eq(target, 1), ew.sub(1.0, cos), zero),
                  ew.where(ew.eq(target, -1), ew.clamp(ew.sub(cos, margin), min=0.0), zero))
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """(log max(var, eps) + (input - target)^2 / max(var, eps)) / 2 (+ log(2 pi) / 2 if full).
    var: input's shape, input's shape without its last dim, or one dim of size 1 where input's
    is not; or a number. The clamp passes the gradient through unchanged, as torch's."""
    _check_reduction("gaussian_nll_loss", reduction)
    if not isinstance(var, Tensor):
        if var < 0:
            raise ValueError("gaussian_nll_loss: var has negative entry/entries")
        var = ew.add(ew.mul(input.detach(), 0.0), float(var))
    elif var.numel() and ew.lt(var, 0).any().item():
        raise ValueError("gaussian_nll_loss: var has negative entry/entries")
    if var.shape != input.shape:
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = index.unsqueeze(var, -1)
        elif not (var.ndim == input.ndim and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError(f"gaussian_nll_loss: var of shape {list(var.shape)} does not fit input of shape "
                             f"{list(input.shape)}")
    var = ew.add(var, ew.sub(ew.clamp(var, min=eps), var).detach())
    d = ew.sub(input, target)
    loss = ew.mul(ew.add(ew.log(var), ew.div(ew.mul(d, d), var)), 0.5)
    if full:
        loss = ew.add(loss, 0.5 * math.log(2 * math.pi))
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """exp(input) - target input (log_input), else input - target log(input + eps); full adds
    Stirling's target log target - target + log(2 pi target) / 2 where target > 1."""
    if _autocast_active.on:
        input, target = autocast_inputs("fp32", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("poisson_nll_loss", reduction)
    if log_input:
        loss = ew.sub(ew.exp(input), ew.mul(target, input))
    else:
        loss = ew.sub(input, ew.mul(target, ew.log(ew.add(input, eps))))
    if full:
        above = ew.gt(target, 1)
        t = ew.where(above, target, 2.0)  # keeps the unused branch (and its gradient) finite
        stirling = ew.add(ew.sub(ew.mul(t, ew.log(t)), t), ew.mul(ew.log(ew.mul(t, 2 * math.pi)), 0.5))
        loss = ew.add(loss, ew.where(above, stirling, 0.0))
    return _reduce(loss, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-y x))."""
    if _autocast_active.on:
        input, target = autocast_inputs("fp32", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("soft_margin_loss", reduction)
    _broadcast_target("soft_margin_loss", input, target, warn=False)
    return _reduce(softplus(ew.neg(ew.mul(input, target)), threshold=math.inf), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-(y log sigmoid(x) + (1 - y) log sigmoid(-x)) (times weight), averaged over the classes."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("multilabel_soft_margin_loss", reduction)
    _broadcast_target("multilabel_soft_margin_loss", input, target, warn=False)
    log_sig = ew.neg(softplus(ew.neg(input), threshold=math.inf))
    log_sig_neg = ew.neg(softplus(input, threshold=math.inf))
    loss = ew.neg(ew.add(ew.mul(target, log_sig), ew.mul(ew.sub(1.0, target), log_sig_neg)))
    class_dim = input.ndim - 1
    loss = ew.div(_weighted(loss, weight).sum(class_dim), input.shape[class_dim])
    return _reduce(loss, reduction)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """sum over targets j and non-targets k of max(0, 1 - (x[y_j] - x[k])), over the classes.
    target: class indices of input's shape; the first -1 ends a sample's targets."""
    if _autocast_active.on:
        (input,) = autocast_inputs("fp32", input)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("multilabel_margin_loss", reduction)
    if input.ndim not in (1, 2) or tuple(target.shape) != tuple(input.shape) or target.dtype != _C.int64:
        raise ValueError(f"multilabel_margin_loss: expected a 1-D or 2-D input and an int64 target of its shape, "
                         f"got {list(input.shape)} and {list(target.shape)} ({target.dtype.name})")
    x = input if input.ndim == 2 else index.unsqueeze(input, 0)
    y = target if target.ndim == 2 else index.unsqueeze(target, 0)
    classes = x.shape[1]
    valid = cumprod(ew.ne(y, -1).to(_C.int64), 1)  # 1 before the first -1
    safe = ew.mul(y, valid)
    is_target = ew.mul(one_hot(safe, classes), index.unsqueeze(valid, 2)).sum(1).bool()
    picked = gather(x, 1, safe)  # x[y_j]: [N, C]
    terms = relu(ew.add(ew.sub(index.unsqueeze(x, 1), index.unsqueeze(picked, 2)), 1.0))  # [N, j, k]
    keep = ew.logical_and(index.unsqueeze(valid.bool(), 2), index.unsqueeze(ew.logical_not(is_target), 1))
    loss = ew.div(ew.where(keep, terms, 0.0).sum((1, 2)), classes)
    return _reduce(loss if input.ndim == 2 else index.reshape(loss, ()), reduction)
