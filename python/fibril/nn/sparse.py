"""Embedding: a lookup table of num_embeddings rows; the rows of padding_idx get no gradient
and start at zero; with max_norm, the rows looked up are first renormalized in place to at
most that norm, as torch.nn.Embedding."""

import numpy as np

from .. import creation
from ..autograd import no_grad
from ..ops import elementwise as ew
from ..ops.gather import embedding as lookup
from . import init
from .module import Module
from .parameter import Parameter


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None):
        super().__init__()
        if scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: scale_grad_by_freq and sparse gradients are not supported")
        self.max_norm, self.norm_type = max_norm, norm_type
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
        return embedding(indices, self.weight, self.padding_idx, self.max_norm, self.norm_type)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None, norm_type=2.0):
        rows, dim = embeddings.shape
        return cls(rows, dim, padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type, _weight=embeddings,
                   _freeze=freeze)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        return s


def embedding_renorm_(weight, indices, max_norm, norm_type=2.0):
    """Scales, in place and without a gradient, the rows of weight at indices whose norm
    exceeds max_norm down to max_norm (torch.embedding_renorm_: scale max_norm / (norm + 1e-7))."""
    rows = creation.tensor(np.unique(np.asarray(indices.numpy(), dtype=np.int64)))
    with no_grad():
        values = weight.index_select(0, rows)
        norms = values.norm(p=norm_type, dim=1, keepdim=True)
        scale = ew.where(norms > max_norm, max_norm / (norms + 1e-7), creation.ones_like(norms))
        weight[rows] = values * scale


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    """torch.nn.functional.embedding: weight's rows at input; the padding_idx row gets no
    gradient; max_norm renormalizes the rows looked up in place first."""
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: scale_grad_by_freq and sparse gradients are not supported")
    if max_norm is not None:
        embedding_renorm_(weight, input, max_norm, norm_type)
    out = lookup(input, weight)
    if padding_idx is None or not weight.requires_grad:
        return out
    if padding_idx < 0:
        padding_idx += weight.shape[0]
    # The padding row's values, read without a gradient where indices hit it.
    hit = ew.eq(input, padding_idx).unsqueeze(-1)
    return ew.where(hit, lookup(input, weight.detach()), out)
