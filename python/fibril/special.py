"""fibril.special: torch.special's names for fibril's special functions."""

from .ops.elementwise import erf, exp2, expm1, log1p, round, sigmoid as expit
from .ops.elementwise_math import logit, sinc, xlogy
from .ops.softmax import log_softmax, softmax
from .ops.special import (
    digamma, entr, erfc, erfcx, erfinv, gammainc, gammaincc, i0, i0e, i1, i1e, lgamma as gammaln, log_ndtr,
    modified_bessel_i0, modified_bessel_i1, multigammaln, ndtr, ndtri, polygamma, spherical_bessel_j0, xlog1py,
)
from .ops.special_host import (
    airy_ai, bessel_j0, bessel_j1, bessel_y0, bessel_y1, chebyshev_polynomial_t, chebyshev_polynomial_u,
    chebyshev_polynomial_v, chebyshev_polynomial_w, hermite_polynomial_h, hermite_polynomial_he,
    laguerre_polynomial_l, legendre_polynomial_p, modified_bessel_k0, modified_bessel_k1, scaled_modified_bessel_k0,
    scaled_modified_bessel_k1, shifted_chebyshev_polynomial_t, shifted_chebyshev_polynomial_u,
    shifted_chebyshev_polynomial_v, shifted_chebyshev_polynomial_w, zeta,
)
from .ops.reduce import logsumexp

psi = digamma
