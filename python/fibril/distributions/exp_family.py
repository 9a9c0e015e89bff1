"""ExponentialFamily: the base torch gives Normal, Bernoulli, Exponential, Gamma, Beta and
Dirichlet (each defines its own entropy and KL here, so it adds no methods)."""

from .distribution import Distribution


class ExponentialFamily(Distribution):
    pass
