"""fibril.nn.init: gains and fans as torch's, the distributions' bounds and moments, the
orthogonality of orthogonal_, reproducibility from the seed, and bad input."""

import math

import numpy as np
import pytest

import fibril
from fibril.nn import init

try:
    import torch
except ImportError:
    torch = None


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("name,param", [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                                        ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)])
def test_gains_match_torch(name, param):
    assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))


def test_fans_and_errors():
    assert init._calculate_fan_in_and_fan_out(fibril.empty(8, 3, 5, 5)) == (75, 200)
    with pytest.raises(ValueError, match="fewer than 2"):
        init.xavier_uniform_(fibril.empty(4))
    with pytest.raises(ValueError, match="Mode"):
        init.kaiming_normal_(fibril.empty(3, 3), mode="fan_middle")
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swish")


def test_uniform_families_respect_their_bounds():
    w = fibril.empty(300, 200)
    bound = math.sqrt(6 / 500)
    init.xavier_uniform_(w)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.95 * bound
    init.kaiming_uniform_(w, a=math.sqrt(5))
    assert np.abs(w.numpy()).max() <= 1 / math.sqrt(200)
    init.kaiming_uniform_(w, nonlinearity="relu", mode="fan_out")
    assert np.abs(w.numpy()).max() <= math.sqrt(6 / 300)


def test_normal_families_have_their_std():
    w = fibril.empty(400, 300)
    init.kaiming_normal_(w, nonlinearity="relu")
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / 300), rel=0.03)
    init.xavier_normal_(w, gain=2.0)
    assert w.numpy().std() == pytest.approx(2 * math.sqrt(2 / 700), rel=0.03)
    init.normal_(w, 1.0, 0.5)
    assert w.numpy().mean() == pytest.approx(1.0, abs=0.01)


def test_trunc_normal_stays_inside():
    w = fibril.empty(100, 100, dtype=fibril.float64)
    init.trunc_normal_(w, mean=0.5, std=1.0, a=-0.5, b=1.0)
    values = w.numpy()
    assert values.min() >= -0.5 and values.max() <= 1.0 and values.std() > 0.2
    with pytest.raises(ValueError):
        init.trunc_normal_(w, a=1.0, b=0.0)


@pytest.mark.parametrize("shape", [(5, 20), (20, 5), (6, 2, 3, 3)])
def test_orthogonal(shape):
    w = fibril.empty(*shape, dtype=fibril.float64)
    init.orthogonal_(w, gain=2.0)
    flat = w.numpy().reshape(shape[0], -1)
    small = min(flat.shape)
    gram = flat @ flat.T if flat.shape[0] == small else flat.T @ flat
    np.testing.assert_allclose(gram, 4 * np.eye(small), atol=1e-10)


def test_constants_and_reproducibility():
    w = fibril.empty(3, 4)
    init.ones_(w)
    assert np.all(w.numpy() == 1)
    init.zeros_(w)
    assert np.all(w.numpy() == 0)
    init.constant_(w, 0.25)
    assert np.all(w.numpy() == 0.25)
    fibril.manual_seed(7)
    a = init.xavier_uniform_(fibril.empty(4, 4)).numpy()
    fibril.manual_seed(7)
    np.testing.assert_array_equal(a, init.xavier_uniform_(fibril.empty(4, 4)).numpy())


def test_init_of_a_parameter_records_no_graph():
    p = fibril.nn.Parameter(fibril.empty(3, 3))
    init.kaiming_uniform_(p)
    init.orthogonal_(p)
    assert p.is_leaf and p.grad_fn is None and p.requires_grad
