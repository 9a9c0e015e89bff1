"""torch's top-level names for linalg functions (torch.det, torch.inverse, torch.svd, ...) and
their Tensor methods. torch.svd, torch.cholesky, torch.qr, torch.triangular_solve, torch.lu and
torch.lu_solve keep their older signatures."""

import collections
import math

import numpy as np

from ..amp.policy import autocast_op
from ..creation import zeros
from ..ops import index
from ..ops.elementwise import eq, where
from ..tensor import Tensor
from . import decompositions, lu_factorization, matrix_functions, solvers
from ._common import check_floating, dtype_name, host, wrap

svd_result = collections.namedtuple("svd", ["U", "S", "V"])
qr_result = collections.namedtuple("qr", ["Q", "R"])
triangular_solve_result = collections.namedtuple("triangular_solve", ["solution", "cloned_coefficient"])
geqrf_result = collections.namedtuple("geqrf", ["a", "tau"])

det = solvers.det
inverse = solvers.inv
slogdet = solvers.slogdet
matrix_power = solvers.matrix_power
cholesky_inverse = solvers.cholesky_inverse
cholesky_solve = solvers.cholesky_solve
matrix_exp = matrix_functions.matrix_exp
lu_unpack = lu_factorization.lu_unpack
orgqr = decompositions.householder_product


@autocast_op("none")
def logdet(A):
    """log det A: NaN (with a zero gradient, as torch) where the determinant is negative, -inf
    where it is 0."""
    sign, logabsdet = solvers.slogdet(A)
    return where(eq(sign, -1), math.nan, logabsdet)


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
def qr(A, some=True):
    """torch.qr: linalg.qr, reduced with some, else complete."""
    return qr_result(*decompositions.qr(A, mode="reduced" if some else "complete"))


def geqrf(A):
    """torch.geqrf: the QR factorisation as LAPACK stores it, R on and above the diagonal and
    the Householder vectors below, with their scales tau (for orgqr). No gradient, as torch."""
    if A.ndim < 2:
        raise RuntimeError("torch.geqrf: input must have at least 2 dimensions.")
    check_floating("torch.geqrf", A)
    packed, tau = np.linalg.qr(host(A), mode="raw")  # packed is transposed (Fortran's order)
    return geqrf_result(wrap(np.swapaxes(packed, -1, -2), A), wrap(tau, A))


@autocast_op("fp32_cpu")
def triangular_solve(b, A, upper=True, transpose=False, unitriangular=False):
    """torch.triangular_solve: X with A X = b (A^T X = b with transpose) for A triangular,
    upper by default; returns A broadcast over the batch too, as a copy."""
    for name, t in (("b", b), ("A", A)):
        if t.ndim < 2:
            raise RuntimeError(f"torch.triangular_solve: Expected {name} to have at least 2 dimensions, but it has "
                               f"{t.ndim} dimensions instead")
    if b.dtype != A.dtype:
        raise RuntimeError(f"Expected b and A to have the same dtype, but found b of type {dtype_name(b.dtype)} and A "
                           f"of type {dtype_name(A.dtype)} instead.")
    n = A.shape[-1]
    if A.shape[-2] != n or b.shape[-2] != n:
        raise RuntimeError(f"Incompatible matrix sizes for triangular_solve: each A matrix is {A.shape[-2]} by {n} but "
                           f"each b matrix is {b.shape[-2]} by {b.shape[-1]}")
    coefficients = A.mT if transpose else A  # the transpose of an upper triangle is a lower one
    X = solvers.solve_triangular(coefficients, b, upper=upper != transpose, unitriangular=unitriangular)
    return triangular_solve_result(X, index.expand(A, (*X.shape[:-2], n, n)).clone())


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
               "cholesky_inverse": cholesky_inverse, "cholesky_solve": cholesky_solve, "lu": lu, "lu_solve": lu_solve,
               "qr": qr, "triangular_solve": triangular_solve, "geqrf": geqrf, "orgqr": orgqr}
    for name, fn in methods.items():
        setattr(Tensor, name, fn)


_attach()
