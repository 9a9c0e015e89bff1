"""RelaxedOneHotCategorical(temperature, probs=None, logits=None): the Concrete / Gumbel-softmax
distribution on the simplex, softmax((logits + Gumbel noise) / temperature). torch builds it as a
TransformedDistribution of ExpRelaxedCategorical; here the exp and its Jacobian are written out."""

import fibril
from . import constraints
from .categorical import Categorical
from .distribution import Distribution
from .utils import clamp_probs


class RelaxedOneHotCategorical(Distribution):
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits)  # validates probs / logits
        self.temperature = temperature
        super().__init__(self._categorical.batch_shape, self._categorical.param_shape[-1:],
                         validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(RelaxedOneHotCategorical, _instance)
        new._categorical = self._categorical.expand(batch_shape)
        new.temperature = self.temperature
        super(RelaxedOneHotCategorical, new).__init__(new._categorical.batch_shape, self.event_shape,
                                                      validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def probs(self):
        return self._categorical.probs

    @property
    def logits(self):
        return self._categorical.logits

    @property
    def param_shape(self):
        return self._categorical.param_shape

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        uniforms = clamp_probs(fibril.rand(shape, dtype=self.logits.dtype))
        gumbels = -((-(uniforms.log())).log())
        scores = (self.logits + gumbels) / self.temperature
        return (scores - scores.logsumexp(dim=-1, keepdim=True)).exp()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        x = value.log()
        K = self._categorical._num_events
        log_scale = fibril.full_like(self.temperature, float(K)).lgamma() - self.temperature.log().mul(-(K - 1))
        score = self.logits - x.mul(self.temperature)
        score = (score - score.logsumexp(dim=-1, keepdim=True)).sum(-1)
        return score + log_scale - x.sum(-1)  # minus log |d exp / dx| over the event
