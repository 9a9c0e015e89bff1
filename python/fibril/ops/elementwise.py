"""Elementwise family: unary and binary ops with broadcasting and PyTorch type promotion
(done in C++), where and clamp; Python operators; in-place variants. Each Function's
backward sits beside its forward; gradients of broadcast inputs are summed back to the
input's shape (and cast back to its dtype)."""

import math
from functools import partial

from .. import _C
from ..autograd import Function
from ..tensor import Tensor
from ..typeinfo import finfo
from .index import apply_inplace

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


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = _binary(B.pow, a, b)
        _save_operands(ctx, a, b)
        ctx.out = out.detach() if ctx.needs_input_grad[1] else None
        ctx.metas = _metas(ctx.needs_input_grad, a, b)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b = _operands(ctx)
        need_a, need_b = ctx.needs_input_grad[:2]
        x, y = ctx.metas
        ga = gb = None
        if need_a:  # b * a^(b-1), 0 where b == 0 (0^0 has gradient 0, as PyTorch)
            ga = _grad_for(where(eq(b, 0), 0.0, mul(g, mul(b, pow(a, sub(b, 1))))), x)
        if need_b and not isinstance(a, Tensor):  # a Python number base
            gb = _grad_for(mul(g, mul(ctx.out, math.log(a))) if a > 0 else mul(g, 0.0), y)
        elif need_b:  # a^b * log(a), 0 where a == 0 and b >= 0
            gb = _grad_for(where(logical_and(eq(a, 0), ge(b, 0)), 0.0, mul(g, mul(ctx.out, log(a)))), y)
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
        gb = _grad_for(mul(neg(g), floor_divide(a, b)), y) if ctx.needs_input_grad[1] else None
        return _grad_for(g, x), gb


def _save_operands(ctx, a, b, keep_a=True, keep_b=True):
    """Saves the tensor operands backward needs (version-checked) and remembers scalars."""
    ctx.save_for_backward(a if keep_a and isinstance(a, Tensor) else None,
                          b if keep_b and isinstance(b, Tensor) else None)
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
        gx = g if inside is None else where(inside, g, 0.0)
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
def add(a, b, alpha=1):
    return Add.apply(a, b if alpha == 1 else mul(b, alpha))


def sub(a, b, alpha=1):
    return Sub.apply(a, b if alpha == 1 else mul(b, alpha))


def mul(a, b):
    return Mul.apply(a, b)


def div(a, b, rounding_mode=None):
    if rounding_mode is None:
        return Div.apply(a, b)
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc":
        if _C.result_type(_arr(a), _arr(b)).is_floating_point:
            return trunc(_binary(B.div, a, b))
        # integers: floor division, plus one where it rounded a negative inexact quotient down
        inexact_negative = logical_and(ne(remainder(a, b), 0), ne(lt(a, 0), lt(b, 0)))
        return add(floor_divide(a, b), inexact_negative)
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")


def floor_divide(a, b):
    return _binary(B.floor_divide, a, b)


def remainder(a, b):
    return Remainder.apply(a, b)


def pow(a, b):
    return Pow.apply(a, b)


def maximum(a, b):
    return Maximum.apply(a, b)


def minimum(a, b):
    return Minimum.apply(a, b)


def atan2(a, b):
    return Atan2.apply(a, b)


def _compare(op):
    def fn(a, b):
        return _binary(op, a, b)

    return fn


eq, ne, lt, le, gt, ge = (_compare(op) for op in (B.eq, B.ne, B.lt, B.le, B.gt, B.ge))
logical_and, logical_or, logical_xor = (_compare(op) for op in (B.logical_and, B.logical_or, B.logical_xor))


def logical_not(x):
    return _unary(U.logical_not, x)


# Integers and bools only (on bools, the logical ops); `&`, `|`, `^` and `~` are these.
bitwise_and, bitwise_or, bitwise_xor = (_compare(op) for op in (B.bitwise_and, B.bitwise_or, B.bitwise_xor))


def bitwise_not(x):
    return _unary(U.bitwise_not, x)


def neg(x):
    return Neg.apply(x)


def abs(x):
    return Abs.apply(x)


def sign(x):
    return _unary(U.sign, x)


def _function_of(cls):
    """A plain function (so it also works as a Tensor method) applying cls."""

    def fn(x):
        return cls.apply(x)

    fn.__name__ = cls.__name__.lower()
    return fn


exp, exp2, expm1 = _function_of(Exp), _function_of(Exp2), _function_of(Expm1)
log, log2, log1p = _function_of(Log), _function_of(Log2), _function_of(Log1p)
sqrt, rsqrt, reciprocal = _function_of(Sqrt), _function_of(Rsqrt), _function_of(Reciprocal)
sin, cos, tanh, sigmoid = _function_of(Sin), _function_of(Cos), _function_of(Tanh), _function_of(Sigmoid)
erf = _function_of(Erf)


def floor(x):
    return _unary(U.floor, x)


def ceil(x):
    return _unary(U.ceil, x)


def round(x):
    return _unary(U.round, x)


def trunc(x):
    return _unary(U.trunc, x)


# The float tests, by comparison: an integer or bool x promotes to float, and is finite.
def isnan(x):
    return ne(x, x)


def isposinf(x):
    return eq(x, math.inf)


def isneginf(x):
    return eq(x, -math.inf)


def isinf(x):
    return logical_or(isposinf(x), isneginf(x))


def isfinite(x):
    return logical_and(eq(x, x), logical_not(isinf(x)))


_MISSING = object()


def where(cond, a=_MISSING, b=_MISSING):
    """a where cond, else b; where(cond) alone is nonzero(cond, as_tuple=True), as torch."""
    if a is _MISSING and b is _MISSING:
        from .gather import nonzero

        return nonzero(cond, as_tuple=True)
    if a is _MISSING or b is _MISSING:
        raise TypeError("where() takes a condition alone, or a condition and both input and other")
    return Where.apply(cond, a, b)


def clamp(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: at least one of 'min' or 'max' must not be None")
    return Clamp.apply(x, min, max)


clip = clamp


# ------------------------------------------------------------------------------ in place
def _any_requires_grad(*operands):
    return any(isinstance(x, Tensor) and x.requires_grad for x in operands)


def _binary_inplace(op, fn):
    def method(self, other):
        return apply_inplace(self, lambda x: fn(x, other), lambda a: _C.binary(op, a, _arr(other), out=a),
                             _any_requires_grad(other))

    return method


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _attach():
    T = Tensor
    # The arithmetic operators are the Functions' apply itself (no Python frame before forward).
    T.__add__, T.__radd__ = _C.op_method(Add), _C.op_method(Add, reflected=True)
    T.__sub__, T.__rsub__ = _C.op_method(Sub), _C.op_method(Sub, reflected=True)
    T.__mul__, T.__rmul__ = _C.op_method(Mul), _C.op_method(Mul, reflected=True)
    T.__truediv__, T.__rtruediv__ = _C.op_method(Div), _C.op_method(Div, reflected=True)
    T.__floordiv__, T.__rfloordiv__ = floor_divide, _reflected(floor_divide)
    T.__mod__, T.__rmod__ = remainder, _reflected(remainder)
    T.__pow__, T.__rpow__ = pow, _reflected(pow)
    T.__neg__, T.__pos__, T.__abs__ = _C.op_method(Neg), lambda self: self, abs
    T.__eq__, T.__ne__, T.__lt__, T.__le__, T.__gt__, T.__ge__ = eq, ne, lt, le, gt, ge
    T.__and__, T.__or__, T.__xor__ = bitwise_and, bitwise_or, bitwise_xor
    T.__rand__, T.__ror__, T.__rxor__ = _reflected(bitwise_and), _reflected(bitwise_or), _reflected(bitwise_xor)
    T.__invert__ = T.bitwise_not = bitwise_not
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
    for name in ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"]:
        setattr(T, name, globals()[name])
    T.greater, T.less, T.greater_equal, T.less_equal, T.not_equal = gt, lt, ge, le, ne
    for name, op in [("neg", U.neg), ("abs", U.abs), ("sign", U.sign), ("exp", U.exp), ("exp2", U.exp2),
                     ("expm1", U.expm1), ("log", U.log), ("log2", U.log2), ("log1p", U.log1p), ("sqrt", U.sqrt),
                     ("rsqrt", U.rsqrt), ("reciprocal", U.reciprocal), ("sin", U.sin), ("cos", U.cos),
                     ("tanh", U.tanh), ("sigmoid", U.sigmoid), ("erf", U.erf), ("floor", U.floor), ("ceil", U.ceil),
                     ("round", U.round), ("trunc", U.trunc), ("logical_not", U.logical_not)]:
        fn = globals()[name]
        setattr(T, name, fn)
        setattr(T, name + "_", lambda self, fn=fn, op=op: apply_inplace(self, fn, lambda a: _C.unary(op, a, out=a)))
    T.negative = T.neg
    T.where = lambda self, cond, other: where(cond, self, other)
    T.clamp = clamp
    T.clip = clamp
    T.clamp_ = lambda self, min=None, max=None: apply_inplace(
        self, lambda x: clamp(x, min, max), lambda a: _C.clamp(a, _arr(min), _arr(max), out=a),
        _any_requires_grad(min, max))
    T.clip_ = T.clamp_
    T.isnan, T.isinf, T.isfinite, T.isposinf, T.isneginf = isnan, isinf, isfinite, isposinf, isneginf


_attach()


# ------------------------------------------------------------------------------ composed math
# Functions composed of the ops above, so they run on every device. A Function wraps a
# composition where the composition's own gradient would be NaN or wrong somewhere (its
# forward runs unrecorded). Integer and bool inputs of float-valued functions promote to
# float32, as torch.
_LN10 = math.log(10.0)


def _floating(x):
    return x if x.dtype.is_floating_point else x.to(_C.float32)


def _float_type(a, b):
    dtype = _C.result_type(_arr(a), _arr(b))
    return dtype if dtype.is_floating_point else _C.float32


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


def _composed_function(name, compute, grad):
    """A Function computing compute(x) from other ops, with backward grad(g, x)."""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return compute(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return grad(g, x)

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


class Hypot(Function):
    """sqrt(a^2 + b^2), with no square to overflow or underflow."""

    @staticmethod
    def forward(ctx, a, b):
        a_abs, b_abs = abs(a), abs(b)
        hi, lo = maximum(a_abs, b_abs), minimum(a_abs, b_abs)
        q = div(lo, hi)
        h = where(eq(lo, 0), hi, mul(hi, sqrt(add(mul(q, q), 1.0))))
        h = where(logical_or(isinf(a_abs), isinf(b_abs)), math.inf, h)  # even beside a NaN, as C's hypot
        ctx.save_for_backward(a, b)
        ctx.out = h.detach()
        ctx.metas = _metas(ctx.needs_input_grad, a, b)
        return h

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        # 0 at a = b = 0 (torch: NaN), the subgradient norm takes there
        scale = where(eq(ctx.out, 0), 0.0, div(g, ctx.out))
        return _grad_for(mul(scale, a), ctx.metas[0]), _grad_for(mul(scale, b), ctx.metas[1])


class Fmod(Function):
    """C's fmod: a - b * trunc(a / b), with a's sign."""

    @staticmethod
    def forward(ctx, a, b):
        _save_operands(ctx, a, b, keep_a=ctx.needs_input_grad[1], keep_b=ctx.needs_input_grad[1])
        ctx.metas = _metas(ctx.needs_input_grad, a, b)
        if _C.result_type(_arr(a), _arr(b)).is_floating_point:
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
        ga = _grad_for(mul(g, xlogy(ne(a, 0), b)), x) if x else None  # 0 where x == 0, as torch
        # x == 0 makes the product 0 for every y: no gradient (torch: NaN at y == 0)
        gb = _grad_for(where(eq(a, 0), 0.0, mul(g, div(a, b))), y) if y else None
        return ga, gb


def square(x):
    return mul(x, x) if x.dtype != _C.bool else pow(x, 2)  # torch: bool squares to int64


def log10(x):
    return mul(log(x), 1.0 / _LN10)


def _float_function_of(cls):
    def fn(x):
        return cls.apply(_floating(x))

    fn.__name__ = cls.__name__.lower()
    return fn


sinh, cosh, sinc = _float_function_of(Sinh), _float_function_of(Cosh), _float_function_of(Sinc)
asin, acos = _float_function_of(Asin), _float_function_of(Acos)
asinh, acosh, atanh = _float_function_of(Asinh), _float_function_of(Acosh), _float_function_of(Atanh)


def tan(x):
    return div(sin(x), cos(x))


def atan(x):
    return atan2(x, 1.0)


def hypot(a, b):
    dtype = _C.result_type(_arr(a), _arr(b))
    if not dtype.is_floating_point:
        raise NotImplementedError(f"hypot: not implemented for {dtype} inputs (torch has no integer hypot)")
    return Hypot.apply(a.to(dtype), b.to(dtype))


def fmod(a, b):
    return Fmod.apply(a, b)


def frac(x):
    return sub(x, trunc(x))


def lerp(start, end, weight):
    # torch's two forms: each is exact at its own end (weight 0, weight 1)
    diff = sub(end, start)
    if not isinstance(weight, Tensor):
        return add(start, mul(diff, weight)) if -0.5 < weight < 0.5 else sub(end, mul(diff, 1.0 - weight))
    return where(lt(abs(weight), 0.5), add(start, mul(diff, weight)), sub(end, mul(diff, sub(1.0, weight))))


def addcmul(x, tensor1, tensor2, value=1):
    return add(x, mul(tensor1, tensor2), alpha=value)


def addcdiv(x, tensor1, tensor2, value=1):
    return add(x, div(tensor1, tensor2), alpha=value)


def _logaddexp(a, b, exp_fn, scale, name):
    dtype = _C.result_type(_arr(a), _arr(b))
    if not dtype.is_floating_point:
        raise NotImplementedError(f"{name}: not implemented for {dtype} inputs (torch has no integer {name})")
    m = maximum(a, b)
    out = add(m, mul(log1p(exp_fn(neg(abs(sub(a, b))))), scale))
    return where(logical_and(eq(a, b), isinf(a)), a, out)  # inf - inf would make it NaN


def logaddexp(a, b):
    return _logaddexp(a, b, exp, 1.0, "logaddexp")


def logaddexp2(a, b):
    return _logaddexp(a, b, exp2, 1.0 / _LN2, "logaddexp2")


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    if not x.dtype.is_floating_point:
        return x.clone()
    info = finfo(x.dtype)
    x = where(isnan(x), nan, x)
    x = where(isposinf(x), info.max if posinf is None else posinf, x)
    return where(isneginf(x), info.min if neginf is None else neginf, x)


def clamp_min(x, min):
    return clamp(x, min=min)


def clamp_max(x, max):
    return clamp(x, max=max)


def copysign(a, b):
    """|a| with b's sign (a NaN b counts as positive)."""
    mag = abs(a.to(_float_type(a, b)))
    if not isinstance(b, Tensor):
        return neg(mag) if math.copysign(1.0, b) < 0 else mag
    return where(_signbit(b), neg(mag), mag)


def deg2rad(x):
    return mul(_floating(x), math.pi / 180.0)


def rad2deg(x):
    return mul(_floating(x), 180.0 / math.pi)


def xlogy(a, b):
    from ..creation import full_like

    # A number becomes a tensor of the dtype the op would give it, as torch wraps it
    if not isinstance(a, Tensor):
        a = full_like(b, a, dtype=_C.result_type(a, _arr(b)))
    if not isinstance(b, Tensor):
        b = full_like(a, b, dtype=_C.result_type(_arr(a), b))
    return Xlogy.apply(a, b)


def float_power(a, b):
    """pow computed in float64, as torch (complex numbers are not supported)."""
    return pow(*(v.to(_C.float64) if isinstance(v, Tensor) else v for v in (a, b)))


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    if a.dtype != b.dtype:
        raise TypeError(f"isclose(): expected both inputs to have the same dtype, got {a.dtype.name} and "
                        f"{b.dtype.name}")
    close = eq(a, b)
    if equal_nan and a.dtype.is_floating_point:
        close = logical_or(close, logical_and(isnan(a), isnan(b)))
    if rtol == 0 and atol == 0:
        return close
    if a.dtype == _C.bool:
        a, b = a.to(_C.float32), b.to(_C.float32)
    error = sub(maximum(a, b), minimum(a, b))  # |a - b|, with no unsigned wrap-around
    return logical_or(close, logical_and(isfinite(error), le(error, add(abs(mul(b, rtol)), atol))))


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return isclose(a, b, rtol, atol, equal_nan).all().item()


def equal(a, b):
    """Same shape and values (NaN equals nothing)."""
    return a.shape == b.shape and eq(a, b).all().item()


def positive(x):
    if x.dtype == _C.bool:
        raise TypeError("positive: the `+` operator, on a bool tensor is not supported")
    return x


sgn, negative, absolute = sign, neg, abs
multiply, subtract, divide, true_divide = mul, sub, div, div
arcsin, arccos, arctan, arctan2 = asin, acos, atan, atan2
arcsinh, arccosh, arctanh = asinh, acosh, atanh


def _inplace(fn):
    """fn(self, ...) as an in-place method: computed out of place and copied in, where its
    dtype can go (no float into an integer tensor, nothing but bool into a bool one)."""

    def kernel(a, args, kwargs):
        out = fn(Tensor._wrap(a), *args, **kwargs)
        if (out.dtype.is_floating_point and not a.dtype.is_floating_point
                or a.dtype == _C.bool and out.dtype != _C.bool):
            raise RuntimeError(f"[{fn.__name__}] result type {out.dtype.name} can't be cast to the desired "
                               f"output type {a.dtype.name}")
        a.copy_(out._data)

    def method(self, *args, **kwargs):
        # recorded on a clone: the composition's inner ops may save self, which is about to change
        return apply_inplace(self, lambda x: fn(x.clone(), *args, **kwargs), lambda a: kernel(a, args, kwargs),
                             _any_requires_grad(*args, *kwargs.values()))

    return method


def _float_power_(self, exponent):
    if self.dtype != _C.float64:
        raise RuntimeError(f"[float_power_] the base has dtype {self.dtype.name}, but the result requires float64")
    return _inplace(float_power)(self, exponent)


def _attach_math():
    T = Tensor
    for name in ["square", "log10", "sinh", "cosh", "tan", "asin", "acos", "atan", "asinh", "acosh", "atanh",
                 "sinc", "frac", "deg2rad", "rad2deg", "nan_to_num", "hypot", "fmod", "copysign", "xlogy", "lerp",
                 "addcmul", "addcdiv"]:
        fn = globals()[name]
        setattr(T, name, fn)
        setattr(T, name + "_", _inplace(fn))
    for name in ["logaddexp", "logaddexp2", "float_power", "isclose", "allclose", "equal", "positive", "clamp_min",
                 "clamp_max"]:
        setattr(T, name, globals()[name])
    T.float_power_ = _float_power_
    T.clamp_min_ = lambda self, min: self.clamp_(min=min)
    T.clamp_max_ = lambda self, max: self.clamp_(max=max)
    for alias, name in [("sgn", "sign"), ("negative", "neg"), ("absolute", "abs"), ("multiply", "mul"),
                        ("subtract", "sub"), ("divide", "div"), ("true_divide", "div"), ("arcsin", "asin"),
                        ("arccos", "acos"), ("arctan", "atan"), ("arctan2", "atan2"), ("arcsinh", "asinh"),
                        ("arccosh", "acosh"), ("arctanh", "atanh")]:
        setattr(T, alias, getattr(T, name))
        setattr(T, alias + "_", getattr(T, name + "_"))


_attach_math()
