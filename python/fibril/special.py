"""fibril.special: torch.special's names for fibril's special functions."""

from .ops.elementwise import erf, exp2, expm1, log1p, sigmoid as expit
from .ops.elementwise_math import sinc, xlogy
from .ops.softmax import log_softmax, softmax
from .ops.special import digamma, erfinv, lgamma as gammaln, polygamma, xlog1py
from .ops.reduce import logsumexp

psi = digamma

