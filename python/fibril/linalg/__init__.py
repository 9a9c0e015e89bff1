"""fibril.linalg: torch.linalg's norms, decompositions, inverses and solvers, batched over
leading dims, for float32 and float64, with torch's results, errors and gradients. numpy's
LAPACK (numpy.linalg) computes on the host, and numpy the LU factorisation and the matrix
exponential; the gradients are fibril ops (see each module). eig and eigvals raise
NotImplementedError: their results are complex, which fibril's dtypes are not."""

from ._common import LinAlgError
from .decompositions import (cholesky, cholesky_ex, eig, eigh, eigvals, eigvalsh, householder_product, qr, svd,
                             svdvals)
from .lu_factorization import lu, lu_factor, lu_factor_ex, lu_solve, solve_ex
from .matrix_functions import matrix_exp
from .norms import cond, matrix_norm, norm, vector_norm
from .products import cross, diagonal, matmul, multi_dot, vander, vecdot
from .solvers import (det, inv, inv_ex, lstsq, matrix_power, matrix_rank, pinv, slogdet, solve, solve_triangular,
                      tensorinv, tensorsolve)

__all__ = ["LinAlgError", "cholesky", "cholesky_ex", "cond", "cross", "det", "diagonal", "eig", "eigh", "eigvals",
           "eigvalsh", "householder_product", "inv", "inv_ex", "lstsq", "lu", "lu_factor", "lu_factor_ex", "lu_solve",
           "matmul", "matrix_exp", "matrix_norm", "matrix_power", "matrix_rank", "multi_dot", "norm", "pinv", "qr",
           "slogdet", "solve", "solve_ex", "solve_triangular", "svd", "svdvals", "tensorinv", "tensorsolve", "vander",
           "vecdot", "vector_norm"]
