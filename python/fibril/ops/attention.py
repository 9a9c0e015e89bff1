"""Attention family: scaled_dot_product_attention as one flash-style _C kernel, forward and
backward (the log-sum-exp of each row is saved, the probabilities are recomputed), with
PyTorch's semantics. A row whose keys are all masked gives 0, and 0 gradients, as PyTorch 2.13
on CPU does. Batch and head dims broadcast: the kernel reads stride-0 views in place, and
expand's backward sums their gradients back."""

import math

import numpy as np

from .. import _C
from ..amp.policy import autocast_inputs, active as _autocast_active
from ..autograd import Function, is_grad_enabled
from ..autograd.composed import composed_gradients
from ..creation import arange
from ..random import _gen
from ..tensor import Tensor
from ..typeinfo import finfo
from . import elementwise as ew
from . import index
from .index import expand
from .matmul import matmul
from .softmax import softmax


def _broadcast_lead(query, key, value):
    """query, key and value expanded (zero-copy) to their broadcast batch and head dims."""
    qkv = (query, key, value)
    if min(t.ndim for t in qkv) < 2:
        return qkv  # the op's checks report it
    try:
        lead = np.broadcast_shapes(*(tuple(t.shape[:-2]) for t in qkv))
    except ValueError:
        raise ValueError(f"scaled_dot_product_attention: query, key and value must have broadcastable batch and "
                         f"head dims (query {list(query.shape)}, key {list(key.shape)}, value {list(value.shape)})"
                         ) from None
    return tuple(t if tuple(t.shape[:-2]) == lead else expand(t, *lead, *t.shape[-2:]) for t in qkv)


class ScaledDotProductAttention(Function):
    """Under create_graph the backward recomputes attention from differentiable ops (the L x S
    scores materialized; autograd.composed), except with dropout, whose mask the kernel draws."""

    @classmethod
    def double_backward_unsupported(cls, ctx):
        return f"{cls.__name__} with dropout" if ctx.args[0] > 0 else None

    @staticmethod
    def forward(ctx, q, k, v, mask, dropout_p, is_causal, scale, rng):
        mask_data = None if mask is None else mask._data
        out, lse = _C.attention(q._data, k._data, v._data, mask_data, dropout_p, is_causal, scale, *rng)
        out_t = Tensor._wrap(out)
        ctx.save_for_backward(q, k, v, mask, out_t)
        ctx.lse, ctx.args = lse, (dropout_p, is_causal, scale) + rng
        return out_t

    @staticmethod
    def backward(ctx, g):
        q, k, v, mask, out = ctx.saved_tensors
        dropout_p, is_causal, scale, seed, offset = ctx.args
        if is_grad_enabled() and dropout_p == 0:
            compose = lambda q, k, v: _attention_composed(q, k, v, mask, is_causal, scale)  # noqa: E731
            return composed_gradients(compose, (q, k, v), ctx.needs_input_grad, g) + (None,) * 5
        gq, gk, gv = _C.attention_backward(g._data, q._data, k._data, v._data, out._data, ctx.lse,
                                           None if mask is None else mask._data, dropout_p, is_causal, scale,
                                           seed, offset)
        return Tensor._wrap(gq), Tensor._wrap(gk), Tensor._wrap(gv), None, None, None, None, None


def _attention_composed(q, k, v, mask, is_causal, scale):
    """The kernel's attention without dropout, from differentiable ops; rows with every key
    masked give 0, as the kernel."""
    scores = ew.mul(matmul(q, index.transpose(k, -2, -1)), 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale)
    allowed = None
    if is_causal:
        rows, cols = scores.shape[-2:]
        allowed = ew.ge(index.unsqueeze(arange(rows), 1), arange(cols))  # key j <= query i
    if mask is not None and mask.dtype == _C.bool:
        allowed = mask if allowed is None else ew.logical_and(allowed, mask)
    elif mask is not None:
        scores = ew.add(scores, mask)
    if allowed is not None:
        scores = ew.where(allowed, scores, -math.inf)
    masked = ew.eq(scores, -math.inf)
    # a finite stand-in for -inf: a fully masked row then softmaxes to finite values (zeroed below)
    scores = ew.where(masked, finfo(scores.dtype).min, scores)
    weights = ew.where(masked.all(-1, keepdim=True), 0.0, softmax(scores, -1))
    return matmul(weights, v)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False, *, generator=None):
    """softmax(query key^T scale + mask) value over the last two dims, the leading dims batch
    (and heads), broadcast between query, key and value. attn_mask: bool (True attends) or
    additive float, broadcastable to (*, L, S); is_causal keeps key j <= query i (top-left
    aligned, as PyTorch) and combines with attn_mask. dropout_p applies whenever it is > 0 (as
    torch's function: pass 0.0 in eval). No gradient flows to attn_mask."""
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa is not supported yet")
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"scaled_dot_product_attention: {name} must be a Tensor, got {type(t).__name__}")
    if attn_mask is not None and not isinstance(attn_mask, Tensor):
        raise TypeError(f"scaled_dot_product_attention: attn_mask must be a Tensor, got {type(attn_mask).__name__}")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], got {dropout_p}")
    if _autocast_active.on:
        query, key, value, attn_mask = autocast_inputs("lower", query, key, value, attn_mask)
    query, key, value = _broadcast_lead(query, key, value)
    rng = (0, 0)
    if dropout_p > 0:
        lead = math.prod(query.shape[:-1]) if query.ndim >= 2 else 0
        rng = _gen(generator)._next(lead * key.shape[-2] if key.ndim >= 2 else 0)
    return ScaledDotProductAttention.apply(query, key, value, attn_mask, float(dropout_p), bool(is_causal),
                                           None if scale is None else float(scale), rng)
