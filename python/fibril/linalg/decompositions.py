"""Decompositions: cholesky, qr, eigh, svd (and cholesky_ex, eigvalsh, svdvals), and
householder_product, which rebuilds Q from Householder reflectors. numpy's LAPACK
factorises; each backward is torch's formula (torch/csrc/autograd/FunctionsManual.cpp)
written with fibril ops, so that it can itself be differentiated. As in torch, the gradients
of eigh and svd assume distinct eigenvalues / singular values, and a loss that does not
depend on the sign of each eigenvector / singular vector pair. eig and eigvals raise: their
results are complex, which fibril's dtypes are not."""

import collections

import numpy as np

from ..amp.policy import autocast_op
from ..autograd import Function
from ..ops import index
from ..ops.contract import diag_embed
from ..ops.gather import tril, triu
from ..ops.join import pad
from ..ops.matmul import matmul
from ._common import (LinAlgError, batch_label, check_floating, check_matrix, dtype_name, failing_minor, host,
                      identity, per_matrix, records, wrap, wrap_int)

linalg_cholesky_ex = collections.namedtuple("linalg_cholesky_ex", ["L", "info"])
linalg_qr = collections.namedtuple("linalg_qr", ["Q", "R"])
linalg_eigh = collections.namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
linalg_svd = collections.namedtuple("linalg_svd", ["U", "S", "Vh"])


# ------------------------------------------------------------------------------ cholesky
def _cholesky_host(a, name):
    """The lower factors and LAPACK's info (0, or the order of the first leading minor that
    is not positive-definite); with a name, that failure raises instead."""
    batch = a.shape[:-2]
    try:
        return np.linalg.cholesky(a), np.zeros(batch, np.int32)
    except np.linalg.LinAlgError:
        factors, failed = per_matrix(np.linalg.cholesky, a)
    flat = a.reshape(-1, *a.shape[-2:])
    info = np.zeros(flat.shape[0], np.int32)
    for k in failed:
        info[k] = failing_minor(flat[k])
    if name is not None:
        k = failed[0]
        raise LinAlgError(f"{name}: {batch_label(k, batch)}The factorization could not be completed because the input "
                          f"is not positive-definite (the leading minor of order {info[k]} is not positive-definite).")
    return factors, info.reshape(batch)


class Cholesky(Function):
    @staticmethod
    def forward(ctx, A, name):
        factors, info = _cholesky_host(host(A), name)
        L = wrap(factors, A)
        ctx.save_for_backward(L)
        ctx.set_materialize_grads(False)
        return L, wrap_int(info, A, "int32")

    @staticmethod
    def backward(ctx, gL, _):
        from .solvers import inverse_unchecked  # here: solvers imports this module

        if gL is None:
            return None, None
        (L,) = ctx.saved_tensors
        # gA = L^-T phi L^-1, phi the symmetric matrix whose lower triangle is half tril(L^T gL)
        lower = tril(matmul(L.mT, gL))
        phi = (lower + tril(lower, -1).mT) * 0.5
        L_inv = inverse_unchecked(L)
        return matmul(L_inv.mT, matmul(phi, L_inv)), None


@autocast_op("fp32_cpu")
def cholesky(A, *, upper=False):
    """L, lower-triangular with a positive diagonal, such that A = L L^T (or U = L^T with
    upper). Only A's lower triangle is read; the gradient is symmetric, as torch's."""
    check_matrix("linalg.cholesky", A, square=True)
    L = Cholesky.apply(A, "linalg.cholesky")[0]
    return L.mT if upper else L


@autocast_op("fp32_cpu")
def cholesky_ex(A, *, upper=False, check_errors=False):
    """cholesky without the error: (L, info), info 0 where it succeeded, else the order of
    the leading minor that is not positive-definite (L is then NaN)."""
    check_matrix("linalg.cholesky_ex", A, square=True)
    L, info = Cholesky.apply(A, "linalg.cholesky_ex" if check_errors else None)
    return linalg_cholesky_ex(L.mT if upper else L, info)


# ------------------------------------------------------------------------------ qr
_QR_MODES = ("reduced", "complete", "r")


class QR(Function):
    @staticmethod
    def forward(ctx, A, mode):
        a = host(A)
        if mode == "r":
            q, r = np.empty((0,), a.dtype), np.linalg.qr(a, mode="r")
        else:
            q, r = np.linalg.qr(a, mode=mode)
        Q, R = wrap(q, A), wrap(r, A)
        ctx.mode = mode
        ctx.save_for_backward(Q, R)
        ctx.set_materialize_grads(False)
        return Q, R

    @staticmethod
    def backward(ctx, gQ, gR):
        from .solvers import solve  # here: solvers imports this module

        if gQ is None and gR is None:
            return None, None
        if ctx.mode == "r":
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please "
                               "use linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr.")
        Q, R = ctx.saved_tensors
        m, n = Q.shape[-2], R.shape[-1]
        if ctx.mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
        if gQ is None:
            M = matmul(gR, R.mT)
        else:
            M = -matmul(Q.mT, gQ) if gR is None else matmul(gR, R.mT) - matmul(Q.mT, gQ)
        if m >= n:
            grad = matmul(Q, triu(M) + triu(M, 1).mT)
            if gQ is not None:
                grad = grad + gQ
            return solve(R, grad.mT).mT, None  # grad R^-T
        grad = matmul(Q, tril(M.mT - M))
        grad = pad(solve(index.narrow(R, -1, 0, m), grad.mT).mT, (0, n - m))
        return (grad if gR is None else grad + matmul(Q, gR)), None


@autocast_op("fp32_cpu")
def qr(A, mode="reduced"):
    """Q with orthonormal columns and R upper-triangular with A = Q R (LAPACK's signs, as
    torch). mode: 'reduced' (Q m x k, R k x n, k = min(m, n)), 'complete' (Q m x m), 'r'
    (R only; Q is empty and the result not differentiable)."""
    if mode not in _QR_MODES:
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', or "
                           "'complete'")
    check_matrix("linalg.qr", A)
    return linalg_qr(*QR.apply(A, mode))


# ------------------------------------------------------------------------------ eigh
class Eigh(Function):
    @staticmethod
    def forward(ctx, A, uplo):
        w, v = np.linalg.eigh(host(A), UPLO=uplo)
        L, V = wrap(w, A), wrap(v, A)
        ctx.save_for_backward(L, V)
        ctx.set_materialize_grads(False)
        return L, V

    @staticmethod
    def backward(ctx, gL, gV):
        L, V = ctx.saved_tensors
        if gV is None:
            return (None if gL is None else matmul(V * gL.unsqueeze(-2), V.mT)), None
        # V (diag(gL) + skew(V^T gV) / E) V^T with E_ij = L_j - L_i (1 on the diagonal, where skew is 0)
        VtgV = matmul(V.mT, gV)
        skew = (VtgV - VtgV.mT) * 0.5
        gaps = L.unsqueeze(-2) - L.unsqueeze(-1) + identity(L.shape[-1], L)
        inner = skew / gaps
        if gL is not None:
            inner = inner + diag_embed(gL)
        return matmul(V, matmul(inner, V.mT)), None


def _check_uplo(uplo):
    if uplo not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {uplo}")


@autocast_op("fp32_cpu")
def eigh(A, UPLO="L"):
    """Eigenvalues (ascending) and orthonormal eigenvectors (columns) of the symmetric A,
    read from its lower (UPLO='L') or upper triangle."""
    _check_uplo(UPLO)
    check_matrix("linalg.eigh", A, square=True)
    return linalg_eigh(*Eigh.apply(A, UPLO))


@autocast_op("fp32_cpu")
def eigvalsh(A, UPLO="L"):
    """The eigenvalues of the symmetric A, ascending."""
    _check_uplo(UPLO)
    check_matrix("linalg.eigh", A, square=True)
    if records(A):  # the gradient needs the eigenvectors
        return Eigh.apply(A, UPLO)[0]
    return wrap(np.linalg.eigvalsh(host(A), UPLO=UPLO), A)


# ------------------------------------------------------------------------------ svd
def svd_backward(gU, gS, gVh, U, S, Vh):
    """torch's svd_backward for real matrices (reduced U, Vh; None: no gradient)."""
    m, n = U.shape[-2], Vh.shape[-1]
    if gU is None and gVh is None:
        return matmul(U, gS.unsqueeze(-1) * Vh) if m >= n else matmul(U * gS.unsqueeze(-2), Vh)
    S2 = S * S
    gaps = S2.unsqueeze(-2) - S2.unsqueeze(-1) + identity(S.shape[-1], S)
    UtgU = None if gU is None else matmul(U.mT, gU)
    VtgV = None if gVh is None else matmul(Vh, gVh.mT)
    if VtgV is None:
        inner = (UtgU - UtgU.mT) / gaps * S.unsqueeze(-2)
    elif UtgU is None:
        inner = S.unsqueeze(-1) * ((VtgV - VtgV.mT) / gaps)
    else:
        inner = ((UtgU - UtgU.mT) * S.unsqueeze(-2) + S.unsqueeze(-1) * (VtgV - VtgV.mT)) / gaps
    if gS is not None:
        inner = inner + diag_embed(gS)
    if m > n and gU is not None:
        gU_Sinv = gU / S.unsqueeze(-2)
        grad = matmul(U, inner) + gU_Sinv - matmul(U, matmul(U.mT, gU_Sinv))
        return matmul(grad, Vh)
    if m < n and gVh is not None:
        Sinv_gVh = gVh / S.unsqueeze(-1)
        grad = matmul(inner, Vh) + Sinv_gVh - matmul(matmul(Sinv_gVh, Vh.mT), Vh)
        return matmul(U, grad)
    return matmul(U, matmul(inner, Vh)) if m >= n else matmul(matmul(U, inner), Vh)


class SVD(Function):
    @staticmethod
    def forward(ctx, A, full_matrices):
        u, s, vh = np.linalg.svd(host(A), full_matrices=full_matrices)
        U, S, Vh = wrap(u, A), wrap(s, A), wrap(vh, A)
        ctx.full_matrices = full_matrices
        ctx.save_for_backward(U, S, Vh)
        ctx.set_materialize_grads(False)
        return U, S, Vh

    @staticmethod
    def backward(ctx, gU, gS, gVh):
        if gU is None and gS is None and gVh is None:
            return None, None
        U, S, Vh = ctx.saved_tensors
        if ctx.full_matrices:  # the extra columns of U and rows of Vh carry no gradient (as torch)
            k = S.shape[-1]
            U, Vh = index.narrow(U, -1, 0, k), index.narrow(Vh, -2, 0, k)
            gU = None if gU is None else index.narrow(gU, -1, 0, k)
            gVh = None if gVh is None else index.narrow(gVh, -2, 0, k)
        return svd_backward(gU, gS, gVh, U, S, Vh), None


def _check_driver(driver):
    if driver is not None:
        raise RuntimeError("torch.linalg.svd: keyword argument `driver=` is only supported on CUDA inputs with "
                           "cuSOLVER backend.")


@autocast_op("fp32_cpu")
def svd(A, full_matrices=True, *, driver=None):
    """U, S (descending), Vh with A = U diag(S) Vh; full_matrices: U is m x m and Vh n x n,
    else m x k and k x n (k = min(m, n))."""
    _check_driver(driver)
    check_matrix("linalg.svd", A)
    return linalg_svd(*SVD.apply(A, full_matrices))


@autocast_op("fp32_cpu")
def svdvals(A, *, driver=None):
    """The singular values of A, descending."""
    _check_driver(driver)
    check_matrix("linalg.svd", A)
    if records(A):  # the gradient U diag(gS) Vh needs the singular vectors
        return SVD.apply(A, False)[1]
    return wrap(np.linalg.svd(host(A), compute_uv=False), A)


# ------------------------------------------------------------------------------ householder_product
@autocast_op("fp32_cpu")
def householder_product(A, tau):
    """The first n columns of H_1 ... H_k, H_i = I - tau_i v_i v_i^T, where v_i is 1 at i,
    0 above and A's column i below (as geqrf stores Q). Composed of matmuls, so autograd
    derives the gradients of tau and of A's strictly lower triangle."""
    name = "torch.linalg.householder_product"
    if A.ndim < 2:
        raise RuntimeError(f"{name}: input must have at least 2 dimensions.")
    m, n = A.shape[-2:]
    if m < n:
        raise RuntimeError(f"{name}: input.shape[-2] must be greater than or equal to input.shape[-1]")
    if n < tau.shape[-1]:
        raise RuntimeError(f"{name}: input.shape[-1] must be greater than or equal to tau.shape[-1]")
    if A.ndim - tau.ndim != 1:
        raise RuntimeError(f"{name}: Expected tau to have one dimension less than input, but got tau.ndim equal to "
                           f"{tau.ndim} and input.ndim is equal to {A.ndim}")
    if tuple(tau.shape[:-1]) != tuple(A.shape[:-2]):
        raise RuntimeError(f"{name}: Expected batch dimensions of tau to be equal to input.shape[:-2], but got "
                           f"{list(tau.shape[:-1])}")
    if tau.dtype != A.dtype:
        raise RuntimeError(f"{name}: tau dtype {dtype_name(tau.dtype)} does not match input dtype "
                           f"{dtype_name(A.dtype)}")
    check_floating(name, A)
    V = tril(A, -1) + wrap(np.eye(m, n), A)
    Q = index.expand(wrap(np.eye(m, n), A), tuple(A.shape))
    for i in reversed(range(tau.shape[-1])):  # H_i (H_{i+1} ... H_k I)
        v = index.narrow(V, -1, i, 1)
        Q = Q - index.narrow(tau, -1, i, 1).unsqueeze(-1) * matmul(v, matmul(v.mT, Q))
    return Q


# ------------------------------------------------------------------------------ eig
def _complex_result(name):
    raise NotImplementedError(f"linalg.{name}: the eigenvalues and eigenvectors of a general matrix are complex "
                              f"(torch returns complex tensors even when they are real), and fibril has no complex "
                              f"dtypes. For a symmetric matrix, use linalg.eigh / linalg.eigvalsh.")


def eig(A):
    """Not available: its result is complex (see eigh for symmetric matrices)."""
    _complex_result("eig")


def eigvals(A):
    """Not available: its result is complex (see eigvalsh for symmetric matrices)."""
    _complex_result("eigvals")
