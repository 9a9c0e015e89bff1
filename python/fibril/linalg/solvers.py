"""Inverses and linear systems: det, slogdet, inv (inv_ex), solve (solve_triangular), pinv,
lstsq, matrix_rank, matrix_power, cholesky_inverse, cholesky_solve, tensorinv, tensorsolve.
numpy's LAPACK computes; each backward is torch's formula written with fibril ops (and these
functions), so that it can itself be differentiated."""

import collections
import math
import numbers

import numpy as np

from ..amp.policy import autocast_inputs, autocast_op, active as _autocast_active
from ..autograd import Function
from ..creation import zeros, zeros_like
from ..ops import elementwise as ew
from ..ops import index
from ..ops.gather import tril, triu
from ..ops.matmul import matmul
from ..ops.reduce import prod, sum
from ..tensor import Tensor
from ..typeinfo import finfo
from ._common import (LinAlgError, batch_label, batch_mask, broadcast_batch, check_floating, check_matrix,
                      check_same_dtype, dtype_name, first_failure, host, identity, per_matrix, wrap, wrap_int,
                      zero_pivot)
from .decompositions import svd

linalg_inv_ex = collections.namedtuple("linalg_inv_ex", ["inverse", "info"])
linalg_slogdet = collections.namedtuple("linalg_slogdet", ["sign", "logabsdet"])
linalg_lstsq = collections.namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])


# ------------------------------------------------------------------------------ inverse
def _invert_host(a, name):
    """The inverses and LAPACK's info (0, or the first zero pivot of the LU factorisation);
    with a name, a singular matrix raises instead (its inverse is NaN otherwise)."""
    batch = a.shape[:-2]
    try:
        return np.linalg.inv(a), np.zeros(batch, np.int32)
    except np.linalg.LinAlgError:
        inverses, failed = per_matrix(np.linalg.inv, a)
    flat = a.reshape(-1, *a.shape[-2:])
    info = np.zeros(flat.shape[0], np.int32)
    for k in failed:
        info[k] = zero_pivot(flat[k])
    if name is not None:
        k = failed[0]
        raise LinAlgError(f"{name}: {batch_label(k, batch)}The diagonal element {info[k]} is zero, the inversion could "
                          "not be completed because the input matrix is singular.")
    return inverses, info.reshape(batch)


class Inverse(Function):
    @staticmethod
    def forward(ctx, A, name):
        inverses, info = _invert_host(host(A), name)
        out = wrap(inverses, A)
        ctx.save_for_backward(out)
        ctx.set_materialize_grads(False)
        return out, wrap_int(info, A, "int32")

    @staticmethod
    def backward(ctx, g, _):
        if g is None:
            return None, None
        (inverse,) = ctx.saved_tensors
        return -matmul(inverse.mT, matmul(g, inverse.mT)), None


@autocast_op("fp32_cpu")
def inv(A):
    """The inverse of the square matrix A; a singular one raises LinAlgError."""
    check_matrix("linalg.inv", A, square=True)
    return Inverse.apply(A, "linalg.inv")[0]


@autocast_op("fp32_cpu")
def inv_ex(A, *, check_errors=False):
    """inv without the error: (inverse, info), info 0 where A is invertible, else the index
    (from 1) of the zero pivot of its LU factorisation (the inverse is then NaN)."""
    check_matrix("linalg.inv_ex", A, square=True)
    return linalg_inv_ex(*Inverse.apply(A, "linalg.inv_ex" if check_errors else None))


def inverse_unchecked(A):
    """A's inverse for backward formulas: NaN for a singular matrix, as torch's are."""
    return Inverse.apply(A, None)[0]


# ------------------------------------------------------------------------------ determinants
def _products_of_others(S):
    """Entry i: the product of every S_j but S_i (exact with zeros)."""
    n = S.shape[-1]
    others = ew.where(ew.ne(identity(n, S), 0), 1.0, index.expand(S.unsqueeze(-2), (*S.shape[:-1], n, n)))
    return prod(others, -1)


def _det_backward(g, det, A):
    """g det A^-T; where |det| < 100 eps (as torch), the adjugate from the SVD instead,
    U diag(g sign prod_{j != i} S_j) Vh, which needs no inverse."""
    if A.numel() == 0:
        return zeros_like(A)
    scale = (g * det).unsqueeze(-1).unsqueeze(-1)
    singular = np.abs(host(det)) < 100 * finfo(A.dtype).eps
    if not singular.any():
        return scale * inverse_unchecked(A).mT
    mask = batch_mask(singular, A)
    regular = scale * inverse_unchecked(ew.where(mask, identity(A.shape[-1], A), A)).mT
    U, S, Vh = svd(A)
    sign = wrap(np.linalg.det(host(U)) * np.linalg.det(host(Vh)), A)
    adjugate_weights = (g * sign).unsqueeze(-1) * _products_of_others(S)
    return ew.where(mask, matmul(U * adjugate_weights.unsqueeze(-2), Vh), regular)


class Det(Function):
    @staticmethod
    def forward(ctx, A):
        out = wrap(np.linalg.det(host(A)), A)
        ctx.save_for_backward(A, out)
        return out

    @staticmethod
    def backward(ctx, g):
        A, det = ctx.saved_tensors
        return _det_backward(g, det, A)


@autocast_op("none")
def det(A):
    """The determinant of each square matrix of A."""
    check_matrix("linalg.det", A, square=True)
    return Det.apply(A)


class Slogdet(Function):
    @staticmethod
    def forward(ctx, A):
        sign, logabsdet = np.linalg.slogdet(host(A))
        ctx.save_for_backward(A)
        ctx.set_materialize_grads(False)
        return wrap(sign, A), wrap(logabsdet, A)

    @staticmethod
    def backward(ctx, g_sign, g_logabsdet):
        if g_logabsdet is None:  # the sign is piecewise constant
            return None
        (A,) = ctx.saved_tensors
        return g_logabsdet.unsqueeze(-1).unsqueeze(-1) * inverse_unchecked(A).mT


@autocast_op("none")
def slogdet(A):
    """(sign, log |det|) of each square matrix of A: (0, -inf) for a singular one."""
    check_matrix("linalg.slogdet", A, square=True)
    return linalg_slogdet(*Slogdet.apply(A))


# ------------------------------------------------------------------------------ linear systems
_SINGULAR_SYSTEM = "The solver failed because the input matrix is singular."


class Solve(Function):
    """X = A^-1 B for A (*, n, n) and B (*, n, k) with the same batch shape."""

    @staticmethod
    def forward(ctx, A, B):
        a, b = host(A), host(B)
        try:
            x = np.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            k = first_failure(np.linalg.solve, [a, b])
            raise LinAlgError(f"torch.linalg.solve: {batch_label(k, a.shape[:-2])}{_SINGULAR_SYSTEM}") from None
        X = wrap(x, A)
        ctx.save_for_backward(A, X)
        return X

    @staticmethod
    def backward(ctx, g):
        A, X = ctx.saved_tensors
        gB = Solve.apply(A.mT, g)
        return (-matmul(gB, X.mT) if ctx.needs_input_grad[0] else None), gB


def _substitute(t, b, upper):
    """t^-1 b for triangular t by back (upper) or forward substitution: unlike numpy's
    solve, a zero on the diagonal gives inf / NaN instead of an error, as LAPACK's trsm."""
    n = t.shape[-1]
    x = np.zeros(b.shape, np.result_type(t, b))
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in (reversed(range(n)) if upper else range(n)):
            known = slice(i + 1, n) if upper else slice(0, i)
            residual = b[..., i, :] - (t[..., i, None, known] @ x[..., known, :])[..., 0, :]
            x[..., i, :] = residual / t[..., i, i, None]
    return x


class TriangularSolve(Function):
    """X = T^-1 B for T (*, n, n) upper- or lower-triangular (zero elsewhere) and B (*, n, k)
    with the same batch shape."""

    @staticmethod
    def forward(ctx, T, B, upper):
        X = wrap(_substitute(host(T), host(B), upper), T)
        ctx.upper = upper
        ctx.save_for_backward(T, X)
        return X

    @staticmethod
    def backward(ctx, g):
        T, X = ctx.saved_tensors
        gB = TriangularSolve.apply(T.mT, g, not ctx.upper)
        return (-matmul(gB, X.mT) if ctx.needs_input_grad[0] else None), gB, None


def check_system(name, A, B, left):
    """That B (*, n, k) (or (*, k, n) for X A = B) fits the n x n A, and the broadcast batch."""
    n = A.shape[-1]
    rows, cols = B.shape[-2:]
    if (rows if left else cols) != n:
        raise RuntimeError(f"{name}: Incompatible shapes of A and B for the equation {'AX = B' if left else 'XA = B'} "
                           f"({n}x{n} and {rows}x{cols})")
    return broadcast_batch(name, A.shape[:-2], B.shape[:-2])


def _solve_matrices(name, A, B, left, upper=None):
    """The solution of A X = B (or X A = B) for a matrix B (*, n, k), batch dims broadcast;
    upper: A is triangular, upper (True) or lower (False)."""
    batch = check_system(name, A, B, left)
    n = A.shape[-1]
    rows, cols = B.shape[-2:]
    A = index.expand(A, (*batch, n, n))
    B = index.expand(B, (*batch, rows, cols))
    if upper is None:
        return Solve.apply(A, B) if left else Solve.apply(A.mT, B.mT).mT
    return TriangularSolve.apply(A, B, upper) if left else TriangularSolve.apply(A.mT, B.mT, not upper).mT


def solve_operand(name, A, B, left):
    """solve's B checked against A and as a matrix, and whether it was a vector: 1-D, or of
    A's shape without its last dim (only for left: torch solves no x A = b for a vector)."""
    check_matrix(name, A, square=True)
    check_same_dtype(name, A, B)
    if B.ndim == 0:
        raise RuntimeError(f"{name}: The input tensor B must have at least 2 dimensions.")
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and B.shape == A.shape[:-1])
    if vector and not left and A.shape[-1] == 1:  # (for n > 1, the shapes' mismatch raises, as torch)
        raise RuntimeError(f"{name}: Vector broadcasting of the left hand side is not supported for left=False. In "
                           "this case linalg.solve is equivalent to B / A.squeeze(-1)")
    return (B.unsqueeze(-1) if vector else B), vector


@autocast_op("fp32_cpu")
def solve(A, B, *, left=True):
    """X with A X = B (left) or X A = B, for square A. B is a vector (or a batch of them)
    when it is 1-D, or has A's shape without its last dim. Batch dims broadcast."""
    B, vector = solve_operand("linalg.solve", A, B, left)
    X = _solve_matrices("linalg.solve", A, B, left)
    return X.squeeze(-1) if vector else X


@autocast_op("none")
def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    """X with A X = B (left) or X A = B, reading only A's upper or lower triangle (and taking
    its diagonal as ones with unitriangular). The gradient of A is triangular, as torch's; a
    zero on the diagonal gives inf / NaN, not an error, as torch's."""
    check_matrix("linalg.solve_triangular", A, square=True)
    if B.ndim < 2:
        raise RuntimeError("linalg.solve_triangular: The input tensor B must have at least 2 dimensions.")
    B = B.to(A.dtype)  # as torch, which solves in A's dtype whatever B's
    offset = 1 if unitriangular else 0
    T = triu(A, offset) if upper else tril(A, -offset)
    if unitriangular:
        T = T + identity(A.shape[-1], A)
    return _solve_matrices("linalg.solve_triangular", T, B, left, upper)


# ------------------------------------------------------------------------------ pseudoinverse, least squares, rank
def _tolerance_values(tol):
    """A tolerance (a number or a tensor broadcasting over the batch) as a numpy array."""
    return np.asarray(host(tol) if isinstance(tol, Tensor) else tol, dtype=np.float64)


def _tolerances(A, atol, rtol):
    """torch's atol and rtol as numpy arrays over A's batch: rtol defaults to eps * max(m, n),
    or to 0 where an atol > 0 is given."""
    default = finfo(A.dtype).eps * max(A.shape[-2:])
    atol_values = _tolerance_values(0.0 if atol is None else atol)
    if rtol is not None:
        rtol_values = _tolerance_values(rtol)
    elif atol is None:
        rtol_values = np.asarray(default)
    else:
        rtol_values = np.where(atol_values > 0, 0.0, default)
    return atol_values, rtol_values


def _kept(values, atol, rtol):
    """Which of the (absolute) singular values exceed max(atol, rtol * the largest)."""
    largest = values.max(-1, keepdims=True, initial=0.0)
    return values > np.maximum(atol[..., None], rtol[..., None] * largest)


def _pinv_host(a, atol, rtol, hermitian):
    if hermitian:
        w, v = np.linalg.eigh(a)
        kept = _kept(np.abs(w), atol, rtol)
        left, right = v, v
    else:
        u, w, vh = np.linalg.svd(a, full_matrices=False)
        kept = _kept(w, atol, rtol)
        left, right = vh.swapaxes(-1, -2), u
    inverse_values = np.where(kept, 1 / np.where(kept, w, 1), 0)
    return (left * inverse_values[..., None, :]) @ right.swapaxes(-1, -2)


class Pinv(Function):
    @staticmethod
    def forward(ctx, A, atol, rtol, hermitian):
        out = wrap(_pinv_host(host(A), atol, rtol, hermitian), A)
        ctx.save_for_backward(A, out)
        return out

    @staticmethod
    def backward(ctx, g):
        A, P = ctx.saved_tensors
        m, n = A.shape[-2:]
        Pt, gt = P.mT, g.mT
        if m <= n:
            K = matmul(gt, P)
            KPt = matmul(K, Pt)
            grad = (-matmul(P, K).mT + KPt - matmul(matmul(A, P), KPt)
                    + matmul(matmul(Pt, P), gt - matmul(K, A)))
        else:
            K = matmul(P, gt)
            PtK = matmul(Pt, K)
            grad = (-matmul(K, P).mT + matmul(matmul(gt - matmul(A, K), P), Pt) + PtK
                    - matmul(matmul(PtK, P), A))
        return grad, None, None, None


@autocast_op("none")
def _pinv(A, rcond=None, hermitian=False, *, atol=None, rtol=None):
    """The Moore-Penrose pseudoinverse from the SVD (the eigendecomposition with hermitian,
    reading A's lower triangle), dropping the singular values <= max(atol, rtol * largest).
    rcond is the older name of rtol."""
    if A.ndim < 2 or A.dtype.name not in ("float32", "float64"):
        raise RuntimeError(f"linalg.pinv({dtype_name(A.dtype)}{{{list(A.shape)}}}): expected a tensor with 2 or more "
                           "dimensions of float, double, cfloat or cdouble types")
    if rcond is not None:
        atol, rtol = 0.0, rcond
    atol_values, rtol_values = _tolerances(A, atol, rtol)
    return Pinv.apply(A, atol_values, rtol_values, hermitian)


def pinv(A, rcond=None, hermitian=False, *, atol=None, rtol=None):
    """The Moore-Penrose pseudoinverse from the SVD (the eigendecomposition with hermitian,
    reading A's lower triangle), dropping the singular values <= max(atol, rtol * largest).
    rcond is the older name of rtol. Under autocast in the autocast dtype, as torch's (whose
    pinv ends in a matmul that autocast lowers)."""
    result = _pinv(A, rcond, hermitian, atol=atol, rtol=rtol)
    if _autocast_active.on:
        (result,) = autocast_inputs("lower", result)
    return result


@autocast_op("fp32_cpu")
def matrix_rank(A, tol=None, hermitian=False, *, atol=None, rtol=None):
    """How many singular values (absolute eigenvalues with hermitian) of each matrix exceed
    max(atol, rtol * the largest); tol is the older name of atol (with rtol 0)."""
    check_matrix("torch.linalg.matrix_rank", A, arg="input")
    if tol is not None:
        atol, rtol = tol, 0.0
    a = host(A)
    values = np.abs(np.linalg.eigvalsh(a)) if hermitian else np.linalg.svd(a, compute_uv=False)
    return wrap_int(_kept(values, *_tolerances(A, atol, rtol)).sum(-1), A)


_LSTSQ_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


@autocast_op("fp32_cpu")
def lstsq(A, B, rcond=None, *, driver=None):
    """The least-squares (minimum-norm where A is rank-deficient) solution X of A X = B, as
    torch's CPU drivers give it, with the residuals (squared, per column: only for a tall
    A of full rank and a driver other than the default 'gelsy'), the rank (not for 'gels')
    and the singular values ('gelsd' and 'gelss'). rcond: singular values below rcond times
    the largest count as zero (default: eps * max(m, n)). X is pinv(A) B, and so is its
    gradient, as torch's."""
    name = "torch.linalg.lstsq"
    driver = "gelsy" if driver is None else driver
    if driver not in _LSTSQ_DRIVERS:
        raise RuntimeError(f"{name}: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)")
    if A.ndim < 2:
        raise RuntimeError(f"{name}: input must have at least 2 dimensions.")
    check_matrix(name, A)
    check_same_dtype(name, A, B, ("input", "other"))
    if not 0 <= A.ndim - B.ndim <= 1:
        raise RuntimeError(f"{name}: input.dim() must be greater or equal to other.dim() and "
                           "(input.dim() - other.dim()) <= 1")
    vector = B.ndim == A.ndim - 1
    B_matrix = B.unsqueeze(-1) if vector else B
    if A.shape[-2] != B_matrix.shape[-2]:
        raise RuntimeError(f"{name}: input.size(-2) should match other.size({-1 if vector else -2})")
    m, n = A.shape[-2:]
    tolerance = finfo(A.dtype).eps * max(m, n) if rcond is None else rcond
    X = matmul(pinv(A, rtol=tolerance, atol=0.0), B_matrix)
    singular_values = np.linalg.svd(host(A), compute_uv=False)
    ranks = _kept(singular_values, np.zeros(()), np.asarray(tolerance)).sum(-1)
    batch = X.shape[:-2]
    empty = zeros(0, dtype=A.dtype, device=A.device)
    residuals = empty
    if driver != "gelsy" and m > n and (ranks == n).all():
        error = matmul(A, X) - B_matrix
        residuals = sum(error * error, -2)
    rank = wrap_int(np.zeros(0) if driver == "gels" else np.broadcast_to(ranks, batch), A)
    return linalg_lstsq(X.squeeze(-1) if vector else X, residuals, rank,
                        wrap(singular_values, A) if driver in ("gelsd", "gelss") else empty)


def matrix_power(A, n):
    """A multiplied by itself n times (by repeated squaring): the identity for n = 0, the
    inverse's power for n < 0."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"linalg.matrix_power(): argument 'n' must be int, not {type(n).__name__}")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.matrix_power: A must be batches of square matrices, but they are "
                           f"{A.shape[-2] if A.ndim >= 2 else 1} by {A.shape[-1] if A.ndim else 1} matrices")
    if n == 0:  # as torch: the identity written over a copy of A, so a zero gradient reaches A
        return A.clone().copy_(index.expand(identity(A.shape[-1], A), tuple(A.shape)))
    if n < 0:
        A, n = inv(A), -n
    if n == 1:
        return A.clone()
    result, square = None, A
    while True:
        if n & 1:
            result = square if result is None else matmul(result, square)
        n >>= 1
        if not n:
            return result
        square = matmul(square, square)


# ------------------------------------------------------------------------------ with a Cholesky factor
def _lower_factor(l, upper):
    """The lower-triangular C with A = C C^T, from the factor's upper or lower triangle."""
    return np.swapaxes(np.triu(l), -1, -2) if upper else np.tril(l)


class CholeskyInverse(Function):
    @staticmethod
    def forward(ctx, L, upper):
        c = _lower_factor(host(L), upper)
        diagonal = np.diagonal(c, axis1=-2, axis2=-1)
        singular = (diagonal == 0).any(-1)
        if singular.any():
            k = int(np.flatnonzero(singular)[0])
            i = int(np.argmax(diagonal.reshape(-1, c.shape[-1])[k] == 0)) + 1
            raise LinAlgError(f"cholesky_inverse: {batch_label(k, singular.shape)}The diagonal element {i} is zero, "
                              "the inversion could not be completed because the input matrix is singular.")
        c_inv = np.linalg.inv(c)
        out = wrap(np.swapaxes(c_inv, -1, -2) @ c_inv, L)
        ctx.upper = upper
        ctx.save_for_backward(L, out)
        return out

    @staticmethod
    def backward(ctx, g):
        # torch's formula, which treats L as a full matrix with A = L L^T (or L^T L)
        L, inverse = ctx.saved_tensors
        common = matmul(inverse, matmul(g + g.mT, inverse))
        return -(matmul(L, common) if ctx.upper else matmul(common, L)), None


@autocast_op("fp32_cpu")
def cholesky_inverse(L, upper=False):
    """A^-1 for A = L L^T (U^T U with upper) from its Cholesky factor, reading only the
    factor's lower (upper) triangle. The gradient is torch's, for a full L."""
    check_matrix("cholesky_inverse", L, square=True)
    return CholeskyInverse.apply(L, upper)


def _cholesky_solve_host(b, c):
    """(C C^T)^-1 b for lower-triangular C, NaN for the systems where C is singular."""
    try:
        return np.linalg.solve(np.swapaxes(c, -1, -2), np.linalg.solve(c, b))
    except np.linalg.LinAlgError:
        pass
    flat_b, flat_c = b.reshape(-1, *b.shape[-2:]), c.reshape(-1, *c.shape[-2:])
    out = np.full(flat_b.shape, np.nan, b.dtype)
    for k in range(flat_b.shape[0]):
        try:
            out[k] = np.linalg.solve(flat_c[k].T, np.linalg.solve(flat_c[k], flat_b[k]))
        except np.linalg.LinAlgError:
            pass
    return out.reshape(b.shape)


class CholeskySolve(Function):
    @staticmethod
    def forward(ctx, B, L, upper):
        X = wrap(_cholesky_solve_host(host(B), _lower_factor(host(L), upper)), B)
        ctx.upper = upper
        ctx.save_for_backward(L, X)
        return X

    @staticmethod
    def backward(ctx, g):
        # torch's formulas, which treat L as a full matrix with A = L L^T (or L^T L)
        L, X = ctx.saved_tensors
        gB = CholeskySolve.apply(g, L, ctx.upper)
        common = matmul(gB, X.mT)
        common = common + common.mT
        gL = -(matmul(L, common) if ctx.upper else matmul(common, L))
        return gB, gL, None


@autocast_op("fp32_cpu")
def cholesky_solve(B, L, upper=False):
    """X with A X = B for A = L L^T (U^T U with upper) from its Cholesky factor, reading only
    the factor's lower (upper) triangle; batch dims broadcast. Gradients are torch's."""
    if B.ndim < 2:
        raise RuntimeError(f"b should have at least 2 dimensions, but has {B.ndim} dimensions instead")
    if L.ndim < 2:
        raise RuntimeError(f"u should have at least 2 dimensions, but has {L.ndim} dimensions instead")
    if B.dtype != L.dtype:
        raise RuntimeError(f"Expected b and A to have the same dtype, but found b of type {dtype_name(B.dtype)} and A "
                           f"of type {dtype_name(L.dtype)} instead.")
    check_floating("cholesky_solve", L)
    n = L.shape[-1]
    if L.shape[-2] != n:
        raise RuntimeError(f"A must be batches of square matrices, but they are {L.shape[-2]} by {n} matrices")
    if B.shape[-2] != n:
        raise RuntimeError(f"Incompatible matrix sizes for cholesky_solve: each A matrix is {n} by {n} but each b "
                           f"matrix is {B.shape[-2]} by {B.shape[-1]}")
    batch = broadcast_batch("cholesky_solve", B.shape[:-2], L.shape[:-2])
    B = index.expand(B, (*batch, *B.shape[-2:]))
    L = index.expand(L, (*batch, n, n))
    return CholeskySolve.apply(B, L, upper)


# ------------------------------------------------------------------------------ tensor equations
def _check_square_split(rest, leading, split):
    """That A's dims before and after split (named as torch's message names it) have as many
    elements, so that A reshapes to a square matrix."""
    if math.prod(rest) != math.prod(leading):
        raise RuntimeError(f"Expected self to satisfy the requirement prod(self.shape[{split}:]) == "
                           f"prod(self.shape[:{split}]), but got {math.prod(rest)} != {math.prod(leading)}")


@autocast_op("fp32_cpu")
def tensorinv(A, ind=2):
    """The inverse of A for tensordot over ind dims: A's first ind dims against the rest
    (whose sizes multiply to the same number); the result has shape A.shape[ind:] +
    A.shape[:ind]."""
    if isinstance(ind, bool) or not isinstance(ind, numbers.Integral) or ind <= 0:
        raise RuntimeError(f"Expected a strictly positive integer for 'ind', but got {ind}")
    leading, rest = tuple(A.shape[:ind]), tuple(A.shape[ind:])
    _check_square_split(rest, leading, "ind")
    square = A.reshape(math.prod(leading), math.prod(rest))
    return inv(square).reshape(*rest, *leading)


@autocast_op("fp32_cpu")
def tensorsolve(A, B, dims=None):
    """X with tensordot(A, X, X.ndim) = B: X has shape A.shape[B.ndim:]. dims: dims of A
    moved to its end first."""
    if dims is not None:
        dims = [dims] if isinstance(dims, numbers.Integral) else list(dims)
        A = index.movedim(A, dims, list(range(A.ndim - len(dims), A.ndim)))
    leading, rest = tuple(A.shape[:B.ndim]), tuple(A.shape[B.ndim:])
    _check_square_split(rest, leading, "other.ndim")
    square = A.reshape(math.prod(B.shape), math.prod(rest))
    return solve(square, B.reshape(-1)).reshape(*rest)
