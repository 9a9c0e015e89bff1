"""Math functions composed of elementwise ops (python/fibril/ops/elementwise_math.py): values
vs float64 numpy and PyTorch, float32 accuracy in ulps over wide ranges, special values,
result dtypes, gradients (gradcheck, PyTorch parity), in-place forms."""

import math

import numpy as np
import pytest

import fibril
from op_check import assert_all_close, check_op, make_inputs, on_cpu_and_cuda, torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def T(name):
    return lambda *a, **kw: getattr(torch, name)(*a, **kw)


def F(name):
    return lambda *a, **kw: getattr(fibril, name)(*a, **kw)


def scaled(s):
    return lambda a: a * s


def sinc_ref(x):
    """sin(pi x) / (pi x) in float64 with an exact reduction of x (np.sinc is off at integers)."""
    r = x - 2 * np.round(x / 2)
    s = np.where(r > 0.5, 1 - r, np.where(r < -0.5, -1 - r, r))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x == 0, 1.0, np.sin(np.pi * s) / (np.pi * x))


POSITIVE = lambda a: np.abs(a) + 0.1  # noqa: E731
AWAY_FROM_INT = lambda a: np.floor(a) + 0.3  # noqa: E731
UNARY = {  # fibril fn, numpy reference, input transform
    "square": (F("square"), np.square, None),
    "log10": (F("log10"), np.log10, POSITIVE),
    "sinh": (F("sinh"), np.sinh, None),
    "cosh": (F("cosh"), np.cosh, None),
    "tan": (F("tan"), np.tan, scaled(0.7)),
    "asin": (F("asin"), np.arcsin, scaled(0.45)),
    "acos": (F("acos"), np.arccos, scaled(0.45)),
    "atan": (F("atan"), np.arctan, scaled(3)),
    "asinh": (F("asinh"), np.arcsinh, scaled(3)),
    "acosh": (F("acosh"), np.arccosh, lambda a: np.abs(a) + 1.1),
    "atanh": (F("atanh"), np.arctanh, scaled(0.45)),
    "sinc": (F("sinc"), sinc_ref, scaled(2)),
    "frac": (F("frac"), lambda a: a - np.trunc(a), AWAY_FROM_INT),
    "deg2rad": (F("deg2rad"), np.deg2rad, None),
    "rad2deg": (F("rad2deg"), np.rad2deg, None),
    "nan_to_num": (F("nan_to_num"), np.nan_to_num, None),
}
AWAY_FROM_ZERO = lambda a: np.where(a < 0, a - 0.5, a + 0.5)  # noqa: E731
BINARY = {  # fibril fn, torch fn, numpy reference, transform of the first and of the second input
    "hypot": (F("hypot"), T("hypot"), np.hypot, None, None),
    "fmod": (F("fmod"), T("fmod"), np.fmod, scaled(4), AWAY_FROM_ZERO),
    "logaddexp": (F("logaddexp"), T("logaddexp"), np.logaddexp, None, None),
    "logaddexp2": (F("logaddexp2"), T("logaddexp2"), np.logaddexp2, None, None),
    "xlogy": (F("xlogy"), T("xlogy"), lambda a, b: a * np.log(b), None, POSITIVE),
    "float_power": (F("float_power"), T("float_power"), np.power, POSITIVE, None),
}
SHAPES = [(3, 4), (), (17,)]
BROADCASTS = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((), (3, 2))]


def inputs(shapes, transforms, seed=0):
    return [a if f is None else f(a) for a, f in zip(make_inputs(shapes, seed=seed), transforms)]


# ------------------------------------------------------------------------------ values, gradients
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, shape):
    f, ref, transform = UNARY[name]
    check_op(f, T(name), inputs([shape], [transform]), numpy_fn=ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_method_on_non_contiguous(name):
    _, ref, transform = UNARY[name]
    check_op(lambda x: getattr(x, name)(), lambda t: getattr(t, name)(), inputs([(4, 6)], [transform]),
             numpy_fn=lambda a: ref(a.T), layout=lambda x: x.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shapes", BROADCASTS)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_with_broadcasting(name, shapes):
    f, t, ref, ta, tb = BINARY[name]
    check_op(f, t, inputs(shapes, [ta, tb]), numpy_fn=ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_method(name):
    _, _, ref, ta, tb = BINARY[name]
    check_op(lambda a, b: getattr(a, name)(b), lambda a, b: getattr(a, name)(b), inputs([(3, 4), (3, 4)], [ta, tb]),
             numpy_fn=ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("weight", [0.3, 0.7, -1.5, "tensor"])
def test_lerp(weight):
    arrays = make_inputs([(3, 4), (4,)] + ([(3, 1)] if weight == "tensor" else []))

    def f(lib):
        return lambda s, e, *w: lib.lerp(s, e, w[0] if w else weight)

    expected = arrays[0] + (arrays[2] if weight == "tensor" else weight) * (arrays[1] - arrays[0])
    check_op(f(fibril), f(torch), arrays, numpy_fn=lambda *a: expected, rtol=1e-12, atol=1e-12)


def test_lerp_is_exact_at_both_ends():
    start, end = fibril.tensor([0.1, -3.7, 1e8]), fibril.tensor([0.3, 2.9, -1e-8])
    assert fibril.lerp(start, end, 0.0).tolist() == start.tolist()
    assert fibril.lerp(start, end, 1.0).tolist() == end.tolist()
    assert fibril.lerp(start, end, fibril.tensor([0.0, 1.0, 1.0])).tolist() == [start[0].item()] + end.tolist()[1:]


@pytest.mark.parametrize("value", [1, 0.5, -2])
@pytest.mark.parametrize("name", ["addcmul", "addcdiv"])
def test_addcmul_addcdiv(name, value):
    arrays = inputs([(3, 1), (3, 4), (4,)], [None, None, AWAY_FROM_ZERO])
    op = np.multiply if name == "addcmul" else np.divide
    check_op(lambda x, a, b: getattr(fibril, name)(x, a, b, value=value),
             lambda x, a, b: getattr(torch, name)(x, a, b, value=value), arrays,
             numpy_fn=lambda x, a, b: x + value * op(a, b), rtol=1e-12, atol=1e-12)
    got = getattr(fibril.tensor(arrays[0]), name)(fibril.tensor(arrays[1]), fibril.tensor(arrays[2]), value=value)
    np.testing.assert_allclose(got.numpy(), arrays[0] + value * op(arrays[1], arrays[2]), rtol=1e-12)


@pytest.mark.parametrize("shapes", BROADCASTS)
def test_copysign(shapes):
    a, b = make_inputs(shapes)
    check_op(lambda x: fibril.copysign(x, fibril.tensor(b)), lambda t: torch.copysign(t, torch.tensor(b)), [a],
             numpy_fn=lambda a: np.copysign(a, b))
    assert not fibril.copysign(fibril.tensor(a), fibril.tensor(b, requires_grad=True)).requires_grad  # torch: zeros


def test_clamp_min_clamp_max():
    (a,) = make_inputs([(5, 3)])
    check_op(lambda x: fibril.clamp_min(x, 0.25), lambda t: torch.clamp_min(t, 0.25), [a],
             numpy_fn=lambda a: np.maximum(a, 0.25))
    check_op(lambda x: x.clamp_max(-0.25), lambda t: t.clamp_max(-0.25), [a], numpy_fn=lambda a: np.minimum(a, -0.25))


# ------------------------------------------------------------------------------ float32 accuracy
def ulp_error(got, ref):
    """|got - ref| in float32 ulps of ref (ref: float64)."""
    return np.abs(got.astype(np.float64) - ref) / np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)


RNG = np.random.default_rng(7)


def log_uniform(lo, hi, n=20000, signed=True):
    x = np.exp(RNG.uniform(lo, hi, n))
    return (x * RNG.choice([-1, 1], n) if signed else x).astype(np.float32)


def near_one(n=20000):
    return (1 - np.exp(RNG.uniform(-16, -1, n))).astype(np.float32)


ACCURACY = {  # inputs (float32) spanning wide ranges: tiny, near the edges of the domain, to overflow
    "sinh": np.concatenate([log_uniform(-20, 4.5), np.linspace(88, 89.4, 1000, dtype=np.float32)]),
    "cosh": np.concatenate([log_uniform(-20, 4.5), np.linspace(-89.4, 89.4, 1000, dtype=np.float32)]),
    "tan": log_uniform(-20, 6),
    "asin": np.concatenate([log_uniform(-20, 0), near_one(), -near_one()]),
    "acos": np.concatenate([log_uniform(-20, 0), near_one(), -near_one()]),
    "atan": log_uniform(-30, 40),
    "asinh": log_uniform(-20, 85),
    "acosh": np.concatenate([1 + log_uniform(-16, 0, signed=False), log_uniform(0, 85, signed=False)]),
    "atanh": np.concatenate([log_uniform(-20, 0), near_one(), -near_one()]),
    "log10": np.concatenate([log_uniform(-80, 80, signed=False), RNG.uniform(0.99, 1.01, 2000).astype(np.float32)]),
    "sinc": np.concatenate([log_uniform(-20, 16), RNG.uniform(-3, 3, 5000).astype(np.float32)]),
    "deg2rad": log_uniform(-30, 30),
    "rad2deg": log_uniform(-30, 30),
}


@pytest.mark.parametrize("name", list(ACCURACY))
def test_float32_within_a_few_ulp_of_float64(name):
    x = ACCURACY[name]
    got = getattr(fibril, name)(fibril.tensor(x)).numpy()
    assert got.dtype == np.float32
    with np.errstate(over="ignore"):
        ref = UNARY[name][1](x.astype(np.float64))
    assert np.all(np.isfinite(got) == (np.abs(ref) <= np.finfo(np.float32).max))
    finite = np.isfinite(got) & (np.abs(ref) > np.finfo(np.float32).tiny)  # kernels flush denormals
    assert ulp_error(got[finite], ref[finite]).max() <= 3


@pytest.mark.parametrize("name", ["hypot", "xlogy", "copysign", "fmod"])
def test_binary_float32_within_a_few_ulp_of_float64(name):
    a, b = log_uniform(-30, 30), log_uniform(-30, 30)
    if name == "xlogy":
        b = np.abs(b)
    got = getattr(fibril, name)(fibril.tensor(a), fibril.tensor(b)).numpy()
    ref = getattr(np, name)(a.astype(np.float64), b.astype(np.float64)) if name != "xlogy" else a * np.log(b)
    keep = np.abs(ref) > np.finfo(np.float32).tiny
    assert ulp_error(got[keep], ref[keep]).max() <= (0 if name in ("copysign", "fmod") else 2)


@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2"])
def test_logaddexp_float32_accuracy(name):
    a, b = RNG.uniform(-100, 100, 20000).astype(np.float32), RNG.uniform(-100, 100, 20000).astype(np.float32)
    got = getattr(fibril, name)(fibril.tensor(a), fibril.tensor(b)).numpy()
    ref = BINARY[name][2](a.astype(np.float64), b.astype(np.float64))
    # in ulps of the larger input: the result may cancel to near 0 (as torch's)
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), np.abs(ref)).astype(np.float32)
    assert (np.abs(got - ref) / np.spacing(scale)).max() <= 2


@pytest.mark.parametrize("name", ["sinh", "cosh", "asin", "acos", "asinh", "acosh", "atanh", "log10", "tan"])
def test_float64_accuracy(name):
    x = ACCURACY[name].astype(np.float64)
    if name in ("sinh", "cosh"):
        x = np.concatenate([x, np.linspace(-710.4, 710.4, 2001)])
    elif name in ("asinh", "acosh"):
        x = np.concatenate([x, np.geomspace(1.5, 1e300, 2001)])
    with np.errstate(over="ignore"):
        ref = UNARY[name][1](x)
    np.testing.assert_allclose(getattr(fibril, name)(fibril.tensor(x)).numpy(), ref, rtol=5e-16, atol=0)


def test_log10_of_powers_of_ten():
    assert fibril.log10(fibril.tensor([1.0, 10.0, 100.0, 1e3, 1e5, 1e10])).tolist() == [0, 1, 2, 3, 5, 10]


def test_fmod_is_exact():
    a, b = log_uniform(-30, 30).astype(np.float64), log_uniform(-30, 30).astype(np.float64)
    for x, y in [(a, b), (a.astype(np.float32), b.astype(np.float32))]:
        np.testing.assert_array_equal(fibril.fmod(fibril.tensor(x), fibril.tensor(y)).numpy(), np.fmod(x, y))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_fmod_integers(dtype):
    info = np.iinfo(dtype)
    a = RNG.integers(info.min, info.max, 500, dtype=dtype, endpoint=True)
    b = RNG.integers(info.min, info.max, 500, dtype=dtype, endpoint=True)
    b = np.where(b == 0, 7, b).astype(dtype)
    small = RNG.integers(max(info.min, -9), 10, 500).astype(dtype)
    small = np.where(small == 0, 3, small).astype(dtype)
    for x, y in [(a, b), (a, small), (small, small[::-1].copy())]:
        got = fibril.fmod(fibril.tensor(x), fibril.tensor(y))
        assert got.dtype == fibril.tensor(x).dtype
        np.testing.assert_array_equal(got.numpy(), np.fmod(x, y))
    np.testing.assert_array_equal(fibril.tensor(a).fmod(5).numpy(), np.fmod(a, dtype(5)))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        fibril.fmod(fibril.tensor(a), 0)


def test_sinc_is_exact_at_integers_and_large_arguments():
    x = np.array([1.0, -1.0, 2.0, 3.0, -89.0, 1e20, 3.4e38, 0.0, -0.0], np.float32)
    got = fibril.sinc(fibril.tensor(x)).numpy()
    np.testing.assert_array_equal(np.abs(got), [0, 0, 0, 0, 0, 0, 0, 1, 1])
    assert ulp_error(fibril.sinc(fibril.tensor(np.float32(0.5))).numpy(), 2 / np.pi) <= 1


# ------------------------------------------------------------------------------ special values
SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -3.5, math.inf, -math.inf, math.nan, 1e-30, -1e-30,
                    1e30, 89.0, -89.0, 3.4e38, -3.4e38, 0.99999994, -0.99999994, 1.0000001, 100.0])


def assert_same_values(got, ref):
    """Equal within 2 float32 ulps, NaN where ref is NaN, and the same sign (zeros too)."""
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    keep = ~np.isnan(ref)
    np.testing.assert_allclose(got[keep], ref[keep], rtol=2.5e-7, atol=0)
    np.testing.assert_array_equal(np.signbit(got[keep]), np.signbit(ref[keep]))


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", [n for n in UNARY if n != "sinc"] + ["sgn", "positive", "absolute", "negative"])
def test_unary_special_values_as_torch(name, dtype):
    x = SPECIAL.astype(dtype)
    assert_same_values(getattr(fibril, name)(fibril.tensor(x)).numpy(), getattr(torch, name)(torch.tensor(x)).numpy())


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["hypot", "logaddexp", "logaddexp2", "copysign", "xlogy", "float_power", "fmod"])
def test_binary_special_values_as_torch(name, dtype):
    a, b = (g.ravel() for g in np.meshgrid(SPECIAL.astype(dtype), SPECIAL.astype(dtype)))
    got = getattr(fibril, name)(fibril.tensor(a), fibril.tensor(b)).numpy()
    ref = getattr(torch, name)(torch.tensor(a), torch.tensor(b)).numpy()
    # torch's float32 fmod is NaN for a huge quotient (C's fmod: exact); its logaddexps round where
    # fibril cancels to exact 0s or flushes a denormal result to 0
    if name == "fmod":
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(got, np.fmod(a, b))
        keep = ~np.isnan(ref)
    else:
        keep = ~((np.abs(got) < 1e-7) & (np.abs(ref) < 1e-7))
    assert_same_values(got[keep], ref[keep])


def test_special_values():
    inf, nan = math.inf, math.nan

    def values(fn, *args):
        return fn(*[fibril.tensor(a) for a in args]).tolist()

    assert values(fibril.sinh, [89.0, -89.0, 89.5]) == [float(np.float32(np.sinh(89.0))),
                                                        float(np.float32(-np.sinh(89.0))), inf]
    assert values(fibril.cosh, [-89.0, 89.5]) == [float(np.float32(np.cosh(89.0))), inf]
    assert np.isnan(values(fibril.asin, [1.5, -1.0000001, inf, nan])).all()
    assert values(fibril.asin, [1.0, -1.0]) == [float(np.float32(np.pi / 2)), -float(np.float32(np.pi / 2))]
    assert values(fibril.acos, [1.0, -1.0]) == [0.0, float(np.float32(np.pi))]
    assert values(fibril.atan, [inf, -inf]) == [float(np.float32(np.pi / 2)), -float(np.float32(np.pi / 2))]
    assert np.isnan(values(fibril.acosh, [0.99999994, -1e10, -inf, nan])).all()
    assert values(fibril.acosh, [1.0, inf]) == [0.0, inf]
    assert values(fibril.asinh, [inf, -inf, 3.4e38]) == [inf, -inf, float(np.float32(np.arcsinh(3.4e38)))]
    assert values(fibril.atanh, [1.0, -1.0]) == [inf, -inf]
    assert np.isnan(values(fibril.atanh, [1.0000001, -2.0, inf])).all()
    assert np.isnan(values(fibril.log10, [-1.0, -inf, nan])).all() and values(fibril.log10, [0.0, inf]) == [-inf, inf]
    assert values(fibril.hypot, [inf, nan, -inf, 0.0, 3e38, 2e38], [nan, -inf, 2.0, -0.0, 3e38, 2e38]) == [
        inf, inf, inf, 0.0, inf, float(np.float32(np.hypot(2e38, 2e38)))]
    assert np.isnan(values(fibril.fmod, [inf, 1.0, nan], [2.0, 0.0, 1.0])).all()
    assert values(fibril.fmod, [3.0, -0.0], [inf, 2.0]) == [3.0, -0.0]
    assert values(fibril.logaddexp, [-inf, inf, inf], [-inf, inf, -inf]) == [-inf, inf, inf]
    assert values(fibril.xlogy, [0.0, 0.0, 1.0, 2.0], [0.0, inf, 0.0, 1.0]) == [0.0, 0.0, -inf, 0.0]
    assert np.isnan(values(fibril.xlogy, [0.0], [nan])).all()
    assert np.signbit(values(fibril.copysign, [1.0, -2.0, 3.0], [-0.0, 0.0, -inf])).tolist() == [True, False, True]


@pytest.mark.parametrize("dtype", [fibril.float16, fibril.float32, fibril.float64])
def test_nan_to_num(dtype):
    x = fibril.tensor([math.nan, math.inf, -math.inf, 1.5], dtype=dtype)
    info = fibril.finfo(dtype)
    assert x.nan_to_num().tolist() == [0.0, info.max, info.min, 1.5]
    assert fibril.nan_to_num(x, nan=2.0, posinf=3.0, neginf=-4.0).tolist() == [2.0, 3.0, -4.0, 1.5]
    assert fibril.nan_to_num(x, posinf=3.0).tolist() == [0.0, 3.0, info.min, 1.5]
    assert x.nan_to_num().dtype == dtype


def test_nan_to_num_of_integers_is_a_copy_and_its_gradient_is_zero_off_the_finite_values():
    i = fibril.tensor([1, -2])
    out = fibril.nan_to_num(i)
    assert out.tolist() == [1, -2] and out.dtype == fibril.int64 and out._data is not i._data
    x = fibril.tensor([math.nan, math.inf, -math.inf, 1.5], requires_grad=True)
    x.nan_to_num().sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 1.0]


# ------------------------------------------------------------------------------ dtypes
FLOAT_VALUED = ["log10", "sinh", "cosh", "tan", "asin", "acos", "atan", "asinh", "acosh", "atanh", "sinc",
                "deg2rad", "rad2deg"]


@needs_torch
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("name", FLOAT_VALUED + ["square", "sgn", "nan_to_num"])
def test_integer_inputs_as_torch(name, dtype):
    x = np.array([0, 1, 2, 3, 7], dtype=dtype) if dtype != "bool" else np.array([True, False])
    got = getattr(fibril, name)(fibril.tensor(x))
    ref = getattr(torch, name)(torch.tensor(x))
    assert got.dtype.name == str(ref.dtype).replace("torch.", "")
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-6, atol=1e-7)  # torch's sinc(1) is 3e-8


@needs_torch
@pytest.mark.parametrize("name, dtypes", [
    (name, dtypes)
    for name in ["copysign", "xlogy", "float_power", "fmod", "true_divide", "divide", "multiply", "subtract"]
    for dtypes in [("int64", "int64"), ("int32", "float64"), ("float32", "float64"), ("uint8", "int64"),
                   ("float32", 2), ("int64", 2.5), (-1.5, "float64")]
    if name not in ("copysign", "fmod") or isinstance(dtypes[0], str)  # torch: a number second only
])
def test_binary_dtypes_and_numbers_as_torch(name, dtypes):
    args = [np.array([1, 2, 3, 5], dtype=d) if isinstance(d, str) else d for d in dtypes]
    got = getattr(fibril, name)(*[fibril.tensor(a) if isinstance(a, np.ndarray) else a for a in args])
    ref = getattr(torch, name)(*[torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args])
    assert got.dtype.name == str(ref.dtype).replace("torch.", "")
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-6)


def test_float_power_is_float64():
    out = fibril.float_power(fibril.tensor([2, 3]), fibril.tensor([0.5], dtype=fibril.float32))
    assert out.dtype == fibril.float64
    np.testing.assert_allclose(out.numpy(), np.power([2.0, 3.0], 0.5), rtol=1e-15)


# ------------------------------------------------------------------------------ gradients at the edges
@needs_torch
@pytest.mark.parametrize("name, values", [
    ("asin", [1.0, -1.0, 0.0, 1.5]), ("acos", [1.0, -1.0, 0.0]), ("atanh", [1.0, -1.0, 0.0, -0.0]),
    ("asinh", [0.0, -0.0, 1e10, -3.0]), ("acosh", [1.0, 2.0, 1e10]), ("sinh", [0.0, 89.0, -89.0, 1e-20]),
    ("cosh", [0.0, 89.0, -89.0]), ("sinc", [0.0, -0.0, 1.0, 0.25, 1e6 + 0.5]), ("tan", [0.0, 1.0]),
    ("atan", [0.0, 1e10]), ("log10", [0.0, 1.0]), ("frac", [-2.5, 0.0]),
])
def test_gradient_at_edges_as_torch(name, values):
    x = fibril.tensor(values, requires_grad=True)
    t = torch.tensor(values, requires_grad=True)
    getattr(fibril, name)(x).sum().backward()
    getattr(torch, name)(t).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_gradients_where_torch_gives_nan():
    # hypot at (0, 0) and xlogy's y at x == y == 0: 0 (the function is flat there along the
    # direction); xlogy's x at x == 0 is log(y), as torch
    a, b = fibril.tensor([0.0, 3.0], requires_grad=True), fibril.tensor([0.0, -4.0], requires_grad=True)
    fibril.hypot(a, b).sum().backward()
    assert a.grad.tolist() == [0.0, pytest.approx(0.6)] and b.grad.tolist() == [0.0, pytest.approx(-0.8)]
    x, y = fibril.tensor([0.0, 0.0, 2.0], requires_grad=True), fibril.tensor([0.0, 3.0, 4.0], requires_grad=True)
    fibril.xlogy(x, y).sum().backward()
    assert x.grad.tolist() == [0.0, pytest.approx(math.log(3.0)), pytest.approx(math.log(4.0))]
    assert y.grad.tolist() == [0.0, 0.0, 0.5]


def test_fmod_gradient():
    a, b = fibril.tensor([0.0, 7.5, -7.5], requires_grad=True), fibril.tensor([2.0, -2.0, 2.0], requires_grad=True)
    fibril.fmod(a, b).sum().backward()
    assert a.grad.tolist() == [1.0, 1.0, 1.0] and b.grad.tolist() == [0.0, 3.0, 3.0]


# ------------------------------------------------------------------------------ comparisons
@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8, np.bool_])
@pytest.mark.parametrize("tolerances", [(1e-5, 1e-8), (0.0, 0.0), (0.1, 0.0), (0.0, 1.5)])
@pytest.mark.parametrize("equal_nan", [False, True])
def test_isclose_as_torch(dtype, tolerances, equal_nan):
    values = SPECIAL if np.dtype(dtype).kind == "f" else np.array([0, 1, 2, 3, 200, 255])
    a, b = (g.ravel().astype(dtype) for g in np.meshgrid(values, values))
    b = np.where(np.arange(b.size) % 3 == 0, b, a * np.array(1.00001, dtype) if np.dtype(dtype).kind == "f" else b)
    got = fibril.isclose(fibril.tensor(a), fibril.tensor(b), *tolerances, equal_nan=equal_nan)
    ref = torch.isclose(torch.tensor(a), torch.tensor(b), *tolerances, equal_nan=equal_nan)
    np.testing.assert_array_equal(got.numpy(), ref.numpy())
    allclose = fibril.tensor(a).allclose(fibril.tensor(b), *tolerances, equal_nan=equal_nan)
    assert allclose is torch.allclose(torch.tensor(a), torch.tensor(b), *tolerances, equal_nan=equal_nan)


def test_isclose_broadcasts_and_refuses_mixed_dtypes():
    a = fibril.tensor([[1.0], [2.0]])
    assert fibril.isclose(a, fibril.tensor([1.0, 2.0 + 1e-6])).tolist() == [[True, False], [False, True]]
    assert fibril.allclose(fibril.tensor([1.0, 2.0]), fibril.tensor([1.0, 2.0 + 1e-6])) is True
    assert fibril.allclose(fibril.tensor([1.0, math.nan]), fibril.tensor([1.0, math.nan])) is False
    assert fibril.allclose(fibril.tensor([1.0, math.nan]), fibril.tensor([1.0, math.nan]), equal_nan=True) is True
    with pytest.raises(TypeError, match="same dtype"):
        fibril.isclose(fibril.tensor([1.0]), fibril.tensor([1]))


def test_equal():
    a = fibril.tensor([1.0, 2.0])
    assert fibril.equal(a, fibril.tensor([1, 2])) is True and a.equal(a.clone()) is True
    assert fibril.equal(a, fibril.tensor([1.0, 2.5])) is False
    assert fibril.equal(a, fibril.tensor([[1.0, 2.0]])) is False  # broadcastable, but another shape
    assert fibril.equal(fibril.tensor([math.nan]), fibril.tensor([math.nan])) is False
    assert fibril.equal(fibril.zeros((0, 3)), fibril.zeros((0, 3))) is True


# ------------------------------------------------------------------------------ in place, aliases
INPLACE = {  # method, its arguments; inputs in (0.1, 0.9), inside every domain
    "square": (), "log10": (), "sinh": (), "cosh": (), "tan": (), "asin": (), "acos": (), "atan": (), "asinh": (),
    "atanh": (), "sinc": (), "frac": (), "deg2rad": (), "rad2deg": (), "nan_to_num": (), "absolute": (),
    "negative": (), "arcsin": (), "arctanh": (), "clamp_min": (0.5,), "clamp_max": (0.5,),
    "hypot": ("other",), "fmod": (0.3,), "copysign": ("other",), "xlogy": ("other",), "lerp": ("other", 0.25),
    "addcmul": ("other", "other"), "addcdiv": ("other", "other"), "multiply": ("other",), "subtract": ("other",),
    "divide": ("other",), "true_divide": ("other",), "arctan2": ("other",),
}


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_matches_out_of_place(name):
    a, b = np.random.default_rng(3).uniform(0.1, 0.9, (2, 3, 4))
    args = [fibril.tensor(b) if v == "other" else v for v in INPLACE[name]]
    x = fibril.tensor(a)
    expected = getattr(x, name)(*args)
    assert getattr(x, name + "_")(*args) is x
    np.testing.assert_array_equal(x.numpy(), expected.numpy())
    # with autograd: recorded out of place, history adopted by x
    leaf = fibril.tensor(a, requires_grad=True)
    y = leaf * 1.0
    getattr(y, name + "_")(*args).sum().backward()
    ref = fibril.tensor(a, requires_grad=True)
    getattr(ref, name)(*args).sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), ref.grad.numpy(), rtol=1e-12)


def test_inplace_dtype_rules():
    i = fibril.tensor([1, 2, 3])
    assert i.square_().tolist() == [1, 4, 9] and i.fmod_(4).tolist() == [1, 0, 1]
    for call in [lambda: i.sinh_(), lambda: i.fmod_(2.5), lambda: i.copysign_(-1.0),
                 lambda: fibril.tensor([True]).square_(), lambda: fibril.tensor([1.0]).float_power_(2)]:
        with pytest.raises(RuntimeError, match="float64|can't be cast"):
            call()
    d = fibril.tensor([2.0], dtype=fibril.float64)
    assert d.float_power_(0.5).tolist() == [math.sqrt(2.0)]
    assert fibril.tensor([0.5, 2.0]).clamp_min_(1.0).tolist() == [1.0, 2.0]
    assert fibril.tensor([0.5, 2.0]).clamp_max_(1.0).tolist() == [0.5, 1.0]


def test_aliases():
    for alias, name in [("arcsin", "asin"), ("arccos", "acos"), ("arctan", "atan"), ("arcsinh", "asinh"),
                        ("arccosh", "acosh"), ("arctanh", "atanh"), ("arctan2", "atan2"), ("sgn", "sign"),
                        ("negative", "neg"), ("absolute", "abs"), ("multiply", "mul"), ("subtract", "sub"),
                        ("divide", "div"), ("true_divide", "div")]:
        assert getattr(fibril, alias) is getattr(fibril, name)
        assert getattr(fibril.Tensor, alias) is getattr(fibril.Tensor, name)
    x = fibril.tensor([1.0, -2.0])
    assert fibril.positive(x) is x and x.positive() is x
    with pytest.raises(TypeError, match="bool"):
        fibril.positive(fibril.tensor([True]))
    assert fibril.divide(fibril.tensor([-7]), 2, rounding_mode="floor").tolist() == [-4]


# ------------------------------------------------------------------------------ CUDA
# The compositions on "cuda" (a GPU, or the emulator with FIBRIL_CUDA_EMULATOR=1) against the CPU.
@pytest.mark.cuda
@pytest.mark.parametrize("name", list(UNARY) + list(BINARY) + ["lerp", "addcdiv"])
def test_cuda_matches_cpu(name):
    if name in UNARY:
        _, _, transform = UNARY[name]
        arrays, fn = inputs([(5, 7)], [transform]), lambda d, x: getattr(fibril, name)(x)
    elif name in BINARY:
        _, _, _, ta, tb = BINARY[name]
        arrays, fn = inputs([(5, 7), (7,)], [ta, tb]), lambda d, a, b: getattr(fibril, name)(a, b)
    else:
        arrays = inputs([(5, 7), (7,), (5, 1)], [None, None, AWAY_FROM_ZERO])
        fn = lambda d, a, b, c: getattr(fibril, name)(a, b, c)  # noqa: E731
    assert_all_close(*on_cpu_and_cuda(fn, arrays), rtol=1e-13, atol=1e-13)
    x32 = fibril.tensor(ACCURACY.get(name, np.linspace(-5, 5, 101, dtype=np.float32))[:2000])
    if name in UNARY:
        np.testing.assert_allclose(getattr(fibril, name)(x32.cuda()).cpu().numpy(), getattr(fibril, name)(x32).numpy(),
                                   rtol=1e-6)


@pytest.mark.parametrize("name", ["hypot", "logaddexp", "logaddexp2"])
def test_float_binary_ops_promote_as_torch(name):
    fn = getattr(fibril, name)
    # a 0-d operand counts only where its category is higher; integers mix with floats only
    cases = [(fibril.tensor(2.0, dtype=fibril.float64), fibril.tensor([1, 2]), fibril.float64),
             (fibril.tensor([3], dtype=fibril.int32), fibril.tensor([4.0]), fibril.float32),
             (fibril.tensor([1.0], dtype=fibril.float16), fibril.tensor(2.0, dtype=fibril.float64), fibril.float16)]
    for a, b, dtype in cases:
        assert fn(a, b).dtype == dtype
    for a, b in [(fibril.tensor([3]), fibril.tensor([4])), (fibril.tensor([True]), fibril.tensor(1))]:
        with pytest.raises(NotImplementedError, match=name):
            fn(a, b)


def test_hypot_takes_a_number_and_heaviside_refuses_one():
    x = fibril.tensor([3.0, -4.0], requires_grad=True)
    y = fibril.hypot(x, 4.0)
    y.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), [5.0, 32 ** 0.5], rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), [0.6, -4 / 32 ** 0.5], rtol=1e-6)
    np.testing.assert_allclose(fibril.hypot(3.0, x).detach().numpy(), [18 ** 0.5, 5.0], rtol=1e-6)
    with pytest.raises(TypeError, match="values must be a tensor"):
        fibril.heaviside(x, 0.5)
