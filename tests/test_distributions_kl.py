"""fibril.distributions.kl_divergence against torch's in float64: values and gradients for each
registered pair, infinite cases, dispatch through register_kl and the unregistered error."""

import numpy as np
import pytest

import fibril
import fibril.distributions as D
from op_check import torch_one_thread  # noqa: F401  (torch on one thread for this module)

torch = pytest.importorskip("torch")
from distribution_check import Draws, check_kl_matches_torch  # noqa: E402

DRAWS = Draws(3)
RNG, _u, _pos, _tril, _spd = DRAWS.rng, DRAWS.uniform, DRAWS.positive, DRAWS.tril, DRAWS.spd


# name: (build(lib, *params) -> (p, q), params)
PAIRS = {
    "normal": (lambda lib, a, b, c, d: (lib.distributions.Normal(a, b), lib.distributions.Normal(c, d)),
               [_u(3), _pos(3), _u(2, 1), _pos(2, 3)]),
    "laplace": (lambda lib, a, b, c, d: (lib.distributions.Laplace(a, b), lib.distributions.Laplace(c, d)),
                [_u(3), _pos(3), _u(3), _pos(3)]),
    "exponential": (lambda lib, a, b: (lib.distributions.Exponential(a), lib.distributions.Exponential(b)),
                    [_pos(4), _pos(4)]),
    "uniform": (lambda lib, a, b, c, d: (lib.distributions.Uniform(a, a + b), lib.distributions.Uniform(c, c + d)),
                [np.array([0.0, 0.0, -1.0]), np.array([1.0, 1.0, 1.0]), np.array([-0.5, 0.5, -2.0]),
                 np.array([2.0, 2.0, 0.5])]),
    "bernoulli": (lambda lib, a, b: (lib.distributions.Bernoulli(probs=a), lib.distributions.Bernoulli(logits=b)),
                  [RNG.uniform(0.1, 0.9, 4), _u(4)]),
    "categorical": (lambda lib, a, b: (lib.distributions.Categorical(probs=a), lib.distributions.Categorical(logits=b)),
                    [_pos(2, 4), _u(2, 4)]),
    "one_hot_categorical": (lambda lib, a, b: (lib.distributions.OneHotCategorical(logits=a),
                                               lib.distributions.OneHotCategorical(logits=b)), [_u(3, 4), _u(4)]),
    "beta": (lambda lib, a, b, c, d: (lib.distributions.Beta(a, b), lib.distributions.Beta(c, d)),
             [_pos(3), _pos(3), _pos(3), _pos(3)]),
    "gamma": (lambda lib, a, b, c, d: (lib.distributions.Gamma(a, b), lib.distributions.Gamma(c, d)),
              [_pos(3), _pos(3), _pos(3), _pos(3)]),
    "dirichlet": (lambda lib, a, b: (lib.distributions.Dirichlet(a), lib.distributions.Dirichlet(b)),
                  [_pos(2, 3), _pos(2, 3)]),
    "independent": (lambda lib, a, b, c, d: (
        lib.distributions.Independent(lib.distributions.Normal(a, b), 1),
        lib.distributions.Independent(lib.distributions.Normal(c, d), 1)), [_u(2, 3), _pos(2, 3), _u(3), _pos(3)]),
    "mvn": (lambda lib, a, b, c, d: (lib.distributions.MultivariateNormal(a, scale_tril=b),
                                     lib.distributions.MultivariateNormal(c, covariance_matrix=d)),
            [_u(2, 3), _tril(2, 3), _u(3), _spd(1, 3)[0]]),
    "mvn_precision": (lambda lib, a, b, c, d: (lib.distributions.MultivariateNormal(a, precision_matrix=b),
                                               lib.distributions.MultivariateNormal(c, scale_tril=d)),
                      [_u(3), _spd(1, 3)[0], _u(2, 3), _tril(2, 3)]),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_kl_divergence_and_gradients_match_torch(name):
    check_kl_matches_torch(*PAIRS[name])


@pytest.mark.parametrize("build", [
    lambda lib: (lib.distributions.Uniform(lib.tensor([0.0, 0.0]), lib.tensor([1.0, 2.0])),
                 lib.distributions.Uniform(lib.tensor([0.5, -1.0]), lib.tensor([2.0, 1.5]))),
    lambda lib: (lib.distributions.Bernoulli(lib.tensor([0.0, 1.0, 0.5, 0.5, 0.0])),
                 lib.distributions.Bernoulli(lib.tensor([0.0, 0.0, 1.0, 0.0, 1.0]))),
    lambda lib: (lib.distributions.Categorical(lib.tensor([[0.0, 1.0], [0.5, 0.5]])),
                 lib.distributions.Categorical(lib.tensor([[0.5, 0.5], [1.0, 0.0]]))),
])
def test_kl_infinite_and_zero_cases_match_torch(build):
    kl = fibril.distributions.kl_divergence(*build(fibril)).numpy()
    ref = torch.distributions.kl_divergence(*build(torch)).numpy()
    np.testing.assert_array_equal(kl, ref)


def test_unregistered_pair_raises_as_torch():
    with pytest.raises(NotImplementedError, match="No KL\\(p \\|\\| q\\) is implemented for p type Normal and "
                                                  "q type Laplace"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Laplace(0.0, 1.0))
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.Independent(D.Normal(fibril.zeros(2, 3), 1.0), 1),
                        D.Independent(D.Normal(fibril.zeros(2, 3), 1.0), 2))


def test_register_kl_dispatches_to_the_most_specific_pair():
    class Wide(D.Normal):
        pass

    calls = []

    @D.register_kl(Wide, D.Normal)
    def _kl_wide_normal(p, q):
        calls.append("wide")
        return fibril.zeros(())

    assert float(D.kl_divergence(Wide(0.0, 2.0), D.Normal(0.0, 1.0))) == 0.0
    assert calls == ["wide"]
    ref = float(D.kl_divergence(D.Normal(0.0, 2.0), D.Normal(0.0, 1.0)))
    assert ref == pytest.approx(0.5 * (4 - 1 - np.log(4)))
    with pytest.raises(TypeError, match="Expected type_p to be a Distribution subclass"):
        D.register_kl(int, D.Normal)
