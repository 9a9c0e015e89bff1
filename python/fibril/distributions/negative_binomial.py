"""NegativeBinomial(total_count, probs=None, logits=None): successes before total_count failures
(probs: a trial's success probability); samples are Poisson over a Gamma rate."""

import fibril
import fibril.nn.functional as F
from . import constraints
from .distribution import Distribution
from .gamma import Gamma
from .poisson import Poisson
from .utils import BinaryTrials, expand_counted_trials, set_counted_trials


class NegativeBinomial(BinaryTrials, Distribution):
    arg_constraints = {"total_count": constraints.greater_than_eq(0),
                       "probs": constraints.half_open_interval(0.0, 1.0), "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, total_count, probs=None, logits=None, validate_args=None):
        set_counted_trials(self, total_count, probs, logits)
        super().__init__(self._param.size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(NegativeBinomial, _instance)
        batch_shape = fibril.Size(batch_shape)
        expand_counted_trials(self, new, batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def param_shape(self):
        return self._param.size()

    @property
    def mean(self):
        return self.total_count * fibril.exp(self.logits)

    @property
    def mode(self):
        return ((self.total_count - 1) * self.logits.exp()).floor().clamp(min=0.0)

    @property
    def variance(self):
        return self.mean / fibril.sigmoid(-self.logits)

    def sample(self, sample_shape=()):
        with fibril.no_grad():
            rate = Gamma(self.total_count, fibril.exp(-self.logits), validate_args=False).sample(sample_shape)
            return Poisson(rate, validate_args=False).sample()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_unnormalized_prob = self.total_count * F.logsigmoid(-self.logits) + value * F.logsigmoid(self.logits)
        log_normalization = (-fibril.lgamma(self.total_count + value) + fibril.lgamma(1.0 + value)
                             + fibril.lgamma(self.total_count))
        log_normalization = fibril.where(self.total_count + value == 0.0, 0.0, log_normalization)
        return log_unnormalized_prob - log_normalization
