"""Cauchy(loc, scale): heavy tails, no mean or variance; rsample by the inverse cdf."""

import math

import fibril
from .distribution import Distribution
from .utils import LocScale


class Cauchy(LocScale, Distribution):
    @property
    def mean(self):
        return fibril.full(tuple(self._extended_shape()), math.nan, dtype=self.loc.dtype)

    @property
    def variance(self):
        return fibril.full(tuple(self._extended_shape()), math.inf, dtype=self.loc.dtype)

    def _standard_rsample(self, shape):
        return self._standard_icdf(fibril.rand(shape, dtype=self.loc.dtype))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -math.log(math.pi) - self.scale.log() - (((value - self.loc) / self.scale) ** 2).log1p()

    def _standard_cdf(self, z):
        return fibril.atan(z) / math.pi + 0.5

    def _standard_icdf(self, value):
        return fibril.tan(math.pi * (value - 0.5))

    def entropy(self):
        return math.log(4 * math.pi) + self.scale.log()
