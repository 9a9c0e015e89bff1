"""Elementwise math composed of the elementwise family's ops (ops/elementwise.py), so it runs
on every device: square, log10, hyperbolic and inverse trigonometric functions, sinc, hypot,
fmod, lerp, addcmul/addcdiv, logaddexp, nan_to_num, isclose/allclose/equal, aliases. A Function
wraps a composition where the composition's own gradient would be NaN or wrong somewhere (its
forward runs unrecorded). Integer and bool inputs of float-valued functions promote to
float32, as torch."""

import collections
import functools
import math

import numpy as np

from ..amp.policy import autocast_inputs, active as _autocast_active
from .. import _C
from ..autograd import Function
from ..tensor import Tensor
from ..typeinfo import finfo, promote_types
from .elementwise import (
    _LN2, _any_requires_grad, _arr, _copy_result, _grad_for, _metas, _operands, _save_operands, abs, add, atan2, clamp,
    cos, div, eq, exp, exp2, expm1, ge, gt, isfinite, isinf, isnan, isneginf, isposinf, le, log, log1p, logical_and,
    logical_or, lt, maximum, minimum, mul, ne, neg, pow, remainder, round, rsqrt, sign, sin, sqrt, sub, trunc, where,
)
from .index import apply_inplace, check_no_partial_overlap

_LN10 = math.log(10.0)


def _floating(x):
    return x if x.dtype.is_floating_point else x.to(_C.float32)


def _float_type(a, b):
    dtype = _C.result_type(_arr(a), _arr(b))
    return dtype if dtype.is_floating_point else _C.float32


def _cast_tensors(dtype, *operands):
    """The tensor operands cast to dtype (numbers kept), so that a composition computes in the
    op's result dtype: no bool operand meets an op refusing bools, no narrow one loses precision."""
    return tuple(x.to(dtype) if isinstance(x, Tensor) else int(x) if isinstance(x, bool) and dtype != _C.bool else x
                 for x in operands)


def _category(dtype):
    return 2 if dtype.is_floating_point else 0 if dtype == _C.bool else 1


def _result_type(*operands):
    """The dtype torch gives one op on all the operands at once: that of the dimensioned tensors,
    unless the 0-d tensors, then the numbers, are of a higher category (bool, integer, float)."""
    def number_dtype(x):
        return _C.bool if isinstance(x, bool) else _C.float32 if isinstance(x, float) else _C.int64

    classes = ([x.dtype for x in operands if isinstance(x, Tensor) and x.ndim],
               [x.dtype for x in operands if isinstance(x, Tensor) and not x.ndim],
               [number_dtype(x) for x in operands if not isinstance(x, Tensor)])
    result = None
    for dtypes in classes:
        if dtypes:
            dtype = functools.reduce(promote_types, dtypes)
            if result is None or _category(dtype) > _category(result):
                result = dtype
    return result


def _signbit(x):
    """x < 0, -0 included (a NaN counts as positive: these ops cannot read its sign bit)."""
    return logical_or(lt(x, 0), logical_and(eq(x, 0), lt(div(1.0, x), 0)))


def _with_sign_of(r, x):
    return where(_signbit(x), neg(r), r)


def _log_2x_from(x):
    """Where x >= this, asinh(x) and acosh(x) are log(2x) to within rounding (they differ by
    about 1 / (4x^2)), and below it x * x cannot overflow."""
    return finfo(x.dtype).eps ** -0.5


def _half_exp(a):
    """exp(a) / 2, finite up to where it overflows (exp(a) itself overflows before)."""
    h = exp(mul(a, 0.5))
    return mul(mul(h, 0.5), h)


def _composed_function(name, compute, grad, save="input"):
    """A Function computing y = compute(x) from other ops, with backward grad(g, x), or, with
    save="output", grad(g, y): it keeps what torch keeps, so that the same in-place changes
    are refused at backward."""

    def forward(ctx, x):
        y = compute(x)
        ctx.save_for_backward(x if save == "input" else y)
        return y

    def backward(ctx, g):
        (saved,) = ctx.saved_tensors
        return grad(g, saved)

    return type(name, (Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})


def _sinh(x):
    a = abs(x)
    t = expm1(a)  # (t + t / (t + 1)) / 2 has no cancellation near 0
    return _with_sign_of(where(isinf(t), _half_exp(a), mul(add(t, div(t, add(t, 1.0))), 0.5)), x)


def _cosh(x):
    a = abs(x)
    e = exp(a)
    return where(isinf(e), _half_exp(a), add(mul(e, 0.5), div(0.5, e)))


def _asinh(x):
    a = abs(x)
    a2 = mul(a, a)
    near = log1p(add(a, div(a2, add(sqrt(add(a2, 1.0)), 1.0))))
    return _with_sign_of(where(ge(a, _log_2x_from(x)), add(log(a), _LN2), near), x)


def _acosh(x):
    t = sub(x, 1.0)  # exact for x >= 1/2
    near = log1p(add(t, sqrt(mul(t, add(t, 2.0)))))
    far = where(ge(x, _log_2x_from(x)), add(log(x), _LN2), near)
    return where(lt(x, 1.0), math.nan, far)


def _atanh(x):
    a = abs(x)  # on |x|, 1 - |x| is exact near 1
    return _with_sign_of(mul(log1p(div(mul(a, 2.0), sub(1.0, a))), 0.5), x)


def _asin(x):
    return atan2(x, sqrt(mul(sub(1.0, x), add(1.0, x))))


def _acos(x):
    return mul(atan2(sqrt(sub(1.0, x)), sqrt(add(1.0, x))), 2.0)


def _one_minus_square(x):
    return mul(sub(1.0, x), add(1.0, x))


def _mod2(x):
    """x minus the nearest even integer: in [-1, 1], and exact."""
    return sub(x, mul(round(mul(x, 0.5)), 2.0))


def _sinc(x):
    # sin(pi x) = sin(pi s) for an exact s in [-1/2, 1/2]: no rounding of pi x far from 0 moves
    # the zeros at the integers (torch's sin(pi x) is not 0 there)
    r = _mod2(x)
    s = where(gt(r, 0.5), sub(1.0, r), where(lt(r, -0.5), sub(-1.0, r), r))
    return where(eq(x, 0), 1.0, div(sin(mul(s, math.pi)), mul(x, math.pi)))


def _sinc_grad(g, x):
    slope = div(sub(cos(mul(_mod2(x), math.pi)), _sinc(x)), x)
    return mul(g, where(eq(x, 0), 0.0, slope))


Sinh = _composed_function("Sinh", _sinh, lambda g, x: mul(g, _cosh(x)))
Cosh = _composed_function("Cosh", _cosh, lambda g, x: mul(g, _sinh(x)))
Asin = _composed_function("Asin", _asin, lambda g, x: mul(g, rsqrt(_one_minus_square(x))))
Acos = _composed_function("Acos", _acos, lambda g, x: mul(neg(g), rsqrt(_one_minus_square(x))))
Asinh = _composed_function("Asinh", _asinh, lambda g, x: mul(g, rsqrt(add(mul(x, x), 1.0))))
Acosh = _composed_function("Acosh", _acosh, lambda g, x: mul(g, rsqrt(mul(sub(x, 1.0), add(x, 1.0)))))
Atanh = _composed_function("Atanh", _atanh, lambda g, x: div(g, _one_minus_square(x)))
Sinc = _composed_function("Sinc", _sinc, _sinc_grad)
Tan = _composed_function("Tan", lambda x: div(sin(x), cos(x)), lambda g, y: mul(g, add(mul(y, y), 1.0)), save="output")


class Hypot(Function):
    """sqrt(a^2 + b^2), with no square to overflow or underflow."""

    @staticmethod
    def forward(ctx, a, b):
        a_abs, b_abs = abs(a), abs(b)
        hi, lo = maximum(a_abs, b_abs), minimum(a_abs, b_abs)
        q = div(lo, hi)
        h = where(eq(lo, 0), hi, mul(hi, sqrt(add(mul(q, q), 1.0))))
        h = where(logical_or(isinf(a_abs), isinf(b_abs)), math.inf, h)  # even beside a NaN, as C's hypot
        ctx.save_for_backward(a, b, h)
        ctx.metas = _metas(ctx.needs_input_grad, a, b)
        return h

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        # 0 at a = b = 0 (torch: NaN), the subgradient norm takes there
        scale = where(eq(out, 0), 0.0, div(g, out))
        return _grad_for(mul(scale, a), ctx.metas[0]), _grad_for(mul(scale, b), ctx.metas[1])


class Fmod(Function):
    """C's fmod: a - b * trunc(a / b), with a's sign."""

    @staticmethod
    def forward(ctx, a, b):
        _save_operands(ctx, a, b, keep_a=ctx.needs_input_grad[1], keep_b=ctx.needs_input_grad[1])
        ctx.metas = _metas(ctx.needs_input_grad, a, b)
        dtype = _C.result_type(_arr(a), _arr(b))
        a, b = _cast_tensors(dtype, a, b)
        if dtype.is_floating_point:
            # remainder of magnitudes is fmod exactly; a's sign then moves it without rounding
            r = remainder(abs(a), abs(b) if isinstance(b, Tensor) else math.fabs(b))
            return where(_signbit(a), neg(r), r)
        r = remainder(a, b)  # integers: exact, so moving it to a's sign is too
        return where(logical_and(ne(r, 0), ne(lt(r, 0), lt(a, 0))), sub(r, b), r)

    @staticmethod
    def backward(ctx, g):
        a, b = _operands(ctx)
        x, y = ctx.metas
        gb = _grad_for(mul(neg(g), div(a, b, rounding_mode="trunc")), y) if ctx.needs_input_grad[1] else None
        return _grad_for(g, x), gb


class Xlogy(Function):
    """x * log(y); 0 where x == 0 unless y is NaN, as torch."""

    @staticmethod
    def forward(ctx, a, b):
        _save_operands(ctx, a, b)
        ctx.metas = _metas(ctx.needs_input_grad, a, b)
        return where(isnan(b), math.nan, where(eq(a, 0), 0.0, mul(a, log(b))))

    @staticmethod
    def backward(ctx, g):
        a, b = _operands(ctx)
        x, y = ctx.metas
        # as torch: log(y) where x == 0 too, but 0 there where y <= 0
        ga = _grad_for(where(logical_and(eq(a, 0), le(b, 0)), 0.0, xlogy(g, b)), x) if x else None
        # x / y, 0 at x == y == 0 (torch: NaN); the denominator made safe there rather than the
        # result masked, so that the derivative in x stays 1 / y elsewhere at x == 0
        gb = _grad_for(div(mul(g, a), where(logical_and(eq(a, 0), eq(b, 0)), 1.0, b)), y) if y else None
        return ga, gb


def square(input):
    return mul(input, input) if input.dtype != _C.bool else pow(input, 2)  # torch: bool squares to int64


def log10(input):
    if _autocast_active.on:
        (input,) = autocast_inputs("fp32_cuda", input)
    return mul(log(input), 1.0 / _LN10)


def _float_function_of(cls, autocast=None):
    def fn(input):
        return cls.apply(_floating(input))

    if autocast is not None:  # its policy kind (fibril.amp.policy), if autocast casts its input
        def fn(input):  # noqa: F811
            if _autocast_active.on:
                (input,) = autocast_inputs(autocast, input)
            return cls.apply(_floating(input))

    fn.__name__ = cls.__name__.lower()
    return fn


sinh, cosh, sinc = _float_function_of(Sinh, "fp32_cuda"), _float_function_of(Cosh, "fp32_cuda"), _float_function_of(Sinc)
tan = _float_function_of(Tan, "fp32_cuda")
asin, acos = _float_function_of(Asin, "fp32_cuda"), _float_function_of(Acos, "fp32_cuda")
asinh, acosh, atanh = _float_function_of(Asinh), _float_function_of(Acosh), _float_function_of(Atanh)


def atan(input):
    return atan2(input, 1.0)


def hypot(input, other):
    """Either input may be a number (torch takes tensors only)."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError(f"hypot: expected a tensor, got {type(input).__name__} and {type(other).__name__}")
    dtype = _C.result_type(_arr(input), _arr(other))
    if not dtype.is_floating_point:
        raise NotImplementedError(f"hypot: not implemented for {dtype} inputs (torch has no integer hypot)")
    like = input if isinstance(input, Tensor) else other
    input, other = (x.to(dtype) if isinstance(x, Tensor) else like.new_full((), x, dtype=dtype) for x in (input, other))
    return Hypot.apply(input, other)


def fmod(input, other):
    return Fmod.apply(input, other)


def frac(input):
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"frac: not implemented for {input.dtype.name} tensors (floats only)")
    return sub(input, trunc(input))


def lerp(input, end, weight):
    """input + weight * (end - input). end, and a weight tensor with dimensions, must have input's
    dtype; a 0-d weight tensor takes part in type promotion; the result must be float (as torch)."""
    for name, operand in (("end", end), ("weight", weight)):
        if isinstance(operand, Tensor) and operand.dtype != input.dtype and (name == "end" or operand.ndim):
            raise RuntimeError(f"lerp: expected dtype {input.dtype.name} for `{name}` but got dtype "
                               f"{operand.dtype.name}")
    dtype = _result_type(input, end, weight) if isinstance(weight, Tensor) else input.dtype
    if not dtype.is_floating_point:
        raise NotImplementedError(f"lerp: not implemented for {dtype.name} tensors (floats only)")
    input, end, weight = _cast_tensors(dtype, input, end, weight)
    # torch's two forms: each is exact at its own end (weight 0, weight 1)
    diff = sub(end, input)
    if not isinstance(weight, Tensor):
        return add(input, mul(diff, weight)) if -0.5 < weight < 0.5 else sub(end, mul(diff, 1.0 - weight))
    return where(lt(abs(weight), 0.5), add(input, mul(diff, weight)), sub(end, mul(diff, sub(1.0, weight))))


def addcmul(input, tensor1, tensor2, value=1):
    dtype = _result_type(input, tensor1, tensor2)
    if dtype == _C.bool:
        raise NotImplementedError("addcmul: not implemented for bool tensors")
    if not dtype.is_floating_point:
        value = math.trunc(value)  # as torch, which casts value to the integer dtype
    input, tensor1, tensor2 = _cast_tensors(dtype, input, tensor1, tensor2)
    return add(input, mul(tensor1, tensor2), alpha=value)


def addcdiv(input, tensor1, tensor2, value=1):
    if not (tensor1.dtype.is_floating_point or tensor2.dtype.is_floating_point):
        raise RuntimeError("Integer division with addcdiv is no longer supported: use addcdiv(input, tensor1 / "
                           "tensor2) for true division, or div(..., rounding_mode='trunc') for the old behaviour")
    input, tensor1, tensor2 = _cast_tensors(_result_type(input, tensor1, tensor2), input, tensor1, tensor2)
    return add(input, div(tensor1, tensor2), alpha=value)


def _logaddexp(a, b, exp_fn, scale, name):
    dtype = _C.result_type(_arr(a), _arr(b))
    if not dtype.is_floating_point:
        raise NotImplementedError(f"{name}: not implemented for {dtype} inputs (torch has no integer {name})")
    a, b = _cast_tensors(dtype, a, b)
    m = maximum(a, b)
    out = add(m, mul(log1p(exp_fn(neg(abs(sub(a, b))))), scale))
    return where(logical_and(eq(a, b), isinf(a)), a, out)  # inf - inf would make it NaN


def logaddexp(input, other):
    return _logaddexp(input, other, exp, 1.0, "logaddexp")


def logaddexp2(input, other):
    return _logaddexp(input, other, exp2, 1.0 / _LN2, "logaddexp2")


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    if not input.dtype.is_floating_point:
        return input.clone()
    info = finfo(input.dtype)
    # each mask read from the input, so that a NaN replaced by an infinity stays one
    out = where(isnan(input), nan, input)
    out = where(isposinf(input), info.max if posinf is None else posinf, out)
    return where(isneginf(input), info.min if neginf is None else neginf, out)


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def copysign(input, other):
    """|input| with other's sign (a NaN other counts as positive)."""
    mag = abs(input.to(_float_type(input, other)))
    if not isinstance(other, Tensor):
        return neg(mag) if math.copysign(1.0, other) < 0 else mag
    return where(_signbit(other), neg(mag), mag)


def deg2rad(input):
    return mul(_floating(input), math.pi / 180.0)


def rad2deg(input):
    return mul(_floating(input), 180.0 / math.pi)


def xlogy(input, other):
    from ..creation import full_like

    # A number becomes a tensor of the dtype the op would give it, as torch wraps it
    if not isinstance(input, Tensor):
        input = full_like(other, input, dtype=_C.result_type(input, _arr(other)))
    if not isinstance(other, Tensor):
        other = full_like(input, other, dtype=_C.result_type(_arr(input), other))
    return Xlogy.apply(*_cast_tensors(_float_type(input, other), input, other))


def float_power(input, exponent):
    """pow computed in float64, as torch (complex numbers are not supported)."""
    return pow(*(v.to(_C.float64) if isinstance(v, Tensor) else v for v in (input, exponent)))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    if input.dtype != other.dtype:
        raise TypeError(f"isclose(): expected both inputs to have the same dtype, got {input.dtype.name} and "
                        f"{other.dtype.name}")
    close = eq(input, other)
    if equal_nan and input.dtype.is_floating_point:
        close = logical_or(close, logical_and(isnan(input), isnan(other)))
    if rtol == 0 and atol == 0:
        return close
    if input.dtype == _C.bool:
        input, other = input.to(_C.float32), other.to(_C.float32)
    error = sub(maximum(input, other), minimum(input, other))  # |input - other|, with no unsigned wrap-around
    return logical_or(close, logical_and(isfinite(error), le(error, add(abs(mul(other, rtol)), atol))))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return isclose(input, other, rtol, atol, equal_nan).all().item()


def equal(input, other):
    """Same shape and values (NaN equals nothing)."""
    return input.shape == other.shape and eq(input, other).all().item()


def signbit(input):
    """input < 0, -0.0 included (a NaN counts as positive: these ops cannot read its sign bit)."""
    return _signbit(input) if input.dtype.is_floating_point else lt(input, 0)


def logit(input, eps=None):
    """log(input / (1 - input)), input clamped to [eps, 1 - eps] first when eps is given."""
    input = _floating(input)
    if eps is not None:
        input = clamp(input, eps, 1.0 - eps)
    return log(div(input, sub(1.0, input)))


def dist(input, other, p=2):
    """The p-norm of input - other (broadcast)."""
    if _autocast_active.on:
        input, other = autocast_inputs("fp32_cuda", input, other)
    from .reduce import norm

    return norm(sub(input, other), p)


def renorm(input, p, dim, maxnorm):
    """input with each slice along dim whose p-norm exceeds maxnorm scaled down to norm maxnorm."""
    if _autocast_active.on:
        (input,) = autocast_inputs("fp32_cuda", input)
    from .reduce import norm
    from ..tensor import _wrap_dim

    if input.ndim < 2:
        raise ValueError(f"renorm: input needs at least 2 dimensions, got {input.ndim}")
    d = _wrap_dim(dim, input.ndim)
    norms = norm(input, p, tuple(k for k in range(input.ndim) if k != d), keepdim=True)
    return mul(input, where(gt(norms, maxnorm), div(maxnorm, add(norms, 1e-7)), 1.0))


def positive(input):
    if input.dtype == _C.bool:
        raise TypeError("positive: the `+` operator, on a bool tensor is not supported")
    return input


def _as_numpy(x):
    return x.detach().cpu().numpy()


def _integer_pair(name, input, other):
    """input and other as numpy arrays of their promoted integer dtype, and that dtype."""
    dtype = _C.result_type(_arr(input), _arr(other))
    if dtype.is_floating_point or dtype == _C.bool:
        raise NotImplementedError(f"{name}: expected integer tensors, got {input.dtype.name} and "
                                  f"{_arr(other).dtype.name}")
    cast = lambda t: _as_numpy(t.to(dtype)) if isinstance(t, Tensor) else t  # noqa: E731
    return cast(input), cast(other), dtype


def gcd(input, other):
    """Greatest common divisor, elementwise, of integer tensors (non-negative; gcd(0, 0) = 0)."""
    from ..creation import tensor

    a, b, dtype = _integer_pair("gcd", input, other)
    return tensor(np.gcd(a, b), dtype=dtype, device=input.device)


def lcm(input, other):
    """Least common multiple, elementwise, of integer tensors (non-negative; 0 if either is 0)."""
    from ..creation import tensor

    a, b, dtype = _integer_pair("lcm", input, other)
    return tensor(np.lcm(a, b), dtype=dtype, device=input.device)


def ldexp(input, other):
    """input * 2 ** other. As torch: of a float input and an integer other, exact (computed in
    float64) in input's dtype; otherwise input * pow(2.0, other), in other's float dtype or float32."""
    if not isinstance(other, Tensor):
        return mul(input, 2.0 ** other)
    if input.dtype.is_floating_point and not other.dtype.is_floating_point:
        if other.dtype == _C.bool:
            raise NotImplementedError("ldexp: not implemented for a bool exponent of a float input")
        return mul(input.to(_C.float64), pow(2.0, other.to(_C.float64))).to(input.dtype)
    return mul(input, pow(2.0, _floating(other)))


FrexpResult = collections.namedtuple("frexp", ["mantissa", "exponent"])


def frexp(input):
    """(mantissa, exponent) with input = mantissa * 2 ** exponent, |mantissa| in [0.5, 1) (0, inf
    and NaN are their own mantissa, with exponent 0); the exponent is int32."""
    from ..creation import tensor

    if not input.dtype.is_floating_point:
        raise TypeError(f"torch.frexp() only supports floating-point dtypes, got {input.dtype.name}")
    exponent = np.frexp(_as_numpy(input.to(_C.float64)))[1].astype(np.int32)
    exponent = tensor(exponent, dtype=_C.int32, device=input.device)
    # the mantissa divides by an exact power of two: its gradient is 2 ** -exponent, as torch's
    return FrexpResult(where(isfinite(input), div(input, exp2(exponent.to(input.dtype))), input), exponent)


def nextafter(input, other):
    """The next float after input towards other, in their promoted float dtype."""
    from ..creation import tensor

    if not isinstance(other, Tensor):
        raise TypeError(f"nextafter(): argument 'other' must be Tensor, not {type(other).__name__}")
    dtype = _C.result_type(_arr(input), _arr(other))
    if not dtype.is_floating_point:
        raise NotImplementedError(f"nextafter not implemented for '{dtype.name}'")
    held = _C.float32 if dtype == _C.bfloat16 else dtype  # numpy has no bfloat16
    x, y = (_as_numpy(v.to(dtype).to(held)) for v in (input, other))
    values = _bfloat16_nextafter(x, y) if dtype == _C.bfloat16 else np.nextafter(x, y)
    return tensor(values, dtype=dtype, device=input.device)


def _bfloat16_nextafter(x, y):
    """np.nextafter for bfloat16 values held in float32 arrays: a bfloat16 is the upper 16 bits
    of its float32, whose magnitude one step of those bits moves."""
    x, y = np.broadcast_arrays(x, y)
    bits = (np.ascontiguousarray(x).view(np.uint32) >> 16).astype(np.int64)
    bits = np.where(x == 0, np.where(y < 0, 0x8001, 0x0001), bits + np.where((y > x) == (x > 0), 1, -1))
    stepped = (bits.astype(np.uint32) << 16).view(np.float32)
    return np.where(np.isnan(x) | np.isnan(y), np.float32(np.nan), np.where(x == y, y, stepped))


def rsub(input, other, alpha=1):
    """other - alpha * input: sub with its operands swapped."""
    return sub(other, input, alpha=alpha)


def isreal(input):
    """True where input is real: everywhere, for fibril's real dtypes."""
    from ..creation import ones

    return ones(input.shape, dtype=_C.bool, device=input.device)


sgn, negative, absolute, fix = sign, neg, abs, trunc
multiply, subtract, divide, true_divide = mul, sub, div, div
arcsin, arccos, arctan, arctan2 = asin, acos, atan, atan2
arcsinh, arccosh, arctanh = asinh, acosh, atanh


def _inplace(fn):
    """fn(self, ...) as an in-place method: computed out of place and copied in, where its
    dtype can go (no float into an integer tensor, nothing but bool into a bool one)."""

    def method(self, *args, **kwargs):
        check_no_partial_overlap(self, *args, *kwargs.values())
        # recorded on a clone: the composition's inner ops may save self, which is about to change
        return apply_inplace(self, lambda x: fn(x.clone(), *args, **kwargs),
                             lambda a: _copy_result(a, fn(Tensor._wrap(a), *args, **kwargs), fn.__name__ + "_"),
                             _any_requires_grad(*args, *kwargs.values()))

    return method


def _float_power_(self, exponent):
    if self.dtype != _C.float64:
        raise RuntimeError(f"[float_power_] the base has dtype {self.dtype.name}, but the result requires float64")
    return _inplace(float_power)(self, exponent)


def _functional():
    from ..nn import functional  # imported late: nn builds on these ops

    return functional


def _attach_math():
    T = Tensor
    for name in ["square", "log10", "sinh", "cosh", "tan", "asin", "acos", "atan", "asinh", "acosh", "atanh",
                 "sinc", "frac", "deg2rad", "rad2deg", "nan_to_num", "hypot", "fmod", "copysign", "xlogy", "lerp",
                 "addcmul", "addcdiv", "logit", "renorm"]:
        fn = globals()[name]
        setattr(T, name, fn)
        setattr(T, name + "_", _inplace(fn))
    for name in ["logaddexp", "logaddexp2", "float_power", "isclose", "allclose", "equal", "positive", "clamp_min",
                 "clamp_max", "signbit", "dist", "frexp", "isreal"]:
        setattr(T, name, globals()[name])
    for name in ["gcd", "lcm", "ldexp", "nextafter"]:
        setattr(T, name, globals()[name])
        setattr(T, name + "_", _inplace(globals()[name]))
    T.hardshrink = lambda self, lambd=0.5: _functional().hardshrink(self, lambd)
    T.prelu = lambda self, weight: _functional().prelu(self, weight)
    T.float_power_ = _float_power_
    T.__pos__ = positive
    T.clamp_min_ = lambda self, min: self.clamp_(min=min)
    T.clamp_max_ = lambda self, max: self.clamp_(max=max)
    for alias, name in [("sgn", "sign"), ("negative", "neg"), ("absolute", "abs"), ("fix", "trunc"),
                        ("multiply", "mul"), ("subtract", "sub"), ("divide", "div"), ("true_divide", "div"),
                        ("arcsin", "asin"), ("arccos", "acos"), ("arctan", "atan"), ("arctan2", "atan2"),
                        ("arcsinh", "asinh"), ("arccosh", "acosh"), ("arctanh", "atanh")]:
        setattr(T, alias, getattr(T, name))
        setattr(T, alias + "_", getattr(T, name + "_"))


_attach_math()
