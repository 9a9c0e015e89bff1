"""The elementwise family (csrc/ops/elementwise.cpp, csrc/cpu/elementwise.cpp) through _C.

References: numpy in float64 for values (numpy in the op's own dtype where the op is exact:
integers, floor_divide, remainder); PyTorch, when it imports, for result dtypes, promotion,
errors and edge semantics. Arrays go in and out through fibril.from_numpy / np.asarray.
"""

import math
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import fibril
from fibril._interop import from_numpy as array_from_numpy  # Array level, below Tensor
from fibril import _C

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

NP = {fibril.float32: np.float32, fibril.float64: np.float64, fibril.int64: np.int64,
      fibril.int32: np.int32, fibril.uint8: np.uint8, fibril.bool: np.bool_}
FROM_NP = {np.dtype(v): k for k, v in NP.items()}
DTYPES = [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_]
FLOATS = [np.float32, np.float64]
INTS = [np.int64, np.int32, np.uint8]
SHAPES = [(), (0,), (1,), (3,), (17,), (129,), (4, 33), (2, 0, 3)]

UNARY = [op for op in _C.UnaryOp.__members__]
BINARY = [op for op in _C.BinaryOp.__members__]
FLOAT_ONLY = {"exp", "exp2", "log", "log2", "log1p", "expm1", "sqrt", "rsqrt", "reciprocal",
              "sin", "cos", "tanh", "sigmoid", "erf"}
PREDICATES = {"eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"}
BITWISE = {"bitwise_not", "bitwise_and", "bitwise_or", "bitwise_xor"}  # integers and bools only


def arr(x):
    return array_from_numpy(np.asarray(x))


def unary(op, x, **kw):
    return np.asarray(_C.unary(getattr(_C.UnaryOp, op), x if isinstance(x, fibril.Array) else arr(x), **kw))


def binary(op, a, b, **kw):
    wrap = lambda v: arr(v) if isinstance(v, np.ndarray) else v  # noqa: E731
    return np.asarray(_C.binary(getattr(_C.BinaryOp, op), wrap(a), wrap(b), **kw))


def sample(shape, dtype, seed=0, low=-10, high=10):
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind == "f":
        return rng.uniform(low, high, shape).astype(dtype)
    if dtype == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return rng.integers(-1000, 1000, shape).astype(dtype)


def sigmoid64(x):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


UNARY_REF = {
    "neg": np.negative, "abs": np.abs, "sign": lambda x: np.where(np.isnan(x), 0, np.sign(x)),
    "exp": np.exp, "exp2": np.exp2, "log": np.log, "log2": np.log2, "log1p": np.log1p,
    "expm1": np.expm1, "sqrt": np.sqrt, "rsqrt": lambda x: 1 / np.sqrt(x),
    "reciprocal": lambda x: 1 / x, "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
    "sigmoid": sigmoid64, "erf": np.vectorize(math.erf, otypes=[np.float64]), "floor": np.floor, "ceil": np.ceil, "round": np.round,
    "trunc": np.trunc, "logical_not": np.logical_not, "bitwise_not": np.invert,
}
BINARY_REF = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
    "floor_divide": np.floor_divide, "remainder": np.remainder, "pow": np.power,
    "maximum": np.maximum, "minimum": np.minimum, "atan2": np.arctan2, "eq": np.equal,
    "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
    "ge": np.greater_equal, "logical_and": np.logical_and, "logical_or": np.logical_or,
    "logical_xor": np.logical_xor, "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor,
}


def unary_dtype(op, dtype):
    if op == "logical_not":
        return np.bool_
    return np.float32 if op in FLOAT_ONLY and np.dtype(dtype).kind != "f" else dtype


def assert_close(got, ref, dtype, rtol=None):
    """got has exactly `dtype`; values match ref (float64) to the dtype's precision."""
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    assert got.shape == ref.shape
    if np.dtype(dtype).kind == "f":
        rtol = rtol or (2e-6 if dtype == np.float32 else 1e-13)
        tiny = np.finfo(dtype).tiny
        with np.errstate(over="ignore"):
            ref = ref.astype(dtype)
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=tiny, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, ref.astype(dtype))


# ------------------------------------------------------------------------------ unary ops

@pytest.mark.parametrize("op", sorted(set(UNARY) - BITWISE))
@pytest.mark.parametrize("dtype", FLOATS)
def test_unary_float_vs_numpy(op, dtype):
    for seed, shape in enumerate(SHAPES):
        x = sample(shape, dtype, seed, -20, 20)
        if x.size:
            x.flat[0] = 2.5  # a rounding tie
        with np.errstate(all="ignore"):
            ref = UNARY_REF[op](x.astype(np.float64))
        # sin/cos of float32 go through libm's float versions; exp2 and expm1 lose a little more
        assert_close(unary(op, x), ref, unary_dtype(op, dtype), rtol=4e-6 if dtype == np.float32 else None)


@pytest.mark.parametrize("op", sorted(set(UNARY) - {"neg", "abs", "floor", "ceil", "round", "trunc"}))
def test_unary_bool_input(op):
    x = np.array([True, False, True])
    with np.errstate(all="ignore"):
        ref = UNARY_REF[op](x if op in BITWISE else x.astype(np.float64))
    assert_close(unary(op, x), ref, unary_dtype(op, np.bool_))


@pytest.mark.parametrize("op", UNARY)
@pytest.mark.parametrize("dtype", INTS)
def test_unary_int_vs_numpy(op, dtype):
    x = sample((3, 17), dtype, 1)
    with np.errstate(all="ignore"):
        if op in FLOAT_ONLY:
            ref = UNARY_REF[op](x.astype(np.float64))
        else:
            ref = UNARY_REF[op](x)  # exact in the int dtype: neg and abs wrap as numpy's do
    assert_close(unary(op, x), np.asarray(ref, np.float64) if op in FLOAT_ONLY else np.asarray(ref),
                 unary_dtype(op, dtype))


def test_unary_edge_values():
    f = np.array([0.5, 1.5, 2.5, -0.5, -2.5], np.float32)
    np.testing.assert_array_equal(unary("round", f), [0, 2, 2, -0.0, -2])  # half to even
    assert np.signbit(unary("round", f)[3])
    np.testing.assert_array_equal(unary("sign", np.array([np.nan, -0.0, -3, 4], np.float32)), [0, 0, -1, 1])
    i64 = np.array([np.iinfo(np.int64).min, -5], np.int64)
    np.testing.assert_array_equal(unary("abs", i64), [np.iinfo(np.int64).min, 5])  # wraps, like torch
    np.testing.assert_array_equal(unary("neg", np.array([3, 250], np.uint8)), [253, 6])


# ----------------------------------------------------------------------------- binary ops

BINARY_SHAPES = [((), ()), ((17,), ()), ((), (17,)), ((129,), (129,)), ((4, 1), (1, 33)),
                 ((3, 1, 5), (4, 1)), ((0, 3), (3,)), ((1,), (2, 0))]


def binary_inputs(op, dtype, sa, sb, seed):
    a, b = sample(sa, dtype, seed), sample(sb, dtype, seed + 100)
    if op in ("floor_divide", "remainder") and np.dtype(dtype).kind in "iu":
        b[b == 0] = 3  # zero divisors are tested apart
    if op == "pow":
        if np.dtype(dtype).kind == "f":
            a = np.abs(a)
        else:
            b = b % 5 if dtype != np.uint8 else b % 3
            a = a % 50 if dtype != np.uint8 else a
    return np.asarray(a), np.asarray(b)  # 0-d stays an array, not a numpy scalar


def binary_dtype(op, dtype):
    if op in PREDICATES:
        return np.bool_
    return np.float32 if op in ("div", "atan2") and np.dtype(dtype).kind != "f" else dtype


@pytest.mark.parametrize("op, dtype", [(op, dtype) for op in BINARY
                                       for dtype in [np.float32, np.float64, np.int64, np.int32, np.uint8]
                                       if op not in BITWISE or np.dtype(dtype).kind != "f"])
def test_binary_vs_numpy(op, dtype):
    out_dtype = binary_dtype(op, dtype)
    for seed, (sa, sb) in enumerate(BINARY_SHAPES):
        a, b = binary_inputs(op, dtype, sa, sb, seed)
        with np.errstate(all="ignore"):
            if op in ("floor_divide", "remainder") or np.dtype(out_dtype).kind != "f":
                ref = BINARY_REF[op](a, b)  # exact ops: numpy in the same dtype
            else:
                ref = BINARY_REF[op](a.astype(np.float64), b.astype(np.float64))
        assert_close(binary(op, a, b), np.asarray(ref), out_dtype, rtol=1e-5 if op == "pow" else None)


@pytest.mark.parametrize("op", ["add", "mul", "maximum", "minimum", "eq", "ne", "lt", "logical_and",
                                "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor"])
def test_binary_bool(op):
    a, b = np.array([True, True, False, False]), np.array([True, False, True, False])
    assert_close(binary(op, a, b), BINARY_REF[op](a, b), np.bool_)


def test_float_division_semantics():
    a = np.array([5, -5, 5, -5, 1, -1, 0, -0.0], np.float32)
    b = np.array([3, 3, -3, -3, 0, 0, 0, 3], np.float32)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(binary("div", a, b), a / b)
        np.testing.assert_array_equal(binary("floor_divide", a, b), [1, -2, -2, 1, np.inf, -np.inf, np.nan, -0.0])
        np.testing.assert_array_equal(binary("remainder", a, b), np.remainder(a, b))
    np.testing.assert_array_equal(binary("remainder", np.array([1.0, -1.0]), np.inf), [1, np.inf])
    assert np.signbit(binary("remainder", np.array([-0.0]), 3.0)[0])


def test_integer_division_semantics():
    a = np.array([5, -5, 5, -5, 7], np.int32)
    b = np.array([3, 3, -3, -3, 1], np.int32)
    np.testing.assert_array_equal(binary("floor_divide", a, b), [1, -2, -2, 1, 7])
    np.testing.assert_array_equal(binary("remainder", a, b), [2, 1, -1, -2, 0])
    for dtype in (np.int32, np.int64):  # INT_MIN / -1 wraps and never traps
        lo = np.array([np.iinfo(dtype).min], dtype)
        np.testing.assert_array_equal(binary("floor_divide", lo, np.array([-1], dtype)), lo)
        np.testing.assert_array_equal(binary("remainder", lo, np.array([-1], dtype)), [0])
    for op in ("floor_divide", "remainder"):
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            binary(op, np.arange(40000, dtype=np.int64), np.array([1, 0, 2]).repeat([39000, 1, 999]))
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            binary(op, np.array([1, 2], np.uint8), 0)


def test_integer_pow():
    a = np.array([2, -2, 1, -1, -1, 0, 3], np.int64)
    np.testing.assert_array_equal(binary("pow", a, np.array([-1, -1, -3, -3, -2, -1, 39])), [0, 0, 1, -1, 1, 0, 3**39])
    np.testing.assert_array_equal(binary("pow", np.array([2], np.uint8), np.array([9], np.uint8)), [0])
    with pytest.raises(RuntimeError, match="negative integer powers"):
        binary("pow", a, -1)
    np.testing.assert_array_equal(binary("pow", a, arr(np.array(-1))), [0, 0, 1, -1, -1, 0, 0])  # 0-d: no check


def test_maximum_minimum_nan():
    a = np.array([1.5, np.nan, 2, np.nan], np.float32)
    b = np.array([np.nan, 1, 3, np.nan], np.float32)
    np.testing.assert_array_equal(binary("maximum", a, b), [np.nan, np.nan, 3, np.nan])
    np.testing.assert_array_equal(binary("minimum", a, b), [np.nan, np.nan, 2, np.nan])


def test_wrapped_scalars_convert_like_torch():
    u = np.array([3, 250], np.uint8)
    np.testing.assert_array_equal(binary("add", u, 300), [47, 38])  # 300 wraps to 44 in uint8
    np.testing.assert_array_equal(binary("add", u, -1), [2, 249])
    assert binary("mul", np.array([1, 2], np.int32), 2.5).dtype == np.float32
    assert binary("add", np.array([1], np.int32), np.int64(2)).dtype == np.int32  # numpy scalars: wrapped
    assert binary("add", np.array([1], np.float32), np.float64(2)).dtype == np.float32
    assert binary("add", np.array([True]), np.bool_(True)).dtype == np.bool_


# ------------------------------------------------------------------------- where and clamp

def test_where():
    c = np.array([[True], [False]])
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    got = np.asarray(_C.where(arr(c), arr(a), 2.5))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.where(c, a, 2.5))
    got = np.asarray(_C.where(arr(c.astype(np.uint8)), 1, arr(np.array([7, 8, 9]))))
    np.testing.assert_array_equal(got, np.where(c, 1, [7, 8, 9]))
    assert got.dtype == np.int64
    with pytest.raises(RuntimeError, match="bool condition"):
        _C.where(arr(np.array([1.0])), 1, 2)


def test_where_takes_torch_keyword_names():
    cond = fibril.tensor([True, False, True])
    out = fibril.where(condition=cond, input=fibril.tensor([1.0, 2.0, 3.0]), other=0.0)
    assert out.tolist() == [1.0, 0.0, 3.0]
    assert [t.tolist() for t in fibril.where(condition=cond)] == [[0, 2]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.int32, np.uint8, np.bool_])
def test_where_random_mask_every_dtype_and_scalar_side(dtype):
    """The select reads both sides and picks by bits: every dtype's values (NaN, -0.0, inf
    included) come through unchanged, for a random mask, with either side a scalar."""
    rng = np.random.default_rng(5)
    c = rng.random((37, 41)) < 0.5
    if np.issubdtype(dtype, np.floating):
        a = rng.standard_normal((37, 41)).astype(dtype)
        a[0, :4] = [np.nan, -0.0, np.inf, -np.inf]
    else:
        a = rng.integers(0, 2 if dtype == np.bool_ else 100, (37, 41)).astype(dtype)
    b = a[::-1].copy()
    for got, want in ((_C.where(arr(c), arr(a), arr(b)), np.where(c, a, b)),
                      (_C.where(arr(c), arr(a), arr(np.array(b[1, 1]))), np.where(c, a, b[1, 1])),
                      (_C.where(arr(c), arr(np.array(a[2, 2])), arr(b)), np.where(c, a[2, 2], b)),
                      (_C.where(arr(c[:, ::2]), arr(a[:, ::2]), arr(b[:, ::2])), np.where(c[:, ::2], a[:, ::2], b[:, ::2]))):
        got = np.asarray(got)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


def test_clamp():
    x = np.array([-3.0, 0.5, 7.0, np.nan], np.float32)
    np.testing.assert_array_equal(np.asarray(_C.clamp(arr(x), 0, 1)), [0, 0.5, 1, np.nan])
    np.testing.assert_array_equal(np.asarray(_C.clamp(arr(x), max=1)), [-3, 0.5, 1, np.nan])
    np.testing.assert_array_equal(np.asarray(_C.clamp(arr(x), 3, 1)), [1, 1, 1, np.nan])  # max wins
    assert np.isnan(np.asarray(_C.clamp(arr(x), min=np.nan))).all()
    i = np.array([3, -7, 100], np.int32)
    got = np.asarray(_C.clamp(arr(i), 0.5))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [3, 0.5, 100])
    got = np.asarray(_C.clamp(arr(i), arr(np.array([[0], [5]], np.int64)), 50))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, np.clip(i, [[0], [5]], 50))
    np.testing.assert_array_equal(np.asarray(_C.clamp(arr(np.array([3, 250], np.uint8)), -5)), [251, 251])
    i64 = np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max])
    np.testing.assert_array_equal(np.asarray(_C.clamp(arr(i64), min=0)), [0, np.iinfo(np.int64).max])
    with pytest.raises(RuntimeError, match="at least one"):
        _C.clamp(arr(x))
    with pytest.raises(NotImplementedError, match="bool"):
        _C.clamp(arr(np.array([True])), False, True)


# ------------------------------------------------------------------------------ layouts

def view_of(draw, shape, seed):
    """A fibril view of `shape`: contiguous, transposed, stepped or expanded."""
    kind = draw(st.sampled_from(["contiguous", "transposed", "stepped", "expanded"]))
    if kind == "transposed" and len(shape) >= 2:
        return array_from_numpy(sample(shape[::-1], np.float32, seed).T)
    if kind == "stepped" and len(shape) >= 1:
        base = sample(shape[:-1] + (2 * shape[-1],), np.float32, seed)
        return array_from_numpy(base[..., ::2])
    if kind == "expanded" and len(shape) >= 1:
        small = tuple(1 if draw(st.booleans()) else n for n in shape)
        return array_from_numpy(sample(small, np.float32, seed)).expand(*shape)
    return array_from_numpy(sample(shape, np.float32, seed))


@settings(max_examples=60, derandomize=True, deadline=None)
@given(st.data(), mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=4, max_side=6),
       st.sampled_from(["add", "mul", "maximum", "lt", "where", "clamp", "exp"]))
def test_broadcasting_and_layouts(data, shapes, op):
    a, b, c = (view_of(data.draw, s, i) for i, s in enumerate(shapes.input_shapes))
    na, nb, nc = (np.asarray(v).astype(np.float64) for v in (a, b, c))
    if op == "where":
        got = _C.where(_C.binary(_C.BinaryOp.gt, a, 0.0), b, c)
        ref = np.where(na > 0, nb, nc)
    elif op == "clamp":
        got, ref = _C.clamp(a, b, c), np.minimum(np.maximum(na, nb), nc)
    elif op == "exp":
        got, ref = _C.unary(_C.UnaryOp.exp, a), np.exp(na)
    else:
        got, ref = _C.binary(getattr(_C.BinaryOp, op), a, b), BINARY_REF[op](na, nb)
    got = np.asarray(got)
    assert got.shape == np.shape(ref)
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=2e-6)


def test_noncontiguous_out():
    x = sample((33, 17), np.float32)
    out = fibril.Array.empty((17, 33)).transpose(0, 1)
    r = _C.binary(_C.BinaryOp.mul, arr(x), 2.0, out=out)
    assert r is out
    np.testing.assert_array_equal(np.asarray(out), x * 2)


# -------------------------------------------------------------------------------- out=

def test_out_in_place_and_cast():
    x = sample((5, 7), np.int32)
    a = arr(x.copy())
    assert _C.binary(_C.BinaryOp.add, a, arr(np.int64(3) * np.ones(7, np.int64)), out=a) is a  # int64 result -> int32
    np.testing.assert_array_equal(np.asarray(a), x + 3)
    f = arr(np.zeros((5, 7), np.float64))
    _C.binary(_C.BinaryOp.lt, arr(x), 0, out=f)  # bool result into float64
    np.testing.assert_array_equal(np.asarray(f), (x < 0).astype(np.float64))
    _C.unary(_C.UnaryOp.floor, a, out=f)  # integers: a copy, cast on the way
    np.testing.assert_array_equal(np.asarray(f), x + 3)


def test_out_partial_overlap_copies_the_input():
    x = np.arange(10, dtype=np.float32)
    buf = arr(x.copy())
    _C.binary(_C.BinaryOp.add, buf.slice(0, 0, 9), 100.0, out=buf.slice(0, 1, 10))  # out[i] = in[i-1] + 100
    np.testing.assert_array_equal(np.asarray(buf), np.concatenate([[0], x[:9] + 100]))
    m = arr(np.arange(6, dtype=np.float32).reshape(2, 3))
    _C.binary(_C.BinaryOp.mul, m, m.select(0, 0), out=m)  # row 0 broadcasts over the rows it rewrites
    np.testing.assert_array_equal(np.asarray(m), [[0, 1, 4], [0, 4, 10]])


def test_out_errors():
    a = arr(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[add\] out has shape \[3\].*\[2, 3\]"):
        _C.binary(_C.BinaryOp.add, a, 1, out=arr(np.ones(3, np.float32)))
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        _C.binary(_C.BinaryOp.add, arr(np.ones(3, np.int64)), 1.5, out=arr(np.ones(3, np.int64)))
    with pytest.raises(RuntimeError, match="result type Long can't be cast to the desired output type Bool"):
        _C.binary(_C.BinaryOp.add, arr(np.ones(3, np.int64)), 1, out=arr(np.ones(3, np.bool_)))
    with pytest.raises(RuntimeError, match="stride 0"):
        _C.unary(_C.UnaryOp.exp, a, out=arr(np.ones(3, np.float32)).expand(2, 3))


# ----------------------------------------------------------------------------- bad input

def test_bad_input():
    with pytest.raises(ValueError, match=r"\[add\] shapes \[2, 3\] and \[4\] cannot be broadcast"):
        _C.binary(_C.BinaryOp.add, arr(np.ones((2, 3))), arr(np.ones(4)))
    with pytest.raises(ValueError, match="does not fit in int64"):
        _C.binary(_C.BinaryOp.add, arr(np.ones(3)), 2**64)
    with pytest.raises(TypeError, match=r"\[mul\] 'b' must be an Array"):
        _C.binary(_C.BinaryOp.mul, arr(np.ones(3)), "2")
    with pytest.raises(RuntimeError, match="bool"):
        unary("neg", np.array([True]))
    with pytest.raises(RuntimeError, match="bool"):
        binary("sub", np.array([1, 2]), True)
    with pytest.raises(NotImplementedError, match="not implemented for 'bool'"):
        unary("abs", np.array([True]))
    with pytest.raises(NotImplementedError, match="not implemented for 'bool'"):
        binary("pow", np.array([True]), np.array([False]))


# ---------------------------------------------------------------------- promotion (torch)

def operand(kind, dtype):
    """(fibril operand, torch operand) of one kind: 'array', '0-d' or 'scalar'."""
    value = {"b": True, "u": 3, "i": 3, "f": 2.5}[np.dtype(dtype).kind]
    if kind == "scalar":
        return value, value
    x = np.full((2,) if kind == "array" else (), value, dtype)
    return arr(x), torch.from_numpy(x)


@needs_torch
def test_result_type_matches_torch():
    kinds = [("array", "array"), ("array", "0-d"), ("0-d", "array"), ("array", "scalar"),
             ("scalar", "array"), ("0-d", "0-d"), ("0-d", "scalar"), ("scalar", "0-d")]
    scalar_types = [np.bool_, np.int64, np.float64]  # Python bool, int, float
    for ka, kb in kinds:
        for da in scalar_types if ka == "scalar" else DTYPES:
            for db in scalar_types if kb == "scalar" else DTYPES:
                fa, ta = operand(ka, da)
                fb, tb = operand(kb, db)
                want = torch.result_type(ta, tb)
                got = _C.result_type(fa, fb)
                assert str(want) == "torch." + np.dtype(NP[got]).name, (ka, da, kb, db)
                assert np.asarray(_C.binary(_C.BinaryOp.add, fa, fb)).dtype == np.dtype(NP[got])


def torch_result(fn):
    """('ok', dtype name) or ('error', exception class name)."""
    try:
        return "ok", str(fn()).replace("torch.", "")
    except Exception as err:  # noqa: BLE001 - compare the kind
        return "error", type(err).__name__


@needs_torch
def test_unary_dtype_rules_match_torch():
    for op in UNARY:
        for dtype in DTYPES:
            x = np.ones(3, dtype)
            want = torch_result(lambda: getattr(torch, op)(torch.from_numpy(x)).dtype)
            got = torch_result(lambda: np.asarray(_C.unary(getattr(_C.UnaryOp, op), arr(x))).dtype.name)
            assert got == want, (op, dtype)


@needs_torch
def test_binary_dtype_rules_match_torch():
    for op in BINARY:
        tfn = getattr(torch, op)
        for da in DTYPES:
            for db in DTYPES:
                a, b = np.ones(3, da), np.full(3, 2, db)
                want = torch_result(lambda: tfn(torch.from_numpy(a), torch.from_numpy(b)).dtype)
                got = torch_result(lambda: binary(op, a, b).dtype.name)
                assert got == want, (op, da, db)


@needs_torch
@pytest.mark.parametrize("op", sorted(FLOAT_ONLY))
def test_unary_float32_matches_torch(op):
    x = sample((1000,), np.float32, 3, -30, 30)
    want = getattr(torch, op)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(unary(op, x), want, rtol=1e-5, atol=1e-30, equal_nan=True)


@needs_torch
def test_edge_semantics_match_torch():
    t = torch.tensor
    cases = [
        ("floor_divide", t([1.0, -1.0, 0.0, 7.5, -7.5]), t([np.inf, np.inf, 0.0, -2.0, 2.0])),
        ("remainder", t([1.0, -1.0, -0.0, 7.5, -7.5]), t([np.inf, np.inf, 3.0, -2.0, 2.0])),
        ("pow", t([0.0, -2.0, 2.0, np.nan, 1.0]), t([0.0, 0.5, -np.inf, 0.0, np.nan])),
        ("atan2", t([0.0, -0.0, 1.0, -1.0]), t([-0.0, -0.0, 0.0, np.inf])),
    ]
    for op, a, b in cases:
        want = getattr(torch, op)(a, b).numpy()
        got = binary(op, a.numpy(), b.numpy())
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want), err_msg=op)


# ----------------------------------------------------------------------------- threads

def test_results_do_not_depend_on_thread_count(num_threads):
    x = sample((1 << 20) + 37, np.float32, 5, -50, 50)  # > 4 MiB out: the streaming path
    m = sample((300, 300), np.float32, 6)
    runs = []
    for n in (1, 2):
        num_threads(n)
        runs.append([unary("exp", x), unary("tanh", x), binary("add", x, 1.5),
                     np.asarray(_C.binary(_C.BinaryOp.mul, arr(m), arr(m[0]))),
                     np.asarray(_C.binary(_C.BinaryOp.add, arr(m).transpose(0, 1), arr(m)))])
    for one, two in zip(*runs):
        np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(runs[0][2], x + np.float32(1.5))
    np.testing.assert_allclose(runs[0][0], np.exp(x.astype(np.float64)), rtol=2e-7)


# --------------------------------------------------------------------- vectorized math ulp

def ulp_error(got, ref64):
    """|got - ref| in float32 ulps of the exact result; infinities and NaN must match exactly."""
    with np.errstate(all="ignore"):
        ref32 = ref64.astype(np.float32)
        mag = np.abs(ref64)
        exponent = np.floor(np.log2(np.where(mag > 0, mag, 1.0)))
        ulp = np.exp2(np.maximum(exponent, -126) - 23)
        special = ~np.isfinite(ref32) | ~np.isfinite(got)
        err = np.where(special, 0, np.abs(got.astype(np.float64) - ref64) / ulp)
    same = (got == ref32) | (np.isnan(got) & np.isnan(ref32))
    assert same[special].all(), (got[special & ~same][:5], ref32[special & ~same][:5])
    zeros = (ref32 == 0) & (got == 0)
    assert (np.signbit(got[zeros]) == np.signbit(ref32[zeros])).all(), "sign of zero"
    return err.max()


VEC_MATH = {"exp": np.exp, "exp2": np.exp2, "expm1": np.expm1, "log": np.log, "log2": np.log2,
            "log1p": np.log1p, "tanh": np.tanh, "sigmoid": sigmoid64,
            "erf": np.vectorize(math.erf, otypes=[np.float64])}
SPECIALS = np.array([0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.1754942e-38, 1.17549435e-38,
                     88.72283, 88.72284, -87.33654, -103.97, -104, 1, -1, 0.625, -0.625, 9.01, 127.99,
                     128, -149, -150, 2, 1e-8, -1e-8, -0.99999994, 3.4028235e38], np.float32)


@pytest.fixture
def keep_denormals():
    before = fibril.get_flush_denormal()
    fibril.set_flush_denormal(False)
    yield
    fibril.set_flush_denormal(before)


@pytest.mark.parametrize("op", sorted(VEC_MATH))
def test_vec_math_ulp(op, keep_denormals):
    """Every 997th float32 bit pattern plus specials, subnormals kept: <= 4 ulp (measured
    maxima are in vec_math.h's header). Denser sweeps (every 97th) give the same figures."""
    x = np.concatenate([np.arange(0, 2**32, 997, dtype=np.uint64).astype(np.uint32).view(np.float32), SPECIALS])
    with np.errstate(all="ignore"):
        ref = VEC_MATH[op](x.astype(np.float64))
    assert ulp_error(unary(op, x), ref) <= 4
    strided = arr(np.repeat(x, 2)).slice(0, 0, None, 2)  # the scalar twin: the same bits
    np.testing.assert_array_equal(np.asarray(_C.unary(getattr(_C.UnaryOp, op), strided)), unary(op, x))


def test_vec_math_flushes_denormals_by_default():
    """With FTZ/DAZ on (fibril's default), subnormal inputs read as 0, subnormal results are 0."""
    assert fibril.get_flush_denormal()
    tiny = np.array([1e-40, -1e-40], np.float32)
    np.testing.assert_array_equal(unary("log", tiny), [-np.inf, -np.inf])
    np.testing.assert_array_equal(unary("exp", np.array([-100.0], np.float32)), [0])
    np.testing.assert_array_equal(unary("sigmoid", np.array([-100.0], np.float32)), [0])


# ------------------------------------------------------------------------------ CUDA
# The same ops on "cuda" (a GPU, or the emulator with FIBRIL_CUDA_EMULATOR=1) against the CPU
# ops and the float64 numpy references, at the CPU tests' tolerances. Small shapes: the
# emulator runs every CUDA thread as a fiber.

def dev(x):
    """A numpy array (or fibril Array) on cuda."""
    return (x if isinstance(x, fibril.Array) else arr(x)).to("cuda")


def host(a):
    assert a.device == "cuda:0"
    return np.asarray(a.to("cpu"))


CUDA_SHAPES = [(), (0,), (1,), (37,), (5, 7)]


def cuda_layouts(x):
    """(name, cuda Array) views of x: contiguous, transposed, misaligned (offset 1), stepped."""
    out = [("contiguous", dev(x))]
    if x.ndim == 2:
        out.append(("transposed", dev(np.ascontiguousarray(x.T)).transpose(0, 1)))
    if x.ndim == 1 and x.size > 2:
        big = dev(np.concatenate([x[:1], x]))
        out.append(("offset", big.slice(0, 1)))
        out.append(("stepped", dev(np.repeat(x, 2)).slice(0, None, None, 2)))
    return out


def expected_view(name, x):
    return x  # every layout above holds x's values


@pytest.mark.cuda
@pytest.mark.parametrize("op", UNARY)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_unary(op, dtype):
    fop = getattr(_C.UnaryOp, op)
    for shape in CUDA_SHAPES:
        x = sample(shape, dtype, seed=1, low=0.1 if op in ("log", "log2", "sqrt", "rsqrt") else -10)
        try:
            want = np.asarray(_C.unary(fop, arr(x)))
        except Exception as e:  # the CPU refuses (bool neg, ...): so must cuda, alike
            with pytest.raises(type(e)):
                _C.unary(fop, dev(x))
            return
        for name, d in cuda_layouts(x):
            got = host(_C.unary(fop, d))
            assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
            if want.dtype.kind == "f":
                with np.errstate(all="ignore"):
                    ref = UNARY_REF[op](x.astype(np.float64)) if x.dtype.kind == "f" else want.astype(np.float64)
                    assert_close(got, np.asarray(ref), want.dtype, rtol=4e-6 if want.dtype == np.float32 else None)
                np.testing.assert_allclose(got, want, rtol=4e-6 if want.dtype == np.float32 else 1e-13,
                                           atol=np.finfo(want.dtype).tiny, equal_nan=True)
            else:
                np.testing.assert_array_equal(got, want, err_msg=name)


@pytest.mark.cuda
def test_cuda_unary_edge_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -2.5, 88.0, -104.0], np.float32)  # no denormals: the CPU flushes them
    for dtype in FLOATS:
        xs = x.astype(dtype)
        for op in UNARY:
            if op == "logical_not" or op in BITWISE:
                continue
            fop = getattr(_C.UnaryOp, op)
            with np.errstate(all="ignore"):
                want = np.asarray(_C.unary(fop, arr(xs)))
                got = host(_C.unary(fop, dev(xs)))
            tiny = np.finfo(dtype).tiny
            np.testing.assert_allclose(got, want, rtol=4e-6 if dtype == np.float32 else 1e-13, atol=tiny,
                                       equal_nan=True, err_msg=op)
            # signs of zeros and infinities agree (NaN's sign bit is the hardware's)
            keep = ~np.isnan(want) & ((np.abs(want) >= tiny) | ((want == 0) & (got == 0)))
            np.testing.assert_array_equal(np.signbit(got)[keep], np.signbit(want)[keep], err_msg=op)


@pytest.mark.cuda
@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_binary(op, dtype):
    fop = getattr(_C.BinaryOp, op)
    cases = [((37,), (37,)), ((5, 7), (7,)), ((5, 1), (1, 7)), ((), (4,)), ((0, 3), (3,)), ((2, 3, 4), (2, 1, 4))]
    for sa, sb in cases:
        a = sample(sa, dtype, seed=2)
        b = sample(sb, dtype, seed=3)
        if op in ("floor_divide", "remainder") and np.dtype(dtype).kind in "iu":
            b = np.where(b == 0, 3, b).astype(dtype)
        if op == "pow" and np.dtype(dtype).kind in "iu":
            b = (np.abs(b.astype(np.int64)) % 5).astype(dtype)
        try:
            want = np.asarray(_C.binary(fop, arr(a), arr(b)))
        except Exception as e:
            with pytest.raises(type(e)):
                _C.binary(fop, dev(a), dev(b))
            return
        got = host(_C.binary(fop, dev(a), dev(b)))
        assert got.dtype == want.dtype
        if want.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=1e-5 if op == "pow" else (2e-6 if want.dtype == np.float32
                                       else 1e-13), atol=np.finfo(want.dtype).tiny, equal_nan=True,
                                       err_msg=f"{sa} {sb}")
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"{sa} {sb}")
    # transposed and offset views, and Python numbers (passed to the kernel by value)
    a = sample((6, 5), dtype, seed=4)
    b = sample((5, 6), dtype, seed=5)
    if op in ("floor_divide", "remainder", "pow") and np.dtype(dtype).kind in "iu":
        b = (np.abs(b.astype(np.int64)) % 4 + 1).astype(dtype)
    want = np.asarray(_C.binary(fop, arr(a), arr(b).transpose(0, 1)))
    got = host(_C.binary(fop, dev(a), dev(b).transpose(0, 1)))
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-5, equal_nan=True)
    for scalar in (3, 2.5, True):
        try:
            want = np.asarray(_C.binary(fop, arr(a), scalar))
        except Exception:
            continue
        got = host(_C.binary(fop, dev(a), scalar))
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-5, equal_nan=True)
        want = np.asarray(_C.binary(fop, scalar, arr(a).slice(0, 1)))
        got = host(_C.binary(fop, scalar, dev(a).slice(0, 1)))
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-5, equal_nan=True)


@pytest.mark.cuda
def test_cuda_integer_division_by_zero_raises_like_cpu():
    a = np.array([7, -7, 3], np.int64)
    for op in (_C.BinaryOp.floor_divide, _C.BinaryOp.remainder):
        for b in (np.array([2, 0, 1], np.int64), np.zeros((), np.int64)):
            with pytest.raises(RuntimeError, match="ZeroDivisionError"):
                _C.binary(op, dev(a), dev(b))
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            _C.binary(op, dev(a), 0)
        want = np.asarray(_C.binary(op, arr(a), arr(np.array([2, -3, -1], np.int64))))
        np.testing.assert_array_equal(host(_C.binary(op, dev(a), dev(np.array([2, -3, -1], np.int64)))), want)
    # INT_MIN // -1 and % -1 do not trap
    m = np.array([np.iinfo(np.int32).min], np.int32)
    np.testing.assert_array_equal(host(_C.binary(_C.BinaryOp.floor_divide, dev(m), -1)), m)
    np.testing.assert_array_equal(host(_C.binary(_C.BinaryOp.remainder, dev(m), -1)), [0])
    # float division by zero is IEEE
    got = host(_C.binary(_C.BinaryOp.floor_divide, dev(np.array([1.0, -1.0, 0.0], np.float32)), 0.0))
    np.testing.assert_array_equal(got, np.asarray(_C.binary(_C.BinaryOp.floor_divide,
                                                            arr(np.array([1.0, -1.0, 0.0], np.float32)), 0.0)))


@pytest.mark.cuda
def test_cuda_where_and_clamp():
    rng = np.random.default_rng(0)
    c = rng.random((4, 1, 5)) < 0.5
    a = rng.standard_normal((3, 5)).astype(np.float32)
    b = rng.standard_normal((4, 3, 1)).astype(np.float64)
    want = np.asarray(_C.where(arr(c), arr(a), arr(b)))
    got = host(_C.where(dev(c), dev(a), dev(b)))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(host(_C.where(dev(c), dev(a), 0.5)), np.asarray(_C.where(arr(c), arr(a), 0.5)))
    np.testing.assert_array_equal(host(_C.where(dev(c.astype(np.uint8)), 1, dev(a))),
                                  np.asarray(_C.where(arr(c.astype(np.uint8)), 1, arr(a))))
    x = np.array([np.nan, -3.0, -0.5, 0.0, 0.5, 3.0, np.inf], np.float32)
    for lo, hi in [(-1.0, 1.0), (None, 0.25), (-0.25, None), (1.0, -1.0), (np.nan, 1.0)]:
        want = np.asarray(_C.clamp(arr(x), lo, hi))
        np.testing.assert_array_equal(host(_C.clamp(dev(x), lo, hi)), want)
    lo = rng.standard_normal((3, 1)).astype(np.float32)
    xs = rng.standard_normal((3, 7)).astype(np.float32) * 3
    np.testing.assert_array_equal(host(_C.clamp(dev(xs), dev(lo), 1.0)), np.asarray(_C.clamp(arr(xs), arr(lo), 1.0)))
    i = np.arange(-5, 6, dtype=np.int64)
    np.testing.assert_array_equal(host(_C.clamp(dev(i), -2, None)), np.clip(i, -2, None))
    np.testing.assert_array_equal(host(_C.clamp(dev(i.astype(np.uint8)), None, 7)),
                                  np.asarray(_C.clamp(arr(i.astype(np.uint8)), None, 7)))


@pytest.mark.cuda
def test_cuda_out_and_overlap():
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    out = dev(np.zeros((4, 3), np.float64)).transpose(0, 1)  # strided out, float64 for an int32 result
    r = _C.binary(_C.BinaryOp.add, dev(a), 1, out=out)
    np.testing.assert_array_equal(host(r), a + 1)
    x = dev(np.arange(10, dtype=np.float32))
    _C.binary(_C.BinaryOp.mul, x, 2.0, out=x)  # in place
    np.testing.assert_array_equal(host(x), np.arange(10) * 2.0)
    y = dev(np.arange(10, dtype=np.float32))
    _C.binary(_C.BinaryOp.add, y.slice(0, 0, 9), y.slice(0, 1), out=y.slice(0, 1))  # partial overlap: through a copy
    np.testing.assert_array_equal(host(y), np.concatenate([[0], np.arange(9) + np.arange(1, 10)]).astype(np.float32))


@pytest.mark.cuda
def test_cuda_many_dims_and_broadcast():
    rng = np.random.default_rng(0)
    shape = (2, 1, 3, 2, 1, 2, 3, 2, 2)  # more merged dims than one launch takes
    a = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal((3, 1, 1, 2, 1, 1, 1)).astype(np.float32)
    perm = list(range(len(shape)))[::-1]
    at = dev(np.ascontiguousarray(a.transpose(perm))).permute(*perm)
    want = np.asarray(_C.binary(_C.BinaryOp.sub, arr(a), arr(b)))
    np.testing.assert_array_equal(host(_C.binary(_C.BinaryOp.sub, at, dev(b))), want)


@pytest.mark.cuda
def test_cuda_mixed_devices_raise():
    a = np.ones(3, np.float32)
    with pytest.raises(RuntimeError, match="same device"):
        _C.binary(_C.BinaryOp.add, dev(a), arr(a))
    with pytest.raises(RuntimeError, match="same device"):
        _C.where(arr(a > 0), dev(a), dev(a))
    with pytest.raises(RuntimeError, match="same device"):
        _C.binary(_C.BinaryOp.add, dev(a), dev(a), out=arr(a))
    # a 0-d CPU array joins a cuda op (as a CPU scalar tensor in PyTorch)
    np.testing.assert_array_equal(host(_C.binary(_C.BinaryOp.mul, dev(a), arr(np.float32(3)))), a * 3)


@pytest.mark.cuda
def test_cuda_tensor_operators_inplace_and_autograd():
    rng = np.random.default_rng(0)
    xa = rng.uniform(0.5, 2.0, (4, 5)).astype(np.float32)
    ya = rng.uniform(0.5, 2.0, (4, 5)).astype(np.float32)
    g = rng.standard_normal((4, 5)).astype(np.float32)
    results = {}
    for device in ("cpu", "cuda"):
        x = fibril.tensor(xa, device=device, requires_grad=True)
        y = fibril.tensor(ya, device=device, requires_grad=True)
        z = (x * y + x / y - y ** 2).exp() * 0.1 + (x > y) * 1.0 - x.maximum(y) + fibril.where(x < 1, x, y).sigmoid()
        z = z.clamp(-5, 5) - abs(-x) + x.tanh() + (2.0 - y).sin()
        assert z.device == ("cpu" if device == "cpu" else "cuda:0")
        z.backward(fibril.tensor(g, device=device))
        w = fibril.tensor(xa, device=device)
        w += 1
        w.mul_(2)
        w -= fibril.tensor(ya, device=device)
        results[device] = [t.detach().to("cpu").numpy() for t in (z, x.grad, y.grad, w, x == y, x // 0.3)]
    for got, want in zip(results["cuda"], results["cpu"]):
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


CUDA_GRAD_UNARY = ["neg", "abs", "exp", "exp2", "expm1", "log", "log2", "log1p", "sqrt", "rsqrt", "reciprocal",
                   "sin", "cos", "tanh", "sigmoid", "erf"]
CUDA_GRAD_BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "remainder"]


@pytest.mark.cuda
def test_cuda_elementwise_gradients_match_cpu():
    """Each op's backward on cuda (same-shape operands: no reduction needed) against the CPU's."""
    rng = np.random.default_rng(3)
    xa = rng.uniform(0.2, 3.0, (3, 7))
    ya = rng.uniform(0.2, 3.0, (3, 7))
    ya[0, :3] = xa[0, :3]  # ties for maximum/minimum
    g = rng.standard_normal((3, 7))
    for dtype in (np.float32, np.float64):
        for op in CUDA_GRAD_UNARY + CUDA_GRAD_BINARY:
            grads = {}
            for device in ("cpu", "cuda"):
                x = fibril.tensor(xa.astype(dtype), device=device, requires_grad=True)
                y = fibril.tensor(ya.astype(dtype), device=device, requires_grad=True)
                fn = getattr(fibril, op)
                out = fn(x) if op in CUDA_GRAD_UNARY else fn(x, y)
                out.backward(fibril.tensor(g.astype(dtype), device=device))
                grads[device] = [t.to("cpu").numpy() for t in (out.detach(), x.grad)]
                if op in CUDA_GRAD_BINARY:
                    grads[device].append(y.grad.to("cpu").numpy() if y.grad is not None else None)
            for got, want in zip(grads["cuda"], grads["cpu"]):
                if want is None:
                    assert got is None
                    continue
                assert got.dtype == want.dtype
                np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6,
                                           err_msg=f"{op} {np.dtype(dtype)}")


SPLIT_SCRIPT = r"""
import numpy as np
import fibril
from fibril import _C
from fibril._interop import from_numpy
rng = np.random.default_rng(0)
a = rng.standard_normal((9, 37)).astype(np.float32)
b = rng.standard_normal((37,)).astype(np.float32)
d = lambda x: from_numpy(x).to("cuda")
checks = [
    (_C.binary(_C.BinaryOp.add, from_numpy(a), from_numpy(b)), _C.binary(_C.BinaryOp.add, d(a), d(b))),
    (_C.binary(_C.BinaryOp.mul, from_numpy(a).transpose(0, 1), 2.0), _C.binary(_C.BinaryOp.mul, d(a).transpose(0, 1), 2.0)),
    (_C.unary(_C.UnaryOp.exp, from_numpy(a).slice(1, 1)), _C.unary(_C.UnaryOp.exp, d(a).slice(1, 1))),
    (from_numpy(a).transpose(0, 1).astype(fibril.float64), d(a).transpose(0, 1).astype(fibril.float64)),
]
big = np.arange(300, dtype=np.int64)
checks.append((_C.binary(_C.BinaryOp.floor_divide, from_numpy(big).slice(0, None, None, 7), 3),
               _C.binary(_C.BinaryOp.floor_divide, d(big).slice(0, None, None, 7), 3)))
for want, got in checks:  # exp: glibc (emulator) or CUDA vs the CPU's vec_math, a few ulps
    np.testing.assert_allclose(np.asarray(got.to("cpu")), np.asarray(want), rtol=4e-6)
print("split ok")
"""


@pytest.mark.cuda
def test_cuda_index_space_split_past_the_32bit_limit():
    """Launches whose index or extent passes 2^31 are split on the host; the limit lowered to
    64 (FIBRIL_CUDA_INDEX32_LIMIT) runs that splitting on small arrays."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, FIBRIL_CUDA_INDEX32_LIMIT="64")
    run = subprocess.run([sys.executable, "-c", SPLIT_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "split ok" in run.stdout, run.stderr[-3000:]


def test_bitwise_operators_on_tensors():
    """&, |, ^ and ~ are bitwise on integers (logical on bools) and refuse floats, as torch's."""
    a = fibril.tensor([5, -3, 0, 12])
    np.testing.assert_array_equal((a & 3).numpy(), [1, 1, 0, 0])
    np.testing.assert_array_equal((a | 1).numpy(), [5, -3, 1, 13])
    np.testing.assert_array_equal((6 ^ a).numpy(), [3, -5, 6, 10])
    np.testing.assert_array_equal((~a).numpy(), [-6, 2, -1, -13])
    assert (~a).dtype == fibril.int64
    m = fibril.tensor([True, False])
    assert (~m).tolist() == [False, True] and (m & True).dtype == fibril.bool
    a &= 6
    np.testing.assert_array_equal(a.numpy(), [4, 4, 0, 4])
    with pytest.raises(NotImplementedError, match="bitwise_and"):
        fibril.tensor([1.0]) & fibril.tensor([2.0])
    with pytest.raises(NotImplementedError, match="bitwise_not"):
        ~fibril.tensor([1.0])
