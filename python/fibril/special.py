"""fibril.special: torch.special's names for fibril's special functions."""

from .ops.elementwise import erf, exp2, expm1, log1p, round, sigmoid as expit
from .ops.elementwise_math import logit, sinc, xlogy
from .ops.softmax import log_softmax, softmax
from .ops.special import (
    digamma, entr, erfc, erfcx, erfinv, gammainc, gammaincc, i0, i0e, i1, i1e, lgamma as gammaln, log_ndtr,
    modified_bessel_i0, modified_bessel_i1, multigammaln, ndtr, ndtri, polygamma, spherical_bessel_j0, xlog1py,
)
from .ops.reduce import logsumexp

psi = digamma
