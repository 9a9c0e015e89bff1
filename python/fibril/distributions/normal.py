"""Normal(loc, scale)."""

import math

import fibril
from .exp_family import ExponentialFamily
from .utils import LocScale


class Normal(LocScale, ExponentialFamily):
    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.stddev.pow(2)

    def _standard_rsample(self, shape):
        return fibril.randn(shape, dtype=self.loc.dtype)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        var = self.scale ** 2
        return -((value - self.loc) ** 2) / (2 * var) - self.scale.log() - math.log(math.sqrt(2 * math.pi))

    # cdf and icdf in torch's order of operations (scale's reciprocal; scale * erfinv, then sqrt(2)),
    # so that they round as torch's do: LocScale's (value - loc) / scale and scale * (erfinv * sqrt(2)) may not.
    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + fibril.erf((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)))

    def icdf(self, value):
        return self.loc + self.scale * fibril.erfinv(2 * value - 1) * math.sqrt(2)

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + fibril.log(self.scale)
