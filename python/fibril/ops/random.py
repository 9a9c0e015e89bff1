"""Random family ops with autograd: dropout, and torch's channel-wise (dropout1d/2d/3d) and
alpha variants. Dropout's forward is one _C call that returns the output and the scaled mask
(0 or 1/(1-p)); backward multiplies by that same mask. The variants multiply the input by a
mask drawn with bernoulli_ (recorded as products: autograd differentiates them)."""

import warnings

from .. import _C, creation
from ..autograd import Function
from ..random import _gen, bernoulli_
from ..tensor import Tensor
from .index import inplace_result

_SELU_NEG = 1.7580993408473766  # selu's scale * alpha: -this is selu's limit at -inf


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, p, generator):
        out, mask = _C.dropout(x._data, p, *_gen(generator)._next(x.numel()))
        ctx.mask = Tensor._wrap(mask)
        return Tensor._wrap(out)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.mask, None, None


def _check_p(p):
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True, inplace=False, *, generator=None):
    """Zeroes each element with probability p and scales the rest by 1/(1-p); the identity
    (the input itself) when not training. inplace: written into input."""
    _check_p(p)
    if not training:
        return input
    if inplace:
        return inplace_result(input, lambda x: Dropout.apply(x, float(p), generator))
    return Dropout.apply(input, float(p), generator)


def _masked_dropout(input, p, training, inplace, mask_dims, alpha):
    """ATen's _dropout_impl: the input itself when not training, p == 0 or it has no elements;
    zeros when p == 1; else input times a keep mask, drawn per element (mask_dims None) or per
    index of the first mask_dims dims (feature dropout: one draw per (n, c)), scaled by
    1/(1-p), or (alpha) mapped so that the input's mean and variance are kept."""
    if not training or p == 0 or input.numel() == 0:
        return input

    def dropped(x):
        if p == 1:
            return x * creation.zeros((), dtype=x.dtype, device=x.device)
        if mask_dims is not None and x.ndim < mask_dims:
            raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
        shape = tuple(x.shape) if mask_dims is None else tuple(x.shape[:mask_dims]) + (1,) * (x.ndim - mask_dims)
        keep = bernoulli_(creation.empty(shape, dtype=x.dtype, device=x.device), 1 - p)
        if not alpha:
            return x * (keep / (1 - p))
        a = ((_SELU_NEG ** 2 * p + 1) * (1 - p)) ** -0.5
        return x * (keep * a) + (keep - 1) * (_SELU_NEG * a) + _SELU_NEG * a * p

    return inplace_result(input, dropped) if inplace else dropped(input)


def _warn_deprecated_rank(name, ndim, spatial):
    warnings.warn(f"{name}: Received a {ndim}-D input to {name}, which is deprecated and will result in an error in "
                  f"a future release. To retain the behavior and silence this warning, please use dropout instead. "
                  f"Note that {name} exists to provide channel-wise dropout on inputs with {spatial} spatial "
                  f"dimensions, a channel dimension, and an optional batch dimension (i.e. {spatial + 1}D or "
                  f"{spatial + 2}D inputs).", stacklevel=3)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, L) or (C, L) input: one draw per (n, c) or per c."""
    _check_p(p)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input (shape "
                           f"{list(input.shape)}). Note that dropout1d exists to provide channel-wise dropout on "
                           "inputs with 1 spatial dimension, a channel dimension, and an optional batch dimension "
                           "(i.e. 2D or 3D inputs).")
    return _masked_dropout(input, p, training, inplace, 2 if input.ndim == 3 else 1, False)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, H, W) input: one draw per (n, c). As torch 2.13, a 3-D
    input is taken as (N, C, L), with a warning (not as unbatched (C, H, W)); other ranks warn
    and drop along their first two dims."""
    _check_p(p)
    if input.ndim not in (3, 4):
        _warn_deprecated_rank("dropout2d", input.ndim, 2)
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior "
                      "is desired - input is interpreted as shape (N, C, L), where C is the channel dim. This "
                      "behavior will change in a future release to interpret the input as one without a batch "
                      "dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please "
                      "switch to using dropout1d instead.", stacklevel=2)
    return _masked_dropout(input, p, training, inplace, 2, False)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, D, H, W) or unbatched (C, D, H, W) input; other ranks
    warn and are taken as unbatched, as torch's."""
    _check_p(p)
    if input.ndim not in (4, 5):
        _warn_deprecated_rank("dropout3d", input.ndim, 3)
    return _masked_dropout(input, p, training, inplace, 2 if input.ndim == 5 else 1, False)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropped elements are set to selu's negative limit, then an affine map restores the
    input's mean and variance (as ATen's alpha dropout)."""
    _check_p(p)
    return _masked_dropout(input, p, training, inplace, None, True)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """alpha_dropout with one draw per (n, c) of (N, C, *) input."""
    _check_p(p)
    return _masked_dropout(input, p, training, inplace, 2, True)
