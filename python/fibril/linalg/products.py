"""Products: matmul, multi_dot (in the cheapest order), vecdot, cross and diagonal with
torch.linalg's defaults, and vander (the powers of vectors). Composed from matmul,
elementwise ops and cumprod, so autograd derives every gradient."""

from ..amp.policy import autocast_op
from ..creation import ones_like
from ..ops import contract
from ..ops import elementwise as ew
from ..ops import index
from ..ops.join import cat
from ..ops.matmul import matmul
from ..ops.reduce import cumprod, sum
from ._common import dtype_name


def cross(input, other, *, dim=-1):
    """The cross product of 3-vectors along dim, the other dims broadcasting; both of one
    dtype, as torch's (which does not promote them)."""
    if input.dtype != other.dtype:
        raise RuntimeError(f"linalg.cross: expected input and other to have the same dtype, but got "
                           f"{dtype_name(input.dtype)} and {dtype_name(other.dtype)}")
    return contract.cross(input, other, dim)


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """The offset diagonal of each matrix over dim1, dim2 (a view)."""
    return contract.diagonal(A, offset, dim1, dim2)


@autocast_op("lower")  # in the autocast dtype, as torch's linalg_vecdot (its sum too)
def vecdot(x, y, *, dim=-1):
    """The dot product of the vectors along dim, the other dims broadcasting (floating
    dtypes only, as torch's)."""
    for t in (x, y):
        if not t.dtype.is_floating_point:
            raise RuntimeError(f"linalg.vecdot: Expected a floating point or complex tensor as input. Got "
                               f"{dtype_name(t.dtype)}")
    if x.dtype != y.dtype:
        raise RuntimeError(f"linalg.vecdot: Expected x and y to have the same dtype, but found x of type "
                           f"{dtype_name(x.dtype)} and y of type {dtype_name(y.dtype)} instead")
    return sum(ew.mul(x, y), dim)


def _chain_order(sizes):
    """The cheapest parenthesisation of a chain of matrices with shapes sizes[i] x sizes[i + 1]
    (the textbook dynamic programme): split[i][j] is where the product of i..j splits."""
    count = len(sizes) - 1
    cost = [[0] * count for _ in range(count)]
    split = [[0] * count for _ in range(count)]
    for length in range(1, count):
        for i in range(count - length):
            j = i + length
            cost[i][j], split[i][j] = min(
                (cost[i][k] + cost[k + 1][j] + sizes[i] * sizes[k + 1] * sizes[j + 1], k) for k in range(i, j))
    return split


def multi_dot(tensors):
    """The product of two or more matrices, multiplied in the order that costs the fewest
    flops; the first may be a row vector and the last a column vector (1-D)."""
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    for i, t in enumerate(tensors):
        if t.dtype != tensors[0].dtype:
            raise RuntimeError(f"multi_dot(): all tensors must have be the same dtype but tensor 0 is "
                               f"{dtype_name(tensors[0].dtype).lower()} "
                               f"and tensor {i} {dtype_name(t.dtype).lower()}")
        edge = i in (0, len(tensors) - 1)
        if not (t.ndim == 2 or edge and t.ndim == 1):
            where = "the first tensor" if i == 0 else "the last tensor" if i == len(tensors) - 1 else f"tensor {i}"
            raise RuntimeError(f"multi_dot(): {where} must be {'1D or 2D' if edge else '2D'} but got {t.ndim}D")
    first_vector, last_vector = tensors[0].ndim == 1, tensors[-1].ndim == 1
    matrices = [t.unsqueeze(0) if i == 0 and first_vector else t for i, t in enumerate(tensors)]
    if last_vector:
        matrices[-1] = matrices[-1].unsqueeze(-1)
    for i in range(len(matrices) - 1):
        if matrices[i].shape[1] != matrices[i + 1].shape[0]:
            raise RuntimeError(f"multi_dot(): tensors {i} and {i + 1} with shapes {list(tensors[i].shape)} and "
                               f"{list(tensors[i + 1].shape)} cannot be multiplied")
    split = _chain_order([matrices[0].shape[0]] + [m.shape[1] for m in matrices])

    def product(i, j):
        if i == j:
            return matrices[i]
        k = split[i][j]
        return matmul(product(i, k), product(k + 1, j))

    out = product(0, len(matrices) - 1)
    if first_vector:
        out = out.squeeze(0)
    return out.squeeze(-1) if last_vector else out


def vander(x, N=None):
    """The Vandermonde matrices of the vectors along x's last dim: column j holds x^j, for
    j < N (default: x's length). A cumulative product, as torch's, so integers stay exact."""
    if x.dtype.name == "bool":
        raise RuntimeError("linalg.vander supports floating point, complex, and integer tensors, but got Bool")
    N = (x.shape[-1] if x.ndim else 1) if N is None else N
    if N <= 1 or x.ndim == 0:
        raise RuntimeError("N must be greater than 1.")
    powers = cumprod(index.expand(x.unsqueeze(-1), (*x.shape, N - 1)), -1)
    return cat([ones_like(powers[..., :1]), powers], -1)
