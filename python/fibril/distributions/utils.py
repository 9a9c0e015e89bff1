"""Helpers shared by the distributions: broadcasting parameters, probs <-> logits, lazy
parameters, the seeds numpy-backed samplers draw from fibril's generator, and the mixins of
the binary-trial and the location-scale families."""

import numbers
from functools import update_wrapper

import numpy as np

import fibril
from ..tensor import Size, Tensor
from . import constraints

euler_constant = 0.57721566490153286060


def broadcast_all(*values):
    """Numbers become tensors (of the first tensor's dtype, else the default dtype); all are then
    broadcast to one shape."""
    if not all(isinstance(v, (Tensor, numbers.Number)) for v in values):
        raise ValueError("Input arguments must all be instances of Number or fibril.Tensor.")
    dtype = next((v.dtype for v in values if isinstance(v, Tensor)), fibril.get_default_dtype())
    tensors = [v if isinstance(v, Tensor) else fibril.tensor(v, dtype=dtype) for v in values]
    return fibril.broadcast_tensors(*tensors)


def broadcast_shapes(*shapes):
    return Size(np.broadcast_shapes(*(tuple(s) for s in shapes)))


def _sum_rightmost(value, dim):
    """Sums the rightmost `dim` dimensions."""
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[:-dim]) + (-1,)).sum(-1)


def logits_to_probs(logits, is_binary=False):
    return fibril.sigmoid(logits) if is_binary else fibril.softmax(logits, dim=-1)


def clamp_probs(probs):
    eps = fibril.finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs, is_binary=False):
    ps_clamped = clamp_probs(probs)
    if is_binary:
        return fibril.log(ps_clamped) - fibril.log1p(-ps_clamped)
    return fibril.log(ps_clamped)


def numpy_rng():
    """A numpy Generator seeded from fibril's default generator, so samplers that need numpy
    (gamma) replay under fibril.manual_seed."""
    return np.random.default_rng(int(fibril.randint(0, 1 << 62, (1,)).item()))


class lazy_property:
    """A parameter computed on first access (with grad enabled) and then stored on the instance,
    as probs from logits; on the class it reads as a property (arg validation skips it)."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        update_wrapper(self, wrapped)

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        with fibril.enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


class BinaryTrials:
    """The probability of a success as probs and as logits, each computed from the other when
    only one was given (Bernoulli, Geometric, Binomial, NegativeBinomial)."""

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self):
        return logits_to_probs(self.logits, is_binary=True)


class LocScale:
    """loc + scale * X for a standard X (Cauchy, Laplace, Normal): loc and scale broadcast
    together, their constraints, expand, mean and mode loc; rsample, cdf and icdf from the
    class's _standard_rsample(shape), _standard_cdf(z) at z = (value - loc) / scale and
    _standard_icdf(p). Put it before the Distribution base: class Laplace(LocScale, Distribution)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        scalar = isinstance(loc, numbers.Number) and isinstance(scale, numbers.Number)
        super().__init__(() if scalar else self.loc.size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        # the family (Normal, ...), not a subclass of it: a subclass with its own __init__ must expand itself
        family = next(c for c in type(self).__mro__ if LocScale in c.__bases__)
        return self._expand_parameters(family, batch_shape, _instance, ("loc", "scale"))

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    def rsample(self, sample_shape=()):
        return self.loc + self.scale * self._standard_rsample(self._extended_shape(sample_shape))

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self._standard_cdf((value - self.loc) / self.scale)

    def icdf(self, value):
        return self.loc + self.scale * self._standard_icdf(value)


def set_counted_trials(dist, total_count, probs, logits):
    """dist.total_count and dist.probs or dist.logits, broadcast together (total_count in their
    dtype), and dist._param: the one given (Binomial, NegativeBinomial)."""
    if (probs is None) == (logits is None):
        raise ValueError("Either `probs` or `logits` must be specified, but not both.")
    name, value = ("probs", probs) if probs is not None else ("logits", logits)
    total_count, dist._param = broadcast_all(total_count, value)
    dist.total_count = total_count.type_as(dist._param)
    setattr(dist, name, dist._param)


def expand_counted_trials(dist, new, batch_shape):
    """new's total_count and given probs or logits: dist's, expanded to batch_shape."""
    new.total_count = dist.total_count.expand(batch_shape)
    for name in ("probs", "logits"):
        if name in dist.__dict__:
            setattr(new, name, getattr(dist, name).expand(batch_shape))
            new._param = getattr(new, name)
