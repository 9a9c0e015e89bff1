"""Elementwise family: unary and binary ops with broadcasting and PyTorch type promotion
(done in C++), where and clamp; Python operators; in-place variants. Each Function's
backward sits beside its forward; gradients of broadcast inputs are summed back to the
input's shape (and cast back to its dtype)."""

import math
from functools import partial

from ..amp.policy import autocast_inputs, active as _autocast_active
from .. import _C
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from ..typeinfo import can_cast
from .index import apply_inplace, check_no_partial_overlap

U, B = _C.UnaryOp, _C.BinaryOp


def _arr(x):
    return x._data if isinstance(x, Tensor) else x


def _metas(needs, a, b):
    """What backward needs to know of two inputs: (shape, dtype) of each that takes a gradient
    (needs: their ctx.needs_input_grad flags), else None. Keeping metadata rather than the
    tensor lets its memory go after forward."""
    return ((a._data.shape, a._data.dtype) if needs[0] else None,
            (b._data.shape, b._data.dtype) if needs[1] else None)


def _grad_for(g, meta):
    """g summed to the input's shape and cast to its dtype; None when it takes no gradient."""
    if meta is None:
        return None
    shape, dtype = meta
    if g.dtype is dtype and g._data.shape == shape:
        return g
    from .reduce import sum_to_shape

    g = sum_to_shape(g, shape)
    return g if g.dtype == dtype else g.to(dtype)


def _unary(op, x):
    return Tensor._wrap(_C.unary(op, x._data))


def _binary(op, a, b):
    return Tensor._wrap(_C.binary(op, _arr(a), _arr(b)))


def _binary_keeping_metas(op, ctx, a, b):
    """forward of a binary op whose backward needs only its inputs' metadata (add, sub), in
    one Python call (bound by functools.partial): this is the hottest path of small models."""
    x = a._data if isinstance(a, Tensor) else a
    y = b._data if isinstance(b, Tensor) else b
    need_a, need_b = ctx.needs_input_grad
    ctx.metas = ((x.shape, x.dtype) if need_a else None, (y.shape, y.dtype) if need_b else None)
    return _C.binary(op, x, y)


# ------------------------------------------------------------------------------ binary
class Add(Function):
    forward = staticmethod(partial(_binary_keeping_metas, B.add))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.metas
        return _grad_for(g, a), _grad_for(g, b)


class Sub(Function):
    forward = staticmethod(partial(_binary_keeping_metas, B.sub))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.metas
        return _grad_for(g, a), _grad_for(neg(g), b)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad[:2]
        _save_operands(ctx, a, b, keep_a=need_b, keep_b=need_a)
        ctx.metas = _metas(ctx.needs_input_grad, a, b)
        return _C.binary(B.mul, _arr(a), _arr(b))

    @staticmethod
    def backward(ctx, g):
        a, b = _operands(ctx)
        need_a, need_b = ctx.needs_input_grad[:2]
        x, y = ctx.metas
        return _grad_for(mul(g, b), x) if need_a else None, _grad_for(mul(g, a), y) if need_b else None


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        _save_operands(ctx, a, b, keep_a=ctx.needs_input_grad[1])
        ctx.metas = _metas(ctx.needs_input_grad, a, b)
        return _C.binary(B.div, _arr(a), _arr(b))

    @staticmethod
    def backward(ctx, g):
        a, b = _operands(ctx)
        need_a, need_b = ctx.needs_input_grad[:2]
        x, y = ctx.metas
        ga = _grad_for(div(g, b), x) if need_a else None
        gb = _grad_for(neg(div(mul(g, a), mul(b, b))), y) if need_b else None
        return ga, gb


def _divide_number(x, number):
    """number / x (x.__rtruediv__) computed as torch does, reciprocal(x) * number. Tracked, it is
    torch's two recorded ops: the gradient reads the reciprocal (whose graph a second derivative
    follows), not x, which may then change in place."""
    if x.requires_grad and is_grad_enabled():
        return mul(Reciprocal.apply(x), number)
    return Tensor._wrap(_C.binary(B.mul, _C.unary(U.reciprocal, x._data), number))


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = _binary(B.pow, a, b)
        # as torch, a tensor exponent makes it keep the result (which the exponent's gradient takes)
        _save_operands(ctx, a, b, result=out if isinstance(b, Tensor) else None)
        ctx.metas = _metas(ctx.needs_input_grad, a, b)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b = _operands(ctx)
        out = ctx.saved_tensors[2]
        need_a, need_b = ctx.needs_input_grad[:2]
        x, y = ctx.metas
        ga = gb = None
        if need_a:  # b * a^(b-1), 0 where b == 0 (0^0 has gradient 0, as PyTorch)
            b_minus_1 = sub(b, 1) if isinstance(b, Tensor) else b - 1  # a number stays exact, not a float32 tensor
            ga = _grad_for(where(eq(b, 0), 0.0, mul(g, mul(b, pow(a, b_minus_1)))), x)
        if need_b and not isinstance(a, Tensor):  # a Python number base
            gb = _grad_for(mul(g, mul(out, math.log(a))) if a > 0 else mul(g, 0.0), y)
        elif need_b:  # a^b * log(a), 0 where a == 0 and b >= 0
            gb = _grad_for(where(logical_and(eq(a, 0), ge(b, 0)), 0.0, mul(g, mul(out, log(a)))), y)
        return ga, gb


class Maximum(Function):
    """Ties send half the gradient to each input, as PyTorch. Either input may be a number
    (torch takes only tensors; its in-place forms take numbers here too)."""

    op = B.maximum

    @classmethod
    def forward(cls, ctx, a, b):
        _save_operands(ctx, a, b)
        ctx.metas = _metas(ctx.needs_input_grad, a, b)
        ctx.is_max = cls.op == B.maximum
        return _C.binary(cls.op, _arr(a), _arr(b))

    @staticmethod
    def backward(ctx, g):
        a, b = _operands(ctx)
        half = mul(g, 0.5)
        a_wins = gt(a, b) if ctx.is_max else lt(a, b)
        tie = eq(a, b)
        ga = where(a_wins, g, where(tie, half, 0.0))
        gb = where(logical_or(a_wins, tie), where(tie, half, 0.0), g)
        return _grad_for(ga, ctx.metas[0]), _grad_for(gb, ctx.metas[1])


class Minimum(Maximum):
    op = B.minimum


class Atan2(Function):
    @staticmethod
    def forward(ctx, a, b):
        _save_operands(ctx, a, b)
        ctx.metas = _metas(ctx.needs_input_grad, a, b)
        return _C.binary(B.atan2, _arr(a), _arr(b))

    @staticmethod
    def backward(ctx, g):
        a, b = _operands(ctx)
        denom = a * a + b * b  # operators: one of a, b may be a number
        return _grad_for(div(mul(g, b), denom), ctx.metas[0]), _grad_for(div(mul(neg(g), a), denom), ctx.metas[1])


class Remainder(Function):
    @staticmethod
    def forward(ctx, a, b):
        _save_operands(ctx, a, b, keep_a=ctx.needs_input_grad[1], keep_b=ctx.needs_input_grad[1])
        ctx.metas = _metas(ctx.needs_input_grad, a, b)
        return _C.binary(B.remainder, _arr(a), _arr(b))

    @staticmethod
    def backward(ctx, g):
        a, b = _operands(ctx)
        x, y = ctx.metas
        # torch's div(rounding_mode="floor"): floor_divide has no derivative to differentiate twice
        gb = _grad_for(mul(neg(g), div(a, b, rounding_mode="floor")), y) if ctx.needs_input_grad[1] else None
        return _grad_for(g, x), gb


def _save_operands(ctx, a, b, keep_a=True, keep_b=True, result=None):
    """Saves the tensor operands backward needs, and the result if given (all version-checked),
    and remembers scalars."""
    ctx.save_for_backward(a if keep_a and isinstance(a, Tensor) else None,
                          b if keep_b and isinstance(b, Tensor) else None, result)
    ctx.scalars = (None if isinstance(a, Tensor) else a, None if isinstance(b, Tensor) else b)


def _operands(ctx):
    return tuple(s if t is None else t for t, s in zip(ctx.saved_tensors, ctx.scalars))


# ------------------------------------------------------------------------------ unary
def _unary_function(name, op, grad=None, save="input"):
    """A Function for a unary op; grad(g, x, y) is its backward (None: not differentiable)."""

    def forward(ctx, x):
        y = _unary(op, x)
        if grad is not None:
            ctx.save_for_backward(x if save == "input" else y)
        return y

    def backward(ctx, g):
        (saved,) = ctx.saved_tensors
        return grad(g, saved)

    return type(name, (Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})


_LN2 = math.log(2.0)
Neg = _unary_function("Neg", U.neg, lambda g, x: neg(g))
Abs = _unary_function("Abs", U.abs, lambda g, x: mul(g, sign(x)))
Exp = _unary_function("Exp", U.exp, lambda g, y: mul(g, y), save="output")
Exp2 = _unary_function("Exp2", U.exp2, lambda g, y: mul(g, mul(y, _LN2)), save="output")
Expm1 = _unary_function("Expm1", U.expm1, lambda g, y: mul(g, add(y, 1.0)), save="output")
Log = _unary_function("Log", U.log, lambda g, x: div(g, x))
Log2 = _unary_function("Log2", U.log2, lambda g, x: div(g, mul(x, _LN2)))
Log1p = _unary_function("Log1p", U.log1p, lambda g, x: div(g, add(x, 1.0)))
Sqrt = _unary_function("Sqrt", U.sqrt, lambda g, y: div(g, mul(y, 2.0)), save="output")
Rsqrt = _unary_function("Rsqrt", U.rsqrt, lambda g, y: mul(g, mul(pow(y, 3), -0.5)), save="output")
Reciprocal = _unary_function("Reciprocal", U.reciprocal, lambda g, y: mul(neg(g), mul(y, y)), save="output")
Sin = _unary_function("Sin", U.sin, lambda g, x: mul(g, cos(x)))
Cos = _unary_function("Cos", U.cos, lambda g, x: mul(neg(g), sin(x)))
Tanh = _unary_function("Tanh", U.tanh, lambda g, y: mul(g, sub(1.0, mul(y, y))), save="output")
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
Erf = _unary_function("Erf", U.erf, lambda g, x: mul(g, mul(exp(neg(mul(x, x))), _TWO_OVER_SQRT_PI)))
Sigmoid = _unary_function("Sigmoid", U.sigmoid, lambda g, y: mul(g, mul(y, sub(1.0, y))), save="output")


def _zeros_like(g):
    from ..creation import zeros_like

    return zeros_like(g)


class ZeroGradient(Function):
    """Zeros shaped as a tracked gradient g, themselves tracked (with a zero gradient): from a
    tracked g, the engine takes an untracked result for a backward that records no graph, and
    refuses to differentiate it."""

    @staticmethod
    def forward(ctx, g):
        return _zeros_like(g)

    @staticmethod
    def backward(ctx, gg):
        return _zero_gradient(gg)


def _zero_gradient(g):
    """torch's zeros_like(grad), the gradient of a piecewise-constant op."""
    return ZeroGradient.apply(g) if g.requires_grad else _zeros_like(g)


def _stepwise_function(name, compute):
    """A Function for a piecewise-constant op (floor, sign, ...): tracked, with a zero gradient.
    compute(x, *args)."""

    def forward(ctx, x, *args):
        ctx.n_args = len(args)
        return compute(x, *args)

    def backward(ctx, g):
        return (_zero_gradient(g),) + (None,) * ctx.n_args

    return type(name, (Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})


Floor = _stepwise_function("Floor", partial(_unary, U.floor))
Ceil = _stepwise_function("Ceil", partial(_unary, U.ceil))
Round = _stepwise_function("Round", partial(_unary, U.round))
Trunc = _stepwise_function("Trunc", partial(_unary, U.trunc))
Sign = _stepwise_function("Sign", partial(_unary, U.sign))


def _rounded_div(a, b, rounding_mode):
    if rounding_mode == "floor":
        return _binary(B.floor_divide, a, b)
    dtype = _C.result_type(_arr(a), _arr(b))
    if dtype.is_floating_point:
        return _unary(U.trunc, _binary(B.div, a, b))
    if dtype == _C.uint8:  # the operands are cast to uint8 (a negative divisor too): no negative quotient
        return _binary(B.floor_divide, a, b)
    # integers: floor division, plus one where it rounded a negative inexact quotient down
    inexact_negative = logical_and(ne(remainder(a, b), 0), ne(lt(a, 0), lt(b, 0)))
    return add(_binary(B.floor_divide, a, b), inexact_negative)


class RoundedDiv(Function):
    """div with rounding_mode "floor" or "trunc": a zero gradient for both inputs, as torch."""

    @staticmethod
    def forward(ctx, a, b, rounding_mode):
        ctx.metas = _metas(ctx.needs_input_grad, a, b)
        return _rounded_div(a, b, rounding_mode)

    @staticmethod
    def backward(ctx, g):
        return (*(_grad_for(_zero_gradient(g), meta) for meta in ctx.metas), None)


class FloorDivide(Function):
    """Tracked (a result of a tensor that requires grad requires grad), but, as torch, with no
    derivative: div(rounding_mode="floor") is the differentiable form."""

    @staticmethod
    def forward(ctx, a, b):
        return _binary(B.floor_divide, a, b)

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("the derivative for 'floor_divide' is not implemented; "
                           "use div(..., rounding_mode='floor'), whose gradient is zero")


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond, ctx.metas = cond, _metas(ctx.needs_input_grad[1:], a, b)
        return _C.where(cond._data, _arr(a), _arr(b))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.metas
        ga = _grad_for(where(ctx.cond, g, 0.0), a) if a else None
        gb = _grad_for(where(ctx.cond, 0.0, g), b) if b else None
        return None, ga, gb


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x, *(v if isinstance(v, Tensor) else None for v in (lo, hi)))
        ctx.scalars = (None if isinstance(lo, Tensor) else lo, None if isinstance(hi, Tensor) else hi)
        ctx.metas = _metas(ctx.needs_input_grad[1:], lo, hi)
        return _C.clamp(x._data, _arr(lo), _arr(hi))

    @staticmethod
    def backward(ctx, g):
        x, lo, hi = ctx.saved_tensors
        lo, hi = (s if t is None else t for t, s in zip((lo, hi), ctx.scalars))
        inside = None
        if lo is not None:
            inside = ge(x, lo)
        if hi is not None:
            inside = le(x, hi) if inside is None else logical_and(inside, le(x, hi))
        # summed back to x's shape where a bound broadcasts it larger
        gx = _grad_for(g if inside is None else where(inside, g, 0.0), (x._data.shape, x._data.dtype))
        glo = ghi = None
        # Where lo > hi the result is hi, so only hi takes the gradient (as torch).
        if ctx.metas[0]:
            below = lt(x, lo) if hi is None else logical_and(lt(x, lo), lt(lo, hi))
            glo = _grad_for(where(below, g, 0.0), ctx.metas[0])
        if ctx.metas[1]:
            above = gt(x, hi) if lo is None else logical_or(gt(x, hi), lt(hi, lo))
            ghi = _grad_for(where(above, g, 0.0), ctx.metas[1])
        return gx, glo, ghi


# ------------------------------------------------------------------------------ functions
def _is_bool(x):
    return x.dtype == _C.bool if isinstance(x, Tensor) else isinstance(x, bool)


def _scaled_by_alpha(a, b, alpha):
    """b * alpha for a + alpha * b, as torch: computed in the dtype of a + b (so a narrower b
    does not wrap around first), with torch's checks on alpha."""
    dtype = _C.result_type(_arr(a), _arr(b))
    if isinstance(alpha, bool) and dtype != _C.bool:
        raise RuntimeError("Boolean alpha only supported for Boolean results.")
    if isinstance(alpha, float) and not dtype.is_floating_point:
        raise RuntimeError("For integral input tensors, argument alpha must not be a floating point number.")
    if dtype == _C.bool:
        return logical_and(b, bool(alpha))
    return mul(b.to(dtype), alpha) if isinstance(b, Tensor) else b * alpha


def _check_sub_operands(a, b):
    if _is_bool(a) or _is_bool(b):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying "
                           "to invert a mask, use the `~` or `logical_not()` operator instead.")


def _is_unit_alpha(alpha):
    return type(alpha) is int and alpha == 1


def add(input, other, alpha=1):
    return Add.apply(input, other if _is_unit_alpha(alpha) else _scaled_by_alpha(input, other, alpha))


def sub(input, other, alpha=1):
    if _is_unit_alpha(alpha):
        return Sub.apply(input, other)
    _check_sub_operands(input, other)
    return Sub.apply(input, _scaled_by_alpha(input, other, alpha))


def mul(input, other):
    return Mul.apply(input, other)


def _takes_grad(x):
    return isinstance(x, Tensor) and x.requires_grad and is_grad_enabled()


def div(input, other, rounding_mode=None):
    if rounding_mode is None:
        return Div.apply(input, other)
    if rounding_mode in ("floor", "trunc"):
        if _takes_grad(input) or _takes_grad(other):
            return RoundedDiv.apply(input, other, rounding_mode)
        return _rounded_div(input, other, rounding_mode)
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")


def floor_divide(input, other):
    if _takes_grad(input) or _takes_grad(other):
        return FloorDivide.apply(input, other)
    return _binary(B.floor_divide, input, other)


def remainder(input, other):
    return Remainder.apply(input, other)


def pow(input, exponent):
    if _autocast_active.on:
        input, exponent = autocast_inputs("fp32_cuda", input, exponent)
    return Pow.apply(input, exponent)


def maximum(input, other):
    return Maximum.apply(input, other)


def minimum(input, other):
    return Minimum.apply(input, other)


def atan2(input, other):
    return Atan2.apply(input, other)


def _compare(op):
    def fn(input, other):
        return _binary(op, input, other)

    return fn


eq, ne, lt, le, gt, ge = (_compare(op) for op in (B.eq, B.ne, B.lt, B.le, B.gt, B.ge))
logical_and, logical_or, logical_xor = (_compare(op) for op in (B.logical_and, B.logical_or, B.logical_xor))


def logical_not(input):
    return _unary(U.logical_not, input)


# Integers and bools only (on bools, the logical ops); `&`, `|`, `^` and `~` are these.
bitwise_and, bitwise_or, bitwise_xor = (_compare(op) for op in (B.bitwise_and, B.bitwise_or, B.bitwise_xor))


def bitwise_not(input):
    return _unary(U.bitwise_not, input)


def neg(input):
    return Neg.apply(input)


def abs(input):
    return Abs.apply(input)


def _stepwise(cls, op):
    """A function applying op, through cls (tracked) only when input takes a gradient: untracked,
    it costs what the bare kernel does."""

    def fn(input):
        if input.requires_grad and is_grad_enabled():
            return cls.apply(input)
        return _unary(op, input)

    fn.__name__ = cls.__name__.lower()
    return fn


sign = _stepwise(Sign, U.sign)


def _function_of(cls, autocast=None):
    """A plain function (so it also works as a Tensor method) applying cls; autocast: its
    policy kind (fibril.amp.policy), if autocast casts its input."""

    if autocast is None:
        def fn(input):
            return cls.apply(input)
    else:
        def fn(input):
            if _autocast_active.on:
                (input,) = autocast_inputs(autocast, input)
            return cls.apply(input)

    fn.__name__ = cls.__name__.lower()
    return fn


exp, exp2, expm1 = _function_of(Exp, "fp32_cuda"), _function_of(Exp2), _function_of(Expm1, "fp32_cuda")
log, log2, log1p = _function_of(Log, "fp32_cuda"), _function_of(Log2, "fp32_cuda"), _function_of(Log1p, "fp32_cuda")
sqrt, rsqrt, reciprocal = _function_of(Sqrt), _function_of(Rsqrt, "fp32_cuda"), _function_of(Reciprocal, "fp32_cuda")
sin, cos, tanh, sigmoid = _function_of(Sin), _function_of(Cos), _function_of(Tanh), _function_of(Sigmoid)
erf = _function_of(Erf)


floor, ceil, trunc = _stepwise(Floor, U.floor), _stepwise(Ceil, U.ceil), _stepwise(Trunc, U.trunc)


def _round_at(x, decimals):
    """x * 10^decimals rounded, then divided back, as torch (negative: left of the point); a
    float16 or bfloat16 x computed in float32, as torch does."""
    if x.dtype in (_C.float16, _C.bfloat16):
        return _round_at(x.to(_C.float32), decimals).to(x.dtype)
    if decimals > 0:
        scale = 10.0 ** decimals
        return _binary(B.div, _unary(U.round, _binary(B.mul, x, scale)), scale)
    scale = 10.0 ** -decimals
    return _binary(B.mul, _unary(U.round, _binary(B.div, x, scale)), scale)


RoundDecimals = _stepwise_function("RoundDecimals", _round_at)


def round(input, decimals=0):
    """Halves to even; with decimals, at that decimal place."""
    if decimals == 0:
        return Round.apply(input) if input.requires_grad and is_grad_enabled() else _unary(U.round, input)
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"round(decimals={decimals}) is not supported for {input.dtype.name} tensors")
    if _takes_grad(input):
        return RoundDecimals.apply(input, decimals)
    return _round_at(input, decimals)


# The float tests, by comparison: an integer or bool x promotes to float, and is finite.
def isnan(input):
    return ne(input, input)


def isposinf(input):
    return eq(input, math.inf)


def isneginf(input):
    return eq(input, -math.inf)


def isinf(input):
    return logical_or(isposinf(input), isneginf(input))


def isfinite(input):
    return logical_and(eq(input, input), logical_not(isinf(input)))


_MISSING = object()


def where(condition, input=_MISSING, other=_MISSING):
    """input where condition, else other; where(condition) alone is nonzero(condition,
    as_tuple=True), as torch."""
    if input is _MISSING and other is _MISSING:
        from .gather import nonzero

        return nonzero(condition, as_tuple=True)
    if input is _MISSING or other is _MISSING:
        raise TypeError("where() takes a condition alone, or a condition and both input and other")
    return Where.apply(condition, input, other)


def clamp(input, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: at least one of 'min' or 'max' must not be None")
    return Clamp.apply(input, min, max)


clip = clamp


def fmax(input, other):
    """maximum, but a NaN loses to a number; the gradient goes to input where input >= other (as torch)."""
    return where(logical_or(ge(input, other), isnan(other)), input, other)


def fmin(input, other):
    return where(logical_or(le(input, other), isnan(other)), input, other)


def _shift_operands(a, b, op):
    """a and b as tensors of their promoted integer dtype, and its width in bits."""
    from ..creation import tensor
    from ..typeinfo import iinfo

    dtype = _C.result_type(_arr(a), _arr(b))
    if dtype.is_floating_point or dtype == _C.bool:
        raise NotImplementedError(f"{op}: not implemented for {dtype.name} operands (integers only)")
    device = a.device if isinstance(a, Tensor) else b.device
    a, b = (v.to(dtype) if isinstance(v, Tensor) else tensor(v, dtype=dtype, device=device) for v in (a, b))
    return a, b, iinfo(dtype).bits


def _power_of_two_halves(b):
    """2^(b // 2) and 2^(b - b // 2): two factors of 2^b (0 <= b < 64) that do not overflow int64."""
    low = floor_divide(b, 2)
    return pow(2, low), pow(2, sub(b, low))


def bitwise_left_shift(input, other):
    """input << other: input times 2^other, wrapping as the dtype does; 0 for a shift < 0 or >= the dtype's
    width (as torch)."""
    input, other, bits = _shift_operands(input, other, "bitwise_left_shift")
    valid = logical_and(ge(other, 0), lt(other, bits))
    low, high = _power_of_two_halves(where(valid, other, 0))
    shifted = mul(mul(input, low), high)
    return where(valid, shifted, 0).to(shifted.dtype)


def bitwise_right_shift(input, other):
    """input >> other: arithmetic (floor division by 2^other); a shift < 0 or >= the width gives the sign
    fill, 0 or -1 (as torch)."""
    input, other, bits = _shift_operands(input, other, "bitwise_right_shift")
    valid = logical_and(ge(other, 0), lt(other, bits))
    low, high = _power_of_two_halves(where(valid, other, 0))
    shifted = floor_divide(floor_divide(input, low), high)
    return where(valid, shifted, where(lt(input, 0), -1, 0)).to(shifted.dtype)


# ------------------------------------------------------------------------------ in place
def _any_requires_grad(*operands):
    return any(isinstance(x, Tensor) and x.requires_grad for x in operands)


def _binary_inplace(op, fn):
    """fn's in-place form, taking fn's keyword arguments (add_/sub_'s alpha, div_'s rounding_mode)."""

    def method(self, other, **kwargs):
        if isinstance(other, Tensor) and self._data.shares_storage(other._data):
            check_no_partial_overlap(self, other)
        alpha = kwargs.pop("alpha", 1) if fn in (add, sub) else 1
        rounding_mode = kwargs.pop("rounding_mode", None) if fn is div else None
        if kwargs:
            raise TypeError(f"{fn.__name__}_() got an unexpected keyword argument '{next(iter(kwargs))}'")
        if not _is_unit_alpha(alpha):
            if fn is sub:
                _check_sub_operands(self, other)
            other = _scaled_by_alpha(self, other, alpha)
        kernel_op, after = op, None
        if rounding_mode == "floor":
            kernel_op = B.floor_divide
        elif rounding_mode == "trunc":
            after = U.trunc if self.dtype.is_floating_point else None
            if after is None:  # integers: computed out of place (see div), then written
                return apply_inplace(self, lambda x: div(x, other, rounding_mode="trunc"),
                                     lambda a: _copy_result(a, div(Tensor._wrap(a), other, rounding_mode="trunc"),
                                                            "div_"))
        elif rounding_mode is not None:
            div(self, other, rounding_mode=rounding_mode)  # raises its error for an invalid mode

        def kernel(a):
            _C.binary(kernel_op, a, _arr(other), out=a)
            if after is not None:
                _C.unary(after, a, out=a)

        return apply_inplace(self, lambda x: fn(x, other, rounding_mode=rounding_mode) if fn is div else fn(x, other),
                             kernel, _any_requires_grad(other))

    method.__name__ = fn.__name__ + "_"
    return method


def _copy_result(a, out, name):
    """out's values written into the Array a, when out's dtype can be cast to a's (as torch's in-place ops)."""
    if not can_cast(out.dtype, a.dtype):
        raise RuntimeError(f"[{name}] result type {out.dtype.name} can't be cast to the desired output type "
                           f"{a.dtype.name}")
    a.copy_(out._data)


def _composed_inplace(fn):
    """fn's in-place form, for ops without a kernel that writes in place: fn's result (which
    must cast to self's dtype as torch allows) copied into self."""

    def method(self, other):
        check_no_partial_overlap(self, other)
        return apply_inplace(self, lambda x: fn(x, other).to(x.dtype),
                             lambda a: _copy_result(a, fn(Tensor._wrap(a), other), fn.__name__ + "_"),
                             _any_requires_grad(other))

    method.__name__ = fn.__name__ + "_"
    return method


def _clamp_(self, min=None, max=None):
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        check_no_partial_overlap(self, min, max)
    return apply_inplace(self, lambda x: clamp(x, min, max), lambda a: _C.clamp(a, _arr(min), _arr(max), out=a),
                         _any_requires_grad(min, max))


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _attach():
    T = Tensor
    # The arithmetic operators are the Functions' apply itself (no Python frame before forward).
    T.__add__, T.__radd__ = _C.op_method(Add), _C.op_method(Add, reflected=True)
    T.__sub__, T.__rsub__ = _C.op_method(Sub), _C.op_method(Sub, reflected=True)
    T.__mul__, T.__rmul__ = _C.op_method(Mul), _C.op_method(Mul, reflected=True)
    T.__truediv__, T.__rtruediv__ = _C.op_method(Div), _divide_number
    T.__floordiv__, T.__rfloordiv__ = floor_divide, _reflected(floor_divide)
    T.__mod__, T.__rmod__ = remainder, _reflected(remainder)
    T.__pow__, T.__rpow__ = pow, _reflected(pow)
    T.__neg__, T.__pos__, T.__abs__ = _C.op_method(Neg), lambda self: self, abs
    T.__eq__, T.__ne__, T.__lt__, T.__le__, T.__gt__, T.__ge__ = eq, ne, lt, le, gt, ge
    T.__and__, T.__or__, T.__xor__ = bitwise_and, bitwise_or, bitwise_xor
    T.__rand__, T.__ror__, T.__rxor__ = _reflected(bitwise_and), _reflected(bitwise_or), _reflected(bitwise_xor)
    T.__invert__ = T.bitwise_not = bitwise_not
    T.bitwise_not_ = lambda self: apply_inplace(self, bitwise_not, lambda a: _C.unary(U.bitwise_not, a, out=a))
    for name, op, fn in [("add", B.add, add), ("sub", B.sub, sub), ("mul", B.mul, mul), ("div", B.div, div),
                         ("pow", B.pow, pow), ("remainder", B.remainder, remainder),
                         ("floor_divide", B.floor_divide, floor_divide), ("maximum", B.maximum, maximum),
                         ("minimum", B.minimum, minimum), ("atan2", B.atan2, atan2),
                         ("bitwise_and", B.bitwise_and, bitwise_and), ("bitwise_or", B.bitwise_or, bitwise_or),
                         ("bitwise_xor", B.bitwise_xor, bitwise_xor)]:
        setattr(T, name, fn)
        setattr(T, name + "_", _binary_inplace(op, fn))
    T.__iadd__, T.__isub__, T.__imul__ = T.add_, T.sub_, T.mul_
    T.__itruediv__, T.__ipow__, T.__imod__, T.__ifloordiv__ = T.div_, T.pow_, T.remainder_, T.floor_divide_
    T.__iand__, T.__ior__, T.__ixor__ = T.bitwise_and_, T.bitwise_or_, T.bitwise_xor_
    for name in ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "fmax", "fmin",
                 "bitwise_left_shift", "bitwise_right_shift"]:
        setattr(T, name, globals()[name])
    for name in ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
                 "bitwise_left_shift", "bitwise_right_shift"]:
        setattr(T, name + "_", _composed_inplace(globals()[name]))
    T.__lshift__, T.__rshift__ = bitwise_left_shift, bitwise_right_shift
    T.__rlshift__, T.__rrshift__ = _reflected(bitwise_left_shift), _reflected(bitwise_right_shift)
    T.__ilshift__, T.__irshift__ = T.bitwise_left_shift_, T.bitwise_right_shift_
    T.greater, T.less, T.greater_equal, T.less_equal, T.not_equal = gt, lt, ge, le, ne
    T.greater_, T.less_, T.greater_equal_, T.less_equal_, T.not_equal_ = T.gt_, T.lt_, T.ge_, T.le_, T.ne_
    for name, op in [("neg", U.neg), ("abs", U.abs), ("sign", U.sign), ("exp", U.exp), ("exp2", U.exp2),
                     ("expm1", U.expm1), ("log", U.log), ("log2", U.log2), ("log1p", U.log1p), ("sqrt", U.sqrt),
                     ("rsqrt", U.rsqrt), ("reciprocal", U.reciprocal), ("sin", U.sin), ("cos", U.cos),
                     ("tanh", U.tanh), ("sigmoid", U.sigmoid), ("erf", U.erf), ("floor", U.floor), ("ceil", U.ceil),
                     ("trunc", U.trunc), ("logical_not", U.logical_not)]:
        fn = globals()[name]
        setattr(T, name, fn)
        setattr(T, name + "_", lambda self, fn=fn, op=op: apply_inplace(self, fn, lambda a: _C.unary(op, a, out=a)))
    T.round = round
    T.round_ = lambda self, decimals=0: apply_inplace(self, lambda x: round(x, decimals),
                                                      lambda a: a.copy_(round(Tensor._wrap(a), decimals)._data))
    T.negative = T.neg
    T.where = lambda self, cond, other: where(cond, self, other)
    T.clamp = clamp
    T.clip = clamp
    T.clamp_ = _clamp_
    T.clip_ = T.clamp_
    T.isnan, T.isinf, T.isfinite, T.isposinf, T.isneginf = isnan, isinf, isfinite, isposinf, isneginf


_attach()
