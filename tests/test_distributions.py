"""fibril.distributions against torch.distributions in float64: log_prob, cdf/icdf, entropy and
moments with their gradients, rsample gradients under the same noise, sampling moments,
shapes, expand, enumerate_support, validation errors and reprs."""

import numpy as np
import pytest

import fibril
import fibril.distributions as D
from op_check import torch_one_thread  # noqa: F401  (torch on one thread for this module)

torch = pytest.importorskip("torch")
import torch.distributions  # noqa: E402
from distribution_check import (Draws, check_expand_matches_torch, check_method_matches_torch,  # noqa: E402
                                check_reprs_and_flags_match_torch, check_validation_error_matches_torch,
                                grad_leaves, samples_like_torch)

DRAWS = Draws(0)
RNG, _u, _pos, _spd = DRAWS.rng, DRAWS.uniform, DRAWS.positive, DRAWS.spd


def _one_hot(indices, k):
    return np.eye(k)[indices]


# name: (build(lib, *params), param arrays, value array or None, methods)
CASES = {
    "normal": (lambda lib, loc, scale: lib.distributions.Normal(loc, scale), [_u(3), _pos(3)], _u(2, 3),
               ["log_prob", "cdf", "entropy", "mean", "mode", "variance", "stddev"]),
    "normal_icdf": (lambda lib, loc, scale: lib.distributions.Normal(loc, scale), [_u(3), _pos(3)],
                    _u(2, 3, low=0.05, high=0.95), ["icdf"]),
    "laplace": (lambda lib, loc, scale: lib.distributions.Laplace(loc, scale), [_u(3), _pos(3)], _u(2, 3),
                ["log_prob", "cdf", "entropy", "mean", "mode", "variance", "stddev"]),
    "laplace_icdf": (lambda lib, loc, scale: lib.distributions.Laplace(loc, scale), [_u(3), _pos(3)],
                     _u(2, 3, low=0.05, high=0.95), ["icdf"]),
    "exponential": (lambda lib, rate: lib.distributions.Exponential(rate), [_pos(4)], _pos(2, 4),
                    ["log_prob", "cdf", "entropy", "mean", "mode", "variance", "stddev"]),
    "exponential_icdf": (lambda lib, rate: lib.distributions.Exponential(rate), [_pos(4)],
                         _u(2, 4, low=0.05, high=0.95), ["icdf"]),
    "uniform": (lambda lib, low, width: lib.distributions.Uniform(low, low + width), [_u(3, high=-0.5), _pos(3) + 2.0],
                _u(2, 3, low=-0.4, high=0.4), ["log_prob", "cdf", "entropy", "mean", "variance", "stddev"]),
    "uniform_icdf": (lambda lib, low, width: lib.distributions.Uniform(low, low + width), [_u(3), _pos(3)],
                     _u(2, 3, low=0.0, high=1.0), ["icdf"]),
    "bernoulli_probs": (lambda lib, p: lib.distributions.Bernoulli(probs=p), [_u(2, 3, low=0.1, high=0.9)],
                        RNG.integers(0, 2, (4, 2, 3)).astype(float), ["log_prob", "entropy", "mean", "variance"]),
    "bernoulli_logits": (lambda lib, lg: lib.distributions.Bernoulli(logits=lg), [_u(3)],
                         RNG.integers(0, 2, (2, 3)).astype(float),
                         ["log_prob", "entropy", "mean", "variance", "mode", "probs"]),
    "categorical_probs": (lambda lib, p: lib.distributions.Categorical(probs=p), [_pos(2, 4)],
                          RNG.integers(0, 4, (3, 2)), ["log_prob", "entropy", "probs", "logits"]),
    "categorical_logits": (lambda lib, lg: lib.distributions.Categorical(logits=lg), [_u(2, 3, 5)],
                           RNG.integers(0, 5, (2, 3)), ["log_prob", "entropy", "probs", "logits", "mode"]),
    "one_hot_categorical": (lambda lib, lg: lib.distributions.OneHotCategorical(logits=lg), [_u(2, 4)],
                            _one_hot(RNG.integers(0, 4, (3, 2)), 4),
                            ["log_prob", "entropy", "mean", "variance", "mode", "probs"]),
    "one_hot_categorical_probs": (lambda lib, p: lib.distributions.OneHotCategorical(probs=p), [_pos(4)],
                                  _one_hot(RNG.integers(0, 4, (3,)), 4), ["log_prob", "entropy", "logits"]),
    "beta": (lambda lib, a, b: lib.distributions.Beta(a, b), [_pos(3), _pos(3)], _u(2, 3, low=0.05, high=0.95),
             ["log_prob", "entropy", "mean", "variance", "mode"]),
    "gamma": (lambda lib, a, r: lib.distributions.Gamma(a, r), [_pos(3), _pos(3)], _pos(2, 3),
              ["log_prob", "entropy", "mean", "variance", "mode"]),
    "dirichlet": (lambda lib, c: lib.distributions.Dirichlet(c), [_pos(2, 3)],
                  RNG.dirichlet([1.0, 2.0, 3.0], size=(4, 2)), ["log_prob", "entropy", "mean", "variance", "mode"]),
    "independent_normal": (lambda lib, loc, scale: lib.distributions.Independent(
        lib.distributions.Normal(loc, scale), 1), [_u(2, 3), _pos(2, 3)], _u(4, 2, 3),
        ["log_prob", "entropy", "mean", "variance"]),
    "mvn_covariance": (lambda lib, loc, cov: lib.distributions.MultivariateNormal(loc, covariance_matrix=cov),
                       [_u(2, 3), _spd(2, 3)], _u(4, 2, 3),
                       ["log_prob", "entropy", "variance", "scale_tril", "precision_matrix"]),
    "mvn_precision": (lambda lib, loc, prec: lib.distributions.MultivariateNormal(loc, precision_matrix=prec),
                      [_u(3), _spd(2, 3)], _u(4, 1, 3), ["log_prob", "entropy", "covariance_matrix", "scale_tril"]),
    "mvn_scale_tril": (lambda lib, loc, tril: lib.distributions.MultivariateNormal(loc, scale_tril=tril),
                       [_u(2, 3), np.linalg.cholesky(_spd(1, 3))[0]], _u(3),
                       ["log_prob", "entropy", "variance", "covariance_matrix", "precision_matrix"]),
    "relaxed_bernoulli": (lambda lib, t, lg: lib.distributions.RelaxedBernoulli(t, logits=lg), [_pos(), _u(2, 3)],
                          _u(4, 2, 3, low=0.05, high=0.95), ["log_prob"]),
    "relaxed_one_hot_categorical": (lambda lib, t, p: lib.distributions.RelaxedOneHotCategorical(t, probs=p),
                                    [_pos(), _pos(2, 4)], RNG.dirichlet([1.0, 2.0, 3.0, 0.5], size=(3, 2)),
                                    ["log_prob"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_torch(name):
    build, params, value, methods = CASES[name]
    for method in methods:
        check_method_matches_torch(build, params, value, method)


# ------------------------------------------------------------------------------ rsample
SAMPLE_SHAPE = (5,)
# name: (build(lib, *params), params, noise); the noise replaces the draw in both libraries.
RSAMPLE_CASES = {
    "normal": (lambda lib, loc, scale: lib.distributions.Normal(loc, scale), [_u(2, 3), _pos(2, 3)],
               RNG.standard_normal((5, 2, 3))),
    "independent_normal": (lambda lib, loc, scale: lib.distributions.Independent(
        lib.distributions.Normal(loc, scale), 2), [_u(2, 3), _pos(2, 3)], RNG.standard_normal((5, 2, 3))),
    "laplace": (lambda lib, loc, scale: lib.distributions.Laplace(loc, scale), [_u(3), _pos(3)],
                _u(5, 3, low=-0.99, high=0.99)),
    "exponential": (lambda lib, rate: lib.distributions.Exponential(rate), [_pos(3)], _pos(5, 3)),
    "uniform": (lambda lib, low, width: lib.distributions.Uniform(low, low + width), [_u(3), _pos(3)],
                _u(5, 3, low=0.0, high=1.0)),
    "mvn_scale_tril": (lambda lib, loc, tril: lib.distributions.MultivariateNormal(loc, scale_tril=tril),
                       [_u(2, 3), np.linalg.cholesky(_spd(2, 3))], RNG.standard_normal((5, 2, 3))),
    "mvn_covariance": (lambda lib, loc, cov: lib.distributions.MultivariateNormal(loc, covariance_matrix=cov),
                       [_u(3), _spd(1, 3)[0]], RNG.standard_normal((5, 3))),
    "relaxed_bernoulli": (lambda lib, t, p: lib.distributions.RelaxedBernoulli(t, probs=p),
                          [_pos(), _u(2, 3, low=0.1, high=0.9)], _u(5, 2, 3, low=0.0, high=1.0)),
    "relaxed_one_hot_categorical": (lambda lib, t, lg: lib.distributions.RelaxedOneHotCategorical(t, logits=lg),
                                    [_pos(), _u(2, 4)], _u(5, 2, 4, low=0.0, high=1.0)),
}


def _fix_noise(monkeypatch, noise):
    """Every draw the samplers make returns `noise`, in fibril and torch alike."""
    def fibril_fill(t, *args, **kwargs):
        return t.copy_(fibril.tensor(noise))

    def torch_fill(t, *args, **kwargs):
        return t.copy_(torch.tensor(noise))

    monkeypatch.setattr(fibril, "randn", lambda shape, dtype=None: fibril.tensor(noise, dtype=dtype))
    monkeypatch.setattr(fibril, "rand", lambda shape, dtype=None: fibril.tensor(noise, dtype=dtype))
    monkeypatch.setattr(fibril.Tensor, "uniform_", fibril_fill)
    monkeypatch.setattr(fibril.Tensor, "exponential_", fibril_fill)
    for module in (torch.distributions.normal, torch.distributions.multivariate_normal):
        monkeypatch.setattr(module, "_standard_normal", lambda shape, dtype, device: torch.tensor(noise))
    monkeypatch.setattr(torch, "rand", lambda shape, dtype=None, device=None: torch.tensor(noise, dtype=dtype))
    monkeypatch.setattr(torch.Tensor, "uniform_", torch_fill)
    monkeypatch.setattr(torch.Tensor, "exponential_", torch_fill)


@pytest.mark.parametrize("name", sorted(RSAMPLE_CASES))
def test_rsample_gradients_match_torch_under_the_same_noise(name, monkeypatch):
    build, params, noise = RSAMPLE_CASES[name]
    _fix_noise(monkeypatch, noise)
    results = []
    for lib in (fibril, torch):
        leaves = grad_leaves(lib, params)
        dist = build(lib, *leaves)
        assert dist.has_rsample
        out = dist.rsample(SAMPLE_SHAPE)
        (out * lib.tensor(np.random.default_rng(2).standard_normal(tuple(out.shape)))).sum().backward()
        results.append((out.detach().numpy(), [x.grad.numpy() for x in leaves]))
    (out, grads), (ref, ref_grads) = results
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    for got, expected in zip(grads, ref_grads):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_straight_through_rsample_is_a_one_hot_sample_with_the_probs_gradient():
    logits = _u(2, 4)
    grads = []
    for lib in (fibril, torch):
        leaf = lib.tensor(logits, requires_grad=True)
        sample = lib.distributions.OneHotCategoricalStraightThrough(logits=leaf).rsample((3,))
        values = sample.detach().numpy()
        assert values.shape == (3, 2, 4) and np.all(values.sum(-1) == 1) and np.all((values == 0) | (values == 1))
        (sample * lib.tensor(np.arange(4.0))).sum().backward()
        grads.append(leaf.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12, atol=1e-12)


def test_no_rsample_for_discrete_distributions():
    for dist in (D.Bernoulli(0.3), D.Categorical(fibril.tensor([1.0, 2.0]))):
        assert not dist.has_rsample
        with pytest.raises(NotImplementedError):
            dist.rsample()


# ------------------------------------------------------------------------------ sampling
N = 40000
# name: build(lib)
SAMPLING_CASES = {
    "normal": lambda lib: lib.distributions.Normal(lib.tensor([0.5, -1.0]), lib.tensor([1.0, 3.0])),
    "laplace": lambda lib: lib.distributions.Laplace(lib.tensor([0.5, -1.0]), lib.tensor([1.0, 0.3])),
    "exponential": lambda lib: lib.distributions.Exponential(lib.tensor([0.5, 4.0])),
    "uniform": lambda lib: lib.distributions.Uniform(lib.tensor([0.5, -1.0]), lib.tensor([1.0, 3.0])),
    "bernoulli": lambda lib: lib.distributions.Bernoulli(lib.tensor([0.1, 0.5, 0.8])),
    "one_hot_categorical": lambda lib: lib.distributions.OneHotCategorical(lib.tensor([[0.1, 0.6, 0.3],
                                                                                     [0.5, 0.25, 0.25]])),
    "gamma": lambda lib: lib.distributions.Gamma(lib.tensor([0.5, 3.0]), lib.tensor([1.0, 2.0])),
    "beta": lambda lib: lib.distributions.Beta(lib.tensor([0.5, 3.0]), lib.tensor([2.0, 2.0])),
    "dirichlet": lambda lib: lib.distributions.Dirichlet(lib.tensor([0.5, 1.0, 3.0])),
    "mvn": lambda lib: lib.distributions.MultivariateNormal(
        lib.tensor([1.0, -1.0]), covariance_matrix=lib.tensor([[2.0, 0.8], [0.8, 1.0]])),
}


@pytest.mark.parametrize("name", sorted(SAMPLING_CASES))
def test_sample_moments_match_torch(name):
    x, ref, _ = samples_like_torch(SAMPLING_CASES[name], N)
    mean, var = ref.mean.numpy(), ref.variance.numpy()
    # 5 standard errors: the mean's is sqrt(var / N); the variance's about var * sqrt(2 / N) (times the
    # tail's weight, generous for these shapes).
    np.testing.assert_array_less(np.abs(x.mean(0) - mean), 5 * np.sqrt(var / N) + 1e-6)
    np.testing.assert_array_less(np.abs(x.var(0) - var), 5 * var * np.sqrt(8 / N) + 1e-6)


def test_categorical_sample_frequencies_match_probs():
    probs = np.array([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25]])
    fibril.manual_seed(0)
    samples = D.Categorical(fibril.tensor(probs)).sample((N, 2))
    assert tuple(samples.shape) == (N, 2, 2) and samples.dtype == fibril.int64
    x = samples.numpy().reshape(-1, 2)
    freq = np.stack([(x == k).mean(0) for k in range(3)], -1)
    np.testing.assert_array_less(np.abs(freq - probs), 5 * np.sqrt(probs * (1 - probs) / (2 * N)))


@pytest.mark.parametrize("name", ["normal", "gamma", "bernoulli", "mvn"])
def test_sampling_replays_under_manual_seed(name):
    dist = SAMPLING_CASES[name](fibril)
    fibril.manual_seed(123)
    first = dist.sample((4,)).numpy()
    fibril.manual_seed(123)
    np.testing.assert_array_equal(dist.sample((4,)).numpy(), first)
    assert not np.array_equal(dist.sample((4,)).numpy(), first)


def test_sample_carries_no_gradient_and_rsample_does():
    loc = fibril.tensor([0.0, 1.0], requires_grad=True)
    dist = D.Normal(loc, 1.0)
    assert not dist.sample().requires_grad
    assert dist.rsample((3,)).requires_grad


# ------------------------------------------------------------------------------ validation, reprs
@pytest.mark.parametrize("fn", [
    lambda lib: lib.distributions.Normal(lib.tensor([0.0, 1.0]), lib.tensor([1.0, -1.0])),
    lambda lib: lib.distributions.Normal(0.0, 0.0),
    lambda lib: lib.distributions.Bernoulli(probs=lib.tensor([0.5, 1.5])),
    lambda lib: lib.distributions.Bernoulli(probs=0.3, logits=0.1),
    lambda lib: lib.distributions.Categorical(probs=lib.tensor([-0.1, 1.1])),
    lambda lib: lib.distributions.Categorical(logits=lib.tensor(1.0)),
    lambda lib: lib.distributions.Uniform(1.0, 0.0),
    lambda lib: lib.distributions.Exponential(lib.tensor([-1.0])),
    lambda lib: lib.distributions.Laplace(lib.tensor([float("nan")]), 1.0),
    lambda lib: lib.distributions.Dirichlet(lib.tensor([1.0, -2.0])),
    lambda lib: lib.distributions.Dirichlet(lib.tensor(1.0)),
    lambda lib: lib.distributions.Gamma(lib.tensor([1.0]), lib.tensor([0.0])),
    lambda lib: lib.distributions.Beta(lib.tensor([1.0]), lib.tensor([-1.0])),
    lambda lib: lib.distributions.Independent(lib.distributions.Normal(lib.zeros(3), 1.0), 2),
    lambda lib: lib.distributions.MultivariateNormal(lib.zeros(2), covariance_matrix=lib.tensor([[1.0, 2.0],
                                                                                                [2.0, 1.0]])),
    lambda lib: lib.distributions.MultivariateNormal(lib.zeros(2), scale_tril=lib.tensor([[1.0, 1.0], [0.0, 1.0]])),
    lambda lib: lib.distributions.MultivariateNormal(lib.zeros(2)),
    lambda lib: lib.distributions.MultivariateNormal(lib.zeros(2), precision_matrix=lib.ones(2)),
    lambda lib: lib.distributions.MultivariateNormal(lib.tensor(0.0), scale_tril=lib.eye(2)),
    lambda lib: lib.distributions.Exponential(lib.tensor([1.0, 2.0])).log_prob(lib.tensor([1.0, -1.0])),
    lambda lib: lib.distributions.Bernoulli(lib.tensor([0.5])).log_prob(lib.tensor([0.5])),
    lambda lib: lib.distributions.Categorical(lib.ones(2, 3)).log_prob(lib.tensor([1, 3])),
    lambda lib: lib.distributions.Normal(lib.zeros(3), 1.0).log_prob(lib.zeros(2)),
    lambda lib: lib.distributions.MultivariateNormal(lib.zeros(3), lib.eye(3)).log_prob(lib.zeros(2)),
    lambda lib: lib.distributions.OneHotCategorical(lib.ones(3)).log_prob(lib.tensor([1.0, 1.0, 0.0])),
    lambda lib: lib.distributions.Uniform(0.0, 1.0).log_prob(lib.tensor(1.5)),
    lambda lib: lib.distributions.Normal(0.0, 1.0).log_prob(0.5),
])
def test_validation_errors_match_torch(fn):
    check_validation_error_matches_torch(fn)


def test_validate_args_false_skips_checks():
    dist = D.Normal(fibril.tensor([0.0]), fibril.tensor([-1.0]), validate_args=False)
    assert dist.log_prob(fibril.tensor([0.0])).numpy()[0] != 0
    assert float(D.Exponential(1.0, validate_args=False).log_prob(fibril.tensor(-1.0))) == 1.0
    D.Distribution.set_default_validate_args(False)
    try:
        D.Normal(0.0, -1.0)
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        D.Normal(0.0, -1.0)


@pytest.mark.parametrize("fn", [
    lambda lib: lib.distributions.Normal(lib.zeros(2), lib.ones(2)),
    lambda lib: lib.distributions.Normal(0.0, 1.0),
    lambda lib: lib.distributions.Bernoulli(logits=lib.zeros(3)),
    lambda lib: lib.distributions.Categorical(probs=lib.ones(2, 3)),
    lambda lib: lib.distributions.OneHotCategorical(logits=lib.ones(3)),
    lambda lib: lib.distributions.Uniform(lib.zeros(2), 1.0),
    lambda lib: lib.distributions.Exponential(2.0),
    lambda lib: lib.distributions.Independent(lib.distributions.Laplace(lib.zeros(2, 3), 1.0), 1),
    lambda lib: lib.distributions.MultivariateNormal(lib.zeros(3), scale_tril=lib.eye(3)),
    lambda lib: lib.distributions.Gamma(lib.ones(2), 1.0),
    lambda lib: lib.distributions.Dirichlet(lib.ones(2, 3)),
    lambda lib: lib.distributions.RelaxedBernoulli(lib.tensor(0.5), probs=lib.ones(2) / 2),
    lambda lib: lib.distributions.RelaxedOneHotCategorical(lib.tensor(0.5), logits=lib.ones(2, 3)),
])
def test_reprs_supports_and_constraints_match_torch(fn):
    check_reprs_and_flags_match_torch(fn)


def test_constraint_reprs_match_torch():
    names = ["boolean", "one_hot", "nonnegative_integer", "positive_integer", "real", "real_vector", "positive",
             "nonnegative", "unit_interval", "simplex", "lower_triangular", "lower_cholesky", "square", "symmetric",
             "positive_semidefinite", "positive_definite"]
    for name in names:
        assert repr(getattr(D.constraints, name)) == repr(getattr(torch.distributions.constraints, name))
    assert repr(D.constraints.integer_interval(0, 4)) == "IntegerInterval(lower_bound=0, upper_bound=4)"
    assert repr(D.constraints.half_open_interval(0.0, 1.0)) == "HalfOpenInterval(lower_bound=0.0, upper_bound=1.0)"
    assert D.constraints.is_dependent(D.Uniform.support) and D.constraints.is_dependent(D.Categorical.support)


@pytest.mark.parametrize("name,value", [
    ("positive_definite", [[[2.0, 0.5], [0.5, 1.0]], [[1.0, 2.0], [2.0, 1.0]]]),
    ("positive_semidefinite", [[[1.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, -1.0]]]),
    ("lower_cholesky", [[[1.0, 0.0], [0.5, 1.0]], [[1.0, 0.0], [0.5, -1.0]]]),
    ("simplex", [[0.2, 0.8], [0.5, 0.6]]),
    ("one_hot", [[0.0, 1.0], [1.0, 1.0]]),
])
def test_constraint_checks_match_torch(name, value):
    got = getattr(D.constraints, name).check(fibril.tensor(value)).numpy()
    expected = getattr(torch.distributions.constraints, name).check(torch.tensor(value)).numpy()
    np.testing.assert_array_equal(got, expected)


# ------------------------------------------------------------------------------ expand, enumerate_support
@pytest.mark.parametrize("fn,shape", [
    (lambda lib: lib.distributions.Normal(lib.tensor([0.0, 1.0]), 2.0), (3, 2)),
    (lambda lib: lib.distributions.Bernoulli(logits=lib.tensor([0.3])), (2, 4)),
    (lambda lib: lib.distributions.Categorical(logits=lib.tensor([0.3, -1.0, 2.0])), (2,)),
    (lambda lib: lib.distributions.OneHotCategorical(probs=lib.tensor([0.3, 0.2, 0.5])), (2, 2)),
    (lambda lib: lib.distributions.Beta(lib.tensor([2.0]), lib.tensor([3.0])), (3,)),
    (lambda lib: lib.distributions.Dirichlet(lib.tensor([2.0, 3.0])), (2,)),
    (lambda lib: lib.distributions.Gamma(lib.tensor([2.0]), lib.tensor([3.0])), (3,)),
    (lambda lib: lib.distributions.Uniform(lib.tensor([0.0]), lib.tensor([3.0])), (3,)),
    (lambda lib: lib.distributions.Independent(lib.distributions.Normal(lib.zeros(1, 2), 1.0), 1), (3,)),
    (lambda lib: lib.distributions.MultivariateNormal(lib.tensor([0.0, 1.0]),
                                                      covariance_matrix=lib.tensor([[2.0, 0.5], [0.5, 1.0]])), (3,)),
])
def test_expand_matches_torch(fn, shape):
    check_expand_matches_torch(fn, shape)


@pytest.mark.parametrize("fn", [
    lambda lib: lib.distributions.Bernoulli(lib.tensor([[0.3, 0.5, 0.9]])),
    lambda lib: lib.distributions.Categorical(lib.ones(2, 4)),
    lambda lib: lib.distributions.OneHotCategorical(lib.ones(2, 3)),
    lambda lib: lib.distributions.Independent(lib.distributions.Bernoulli(lib.tensor([[0.3, 0.5]])), 0),
])
@pytest.mark.parametrize("expand", [True, False])
def test_enumerate_support_matches_torch(fn, expand):
    support, ref = fn(fibril).enumerate_support(expand), fn(torch).enumerate_support(expand)
    assert tuple(support.shape) == tuple(ref.shape)
    assert support.dtype.name == str(ref.dtype).replace("torch.", "")
    np.testing.assert_array_equal(support.numpy(), ref.numpy())


def test_enumerating_a_product_is_refused_as_torch():
    dist = D.Independent(D.Bernoulli(fibril.tensor([0.3, 0.5])), 1)
    assert not dist.has_enumerate_support
    with pytest.raises(NotImplementedError, match="Enumeration over cartesian product is not implemented"):
        dist.enumerate_support()


def test_lazy_parameters_and_perplexity_match_torch():
    logits = _u(2, 3)
    dist = D.Categorical(logits=fibril.tensor(logits))
    ref = torch.distributions.Categorical(logits=torch.tensor(logits))
    assert "probs" not in dist.__dict__
    np.testing.assert_allclose(dist.probs.numpy(), ref.probs.numpy(), rtol=1e-12)
    assert "probs" in dist.__dict__
    np.testing.assert_allclose(dist.perplexity().numpy(), ref.perplexity().numpy(), rtol=1e-12)
    np.testing.assert_allclose(D.Bernoulli(fibril.tensor([0.5, 0.2])).mode.numpy(),
                               torch.distributions.Bernoulli(torch.tensor([0.5, 0.2])).mode.numpy())
    concentration = [[0.5, 0.2, 0.7], [2.0, 3.0, 1.0]]
    np.testing.assert_allclose(D.Dirichlet(fibril.tensor(concentration)).mode.numpy(),
                               torch.distributions.Dirichlet(torch.tensor(concentration)).mode.numpy())
