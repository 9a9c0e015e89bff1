"""Contraction family: einsum, tensordot, outer/ger, inner, kron, cross, cdist, diagonal, diag,
diag_embed, trace. Forward vs numpy (float64) and PyTorch, gradients vs PyTorch and gradcheck,
size-0 and size-1 dims, non-contiguous inputs, the diagonal's view semantics, bad inputs."""

import re

import numpy as np
import pytest

import fibril
from op_check import assert_all_close, check_op, check_program, make_inputs, on_cpu_and_cuda, torch

TRANSPOSED = lambda t: t.transpose(0, 1).contiguous().transpose(0, 1)  # noqa: E731 (same values, column-major)


def lib(t):
    """The library of a tensor check_op passes: fibril or torch."""
    return fibril if isinstance(t, fibril.Tensor) else torch


# ------------------------------------------------------------------------------ einsum
EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bij,bkj->bki", [(2, 1, 4), (2, 3, 4)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(4, 4)]),
    ("bii->bi", [(2, 3, 3)]),
    ("iji->j", [(3, 2, 3)]),
    ("iii->", [(2, 2, 2)]),
    ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ij", [(3, 4)]),
    ("i,i->", [(5,), (5,)]),
    ("i,j->ij", [(2,), (3,)]),
    ("ab,cD", [(2, 1), (1, 3)]),  # implicit output in code-point order: D, a, b, c
    ("ij,ij,ij->i", [(2, 3), (2, 3), (2, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("a,b,c->cab", [(2,), (3,), (4,)]),
    ("ij,jk,ik->", [(2, 3), (3, 4), (2, 4)]),
    ("bij,jk->b", [(2, 3, 4), (4, 5)]),  # k summed alone before the contraction
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("...i,...i", [(3, 4), (4,)]),
    ("i...->...", [(2, 3, 4)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("i...j,j...", [(2, 4, 3), (3, 4)]),
    (" i j -> j ", [(2, 3)]),
    ("ij,jk->ik", [(2, 0), (0, 3)]),
    ("ij,jk->ik", [(0, 3), (3, 2)]),
    ("ii->i", [(0, 0)]),
    ("ij->", [(1, 0)]),
    ("", [()]),
    ("...->...", [()]),
    (",->", [(), ()]),
    ("i,->i", [(3,), ()]),
]


@pytest.mark.parametrize("equation,shapes", EINSUM_CASES)
def test_einsum(equation, shapes):
    def numpy_fn(*arrays):
        return np.einsum(equation.replace(" ", ""), *arrays)

    check_op(lambda *ts: lib(ts[0]).einsum(equation, *ts), lambda *ts: torch.einsum(equation, *ts),
             make_inputs(shapes), numpy_fn=numpy_fn)


def test_einsum_broadcasts_size_one_labels():
    """torch broadcasts a label's size-1 dims (numpy does not: the reference broadcasts first)."""
    def numpy_fn(a, b):
        return np.einsum("ij,j->i", np.broadcast_to(a, (3, 4)), b)

    check_op(lambda a, b: fibril.einsum("ij,j->i", a, b), lambda a, b: torch.einsum("ij,j->i", a, b),
             make_inputs([(3, 1), (4,)]), numpy_fn=numpy_fn)


def test_einsum_sums_ellipsis_dims_missing_from_the_output():
    """torch sums them; numpy refuses the equation."""
    check_op(lambda x: fibril.einsum("...ij->ij", x), lambda x: torch.einsum("...ij->ij", x),
             make_inputs([(2, 3, 4, 5)]), numpy_fn=lambda a: a.sum((0, 1)))


def test_einsum_list_of_operands_and_non_contiguous():
    check_op(lambda a, b: fibril.einsum("ij,jk->ki", [a, b]), lambda a, b: torch.einsum("ij,jk->ki", [a, b]),
             make_inputs([(3, 4), (4, 2)]), numpy_fn=lambda a, b: np.einsum("ij,jk->ki", a, b), layout=TRANSPOSED)


@pytest.mark.parametrize("equation,shapes,problem", [
    ("ij,jk", [(2, 3)], "2 operand(s) but 1 were given"),
    ("ij", [(2, 3), (3, 2)], "1 operand(s) but 2 were given"),
    ("ij,jk", [(2, 3), (4, 2)], "subscript j has size 4 in operand 1"),
    ("...i,...i", [(2, 3), (4, 3)], "ellipsis dim has size 4 in operand 1"),
    ("ii", [(2, 3)], "subscript i is repeated in operand 0 with sizes 2 and 3"),
    ("ij", [(2,)], "operand 0 has 1 dim(s) but its term has 2 subscript(s) and no ellipsis"),
    ("ijk...", [(2, 3)], "operand 0 has 2 dim(s) but its term has 3 subscript(s)"),
    ("i1", [(2, 2)], "invalid subscript '1'"),
    ("i..j", [(2, 2)], "is not part of an ellipsis"),
    ("i...->...i...", [(2,)], "more than one ellipsis"),
    ("i->j", [(2,)], "output subscript j does not appear"),
    ("ii->ii", [(2, 2)], "output subscript i appears more than once"),
])
def test_einsum_errors(equation, shapes, problem):
    operands = [fibril.zeros(*s) for s in shapes]
    with pytest.raises(ValueError, match=re.escape(problem)) as info:
        fibril.einsum(equation, *operands)
    assert repr(equation) in str(info.value) and str([list(s) for s in shapes]) in str(info.value)


def test_einsum_rejects_non_tensors():
    with pytest.raises(TypeError, match="expected Tensor operands"):
        fibril.einsum("i,i", fibril.ones(2), [1.0, 2.0])


# ------------------------------------------------------------------------------ tensordot, outer, inner, kron
@pytest.mark.parametrize("shapes,dims", [
    ([(3, 4, 5), (4, 5, 2)], 2),
    ([(3, 4), (4, 2)], 1),
    ([(3, 2), (4,)], 0),
    ([(3, 4, 5), (5, 4, 2)], ([1, 2], [1, 0])),
    ([(3, 4, 5), (5, 2)], [[-1], [0]]),
    ([(3, 4, 5), (2, 3)], ([0], [1])),
    ([(0, 4), (4, 3)], 1),
    ([(3, 0), (0, 2)], 1),
])
def test_tensordot(shapes, dims):
    check_op(lambda a, b: fibril.tensordot(a, b, dims), lambda a, b: torch.tensordot(a, b, dims),
             make_inputs(shapes), numpy_fn=lambda a, b: np.tensordot(a, b, dims))


def test_tensordot_broadcasts_size_one():
    """As torch: a contracted size-1 dim pairs with any size."""
    check_op(lambda a, b: fibril.tensordot(a, b, ([1], [0])), lambda a, b: torch.tensordot(a, b, ([1], [0])),
             make_inputs([(2, 3), (1, 2)]), numpy_fn=lambda a, b: a.sum(1, keepdims=True) * b)


@pytest.mark.parametrize("dims,error,problem", [
    (([1], [0]), ValueError, "contracted dimensions need to match, but first has size 3 in dim 1 and second has "
                             "size 4 in dim 0"),
    (([1, 1], [0, 0]), ValueError, "appears multiple times"),
    (([1], [0, 1]), ValueError, "same length"),
    (3, ValueError, "dims <= min(a.ndim, b.ndim)"),
    (-1, ValueError, "0 <= dims"),
    (([5], [0]), IndexError, "Dimension out of range"),
])
def test_tensordot_errors(dims, error, problem):
    with pytest.raises(error, match=re.escape(problem)):
        fibril.tensordot(fibril.ones(2, 3), fibril.ones(4, 2), dims)


@pytest.mark.parametrize("fn", ["outer", "ger"])
@pytest.mark.parametrize("shapes", [[(3,), (4,)], [(0,), (2,)], [(1,), (1,)]])
def test_outer(fn, shapes):
    check_op(lambda a, b: getattr(a, fn)(b), lambda a, b: getattr(torch, fn)(a, b), make_inputs(shapes),
             numpy_fn=np.outer)
    assert fibril.ger is fibril.outer


def test_outer_errors():
    with pytest.raises(ValueError, match="Expected 1-D argument self, but got 2-D"):
        fibril.outer(fibril.ones(2, 2), fibril.ones(2))
    with pytest.raises(ValueError, match="Expected 1-D argument vec2, but got 0-D"):
        fibril.outer(fibril.ones(2), fibril.ones(()))


@pytest.mark.parametrize("shapes", [[(2, 3), (4, 3)], [(3,), (3,)], [(2, 1, 3), (3,)], [(2, 3), ()], [(), ()],
                                    [(2, 0), (3, 0)]])
def test_inner(shapes):
    check_op(lambda a, b: a.inner(b), torch.inner if torch else None, make_inputs(shapes), numpy_fn=np.inner)


def test_inner_error():
    with pytest.raises(ValueError, match=re.escape("must match on both input tensors but got shapes [2, 3] and [4]")):
        fibril.inner(fibril.ones(2, 3), fibril.ones(4))


@pytest.mark.parametrize("shapes", [[(2, 3), (4, 5)], [(2,), (3, 2)], [(2, 1, 3), (2, 2)], [(), ()], [(3,), ()],
                                    [(0, 2), (3,)], [(1, 1), (1, 1)]])
def test_kron(shapes):
    check_op(lambda a, b: a.kron(b), torch.kron if torch else None, make_inputs(shapes), numpy_fn=np.kron)


# ------------------------------------------------------------------------------ diagonals
@pytest.mark.parametrize("shape,offset,dim1,dim2", [
    ((3, 4), 0, 0, 1), ((3, 4), 1, 0, 1), ((3, 4), -2, 0, 1), ((3, 4), 5, 0, 1), ((3, 4), -3, 0, 1),
    ((4, 3), 0, 1, 0), ((2, 3, 4), 1, 2, 0), ((2, 3, 4), -1, -1, -2), ((2, 0, 3), 0, 0, 2), ((1, 1), 0, 0, 1),
])
def test_diagonal(shape, offset, dim1, dim2):
    check_op(lambda x: x.diagonal(offset, dim1, dim2), lambda x: torch.diagonal(x, offset, dim1, dim2),
             make_inputs([shape]), numpy_fn=lambda a: np.diagonal(a, offset, dim1, dim2))


def test_diagonal_of_non_contiguous_and_expanded_inputs():
    check_op(lambda x: fibril.diagonal(x, 1), lambda x: torch.diagonal(x, 1), make_inputs([(4, 5)]),
             numpy_fn=lambda a: np.diagonal(a, 1), layout=TRANSPOSED)
    check_op(lambda x: x.expand(2, 3, 3).diagonal(0, 1, 2), lambda x: x.expand(2, 3, 3).diagonal(0, 1, 2),
             make_inputs([(3, 1)]), numpy_fn=lambda a: np.diagonal(np.broadcast_to(a, (2, 3, 3)), 0, 1, 2))


def test_diagonal_is_a_view():
    x = fibril.zeros(3, 4)
    x.diagonal(1).fill_(1.0)
    np.testing.assert_array_equal(x.numpy(), np.eye(3, 4, 1))
    d = x.diagonal()
    assert d._base is x and not d.is_contiguous()


def test_diagonal_view_written_in_place_under_autograd():
    def program(lib, x):
        y = x * 1
        y.diagonal().mul_(3)
        return y * y

    check_program(program, [(3, 3)])


def test_diagonal_errors():
    with pytest.raises(ValueError, match="diagonal dimensions cannot be identical 0, -2"):
        fibril.diagonal(fibril.ones(2, 2), 0, 0, -2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        fibril.diagonal(fibril.ones(2))


def _diag_embed_reference(a, offset, dim1, dim2):
    n = a.shape[-1] + abs(offset)
    ndim = a.ndim + 1
    out = np.zeros(a.shape[:-1] + (n, n))
    rest = [d for d in range(ndim) if d not in (dim1 % ndim, dim2 % ndim)]
    for i in range(a.shape[-1]):
        out[..., i + max(-offset, 0), i + max(offset, 0)] = a[..., i]
    return np.moveaxis(out, [ndim - 2, ndim - 1] + list(range(ndim - 2)), [dim1 % ndim, dim2 % ndim] + rest)


@pytest.mark.parametrize("shape,offset,dim1,dim2", [
    ((3,), 0, -2, -1), ((3,), 2, 0, 1), ((3,), -1, 1, 0), ((2, 3), 1, 0, 2), ((2, 3), -2, -1, 0),
    ((2, 3, 4), 0, 1, 3), ((0,), 1, 0, 1), ((2, 0), 0, -2, -1), ((1,), 0, 0, 1),
])
def test_diag_embed(shape, offset, dim1, dim2):
    check_op(lambda x: x.diag_embed(offset, dim1, dim2), lambda x: torch.diag_embed(x, offset, dim1, dim2),
             make_inputs([shape]), numpy_fn=lambda a: _diag_embed_reference(a, offset, dim1, dim2))


def test_diag_embed_keeps_inf_and_nan_on_the_diagonal():
    out = fibril.diag_embed(fibril.tensor([np.inf, np.nan, 1.0]), 1).numpy()
    expected = np.diag([np.inf, np.nan, 1.0], 1)
    np.testing.assert_array_equal(out, expected)


def test_diag_embed_error():
    with pytest.raises(ValueError, match="diagonal dimensions cannot be identical"):
        fibril.diag_embed(fibril.ones(2, 3), 0, 1, -2)


@pytest.mark.parametrize("shape,diagonal", [((3,), 0), ((3,), 2), ((3,), -1), ((0,), 1), ((3, 4), 0), ((3, 4), 1),
                                            ((3, 4), -2), ((3, 4), 7), ((0, 2), 0)])
def test_diag(shape, diagonal):
    check_op(lambda x: x.diag(diagonal), lambda x: torch.diag(x, diagonal), make_inputs([shape]),
             numpy_fn=lambda a: np.diag(a, diagonal))


def test_diag_of_a_matrix_is_a_copy_and_rejects_other_ranks():
    x = fibril.zeros(2, 2)
    fibril.diag(x).fill_(1.0)
    assert x.numpy().sum() == 0
    for shape in [(), (2, 2, 2)]:
        with pytest.raises(ValueError, match=f"Supports 1D or 2D tensors. Got {len(shape)}D"):
            fibril.diag(fibril.ones(*shape))


@pytest.mark.parametrize("shape", [(3, 3), (3, 4), (4, 2), (0, 0), (1, 5)])
def test_trace(shape):
    check_op(lambda x: x.trace(), torch.trace if torch else None, make_inputs([shape]), numpy_fn=np.trace)


def test_trace_of_ints_is_int64_and_needs_a_matrix():
    x = fibril.tensor(np.arange(9, dtype=np.int32).reshape(3, 3))
    t = fibril.trace(x)
    assert t.dtype == fibril.int64 and t.item() == 12
    with pytest.raises(ValueError, match="trace: expected a matrix, but got tensor with dim 1"):
        fibril.trace(fibril.ones(3))


# ------------------------------------------------------------------------------ cross, cdist
@pytest.mark.parametrize("shapes,dim", [([(3,), (3,)], None), ([(4, 3), (1, 3)], -1), ([(3, 5), (3, 5)], 0),
                                        ([(2, 3, 4), (2, 3, 1)], 1), ([(0, 3), (0, 3)], None)])
def test_cross(shapes, dim):
    d = -1 if dim is None else dim
    check_op(lambda a, b: a.cross(b, dim), lambda a, b: torch.linalg.cross(a, b, dim=d), make_inputs(shapes),
             numpy_fn=lambda a, b: np.cross(a, b, axis=d))


def test_cross_errors():
    with pytest.raises(ValueError, match="inputs dimension 1 must have length 3"):
        fibril.cross(fibril.ones(3, 2), fibril.ones(3, 2))
    with pytest.raises(ValueError, match="inputs must have the same number of dimensions"):
        fibril.cross(fibril.ones(2, 3), fibril.ones(3))


def _cdist_reference(p):
    def numpy_fn(a, b):
        diff = a[..., :, None, :] - b[..., None, :, :]
        return np.linalg.norm(diff, ord=p, axis=-1) if diff.shape[-1] else np.zeros(diff.shape[:-1])

    return numpy_fn


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0, 2.0, 3.0, float("inf")])
@pytest.mark.parametrize("shapes", [[(5, 3), (4, 3)], [(2, 5, 3), (2, 1, 3)], [(2, 1, 3, 4), (5, 2, 4)],
                                    [(0, 3), (2, 3)], [(3, 0), (2, 0)]])
def test_cdist(p, shapes):
    check_op(lambda a, b: fibril.cdist(a, b, p), lambda a, b: torch.cdist(a, b, p), make_inputs(shapes),
             numpy_fn=_cdist_reference(p), atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("mode", ["use_mm_for_euclid_dist", "use_mm_for_euclid_dist_if_necessary"])
def test_cdist_by_matmul(mode):
    """p = 2 through the matmul form: always with use_mm_for_euclid_dist, past 25 rows by default."""
    shapes = [(2, 4, 3), (2, 5, 3)] if mode == "use_mm_for_euclid_dist" else [(30, 3), (4, 3)]
    check_op(lambda a, b: fibril.cdist(a, b, compute_mode=mode), lambda a, b: torch.cdist(a, b, compute_mode=mode),
             make_inputs(shapes), numpy_fn=_cdist_reference(2), atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("mode", ["use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"])
def test_cdist_gradient_is_zero_at_zero_distance(mode):
    """Rows of x2 equal to rows of x1 (small integers: the matmul form is exact too)."""
    a = np.random.default_rng(3).integers(-3, 4, size=(4, 3)).astype(np.float64)
    b = np.concatenate([a[:2], a[:2] + 1.0, [[0.0, 0.0, 0.0]]])
    out = check_op(lambda x, y: fibril.cdist(x, y, compute_mode=mode),
                   lambda x, y: torch.cdist(x, y, compute_mode=mode), [a, b], numpy_fn=_cdist_reference(2),
                   gradcheck=False)
    assert out.detach().numpy()[0, 0] == 0 and out.detach().numpy()[1, 1] == 0
    x, y = fibril.tensor(a[:1], requires_grad=True), fibril.tensor(a[:1], requires_grad=True)
    fibril.cdist(x, y, compute_mode=mode).sum().backward()
    assert np.all(x.grad.numpy() == 0) and np.all(y.grad.numpy() == 0)


@pytest.mark.parametrize("x1,x2,kwargs,problem", [
    ((3,), (2, 3), {}, "at least 2D tensors"),
    ((2, 3), (2, 4), {}, "X1 and X2 must have the same number of columns. X1: 3 X2: 4"),
    ((2, 3), (2, 3), {"p": -1.0}, "non-negative p values"),
    ((2, 3), (2, 3), {"compute_mode": "fast"}, "'fast' is not a valid value for compute_mode"),
])
def test_cdist_errors(x1, x2, kwargs, problem):
    with pytest.raises(ValueError, match=re.escape(problem)):
        fibril.cdist(fibril.ones(*x1), fibril.ones(*x2), **kwargs)


# ------------------------------------------------------------------------------ CUDA
@pytest.mark.cuda
@pytest.mark.parametrize("name,fn,shapes", [
    ("einsum", lambda d, a, b: fibril.einsum("bii,bij->bj", a, b), [(2, 3, 3), (2, 3, 4)]),
    ("tensordot", lambda d, a, b: fibril.tensordot(a, b, ([0, 2], [2, 0])), [(2, 3, 4), (4, 5, 2)]),
    ("diagonal", lambda d, a: a.diagonal(1, 0, 2) * 2, [(3, 2, 4)]),
    ("diag_embed", lambda d, a: fibril.diag_embed(a, -1, 0, 2), [(2, 3)]),
    ("kron", lambda d, a, b: fibril.kron(a, b), [(2, 3), (3, 2)]),
    ("cross", lambda d, a, b: fibril.cross(a, b), [(4, 3), (4, 3)]),
    ("cdist", lambda d, a, b: fibril.cdist(a, b, 1.5), [(5, 3), (4, 3)]),
    ("cdist_mm", lambda d, a, b: fibril.cdist(a, b, compute_mode="use_mm_for_euclid_dist"), [(5, 3), (4, 3)]),
])
def test_cuda_matches_cpu(name, fn, shapes):
    cpu, cuda = on_cpu_and_cuda(fn, make_inputs(shapes))
    assert_all_close(cpu, cuda, rtol=1e-10, atol=1e-10)
