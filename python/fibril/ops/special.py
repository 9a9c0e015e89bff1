"""Special functions (torch.special's): erfinv, lgamma, digamma, polygamma, xlog1py, heaviside,
composed from elementwise ops so they run on any device. The gamma family shifts x up by
_SHIFT with the recurrence, then sums an asymptotic series, accurate to float64 rounding there;
x < 0.5 goes through the reflection formula; it computes in float64 whatever the dtype.
Also result_type, kthvalue and histc (here, beside the other composed ops of this change)."""

import collections
import math
from fractions import Fraction

from .. import _C
from ..autograd import Function
from ..tensor import Tensor
from . import elementwise as ew
from . import index

_SHIFT = 10
# Bernoulli numbers B2, B4, ..., B16
_BERNOULLI = [Fraction(1, 6), Fraction(-1, 30), Fraction(1, 42), Fraction(-1, 30), Fraction(5, 66),
              Fraction(-691, 2730), Fraction(7, 6), Fraction(-3617, 510)]
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _floating(x):
    return x if x.dtype.is_floating_point else x.to(_C.float32)


def _series(r2, coeffs):
    """sum_j coeffs[j] * r2^j by Horner's rule."""
    total = coeffs[-1]
    for c in reversed(coeffs[:-1]):
        total = ew.add(ew.mul(total, r2), c)
    return total


def _reduced(x):
    """x - round(x), in [-0.5, 0.5]: sin(pi x) and tan(pi x) from it keep full accuracy."""
    return ew.sub(x, ew.round(x))


def _reflect(x):
    """(x < 0.5, the argument >= 0.5 to evaluate: x or 1 - x)."""
    small = ew.lt(x, 0.5)
    return small, ew.where(small, ew.sub(1.0, x), x)


# ------------------------------------------------------------------------------ lgamma
# Stirling: lgamma(z) = (z - 1/2) log z - z + log(2 pi) / 2 + sum_j B2j / (2j (2j - 1) z^(2j - 1))
_LGAMMA = [float(b / (2 * j * (2 * j - 1))) for j, b in enumerate(_BERNOULLI[:7], 1)]


def _lgamma_from_half(x):
    """lgamma for x >= 0.5."""
    z = ew.add(x, float(_SHIFT))
    r = ew.reciprocal(z)
    stirling = ew.mul(ew.sub(z, 0.5), ew.log(z)) - z + _HALF_LOG_2PI + ew.mul(r, _series(ew.mul(r, r), _LGAMMA))
    for k in range(_SHIFT):
        stirling = ew.sub(stirling, ew.log(ew.add(x, float(k))))
    return stirling


def _lgamma(x):
    small, y = _reflect(x)
    value = _lgamma_from_half(y)
    reflected = ew.sub(math.log(math.pi) - ew.log(ew.abs(ew.sin(ew.mul(_reduced(x), math.pi)))), value)
    out = ew.where(ew.logical_or(ew.eq(x, 1), ew.eq(x, 2)), 0.0, ew.where(small, reflected, value))  # exact zeros
    return ew.where(ew.isinf(x), math.inf, out)


# ------------------------------------------------------------------------------ digamma
# digamma(z) = log z - 1 / (2z) - sum_j B2j / (2j z^2j)
_DIGAMMA = [float(b / (2 * j)) for j, b in enumerate(_BERNOULLI, 1)]


def _digamma(x):
    small, y = _reflect(x)
    z = ew.add(y, float(_SHIFT))
    r = ew.reciprocal(z)
    r2 = ew.mul(r, r)
    value = ew.log(z) - ew.mul(r, 0.5) - ew.mul(r2, _series(r2, _DIGAMMA))
    for k in range(_SHIFT):
        value = ew.sub(value, ew.reciprocal(ew.add(y, float(k))))
    # digamma(x) = digamma(1 - x) - pi / tan(pi x)
    r_x = ew.mul(_reduced(x), math.pi)
    reflected = ew.sub(value, ew.div(ew.mul(ew.cos(r_x), math.pi), ew.sin(r_x)))
    out = ew.where(small, reflected, value)
    pole = ew.logical_and(ew.le(x, 0), ew.eq(x, ew.floor(x)))  # torch: -1 / x at +-0, NaN at -1, -2, ...
    out = ew.where(pole, ew.where(ew.eq(x, 0), ew.div(-1.0, x), math.nan), out)
    return ew.where(ew.eq(x, math.inf), math.inf, out)


# ------------------------------------------------------------------------------ polygamma, n >= 1
def _hurwitz_zeta(s, x):
    """zeta(s, x) = sum_k (x + k)^-s for an integer s >= 2, by Euler-Maclaurin after the shift."""
    z = ew.add(x, float(_SHIFT))
    r = ew.reciprocal(z)
    r2 = ew.mul(r, r)
    coeffs, rising = [], Fraction(s)  # B2j / (2j)! * s (s + 1) ... (s + 2j - 2)
    for j, b in enumerate(_BERNOULLI, 1):
        coeffs.append(float(b / math.factorial(2 * j) * rising))
        rising *= (s + 2 * j - 1) * (s + 2 * j)
    # z^(1 - s) / (s - 1) + z^-s / 2 + sum_j coeffs[j] z^(1 - s - 2j)
    value = ew.mul(ew.pow(r, float(s - 1)), ew.add(ew.mul(r, 0.5), 1.0 / (s - 1)) + ew.mul(r2, _series(r2, coeffs)))
    for k in range(_SHIFT):
        value = ew.add(value, ew.pow(ew.add(x, float(k)), float(-s)))
    return value


def _polygamma(x, n):
    if n == 0:
        return _digamma(x)
    sign_factorial = (-1) ** (n + 1) * math.factorial(n)
    if n > 1:  # no reflection: accurate for x > -_SHIFT / 2 or so
        return ew.mul(_hurwitz_zeta(n + 1, x), float(sign_factorial))
    # trigamma(x) = pi^2 / sin^2(pi x) - trigamma(1 - x)
    small, y = _reflect(x)
    value = _hurwitz_zeta(2, y)
    sin = ew.sin(ew.mul(_reduced(x), math.pi))
    reflected = ew.sub(ew.div(math.pi ** 2, ew.mul(sin, sin)), value)
    return ew.where(small, reflected, value)


# ------------------------------------------------------------------------------ erfinv
# Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011): float32 accurate
_ERFINV_CENTRAL = [1.50140941, 0.246640727, -0.00417768164, -0.00125372503, 0.00021858087, -4.39150654e-06,
                   -3.5233877e-06, 3.43273939e-07, 2.81022636e-08]
_ERFINV_TAIL = [2.83297682, 1.00167406, 0.00943887047, -0.0076224613, 0.00573950773, -0.00367342844,
                0.00134934322, 0.000100950558, -0.000200214257]
_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2


def _erfinv(y):
    w = ew.neg(ew.log(ew.mul(ew.sub(1.0, y), ew.add(y, 1.0))))
    central = _series(ew.sub(w, 2.5), _ERFINV_CENTRAL)
    tail = _series(ew.sub(ew.sqrt(w), 3.0), _ERFINV_TAIL)
    x = ew.mul(ew.where(ew.lt(w, 5.0), central, tail), y)
    for _ in range(2):  # Newton on erf(x) = y: float64 accuracy (each step squares the error)
        x = ew.sub(x, ew.mul(ew.sub(ew.erf(x), y), ew.mul(ew.exp(ew.mul(x, x)), _SQRT_PI_OVER_2)))
    return ew.where(ew.eq(ew.abs(y), 1.0), ew.mul(y, math.inf), x)


# ------------------------------------------------------------------------------ Functions
def _special_function(name, compute, grad):
    """A Function computing compute(x) (on float x), with backward grad(g, x, y)."""

    def forward(ctx, x):
        y = compute(x)
        ctx.save_for_backward(x, y)
        return y

    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return grad(g, x, y)

    return type(name, (Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})


def _in_float64(compute):
    """compute in float64, cast back: in float32 the shift's sum cancels (lgamma(1.5) = -0.12
    from 12.8 - 12.9) and would leave errors of 1e-5."""
    return lambda x, *args: compute(x.to(_C.float64), *args).to(x.dtype)


Lgamma = _special_function("Lgamma", _in_float64(_lgamma), lambda g, x, y: ew.mul(g, digamma(x)))
Digamma = _special_function("Digamma", _in_float64(_digamma), lambda g, x, y: ew.mul(g, polygamma(1, x)))
Erfinv = _special_function("Erfinv", _erfinv,
                           lambda g, x, y: ew.mul(g, ew.mul(ew.exp(ew.mul(y, y)), _SQRT_PI_OVER_2)))


class Polygamma(Function):
    @staticmethod
    def forward(ctx, x, n):
        ctx.save_for_backward(x)
        ctx.n = n
        return _in_float64(_polygamma)(x, n)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return ew.mul(g, polygamma(ctx.n + 1, x)), None


class Xlog1py(Function):
    """x * log1p(y); 0 where x == 0 unless y is NaN, as torch."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ew.where(ew.isnan(b), math.nan, ew.where(ew.eq(a, 0), 0.0, ew.mul(a, ew.log1p(b))))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        from .reduce import sum_to_shape

        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = ew.where(ew.logical_and(ew.eq(a, 0), ew.le(b, -1)), 0.0, ew.mul(g, ew.log1p(b)))  # as torch
            ga = sum_to_shape(ga, a.shape)
        if ctx.needs_input_grad[1]:
            # x / (1 + y), 0 at x == 0, y == -1 (torch: NaN): the denominator made safe there, not
            # the result masked, so that the derivative in x stays 1 / (1 + y) elsewhere at x == 0
            singular = ew.logical_and(ew.eq(a, 0), ew.eq(b, -1))
            gb = sum_to_shape(ew.div(ew.mul(g, a), ew.where(singular, 1.0, ew.add(b, 1.0))), b.shape)
        return ga, gb


def lgamma(x):
    return Lgamma.apply(_floating(x))


def digamma(x):
    return Digamma.apply(_floating(x))


def polygamma(n, x):
    """The n-th derivative of digamma. n >= 2 has no reflection: accurate for x > -5."""
    if int(n) != n or n < 0:
        raise ValueError(f"polygamma: n must be a non-negative integer, got {n}")
    return Polygamma.apply(_floating(x), int(n))


def erfinv(x):
    return Erfinv.apply(_floating(x))


def xlog1py(a, b):
    from ..creation import full_like

    # a number becomes a tensor of the other operand's (floating) dtype, as torch wraps it
    if not isinstance(a, Tensor):
        b = _floating(b)
        a = full_like(b, a)
    if not isinstance(b, Tensor):
        a = _floating(a)
        b = full_like(a, b)
    dtype = _C.result_type(a._data, b._data)
    dtype = dtype if dtype.is_floating_point else _C.float32
    return Xlog1py.apply(a.to(dtype), b.to(dtype))


def heaviside(input, values):
    """0 where input < 0, 1 where input > 0, values where input == 0 (no gradient, as torch)."""
    if not isinstance(values, Tensor):
        raise TypeError(f"heaviside: values must be a tensor, got {type(values).__name__}")
    if input.dtype != values.dtype:
        raise TypeError(f"heaviside: input and values must have the same dtype, got {input.dtype.name} and "
                        f"{values.dtype.name}")
    step = ew.gt(input, 0).to(input.dtype)
    return ew.where(ew.eq(input, 0), values, step).detach()


# ------------------------------------------------------------------------------ misc
def result_type(a, b):
    """The dtype an arithmetic op on a and b (tensors or numbers) gives, as torch.result_type."""
    return _C.result_type(*(x._data if isinstance(x, Tensor) else x for x in (a, b)))


KthvalueResult = collections.namedtuple("kthvalue", ["values", "indices"])


def kthvalue(input, k, dim=-1, keepdim=False):
    """The k-th smallest value (1-based) along dim and its index; NaN is above every number."""
    from .sort import sort

    size = input.shape[dim] if input.ndim else 1
    if not 1 <= k <= size:
        raise ValueError(f"kthvalue: k = {k} is out of range for dim {dim} of shape {list(input.shape)}")
    if input.ndim == 0:
        return KthvalueResult(input, ew.mul(input, 0).to(_C.int64).detach())
    values, indices = sort(input, dim)
    values, indices = index.narrow(values, dim, k - 1, 1), index.narrow(indices, dim, k - 1, 1)
    if not keepdim:
        values, indices = index.squeeze(values, dim), index.squeeze(indices, dim)
    return KthvalueResult(values, indices)


def histc(input, bins=100, min=0, max=0):
    """Counts of input's values in `bins` equal bins over [min, max] (the data's range when
    min == max); values outside it are ignored. No gradient, as torch."""
    from .gather import bincount, masked_select

    if not input.dtype.is_floating_point:
        raise TypeError(f"histc: expected a floating-point input, got {input.dtype.name}")
    if bins <= 0:
        raise ValueError(f"histc: bins must be > 0, got {bins}")
    if min > max:
        raise ValueError(f"histc: max must be larger than min, got min {min} and max {max}")
    x = input.detach().reshape(-1)
    if min == max and x.numel():
        min, max = x.min().item(), x.max().item()
    if min == max:
        min, max = min - 1, max + 1
    if not (math.isfinite(min) and math.isfinite(max)):
        raise ValueError(f"histc: range of [{min}, {max}] is not finite")
    x = masked_select(x, ew.logical_and(ew.ge(x, min), ew.le(x, max)))
    bin_index = ew.clamp(ew.floor(ew.mul(ew.sub(x, min), bins / (max - min))), max=bins - 1).to(_C.int64)
    return bincount(bin_index, minlength=bins).to(input.dtype)


def _attach():
    for name in ["lgamma", "digamma", "erfinv", "xlog1py", "heaviside", "kthvalue", "histc"]:
        setattr(Tensor, name, globals()[name])
    Tensor.polygamma = lambda self, n: polygamma(n, self)


_attach()
