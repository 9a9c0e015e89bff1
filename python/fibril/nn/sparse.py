"""Embedding: a lookup table of num_embeddings rows; the rows of padding_idx get no gradient
and start at zero; with max_norm, the rows looked up are first renormalized in place to at
most that norm; with scale_grad_by_freq, each row's gradient is divided by the number of
times the input holds it, as torch.nn.Embedding. EmbeddingBag and embedding_bag: the sum,
mean or max of the rows of each bag, as torch's. Sparse gradients are not supported."""

import numpy as np

from .. import _C, creation
from ..autograd import Function, no_grad
from ..ops import elementwise as ew
from ..ops.gather import embedding as lookup
from ..ops.gather import index_add, index_select
from ..ops.join import cat
from ..ops.reduce import amax
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None):
        super().__init__()
        if sparse:
            raise NotImplementedError("Embedding: sparse gradients are not supported")
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx {padding_idx} must be within num_embeddings ({num_embeddings})")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        if _weight is None:
            self.weight = Parameter(creation.empty(num_embeddings, embedding_dim, device=device, dtype=dtype),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Shape of weight {list(_weight.shape)} does not match num_embeddings and "
                                 f"embedding_dim ({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx].fill_(0.0)

    def forward(self, indices):
        return embedding(indices, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq, self.sparse)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, sparse=False):
        if embeddings.ndim != 2:
            raise ValueError(f"Embeddings parameter is expected to be 2-dimensional, got {list(embeddings.shape)}")
        rows, dim = embeddings.shape
        return cls(rows, dim, padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse, _weight=embeddings, _freeze=freeze)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse:
            s += ", sparse=True"
        return s


def embedding_renorm_(weight, indices, max_norm, norm_type=2.0):
    """Scales, in place and without a gradient, the rows of weight at indices whose norm
    exceeds max_norm down to max_norm (torch.embedding_renorm_: scale max_norm / (norm + 1e-7))."""
    rows = creation.tensor(np.unique(np.asarray(indices.cpu().numpy(), dtype=np.int64)), device=weight.device)
    with no_grad():
        values = weight.index_select(0, rows)
        norms = values.norm(p=norm_type, dim=1, keepdim=True)
        scale = ew.where(norms > max_norm, max_norm / (norms + 1e-7), creation.ones_like(norms))
        weight[rows] = values * scale


class _ScaleGrad(Function):
    """The identity, its gradient multiplied by `scale` (broadcast)."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x._data

    @staticmethod
    def backward(ctx, g):
        return _ScaledGradient.apply(g, ctx.scale), None


class _ScaledGradient(Function):
    """g times scale, differentiated as the identity: torch's embedding double backward drops
    scale_grad_by_freq's scale (the forward's own gradient, _ScaleGrad, already applies it)."""

    @staticmethod
    def forward(ctx, g, scale):
        return ew.mul(g, scale)

    @staticmethod
    def backward(ctx, gg):
        return gg, None


def _inverse_frequencies(indices):
    """1 / (how often each index occurs in the numpy array indices), per index, shaped
    [*indices.shape, 1]."""
    _, position, counts = np.unique(indices, return_inverse=True, return_counts=True)
    return (1.0 / counts[position.reshape(-1)]).reshape(indices.shape + (1,))


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    """torch.nn.functional.embedding: weight's rows at input; the padding_idx row gets no
    gradient; max_norm renormalizes the rows looked up in place first; scale_grad_by_freq
    divides each row's gradient by how often input holds it."""
    if sparse:
        raise NotImplementedError("embedding: sparse gradients are not supported")
    if max_norm is not None:
        embedding_renorm_(weight, input, max_norm, norm_type)
    out = lookup(input, weight)
    if scale_grad_by_freq and out.requires_grad:
        scale = _inverse_frequencies(np.asarray(input.cpu().numpy(), dtype=np.int64))
        out = _ScaleGrad.apply(out, creation.tensor(scale, dtype=weight.dtype, device=weight.device))
    if padding_idx is None or not weight.requires_grad:
        return out
    if padding_idx < 0:
        padding_idx += weight.shape[0]
    # The padding row's values, read without a gradient where indices hit it.
    hit = ew.eq(input, padding_idx).unsqueeze(-1)
    return ew.where(hit, lookup(input, weight.detach()), out)


def _check_index_dtype(name, t):
    if t.dtype not in (_C.int64, _C.int32):
        raise TypeError(f"embedding_bag: {name} must be int64 or int32, got {t.dtype}")


def _bags(input, offsets, include_last_offset):
    """The flat indices, the bag of each (-1: after the last bag's end), and the number of bags."""
    _check_index_dtype("input", input)
    if isinstance(offsets, Tensor):
        _check_index_dtype("offsets", offsets)
    indices = np.asarray(input.cpu().numpy(), dtype=np.int64)
    if indices.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             f"fixed length sequences. However, found offsets of type {type(offsets).__name__}")
        return indices.reshape(-1), np.repeat(np.arange(indices.shape[0]), indices.shape[1]), indices.shape[0]
    if indices.ndim != 1:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {indices.ndim}")
    if offsets is None:
        raise ValueError("offsets has to be a 1D Tensor but got None")
    starts = np.asarray(offsets.cpu().numpy() if isinstance(offsets, Tensor) else offsets, dtype=np.int64)
    if starts.ndim != 1:
        raise ValueError("offsets has to be a 1D Tensor")
    if len(starts) and starts[0] != 0:
        raise ValueError(f"offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from "
                         f"position 0. However, got {starts[0]}")
    if np.any(np.diff(starts) < 0) or (len(starts) and starts[-1] > len(indices)):
        raise ValueError("offsets must be non-decreasing and at most the number of indices")
    count = len(starts) - 1 if include_last_offset else len(starts)
    bag = np.searchsorted(starts[:count], np.arange(len(indices)), side="right") - 1
    if include_last_offset and len(starts):
        bag[starts[-1]:] = -1  # past the last bag's end (torch's result there depends on its code path)
    return indices, bag, count


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """torch.nn.functional.embedding_bag: one row per bag, the sum (weighted by
    per_sample_weights), mean or max of its rows. Bags are the rows of 2D input, or runs of 1D
    input that start at offsets. padding_idx entries are skipped; an empty bag gives zeros.
    In max mode, a gradient tie is shared among the tied rows."""
    # scale_grad_by_freq is left out: torch 2.13's CPU kernel does not divide by each row's own
    # frequency (indices [[0], [2], [0]] halve row 2's gradient too), and fibril would differ
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding_bag: scale_grad_by_freq and sparse gradients are not supported")
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                      f"supported for mode='sum' (got mode='{mode}')")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"embedding_bag: per_sample_weights of shape {list(per_sample_weights.shape)} must have "
                             f"input's shape {list(input.shape)}")
    indices, bag, count = _bags(input, offsets, include_last_offset)
    if padding_idx is not None:
        rows = weight.shape[0]
        if not -rows <= padding_idx < rows:
            raise ValueError(f"embedding_bag: padding_idx must be within [-{rows}, {rows}) for weight of shape "
                             f"{list(weight.shape)}, got {padding_idx}")
        padding_idx %= rows
    keep = np.flatnonzero((bag >= 0) & (indices != padding_idx))
    dev = weight.device  # the bags are worked out on the host, the rows gathered on weight's device
    kept = creation.tensor(keep, device=dev)
    rows = embedding(creation.tensor(indices[keep], device=dev), weight, max_norm=max_norm, norm_type=norm_type)
    bag = bag[keep]
    sizes = np.bincount(bag, minlength=count)
    if mode == "max":
        # [count, largest bag] positions into rows; the extra last row (-inf) fills short bags.
        slots = np.full((count, max(sizes.max(initial=0), 1)), len(keep), dtype=np.int64)
        slots[bag, np.arange(len(bag)) - np.concatenate([[0], np.cumsum(sizes)])[bag]] = np.arange(len(bag))
        fill = creation.full((1, weight.shape[1]), float("-inf"), dtype=weight.dtype, device=dev)
        table = index_select(cat([rows, fill], 0), 0, creation.tensor(slots.reshape(-1), device=dev))
        out = amax(table.reshape(count, slots.shape[1], weight.shape[1]), 1)
        empty = creation.tensor(sizes == 0, device=dev).unsqueeze(1)
        return ew.where(empty, creation.zeros_like(out), out)
    if per_sample_weights is not None:
        rows = rows * index_select(per_sample_weights.reshape(-1), 0, kept).unsqueeze(1)
    zeros = creation.zeros(count, weight.shape[1], dtype=weight.dtype, device=dev)
    out = index_add(zeros, 0, creation.tensor(bag, device=dev), rows)
    if mode == "mean":
        out = out / creation.tensor(np.maximum(sizes, 1)[:, None], dtype=weight.dtype, device=dev)
    return out


class EmbeddingBag(Module):
    """A lookup table whose forward(input, offsets=None, per_sample_weights=None) reduces each
    bag of rows (mode sum, mean or max) to one, as torch.nn.EmbeddingBag."""

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                 mode="mean", sparse=False, _weight=None, include_last_offset=False, padding_idx=None, device=None,
                 dtype=None):
        super().__init__()
        if scale_grad_by_freq or sparse:
            raise NotImplementedError("EmbeddingBag: scale_grad_by_freq and sparse gradients are not supported")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx {padding_idx} must be within num_embeddings ({num_embeddings})")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.max_norm, self.norm_type, self.mode = max_norm, norm_type, mode
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        self.include_last_offset = include_last_offset
        if _weight is None:
            self.weight = Parameter(creation.empty(num_embeddings, embedding_dim, device=device, dtype=dtype))
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Shape of weight {list(_weight.shape)} does not match num_embeddings and "
                                 f"embedding_dim ({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight)

    reset_parameters = Embedding.reset_parameters

    def forward(self, input, offsets=None, per_sample_weights=None):
        return embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                             self.mode, self.sparse, per_sample_weights, self.include_last_offset, self.padding_idx)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                        mode="mean", sparse=False, include_last_offset=False, padding_idx=None):
        if embeddings.ndim != 2:
            raise ValueError(f"Embeddings parameter is expected to be 2-dimensional, got {list(embeddings.shape)}")
        rows, dim = embeddings.shape
        bag = cls(rows, dim, max_norm=max_norm, norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq,
                  mode=mode, sparse=sparse, _weight=embeddings, include_last_offset=include_last_offset,
                  padding_idx=padding_idx)
        bag.weight.requires_grad_(not freeze)
        return bag

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        s += f", mode='{self.mode}'"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s
