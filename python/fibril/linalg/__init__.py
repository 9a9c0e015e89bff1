"""fibril.linalg: torch.linalg's norms, decompositions, inverses and solvers, batched over
leading dims, for float32 and float64, with torch's results, errors and gradients. numpy's
LAPACK (numpy.linalg) computes on the host; the gradients are fibril ops (see each module)."""

from ._common import LinAlgError
from .decompositions import cholesky, cholesky_ex, eigh, eigvalsh, qr, svd, svdvals
from .norms import matrix_norm, norm, vector_norm
from .products import cross, diagonal, matmul, multi_dot, vecdot
from .solvers import (det, inv, inv_ex, lstsq, matrix_power, matrix_rank, pinv, slogdet, solve,
                      solve_triangular)

__all__ = ["LinAlgError", "cholesky", "cholesky_ex", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "inv_ex",
           "lstsq", "matmul", "matrix_norm", "matrix_power", "matrix_rank", "multi_dot", "norm", "pinv", "qr",
           "slogdet", "solve", "solve_triangular", "svd", "svdvals", "vecdot", "vector_norm"]
