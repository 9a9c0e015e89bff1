"""RelaxedBernoulli(temperature, probs=None, logits=None): the binary Concrete / Gumbel-softmax
distribution on (0, 1), sigmoid of a logistic sample divided by the temperature. torch builds it
as a TransformedDistribution of LogitRelaxedBernoulli; here the sigmoid and its Jacobian are
written out."""

import fibril
import fibril.nn.functional as F
from . import constraints
from .bernoulli import Bernoulli
from .distribution import Distribution
from .utils import broadcast_all, clamp_probs


def _clipped_sigmoid(x):
    finfo = fibril.finfo(x.dtype)
    return fibril.clamp(fibril.sigmoid(x), min=finfo.tiny, max=1.0 - finfo.eps)


class RelaxedBernoulli(Distribution):
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        self._bernoulli = Bernoulli(probs, logits)  # validates probs / logits
        self.temperature = temperature
        super().__init__(self._bernoulli.batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(RelaxedBernoulli, _instance)
        new._bernoulli = self._bernoulli.expand(batch_shape)
        new.temperature = self.temperature
        super(RelaxedBernoulli, new).__init__(new._bernoulli.batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def probs(self):
        return self._bernoulli.probs

    @property
    def logits(self):
        return self._bernoulli.logits

    @property
    def param_shape(self):
        return self._bernoulli.param_shape

    def _logit_rsample(self, sample_shape):
        shape = self._extended_shape(sample_shape)
        probs = clamp_probs(self.probs.expand(shape))
        uniforms = clamp_probs(fibril.rand(shape, dtype=probs.dtype))
        return (uniforms.log() - (-uniforms).log1p() + probs.log() - (-probs).log1p()) / self.temperature

    def rsample(self, sample_shape=()):
        return _clipped_sigmoid(self._logit_rsample(sample_shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        finfo = fibril.finfo(value.dtype)
        y = value.clamp(min=finfo.tiny, max=1.0 - finfo.eps)
        x = y.log() - (-y).log1p()  # the logit the sigmoid maps to value
        logits, x_ = broadcast_all(self.logits, x)
        diff = logits - x_.mul(self.temperature)
        logit_log_prob = self.temperature.log() + diff - 2 * diff.exp().log1p()
        return logit_log_prob - (-F.softplus(-x) - F.softplus(x))  # minus log |d sigmoid / dx|
