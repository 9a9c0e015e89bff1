"""torch.special's Bessel and Airy functions (bessel_j0/j1/y0/y1, modified_bessel_k0/k1 and
their scaled forms, airy_ai), Hurwitz zeta and the classical orthogonal polynomials (Chebyshev
T/U/V/W and shifted, Hermite H/He, Laguerre L, Legendre P), evaluated on the host in float64
numpy over the broadcast operands and cast back. torch gives none of them a gradient but zeta's
in its second argument."""

import math

import numpy as np

from .. import _C
from ..autograd import Function
from ..tensor import Tensor
from . import elementwise as ew
from .special import _BERNOULLI, _EULER_GAMMA, _floating, _promoted_operands

_PI = math.pi
_TWO_OVER_PI = 2.0 / math.pi
_SQRT1_2 = math.sqrt(0.5)


def _host(t):
    return t.detach().to(_C.float64).cpu().numpy()


def _to_tensor(values, dtype, device):
    from ..creation import tensor

    return tensor(np.asarray(values, dtype=np.float64), dtype=_C.float64).to(dtype).to(device)


_CHUNK = 4096  # elements per block of the quadratures (their work arrays are blocks x points)


def _chunked(compute):
    """compute over the flattened array in blocks, so that its work arrays stay small."""
    def run(x):
        flat = np.asarray(x, dtype=np.float64).reshape(-1)
        out = np.empty_like(flat)
        for start in range(0, flat.size, _CHUNK):
            out[start:start + _CHUNK] = compute(flat[start:start + _CHUNK])
        return out.reshape(np.shape(x))
    return run


def _host_unary(compute, name):
    compute = _chunked(compute)

    def fn(input):
        x = _floating(input)
        with np.errstate(all="ignore"):
            out = compute(_host(x))
        return _to_tensor(out, x.dtype, x.device).detach()

    fn.__name__ = name
    fn.__doc__ = f"torch.special.{name}, in float64 on the host (no gradient, as torch)."
    return fn


def _bessel_j_all(x, order):
    """J_0 .. J_order at |x| <= 25 (x a 1-D array) from Jacobi-Anger: the Fourier coefficients of
    exp(i x sin t) are J_n(x); the trapezoid rule over a period with M > |x| + 60 points gives them
    to rounding (the aliased J_{n +- M} are below it)."""
    m = 128
    t = 2 * _PI * np.arange(m) / m
    coeffs = np.fft.fft(np.exp(1j * np.multiply.outer(x, np.sin(t))), axis=-1) / m
    # exp(i x sin t) = sum_n J_n e^{i n t}: the DFT with e^{-2 pi i j k / m} picks J_k at index k
    return coeffs[..., :order + 1].real


def _hankel_pq(x, nu):
    """The Hankel asymptotic series P, Q of order nu at large x (x >= 25: converged to rounding)."""
    mu = 4.0 * nu * nu
    p = np.ones_like(x)
    q = np.zeros_like(x)
    term = np.ones_like(x)
    for k in range(1, 60):
        term = term * (mu - (2 * k - 1) ** 2) / (k * 8.0 * x)
        if k % 2:
            q += term if (k // 2) % 2 == 0 else -term
        else:
            p += term if (k // 2) % 2 == 0 else -term
        if np.all(np.abs(term) < 1e-17):
            break
    return p, q


def _jy(x, n, want_y):
    """J_n(x) (want_y False) or Y_n(x) for n in (0, 1): J by Jacobi-Anger (and Y from J by
    Neumann's series) for |x| <= 25, by Hankel's expansion beyond."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    a = np.abs(x)
    near = np.isfinite(x) & (a <= 25.0)
    if want_y:
        near &= x > 0
    far = np.isfinite(x) & (a > 25.0)
    if want_y:
        far &= x > 0
    if near.any():
        xs = a[near]
        js = _bessel_j_all(xs, 64)
        if not want_y:
            out[near] = js[:, n]
        else:
            log_term = np.log(xs / 2) + _EULER_GAMMA
            k = np.arange(1, 32)
            sign = np.where(k % 2, -1.0, 1.0)
            if n == 0:
                series = (sign / k * js[:, 2 * k]).sum(axis=-1)
                out[near] = _TWO_OVER_PI * (log_term * js[:, 0] - 2 * series)
            else:
                series = (sign / k * (js[:, 2 * k - 1] - js[:, 2 * k + 1])).sum(axis=-1)
                out[near] = _TWO_OVER_PI * (log_term * js[:, 1] - js[:, 0] / xs + series)
    if far.any():
        xs = a[far]
        p, q = _hankel_pq(xs, n)
        s, c = np.sin(xs), np.cos(xs)
        if n == 0:  # chi = x - pi / 4
            cos_chi, sin_chi = (c + s) * _SQRT1_2, (s - c) * _SQRT1_2
        else:  # chi = x - 3 pi / 4
            cos_chi, sin_chi = (s - c) * _SQRT1_2, -(s + c) * _SQRT1_2
        amp = np.sqrt(_TWO_OVER_PI / xs)
        out[far] = amp * ((p * sin_chi + q * cos_chi) if want_y else (p * cos_chi - q * sin_chi))
    if not want_y and n == 1:
        out = np.where(x < 0, -out, out)
    if want_y:
        out = np.where(x == 0, -np.inf, out)
    return out


def _k_integral(x, nu):
    """exp(x) K_nu(x) = int_0^inf exp(-2 x sinh^2(t / 2)) cosh(nu t) dt by the trapezoid rule
    (spectrally accurate: the integrand is even and analytic), for 0.5 <= x <= 30."""
    h = 0.02
    t = np.arange(0.0, 12.0 + h, h)
    weights = np.full(t.shape, h)
    weights[0] = h / 2
    sinh_half = np.sinh(t / 2)
    integrand = np.exp(-2.0 * np.multiply.outer(x, sinh_half * sinh_half)) * np.cosh(nu * t)
    return integrand @ weights


def _k_asymptotic(x, nu):
    """exp(x) K_nu(x) by its asymptotic series (x > 30: converged to rounding)."""
    mu = 4.0 * nu * nu
    total = np.ones_like(x)
    term = np.ones_like(x)
    for k in range(1, 80):
        term = term * (mu - (2 * k - 1) ** 2) / (k * 8.0 * x)
        total += term
        if np.all(np.abs(term) < 1e-17 * np.abs(total)):
            break
    return np.sqrt(_PI / (2 * x)) * total


def _k_series(x, n):
    """K_0, K_1 at 0 < x <= 2 from their power series (Abramowitz and Stegun 9.6.11)."""
    y = x * x / 4
    log_half = np.log(x / 2)
    term = np.ones_like(x) if n == 0 else x / 2  # (x/2)^n (x^2/4)^k / (k! (n+k)!)
    i_sum = np.zeros_like(x)
    psi_sum = np.zeros_like(x)
    psi_k = -_EULER_GAMMA  # psi(k + 1)
    psi_nk = -_EULER_GAMMA + (1.0 if n == 1 else 0.0)  # psi(n + k + 1)
    for k in range(40):
        if k:
            term = term * y / (k * (n + k))
            psi_k += 1.0 / k
            psi_nk += 1.0 / (n + k)
        i_sum += term
        psi_sum += (psi_k + psi_nk) * term
    if n == 0:
        return -log_half * i_sum + 0.5 * psi_sum
    return 1.0 / x + log_half * i_sum - 0.5 * psi_sum


def _k(x, n, scaled):
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    small = (x > 0) & (x <= 2.0)
    mid = (x > 2.0) & (x <= 30.0)
    large = (x > 30.0) & np.isfinite(x)
    if small.any():
        xs = x[small]
        out[small] = _k_series(xs, n) * (np.exp(xs) if scaled else 1.0)
    if mid.any():
        xs = x[mid]
        out[mid] = _k_integral(xs, n) * (1.0 if scaled else np.exp(-xs))
    if large.any():
        xs = x[large]
        out[large] = _k_asymptotic(xs, n) * (1.0 if scaled else np.exp(-xs))
    out[x == 0] = np.inf
    out[x == np.inf] = 0.0
    return out


# Airy Ai: Maclaurin's series on [-1, 1], Taylor steps along the ODE Ai'' = x Ai from 0 down to
# -10 (stable there: both solutions oscillate), Ai(x) = sqrt(x / 3) K_{1/3}(zeta) / pi beyond 1
# and the oscillatory asymptotic expansion below -10.
_AI0 = 0.355028053887817239260  # Ai(0) = 1 / (3^(2/3) Gamma(2/3))
_AIP0 = -0.258819403792806798405  # Ai'(0) = -1 / (3^(1/3) Gamma(1/3))
_AIRY_STEP = 0.25
_AIRY_NODES = 41  # down to -10


def _airy_taylor(x0, ai, aip, d, terms=40):
    """Ai(x0 + d) from Ai and Ai' at x0: the Taylor coefficients of Ai'' = x Ai,
    c[k + 2] = (x0 c[k] + c[k - 1]) / ((k + 2)(k + 1)). Returns (Ai, Ai') there."""
    c_prev2, c_prev1, c_prev0 = 0.0, ai, aip  # c[-1], c[0], c[1]
    coeffs = [ai, aip]
    for k in range(terms):
        c_next = (x0 * coeffs[k] + (coeffs[k - 1] if k >= 1 else 0.0)) / ((k + 2) * (k + 1))
        coeffs.append(c_next)
    d = np.asarray(d, dtype=np.float64)
    value = np.zeros_like(d)
    slope = np.zeros_like(d)
    for k in range(len(coeffs) - 1, -1, -1):
        value = value * d + coeffs[k]
    for k in range(len(coeffs) - 1, 0, -1):
        slope = slope * d + k * coeffs[k]
    return value, slope


_airy_table_cache = []


def _airy_table():
    if not _airy_table_cache:
        nodes = [(0.0, _AI0, _AIP0)]
        for j in range(1, _AIRY_NODES):
            x0, ai, aip = nodes[-1]
            v, s = _airy_taylor(x0, ai, aip, np.array(-_AIRY_STEP))
            nodes.append((x0 - _AIRY_STEP, float(v), float(s)))
        _airy_table_cache.append(np.array(nodes))
    return _airy_table_cache[0]


def _airy_ai(x):
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    lower = -_AIRY_STEP * (_AIRY_NODES - 1)
    mid = (x <= 1.0) & (x >= lower)
    if mid.any():
        table = _airy_table()
        xs = x[mid]
        j = np.clip(np.rint(-xs / _AIRY_STEP).astype(np.int64), 0, _AIRY_NODES - 1)
        value = np.empty_like(xs)
        for node in np.unique(j):
            sel = j == node
            x0, ai, aip = table[node]
            value[sel] = _airy_taylor(x0, ai, aip, xs[sel] - x0)[0]
        out[mid] = value
    pos = (x > 1.0) & np.isfinite(x)
    if pos.any():
        xs = x[pos]
        zeta = 2.0 / 3.0 * xs * np.sqrt(xs)
        scaled = np.where(zeta <= 30.0, _k_integral(np.minimum(zeta, 30.0), 1.0 / 3.0),
                          _k_asymptotic(np.maximum(zeta, 30.0), 1.0 / 3.0))
        out[pos] = np.sqrt(xs / 3.0) / _PI * scaled * np.exp(-zeta)
    neg = (x < lower) & np.isfinite(x)
    if neg.any():
        r = -x[neg]
        zeta = 2.0 / 3.0 * r * np.sqrt(r)
        even = np.ones_like(r)
        odd = np.zeros_like(r)
        u = 1.0
        for k in range(1, 60):
            u = u * (6 * k - 5) * (6 * k - 3) * (6 * k - 1) / (216.0 * k * (2 * k - 1))
            term = u / zeta ** k
            if k % 2:
                odd += term if (k // 2) % 2 == 0 else -term
            else:
                even += term if (k // 2) % 2 == 0 else -term
            if np.all(np.abs(term) < 1e-17):
                break
        angle = zeta + _PI / 4
        out[neg] = (np.sin(angle) * even - np.cos(angle) * odd) / (math.sqrt(_PI) * np.sqrt(np.sqrt(r)))
    return out


bessel_j0 = _host_unary(lambda x: _jy(x, 0, False), "bessel_j0")
bessel_j1 = _host_unary(lambda x: _jy(x, 1, False), "bessel_j1")
bessel_y0 = _host_unary(lambda x: _jy(x, 0, True), "bessel_y0")
bessel_y1 = _host_unary(lambda x: _jy(x, 1, True), "bessel_y1")
modified_bessel_k0 = _host_unary(lambda x: _k(x, 0, False), "modified_bessel_k0")
modified_bessel_k1 = _host_unary(lambda x: _k(x, 1, False), "modified_bessel_k1")
scaled_modified_bessel_k0 = _host_unary(lambda x: _k(x, 0, True), "scaled_modified_bessel_k0")
scaled_modified_bessel_k1 = _host_unary(lambda x: _k(x, 1, True), "scaled_modified_bessel_k1")
airy_ai = _host_unary(_airy_ai, "airy_ai")


# ------------------------------------------------------------------------------ Hurwitz zeta
# B_2j / (2j)!, for the Euler-Maclaurin tail
_ZETA_EM = [float(b / math.factorial(2 * j)) for j, b in enumerate(_BERNOULLI, 1)]


def _zeta_numpy(s, q):
    """zeta(s, q) = sum_k (q + k)^-s (Cephes' conventions: inf at s == 1 and at q a non-positive
    integer, NaN for s < 1 and for q < 0 with s not an integer). The sum directly until
    q + N >= 9 (and N >= 9), then Euler-Maclaurin from there."""
    s, q = np.broadcast_arrays(np.asarray(s, dtype=np.float64), np.asarray(q, dtype=np.float64))
    out = np.full(s.shape, np.nan)
    ok = (s > 1) & np.isfinite(q) & ~np.isnan(s)
    ok &= ~((q <= 0) & (q == np.floor(q)))
    ok &= ~((q < 0) & (s != np.floor(s)))
    if ok.any():
        ss, qq = s[ok], q[ok]
        total = np.zeros_like(ss)
        shift = int(max(9, np.ceil(9.0 - qq.min())))
        a = qq.copy()
        for _ in range(shift):
            total += a ** -ss
            a += 1.0
        # total += a^(1-s)/(s-1) + a^-s/2 + sum_j B_2j/(2j)! s (s+1)...(s+2j-2) a^(1-s-2j)
        power = a ** -ss
        tail = a * power / (ss - 1.0) + 0.5 * power
        rising = ss.copy()
        term_power = power / a  # a^(-s-1)
        for j, c in enumerate(_ZETA_EM):
            t = c * rising * term_power
            tail += t
            rising = rising * (ss + 2 * j + 1) * (ss + 2 * j + 2)
            term_power = term_power / (a * a)
        out[ok] = total + tail
    out[(s == 1) & ~np.isnan(q)] = np.inf
    out[(s > 1) & (q <= 0) & (q == np.floor(q))] = np.inf
    return out


class Zeta(Function):
    """zeta(x, q) on the host; backward, as torch: the derivative in q is -x zeta(x + 1, q), the
    one in x raises NotImplementedError."""

    @staticmethod
    def forward(ctx, x, q):
        ctx.save_for_backward(x, q)
        with np.errstate(all="ignore"):
            out = _zeta_numpy(_host(x), _host(q))
        return _to_tensor(out, x.dtype, x.device)

    @staticmethod
    def backward(ctx, g):
        from .reduce import sum_to_shape

        x, q = ctx.saved_tensors
        if ctx.needs_input_grad[0]:
            raise NotImplementedError("the derivative for 'zeta' is not implemented.")
        gq = None
        if ctx.needs_input_grad[1]:
            x = x.detach()
            gq = sum_to_shape(ew.mul(g, ew.mul(ew.neg(x), zeta(ew.add(x, 1.0), q.detach()))), q.shape)
        return None, gq


def _binary_operands(name, input, other):
    """input and other as tensors of their promoted floating dtype (a number takes the other's)."""
    input, other, dtype = _promoted_operands(name, input, other)
    if not dtype.is_floating_point:
        dtype = _C.float32
    return input.to(dtype), other.to(dtype)


def zeta(input, other):
    """The Hurwitz zeta function zeta(input, other) = sum_k (other + k)^-input, as
    torch.special.zeta (a gradient in other only)."""
    x, q = _binary_operands("zeta", input, other)
    return Zeta.apply(x, q)


# ------------------------------------------------------------------------------ orthogonal polynomials
def _n_int(n):
    """The degree as torch takes it: truncated toward zero to an integer."""
    n = np.trunc(np.where(np.isfinite(n), n, -1.0))  # non-finite: INT64_MIN in torch's cast, so 0
    return n.astype(np.int64)


def _recurrence(x, n, p0, p1, step):
    """P_n(x) over broadcast x and integer n >= 0 from P_0 = p0, P_1 = p1 and
    P_{k+1} = step(k, x, P_k, P_{k-1})."""
    out = np.where(n == 0, p0, p1)
    top = int(n.max()) if n.size else 0
    prev, cur = p0, p1
    for k in range(1, top):
        prev, cur = cur, step(k, x, cur, prev)
        out = np.where(n == k + 1, cur, out)
    return out


def _chebyshev_step(k, x, cur, prev):
    return 2 * x * cur - prev


def _poly_t(x, n):
    out = _recurrence(x, n, np.ones_like(x), x, _chebyshev_step)
    edge = np.abs(x) == 1
    out = np.where(edge, np.where((x > 0) | (n % 2 == 0), 1.0, -1.0), out)
    return out


def _poly_u(x, n):
    out = _recurrence(x, n, np.ones_like(x), 2 * x, _chebyshev_step)
    edge = np.abs(x) == 1
    return np.where(edge, np.where((x > 0) | (n % 2 == 0), n + 1.0, -(n + 1.0)), out)


def _poly_v(x, n):
    out = _recurrence(x, n, np.ones_like(x), 2 * x - 1, _chebyshev_step)
    edge = np.abs(x) == 1
    return np.where(edge, np.where(x > 0, 1.0, np.where(n % 2 == 0, 2.0 * n + 1, -(2.0 * n + 1))), out)


def _poly_w(x, n):
    out = _recurrence(x, n, np.ones_like(x), 2 * x + 1, _chebyshev_step)
    edge = np.abs(x) == 1
    return np.where(edge, np.where(x > 0, 2.0 * n + 1, np.where(n % 2 == 0, 1.0, -1.0)), out)


def _poly_h(x, n):
    return _recurrence(x, n, np.ones_like(x), 2 * x, lambda k, x, cur, prev: 2 * x * cur - 2 * k * prev)


def _poly_he(x, n):
    return _recurrence(x, n, np.ones_like(x), x, lambda k, x, cur, prev: x * cur - k * prev)


def _poly_l(x, n):
    out = _recurrence(x, n, np.ones_like(x), 1 - x,
                      lambda k, x, cur, prev: ((2 * k + 1 - x) * cur - k * prev) / (k + 1))
    return np.where(x == 0, 1.0, out)


def _poly_p(x, n):
    out = _recurrence(x, n, np.ones_like(x), x,
                      lambda k, x, cur, prev: ((2 * k + 1) * x * cur - k * prev) / (k + 1))
    edge = np.abs(x) == 1
    return np.where(edge, np.where((x > 0) | (n == 0) | (n % 2 == 0), 1.0, -1.0), out)


def _polynomial(name, evaluate, shifted=False):
    def fn(input, n):
        x, degree = _binary_operands(name, input, n)
        with np.errstate(all="ignore"):
            xs, ns = np.broadcast_arrays(_host(x), _host(degree))
            xs = np.array(xs, dtype=np.float64)
            ni = _n_int(ns)
            arg = 2 * xs - 1 if shifted else xs
            out = np.where(ni < 0, 0.0, evaluate(arg, np.maximum(ni, 0)))
        return _to_tensor(out, x.dtype, x.device).detach()

    fn.__name__ = name
    fn.__doc__ = (f"torch.special.{name}(input, n): the degree-n polynomial at input (n truncated to an "
                  "integer; 0 for n < 0), by its three-term recurrence in float64 on the host (no gradient).")
    return fn


chebyshev_polynomial_t = _polynomial("chebyshev_polynomial_t", _poly_t)
chebyshev_polynomial_u = _polynomial("chebyshev_polynomial_u", _poly_u)
chebyshev_polynomial_v = _polynomial("chebyshev_polynomial_v", _poly_v)
chebyshev_polynomial_w = _polynomial("chebyshev_polynomial_w", _poly_w)
shifted_chebyshev_polynomial_t = _polynomial("shifted_chebyshev_polynomial_t", _poly_t, shifted=True)
shifted_chebyshev_polynomial_u = _polynomial("shifted_chebyshev_polynomial_u", _poly_u, shifted=True)
shifted_chebyshev_polynomial_v = _polynomial("shifted_chebyshev_polynomial_v", _poly_v, shifted=True)
shifted_chebyshev_polynomial_w = _polynomial("shifted_chebyshev_polynomial_w", _poly_w, shifted=True)
hermite_polynomial_h = _polynomial("hermite_polynomial_h", _poly_h)
hermite_polynomial_he = _polynomial("hermite_polynomial_he", _poly_he)
laguerre_polynomial_l = _polynomial("laguerre_polynomial_l", _poly_l)
legendre_polynomial_p = _polynomial("legendre_polynomial_p", _poly_p)
