"""The LU family: lu_factor(_ex), lu, lu_unpack, lu_solve, and solve_ex composed of them.
numpy has no LU, so the factorisation is LAPACK's getrf (partial pivoting, the first largest
|entry| of each column as pivot) written in numpy over the whole batch; the backward is
torch's linalg_lu_backward, and lu_solve is composed from triangular solves, so autograd
derives its gradient."""

import collections
import math

import numpy as np

from ..amp.policy import autocast_op
from ..autograd import Function
from ..creation import zeros
from ..ops import index
from ..ops.gather import tril, triu
from ..ops.join import cat
from ..ops.matmul import matmul
from ._common import LinAlgError, batch_label, check_same_dtype, dtype_name, host, wrap, wrap_int
from .solvers import check_system, solve_operand, solve_triangular

linalg_lu_factor = collections.namedtuple("linalg_lu_factor", ["LU", "pivots"])
linalg_lu_factor_ex = collections.namedtuple("linalg_lu_factor_ex", ["LU", "pivots", "info"])
linalg_lu = collections.namedtuple("linalg_lu", ["P", "L", "U"])
lu_unpack_result = collections.namedtuple("lu_unpack", ["P", "L", "U"])
linalg_solve_ex = collections.namedtuple("linalg_solve_ex", ["result", "info"])


# ------------------------------------------------------------------------------ factorisation
def _getrf(a):
    """The packed factors (L below the diagonal, its unit diagonal implied; U on and above),
    the 1-based row interchanges and LAPACK's info (the first k with U[k, k] == 0, else 0)
    of each matrix of a (..., m, n), by right-looking elimination over the whole batch."""
    m, n = a.shape[-2:]
    k = min(m, n)
    lu = np.array(a.reshape(math.prod(a.shape[:-2]), m, n), dtype=a.dtype)
    pivots = np.zeros((lu.shape[0], k), np.int32)
    info = np.zeros(lu.shape[0], np.int32)
    batch = np.arange(lu.shape[0])
    for j in range(k):
        p = j + np.argmax(np.abs(lu[:, j:, j]), axis=-1)
        pivots[:, j] = p + 1
        lu[batch, j], lu[batch, p] = lu[batch, p], lu[batch, j].copy()
        pivot = lu[:, j, j]
        info[(info == 0) & (pivot == 0)] = j + 1
        # a zero pivot leaves its (all zero) column as it is, as LAPACK's
        lu[:, j + 1:, j] /= np.where(pivot == 0, 1, pivot)[:, None]
        lu[:, j + 1:, j + 1:] -= lu[:, j + 1:, j, None] * lu[:, j, None, j + 1:]
    return lu.reshape(a.shape), pivots.reshape(*a.shape[:-2], k), info.reshape(a.shape[:-2])


def _permutations(pivots, m):
    """perm with row i of P^T A being row perm[i] of A, for LAPACK's row interchanges."""
    flat = pivots.reshape(math.prod(pivots.shape[:-1]), pivots.shape[-1]) - 1
    perm = np.tile(np.arange(m), (flat.shape[0], 1))
    batch = np.arange(flat.shape[0])
    for j in range(flat.shape[1]):
        perm[batch, j], perm[batch, flat[:, j]] = perm[batch, flat[:, j]], perm[batch, j].copy()
    return perm.reshape(*pivots.shape[:-1], m)


def _permutation_matrices(pivots, m, like):
    """P with A = P L U: P[perm[i], i] = 1."""
    perm = _permutations(pivots, m)
    P = np.zeros((*perm.shape, m))
    np.put_along_axis(P, perm[..., None], 1.0, axis=-1)
    return wrap(np.swapaxes(P, -1, -2), like)


def _unpack(LU):
    """L (m x k, unit lower-triangular) and U (k x n, upper-triangular) from packed factors."""
    m, n = LU.shape[-2:]
    k = min(m, n)
    L = tril(index.narrow(LU, -1, 0, k), -1) + wrap(np.eye(m, k), LU)
    return L, triu(index.narrow(LU, -2, 0, k))


def lu_backward(gL, gU, P, L, U):
    """torch's linalg_lu_backward for A = P L U (None: no gradient): the square case is
    P L^-T (tril(L^T gL, -1) + triu(gU U^T)) U^-T, and the wide (tall) case splits U (L)
    into its leading square block and the rest."""
    m, n = L.shape[-2], U.shape[-1]
    k = min(m, n)
    if m == n:
        grad = None if gL is None else tril(matmul(L.mT, gL), -1)
        if gU is not None:
            upper = triu(matmul(gU, U.mT))
            grad = upper if grad is None else grad + upper
        grad = solve_triangular(U.mT, grad, upper=False, left=False)
        return matmul(P, solve_triangular(L.mT, grad, upper=True, unitriangular=True))
    if m < n:
        U1 = index.narrow(U, -1, 0, k)
        grad = None if gL is None else matmul(L.mT, gL)
        if gU is not None:
            upper = matmul(triu(gU), U.mT)
            grad = -upper if grad is None else grad - upper
        grad = solve_triangular(U1.mT, tril(grad, -1), upper=False, left=False)
        if gU is None:
            grad = solve_triangular(L.mT, grad, upper=True, unitriangular=True)
            return matmul(P, cat([grad, zeros(*grad.shape[:-1], n - k, dtype=grad.dtype, device=grad.device)], -1))
        grad = cat([grad + triu(index.narrow(gU, -1, 0, k)), index.narrow(gU, -1, k, n - k)], -1)
        return matmul(P, solve_triangular(L.mT, grad, upper=True, unitriangular=True))
    L1 = index.narrow(L, -2, 0, k)
    grad = None if gU is None else matmul(gU, U.mT)
    if gL is not None:
        lower = matmul(L.mT, tril(gL, -1))
        grad = -lower if grad is None else grad - lower
    grad = solve_triangular(L1.mT, triu(grad), upper=True, unitriangular=True)
    if gL is None:
        grad = solve_triangular(U.mT, grad, upper=False, left=False)
        return matmul(P, cat([grad, zeros(*grad.shape[:-2], m - k, n, dtype=grad.dtype, device=grad.device)], -2))
    grad = cat([grad + tril(index.narrow(gL, -2, 0, k), -1), index.narrow(gL, -2, k, m - k)], -2)
    return matmul(P, solve_triangular(U.mT, grad, upper=False, left=False))


class LUFactor(Function):
    @staticmethod
    def forward(ctx, A, name):
        lu, pivots, info = _getrf(host(A))
        if name is not None and info.any():
            k = int(np.flatnonzero(info)[0])
            i = info.reshape(-1)[k]
            raise LinAlgError(f"{name}: {batch_label(k, info.shape)}U[{i},{i}] is zero and using it on lu_solve would "
                              "result in a division by zero. If you still want to perform the factorization, consider "
                              "calling linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)")
        LU, pivots = wrap(lu, A), wrap_int(pivots, A, "int32")
        ctx.save_for_backward(LU, pivots)
        ctx.set_materialize_grads(False)
        return LU, pivots, wrap_int(info, A, "int32")

    @staticmethod
    def backward(ctx, g, _pivots, _info):
        if g is None:
            return None, None
        LU, pivots = ctx.saved_tensors
        m, n = LU.shape[-2:]
        k = min(m, n)
        L, U = _unpack(LU)
        P = _permutation_matrices(host(pivots), m, LU)
        return lu_backward(index.narrow(g, -1, 0, k), index.narrow(g, -2, 0, k), P, L, U), None


def _check_lu_input(name, A, pivot):
    if A.ndim < 2:
        raise RuntimeError(f"torch.lu_factor: Expected tensor with 2 or more dimensions. Got size: {list(A.shape)} "
                           "instead")
    if not A.dtype.is_floating_point or A.dtype.name not in ("float32", "float64"):
        raise NotImplementedError(f'"lu_cpu" not implemented for \'{dtype_name(A.dtype)}\'')
    if not pivot:
        raise RuntimeError(f"{name}: LU without pivoting is not implemented on the CPU")


@autocast_op("none")
def lu_factor_ex(A, *, pivot=True, check_errors=False):
    """A = P L U with partial pivoting, packed as LAPACK's getrf: (LU, pivots, info). LU
    holds L below the diagonal (its unit diagonal implied) and U on and above; pivots
    (int32, from 1): row i was swapped with row pivots[i]; info: 0, or the first k with
    U[k, k] == 0. A may be rectangular. pivot=False is not implemented (as torch on CPU)."""
    _check_lu_input("linalg.lu_factor", A, pivot)
    return linalg_lu_factor_ex(*LUFactor.apply(A, "torch.linalg.lu_factor_ex" if check_errors else None))


@autocast_op("none")
def lu_factor(A, *, pivot=True):
    """lu_factor_ex's (LU, pivots), raising LinAlgError where U has a zero on its diagonal."""
    _check_lu_input("linalg.lu_factor", A, pivot)
    return linalg_lu_factor(*LUFactor.apply(A, "torch.linalg.lu_factor")[:2])


def lu_unpack(LU_data, LU_pivots, unpack_data=True, unpack_pivots=True):
    """(P, L, U) from lu_factor's packed result, A = P L U: P m x m, L m x k (unit diagonal),
    U k x n. Without unpack_data L and U are empty; without unpack_pivots P is."""
    if LU_data.ndim < 2:
        raise RuntimeError(f"torch.lu_unpack: Expected tensor with 2 or more dimensions. Got size: "
                           f"{list(LU_data.shape)} instead")
    if LU_pivots.dtype.name != "int32":
        raise RuntimeError("torch.lu_unpack: LU_pivots is expected to be a contiguous tensor of torch.int32 dtype.\n"
                           "Note: this function is intended to be used with the output produced by "
                           "torch.linalg.lu_factor")
    m, n = LU_data.shape[-2:]
    if tuple(LU_pivots.shape) != (*LU_data.shape[:-2], min(m, n)):
        raise RuntimeError(f"torch.lu_unpack: Expected LU_pivots.shape to be {[*LU_data.shape[:-2], min(m, n)]}, "
                           f"but got {list(LU_pivots.shape)}")
    pivots = host(LU_pivots)
    if pivots.size and (pivots.min() < 1 or pivots.max() > m):
        raise RuntimeError("pivots passed to lu_unpack must be between 1 and LU.size(-2) inclusive.Did you properly "
                           "pass the result of lu_factor?")
    empty = zeros(0, dtype=LU_data.dtype, device=LU_data.device)
    P = _permutation_matrices(pivots, m, LU_data) if unpack_pivots else empty
    L, U = _unpack(LU_data) if unpack_data else (empty, empty)
    return lu_unpack_result(P, L, U)


@autocast_op("none")
def lu(A, *, pivot=True):
    """(P, L, U) with A = P L U: P a permutation, L m x k unit lower-triangular, U k x n
    upper-triangular (k = min(m, n)), as lu_unpack(lu_factor_ex(A))."""
    _check_lu_input("linalg.lu_factor", A, pivot)
    LU, pivots, _ = LUFactor.apply(A, None)
    return linalg_lu(*lu_unpack(LU, pivots))


# ------------------------------------------------------------------------------ solving with the factors
def _solve_left(LU, P, B, adjoint):
    """A^-1 B (A^-T B with adjoint) for A = P L U; B's rows already checked to be n."""
    if adjoint:
        Y = solve_triangular(LU.mT, B, upper=False)
        return matmul(P, solve_triangular(LU.mT, Y, upper=True, unitriangular=True))
    Y = solve_triangular(LU, matmul(P.mT, B), upper=False, unitriangular=True)
    return solve_triangular(LU, Y, upper=True)


@autocast_op("none")
def lu_solve(LU, pivots, B, *, left=True, adjoint=False):
    """X with A X = B from lu_factor's (LU, pivots) of A (A^T X = B with adjoint; X A = B,
    X A^T = B with left=False). Batch dims broadcast; the gradient reaches LU and B."""
    name = "linalg.lu_solve"
    if B.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor B must have at least 2 dimensions.")
    check_same_dtype(name, LU, B, ("LU", "B"))
    if pivots.dtype.name != "int32":
        raise RuntimeError(f"{name}: pivots should be a Tensor of scalar type torch.int32")
    n = LU.shape[-1]
    if tuple(pivots.shape) != tuple(LU.shape[:-1]):
        raise RuntimeError(f"{name}: Expected LU.shape[:-1] and pivots.shape to be the same, but got pivots with "
                           f"shape {list(pivots.shape)} instead")
    check_system(name, LU, B, left)
    P = _permutation_matrices(host(pivots), n, LU)
    if left:
        return _solve_left(LU, P, B, adjoint)
    return _solve_left(LU, P, B.mT, not adjoint).mT  # X A = B is A^T X^T = B^T


@autocast_op("none")
def solve_ex(A, B, *, left=True, check_errors=False):
    """solve without the error: (result, info), info 0 where A is invertible, else the first
    zero on U's diagonal (the result then holds inf / NaN), as lu_factor_ex + lu_solve."""
    name = "torch.linalg.solve_ex"
    B, vector = solve_operand("linalg.solve", A, B, left)
    check_system("linalg.solve", A, B, left)
    LU, pivots, info = LUFactor.apply(A, None)
    if check_errors and host(info).any():
        k = int(np.flatnonzero(host(info))[0])
        raise LinAlgError(f"{name}: {batch_label(k, info.shape)}The solver failed because the input matrix is "
                          "singular.")
    X = lu_solve(LU, pivots, B, left=left)
    return linalg_solve_ex(X.squeeze(-1) if vector else X, info)
