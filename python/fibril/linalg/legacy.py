"""torch's top-level names for linalg functions (torch.det, torch.inverse, torch.svd, ...) and
their Tensor methods. torch.svd, torch.cholesky, torch.lu and torch.lu_solve keep their older
signatures."""

import collections

from ..amp.policy import autocast_op
from ..creation import zeros
from ..ops.elementwise import log
from ..tensor import Tensor
from . import decompositions, lu_factorization, matrix_functions, solvers

svd_result = collections.namedtuple("svd", ["U", "S", "V"])

det = solvers.det
inverse = solvers.inv
slogdet = solvers.slogdet
matrix_power = solvers.matrix_power
cholesky_inverse = solvers.cholesky_inverse
cholesky_solve = solvers.cholesky_solve
matrix_exp = matrix_functions.matrix_exp
lu_unpack = lu_factorization.lu_unpack


@autocast_op("none")
def logdet(A):
    """log det A: NaN where the determinant is negative, -inf where it is 0."""
    sign, logabsdet = solvers.slogdet(A)
    return logabsdet + log(sign)


@autocast_op("fp32_cpu")
def cholesky(A, upper=False):
    """torch.cholesky: linalg.cholesky with upper as a positional argument."""
    return decompositions.cholesky(A, upper=upper)


@autocast_op("fp32_cpu")
def svd(A, some=True, compute_uv=True):
    """torch.svd: (U, S, V) with V = Vh^T; some=False gives the square U and V. Without
    compute_uv, U and V are zero-filled (square), as torch's."""
    if not compute_uv:
        m, n = A.shape[-2:]
        batch = tuple(A.shape[:-2])
        return svd_result(zeros(*batch, m, m, dtype=A.dtype, device=A.device), decompositions.svdvals(A),
                          zeros(*batch, n, n, dtype=A.dtype, device=A.device))
    U, S, Vh = decompositions.svd(A, full_matrices=not some)
    return svd_result(U, S, Vh.mT)


@autocast_op("fp32_cpu")
def pinverse(A, rcond=1e-15):
    """torch.pinverse: linalg.pinv with rtol=rcond."""
    return solvers.pinv(A, rtol=rcond)


@autocast_op("none")
def lu(A, pivot=True, get_infos=False):
    """torch.lu: linalg.lu_factor's (LU, pivots), with the info too with get_infos (and then
    no error for a singular matrix)."""
    if get_infos:
        return lu_factorization.lu_factor_ex(A, pivot=pivot)
    return tuple(lu_factorization.lu_factor(A, pivot=pivot))


@autocast_op("fp32_cpu")
def lu_solve(b, LU_data, LU_pivots):
    """torch.lu_solve: linalg.lu_solve with B first."""
    return lu_factorization.lu_solve(LU_data, LU_pivots, b)


def _attach():
    methods = {"det": det, "logdet": logdet, "slogdet": slogdet, "inverse": inverse, "cholesky": cholesky, "svd": svd,
               "pinverse": pinverse, "matrix_power": matrix_power, "matrix_exp": matrix_exp,
               "cholesky_inverse": cholesky_inverse, "cholesky_solve": cholesky_solve, "lu": lu, "lu_solve": lu_solve}
    for name, fn in methods.items():
        setattr(Tensor, name, fn)


_attach()
