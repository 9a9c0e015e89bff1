"""Matrix functions: matrix_exp, by scaling and squaring with the degree-13 Padé approximant
(Higham, "The scaling and squaring method for the matrix exponential revisited", 2005) in
numpy over the whole batch. Its gradient is torch's: the Fréchet derivative in the direction
of the cotangent, the top-right block of exp([[A^T, G], [0, A^T]]), itself a matrix_exp and
so differentiable again."""

import numpy as np

from ..amp.policy import autocast_op
from ..autograd import Function
from ..creation import zeros_like
from ..ops import index
from ..ops.join import cat
from ._common import check_matrix, host, wrap

# b_0 .. b_13 of the [13/13] Padé approximant of exp, and the largest 1-norm for which it
# is accurate to double precision without scaling
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0, 129060195264000.0,
           10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def _expm(a):
    """exp of each matrix of a (..., n, n), computed in float64."""
    a = np.asarray(a, dtype=np.float64)
    n = a.shape[-1]
    if a.size == 0:
        return a.copy()
    norms = np.abs(a).sum(-2).max(-1)  # the 1-norm: the largest column sum
    squarings = np.maximum(0, np.ceil(np.log2(np.maximum(norms, 1e-300) / _THETA13))).astype(int)
    a = a / (2.0 ** squarings)[..., None, None]
    b = _PADE13
    eye = np.eye(n)
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    out = np.linalg.solve(v - u, v + u)
    for step in range(int(squarings.max(initial=0))):
        out = np.where((step < squarings)[..., None, None], out @ out, out)
    return out


class MatrixExp(Function):
    @staticmethod
    def forward(ctx, A):
        ctx.save_for_backward(A)
        if A.dtype.itemsize < 4:  # float16 / bfloat16, which numpy's wrap cannot hold: via float32
            return wrap(_expm(host(A)), A.float()).to(A.dtype)
        return wrap(_expm(host(A)), A)

    @staticmethod
    def backward(ctx, g):
        (A,) = ctx.saved_tensors
        n = A.shape[-1]
        At = A.mT
        block = cat([cat([At, g], -1), cat([zeros_like(At), At], -1)], -2)
        return index.narrow(index.narrow(MatrixExp.apply(block), -2, 0, n), -1, n, n)


@autocast_op("none")
def matrix_exp(A):
    """The exponential sum_k A^k / k! of each square matrix of A. float16 and bfloat16 too
    (as torch accepts them), computed in float64 (torch's own result there overflows)."""
    check_matrix("linalg.matrix_exp", A, square=True, low_precision=True)
    return MatrixExp.apply(A)
