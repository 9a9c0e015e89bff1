"""fibril.distributions' reparameterized gamma family, transforms and the further
distributions against torch.distributions in float64: values and gradients, implicit
rsample gradients, sampling moments and supports, transform round trips, expand, KL and
validation errors."""

import numpy as np
import pytest

import fibril
import fibril.distributions as D
from op_check import torch_one_thread  # noqa: F401  (torch on one thread for this module)

torch = pytest.importorskip("torch")
import torch.distributions  # noqa: E402
from distribution_check import (Draws, check_expand_matches_torch, check_kl_matches_torch,  # noqa: E402
                                check_method_matches_torch, check_reprs_and_flags_match_torch,
                                check_validation_error_matches_torch, grad_leaves, samples_like_torch)

DRAWS = Draws(7)
RNG, _u, _pos, _counts = DRAWS.rng, DRAWS.uniform, DRAWS.positive, DRAWS.counts


def _dists(lib):
    return lib.distributions


_TANH_SCALE = _pos(3)

# name: (build(lib, *params), param arrays, value array or None, methods)
CASES = {
    "cauchy": (lambda lib, loc, s: _dists(lib).Cauchy(loc, s), [_u(3), _pos(3)], _u(2, 3),
               ["log_prob", "cdf", "entropy", "mode", "mean", "variance"]),
    "cauchy_icdf": (lambda lib, loc, s: _dists(lib).Cauchy(loc, s), [_u(3), _pos(3)], _u(2, 3, low=0.05, high=0.95),
                    ["icdf"]),
    "half_normal": (lambda lib, s: _dists(lib).HalfNormal(s), [_pos(3)], _pos(2, 3),
                    ["log_prob", "cdf", "entropy", "mean", "mode", "variance"]),
    "half_normal_icdf": (lambda lib, s: _dists(lib).HalfNormal(s), [_pos(3)], _u(2, 3, low=0.05, high=0.95),
                         ["icdf"]),
    "half_cauchy": (lambda lib, s: _dists(lib).HalfCauchy(s), [_pos(3)], _pos(2, 3),
                    ["log_prob", "cdf", "entropy", "mean", "mode", "variance"]),
    "half_cauchy_icdf": (lambda lib, s: _dists(lib).HalfCauchy(s), [_pos(3)], _u(2, 3, low=0.05, high=0.95),
                         ["icdf"]),
    "log_normal": (lambda lib, loc, s: _dists(lib).LogNormal(loc, s), [_u(3), _pos(3)], _pos(2, 3),
                   ["log_prob", "cdf", "entropy", "mean", "mode", "variance"]),
    "log_normal_icdf": (lambda lib, loc, s: _dists(lib).LogNormal(loc, s), [_u(3), _pos(3)],
                        _u(2, 3, low=0.05, high=0.95), ["icdf"]),
    "gumbel": (lambda lib, loc, s: _dists(lib).Gumbel(loc, s), [_u(3), _pos(3)], _u(2, 3),
               ["log_prob", "cdf", "entropy", "mean", "mode", "variance", "stddev"]),
    "gumbel_icdf": (lambda lib, loc, s: _dists(lib).Gumbel(loc, s), [_u(3), _pos(3)], _u(2, 3, low=0.05, high=0.95),
                    ["icdf"]),
    "weibull": (lambda lib, s, c: _dists(lib).Weibull(s, c), [_pos(3), _pos(3)], _pos(2, 3),
                ["log_prob", "cdf", "entropy", "mean", "mode", "variance"]),
    "pareto": (lambda lib, s, a: _dists(lib).Pareto(s, a), [_pos(3), _pos(3) * 2], _pos(2, 3) + 2.5,
               ["log_prob", "cdf", "entropy", "mean", "mode", "variance"]),
    "student_t": (lambda lib, df, loc, s: _dists(lib).StudentT(df, loc, s), [_pos(3) * 2, _u(3), _pos(3)],
                  _u(2, 3), ["log_prob", "entropy", "mean", "mode", "variance"]),
    "student_t_low_df": (lambda lib, df: _dists(lib).StudentT(df), [np.array([0.5, 1.5, 3.0])], None,
                         ["mean", "variance"]),
    "chi2": (lambda lib, df: _dists(lib).Chi2(df), [_pos(3) * 2], _pos(2, 3),
             ["log_prob", "entropy", "mean", "mode", "variance", "df"]),
    "poisson": (lambda lib, r: _dists(lib).Poisson(r), [_pos(3) * 2], _counts(2, 3),
                ["log_prob", "mean", "mode", "variance"]),
    "geometric_probs": (lambda lib, p: _dists(lib).Geometric(probs=p), [_u(3, low=0.1, high=0.9)], _counts(2, 3),
                        ["log_prob", "entropy", "mean", "mode", "variance", "logits"]),
    "geometric_logits": (lambda lib, lg: _dists(lib).Geometric(logits=lg), [_u(3)], _counts(2, 3),
                         ["log_prob", "entropy", "mean", "variance", "probs"]),
    "binomial_probs": (lambda lib, p: _dists(lib).Binomial(5, probs=p), [_u(3, low=0.1, high=0.9)], _counts(2, 3),
                       ["log_prob", "entropy", "mean", "mode", "variance", "logits"]),
    "binomial_logits": (lambda lib, n, lg: _dists(lib).Binomial(n, logits=lg), [np.array([3.0, 5.0, 8.0]), _u(3)],
                        np.array([[0.0, 2.0, 8.0], [3.0, 5.0, 1.0]]), ["log_prob", "mean", "mode", "variance"]),
    "negative_binomial": (lambda lib, n, p: _dists(lib).NegativeBinomial(n, probs=p),
                          [_pos(3), _u(3, low=0.1, high=0.9)], _counts(2, 3),
                          ["log_prob", "mean", "mode", "variance", "logits"]),
    "negative_binomial_logits": (lambda lib, n, lg: _dists(lib).NegativeBinomial(n, logits=lg), [_pos(3), _u(3)],
                                 _counts(2, 3), ["log_prob", "mean", "variance", "probs"]),
    "multinomial": (lambda lib, p: _dists(lib).Multinomial(4, probs=p), [_pos(2, 3)],
                    np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 4.0]]), ["log_prob", "entropy", "mean", "variance"]),
    "multinomial_logits": (lambda lib, lg: _dists(lib).Multinomial(3, logits=lg), [_u(3)],
                           np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]]), ["log_prob", "probs"]),
    "mixture_normal": (lambda lib, w, loc, s: _dists(lib).MixtureSameFamily(
        _dists(lib).Categorical(logits=w), _dists(lib).Normal(loc, s)), [_u(2, 3), _u(2, 3), _pos(2, 3)],
        _u(4, 2), ["log_prob", "cdf", "mean", "variance"]),
    "mixture_mvn": (lambda lib, w, loc: _dists(lib).MixtureSameFamily(
        _dists(lib).Categorical(probs=w), _dists(lib).Independent(_dists(lib).Normal(loc, 1.0), 1)),
        [_pos(3), _u(3, 2)], _u(4, 2), ["log_prob", "mean", "variance"]),
    "lowrank_mvn": (lambda lib, loc, w, d: _dists(lib).LowRankMultivariateNormal(loc, w, d),
                    [_u(2, 3), _u(3, 2), _pos(3)], _u(4, 2, 3),
                    ["log_prob", "entropy", "variance", "scale_tril", "covariance_matrix", "precision_matrix"]),
    "transformed_sigmoid": (lambda lib, loc, s: _dists(lib).TransformedDistribution(
        _dists(lib).Normal(loc, s), [_dists(lib).transforms.SigmoidTransform()]), [_u(3), _pos(3)],
        _u(2, 3, low=0.05, high=0.95), ["log_prob", "cdf"]),
    "transformed_tanh_affine": (lambda lib, loc, s, a: _dists(lib).TransformedDistribution(
        _dists(lib).Normal(loc, s), [_dists(lib).transforms.TanhTransform(),
                                     _dists(lib).transforms.AffineTransform(1.0, a)]),
        [_u(3), _pos(3), -_TANH_SCALE], 1.0 - _TANH_SCALE * _u(2, 3, low=-0.9, high=0.9), ["log_prob", "cdf"]),
    "transformed_stick_breaking": (lambda lib, loc, s: _dists(lib).TransformedDistribution(
        _dists(lib).Normal(loc, s), _dists(lib).transforms.StickBreakingTransform()), [_u(2, 3), _pos(2, 3)],
        RNG.dirichlet([1.0, 2.0, 3.0, 1.5], size=(4, 2)), ["log_prob"]),
}


# torch's Multinomial entropy takes lgamma(total_count + 1) of an int64 tensor: in float32.
RTOL = {"multinomial": 1e-7}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_torch(name):
    build, params, value, methods = CASES[name]
    for method in methods:
        check_method_matches_torch(build, params, value, method, rtol=RTOL.get(name, 1e-10),
                                   grad_rtol=max(RTOL.get(name, 1e-8), 1e-8))


# ------------------------------------------------------------------------------ implicit gamma gradient
@pytest.mark.parametrize("alpha", [0.05, 0.4, 1.0, 3.0, 20.0, 400.0])
def test_standard_gamma_grad_matches_torch_on_fixed_samples(alpha):
    stats = pytest.importorskip("scipy.stats")
    x = stats.gamma.ppf([1e-4, 0.05, 0.3, 0.5, 0.8, 0.99], alpha)
    got = D._standard_gamma_grad(fibril.full((6,), alpha, dtype=fibril.float64), fibril.tensor(x)).numpy()
    ref = torch._standard_gamma_grad(torch.full((6,), alpha, dtype=torch.float64), torch.tensor(x)).numpy()
    np.testing.assert_allclose(got, ref, rtol=2e-3)  # torch's own approximation is good to ~1e-3


def test_standard_gamma_grad_matches_the_finite_difference_of_the_cdf():
    special, stats = pytest.importorskip("scipy.special"), pytest.importorskip("scipy.stats")
    alpha = np.array([0.03, 0.5, 2.0, 7.0, 150.0])
    x = stats.gamma.ppf(0.7, alpha)
    h = 1e-6 * alpha
    d_cdf = (special.gammainc(alpha + h, x) - special.gammainc(alpha - h, x)) / (2 * h)
    expected = -d_cdf / stats.gamma.pdf(x, alpha)
    np.testing.assert_allclose(D._standard_gamma_grad(fibril.tensor(alpha), fibril.tensor(x)).numpy(), expected,
                               rtol=1e-6)


M = 40000


def _mean_gradient(build, params):
    """d/dparams of the mean of M rsamples (one seed), as numpy arrays."""
    fibril.manual_seed(0)
    leaves = grad_leaves(fibril, params)
    build(*leaves).rsample((M,)).mean(0).sum().backward()
    return [leaf.grad.numpy() for leaf in leaves]


def test_gamma_rsample_mean_gradient_is_the_mean_derivative():
    alpha, rate = np.array([0.3, 1.0, 4.0]), np.array([0.5, 2.0, 1.0])
    d_alpha, d_rate = _mean_gradient(D.Gamma, [alpha, rate])
    # E = alpha / rate; the sample's alpha-gradient has sd about sqrt(alpha) / rate
    np.testing.assert_array_less(np.abs(d_alpha - 1 / rate), 5 * np.sqrt(np.maximum(alpha, 1)) / rate / np.sqrt(M))
    np.testing.assert_allclose(d_rate, -alpha / rate ** 2, rtol=0.05)


def test_beta_and_dirichlet_rsample_mean_gradients_are_the_mean_derivatives():
    a, b = np.array([0.5, 2.0]), np.array([1.5, 0.7])
    d_a, d_b = _mean_gradient(D.Beta, [a, b])
    np.testing.assert_allclose(d_a, b / (a + b) ** 2, rtol=0.05)
    np.testing.assert_allclose(d_b, -a / (a + b) ** 2, rtol=0.05)
    c = np.array([0.4, 1.0, 3.0])
    fibril.manual_seed(0)
    leaf = fibril.tensor(c, requires_grad=True)
    weights = np.array([1.0, -2.0, 0.5])
    (D.Dirichlet(leaf).rsample((M,)) * fibril.tensor(weights)).sum(-1).mean().backward()
    total = c.sum()
    expected = (weights * total - (weights * c).sum()) / total ** 2  # d/dc of sum_i w_i c_i / total
    np.testing.assert_allclose(leaf.grad.numpy(), expected, rtol=0.05, atol=0.01)


def test_dirichlet_second_moment_gradient_matches_torch_in_expectation():
    c = np.array([0.7, 1.5, 2.5])
    grads = []
    for lib in (fibril, torch):
        lib.manual_seed(0)
        leaf = lib.tensor(c, requires_grad=True)
        (lib.distributions.Dirichlet(leaf).rsample((M,)) ** 2).sum(-1).mean().backward()
        grads.append(leaf.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=0.05, atol=0.01)


def test_gamma_family_has_rsample_as_torch():
    for dist in (D.Gamma(fibril.tensor([2.0]), fibril.tensor([1.0])), D.Beta(2.0, 3.0),
                 D.Dirichlet(fibril.tensor([1.0, 2.0])), D.Chi2(fibril.tensor([3.0]))):
        assert dist.has_rsample
        assert dist.rsample((2,)).shape[0] == 2
    alpha = fibril.tensor([2.0], requires_grad=True)
    assert D._standard_gamma(alpha).requires_grad
    assert not D.Gamma(alpha, 1.0).sample().requires_grad


# ------------------------------------------------------------------------------ sampling
N = 40000
SAMPLING_CASES = {
    "half_normal": lambda lib: lib.distributions.HalfNormal(lib.tensor([0.5, 2.0])),
    "log_normal": lambda lib: lib.distributions.LogNormal(lib.tensor([0.0, -1.0]), lib.tensor([0.3, 0.5])),
    "gumbel": lambda lib: lib.distributions.Gumbel(lib.tensor([0.5, -1.0]), lib.tensor([1.0, 0.3])),
    "weibull": lambda lib: lib.distributions.Weibull(lib.tensor([1.0, 2.0]), lib.tensor([1.5, 3.0])),
    "pareto": lambda lib: lib.distributions.Pareto(lib.tensor([1.0, 2.0]), lib.tensor([5.0, 6.0])),
    "student_t": lambda lib: lib.distributions.StudentT(lib.tensor([6.0, 9.0]), lib.tensor([0.5, -1.0])),
    "chi2": lambda lib: lib.distributions.Chi2(lib.tensor([1.0, 4.0])),
    "poisson": lambda lib: lib.distributions.Poisson(lib.tensor([0.5, 4.0])),
    "geometric": lambda lib: lib.distributions.Geometric(lib.tensor([0.3, 0.8])),
    "binomial": lambda lib: lib.distributions.Binomial(lib.tensor([3.0, 10.0]), lib.tensor([0.3, 0.8])),
    "negative_binomial": lambda lib: lib.distributions.NegativeBinomial(lib.tensor([3.0, 1.5]),
                                                                        lib.tensor([0.3, 0.6])),
    "multinomial": lambda lib: lib.distributions.Multinomial(5, lib.tensor([0.2, 0.5, 0.3])),
    "mixture": lambda lib: lib.distributions.MixtureSameFamily(
        lib.distributions.Categorical(lib.tensor([0.3, 0.7])),
        lib.distributions.Normal(lib.tensor([-1.0, 2.0]), lib.tensor([0.5, 1.0]))),
    "lowrank_mvn": lambda lib: lib.distributions.LowRankMultivariateNormal(
        lib.tensor([1.0, -1.0]), lib.tensor([[1.0], [0.5]]), lib.tensor([0.5, 2.0])),
    "stick_breaking": lambda lib: lib.distributions.TransformedDistribution(
        lib.distributions.Normal(lib.zeros(2), 1.0), lib.distributions.transforms.StickBreakingTransform()),
}


@pytest.mark.parametrize("name", sorted(SAMPLING_CASES))
def test_sample_moments_and_support_match_torch(name):
    x, _, ref_x = samples_like_torch(SAMPLING_CASES[name], N)
    mean, var = ref_x.mean(0), ref_x.var(0)  # torch's own sample moments (some lack closed forms here)
    np.testing.assert_array_less(np.abs(x.mean(0) - mean), 6 * np.sqrt(2 * var / N) + 1e-6)
    np.testing.assert_array_less(np.abs(x.var(0) - var), 6 * var * np.sqrt(16 / N) + 1e-6)


RSAMPLE_CASES = {
    "log_normal": (lambda lib, a, b: lib.distributions.LogNormal(a, b), [_u(2), _pos(2)]),
    "half_normal": (lambda lib, a: lib.distributions.HalfNormal(a), [_pos(2)]),
    "half_cauchy": (lambda lib, a: lib.distributions.HalfCauchy(a), [_pos(2)]),
    "cauchy": (lambda lib, a, b: lib.distributions.Cauchy(a, b), [_u(2), _pos(2)]),
    "weibull": (lambda lib, a, b: lib.distributions.Weibull(a, b), [_pos(2), _pos(2)]),
    "pareto": (lambda lib, a, b: lib.distributions.Pareto(a, b), [_pos(2), _pos(2)]),
    "gumbel": (lambda lib, a, b: lib.distributions.Gumbel(a, b), [_u(2), _pos(2)]),
    "lowrank_mvn": (lambda lib, a, b, c: lib.distributions.LowRankMultivariateNormal(a, b, c),
                    [_u(2), _u(2, 1), _pos(2)]),
    "student_t": (lambda lib, a, b, c: lib.distributions.StudentT(a, b, c), [_pos(2), _u(2), _pos(2)]),
    "chi2": (lambda lib, a: lib.distributions.Chi2(a), [_pos(2)]),
}


@pytest.mark.parametrize("name", sorted(RSAMPLE_CASES))
def test_rsample_flags_and_gradients(name):
    build, params = RSAMPLE_CASES[name]
    leaves = grad_leaves(fibril, params)
    dist = build(fibril, *leaves)
    assert dist.has_rsample == build(torch, *map(torch.tensor, params)).has_rsample
    if dist.has_rsample:
        dist.rsample((3,)).sum().backward()
        assert all(np.all(np.isfinite(x.grad.numpy())) for x in leaves)


# ------------------------------------------------------------------------------ transforms
TRANSFORMS = {
    "exp": (lambda T: T.ExpTransform(), _u(4, 3)),
    "sigmoid": (lambda T: T.SigmoidTransform(), _u(4, 3)),
    "tanh": (lambda T: T.TanhTransform(), _u(4, 3)),
    "affine": (lambda T: T.AffineTransform(0.5, -2.0), _u(4, 3)),
    "affine_event": (lambda T: T.AffineTransform(0.3, 1.5, event_dim=1), _u(4, 3)),
    "power": (lambda T: T.PowerTransform(4.0), _pos(4, 3)),  # 1 / 4 exact in float32
    "stick_breaking": (lambda T: T.StickBreakingTransform(), _u(4, 3)),
    "compose": (lambda T: T.ComposeTransform([T.AffineTransform(1.0, 2.0), T.ExpTransform(),
                                              T.PowerTransform(0.5)]), _u(4, 3)),
    "inverse": (lambda T: T.ExpTransform().inv, _pos(4, 3)),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transform_round_trip_and_jacobian_match_torch(name):
    build, x = TRANSFORMS[name]
    t, ref = build(D.transforms), build(torch.distributions.transforms)
    y, ref_y = t(fibril.tensor(x)), ref(torch.tensor(x))
    np.testing.assert_allclose(y.numpy(), ref_y.numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.inv(y).numpy(), x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t.log_abs_det_jacobian(fibril.tensor(x), y).numpy(),
                               ref.log_abs_det_jacobian(torch.tensor(x), ref_y).numpy(), rtol=1e-10, atol=1e-12)
    assert (t.domain.event_dim, t.codomain.event_dim) == (ref.domain.event_dim, ref.codomain.event_dim)
    assert t.bijective == ref.bijective
    assert t.inv.inv is t or t.inv.inv == t


def test_softmax_and_abs_transforms_match_torch():
    x = _u(3, 4)
    for name in ("SoftmaxTransform", "AbsTransform"):
        t, ref = getattr(D.transforms, name)(), getattr(torch.distributions.transforms, name)()
        np.testing.assert_allclose(t(fibril.tensor(x)).numpy(), ref(torch.tensor(x)).numpy(), rtol=1e-12)
        np.testing.assert_allclose(t.inv(fibril.tensor(np.abs(x))).numpy(),
                                   ref.inv(torch.tensor(np.abs(x))).numpy(), rtol=1e-12)
    assert D.transforms.SoftmaxTransform().event_dim == 1


def test_transform_cache_returns_the_input():
    t = D.transforms.ExpTransform(cache_size=1)
    x = fibril.tensor([0.5, 1.0])
    assert t.inv(t(x)) is x


# ------------------------------------------------------------------------------ expand, KL, validation
@pytest.mark.parametrize("fn,shape", [
    (lambda lib: lib.distributions.LogNormal(lib.tensor([0.0, 1.0]), 2.0), (3, 2)),
    (lambda lib: lib.distributions.HalfNormal(lib.tensor([1.0])), (3,)),
    (lambda lib: lib.distributions.Gumbel(lib.tensor([1.0]), lib.tensor([2.0])), (3,)),
    (lambda lib: lib.distributions.Weibull(lib.tensor([1.0]), lib.tensor([2.0])), (3,)),
    (lambda lib: lib.distributions.Pareto(lib.tensor([1.0]), lib.tensor([2.0])), (3,)),
    (lambda lib: lib.distributions.StudentT(lib.tensor([3.0])), (2,)),
    (lambda lib: lib.distributions.Chi2(lib.tensor([3.0])), (2,)),
    (lambda lib: lib.distributions.Cauchy(lib.tensor([0.0]), 1.0), (2,)),
    (lambda lib: lib.distributions.Poisson(lib.tensor([3.0])), (2,)),
    (lambda lib: lib.distributions.Geometric(lib.tensor([0.3])), (2,)),
    (lambda lib: lib.distributions.Binomial(4, lib.tensor([0.3])), (2,)),
    (lambda lib: lib.distributions.NegativeBinomial(4.0, lib.tensor([0.3])), (2,)),
    (lambda lib: lib.distributions.Multinomial(3, lib.tensor([0.3, 0.7])), (2,)),
    (lambda lib: lib.distributions.MixtureSameFamily(lib.distributions.Categorical(lib.ones(2)),
                                                     lib.distributions.Normal(lib.zeros(2), 1.0)), (3,)),
    (lambda lib: lib.distributions.LowRankMultivariateNormal(lib.zeros(2), lib.ones(2, 1), lib.ones(2)), (3,)),
])
def test_expand_matches_torch(fn, shape):
    check_expand_matches_torch(fn, shape, entropy=False)


def _shared_transform_pair(lib, a, b, c, d):
    """Two TransformedDistributions with one transform list (torch compares transforms by identity)."""
    transforms = [lib.distributions.transforms.SigmoidTransform()]
    return tuple(lib.distributions.TransformedDistribution(lib.distributions.Normal(m, s), transforms)
                 for m, s in ((a, b), (c, d)))


KL_PAIRS = {
    "poisson": (lambda lib, a, b: (lib.distributions.Poisson(a), lib.distributions.Poisson(b)), [_pos(3), _pos(3)]),
    "gumbel": (lambda lib, a, b, c, d: (lib.distributions.Gumbel(a, b), lib.distributions.Gumbel(c, d)),
               [_u(3), _pos(3), _u(3), _pos(3)]),
    "cauchy": (lambda lib, a, b, c, d: (lib.distributions.Cauchy(a, b), lib.distributions.Cauchy(c, d)),
               [_u(3), _pos(3), _u(3), _pos(3)]),
    "pareto": (lambda lib, a, b, c, d: (lib.distributions.Pareto(a, b), lib.distributions.Pareto(c, d)),
               [np.array([1.0, 2.0, 0.5]), _pos(3), np.array([0.5, 3.0, 0.5]), _pos(3)]),
    "geometric": (lambda lib, a, b: (lib.distributions.Geometric(a), lib.distributions.Geometric(b)),
                  [_u(3, low=0.1, high=0.9), _u(3, low=0.1, high=0.9)]),
    "binomial": (lambda lib, a, b: (lib.distributions.Binomial(5, a), lib.distributions.Binomial(5, b)),
                 [_u(3, low=0.1, high=0.9), _u(3, low=0.1, high=0.9)]),
    "half_normal": (lambda lib, a, b: (lib.distributions.HalfNormal(a), lib.distributions.HalfNormal(b)),
                    [_pos(3), _pos(3)]),
    "log_normal": (lambda lib, a, b, c, d: (lib.distributions.LogNormal(a, b), lib.distributions.LogNormal(c, d)),
                   [_u(3), _pos(3), _u(3), _pos(3)]),
    "chi2": (lambda lib, a, b: (lib.distributions.Chi2(a), lib.distributions.Chi2(b)), [_pos(3), _pos(3)]),
    "transformed": (_shared_transform_pair, [_u(3), _pos(3), _u(3), _pos(3)]),
    "lowrank_lowrank": (lambda lib, a, b, c, d, e, f: (lib.distributions.LowRankMultivariateNormal(a, b, c),
                                                       lib.distributions.LowRankMultivariateNormal(d, e, f)),
                        [_u(2, 3), _u(3, 2), _pos(3), _u(3), _u(2, 3, 1), _pos(2, 3)]),
    "mvn_lowrank": (lambda lib, a, b, c, d, e: (lib.distributions.MultivariateNormal(a, scale_tril=b),
                                                lib.distributions.LowRankMultivariateNormal(c, d, e)),
                    [_u(2, 3), np.linalg.cholesky(np.eye(3) * 2 + 0.3), _u(3), _u(3, 2), _pos(3)]),
    "lowrank_mvn": (lambda lib, a, b, c, d, e: (lib.distributions.LowRankMultivariateNormal(a, b, c),
                                                lib.distributions.MultivariateNormal(d, scale_tril=e)),
                    [_u(3), _u(2, 3, 2), _pos(3), _u(3), np.linalg.cholesky(np.eye(3) * 2 + 0.3)]),
}


@pytest.mark.parametrize("name", sorted(KL_PAIRS))
def test_kl_divergence_matches_torch(name):
    check_kl_matches_torch(*KL_PAIRS[name])


@pytest.mark.parametrize("fn", [
    lambda lib: lib.distributions.Cauchy(lib.tensor([0.0]), lib.tensor([-1.0])),
    lambda lib: lib.distributions.HalfNormal(lib.tensor([-1.0])),
    lambda lib: lib.distributions.LogNormal(lib.tensor([0.0]), lib.tensor([0.0])),
    lambda lib: lib.distributions.Gumbel(lib.tensor([0.0]), lib.tensor([-1.0])),
    lambda lib: lib.distributions.Weibull(lib.tensor([1.0]), lib.tensor([-1.0])),
    lambda lib: lib.distributions.Pareto(lib.tensor([-1.0]), lib.tensor([1.0])),
    lambda lib: lib.distributions.StudentT(lib.tensor([-1.0])),
    lambda lib: lib.distributions.Chi2(lib.tensor([-1.0])),
    lambda lib: lib.distributions.Poisson(lib.tensor([-1.0])),
    lambda lib: lib.distributions.Geometric(lib.tensor([0.0])),
    lambda lib: lib.distributions.Geometric(lib.tensor([1.5])),
    lambda lib: lib.distributions.Binomial(lib.tensor([2.5]), lib.tensor([0.5])),
    lambda lib: lib.distributions.NegativeBinomial(lib.tensor([1.0]), lib.tensor([1.0])),
    lambda lib: lib.distributions.Multinomial(3, lib.tensor([-0.5, 1.5])),
    lambda lib: lib.distributions.Poisson(lib.tensor([1.0])).log_prob(lib.tensor([0.5])),
    lambda lib: lib.distributions.LogNormal(0.0, 1.0).log_prob(lib.tensor([-1.0])),
    lambda lib: lib.distributions.Binomial(3, lib.tensor([0.5])).log_prob(lib.tensor([4.0])),
    lambda lib: lib.distributions.MixtureSameFamily(lib.distributions.Categorical(lib.ones(3)),
                                                    lib.distributions.Normal(lib.zeros(2), 1.0)),
    lambda lib: lib.distributions.LowRankMultivariateNormal(lib.zeros(2), lib.zeros(2, 1), -lib.ones(2)),
    lambda lib: lib.distributions.LowRankMultivariateNormal(lib.zeros(2), lib.ones(3, 1), lib.ones(2)),
])
def test_validation_errors_match_torch(fn):
    check_validation_error_matches_torch(fn)


def test_lowrank_shape_errors_are_value_errors():
    with pytest.raises(ValueError, match="cov_diag must be a batch of vectors with shape"):
        D.LowRankMultivariateNormal(fibril.zeros(2), fibril.ones(2, 1), fibril.ones(3))


@pytest.mark.parametrize("fn", [
    lambda lib: lib.distributions.Cauchy(lib.zeros(2), 1.0),
    lambda lib: lib.distributions.HalfCauchy(lib.ones(2)),
    lambda lib: lib.distributions.LogNormal(lib.zeros(2), 1.0),
    lambda lib: lib.distributions.Pareto(lib.ones(2), 1.0),
    lambda lib: lib.distributions.StudentT(lib.ones(2)),
    lambda lib: lib.distributions.Chi2(lib.ones(2)),
    lambda lib: lib.distributions.Poisson(lib.ones(2)),
    lambda lib: lib.distributions.Geometric(lib.ones(2) / 2),
    lambda lib: lib.distributions.Binomial(3, lib.ones(2) / 2),
    lambda lib: lib.distributions.NegativeBinomial(3.0, lib.ones(2) / 2),
    lambda lib: lib.distributions.Multinomial(3, lib.ones(2)),
    lambda lib: lib.distributions.Gamma(lib.ones(2), 1.0),
    lambda lib: lib.distributions.Beta(lib.ones(2), 1.0),
    lambda lib: lib.distributions.LowRankMultivariateNormal(lib.zeros(2), lib.ones(2, 1), lib.ones(2)),
    lambda lib: lib.distributions.MixtureSameFamily(lib.distributions.Categorical(lib.ones(2)),
                                                    lib.distributions.Normal(lib.zeros(2), 1.0)),
])
def test_reprs_supports_and_flags_match_torch(fn):
    check_reprs_and_flags_match_torch(fn)
