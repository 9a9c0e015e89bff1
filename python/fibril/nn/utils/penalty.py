"""Explicit regularization terms to add to a loss (differentiable): l1_penalty(params) is
sum |w| and l2_penalty(params) is sum w^2, over all parameters, times `weight`."""

from ...ops import reduce


def l1_penalty(parameters, weight=1.0):
    return weight * sum(reduce.sum(p.abs()) for p in parameters)


def l2_penalty(parameters, weight=1.0):
    return weight * sum(reduce.sum(p * p) for p in parameters)
