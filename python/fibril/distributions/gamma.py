"""Gamma(concentration, rate): rsample is a standard gamma draw (numpy's sampler, seeded from
fibril's generator, differentiable by the implicit gradient of _standard_gamma.py) over rate."""

import numbers

import fibril
from . import constraints
from .exp_family import ExponentialFamily
from ._standard_gamma import _standard_gamma
from .utils import broadcast_all


class Gamma(ExponentialFamily):
    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

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

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        value = _standard_gamma(self.concentration.expand(shape)) / self.rate.expand(shape)
        return value.clamp(min=fibril.finfo(value.dtype).tiny)

    def log_prob(self, value):
        value = fibril.as_tensor(value, dtype=self.rate.dtype)
        if self._validate_args:
            self._validate_sample(value)
        return (fibril.xlogy(self.concentration, self.rate) + fibril.xlogy(self.concentration - 1, value)
                - self.rate * value - fibril.lgamma(self.concentration))

    def cdf(self, value):
        # a tensor is used as it is (as torch): as_tensor with a dtype would cut its gradient
        if not isinstance(value, fibril.Tensor):
            value = fibril.as_tensor(value, dtype=self.rate.dtype)
        if self._validate_args:
            self._validate_sample(value)
        return fibril.special.gammainc(self.concentration, self.rate * value)

    def entropy(self):
        return (self.concentration - fibril.log(self.rate) + fibril.lgamma(self.concentration)
                + (1.0 - self.concentration) * fibril.digamma(self.concentration))
