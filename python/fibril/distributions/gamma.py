"""Gamma(concentration, rate). Samples come from numpy's gamma sampler (seeded from fibril's
generator); there is no rsample, as the sample's gradient in concentration needs a kernel
fibril lacks."""

import numbers

import fibril
from . import constraints
from .exp_family import ExponentialFamily
from .utils import broadcast_all, numpy_rng


def _standard_gamma(concentration):
    """Gamma(concentration, 1) samples, no gradient, clamped away from 0 as torch's."""
    values = numpy_rng().standard_gamma(concentration.detach().numpy())
    out = fibril.tensor(values, dtype=concentration.dtype).reshape(concentration.shape)
    return out.clamp(min=fibril.finfo(out.dtype).tiny)


class Gamma(ExponentialFamily):
    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = broadcast_all(concentration, rate)
        scalar = isinstance(concentration, numbers.Number) and isinstance(rate, numbers.Number)
        super().__init__(() if scalar else self.concentration.size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_parameters(Gamma, batch_shape, _instance, ("concentration", "rate"))

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.pow(2)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        with fibril.no_grad():
            value = _standard_gamma(self.concentration.expand(shape)) / self.rate.expand(shape)
            return value.clamp(min=fibril.finfo(value.dtype).tiny)

    def log_prob(self, value):
        value = fibril.as_tensor(value, dtype=self.rate.dtype)
        if self._validate_args:
            self._validate_sample(value)
        return (fibril.xlogy(self.concentration, self.rate) + fibril.xlogy(self.concentration - 1, value)
                - self.rate * value - fibril.lgamma(self.concentration))

    def entropy(self):
        return (self.concentration - fibril.log(self.rate) + fibril.lgamma(self.concentration)
                + (1.0 - self.concentration) * fibril.digamma(self.concentration))
