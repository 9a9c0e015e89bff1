"""Statistics and numerical integration composed from differentiable ops: cov, corrcoef,
trapezoid (trapz), cumulative_trapezoid, gradient, combinations; and histogram, which (as
torch's) has no gradient."""

import collections
import itertools
import math
import numbers
import warnings

import numpy as np

from .. import _C
from ..creation import get_default_dtype, tensor
from ..tensor import Tensor
from . import elementwise as ew
from . import index
from .gather import index_select
from .matmul import mm
from .reduce import cumsum, diff, sum

HistogramResult = collections.namedtuple("histogram", ["hist", "bin_edges"])


def _floating(x):
    return x if x.dtype.is_floating_point else x.to(get_default_dtype())


def cov(input, *, correction=1, fweights=None, aweights=None):
    """Covariance of the rows (variables) of a 2-D input over its columns (observations), or
    the variance of a 1-D input; fweights (integer counts) and aweights weight the observations."""
    if input.ndim > 2:
        raise ValueError(f"cov(): expected input to have two or fewer dimensions but got an input with "
                         f"{input.ndim} dimensions")
    if input.dtype == _C.bool:
        raise TypeError("cov(): bool dtype is not supported for input")
    x = _floating(input if input.ndim == 2 else index.reshape(input, (1, -1)))
    weights = None
    if fweights is not None:
        if fweights.dtype.is_floating_point or fweights.dtype == _C.bool:
            raise TypeError("cov(): expected fweights to have integral dtype")
        if fweights.ndim > 1 or fweights.numel() != x.shape[1]:
            raise ValueError(f"cov(): expected fweights to be a 1-D tensor of {x.shape[1]} elements")
        if bool(ew.lt(fweights, 0).any()):
            raise ValueError("cov(): fweights cannot be negative")
        weights = fweights
    if aweights is not None:
        if not aweights.dtype.is_floating_point:
            raise TypeError("cov(): expected aweights to have floating point dtype")
        if aweights.ndim > 1 or aweights.numel() != x.shape[1]:
            raise ValueError(f"cov(): expected aweights to be a 1-D tensor of {x.shape[1]} elements")
        if bool(ew.lt(aweights, 0).any()):
            raise ValueError("cov(): aweights cannot be negative")
        weights = aweights if weights is None else ew.mul(weights, aweights)
    if weights is None:
        w_sum = x.shape[1]
        avg = x.mean(1)
        norm = w_sum - correction
    else:
        w_sum = weights.sum()
        if not bool(w_sum):
            raise ValueError("cov(): weights sum to zero, can't be normalized")
        avg = ew.div(sum(ew.mul(x, weights), 1), w_sum)
        if correction == 0:
            norm = w_sum
        elif aweights is None:
            norm = ew.sub(w_sum, correction)
        else:
            norm = ew.sub(w_sum, ew.div(ew.mul(sum(ew.mul(weights, aweights)), correction), w_sum))
    if float(norm) <= 0:
        warnings.warn("cov(): degrees of freedom is <= 0. Correction should be strictly less than the number "
                      "of observations.", RuntimeWarning)
        norm = 0
    centred = ew.sub(x, index.unsqueeze(avg, 1))
    weighted = centred if weights is None else ew.mul(centred, weights)
    return index.squeeze(ew.div(mm(centred, index.t(weighted)), norm))


def corrcoef(input):
    """Pearson correlation coefficients of the rows of input (cov normalised by the standard
    deviations), clipped to [-1, 1]."""
    c = cov(input)
    if c.ndim == 0:
        return ew.div(c, c)
    std = ew.sqrt(c.diagonal())
    c = ew.div(ew.div(c, index.unsqueeze(std, 1)), index.unsqueeze(std, 0))
    return ew.clamp(c, -1, 1)


def _trapezoid_terms(y, x, dx, dim):
    """The trapezoids' areas along dim (one fewer than y's length there)."""
    n = y.shape[dim]
    sides = ew.add(index.narrow(y, dim, 1, n - 1), index.narrow(y, dim, 0, n - 1))
    if x is None:
        return ew.mul(sides, dx / 2)
    if x.ndim == 1:
        if x.shape[0] != n:
            raise ValueError(f"trapezoid: there must be one `x` value for each sample point, got {x.shape[0]} "
                             f"and {n}")
        widths = index.reshape(diff(x), (n - 1,) + (1,) * (y.ndim - 1 - dim % y.ndim))
    else:
        widths = diff(x, dim=dim)
    return ew.div(ew.mul(sides, widths), 2)


def _trapezoid_args(y, x, dx, dim):
    if x is not None and dx is not None:
        raise TypeError("trapezoid: received both x and dx; only one may be given")
    if isinstance(x, numbers.Number):
        x, dx = None, x
    return x, 1 if dx is None else dx, dim % y.ndim if y.ndim else dim


def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The trapezoidal rule's integral of y along dim, over sample points x or a spacing dx."""
    x, dx, dim = _trapezoid_args(y, x, dx, dim)
    if y.shape[dim] == 0:
        return sum(_floating(y), dim)
    return sum(_floating(_trapezoid_terms(y, x, dx, dim)), dim)


def trapz(y, x=None, *, dx=None, dim=-1):
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """trapezoid's running integral along dim: one fewer value than y there."""
    x, dx, dim = _trapezoid_args(y, x, dx, dim)
    if y.shape[dim] == 0:
        return _floating(y)
    return cumsum(_floating(_trapezoid_terms(y, x, dx, dim)), dim)


def _gradient_along(f, h, dim, edge_order):
    """np.gradient's second-order central differences along dim, with spacing h (a number or
    the coordinates as a 1-D tensor), first- or second-order one-sided differences at the edges."""
    n = f.shape[dim]
    if n < edge_order + 1:
        raise ValueError(f"torch.gradient expected each dimension size to be at least edge_order+1, got {n}")
    at = lambda t, start, length: index.narrow(t, dim, start, length)  # noqa: E731
    shape = [1] * f.ndim
    shape[dim] = -1
    if isinstance(h, Tensor):
        dxs = index.reshape(diff(_floating(h)), shape)
        h1, h2 = at(dxs, 0, n - 2), at(dxs, 1, n - 2)
        interior = ew.div(ew.add(ew.sub(ew.mul(ew.mul(h1, h1), at(f, 2, n - 2)),
                                        ew.mul(ew.mul(h2, h2), at(f, 0, n - 2))),
                                 ew.mul(ew.sub(ew.mul(h2, h2), ew.mul(h1, h1)), at(f, 1, n - 2))),
                          ew.mul(ew.mul(h1, h2), ew.add(h1, h2)))
        first, last = at(dxs, 0, 1), at(dxs, n - 2, 1)
    else:
        interior = ew.div(ew.sub(at(f, 2, n - 2), at(f, 0, n - 2)), 2 * h)
        first = last = h
    if edge_order == 1:
        start = ew.div(ew.sub(at(f, 1, 1), at(f, 0, 1)), first)
        end = ew.div(ew.sub(at(f, n - 1, 1), at(f, n - 2, 1)), last)
    elif isinstance(h, Tensor):
        raise NotImplementedError("gradient: edge_order=2 with coordinate tensors is not supported")
    else:
        start = ew.div(ew.add(ew.sub(ew.mul(at(f, 0, 1), -1.5), ew.mul(at(f, 2, 1), 0.5)), ew.mul(at(f, 1, 1), 2)),
                       h)
        end = ew.div(ew.sub(ew.add(ew.mul(at(f, n - 1, 1), 1.5), ew.mul(at(f, n - 3, 1), 0.5)),
                            ew.mul(at(f, n - 2, 1), 2)), h)
    from .join import cat

    return cat([start, interior, end], dim)


def gradient(input, *, spacing=1, dim=None, edge_order=1):
    """np.gradient: f's derivative estimate along each dim in `dim` (all by default), as a tuple;
    spacing is one number, one per dim, or a coordinate tensor per dim."""
    if edge_order not in (1, 2):
        raise ValueError(f"torch.gradient only supports edge_order=1 and edge_order=2, got {edge_order}")
    dims = list(range(input.ndim)) if dim is None else [dim] if isinstance(dim, int) else list(dim)
    dims = [d % input.ndim for d in dims]
    spacings = list(spacing) if isinstance(spacing, (list, tuple)) else [spacing] * len(dims)
    if len(spacings) != len(dims):
        raise ValueError(f"torch.gradient expected spacing to be unspecified, a scalar or a list of length "
                         f"{len(dims)}, but got a list of length {len(spacings)}")
    if any(isinstance(h, Tensor) and h.ndim != 1 for h in spacings):
        raise ValueError("torch.gradient expected each element of spacing to have one dimension")
    f = _floating(input)
    return tuple(_gradient_along(f, h, d, edge_order) for d, h in zip(dims, spacings))


def combinations(input, r=2, with_replacement=False):
    """The length-r combinations of a 1-D input's elements as rows (itertools' order)."""
    if input.ndim != 1:
        raise ValueError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    if r < 0:
        raise ValueError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return tensor([], dtype=input.dtype, device=input.device)
    choose = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = list(choose(range(input.shape[0]), r))
    picks = tensor(np.array(rows, dtype=np.int64).reshape(-1), device=input.device)
    return index.reshape(index_select(input, 0, picks), (len(rows), r))


def histogram(input, bins=100, *, range=None, weight=None, density=False):
    """(hist, bin_edges): counts (or summed weights; a density if asked) of input's values in
    `bins` equal bins over `range` (the data's by default), or in the bins between given edges."""
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"histogram: not implemented for {input.dtype.name} input")
    values = input.detach().cpu().numpy().astype(np.float64).reshape(-1)
    if isinstance(bins, Tensor):
        edges = bins.detach().cpu().numpy().astype(np.float64)
        if edges.ndim != 1 or edges.size < 2:
            raise ValueError(f"torch.histogram(): bins must be a 1-D tensor of at least 2 edges, got shape "
                             f"{list(bins.shape)}")
    else:
        if bins <= 0:
            raise ValueError(f"torch.histogram(): bins must be > 0, but got {bins}")
        low, high = range if range is not None else (values.min(), values.max()) if values.size else (0.0, 1.0)
        if low > high:
            raise ValueError(f"torch.histogram(): max must be larger than min, got min {low} and max {high}")
        if low == high:
            low, high = low - 0.5, high + 0.5
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"torch.histogram(): range of [{low}, {high}] is not finite")
        edges = np.linspace(low, high, bins + 1)
    w = None if weight is None else weight.detach().cpu().numpy().astype(np.float64).reshape(-1)
    hist, edges = np.histogram(values, bins=edges, weights=w, density=density)
    as_tensor = lambda a: tensor(a, dtype=input.dtype, device=input.device)  # noqa: E731
    return HistogramResult(as_tensor(hist), as_tensor(edges))


def _attach():
    Tensor.cov, Tensor.corrcoef, Tensor.histogram = cov, corrcoef, histogram


_attach()
