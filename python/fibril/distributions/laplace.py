"""Laplace(loc, scale)."""

import fibril
from .distribution import Distribution
from .utils import LocScale


class Laplace(LocScale, Distribution):
    @property
    def variance(self):
        return 2 * self.scale.pow(2)

    @property
    def stddev(self):
        return (2 ** 0.5) * self.scale

    def _standard_rsample(self, shape):
        # u in (-1, 1): the open lower end keeps log1p(-|u|) finite.
        u = fibril.empty(shape, dtype=self.loc.dtype).uniform_(fibril.finfo(self.loc.dtype).eps - 1, 1)
        return -u.sign() * fibril.log1p(-u.abs())

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -fibril.log(2 * self.scale) - fibril.abs(value - self.loc) / self.scale

    def _standard_cdf(self, z):
        return 0.5 - 0.5 * z.sign() * fibril.expm1(-z.abs())

    def _standard_icdf(self, value):
        term = value - 0.5
        return -term.sign() * fibril.log1p(-2 * term.abs())

    def entropy(self):
        return 1 + fibril.log(2 * self.scale)
