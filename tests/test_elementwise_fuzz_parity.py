"""Regressions found by fuzzing the elementwise and activation families against PyTorch: type
promotion of add/sub's alpha and of composed ops, in-place cast rules, integer and bool inputs,
and gradients of broadcast clamp bounds. torch is the oracle (values, dtypes, which calls raise)."""

import numpy as np
import pytest

import fibril
import fibril.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def pair(values, dtype):
    """The same values as a fibril and a torch tensor of dtype (a name: "float32", ...)."""
    array = np.asarray(values)
    f = fibril.tensor(array.astype(np.float32) if dtype == "bfloat16" else array).to(getattr(fibril, dtype))
    return f, torch.tensor(array).to(getattr(torch, dtype))


def assert_same(f, t, rtol=1e-6, atol=1e-6):
    assert f.dtype.name == str(t.dtype).replace("torch.", "")
    assert tuple(f.shape) == tuple(t.shape)
    np.testing.assert_allclose(f.float().detach().numpy(), t.float().detach().numpy(), rtol=rtol, atol=atol)


def assert_both_raise(fibril_call, torch_call):
    with pytest.raises(Exception):
        torch_call()
    with pytest.raises((RuntimeError, TypeError, ValueError, NotImplementedError)):
        fibril_call()


# ------------------------------------------------------------------------------ add / sub alpha
@pytest.mark.parametrize("op", ["add", "sub"])
def test_alpha_scales_in_the_result_dtype(op):
    # a uint8 other times a negative alpha must not wrap around before the float add
    fa, ta = pair([1.0, 2.0], "float32")
    fb, tb = pair([3, 4], "uint8")
    assert_same(getattr(fibril, op)(fa, fb, alpha=-1), getattr(torch, op)(ta, tb, alpha=-1))
    fi, ti = pair([1, 2], "int32")
    assert_same(getattr(fibril, op)(fi, fb[:1].to(fibril.uint8).reshape(()), alpha=-1),
                getattr(torch, op)(ti, tb[:1].reshape(()), alpha=-1))
    assert_same(getattr(fa.clone(), op + "_")(fb, alpha=-1), getattr(ta.clone(), op + "_")(tb, alpha=-1))


def test_alpha_on_bool_results():
    fa, ta = pair([True, False, False], "bool")
    fb, tb = pair([True, True, False], "bool")
    for alpha in (2, 0, True):
        assert_same(fibril.add(fa, fb, alpha=alpha), torch.add(ta, tb, alpha=alpha))
        assert_same(fa.clone().add_(fb, alpha=alpha), ta.clone().add_(tb, alpha=alpha))


def test_alpha_checks():
    fi, ti = pair([1, 2], "int64")
    ff, tf = pair([1.0, 2.0], "float32")
    assert_both_raise(lambda: fibril.add(fi, fi, alpha=True), lambda: torch.add(ti, ti, alpha=True))
    assert_both_raise(lambda: fibril.add(fi, fi, alpha=1.5), lambda: torch.add(ti, ti, alpha=1.5))
    assert_both_raise(lambda: fi.clone().add_(fi, alpha=True), lambda: ti.clone().add_(ti, alpha=True))
    fb, tb = pair([True, False], "bool")
    assert_both_raise(lambda: fibril.sub(ff, fb, alpha=2), lambda: torch.sub(tf, tb, alpha=2))
    assert_both_raise(lambda: fibril.sub(ff, True, alpha=2), lambda: torch.sub(tf, True, alpha=2))
    assert_both_raise(lambda: ff.clone().sub_(fb, alpha=2), lambda: tf.clone().sub_(tb, alpha=2))


def test_rsub():
    fu, tu = pair([1, 2], "uint8")
    assert_same(fibril.rsub(fu, -1.5), torch.rsub(tu, -1.5))
    ff, tf = pair([1.0, 2.0], "float32")
    assert_same(fibril.rsub(ff, 3.0, alpha=2), torch.rsub(tf, 3.0, alpha=2))
    assert_both_raise(lambda: fibril.rsub(ff, True), lambda: torch.rsub(tf, True))


# ------------------------------------------------------------------------------ division, shifts, in place
def test_trunc_division_of_uint8_by_a_negative_divisor():
    fu, tu = pair([5, 7, 250], "uint8")
    for divisor in (-3, pair(-3, "int64")):
        fd, td = divisor if isinstance(divisor, tuple) else (divisor, divisor)
        assert_same(fibril.div(fu, fd, rounding_mode="trunc"), torch.div(tu, td, rounding_mode="trunc"))


def test_in_place_results_must_cast_to_self():
    fi, ti = pair([1, 2], "int64")
    assert_both_raise(lambda: fi.clone().div_(2.0, rounding_mode="trunc"),
                      lambda: ti.clone().div_(2.0, rounding_mode="trunc"))
    assert_same(fi.clone().div_(-2, rounding_mode="trunc"), ti.clone().div_(-2, rounding_mode="trunc"))
    fb, tb = pair([True, False], "bool")
    assert_both_raise(lambda: fb.clone().bitwise_left_shift_(fi[:1]), lambda: tb.clone().bitwise_left_shift_(ti[:1]))
    assert_same(fi.clone().eq_(1), ti.clone().eq_(1))


def test_shifts_refuse_bools():
    fb, tb = pair([True, False], "bool")
    assert_both_raise(lambda: fb << True, lambda: tb << True)
    assert_both_raise(lambda: fibril.bitwise_right_shift(fb, fb), lambda: torch.bitwise_right_shift(tb, tb))
    fi, ti = pair([5, -6], "int32")
    assert_same(fi << 2, ti << 2)
    assert_same(fi >> fb.to(fibril.int32), ti >> tb.to(torch.int32))


def test_bitwise_not_in_place():
    fi, ti = pair([5, -2, 0], "int32")
    x = fi.clone()
    assert x.bitwise_not_() is x
    assert_same(x, ti.clone().bitwise_not_())


def test_unary_plus_refuses_bool():
    fb, tb = pair([True], "bool")
    assert_both_raise(lambda: +fb, lambda: +tb)
    fi, ti = pair([3], "int64")
    assert_same(+fi, +ti)


# ------------------------------------------------------------------------------ composed math
def test_bool_operands_of_composed_ops():
    fb, tb = pair([True, False], "bool")
    fh, th = pair([0.5, 1.0], "float16")
    assert_same(fibril.fmod(fb, 0.7), torch.fmod(tb, 0.7))
    assert_same(fibril.fmod(fb, fh), torch.fmod(tb, th), rtol=1e-3)
    fu, tu = pair([5, 7], "uint8")
    assert_same(fibril.fmod(fu, fb | True), torch.fmod(tu, tb | True))
    assert_same(fibril.logaddexp(fb, fh), torch.logaddexp(tb, th), rtol=1e-3)
    assert_same(fibril.logaddexp2(fb, fh), torch.logaddexp2(tb, th), rtol=1e-3)


def test_xlogy_promotes_before_computing():
    f0, t0 = pair(2.5, "float64")
    fi, ti = pair([3, 4], "int64")
    assert_same(fibril.xlogy(f0, fi), torch.xlogy(t0, ti), rtol=1e-12)
    fd, td = pair([1.3, -0.7], "float64")
    fs, ts = pair([0.1, 3.3], "float32")
    assert_same(fibril.xlogy(fd, fs), torch.xlogy(td, ts), rtol=1e-12)


def test_nextafter_bfloat16():
    values = [0.0, -0.0, 1.0, -1.0, 1e-40, 3.0e38, np.inf, -np.inf, np.nan, -7.0]
    x, y = np.meshgrid(values, values)
    fx, tx = pair(x.ravel(), "bfloat16")
    fy, ty = pair(y.ravel(), "bfloat16")
    got, want = fibril.nextafter(fx, fy), torch.nextafter(tx, ty)
    assert got.dtype == fibril.bfloat16
    np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())
    np.testing.assert_array_equal(np.signbit(got.float().numpy()), np.signbit(want.float().numpy()))


def test_float_only_ops_refuse_integers():
    fi, ti = pair([1, 2], "int32")
    assert_both_raise(lambda: fibril.frac(fi), lambda: torch.frac(ti))
    assert_both_raise(lambda: fi.frac_(), lambda: ti.frac_())
    assert_both_raise(lambda: fibril.lerp(fi, fi, 0.5), lambda: torch.lerp(ti, ti, 0.5))
    assert_both_raise(lambda: fibril.addcdiv(fi.float(), fi, fi), lambda: torch.addcdiv(ti.float(), ti, ti))


def test_lerp_dtypes():
    fs, ts = pair([1.0, -2.0], "float32")
    fe, te = pair([3.0, 5.0], "float32")
    fd, td = pair([3.0, 5.0], "float64")
    assert_both_raise(lambda: fibril.lerp(fs, fd, 0.5), lambda: torch.lerp(ts, td, 0.5))
    assert_both_raise(lambda: fs.clone().lerp_(fd, 0.5), lambda: ts.clone().lerp_(td, 0.5))
    fw, tw = pair([0.25, 0.5], "float64")
    assert_both_raise(lambda: fibril.lerp(fs, fe, fw), lambda: torch.lerp(ts, te, tw))
    # a 0-d weight takes part in promotion; it is cast before computing 1 - weight
    fi, ti = pair([1, 3], "int32")
    fw0, tw0 = pair(0.5, "bfloat16")
    assert_same(fibril.lerp(fi, fi * 2, fw0), torch.lerp(ti, ti * 2, tw0))
    fh, th = pair(0.7001953125, "float16")
    assert_same(fibril.lerp(fs, fe, fh), torch.lerp(ts, te, th))
    fb, tb = pair(True, "bool")
    assert_same(fibril.lerp(fs, fe, fb), torch.lerp(ts, te, tb))


def test_addcmul_dtypes():
    fx, tx = pair([1.0, 2.0, 3.0], "float32")
    f1, t1 = pair([3.3, -2.7, 5.1], "bfloat16")
    f2, t2 = pair([1.9, 4.1, -0.3], "bfloat16")
    # the product is taken in the result dtype (float32), not in bfloat16
    assert_same(fibril.addcmul(fx, f1, f2), torch.addcmul(tx, t1, t2))
    assert_same(fx.clone().addcmul_(f1, f2, value=0.5), tx.clone().addcmul_(t1, t2, value=0.5))
    fi, ti = pair([1, 2], "int64")
    for value in (1.7, -1.7, True):
        assert_same(fibril.addcmul(fi, fi, fi, value=value), torch.addcmul(ti, ti, ti, value=value))
    fb, tb = pair([True], "bool")
    assert_both_raise(lambda: fibril.addcmul(fb, fb, fb), lambda: torch.addcmul(tb, tb, tb))


def test_ldexp_dtypes():
    fi, ti = pair([3, -1], "int64")
    fb, tb = pair([True, False], "bool")
    assert_same(fibril.ldexp(fi, fb), torch.ldexp(ti, tb))
    fh, th = pair([1.5, -2.0], "bfloat16")
    fu, tu = pair([1, 3], "uint8")
    assert_same(fibril.ldexp(fh, fu), torch.ldexp(th, tu))
    assert_both_raise(lambda: fibril.ldexp(fh, fb), lambda: torch.ldexp(th, tb))
    # a float input and an integer exponent: exact, with no 2 ** 20 overflowing float16 first
    f16, t16 = pair([-0.0, 1e-4, 3.0], "float16")
    f20, t20 = pair(20, "uint8")
    got, want = fibril.ldexp(f16, f20), torch.ldexp(t16, t20)
    assert_same(got, want)
    np.testing.assert_array_equal(np.signbit(got.float().numpy()), np.signbit(want.float().numpy()))
    assert_same(f16.clone().ldexp_(f20), t16.clone().ldexp_(t20))


def test_nan_to_num_keeps_a_nan_replaced_by_infinity():
    f, t = pair([np.nan, np.inf, -np.inf, 1.0], "float16")
    for kwargs in ({"nan": np.inf}, {"nan": -np.inf, "neginf": 5.0}, {"posinf": np.nan}):
        assert_same(fibril.nan_to_num(f, **kwargs), torch.nan_to_num(t, **kwargs))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_round_decimals_of_half_floats_in_float32(dtype):
    values = np.random.default_rng(0).uniform(-5, 5, 2000)
    f, t = pair(values, dtype)
    for decimals in (-1, 1, 2, 3):
        np.testing.assert_array_equal(f.round(decimals=decimals).float().numpy(),
                                      t.round(decimals=decimals).float().numpy())


# ------------------------------------------------------------------------------ gradients
@pytest.mark.parametrize("bounds", [("min",), ("max",), ("min", "max")])
def test_clamp_gradient_when_a_bound_broadcasts_input(bounds):
    rng = np.random.default_rng(1)
    x, lo = rng.normal(size=(3,)), rng.normal(size=(2, 3))
    fx, tx = fibril.tensor(x).requires_grad_(), torch.tensor(x, requires_grad=True)
    flo, tlo = fibril.tensor(lo).requires_grad_(), torch.tensor(lo, requires_grad=True)
    kwargs = lambda b, lo_: {name: (lo_ if name == "min" else lo_ + 0.5) for name in b}  # noqa: E731
    fout, tout = fibril.clamp(fx, **kwargs(bounds, flo)), torch.clamp(tx, **kwargs(bounds, tlo))
    g = rng.normal(size=(2, 3))
    fgrads = fibril.autograd.grad(fout, [fx, flo], fibril.tensor(g))
    tgrads = torch.autograd.grad(tout, [tx, tlo], torch.tensor(g))
    for fgrad, tgrad in zip(fgrads, tgrads):
        assert_same(fgrad, tgrad, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------ activations
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
def test_clamping_activations_of_integers(dtype):
    fi, ti = pair([3, 0, 9, 1] if dtype == "uint8" else [3, -2, 9, -7], dtype)
    cases = [("relu", {}), ("relu6", {}), ("hardtanh", {"min_val": 0.5, "max_val": 2.5})]
    if dtype == "uint8":
        assert_both_raise(lambda: F.hardtanh(fi), lambda: TF.hardtanh(ti))  # negative limits
    else:
        cases += [("hardtanh", {}), ("hardtanh", {"min_val": -0.5, "max_val": 2.5})]
    for name, kwargs in cases:
        assert_same(getattr(F, name)(fi, **kwargs), getattr(TF, name)(ti, **kwargs))
        x = fi.clone()
        assert getattr(F, name)(x, inplace=True, **kwargs) is x
        assert_same(x, getattr(TF, name)(ti.clone(), inplace=True, **kwargs))
    assert_same(fi.relu(), ti.relu())


def test_clamping_activations_refuse_bools():
    fb, tb = pair([True, False], "bool")
    for name in ("relu", "relu6", "hardtanh"):
        assert_both_raise(lambda: getattr(F, name)(fb), lambda: getattr(TF, name)(tb))


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softsign", "tanhshrink"])
def test_float_activations_of_integers_give_float32(name):
    fi, ti = pair([3, -2, 0], "int32")
    assert_same(getattr(F, name)(fi), getattr(TF, name)(ti))


def test_prelu_arguments():
    fx, tx = pair([[1.0, -2.0], [-3.0, 4.0]], "float32")
    fw, tw = pair([0.25, 0.5], "float32")
    assert_same(F.prelu(fx, fw), TF.prelu(tx, tw))
    fi, ti = pair([[1, -2]], "int64")
    assert_both_raise(lambda: F.prelu(fi, fi[0]), lambda: TF.prelu(ti, ti[0]))
    assert_both_raise(lambda: F.prelu(fx, fw.double()), lambda: TF.prelu(tx, tw.double()))
    assert_both_raise(lambda: F.prelu(fx, fw.reshape(2, 1)), lambda: TF.prelu(tx, tw.reshape(2, 1)))
    # no channels: an empty weight, an empty result
    assert_same(F.prelu(fibril.ones(2, 0, 3), fibril.ones(0)), TF.prelu(torch.ones(2, 0, 3), torch.ones(0)))


# ------------------------------------------------------------------------------ keyword forms
BINARY_KEYWORDS = ["add", "sub", "mul", "div", "floor_divide", "remainder", "fmod", "atan2", "maximum", "minimum",
                   "fmax", "fmin", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
                   "hypot", "copysign", "logaddexp", "logaddexp2", "xlogy", "isclose"]


@pytest.mark.parametrize("name", BINARY_KEYWORDS)
def test_binary_keyword_forms(name):
    fa, ta = pair([1.5, -2.0], "float32")
    fb, tb = pair([0.5, 3.0], "float32")
    assert_same(getattr(fibril, name)(input=fa, other=fb), getattr(torch, name)(input=ta, other=tb))
    assert_same(getattr(fa, name)(other=fb), getattr(ta, name)(other=tb))


def test_keyword_forms():
    fa, ta = pair([1.5, -2.0], "float32")
    fb, tb = pair([0.5, 3.0], "float32")
    fi, ti = pair([3, 5], "int64")
    assert_same(fibril.pow(fa, exponent=2), torch.pow(ta, exponent=2))
    assert_same(fa.pow(exponent=fb), ta.pow(exponent=tb))
    assert_same(fibril.float_power(input=fa, exponent=2), torch.float_power(input=ta, exponent=2))
    assert_same(fibril.add(input=fa, other=fb, alpha=2), torch.add(input=ta, other=tb, alpha=2))
    assert_same(fibril.div(input=fa, other=fb, rounding_mode="floor"),
                torch.div(input=ta, other=tb, rounding_mode="floor"))
    assert_same(fibril.bitwise_left_shift(input=fi, other=fi), torch.bitwise_left_shift(input=ti, other=ti))
    assert_same(fibril.lerp(input=fa, end=fb, weight=0.25), torch.lerp(input=ta, end=tb, weight=0.25))
    assert_same(fibril.addcmul(input=fa, tensor1=fb, tensor2=fb, value=2),
                torch.addcmul(input=ta, tensor1=tb, tensor2=tb, value=2))
    assert_same(fibril.clamp(input=fa, min=-1.0), torch.clamp(input=ta, min=-1.0))
    assert_same(fibril.round(input=fa, decimals=1), torch.round(input=ta, decimals=1))
    assert_same(fibril.nan_to_num(input=fa, nan=0.0), torch.nan_to_num(input=ta, nan=0.0))
    for name in ["exp", "log1p", "sqrt", "abs", "neg", "sign", "floor", "trunc", "frac", "sinh", "atan", "square",
                 "isnan", "isfinite", "logical_not", "signbit", "deg2rad", "logit"]:
        assert_same(getattr(fibril, name)(input=fb), getattr(torch, name)(input=tb))
