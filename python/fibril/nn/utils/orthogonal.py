"""parametrizations.orthogonal as torch's: a matrix (or batch) with orthonormal columns (rows
when wide) made from an unconstrained one by the matrix exponential or Cayley map of a
skew-symmetric matrix, or by a product of Householder reflectors; with use_trivialization the
result is multiplied by a base kept in the buffer parametrizations.<name>[0].base (the
"dynamic trivialization", which assigning to the weight resets)."""

import enum

import numpy as np

from ... import creation, linalg
from ...autograd import no_grad
from ...ops.elementwise_math import allclose
from ...ops.join import cat
from ...random import randn
from ...tensor import Tensor
from ...typeinfo import finfo
from ..module import Module
from . import parametrize


def _is_orthogonal(Q):
    n, k = Q.shape[-2], Q.shape[-1]
    Id = creation.eye(k, dtype=Q.dtype, device=Q.device)
    return allclose(Q.mT @ Q, Id, atol=10.0 * n * finfo(Q.dtype).eps)


def _make_orthogonal(A):
    """The Q of A = QR (A tall) with diag(R) non-negative."""
    Q, R = linalg.qr(A)
    return Q * R.diagonal(dim1=-2, dim2=-1).sgn().unsqueeze(-2)


def _householder_right_inverse(Q):
    """torch's geqrf(Q) with its diagonal made the signs that reproduce Q's columns."""
    values = Q.detach().cpu().numpy()
    out = np.empty_like(values)
    for i in np.ndindex(values.shape[:-2]):
        h, tau = np.linalg.qr(values[i], mode="raw")  # geqrf's result, transposed (Fortran order)
        a = h.T.copy()
        diagonal = np.sign(np.diagonal(a)).copy()
        diagonal[tau == 0.0] *= -1
        np.fill_diagonal(a, diagonal)
        out[i] = a
    return creation.tensor(out, dtype=Q.dtype, device=Q.device)


class _OrthMaps(enum.Enum):
    matrix_exp = enum.auto()
    cayley = enum.auto()
    householder = enum.auto()


class _Orthogonal(Module):
    def __init__(self, weight, orthogonal_map, *, use_trivialization=True):
        super().__init__()
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X):
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        if self.orthogonal_map in (_OrthMaps.matrix_exp, _OrthMaps.cayley):
            X = X.tril()
            if n != k:
                X = cat([X, X.new_zeros(n, n - k).expand(*X.shape[:-2], -1, -1)], dim=-1)
            A = X - X.mT
            if self.orthogonal_map == _OrthMaps.matrix_exp:
                Q = linalg.matrix_exp(A)
            else:
                Id = creation.eye(n, dtype=A.dtype, device=A.device)
                Q = linalg.solve(Id - 0.5 * A, Id + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(diagonal=-1)
            tau = 2.0 / (1.0 + (A * A).sum(dim=-2))
            Q = linalg.householder_product(A, tau)
            Q = Q * X.diagonal(dim1=-2, dim2=-1).int().unsqueeze(-2)
        if hasattr(self, "base"):
            Q = self.base @ Q
        return Q.mT if transposed else Q

    def right_inverse(self, Q):
        if Q.shape != self.shape:
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. "
                             f"Got a tensor of shape {Q.shape}.")
        with no_grad():
            Q_init = Q
            n, k = Q.shape[-2], Q.shape[-1]
            transpose = n < k
            if transpose:
                Q = Q.mT
                n, k = k, n
            if not hasattr(self, "base"):
                if self.orthogonal_map in (_OrthMaps.cayley, _OrthMaps.matrix_exp):
                    raise NotImplementedError("It is not possible to assign to the matrix exponential or the Cayley "
                                              "parametrizations when use_trivialization=False.")
                A = _householder_right_inverse(Q)
                return A.mT if transpose else A
            if n == k:
                Q = Q.clone() if _is_orthogonal(Q) else _make_orthogonal(Q)
            else:  # completed to a square orthogonal base at random
                N = randn(*Q.shape[:-2], n, n - k, dtype=Q.dtype, device=Q.device)
                Q = _make_orthogonal(cat([Q, N], dim=-1))
            self.base = Q
            # the start value that the base alone turns into Q_init: -I, as torch
            neg_Id = -creation.eye(*Q_init.shape[-2:], dtype=Q_init.dtype, device=Q_init.device)
            return neg_Id.expand(Q_init.shape).contiguous()


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """module.<name> (a matrix or batch of them, ... x m x n) parametrized to have orthonormal
    columns (m >= n) or rows. orthogonal_map: "matrix_exp" (default when square), "cayley" or
    "householder" (default otherwise). The initial value is the weight itself when orthogonal,
    else the Q of its QR decomposition."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    orth_enum = getattr(_OrthMaps, orthogonal_map, None)
    if orth_enum is None:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
                         f"Got: {orthogonal_map}")
    orth = _Orthogonal(weight, orth_enum, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module
