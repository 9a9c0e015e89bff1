"""Dirichlet(concentration): distributions on the simplex over the last dim. rsample
normalizes standard gamma draws, differentiable through _standard_gamma's implicit gradient
(equal in distribution to torch's _dirichlet_grad)."""

import fibril
import fibril.nn.functional as F
from . import constraints
from .exp_family import ExponentialFamily
from ._standard_gamma import _standard_gamma


class Dirichlet(ExponentialFamily):
    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Dirichlet, _instance)
        batch_shape = fibril.Size(batch_shape)
        new.concentration = self.concentration.expand(tuple(batch_shape) + tuple(self.event_shape))
        super(Dirichlet, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        gammas = _standard_gamma(self.concentration.expand(shape))
        return (gammas / gammas.sum(-1, keepdim=True)).clamp(min=fibril.finfo(gammas.dtype).tiny)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return (fibril.xlogy(self.concentration - 1.0, value).sum(-1) + fibril.lgamma(self.concentration.sum(-1))
                - fibril.lgamma(self.concentration).sum(-1))

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, True)

    @property
    def mode(self):
        concentrationm1 = (self.concentration - 1).clamp(min=0.0)
        mode = concentrationm1 / concentrationm1.sum(-1, True)
        # All concentrations below 1: the density peaks at a vertex, the one torch picks by argmax.
        mask = (self.concentration < 1).all(dim=-1, keepdim=True)
        vertex = F.one_hot(mode.argmax(dim=-1), concentrationm1.shape[-1]).to(mode.dtype)
        return fibril.where(mask, vertex, mode)

    @property
    def variance(self):
        con0 = self.concentration.sum(-1, True)
        return self.concentration * (con0 - self.concentration) / (con0.pow(2) * (con0 + 1))

    def entropy(self):
        k = self.concentration.size(-1)
        a0 = self.concentration.sum(-1)
        return (fibril.lgamma(self.concentration).sum(-1) - fibril.lgamma(a0) - (k - a0) * fibril.digamma(a0)
                - ((self.concentration - 1.0) * fibril.digamma(self.concentration)).sum(-1))
