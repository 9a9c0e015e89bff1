"""Special functions (torch.special's): erfinv, lgamma, digamma, polygamma, xlog1py, heaviside,
erfc, erfcx, ndtr, log_ndtr, ndtri, i0, i0e, i1, i1e, entr, multigammaln, spherical_bessel_j0,
gammainc, gammaincc (igamma, igammac: these two computed in numpy on the host), the rest composed
from elementwise ops so they run on any device. The gamma family shifts x up by
_SHIFT with the recurrence, then sums an asymptotic series, accurate to float64 rounding there;
x < 0.5 goes through the reflection formula; it computes in float64 whatever the dtype.
Also result_type, kthvalue and histc (here, beside the other composed ops of this change)."""

import collections
import math
from fractions import Fraction

import numpy as np

from .. import _C
from ..autograd import Function
from ..tensor import Tensor
from ..typeinfo import finfo
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


# ------------------------------------------------------------------------------ erfc, erfcx
_SQRT_PI = math.sqrt(math.pi)
_ERFCX_TERMS = 50  # Laplace's continued fraction converges to float64 rounding at x >= 2 in 50 terms
_HALF_BITS = 2.0 ** 16


def _erfcx_fraction(x):
    """erfcx(x) = 1 / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))), for x >= 2."""
    t = x
    for k in range(_ERFCX_TERMS, 0, -1):
        t = ew.add(x, ew.div(k / 2, t))
    return ew.div(1 / _SQRT_PI, t)


def _times_exp_square(v, x, scale):
    """v * exp(scale * x^2), with x^2 split as h^2 + (x - h)(x + h), h = x to 16 fractional
    bits (h^2 exact): x * x's rounding, amplified by exp, would cost x^2 ulps. The two half
    factors keep it finite (or one rounding to subnormal) as far as the result is. Beyond
    |x| = 40, exp(scale * x^2) is 0 or inf in float64 (|scale| >= 1/2): x is clamped there,
    where the split would multiply 0 by inf."""
    x = ew.clamp(x, -40.0, 40.0)
    h = ew.div(ew.round(ew.mul(x, _HALF_BITS)), _HALF_BITS)
    half = ew.exp(ew.mul(ew.mul(h, h), scale * 0.5))
    rest = ew.exp(ew.mul(ew.mul(ew.sub(x, h), ew.add(x, h)), scale))
    return ew.mul(ew.mul(ew.mul(v, rest), half), half)


def _erfc(x):
    # below 2, 1 - erf(x) loses at most 2.4e-14 relative (erfc(2) = 0.0047)
    far = _times_exp_square(_erfcx_fraction(x), x, -1.0)
    return ew.where(ew.lt(x, 2.0), ew.sub(1.0, ew.erf(x)), far)


def _erfcx(x):
    near = _times_exp_square(ew.sub(1.0, ew.erf(x)), x, 1.0)
    return ew.where(ew.lt(x, 2.0), near, _erfcx_fraction(x))


# ------------------------------------------------------------------------------ normal distribution
_SQRT_HALF = math.sqrt(0.5)
_SQRT_2PI = math.sqrt(2 * math.pi)


def _ndtr(x):
    """erfc(-x / sqrt(2)) / 2, accurate in the left tail (torch's (1 + erf) / 2 is 0 below -8.3)."""
    t = ew.mul(x, -_SQRT_HALF)
    # the tail's exp(-x^2 / 2) from x itself: from t, t's rounding would cost x^2 / 2 ulps
    far = _times_exp_square(ew.mul(_erfcx_fraction(t), 0.5), x, -0.5)
    return ew.where(ew.lt(t, 2.0), ew.mul(ew.sub(1.0, ew.erf(t)), 0.5), far)


def _log_ndtr(x):
    t = ew.mul(x, _SQRT_HALF)
    # as torch: the left tail through erfcx, so that it does not underflow to log(0)
    left = ew.sub(ew.log(ew.mul(_erfcx(ew.neg(t)), 0.5)), ew.mul(t, t))
    return ew.where(ew.lt(x, -1.0), left, ew.log1p(ew.mul(_erfc(t), -0.5)))


# Cephes ndtri (as torch): rational approximations, highest degree first
_NDTRI_P0 = [-5.99633501014107895267E1, 9.80010754185999661536E1, -5.66762857469070293439E1,
             1.39312609387279679503E1, -1.23916583867381258016E0]
_NDTRI_Q0 = [1.0, 1.95448858338141759834E0, 4.67627912898881538453E0, 8.63602421390890590575E1,
             -2.25462687854119370527E2, 2.00260212380060660359E2, -8.20372256168333339912E1,
             1.59056225126211695515E1, -1.18331621121330003142E0]
_NDTRI_P1 = [4.05544892305962419923E0, 3.15251094599893866154E1, 5.71628192246421288162E1,
             4.40805073893200834700E1, 1.46849561928858024014E1, 2.18663306850790267539E0,
             -1.40256079171354495875E-1, -3.50424626827848203418E-2, -8.57456785154685413611E-4]
_NDTRI_Q1 = [1.0, 1.57799883256466749731E1, 4.53907635128879210584E1, 4.13172038254672030440E1,
             1.50425385692907503408E1, 2.50464946208309415979E0, -1.42182922854787788574E-1,
             -3.80806407691578277194E-2, -9.33259480895457427372E-4]
_NDTRI_P2 = [3.23774891776946035970E0, 6.91522889068984211695E0, 3.93881025292474443415E0,
             1.33303460815807542389E0, 2.01485389549179081538E-1, 1.23716634817820021358E-2,
             3.01581553508235416007E-4, 2.65806974686737550832E-6, 6.23974539184983293730E-9]
_NDTRI_Q2 = [1.0, 6.02427039364742014255E0, 3.67983563856160859403E0, 1.37702099489081330271E0,
             2.16236993594496635890E-1, 1.34204006088543189037E-2, 3.28014464682127739104E-4,
             2.89247864745380683936E-6, 6.79019408009981274425E-9]
_EXP_MINUS_2 = math.exp(-2)


def _ratio(x, num, den):
    return ew.div(_series(x, num[::-1]), _series(x, den[::-1]))


def _ndtri(p):
    upper = ew.gt(p, 1 - _EXP_MINUS_2)
    y = ew.where(upper, ew.sub(1.0, p), p)  # the tail nearer p, exactly
    c = ew.sub(y, 0.5)
    c2 = ew.mul(c, c)
    central = ew.mul(ew.add(c, ew.mul(c, ew.mul(c2, _ratio(c2, _NDTRI_P0, _NDTRI_Q0)))), _SQRT_2PI)
    r = ew.sqrt(ew.mul(ew.log(y), -2.0))
    z = ew.reciprocal(r)
    correction = ew.mul(z, ew.where(ew.lt(r, 8.0), _ratio(z, _NDTRI_P1, _NDTRI_Q1), _ratio(z, _NDTRI_P2, _NDTRI_Q2)))
    tail = ew.sub(ew.sub(r, ew.div(ew.log(r), r)), correction)
    tail = ew.where(upper, tail, ew.neg(tail))
    out = ew.where(ew.gt(y, _EXP_MINUS_2), central, tail)
    out = ew.where(ew.logical_or(ew.lt(p, 0.0), ew.gt(p, 1.0)), math.nan, out)
    return ew.where(ew.eq(p, 0.0), -math.inf, ew.where(ew.eq(p, 1.0), math.inf, out))


# ------------------------------------------------------------------------------ modified Bessel i0, i1
# Cephes (as torch): Chebyshev series of exp(-x) I(x) on [0, 8] and of exp(-x) sqrt(x) I(x) on (8, inf)
_I0E_A = [-4.41534164647933937950E-18, 3.33079451882223809783E-17, -2.43127984654795469359E-16,
          1.71539128555513303061E-15, -1.16853328779934516808E-14, 7.67618549860493561688E-14,
          -4.85644678311192946090E-13, 2.95505266312963983461E-12, -1.72682629144155570723E-11,
          9.67580903537323691224E-11, -5.18979560163526290666E-10, 2.65982372468238665035E-9,
          -1.30002500998624804212E-8, 6.04699502254191894932E-8, -2.67079385394061173391E-7,
          1.11738753912010371815E-6, -4.41673835845875056359E-6, 1.64484480707288970893E-5,
          -5.75419501008210370398E-5, 1.88502885095841655729E-4, -5.76375574538582365885E-4,
          1.63947561694133579842E-3, -4.32430999505057594430E-3, 1.05464603945949983183E-2,
          -2.37374148058994688156E-2, 4.93052842396707084878E-2, -9.49010970480476444210E-2,
          1.71620901522208775349E-1, -3.04682672343198398683E-1, 6.76795274409476084995E-1]
_I0E_B = [-7.23318048787475395456E-18, -4.83050448594418207126E-18, 4.46562142029675999901E-17,
          3.46122286769746109310E-17, -2.82762398051658348494E-16, -3.42548561967721913462E-16,
          1.77256013305652638360E-15, 3.81168066935262242075E-15, -9.55484669882830764870E-15,
          -4.15056934728722208663E-14, 1.54008621752140982691E-14, 3.85277838274214270114E-13,
          7.18012445138366623367E-13, -1.79417853150680611778E-12, -1.32158118404477131188E-11,
          -3.14991652796324136454E-11, 1.18891471078464383424E-11, 4.94060238822496958910E-10,
          3.39623202570838634515E-9, 2.26666899049817806459E-8, 2.04891858946906374183E-7,
          2.89137052083475648297E-6, 6.88975834691682398426E-5, 3.36911647825569408990E-3,
          8.04490411014108831608E-1]
_I1E_A = [2.77791411276104639959E-18, -2.11142121435816608115E-17, 1.55363195773620046921E-16,
          -1.10559694773538630805E-15, 7.60068429473540693410E-15, -5.04218550472791168711E-14,
          3.22379336594557470981E-13, -1.98397439776494371520E-12, 1.17361862988909016308E-11,
          -6.66348972350202774223E-11, 3.62559028155211703701E-10, -1.88724975172282928790E-9,
          9.38153738649577178388E-9, -4.44505912879632808065E-8, 2.00329475355213526229E-7,
          -8.56872026469545474066E-7, 3.47025130813767847674E-6, -1.32731636560394358279E-5,
          4.78156510755005422638E-5, -1.61760815825896745588E-4, 5.12285956168575772895E-4,
          -1.51357245063125314899E-3, 4.15642294431288815669E-3, -1.05640848946261981558E-2,
          2.47264490306265168283E-2, -5.29459812080949914269E-2, 1.02643658689847095384E-1,
          -1.76416518357834055153E-1, 2.52587186443633654823E-1]
_I1E_B = [7.51729631084210481353E-18, 4.41434832307170791151E-18, -4.65030536848935832153E-17,
          -3.20952592199342395980E-17, 2.96262899764595013876E-16, 3.30820231092092828324E-16,
          -1.88035477551078244854E-15, -3.81440307243700780478E-15, 1.04202769841288027642E-14,
          4.27244001671195135429E-14, -2.10154184277266431302E-14, -4.08355111109219731823E-13,
          -7.19855177624590851209E-13, 2.03562854414708950722E-12, 1.41258074366137813316E-11,
          3.25260358301548823856E-11, -1.89749581235054123450E-11, -5.58974346219658380687E-10,
          -3.83538038596423702205E-9, -2.63146884688951950684E-8, -2.51223623787020892529E-7,
          -3.88256480887769039346E-6, -1.10588938762623716291E-4, -9.76109749136146840777E-3,
          7.78576235018280120474E-1]


def _chebyshev(t, coeffs):
    """Cephes' chbevl: sum of coeffs' Chebyshev series at t, by Clenshaw's recurrence."""
    b0, b1, b2 = coeffs[0], 0.0, 0.0
    for c in coeffs[1:]:
        b2, b1 = b1, b0
        b0 = ew.add(ew.sub(ew.mul(t, b1), b2), c)
    return ew.mul(ew.sub(b0, b2), 0.5)


def _scaled_bessel(x, near, far, times_x):
    """exp(-|x|) I(|x|) from the Chebyshev series near (|x| <= 8, times |x| for I1) and far."""
    a = ew.abs(x)
    small = _chebyshev(ew.sub(ew.mul(a, 0.5), 2.0), near)
    large = ew.div(_chebyshev(ew.sub(ew.div(32.0, a), 2.0), far), ew.sqrt(a))
    return ew.where(ew.le(a, 8.0), ew.mul(small, a) if times_x else small, large)


def _unscaled(scaled, x):
    """scaled * exp(|x|), in two halves: finite as far as I(x) is (torch overflows from 709.8).
    At +-inf, NaN, as torch (exp(inf) times the scaled value's 0)."""
    half = ew.exp(ew.mul(ew.abs(x), 0.5))
    return ew.where(ew.isinf(x), math.nan, ew.mul(ew.mul(scaled, half), half))


def _odd(out, x):
    return ew.where(ew.lt(x, 0.0), ew.neg(out), out)


def _i0e(x):
    return _scaled_bessel(x, _I0E_A, _I0E_B, False)


def _i1e(x):
    return _odd(_scaled_bessel(x, _I1E_A, _I1E_B, True), x)


def _i0(x):
    return _unscaled(_i0e(x), x)


def _i1(x):
    return _odd(_unscaled(_scaled_bessel(x, _I1E_A, _I1E_B, True), x), x)


def _bessel_i1_slope(g, x, i1_x, scaled):
    """torch's i1 (scaled: i1e) backward: i0(x) - i1(x) / x (i0e(x) - i1e(x) (sgn(x) + 1 / x)),
    0.5 where |x| <= eps, whose quotient would be 0 / 0."""
    not_tiny = ew.gt(ew.abs(x), finfo(x.dtype).eps)
    safe_x = ew.where(not_tiny, x, finfo(x.dtype).eps)
    if scaled:
        slope = ew.sub(i0e(safe_x), ew.mul(i1_x, ew.add(ew.sign(safe_x), ew.reciprocal(safe_x))))
    else:
        slope = ew.sub(i0(safe_x), ew.div(i1_x, safe_x))
    return ew.mul(g, ew.where(not_tiny, slope, 0.5))


# ------------------------------------------------------------------------------ entr, spherical_bessel_j0
def _entr(x):
    """-x log x; 0 at 0, -inf below, NaN at NaN (as torch)."""
    out = ew.where(ew.eq(x, 0.0), 0.0, ew.mul(ew.neg(x), ew.log(x)))
    return ew.where(ew.lt(x, 0.0), -math.inf, out)


_J0_SERIES = [1.0, -1 / 6, 1 / 120, -1 / 5040, 1 / 362880, -1 / 39916800, 1 / 6227020800]


def _spherical_bessel_j0(x):
    """sin(x) / x; its Taylor series below 0.5 (as torch), 0 at +-inf."""
    near = _series(ew.mul(x, x), _J0_SERIES)
    out = ew.where(ew.lt(ew.abs(x), 0.5), near, ew.div(ew.sin(x), x))
    return ew.where(ew.isinf(x), 0.0, out)


# ------------------------------------------------------------------------------ gammainc, gammaincc
# On the host in numpy (float64), elementwise: the series, the continued fraction and the small-a
# series for Q each run only on the elements that need them, until each has converged.
_EPS = 2.0 ** -53
_MAX_TERMS = 100000
# lgamma(1 + a) = -gamma a + sum_k>=2 (-1)^k zeta(k) / k a^k, for |a| <= 0.5: zeta(k) - 1 summed
# (to 1e-17 from 50 terms and the Euler-Maclaurin tail), then the coefficients for Horner's rule
_EULER_GAMMA = 0.5772156649015329


def _zeta_minus_one(k):
    n = 50
    head = math.fsum(j ** -k for j in range(2, n))
    return head + math.fsum([n ** (1 - k) / (k - 1), 0.5 * n ** -k, k / 12 * n ** (-k - 1),
                             -k * (k + 1) * (k + 2) / 720 * n ** (-k - 3),
                             k * (k + 1) * (k + 2) * (k + 3) * (k + 4) / 30240 * n ** (-k - 5)])


_LGAMMA1P = [0.0, -_EULER_GAMMA] + [(-1) ** k * (1 + _zeta_minus_one(k)) / k for k in range(2, 60)]


def _lgamma1p_near_zero(a):
    """lgamma(1 + a) for |a| <= 0.5, without the rounding of 1 + a."""
    total = np.full_like(a, _LGAMMA1P[-1])
    for c in reversed(_LGAMMA1P[:-1]):
        total = total * a + c
    return total


_lgamma_np = np.frompyfunc(math.lgamma, 1, 1)


def _lgamma_float64(a):
    return _lgamma_np(a).astype(np.float64) if a.size else a.copy()


def _log1pmx_neg(x, a):
    """t - log1p(t) (>= 0) for t = (x - a) / a, as t - log(x / a) (1 + t would round off x's
    digits where x << a), or where t is small: with u = t / (2 + t), log1p(t) is
    2 atanh(u) = 2 (u + u^3 / 3 + ...) and t = 2u / (1 - u), so t - log1p(t) is
    2u^2 / (1 - u) - 2 (u^3 / 3 + u^5 / 5 + ...): no cancellation (|t| < 0.5: |u| < 1/3)."""
    t = (x - a) / a
    out = t - np.log(x / a)
    near = np.abs(t) < 0.5
    u = t[near] / (2.0 + t[near])
    u2 = u * u
    odd = np.zeros_like(u)
    for k in range(20, 0, -1):  # sum_k u^(2k - 2) / (2k + 1), k >= 1
        odd = odd * u2 + 1.0 / (2 * k + 1)
    out[near] = 2.0 * u2 / (1.0 - u) - 2.0 * u2 * u * odd
    return out


# Binet's function mu(a) = lgamma(a) - (a - 1/2) log a + a - log(2 pi) / 2, for a >= 10
def _binet(a):
    r = 1.0 / a
    return r * np.polyval(_LGAMMA[::-1], r * r)


def _log_prefactor(a, x):
    """log(x^a e^-x / Gamma(a)). For a >= 10 from Stirling's formula, as
    log(a / 2pi) / 2 - a (t - log1p(t)) - mu(a), t = (x - a) / a: a log x - x - lgamma(a)
    would cancel (terms of a log a) where x is near a."""
    out = np.empty_like(a)
    big = a >= 10.0
    ab, xb = a[big], x[big]
    out[big] = 0.5 * np.log(ab / (2 * math.pi)) - ab * _log1pmx_neg(xb, ab) - _binet(ab)
    small = ~big
    out[small] = a[small] * np.log(x[small]) - x[small] - _lgamma_float64(a[small])
    return out


def _iterate(state, step, done):
    """Run step on the elements whose done is False until every element is done."""
    active = np.arange(done.size)[~done]
    for _ in range(_MAX_TERMS):
        if not active.size:
            break
        finished = step(active)
        active = active[~finished]


def _lower_series(a, x):
    """P(a, x) = x^a e^-x / Gamma(a + 1) sum_n x^n / ((a + 1) ... (a + n)): positive terms."""
    term = np.ones_like(a)
    total = np.ones_like(a)
    denom = a.copy()
    active = np.arange(a.size)
    for _ in range(_MAX_TERMS):
        if not active.size:
            break
        denom[active] += 1.0
        term[active] *= x[active] / denom[active]
        total[active] += term[active]
        active = active[term[active] > _EPS * total[active]]
    return np.exp(_log_prefactor(a, x)) * total / a


def _upper_fraction(a, x):
    """Q(a, x) = x^a e^-x / Gamma(a) / (x + 1 - a - 1 (1 - a) / (x + 3 - a - 2 (2 - a) / ...)),
    by the modified Lentz method; for x > 1.1, x >= a."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = np.full_like(a, 1.0 / tiny)
    d = 1.0 / b
    h = d.copy()
    active = np.arange(a.size)
    i = 0
    for _ in range(_MAX_TERMS):
        if not active.size:
            break
        i += 1
        aa, bb = a[active], b[active] + 2.0
        b[active] = bb
        an = -i * (i - aa)
        dd = an * d[active] + bb
        dd = np.where(np.abs(dd) < tiny, tiny, dd)
        cc = bb + an / c[active]
        cc = np.where(np.abs(cc) < tiny, tiny, cc)
        dd = 1.0 / dd
        delta = dd * cc
        d[active], c[active] = dd, cc
        h[active] *= delta
        active = active[np.abs(delta - 1.0) > _EPS]
    return np.exp(_log_prefactor(a, x)) * h


def _upper_series(a, x):
    """Q(a, x) for small a and x <= 1.1: 1 - x^a / Gamma(a + 1) + x^a / Gamma(a) sum_n>=1
    (-x)^n / (n! (a + n)) (Cephes' igamc_series), with 1 - x^a / Gamma(a + 1) as
    -expm1(a log x - lgamma(1 + a))."""
    fac = np.ones_like(a)
    total = np.zeros_like(a)
    for n in range(1, 200):
        fac *= -x / n
        term = fac / (a + n)
        total += term
        if np.all(np.abs(term) <= _EPS * np.abs(total)):
            break
    log_x = np.log(x)
    lgamma1p = np.where(np.abs(a) <= 0.5, _lgamma1p_near_zero(np.minimum(a, 0.5)), _lgamma_float64(a + 1.0))
    return -np.expm1(a * log_x - lgamma1p) - np.exp(a * log_x - lgamma1p + np.log(a)) * total


_LARGE_A = 1e9
_erfc_np = np.frompyfunc(math.erfc, 1, 1)


def _uniform(a, x, upper):
    """Q(a, x) (not upper: P(a, x)) for a >= _LARGE_A by Temme's uniform expansion (DLMF 8.12.3-8.12.4) to its first
    term: erfc(eta sqrt(a / 2)) / 2 + exp(-a eta^2 / 2) / sqrt(2 pi a) c0(eta) (P: erfc(-eta ...) / 2
    less the same), with
    eta^2 / 2 = t - log1p(t), t = x / a - 1 (eta of t's sign) and c0 = -1/3 + eta / 12 -
    2 eta^2 / 135 + eta^3 / 864. The next term is c1 / a (|c1| ~ 1/540) times the same factor:
    below 1e-17 of Q; wherever |eta| > 0.05, the exponential is 0 and c0 needs no accuracy.
    The series and continued fraction would take ~10 sqrt(a) terms here."""
    half_eta2 = _log1pmx_neg(x, a)
    eta = np.sign(x - a) * np.sqrt(2.0 * half_eta2)
    e = np.clip(eta, -0.05, 0.05)
    c0 = -1.0 / 3 + e * (1.0 / 12 + e * (-2.0 / 135 + e / 864))
    sign = 1.0 if upper else -1.0
    lead = 0.5 * _erfc_np(sign * eta * np.sqrt(0.5 * a)).astype(np.float64) if a.size else a.copy()
    return lead + sign * np.exp(-a * half_eta2) / np.sqrt(2 * math.pi * a) * c0


def _gammainc_numpy(a, x, upper):
    """P(a, x) (upper: Q(a, x)) over broadcast float64 arrays, with torch's (Cephes') values at
    the edges: NaN for a < 0 or x < 0, and for a == x == 0; P = 1 at a == 0 < x; P = 0 at x == 0
    (a > 0 or NaN); P = 0 at a == inf > x; NaN at a == x == inf; P = 1 at x == inf > a."""
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    a, x = a.ravel(), x.ravel()
    out = np.full(a.shape, np.nan)
    with np.errstate(all="ignore"):
        ok = ~((x < 0) | (a < 0))
        zero_a = ok & (a == 0)
        out[zero_a & (x > 0)] = 1.0
        rest = ok & ~zero_a
        zero_x = rest & (x == 0)
        out[zero_x] = 0.0
        rest &= ~zero_x
        inf_a = rest & np.isinf(a)
        out[inf_a & ~np.isinf(x)] = 0.0
        rest &= ~inf_a
        inf_x = rest & np.isinf(x)
        out[inf_x] = 1.0
        rest &= ~inf_x & ~np.isnan(a) & ~np.isnan(x)
        # here out holds P; Q = 1 - P is exact for these values (NaN stays NaN)
        if upper:
            out = 1.0 - out
        av, xv = a[rest], x[rest]
        # Cephes' choice of method (as torch's), but the asymptotic expansion only for a >= 1e9:
        # torch's (and scipy's) for a ~ x from a = 20 up loses up to 1e-5 relative at a = 1e6
        uniform = av >= _LARGE_A
        fraction = ~uniform & (xv > 1.1) & (xv >= av)
        q_series = ~uniform & ~fraction & (xv <= 1.1) & np.where(xv <= 0.5, av <= -0.4 / np.log(xv), av <= xv * 1.1)
        p_series = ~uniform & ~fraction & ~q_series
        value = np.empty_like(av)
        value[fraction] = _upper_fraction(av[fraction], xv[fraction])
        value[q_series] = _upper_series(av[q_series], xv[q_series])
        value[p_series] = _lower_series(av[p_series], xv[p_series])
        is_q = fraction | q_series
        flip = (~is_q if upper else is_q) & ~uniform
        value[flip] = 1.0 - value[flip]
        value[uniform] = _uniform(av[uniform], xv[uniform], upper)
        out[rest] = np.clip(value, 0.0, 1.0)
    return out


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

Erfc = _special_function("Erfc", _in_float64(_erfc),
                         lambda g, x, y: ew.mul(g, ew.mul(ew.exp(ew.neg(ew.mul(x, x))), -2 / _SQRT_PI)))
Erfcx = _special_function("Erfcx", _in_float64(_erfcx),
                          lambda g, x, y: ew.mul(g, ew.sub(ew.mul(ew.mul(x, y), 2.0), 2 / _SQRT_PI)))
Ndtr = _special_function("Ndtr", _in_float64(_ndtr),
                         lambda g, x, y: ew.mul(g, ew.div(ew.exp(ew.mul(ew.mul(x, x), -0.5)), _SQRT_2PI)))
LogNdtr = _special_function("LogNdtr", _in_float64(_log_ndtr), lambda g, x, y: ew.mul(
    g, ew.div(ew.exp(ew.neg(ew.add(y, ew.mul(ew.mul(x, x), 0.5)))), _SQRT_2PI)))
Ndtri = _special_function("Ndtri", _in_float64(_ndtri),
                          lambda g, x, y: ew.mul(g, ew.mul(ew.exp(ew.mul(ew.mul(y, y), 0.5)), _SQRT_2PI)))
I0 = _special_function("I0", _in_float64(_i0), lambda g, x, y: ew.mul(g, i1(x)))
I0e = _special_function("I0e", _in_float64(_i0e),
                        lambda g, x, y: ew.mul(g, ew.sub(i1e(x), ew.mul(ew.sign(x), y))))
I1 = _special_function("I1", _in_float64(_i1), lambda g, x, y: _bessel_i1_slope(g, x, y, scaled=False))
I1e = _special_function("I1e", _in_float64(_i1e), lambda g, x, y: _bessel_i1_slope(g, x, y, scaled=True))
Entr = _special_function("Entr", _entr, lambda g, x, y: ew.mul(g, ew.neg(ew.add(ew.log(x), 1.0))))


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


def _float_function_of(cls):
    def fn(x):
        return cls.apply(_floating(x))

    fn.__name__ = cls.__name__.lower()
    return fn


erfc, erfcx, ndtr, log_ndtr, ndtri = (_float_function_of(c) for c in (Erfc, Erfcx, Ndtr, LogNdtr, Ndtri))
i0, i0e, i1, i1e, entr = (_float_function_of(c) for c in (I0, I0e, I1, I1e, Entr))
log_ndtr.__name__ = "log_ndtr"


def multigammaln(x, p):
    """log of the multivariate gamma function of dimension p: sum_j lgamma(x - j / 2) plus
    p (p - 1) / 4 log(pi). No domain check (torch 2.13 has none either)."""
    if p < 1:
        raise ValueError(f"multigammaln: p has to be greater than or equal to 1, got {p}")
    x = _floating(x)
    out = lgamma(x)
    for j in range(1, p):
        out = ew.add(out, lgamma(ew.sub(x, j / 2)))
    return ew.add(out, p * (p - 1) / 4 * math.log(math.pi))


def _detached(compute):
    """compute(x) in float64, cast back, untracked: torch gives these no gradient."""
    return lambda x: _in_float64(compute)(_floating(x)).detach()


spherical_bessel_j0 = _detached(_spherical_bessel_j0)
modified_bessel_i0, modified_bessel_i1 = _detached(_i0), _detached(_i1)


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


# torch's dtype names, for its error on integer operands of igamma / igammac
_TORCH_DTYPE_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
                      "bool": "Bool"}


class Igamma(Function):
    """P(a, x) (upper: Q(a, x)), computed in float64 numpy on the host and cast back. Backward,
    as torch: d/dx P = exp((a - 1) log x - x - lgamma(a)) (Q: its negative); the derivative in a
    raises NotImplementedError."""

    @staticmethod
    def forward(ctx, a, x, upper):
        ctx.save_for_backward(a, x)
        ctx.upper = upper
        host = [v.detach().to(_C.float64).cpu().numpy() for v in (a, x)]
        out = _gammainc_numpy(*host, upper).reshape(np.broadcast_shapes(host[0].shape, host[1].shape))
        from ..creation import tensor

        return tensor(out, dtype=_C.float64).to(a.dtype).to(a.device)

    @staticmethod
    def backward(ctx, g):
        from .reduce import sum_to_shape

        a, x = ctx.saved_tensors
        name = "igammac" if ctx.upper else "igamma"
        if ctx.needs_input_grad[0]:
            raise NotImplementedError(f"the derivative for '{name}: input' is not implemented.")
        gx = None
        if ctx.needs_input_grad[1]:
            density = ew.exp(ew.sub(ew.sub(ew.mul(ew.sub(a.detach(), 1.0), ew.log(x)), x), lgamma(a.detach())))
            gx = sum_to_shape(ew.mul(g, ew.neg(density) if ctx.upper else density), x.shape)
        return None, gx, None


def _promoted_operands(name, input, other):
    """input and other as tensors (a number becomes one of the dtype the op would give it, as
    xlogy's), and their promoted dtype."""
    from ..creation import full_like

    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError(f"{name}(): expected a tensor argument, got {type(input).__name__} and "
                        f"{type(other).__name__}")
    if not isinstance(input, Tensor):
        input = full_like(other, input, dtype=_C.result_type(input, other._data))
    elif not isinstance(other, Tensor):
        other = full_like(input, other, dtype=_C.result_type(input._data, other))
    return input, other, _C.result_type(input._data, other._data)


def _igamma(input, other, upper):
    name = "igammac" if upper else "igamma"
    input, other, dtype = _promoted_operands(name, input, other)
    if not dtype.is_floating_point:
        raise NotImplementedError(f'"{name}_cpu" not implemented for '
                                  f"'{_TORCH_DTYPE_NAMES.get(dtype.name, dtype.name)}'")
    return Igamma.apply(input.to(dtype), other.to(dtype), upper)


def gammainc(input, other):
    """The regularized lower incomplete gamma function P(a, x), a = input, x = other (torch's
    igamma). Float64 accuracy about 1e-13 relative (see _gammainc_numpy); a gradient in x only."""
    return _igamma(input, other, False)


def gammaincc(input, other):
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x) (torch's igammac)."""
    return _igamma(input, other, True)


igamma, igammac = gammainc, gammaincc


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
    from ..tensor import _wrap_dim
    from .sort import sort

    dim = _wrap_dim(dim, input.ndim)
    size = input.shape[dim] if input.ndim else 1
    if size == 0:
        raise IndexError(f"kthvalue(): Expected reduction dim {dim} to have non-zero size.")
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
    from .elementwise_math import _inplace

    for name in ["lgamma", "digamma", "erfinv", "xlog1py", "heaviside", "kthvalue", "histc"]:
        setattr(Tensor, name, globals()[name])
    for name in ["lgamma", "digamma", "erfinv", "heaviside"]:
        setattr(Tensor, name + "_", _inplace(globals()[name]))
    Tensor.polygamma = lambda self, n: polygamma(n, self)
    Tensor.polygamma_ = _inplace(Tensor.polygamma)
    for name in ["erfc", "i0"]:
        setattr(Tensor, name, globals()[name])
        setattr(Tensor, name + "_", _inplace(globals()[name]))
    Tensor.mvlgamma = multigammaln
    for name in ["igamma", "igammac"]:
        setattr(Tensor, name, globals()[name])
        setattr(Tensor, name + "_", _inplace(globals()[name]))
    Tensor.mvlgamma_ = _inplace(multigammaln)


_attach()
