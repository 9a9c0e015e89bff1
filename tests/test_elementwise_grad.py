"""Elementwise ops on Tensors: forward vs numpy (float64) and PyTorch, gradients vs
PyTorch and gradcheck, broadcasting, non-contiguous inputs, operators, in-place forms."""

import math

import numpy as np
import pytest

import fibril
from op_check import check_op, make_inputs, torch

T = lambda name: (lambda *a: getattr(torch, name)(*a))  # noqa: E731
POSITIVE = lambda a: np.abs(a) + 0.1  # noqa: E731
AWAY_FROM_INT = lambda a: np.floor(a) + 0.3  # noqa: E731 (floor/ceil/round: no ties, no kinks)

UNARY = {
    "neg": (lambda x: -x, T("neg"), np.negative, None),
    "abs": (lambda x: x.abs(), T("abs"), np.abs, None),
    "exp": (lambda x: x.exp(), T("exp"), np.exp, None),
    "exp2": (lambda x: x.exp2(), T("exp2"), np.exp2, None),
    "expm1": (lambda x: x.expm1(), T("expm1"), np.expm1, None),
    "log": (lambda x: x.log(), T("log"), np.log, POSITIVE),
    "log2": (lambda x: x.log2(), T("log2"), np.log2, POSITIVE),
    "log1p": (lambda x: x.log1p(), T("log1p"), np.log1p, POSITIVE),
    "sqrt": (lambda x: x.sqrt(), T("sqrt"), np.sqrt, POSITIVE),
    "rsqrt": (lambda x: x.rsqrt(), T("rsqrt"), lambda a: 1 / np.sqrt(a), POSITIVE),
    "reciprocal": (lambda x: x.reciprocal(), T("reciprocal"), np.reciprocal, POSITIVE),
    "sin": (lambda x: x.sin(), T("sin"), np.sin, None),
    "cos": (lambda x: x.cos(), T("cos"), np.cos, None),
    "tanh": (lambda x: x.tanh(), T("tanh"), np.tanh, None),
    "sigmoid": (lambda x: x.sigmoid(), T("sigmoid"), lambda a: 1 / (1 + np.exp(-a)), None),
    "erf": (lambda x: x.erf(), T("erf"), np.vectorize(math.erf), None),
}
NON_DIFFERENTIABLE_UNARY = {
    "sign": (lambda x: x.sign(), np.sign), "floor": (lambda x: x.floor(), np.floor),
    "ceil": (lambda x: x.ceil(), np.ceil), "round": (lambda x: x.round(), np.round),
    "trunc": (lambda x: x.trunc(), np.trunc),
}
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b, np.add, None),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, np.subtract, None),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, np.multiply, None),
    "div": (lambda a, b: a / b, lambda a, b: a / b, np.divide, POSITIVE),
    "pow": (lambda a, b: a ** b, lambda a, b: a ** b, np.power, POSITIVE),
    "maximum": (lambda a, b: fibril.maximum(a, b), T("maximum"), np.maximum, None),
    "minimum": (lambda a, b: fibril.minimum(a, b), T("minimum"), np.minimum, None),
    "atan2": (lambda a, b: fibril.atan2(a, b), T("atan2"), np.arctan2, None),
    "remainder": (lambda a, b: a % b, lambda a, b: a % b, np.mod, POSITIVE),
}
SHAPES = [(3, 4), (1,), (17,), (2, 3, 5), ()]
BROADCASTS = [((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((5, 1, 3), (2, 1)), ((), (3, 2))]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, shape):
    f, t, ref, transform = UNARY[name]
    check_op(f, t, make_inputs([shape], transform=transform), numpy_fn=ref)


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_non_contiguous(name):
    f, t, ref, transform = UNARY[name]
    check_op(f, t, make_inputs([(4, 6)], transform=transform), numpy_fn=lambda a: ref(a.T), layout=lambda x: x.T)


@pytest.mark.parametrize("name", list(NON_DIFFERENTIABLE_UNARY))
def test_piecewise_constant_unary_has_zero_gradient(name):
    """Tracked, with zero gradients, as torch's."""
    f, ref = NON_DIFFERENTIABLE_UNARY[name]
    (a,) = make_inputs([(3, 5)], transform=AWAY_FROM_INT)
    x = fibril.tensor(a, requires_grad=True)
    out = f(x)
    np.testing.assert_array_equal(out.detach().numpy(), ref(a))
    assert out.requires_grad
    (g,) = fibril.autograd.grad(out.sum(), x)
    assert not g.numpy().any()


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4))] + BROADCASTS)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_with_broadcasting(name, shapes):
    f, t, ref, transform = BINARY[name]
    arrays = make_inputs(list(shapes), transform=transform)
    if name in ("maximum", "minimum"):
        arrays[1][...] = arrays[1] + 0.05  # no ties: the gradient there is a convention
    check_op(f, t, arrays, numpy_fn=ref, atol=1e-6 if name != "remainder" else 1e-9)


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_non_contiguous(name):
    f, t, ref, transform = BINARY[name]
    check_op(f, t, make_inputs([(5, 4), (5, 4)], transform=transform), numpy_fn=lambda a, b: ref(a.T, b.T),
             layout=lambda x: x.T)


@pytest.mark.parametrize("scalar", [2, 0.5, -1.5])
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
def test_binary_with_python_scalars_both_sides(name, scalar):
    f, t, ref, transform = BINARY[name]
    (a,) = make_inputs([(3, 4)], transform=POSITIVE)
    check_op(lambda x: f(x, scalar), lambda x: t(x, scalar), [a], numpy_fn=lambda x: ref(x, scalar))
    if name != "pow" or scalar > 0:
        check_op(lambda x: f(scalar, x), lambda x: t(scalar, x), [a], numpy_fn=lambda x: ref(scalar, x))


def test_maximum_tie_splits_the_gradient_like_torch():
    a = fibril.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = fibril.tensor([1.0, 5.0, 0.0], requires_grad=True)
    fibril.maximum(a, b).backward(fibril.ones(3))
    assert a.grad.tolist() == [0.5, 0.0, 1.0] and b.grad.tolist() == [0.5, 1.0, 0.0]


def test_where_and_clamp():
    (a, b) = make_inputs([(4, 5), (4, 5)])
    cond = a > 0.3
    check_op(lambda x, y: fibril.where(fibril.tensor(cond), x, y), lambda x, y: torch.where(torch.tensor(cond), x, y),
             [a, b], numpy_fn=lambda x, y: np.where(cond, x, y))
    check_op(lambda x: x.clamp(-0.5, 0.7), lambda x: x.clamp(-0.5, 0.7), [a], numpy_fn=lambda x: np.clip(x, -0.5, 0.7))
    check_op(lambda x: x.clamp(min=0.1), lambda x: x.clamp(min=0.1), [a], numpy_fn=lambda x: np.maximum(x, 0.1))
    with pytest.raises(ValueError, match="at least one"):
        fibril.tensor(a).clamp()


def test_clamp_with_min_above_max_sends_the_gradient_to_max_only():
    x = fibril.tensor([1.0, 3.0, -1.0], requires_grad=True)
    lo = fibril.tensor([2.0, 2.0, 2.0], requires_grad=True)
    hi = fibril.tensor([0.0, 0.0, 0.0], requires_grad=True)
    y = fibril.clamp(x, lo, hi)
    y.sum().backward()
    assert y.tolist() == [0.0, 0.0, 0.0] and x.grad.tolist() == [0.0, 0.0, 0.0]
    assert lo.grad.tolist() == [0.0, 0.0, 0.0] and hi.grad.tolist() == [1.0, 1.0, 1.0]


def test_clamp_with_tensor_bounds_matches_torch():
    # integers: ties with either bound, min above max, min equal to max; hi broadcasts
    x, lo, hi = (np.round(a) for a in make_inputs([(5, 6), (5, 6), (1, 6)], seed=4))
    check_op(lambda a, b, c: a.clamp(b, c), lambda a, b, c: a.clamp(b, c), [x, lo, hi], gradcheck=False,
             numpy_fn=lambda a, b, c: np.minimum(np.maximum(a, b), c))
    check_op(lambda a, b: a.clamp(min=b), lambda a, b: a.clamp(min=b), [x, lo], gradcheck=False)
    check_op(lambda a, c: a.clamp(max=c), lambda a, c: a.clamp(max=c), [x, hi], gradcheck=False)


@pytest.mark.parametrize("number_first", [False, True])
@pytest.mark.parametrize("name", ["maximum", "minimum", "atan2"])
def test_maximum_minimum_atan2_take_a_python_number(name, number_first):
    """torch takes only tensors here (a TypeError); fibril takes a number as torch's in-place
    forms do, with torch's values and gradients for the number as a 0-d tensor."""
    (a,) = make_inputs([(3, 4)])
    ref = {"maximum": np.maximum, "minimum": np.minimum, "atan2": np.arctan2}[name]

    def args(x, number):
        return (number, x) if number_first else (x, number)

    check_op(lambda x: getattr(fibril, name)(*args(x, 0.5)),
             lambda t: getattr(torch, name)(*args(t, torch.tensor(0.5, dtype=torch.float64))), [a],
             numpy_fn=lambda v: ref(*args(v, 0.5)))
    if not number_first:
        np.testing.assert_allclose(getattr(fibril.tensor(a), name)(0.5).numpy(), ref(a, 0.5), rtol=1e-12)


FLOAT_TESTS = {"isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite, "isposinf": np.isposinf,
               "isneginf": np.isneginf}


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("name", sorted(FLOAT_TESTS))
def test_nan_and_inf_tests(name, dtype):
    from fibril.ops import elementwise

    if dtype in ("int64", "int32", "uint8", "bool"):  # all finite
        values = np.array([[0, 1], [1, 0]], dtype=dtype)
    else:
        values = np.array([[1.0, np.nan, np.inf], [-np.inf, 0.0, -2.5]])
    x = fibril.tensor(values, dtype=getattr(fibril, dtype))
    got = getattr(elementwise, name)(x)
    assert got.dtype == fibril.bool and not got.requires_grad
    np.testing.assert_array_equal(got.numpy(), FLOAT_TESTS[name](values))
    np.testing.assert_array_equal(getattr(x, name)().numpy(), got.numpy())
    if torch is not None:
        t = torch.tensor(values).to(getattr(torch, dtype))
        np.testing.assert_array_equal(got.numpy(), getattr(torch, name)(t).numpy())


def test_comparisons_and_logical_ops_give_bool():
    a = fibril.tensor([1.0, 2.0, 3.0])
    b = fibril.tensor([3.0, 2.0, 1.0])
    assert (a < b).tolist() == [True, False, False] and (a == b).dtype == fibril.bool
    assert (a >= 2).tolist() == [False, True, True]
    assert ((a > 1) & (b > 1)).tolist() == [False, True, False]
    assert (~(a > 1)).tolist() == [True, False, False]
    assert ((a > 1) ^ (b > 1)).tolist() == [True, False, True]


def test_integer_division_modes_match_torch():
    a = fibril.tensor([7, -7, 7, -7])
    b = fibril.tensor([2, 2, -2, -2])
    assert (a // b).tolist() == [3, -4, -4, 3]
    assert (a % b).tolist() == [1, 1, -1, -1]
    assert fibril.ops.elementwise.div(a, b, rounding_mode="trunc").tolist() == [3, -3, -3, 3]
    assert (a / b).dtype == fibril.float32
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        a // fibril.tensor([0, 1, 1, 1])


def test_type_promotion_through_operators():
    i = fibril.tensor([1, 2])
    assert (i + 1).dtype == fibril.int64
    assert (i + 1.5).dtype == fibril.float32
    assert (fibril.tensor([1.0], dtype=fibril.float64) + fibril.tensor([1.0])).dtype == fibril.float64
    assert (fibril.tensor([True]) + fibril.tensor([True])).dtype == fibril.bool
    assert (i.int() + fibril.tensor(5)).dtype == fibril.int32  # 0-d int tensor does not widen


def test_gradient_of_mixed_precision_inputs_keeps_each_dtype():
    a = fibril.tensor([1.0, 2.0], requires_grad=True)
    b = fibril.tensor([3.0, 4.0], dtype=fibril.float64, requires_grad=True)
    (a * b).backward(fibril.ones(2, dtype=fibril.float64))
    assert a.grad.dtype == fibril.float32 and b.grad.dtype == fibril.float64
    assert a.grad.tolist() == [3.0, 4.0] and b.grad.tolist() == [1.0, 2.0]


def test_inplace_ops():
    x = fibril.tensor([1.0, 2.0, 3.0])
    y = x
    x += 1
    x *= fibril.tensor([2.0, 2.0, 2.0])
    x.sub_(1).div_(2).clamp_(max=2.0)
    assert y is x and x.tolist() == [1.5, 2.0, 2.0] and x._version.value == 5
    i = fibril.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        i += 1.5
    leaf = fibril.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        leaf += 1


def test_inplace_on_a_non_leaf_keeps_the_gradient_path():
    x = fibril.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y += x  # y = 3x
    y *= 3  # y = 9x
    y.backward(fibril.ones(3))
    assert x.grad.tolist() == [9.0, 9.0, 9.0]
    x.grad = None
    z = x * 2
    z *= z  # mul saved z's values from before the write (torch raises here: it saves only self's)
    z.backward(fibril.ones(3))
    assert x.grad.tolist() == [8.0, 16.0, 24.0]


def test_inplace_result_of_another_shape_is_refused_unchanged():
    y = fibril.tensor([1.0, 2.0, 3.0], requires_grad=True) * 2
    for other in (fibril.ones(2, 3), fibril.ones(2, 3, requires_grad=True)):
        with pytest.raises(ValueError, match=r"has shape \[3\], but the result has the broadcast shape \[2, 3\]"):
            y += other
    assert y._version.value == 0 and y.grad_fn.name() == "MulBackward0"


def test_saved_input_modified_in_place_is_detected():
    x = fibril.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    y = h * h
    with fibril.no_grad():
        h += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward(fibril.ones(2))


def test_broadcast_mismatch_is_value_error_naming_shapes():
    with pytest.raises(ValueError, match=r"\[3, 4\].*\[5\]"):
        fibril.zeros(3, 4) + fibril.zeros(5)


def test_where_with_the_condition_alone_is_nonzero_as_tuple():
    cond = fibril.tensor([[True, False], [False, True]])
    rows, cols = fibril.where(cond)
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1]
    with pytest.raises(TypeError, match="both input and other"):
        fibril.where(cond, fibril.ones(2, 2))
    assert fibril.ones(3).broadcast_to((2, 3)).shape == (2, 3)


@pytest.mark.parametrize("exponent", [1 / 3, 0.1, -2.7])
def test_pow_gradient_keeps_a_float64_scalar_exponent_exact(exponent):
    """x ** p for float64 x and a Python float p: the gradient p x^(p-1) takes p - 1 in float64
    (it was rounded to float32 once: 1e-8 off for p = 1/3)."""
    (x,) = make_inputs([(5,)], low=0.2, high=3.0)
    check_op(lambda t: t ** exponent, lambda t: t ** exponent, [x], numpy_fn=lambda a: a ** exponent,
             atol=1e-15, rtol=1e-14)
