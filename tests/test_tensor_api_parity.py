"""Tensor / top-level API parity with torch: in-place ops' keyword arguments, scatter with
reduce and scatter_reduce, index_fill/index_copy/put/index_put, unfold, as_strided, shifts,
fmax/fmin, dtype helpers, and the overlap checks of the gather family's in-place ops."""

import math

import numpy as np
import pytest

import fibril
from op_check import check_op, make_inputs, torch

pytestmark = pytest.mark.skipif(torch is None, reason="needs torch as the oracle")


def _both(code, **arrays):
    """code run with fibril and torch on tensors made from the numpy arrays: each result as
    numpy (or the exception type)."""
    results = []
    for lib in (fibril, torch):
        env = {"L": lib, **{k: lib.tensor(v) for k, v in arrays.items()}}
        try:
            out = eval(code, env)
        except Exception as e:  # compared by type below
            results.append(type(e))
            continue
        results.append((np.asarray(out), str(out.dtype).split(".")[-1]) if hasattr(out, "dtype") else out)
    return results


def _assert_same(code, **arrays):
    got, want = _both(code, **arrays)
    if isinstance(want, tuple):
        assert isinstance(got, tuple), (code, got)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-6)
        assert got[0].shape == want[0].shape and got[1] == want[1], (code, got, want)
    elif want is RuntimeError:
        # torch's catch-all; fibril raises the Python exception for the kind of error (a wrong
        # shape or value: ValueError, a wrong dtype: TypeError, an out-of-range index: IndexError)
        assert got in (RuntimeError, ValueError, TypeError, IndexError), (code, got, want)
    else:
        assert got == want, (code, got, want)


X = (np.arange(12.0).reshape(4, 3) - 5.5).astype(np.float32)
Y = np.linspace(-2.0, 3.0, 12).reshape(4, 3).astype(np.float32)
I = np.array([[5, -7, 9], [-3, 4, 100]])


# ------------------------------------------------------------------------------ 1: in-place keyword args
@pytest.mark.parametrize("code", [
    "x.clone().add_(y, alpha=2)", "x.clone().sub_(y, alpha=-0.5)", "x.clone().add_(other=y)",
    "x.clone().div_(y, rounding_mode='floor')", "x.clone().div_(y, rounding_mode='trunc')",
    "x.clone().div_(y, rounding_mode=None)", "i.clone().div_(3, rounding_mode='trunc')",
    "i.clone().div_(-3, rounding_mode='floor')", "i.clone().add_(i, alpha=3)",
    "x.clone().t().add_(y.t(), alpha=3)",
])
def test_inplace_keyword_args_match_out_of_place(code):
    _assert_same(code, x=X, y=Y, i=I)


@pytest.mark.parametrize("code", ["i.clone().add_(1, alpha=1.5)", "x.clone().mul_(y, alpha=2)",
                                  "i.clone().div_(2)"])
def test_inplace_keyword_args_errors(code):
    _assert_same(code, x=X, y=Y, i=I)


def test_add_alpha_inplace_gradient_and_version():
    a = fibril.tensor(X, requires_grad=True)
    b = fibril.tensor(Y, requires_grad=True)
    ta, tb = torch.tensor(X, requires_grad=True), torch.tensor(Y, requires_grad=True)
    out, ref = a * 1, ta * 1
    version = out._version.value
    out.sub_(b, alpha=3)
    ref.sub_(tb, alpha=3)
    assert out._version.value == version + 1
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy())
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy())


# ------------------------------------------------------------------------------ 5: overlap checks
@pytest.mark.parametrize("code", [
    "x.scatter_(0, L.tensor([[0, 1, 2]]), x)", "x.scatter_add_(0, L.tensor([[0, 1, 2]]), x[:2])",
    "x.index_add_(0, L.tensor([0]), x[:1])", "x.__setitem__([1, 2, 3], x[:3])",
    "x.scatter_(0, L.tensor([[0, 1, 2]]), x[1:].clone())", "x.masked_fill_(x > 0, 1.0)",
    "x.__setitem__([1, 2, 3], x[:3].clone())", "x.index_copy_(0, L.tensor([0]), x[:1])",
])
def test_gather_inplace_overlap(code):
    _assert_same(code, x=X)


def test_masked_fill_partial_overlap_with_mask():
    for lib in (fibril, torch):
        buf = lib.zeros(8, dtype=lib.bool)
        with pytest.raises(RuntimeError):
            buf[:4].masked_fill_(buf[2:6], True)


# ------------------------------------------------------------------------------ 2: scatter reduce
def _scatter_reduce_case(shape, dim, index_shape, reduce, include_self, dtype, ties, seed=0):
    rng = np.random.default_rng(seed)
    draw = (lambda s: rng.integers(-2, 3, size=s)) if ties else rng.standard_normal
    x, src = draw(shape).astype(dtype), draw(index_shape).astype(dtype)
    size = shape[dim % len(shape)] if shape else 1
    index = rng.integers(0, size, size=index_shape)
    floating = dtype == "float64"
    fx, fs = fibril.tensor(x, requires_grad=floating), fibril.tensor(src, requires_grad=floating)
    tx, ts = torch.tensor(x, requires_grad=floating), torch.tensor(src, requires_grad=floating)
    out = fx.scatter_reduce(dim, fibril.tensor(index), fs, reduce, include_self=include_self)
    ref = tx.scatter_reduce(dim, torch.tensor(index), ts, reduce, include_self=include_self)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    assert out.dtype.name == str(ref.dtype).split(".")[-1]
    if floating:
        cot = rng.standard_normal(tuple(ref.shape))
        out.backward(fibril.tensor(cot))
        ref.backward(torch.tensor(cot))
        np.testing.assert_allclose(fx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fs.grad.numpy(), ts.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("case", [((4, 3), 0, (6, 2)), ((4, 3), -1, (2, 5)), ((5,), 0, (7,)), ((), 0, ()),
                                  ((3, 4), 1, (0, 2)), ((2, 3, 4), 1, (2, 5, 3))])
@pytest.mark.parametrize("dtype,ties", [("float64", False), ("float64", True), ("int64", True)])
def test_scatter_reduce(reduce, include_self, case, dtype, ties):
    _scatter_reduce_case(*case, reduce, include_self, dtype, ties)


def test_scatter_reduce_src_larger_than_index():
    """Only index's leading part of src is read (torch's backward refuses such a src: its
    gradient here is checked numerically)."""
    x, src = make_inputs([(3, 4), (4, 5)])
    index = np.array([[0, 1, 2, 0], [2, 2, 1, 0]])
    for reduce in ["sum", "prod", "mean", "amax"]:
        out = check_op(lambda a, s: a.scatter_reduce(1, fibril.tensor(index), s, reduce),
                       lambda a, s: a.scatter_reduce(1, torch.tensor(index), s, reduce), [x, src], grad=False)
        assert out.shape == (3, 4)
        leaves = [fibril.tensor(a, requires_grad=True) for a in (x, src)]
        assert fibril.testing.gradcheck(lambda a, s: a.scatter_reduce(1, fibril.tensor(index), s, reduce), leaves)


@pytest.mark.parametrize("code", [
    "x.scatter(1, i, y, reduce='add')", "x.scatter(1, i, 2.0, reduce='multiply')",
    "x.clone().scatter_(0, i, y, reduce='multiply')", "x.scatter(1, i, y, reduce='mean')",
    "x.scatter_reduce(0, i, y, 'bad')", "x.scatter_reduce(0, i, y.long(), 'sum')",
    "x.clone().scatter_reduce_(0, i, y, 'amin', include_self=False)", "x.scatter_reduce(0, i + 4, y, 'amax')",
])
@pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")
def test_scatter_reduce_forms(code):
    _assert_same(code, x=X, y=Y, i=np.array([[0, 1, 2], [2, 0, 0]]))


def test_scatter_with_reduce_is_not_differentiable():
    x = fibril.tensor(X, requires_grad=True)
    out = x.scatter(0, fibril.tensor([[0, 1, 2]]), 2.0, reduce="add")
    with pytest.raises(RuntimeError):
        out.sum().backward()


# ------------------------------------------------------------------------------ 3: index ops
@pytest.mark.parametrize("code", [
    "x.index_fill(1, L.tensor([1, -1]), -2)", "x.clone().index_fill_(0, L.tensor([0, 0]), L.tensor(3.0))",
    "x.index_fill(0, L.tensor([4]), 1)", "x.t().index_fill(0, L.tensor([2]), 1)",
    "x.index_copy(0, L.tensor([2, 0, 1]), y[:3])", "x.clone().index_copy_(1, L.tensor([2, 0]), y[:, :2])",
    "x.index_copy(-1, L.tensor([2]), y[:, :1])",
    "x.clone().put_(L.tensor([0, 5]), L.tensor([9.0, 8.0]))",
    "x.put(L.tensor([0, -1, 0]), L.tensor([9.0, 8.0, 1.0]), accumulate=True)",
    "x.put(L.tensor([[0, 11]]), L.tensor([[9.0, 8.0]]))", "x.put(L.tensor([12]), L.tensor([9.0]))",
    "x.clone().index_put_((L.tensor([0, 1]), L.tensor([1, 2])), L.tensor([7.0, 8.0]))",
    "x.index_put((L.tensor([0, 0]), L.tensor([1, 1])), L.tensor([7.0, 8.0]), accumulate=True)",
    "x.index_put((L.tensor([0, 0]),), L.tensor([7.0, 8.0, 1.0]), accumulate=True)",
    "x.index_put((L.tensor([True, False, True, False]),), L.tensor(1.0), accumulate=True)",
    "x.clone().index_put_((L.tensor([3, 3]), L.tensor([0, 0])), L.tensor(2.0), accumulate=True)",
    "x.fliplr()", "x.flipud()", "L.fliplr(x)", "L.flipud(x[0])", "x[0].fliplr()", "x.t().fliplr()",
    "x.clone().fill_diagonal_(5.0)", "L.zeros(7, 3).fill_diagonal_(5.0, wrap=True)",
    "L.zeros(7, 3).fill_diagonal_(5.0)", "L.zeros(2, 5).fill_diagonal_(5.0, wrap=True)",
    "L.zeros(3, 3, 3).fill_diagonal_(1)", "L.zeros(3, 2, 3).fill_diagonal_(1)",
    "x.clone().tril_()", "x.clone().triu_(1)", "x.clone().tril_(-1)",
])
def test_index_ops(code):
    _assert_same(code, x=X, y=Y)


@pytest.mark.parametrize("op", [
    lambda L, a, s: a.index_copy(0, L.tensor([2, 0]), s),
    lambda L, a, s: a.index_fill(1, L.tensor([0, 2]), 3.0) * s.sum(),
    lambda L, a, s: a.index_put((L.tensor([1, 1]),), s, accumulate=True),
    lambda L, a, s: a.index_put((L.tensor([1, 0]),), s),
    lambda L, a, s: a.put(L.tensor([0, 7, 0, 1, 2, 3]), s.reshape(-1), accumulate=True),
    lambda L, a, s: (a * 1).fill_diagonal_(2.0) * s.sum(),
    lambda L, a, s: (a * 1).tril_(-1) + s.sum(),
])
def test_index_ops_gradients(op):
    x, src = make_inputs([(4, 3), (2, 3)])
    check_op(lambda a, s: op(fibril, a, s), lambda a, s: op(torch, a, s), [x, src], atol=1e-10)


# ------------------------------------------------------------------------------ 3: views and math
@pytest.mark.parametrize("args", [(1, 2, 1), (0, 2, 2), (-1, 3, 1), (0, 0, 1), (0, 3, 5)])
@pytest.mark.parametrize("layout", [lambda t: t, lambda t: t.t().contiguous().t()])
def test_unfold_is_a_view_with_gradients(args, layout):
    out = check_op(lambda a: a.unfold(*args), lambda a: a.unfold(*args), make_inputs([(4, 3)]), layout=layout)
    assert out._base is not None


def test_unfold_shares_memory_and_errors():
    x = fibril.arange(6.0)
    windows = x.unfold(0, 2, 2)
    x.add_(1)
    assert windows.tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    for code in ["x.unfold(0, 7, 1)", "x.unfold(0, 2, 0)", "x.unfold(1, 2, 1)", "L.tensor(3.0).unfold(0, 1, 1)"]:
        _assert_same(code, x=np.arange(6.0))


@pytest.mark.parametrize("args", [((2, 2), (1, 2)), ((2, 2), (1, 2), 3), ((3,), (0,), 1), ((2, 3), (3, 1))])
def test_as_strided(args):
    check_op(lambda a: a.as_strided(*args), lambda a: a.as_strided(*args), make_inputs([(4, 3)]))
    _assert_same(f"x[1:].as_strided{args}", x=X)


def test_nbytes_itemsize():
    for lib in (fibril, torch):
        x = lib.zeros(4, 3, dtype=lib.float64)
        assert (x.nbytes, x.itemsize, x[:, :2].nbytes, x.int().itemsize) == (96, 8, 64, 4)


@pytest.mark.parametrize("code", [
    "x.renorm(2, 0, 5.0)", "x.renorm(1, -1, 10.0)", "x.dist(y)", "x.dist(y, p=1)", "x.dist(y, 0)",
    "x.dist(y, float('inf'))", "L.dist(x, y[0], 3)", "x.signbit()", "L.tensor([-0.0, 0.0, -1.0]).signbit()",
    "L.tensor([-1, 2]).signbit()", "(x / 12 + 0.5).logit()", "(x / 12 + 0.5).logit(eps=0.1)",
    "L.tensor([0, 1]).logit()",
    "(x / 12 + 0.5).logit_(eps=0.1)", "x.round(decimals=-1)", "(x / 7).round(decimals=2)", "(x / 7).round_(decimals=1)",
    "L.tensor([15, 25]).round(decimals=-1)", "L.round(x / 7, decimals=1)",
    "x.fmax(L.tensor([float('nan'), 1.0, 3.0]))",
    "L.fmin(L.tensor([float('nan'), 1.0, 5.0]), L.tensor([2.0, 3.0, 3.0]))",
    "L.fmax(L.tensor([1, 5]), L.tensor([2.0, 2.0]))",
])
def test_math_methods(code):
    _assert_same(code, x=X, y=Y)


@pytest.mark.parametrize("op", [
    lambda a, b: a.renorm(2, 1, 1.5), lambda a, b: a.dist(b), lambda a, b: a.dist(b, 1.5),
    lambda a, b: (a.sigmoid()).logit(), lambda a, b: a.sigmoid().logit(eps=0.3), lambda a, b: a.fmax(b),
    lambda a, b: a.fmin(b), lambda a, b: a.fmax(b.where(b > 0, float("nan"))),
])
def test_math_methods_gradients(op):
    check_op(op, op, make_inputs([(4, 3), (4, 3)]), atol=1e-8)


@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_fmin_ties_send_the_gradient_to_the_first(name):
    (x,) = make_inputs([(4, 3)])
    check_op(lambda a, b: getattr(a, name)(b), lambda a, b: getattr(a, name)(b), [x, x.copy()], gradcheck=False)


@pytest.mark.parametrize("name", ["ge_", "gt_", "le_", "lt_", "eq_", "ne_"])
@pytest.mark.parametrize("other", ["y", "0.5", "y[0]"])
def test_inplace_comparisons(name, other):
    _assert_same(f"x.clone().{name}({other})", x=X, y=np.round(Y))
    _assert_same(f"L.tensor([1, 5, 3]).{name}(3)")
    _assert_same(f"L.tensor([True, False]).{name}(L.tensor([True, True]))")


@pytest.mark.parametrize("code", [
    "a << b", "a >> b", "a << 2", "a >> 70", "3 << a.abs()", "100 >> a.abs()", "a.bitwise_left_shift(b)",
    "L.bitwise_right_shift(a, b)", "a.clone().bitwise_left_shift_(1)", "a.clone().__ilshift__(b)",
    "a.clone().__irshift__(b)", "u << L.tensor([1, 9], dtype=L.uint8)", "u >> L.tensor([1, 9], dtype=L.uint8)",
    "a.int() >> 33", "a.int() << 31", "L.tensor([1.5]) << 1", "L.tensor([True]) << 1",
])
def test_shifts(code):
    _assert_same(code, a=np.array([5, -5, 1, -1, 7]), b=np.array([1, -1, 63, 64, 70]), u=np.array([200, 3], np.uint8))


# ------------------------------------------------------------------------------ 4: top level
@pytest.mark.parametrize("code", [
    "L.diagflat(x)", "L.diagflat(x[0], 1)", "L.diagflat(x, -2)", "L.is_floating_point(x)",
    "L.is_floating_point(x.long())",
    "L.t(x)", "L.t(x[0])", "L.clone(x.t())", "L.as_strided(x, (2, 2), (1, 2))",
    "L.scatter_reduce(x, 0, L.tensor([[0, 1, 0]]), x[:1], 'amax')", "L.index_fill(x, 0, L.tensor([1]), 0.0)",
    "L.signbit(x)", "L.logit(x.sigmoid())", "L.renorm(x, 2, 0, 1.0)",
])
def test_top_level_functions(code):
    _assert_same(code, x=X)


def test_clone_and_t_gradients():
    check_op(lambda a: fibril.clone(fibril.t(a)), lambda a: torch.clone(torch.t(a)), make_inputs([(4, 3)]))


@pytest.mark.parametrize("a,b", [("int32", "float32"), ("uint8", "int32"), ("bool", "uint8"), ("float16", "float64"),
                                 ("int64", "float16"), ("bool", "bool")])
def test_promote_types_and_can_cast(a, b):
    fa, fb, ta, tb = getattr(fibril, a), getattr(fibril, b), getattr(torch, a), getattr(torch, b)
    assert fibril.promote_types(fa, fb).name == str(torch.promote_types(ta, tb)).split(".")[-1]
    assert fibril.can_cast(fa, fb) == torch.can_cast(ta, tb)
    assert fibril.can_cast(fb, fa) == torch.can_cast(tb, ta)


@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_set_default_dtype(dtype):
    assert fibril.get_default_dtype() == fibril.float32
    fibril.set_default_dtype(getattr(fibril, dtype))
    try:
        made = [fibril.tensor([1.5]), fibril.tensor(2.0), fibril.zeros(2), fibril.ones(1), fibril.empty(1),
                fibril.full((1,), 0.5), fibril.arange(0.0, 1.0, 0.5), fibril.linspace(0, 1, 3), fibril.eye(2)]
        assert all(t.dtype == getattr(fibril, dtype) for t in made)
        assert fibril.tensor([1]).dtype == fibril.int64 and fibril.arange(3).dtype == fibril.int64
    finally:
        fibril.set_default_dtype(fibril.float32)
    assert fibril.tensor([1.5]).dtype == fibril.float32
    with pytest.raises(TypeError):
        fibril.set_default_dtype(fibril.int64)


def test_missing_dtypes_raise():
    x = fibril.zeros(2)
    for method in (x.char, x.short):
        with pytest.raises(TypeError):
            method()
    assert not math.isnan(fibril.tensor([1.0]).dist(fibril.tensor([1.0])).item())
