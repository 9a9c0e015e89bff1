"""The reduce family at the _C level: reduce (sum, mean, prod, amax, amin, any, all, logsumexp),
var, std, norm, max_dim, min_dim, argmax, argmin, cumsum, cumprod.

Reference: float64 numpy for values; PyTorch (when it imports) for dtypes, edge cases and
values. Inputs: odd shapes, empty and 0-d arrays, and non-contiguous views (transposed,
stepped, expanded) made on the fibril side.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fibril
from fibril._interop import from_numpy as array_from_numpy  # Array level, below Tensor
from fibril import _C

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

Op = _C.ReduceOp
ALL_DTYPES = [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_]
FLOATS = [np.float32, np.float64]
# Dims of a 3-d input: every subset, negative spellings, and None / () (both: every dim).
DIMS_3D = [None, (), 0, 1, 2, -1, (0, 1), (0, 2), (1, 2), (2, 0), (0, 1, 2), (-3, -1)]


def sample(shape, dtype, seed=0):
    """Values that keep every op finite and exact where it can be: small integers, floats
    around 1 (prod of a few hundred stays in range), ~half zeros for bool."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind == "f":
        return (rng.random(shape) * 0.5 + 0.75).astype(dtype) * rng.choice([-1, 1], shape).astype(dtype)
    return rng.integers(0, 4, shape).astype(dtype)


def arr(x):
    return array_from_numpy(np.array(x, order="C"))


def axis(dims, ndim):
    """numpy's axis for a fibril dims argument (None and () both mean every dim)."""
    if dims is None or dims == ():
        return None
    dims = (dims,) if isinstance(dims, int) else dims
    return tuple(d % max(ndim, 1) for d in dims) if ndim else None


def logsumexp(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isinf(m), 0, m)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def reference(op, x, dims, keepdim):
    """op in float64 (int64 for integer sums and products), numpy's rules for the rest."""
    ax = axis(dims, x.ndim)
    wide = x.astype(np.float64) if x.dtype.kind == "f" else x
    if op in (Op.sum, Op.prod) and x.dtype.kind != "f":
        wide = x.astype(np.int64)
    if op in (Op.any, Op.all):
        fn = np.any if op == Op.any else np.all
        return np.asarray(fn(x, axis=ax, keepdims=keepdim)).astype(result_dtype(op, x.dtype))
    fn = {Op.sum: np.sum, Op.mean: np.mean, Op.prod: np.prod, Op.amax: np.max, Op.amin: np.min,
          Op.any: np.any, Op.all: np.all}.get(op)
    if op == Op.logsumexp:
        return logsumexp(x.astype(np.float64), ax, keepdim)
    return np.asarray(fn(wide, axis=ax, keepdims=keepdim))


def result_dtype(op, dtype):
    dtype = np.dtype(dtype)
    if op in (Op.any, Op.all):
        return np.dtype(np.uint8 if dtype == np.uint8 else np.bool_)
    if op in (Op.sum, Op.prod) and dtype.kind != "f":
        return np.dtype(np.int64)
    if op == Op.logsumexp and dtype.kind != "f":
        return np.dtype(np.float32)
    return dtype


def assert_close(got, ref, dtype):
    got = np.asarray(got)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    if got.dtype.kind == "f":
        tol = 2e-6 if got.dtype == np.float32 else 1e-12
        scale = max(1.0, float(np.nanmax(np.abs(ref), initial=0)))
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * scale, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, ref)


def views(x):
    """(name, fibril view, the same view in numpy) for a contiguous 3-d numpy array x:
    contiguous, transposed, stepped and expanded layouts of fibril views."""
    base = arr(x)
    yield "contiguous", base, x
    t = base.permute(2, 0, 1)
    yield "permuted", t, np.asarray(t)
    big = np.repeat(np.repeat(x, 2, axis=0), 3, axis=2)
    s = arr(big).slice(0, None, None, 2).slice(2, 1, None, 3)
    yield "stepped", s, np.asarray(s)
    e = arr(x[:, :1, :]).expand(x.shape[0], 4, x.shape[2])
    yield "expanded", e, np.asarray(e)


# ------------------------------------------------------------------------------ reduce


OP_DTYPES = [(op, dt) for op in (Op.sum, Op.prod, Op.amax, Op.amin, Op.any, Op.all) for dt in ALL_DTYPES]
OP_DTYPES += [(Op.mean, dt) for dt in FLOATS]
OP_DTYPES += [(Op.logsumexp, dt) for dt in FLOATS + [np.int64, np.bool_]]


@pytest.mark.parametrize("op, dtype", OP_DTYPES, ids=lambda v: getattr(v, "name", None) or np.dtype(v).name)
def test_reduce_every_dim_subset_and_layout_matches_numpy(op, dtype):
    x = sample((3, 5, 7), dtype)
    for (name, a, xv), dims, keepdim in itertools.product(views(x), DIMS_3D, (False, True)):
        got = _C.reduce(op, a, dims, keepdim)
        assert np.asarray(got).dtype == result_dtype(op, dtype), (name, dims)
        assert_close(got, reference(op, xv, dims, keepdim), dtype)


@pytest.mark.parametrize("shape", [(1,), (3,), (17,), (129,), (1, 129), (129, 1), (17, 129), (129, 17), (4097,),
                                   (3, 4100), (4100, 3), (2, 3, 4, 5), (40000,), (1, 1, 1)])
@pytest.mark.parametrize("op", [Op.sum, Op.mean, Op.amax, Op.logsumexp])
def test_reduce_odd_shapes(shape, op):
    x = sample(shape, np.float32, seed=len(shape))
    for dims in [None, 0, -1, tuple(range(len(shape)))[1:] or None]:
        assert_close(_C.reduce(op, arr(x), dims), reference(op, x, dims, False), np.float32)


@pytest.mark.parametrize("op, expected", [(Op.sum, 0), (Op.prod, 1), (Op.mean, np.nan), (Op.any, False),
                                          (Op.all, True), (Op.logsumexp, -np.inf)])
def test_reduce_over_an_empty_dim_gives_the_identity(op, expected):
    got = np.asarray(_C.reduce(op, arr(np.zeros((0, 3), np.float32)), 0))
    assert got.shape == (3,)
    np.testing.assert_array_equal(got, np.full(3, expected, got.dtype))
    assert np.asarray(_C.reduce(op, arr(np.zeros((0, 3), np.float32)), 1)).shape == (0,)


@pytest.mark.parametrize("op", [Op.amax, Op.amin])
def test_amax_of_an_empty_dim_is_index_error(op):
    with pytest.raises(IndexError, match=r"float32\[0, 3\]"):
        _C.reduce(op, arr(np.zeros((0, 3), np.float32)), 0)
    assert np.asarray(_C.reduce(op, arr(np.zeros((0, 3), np.float32)), 1)).shape == (0,)


def test_zero_dim_inputs():
    a = arr(np.array(2.5, np.float32))
    for dims in (None, 0, -1, ()):
        for op in (Op.sum, Op.mean, Op.amax, Op.logsumexp):
            got = np.asarray(_C.reduce(op, a, dims, True))
            assert got.shape == () and got == 2.5
    assert np.asarray(_C.argmax(a, 0)) == 0
    assert np.asarray(_C.cumsum(a, 0)).shape == ()
    assert np.asarray(_C.var(a, None, 0)) == 0


def test_nan_propagates_through_amax_amin_and_counts_as_true():
    x = np.array([[1, np.nan, 3], [4, 5, 6]], np.float32)
    np.testing.assert_array_equal(np.asarray(_C.reduce(Op.amax, arr(x), 1)), [np.nan, 6])
    np.testing.assert_array_equal(np.asarray(_C.reduce(Op.amin, arr(x), 0)), [1, np.nan, 3])
    np.testing.assert_array_equal(np.asarray(_C.reduce(Op.all, arr(x), 1)), [True, True])
    long = np.ones(10000, np.float32)
    long[7777] = np.nan
    assert np.isnan(np.asarray(_C.reduce(Op.amax, arr(long))))
    assert np.isnan(np.asarray(_C.reduce(Op.amax, arr(np.tile(long[:, None], (1, 40))), 0))).all()


@pytest.mark.parametrize("width", [1, 7, 8, 9, 40, 4099])
@pytest.mark.parametrize("dtype", FLOATS)
def test_amax_amin_columns_with_nans_and_odd_widths(width, dtype):
    """The column path's vectorized max/min (8 columns at a time plus a scalar tail): NaN at
    the first row, in the middle of a leaf, at a leaf boundary and at the last row; +-0 ties."""
    rows = 300
    rng = np.random.default_rng(width)
    x = rng.standard_normal((rows, width)).astype(dtype)
    x[:, ::5] = rng.choice([-0.0, 0.0], (rows, len(range(0, width, 5))))
    for r, c in ((0, 0), (77, width // 2), (128, width - 1), (rows - 1, width // 3)):
        x[r, c] = np.nan
    for op, ref in ((Op.amax, np.max), (Op.amin, np.min)):
        got = np.asarray(_C.reduce(op, arr(x), 0))
        np.testing.assert_array_equal(got, ref(x, 0))
        zeros = (x == 0).all(0)  # ties keep the earlier operand: the first row's zero
        np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(x[0, zeros]))


@pytest.mark.parametrize("n", [31, 32, 33, 1024, 1025, 5000])
def test_max_dim_rows_nan_ties_and_signed_zeros(n):
    """The row path's vectorized chunk extreme and first-index search: the first of equal
    maxima wins (+0 and -0 are equal), the first NaN wins, the value is the element there."""
    x = np.zeros((6, n), np.float32)
    x[0, n // 2] = x[0, n - 1] = 1
    x[1, :] = -1
    x[1, n // 3] = -0.0
    x[1, n - 2] = 0.0
    x[2, n // 4] = x[2, n - 3] = np.nan
    x[3, n - 1] = np.nan
    x[4, :] = -np.inf
    x[5] = np.random.default_rng(n).standard_normal(n)
    for fn, np_arg in ((_C.max_dim, np.argmax), (_C.min_dim, np.argmin)):
        values, indices = fn(arr(x), 1)
        indices = np.asarray(indices)
        np.testing.assert_array_equal(indices, np_arg(x, 1))
        picked = x[np.arange(6), indices]
        np.testing.assert_array_equal(np.asarray(values), picked)
        np.testing.assert_array_equal(np.signbit(np.asarray(values)), np.signbit(picked))


def test_dtype_argument_casts_first():
    x = sample((4, 5), np.int32)
    got = _C.reduce(Op.sum, arr(x), 1, dtype=fibril.int32)
    assert got.dtype == fibril.int32
    np.testing.assert_array_equal(np.asarray(got), x.sum(1))
    got = _C.reduce(Op.mean, arr(x), None, dtype="float64")
    assert got.dtype == fibril.float64 and np.asarray(got) == x.mean()
    y = np.full(5, 1e20, np.float64)
    assert np.asarray(_C.reduce(Op.sum, arr(y), dtype=np.float32)) == np.float32(5e20)


@pytest.mark.parametrize("reduce", [lambda x, dt: x.sum(dtype=dt), lambda x, dt: x.prod(0, dtype=dt),
                                    lambda x, dt: x.cumsum(0, dtype=dt), lambda x, dt: fibril.nansum(x, dtype=dt)])
def test_integer_dtype_argument_refused_on_a_graph(reduce):
    """As torch: no gradient can flow into an integer result; without a graph it is computed."""
    x = fibril.tensor([1.5, 2.5], requires_grad=True)
    with pytest.raises(RuntimeError, match="int64"):
        reduce(x, fibril.int64)
    assert reduce(x, fibril.float64).requires_grad
    with fibril.no_grad():
        assert reduce(x, fibril.int64).dtype == fibril.int64
    assert reduce(x.detach(), "int64").dtype == fibril.int64


# ----------------------------------------------------------------- var, std and norm


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("correction", [0, 1, 2.5])
def test_var_std_match_numpy(dtype, correction):
    x = sample((3, 5, 7), dtype) * 3 + 100  # a large mean: one-pass formulas would cancel
    for (name, a, xv), dims, keepdim in itertools.product(views(x), DIMS_3D, (False, True)):
        ax = axis(dims, 3)
        n = xv.size // np.asarray(np.sum(xv, axis=ax)).size
        ref = np.sum((xv - xv.mean(axis=ax, keepdims=True, dtype=np.float64)) ** 2, axis=ax, keepdims=keepdim)
        ref = ref / max(0, n - correction)
        assert_close(_C.var(a, dims, correction, keepdim), ref, dtype)
        assert_close(_C.std(a, dims, correction, keepdim), np.sqrt(ref), dtype)


def test_var_of_too_few_elements_is_nan_or_inf():
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.isnan(np.asarray(_C.var(arr(np.ones(1, np.float32)))))
        assert np.isinf(np.asarray(_C.var(arr(np.array([1, 2], np.float32)), None, 3)))
    assert np.isnan(np.asarray(_C.std(arr(np.zeros((0, 2), np.float32)), 0))).all()


NORM_PS = [2, 1, 0, 3, 0.5, -1, np.inf, -np.inf, "fro"]


def norm_reference(x, p, ax, keepdim):
    a = np.abs(x.astype(np.float64))
    if p == "fro":
        p = 2
    if p == np.inf:
        return np.max(a, axis=ax, keepdims=keepdim)
    if p == -np.inf:
        return np.min(a, axis=ax, keepdims=keepdim)
    if p == 0:
        return np.sum(a != 0, axis=ax, keepdims=keepdim).astype(np.float64)
    with np.errstate(divide="ignore"):
        return np.sum(a ** p, axis=ax, keepdims=keepdim) ** (1 / p)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", NORM_PS, ids=str)
def test_norm_matches_numpy(dtype, p):
    x = sample((3, 5, 7), dtype)
    x[0, 0, :2] = 0
    for (name, a, xv), dims, keepdim in itertools.product(views(x), DIMS_3D, (False, True)):
        assert_close(_C.norm(a, p, dims, keepdim), norm_reference(xv, p, axis(dims, 3), keepdim), dtype)


# --------------------------------------------------------------------- arg-reductions


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.uint8])
def test_argmax_argmin_max_min_match_numpy(dtype):
    x = sample((4, 33, 9), dtype)  # few distinct values: many ties, the first must win
    for (name, a, xv), keepdim in itertools.product(views(x), (False, True)):
        for dim in (0, 1, 2, -1):
            for fn, np_arg, np_val in ((_C.max_dim, np.argmax, np.max), (_C.min_dim, np.argmin, np.min)):
                values, indices = fn(a, dim, keepdim)
                ref_i = np_arg(xv, axis=dim, keepdims=keepdim)
                np.testing.assert_array_equal(np.asarray(indices), ref_i)
                np.testing.assert_array_equal(np.asarray(values), np_val(xv, axis=dim, keepdims=keepdim))
                assert np.asarray(values).dtype == dtype and np.asarray(indices).dtype == np.int64
            np.testing.assert_array_equal(np.asarray(_C.argmax(a, dim, keepdim)), np.argmax(xv, dim, keepdims=keepdim))
            np.testing.assert_array_equal(np.asarray(_C.argmin(a, dim, keepdim)), np.argmin(xv, dim, keepdims=keepdim))
        assert np.asarray(_C.argmax(a, None, keepdim)) == np.argmax(xv)
        assert np.asarray(_C.argmin(a, None, keepdim)).shape == ((1, 1, 1) if keepdim else ())


def test_max_dim_of_bool():
    x = np.array([[False, True, True], [False, False, False]])
    values, indices = _C.max_dim(arr(x), 1)
    np.testing.assert_array_equal(np.asarray(values), [True, False])
    np.testing.assert_array_equal(np.asarray(indices), [1, 0])


@pytest.mark.parametrize("n", [5, 1000, 70000, 200001])
def test_argmax_points_at_the_first_nan(n):
    x = np.zeros(n, np.float32)
    x[n // 3] = np.inf
    x[n // 2] = np.nan
    x[n - 1] = np.nan
    assert np.asarray(_C.argmax(arr(x))) == n // 2
    assert np.asarray(_C.argmin(arr(x))) == n // 2
    x[n // 2] = x[n - 1] = 0
    assert np.asarray(_C.argmax(arr(x))) == n // 3
    cols = np.tile(x[:, None], (1, 3))
    np.testing.assert_array_equal(np.asarray(_C.argmax(arr(cols), 0)), [n // 3] * 3)


# -------------------------------------------------------------------------------- scans


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("fn, np_fn", [(_C.cumsum, np.cumsum), (_C.cumprod, np.cumprod)], ids=["cumsum", "cumprod"])
def test_scans_match_numpy(dtype, fn, np_fn):
    x = sample((3, 5, 7), dtype)
    for (name, a, xv), dim in itertools.product(views(x), (0, 1, 2, -1)):
        got = fn(a, dim)
        wide = xv.astype(np.float64 if np.dtype(dtype).kind == "f" else np.int64)
        ref = np_fn(wide, axis=dim)
        assert np.asarray(got).dtype == (dtype if np.dtype(dtype).kind == "f" else np.int64)
        assert_close(got, ref.astype(np.asarray(got).dtype), dtype)
    got = fn(arr(x), 1, dtype=fibril.float64)
    assert got.dtype == fibril.float64


# ------------------------------------------------------------------------------- errors


def test_dim_out_of_range_is_index_error():
    a = arr(np.zeros((2, 3), np.float32))
    for call in (lambda: _C.reduce(Op.sum, a, 2), lambda: _C.reduce(Op.amax, a, (0, -3)), lambda: _C.var(a, 5),
                 lambda: _C.norm(a, 2, 2), lambda: _C.max_dim(a, 2), lambda: _C.argmax(a, -3),
                 lambda: _C.cumsum(a, 2)):
        with pytest.raises(IndexError, match="out of range"):
            call()


def test_duplicate_dims_are_value_error():
    a = arr(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"dim 0 appears more than once in dims \[0, -2\] for float32\[2, 3\]"):
        _C.reduce(Op.sum, a, (0, -2))
    with pytest.raises(ValueError):
        _C.norm(a, 2, (1, 1))


@pytest.mark.parametrize("call, pattern", [
    (lambda a: _C.reduce(Op.mean, a), r"\[mean\] needs a floating-point input or dtype, got int32\[2, 3\]"),
    (lambda a: _C.reduce(Op.mean, a, dtype=fibril.int64), r"\[mean\].*int32\[2, 3\] with dtype int64"),
    (lambda a: _C.var(a), r"\[var\] needs a floating-point input, got int32\[2, 3\]"),
    (lambda a: _C.std(a), r"\[std\]"),
    (lambda a: _C.norm(a), r"\[norm\] needs a floating-point input, got int32\[2, 3\]"),
    (lambda a: _C.argmax(a.astype(fibril.bool)), r"\[argmax\] does not support bool input, got bool\[2, 3\]"),
    (lambda a: _C.reduce(Op.amax, a, dtype=fibril.float32), r"\[amax\] takes no dtype"),
])
def test_unsupported_dtypes_are_type_errors(call, pattern):
    with pytest.raises(TypeError, match=pattern):
        call(arr(np.zeros((2, 3), np.int32)))


def test_bad_arguments():
    a = arr(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="'fro'"):
        _C.norm(a, "nuc")
    with pytest.raises(TypeError):
        _C.reduce(Op.sum, a, (0, 1.5))
    with pytest.raises(IndexError, match=r"\[argmax\] cannot reduce float32\[0\]"):
        _C.argmax(arr(np.zeros(0, np.float32)))
    with pytest.raises(IndexError, match=r"\[max\] cannot reduce float32\[0, 3\] over an empty dim"):
        _C.max_dim(arr(np.zeros((0, 3), np.float32)), 0)
    with pytest.raises(IndexError, match=r"norm\(p=inf\)"):
        _C.norm(arr(np.zeros((0, 3), np.float32)), np.inf, 0)


# --------------------------------------------------------------- accuracy, determinism


def test_float32_sum_error_grows_like_log_n():
    """2^24 + 2^20 ones plus small values: a running float32 sum stalls at 2^24 (adding 1
    no longer changes it) and is off by ~6%; the blocked pairwise sum stays within 1e-6."""
    n = 2**24 + 2**20
    x = np.ones(n, np.float32)
    x[::7] += np.float32(1e-3)
    exact = x.astype(np.float64).sum()
    running = np.cumsum(x, dtype=np.float32)[-1]  # numpy's cumsum adds in sequence
    assert abs(running - exact) / exact > 1e-2
    for a in (arr(x), arr(x.reshape(4096, -1)), arr(x.reshape(-1, 4096))):
        got = float(np.asarray(_C.reduce(Op.sum, a)))
        assert abs(got - exact) / exact < 1e-6
    cols = np.asarray(_C.reduce(Op.sum, arr(x.reshape(-1, 16)), 0)).astype(np.float64)
    np.testing.assert_allclose(cols, x.reshape(-1, 16).astype(np.float64).sum(0), rtol=1e-6)


THREAD_CASES = [
    ((300001,), None), ((3, 300001), 1), ((300001, 3), 0), ((70001, 33), 0), ((33, 70001), 1),
    ((4096, 1024), 0), ((1024, 4096), 1), ((64, 513, 65), (0, 2)), ((9, 100003), 0),
    ((1023, 4095), 1), ((1023, 45), 1),  # rows two at a time: odd counts leave a single row
]


@pytest.mark.parametrize("shape, dims", THREAD_CASES, ids=str)
def test_results_do_not_depend_on_the_thread_count(num_threads, shape, dims):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    a = arr(x)
    calls = [lambda: _C.reduce(Op.sum, a, dims), lambda: _C.reduce(Op.mean, a, dims),
             lambda: _C.reduce(Op.logsumexp, a, dims), lambda: _C.var(a, dims), lambda: _C.norm(a, 3, dims),
             lambda: _C.reduce(Op.sum, a.transpose(0, -1), dims)]
    calls += [lambda: _C.reduce(Op.amax, a, dims), lambda: _C.reduce(Op.amin, a.transpose(0, -1), dims)]
    if isinstance(dims, int):
        calls += [lambda: _C.max_dim(a, dims)[1], lambda: _C.cumsum(a, dims)]
    results = {}
    for threads in (1, 2):
        num_threads(threads)
        results[threads] = [np.asarray(call()).copy() for call in calls]
    for one, two in zip(results[1], results[2]):
        np.testing.assert_array_equal(one, two)


# ---------------------------------------------------------------------------- hypothesis


@st.composite
def strided_views(draw):
    """A random 0-4-d view (sizes 0-6, steps 1-3, a permutation) and a random dims subset."""
    ndim = draw(st.integers(0, 4))
    shape = draw(st.lists(st.integers(0, 6), min_size=ndim, max_size=ndim))
    steps = draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim))
    perm = draw(st.permutations(range(ndim)))
    dims = draw(st.one_of(st.none(), st.lists(st.integers(-ndim, ndim - 1), unique_by=lambda d: d % ndim,
                                              max_size=ndim).map(tuple) if ndim else st.none()))
    keepdim = draw(st.booleans())
    return shape, steps, perm, dims, keepdim


@settings(max_examples=150, deadline=None, derandomize=True)
@given(strided_views())
def test_random_strided_views_match_numpy(case):
    shape, steps, perm, dims, keepdim = case
    big = sample([s * k for s, k in zip(shape, steps)], np.float64, seed=len(shape))
    a = arr(big)
    for d, k in enumerate(steps):
        a = a.slice(d, None, None, k)
    if perm:
        a = a.permute(*perm)
    xv = np.asarray(a)
    for op in (Op.sum, Op.prod, Op.any):
        assert_close(_C.reduce(op, a, dims, keepdim), reference(op, xv, dims, keepdim), np.float64)
    if xv.size or dims not in (None, ()) and all(xv.shape[d] for d in ((dims,) if isinstance(dims, int) else dims)):
        assert_close(_C.reduce(Op.amax, a, dims, keepdim), reference(Op.amax, xv, dims, keepdim), np.float64)


# ------------------------------------------------------------------------- torch parity


TORCH_OPS = {
    Op.sum: lambda t, d, k: torch.sum(t, d, keepdim=k),
    Op.mean: lambda t, d, k: torch.mean(t, d, keepdim=k),
    Op.prod: lambda t, d, k: torch.prod(t) if d == () else torch.prod(t, d[0], keepdim=k),
    Op.amax: lambda t, d, k: torch.amax(t, d, keepdim=k),
    Op.amin: lambda t, d, k: torch.amin(t, d, keepdim=k),
    # torch.any/all(dim=()) reduce nothing (unlike sum and amax); _C's () always means every dim.
    Op.any: lambda t, d, k: torch.any(t, d or tuple(range(t.ndim)), keepdim=k),
    Op.all: lambda t, d, k: torch.all(t, d or tuple(range(t.ndim)), keepdim=k),
    Op.logsumexp: lambda t, d, k: torch.logsumexp(t, d or tuple(range(t.ndim)), keepdim=k),
}


@needs_torch
@pytest.mark.parametrize("op, dtype", OP_DTYPES, ids=lambda v: getattr(v, "name", None) or np.dtype(v).name)
def test_torch_parity(op, dtype):
    x = sample((4, 9, 17), dtype, seed=3)
    t = torch.from_numpy(x)
    dims_list = [(1,), (2,), ()] if op == Op.prod else [(), (0,), (2,), (0, 2), (1, 2)]
    for dims, keepdim in itertools.product(dims_list, (False, True)):
        expected = TORCH_OPS[op](t, dims, keepdim)
        if op == Op.prod and dims == () and keepdim:
            continue
        got = np.asarray(_C.reduce(op, arr(x), dims, keepdim))
        assert str(got.dtype) == str(expected.dtype).removeprefix("torch.")
        assert_close(got, expected.double().numpy() if got.dtype.kind == "f" else expected.numpy(), dtype)


@needs_torch
def test_torch_parity_var_norm_arg_and_scans():
    x = sample((4, 9, 17), np.float32, seed=4)
    t = torch.from_numpy(x)
    a = arr(x)
    for dims in [None, (0,), (2,), (0, 2)]:
        for c in (0, 1):
            assert_close(_C.var(a, dims, c), torch.var(t, dims, correction=c).double().numpy(), np.float32)
            assert_close(_C.std(a, dims, c, True), torch.std(t, dims, correction=c, keepdim=True).double().numpy(),
                         np.float32)
        for p in (2, 1, 0, 3, -1, float("inf"), -float("inf")):
            assert_close(_C.norm(a, p, dims), torch.linalg.vector_norm(t, p, dims).double().numpy(), np.float32)
    for dim in (0, 1, -1):
        v, i = torch.max(t, dim)
        got_v, got_i = _C.max_dim(a, dim)
        np.testing.assert_array_equal(np.asarray(got_i), i.numpy())
        np.testing.assert_array_equal(np.asarray(got_v), v.numpy())
        np.testing.assert_array_equal(np.asarray(_C.argmin(a, dim, True)), torch.argmin(t, dim, True).numpy())
        assert_close(_C.cumsum(a, dim), torch.cumsum(t, dim).double().numpy(), np.float32)
        assert_close(_C.cumprod(a, dim), torch.cumprod(t, dim).double().numpy(), np.float32)
    specials = torch.tensor([[np.inf, 1.0], [-np.inf, -np.inf], [np.nan, 0.0]])
    np.testing.assert_array_equal(np.asarray(_C.reduce(Op.logsumexp, arr(specials.numpy()), 1)),
                                  torch.logsumexp(specials, 1).numpy())


# ------------------------------------------------------------------------------ CUDA
def _cuda(a):
    return array_from_numpy(np.ascontiguousarray(a)).to("cuda")


def _host(a):
    return np.asarray(a.to("cpu"))


def _same(got, want, dtype, exact=False):
    """The CUDA result against the CPU's: floats within a few ulps of the sum of magnitudes
    (different, equally accurate trees), everything else exactly."""
    assert got.dtype == want.dtype and got.shape == want.shape
    if exact or got.dtype.kind != "f":
        np.testing.assert_array_equal(got, want)
    else:
        tol = 2e-6 if np.dtype(dtype) == np.float32 else 1e-13
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.cuda
class TestCuda:
    """Every kernel path (warp rows, block rows, split rows, columns, split columns, strided
    general case) against the CPU kernels, with small shapes for the emulator."""

    @pytest.mark.parametrize("dtype", ALL_DTYPES)
    @pytest.mark.parametrize("op", [Op.sum, Op.prod, Op.amax, Op.amin, Op.any, Op.all])
    def test_ops_and_dtypes(self, op, dtype):
        x = sample((3, 5, 7), dtype)
        for dims in [None, 0, 2, (0, 2), (1, 2)]:
            d = None if dims is None else ([dims] if isinstance(dims, int) else list(dims))
            want = np.asarray(_C.reduce(op, array_from_numpy(x), d, False, None))
            got = _host(_C.reduce(op, _cuda(x), d, False, None))
            _same(got, want, dtype, exact=op in (Op.amax, Op.amin, Op.any, Op.all))

    @pytest.mark.parametrize("dtype", FLOATS)
    @pytest.mark.parametrize("shape,dims", [((37, 100), [1]), ((2, 9000), [1]), ((600, 5), [0]), ((3, 300, 4), [0, 1]),
                                            ((40, 3, 33), [0, 2]), ((1, 1), None)])
    def test_paths_float(self, shape, dims, dtype):
        x = sample(shape, dtype, seed=3)
        xc, xd = array_from_numpy(x), _cuda(x)
        for op in [Op.sum, Op.mean, Op.amax, Op.logsumexp]:
            _same(_host(_C.reduce(op, xd, dims, True, None)), np.asarray(_C.reduce(op, xc, dims, True, None)), dtype)
        ref = x.astype(np.float64).sum(axis=None if dims is None else tuple(dims))
        np.testing.assert_allclose(_host(_C.reduce(Op.sum, xd, dims, False, None)), ref, rtol=1e-5)
        _same(_host(_C.var(xd, dims, 1.0, False)), np.asarray(_C.var(xc, dims, 1.0, False)), dtype)
        _same(_host(_C.std(xd, dims, 0.0, True)), np.asarray(_C.std(xc, dims, 0.0, True)), dtype)
        for p in [0.0, 1.0, 2.0, 3.0, float("inf"), float("-inf")]:
            _same(_host(_C.norm(xd, p, dims, False)), np.asarray(_C.norm(xc, p, dims, False)), dtype)

    def test_views_and_empty(self):
        x = sample((6, 8, 5), np.float32, seed=1)
        d = fibril.tensor(x, device="cuda")  # a Tensor, for its slicing
        views = [(d.transpose(0, 2)._data, x.transpose(2, 1, 0)), (d[:, 1::3]._data, x[:, 1::3]),
                 (d[::2, :, 1:]._data, x[::2, :, 1:])]
        for view, ref in views:
            for dims in [None, [0], [1], [2], [0, 2]]:
                want = np.asarray(_C.reduce(Op.sum, array_from_numpy(np.ascontiguousarray(ref)), dims, False, None))
                _same(_host(_C.reduce(Op.sum, view, dims, False, None)), want, np.float32)
                want = np.asarray(_C.reduce(Op.amax, array_from_numpy(np.ascontiguousarray(ref)), dims, False, None))
                _same(_host(_C.reduce(Op.amax, view, dims, False, None)), want, np.float32, exact=True)
        e = _cuda(np.zeros((0, 3), np.float32))
        np.testing.assert_array_equal(_host(_C.reduce(Op.sum, e, [0], False, None)), np.zeros(3, np.float32))
        np.testing.assert_array_equal(_host(_C.reduce(Op.prod, e, [0], False, None)), np.ones(3, np.float32))
        assert _host(_C.reduce(Op.sum, e, [1], False, None)).shape == (0,)
        with pytest.raises(IndexError):
            _C.reduce(Op.amax, e, [0], False, None)

    def test_nan_and_accuracy(self):
        x = np.arange(40, dtype=np.float32).reshape(4, 10)
        x[1, 3] = np.nan
        x[2, 9] = np.nan
        for op in [Op.amax, Op.amin]:
            for dims in [[0], [1], None]:
                want = np.asarray(_C.reduce(op, array_from_numpy(x), dims, False, None))
                np.testing.assert_array_equal(_host(_C.reduce(op, _cuda(x), dims, False, None)), want)
        big = np.random.default_rng(0).random(20000).astype(np.float32) + 1
        got = _host(_C.reduce(Op.sum, _cuda(big), None, False, None))
        np.testing.assert_allclose(got, big.astype(np.float64).sum(), rtol=3e-7)

    @pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8, np.bool_])
    @pytest.mark.parametrize("shape,dim", [((7, 50), 1), ((2, 1500), 1), ((1, 9000), 1), ((5, 6, 4), 1), ((9, 3), 0),
                                           ((1,), 0)])
    def test_arg_reductions(self, shape, dim, dtype):
        x = sample(shape, dtype, seed=5)
        if dtype != np.bool_:
            x = (x % 4).astype(dtype)  # many ties: the first index must win
        xc, xd = array_from_numpy(x), _cuda(x)
        for fn in [_C.max_dim, _C.min_dim]:
            v, i = fn(xd, dim, False)
            wv, wi = fn(xc, dim, False)
            np.testing.assert_array_equal(_host(v), np.asarray(wv))
            np.testing.assert_array_equal(_host(i), np.asarray(wi))
        if dtype != np.bool_:
            for fn in [_C.argmax, _C.argmin]:
                np.testing.assert_array_equal(_host(fn(xd, dim, True)), np.asarray(fn(xc, dim, True)))
                np.testing.assert_array_equal(_host(fn(xd, None, False)), np.asarray(fn(xc, None, False)))

    def test_arg_nan(self):
        x = np.array([[1, np.nan, 3, np.nan], [2, 5, 5, 0]], np.float32)
        for fn in [_C.argmax, _C.argmin]:
            for dim in [0, 1]:
                np.testing.assert_array_equal(_host(fn(_cuda(x), dim, False)), np.asarray(fn(array_from_numpy(x), dim, False)))

    @pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.bool_])
    @pytest.mark.parametrize("shape,dim", [((3, 300), 1), ((2, 9000), 1), ((4, 5, 6), 1), ((7,), 0), ((2, 0), 1)])
    def test_scans(self, shape, dim, dtype):
        x = sample(shape, dtype, seed=7)
        for fn in [_C.cumsum, _C.cumprod]:
            want = np.asarray(fn(array_from_numpy(x), dim, None))
            got = _host(fn(_cuda(x), dim, None))
            assert got.dtype == want.dtype
            if got.dtype.kind == "f":  # double accumulation in another order: ulps of the running magnitude
                scale = np.abs(want).max(initial=1.0)
                tol = 1e-13 if dtype == np.float64 else 1e-6
                np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)
            else:
                np.testing.assert_array_equal(got, want)
