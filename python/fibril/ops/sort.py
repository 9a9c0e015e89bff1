"""Sorting: sort, argsort, msort and topk with PyTorch's semantics (always stable: equal
values keep their input order; NaN sorts above every number). The values' gradient flows
back to the positions they came from (one scatter)."""

import collections
import operator

from .. import _C
from ..autograd import Function
from ..tensor import Tensor

SortResult = collections.namedtuple("sort", ["values", "indices"])
TopkResult = collections.namedtuple("topk", ["values", "indices"])


class _Sorted(Function):
    """values, indices = the first k of x's lines along dim, ordered (k None: all)."""

    @staticmethod
    def forward(ctx, x, k, dim, descending):
        if k is None:
            values, indices = _C.sort(x._data, dim, descending)
        else:
            values, indices = _C.topk(x._data, k, dim, descending)
        ctx.dim, ctx.shape = dim, x.shape
        indices = Tensor._wrap(indices)
        ctx.indices = indices
        return Tensor._wrap(values), indices

    @staticmethod
    def backward(ctx, g, _):
        from ..creation import zeros
        from .gather import scatter

        if not ctx.shape:  # a 0-d input is its own sort
            return g, None, None, None
        return scatter(zeros(ctx.shape, dtype=g.dtype, device=g.device), ctx.dim, ctx.indices, g), None, None, None


def sort(input, dim=-1, descending=False, stable=False):
    """(values, indices) of input sorted along dim (stable whatever `stable` says)."""
    return SortResult(*_Sorted.apply(input, None, dim, descending))


def argsort(input, dim=-1, descending=False, stable=False):
    return sort(input, dim, descending).indices


def msort(input):
    return sort(input, 0).values


def topk(input, k, dim=-1, largest=True, sorted=True):
    """(values, indices) of the k largest (smallest) elements along dim, in order (also when
    sorted=False, which only allows any order)."""
    if isinstance(k, bool) or not hasattr(k, "__index__"):
        raise TypeError(f"topk(): argument 'k' must be int, not {type(k).__name__}")
    return TopkResult(*_Sorted.apply(input, operator.index(k), dim, largest))


def _attach():
    Tensor.sort, Tensor.argsort, Tensor.msort, Tensor.topk = sort, argsort, msort, topk


_attach()
