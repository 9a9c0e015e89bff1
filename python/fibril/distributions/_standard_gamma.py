"""_standard_gamma: Gamma(alpha, 1) samples differentiable in alpha by the implicit
reparameterization gradient dx/dalpha = -(dF/dalpha)(x; alpha) / p(x; alpha) (Jankowiak &
Obermeyer 2018; Figurnov et al. 2018), with F the regularized lower incomplete gamma.

The gradient comes from F's series F = x^a e^-x / Gamma(a + 1) * S, S = sum_n t_n,
t_n = prod_{j<=n} x / (a + j): then F / p = x S / a and
d log F / da = log x - digamma(a + 1) - sum_n t_n H_n / S with H_n = sum_{j<=n} 1 / (a + j),
so dx/da = -(x S / a) * d log F / da. All terms are positive (no alternating cancellation);
S is accumulated with a running rescale so that large x does not overflow. The series takes
about max(x - a, 0) + 10 sqrt(a) terms; d log F / da is a difference that loses relative
accuracy only where 1 - F < ~1e-12 (far upper tail). Against mpmath it is good to ~1e-12
(torch's approximation: ~1e-3)."""

import numpy as np

import fibril
from ..autograd import Function
from .utils import numpy_rng

_RESCALE = 1e150


def _standard_gamma_grad_numpy(x, alpha):
    """dx/dalpha for x ~ Gamma(alpha, 1), elementwise over broadcast float64 arrays (NaN where
    x or alpha is not a finite positive number)."""
    x, alpha = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(alpha, np.float64))
    valid = np.isfinite(x) & np.isfinite(alpha) & (x > 0) & (alpha > 0)
    out = np.full(x.shape, np.nan)
    out[valid] = _series_grad(x[valid], alpha[valid])
    return out


def _series_grad(x, alpha):
    """The series of the module docstring, on 1-d arrays of valid x and alpha."""
    t = np.ones_like(x)
    s, s_h, harmonic = t.copy(), np.zeros_like(x), np.zeros_like(x)
    log_scale = np.zeros_like(x)
    n = 0
    while True:
        n += 1
        t = t * (x / (alpha + n))
        harmonic = harmonic + 1.0 / (alpha + n)
        s, s_h = s + t, s_h + t * harmonic
        big = s > _RESCALE
        if big.any():
            t, s, s_h = [np.where(big, v / _RESCALE, v) for v in (t, s, s_h)]
            log_scale = log_scale + np.where(big, np.log(_RESCALE), 0.0)
        if n > np.max(x - alpha, initial=0.0) and np.all(t * harmonic <= 1e-17 * s_h + 1e-300 * (s_h == 0)):
            break
    digamma_a1 = fibril.digamma(fibril.tensor(alpha + 1.0)).numpy()
    dlog_f = np.log(x) - digamma_a1 - s_h / s
    # x S / a computed in log space: S's rescale may exceed the float range only where F / p does.
    return -np.exp(np.log(x / alpha) + np.log(s) + log_scale) * dlog_f


def _standard_gamma_grad(alpha, x):
    """dx/dalpha at the sample x of Gamma(alpha, 1), as torch._standard_gamma_grad(alpha, x)."""
    grad = _standard_gamma_grad_numpy(x.detach().cpu().numpy(), alpha.detach().cpu().numpy())
    return fibril.tensor(grad, dtype=x.dtype).to(x.device)


class _StandardGamma(Function):
    """Gamma(alpha, 1) samples from numpy's sampler (seeded from fibril's generator), clamped away
    from 0 as torch's; backward: the implicit reparameterization gradient (computed in numpy,
    so not differentiable again, as torch's)."""

    once_differentiable = True

    @staticmethod
    def forward(ctx, alpha):
        values = numpy_rng().standard_gamma(alpha.detach().cpu().numpy())
        out = fibril.tensor(values, dtype=alpha.dtype).reshape(alpha.shape).to(alpha.device)
        out = out.clamp(min=fibril.finfo(out.dtype).tiny)
        ctx.save_for_backward(out, alpha)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, alpha = ctx.saved_tensors
        return grad * _standard_gamma_grad(alpha, x)


def _standard_gamma(concentration):
    """Gamma(concentration, 1) samples, differentiable in concentration (torch._standard_gamma)."""
    return _StandardGamma.apply(concentration)
