"""Random family ops with autograd: dropout. Forward is one _C call that returns the output
and the scaled mask (0 or 1/(1-p)); backward multiplies by that same mask."""

from .. import _C
from ..autograd import Function
from ..random import _gen
from ..tensor import Tensor


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, p, generator):
        out, mask = _C.dropout(x._data, p, *_gen(generator)._next(x.numel()))
        ctx.mask = Tensor._wrap(mask)
        return Tensor._wrap(out)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.mask, None, None


def dropout(input, p=0.5, training=True, inplace=False, *, generator=None):
    """Zeroes each element with probability p and scales the rest by 1/(1-p); the identity
    (the input itself) when not training. inplace: written into input."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training:
        return input
    if inplace:
        from .index import inplace_result

        return inplace_result(input, lambda x: Dropout.apply(x, float(p), generator))
    return Dropout.apply(input, float(p), generator)
