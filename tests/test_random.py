"""Random family: Philox streams (known answers, thread/ISA invariance, reproducibility),
distribution statistics with fixed seeds and generous bounds, dropout, bad input."""

import hashlib
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import fibril

try:
    from scipy import stats
except ImportError:  # the statistical tests fall back to numpy-only checks
    stats = None

N = 1_000_000


def np_(t):
    return np.asarray(t.numpy())


def within(value, expected, stderr, sigmas=5):
    assert abs(value - expected) < sigmas * stderr, f"{value} vs {expected} (stderr {stderr})"


def chi_square_ok(counts, expected):
    """Pearson chi-square below the 99.9% quantile (scipy), or a normal approximation of it."""
    counts, expected = np.asarray(counts, float), np.asarray(expected, float)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    dof = len(counts) - 1
    limit = stats.chi2.ppf(0.999, dof) if stats else dof + 4.5 * math.sqrt(2 * dof)
    assert chi2 < limit, f"chi-square {chi2:.1f} >= {limit:.1f} with {dof} dof"


def ks_ok(sample, cdf_name):
    if stats is None:
        pytest.skip("scipy is not installed")
    assert stats.kstest(sample, cdf_name).pvalue > 1e-3


# ------------------------------------------------------------------------------ streams
def test_rand_bits_are_the_philox_stream():
    seed = 0x1234_5678_9ABC_DEF0
    fibril.manual_seed(seed)
    got = np_(fibril.rand(4 * 70 + 3))
    key = [seed & 0xFFFFFFFF, seed >> 32]
    want = [(fibril._C.philox4x32([i // 4, 0, 0, 0], key)[i % 4] >> 8) / 2.0**24 for i in range(got.size)]
    np.testing.assert_array_equal(got, np.array(want, np.float32))


def test_randn_float32_is_box_muller_on_the_stream():
    """The float32 kernel's own log and sincos, against Box-Muller in float64 on the same words."""
    seed = 99
    got = np_(fibril.randn(4 * 500, generator=fibril.Generator().manual_seed(seed))).astype(np.float64)
    words = np.array([fibril._C.philox4x32([b, 0, 0, 0], [seed, 0]) for b in range(500)], np.float64).ravel()
    top = np.floor(words / 256)
    r = np.sqrt(-2 * np.log((2.0**24 - top[0::2]) / 2.0**24))
    theta = 2 * np.pi * top[1::2] / 2.0**24
    want = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1).ravel()
    np.testing.assert_allclose(got, want, rtol=4e-7 * 8, atol=1e-6)


def draws(seed):
    """One draw of each op from `seed`, as numpy arrays, on a size that spans many threads' chunks."""
    g = fibril.Generator().manual_seed(seed)
    x = fibril.ones(100_003, dtype=fibril.float64)
    return [np_(v) for v in (
        fibril.rand(100_003, generator=g),
        fibril.randn(100_003, dtype=fibril.float64, generator=g),
        fibril.randn(100_001, generator=g),
        fibril.randint(-5, 1 << 40, (100_003,), generator=g),
        fibril.bernoulli(fibril.full((100_003,), 0.3), generator=g),
        fibril.dropout(x, 0.4, generator=g),
        fibril.randperm(50_000, generator=g),
        fibril.multinomial(fibril.rand(7, 50, generator=g), 30, generator=g),
    )]


def test_values_do_not_depend_on_the_thread_count(num_threads):
    num_threads(1)
    one = draws(7)
    num_threads(2)
    for a, b in zip(one, draws(7)):
        np.testing.assert_array_equal(a, b)


def digest(arrays):
    return hashlib.sha256(b"".join(a.tobytes() for a in arrays)).hexdigest()


def test_values_do_not_depend_on_the_isa():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import test_random, fibril; "
            "print(fibril.cpu_isa(), test_random.digest(test_random.draws(7)))")
    env = dict(os.environ, FIBRIL_CPU_ISA="generic")
    out = subprocess.run([sys.executable, "-c", code, os.path.dirname(__file__)], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["generic", digest(draws(7))]


def test_manual_seed_reproduces_and_successive_calls_differ():
    assert isinstance(fibril.manual_seed(3), fibril.Generator)
    a, b = fibril.randn(10), fibril.randn(10)
    fibril.manual_seed(3)
    np.testing.assert_array_equal(np_(fibril.randn(10)), np_(a))
    np.testing.assert_array_equal(np_(fibril.randn(10)), np_(b))
    assert not np.array_equal(np_(a), np_(b))
    assert fibril.initial_seed() == 3


def test_offset_advances_by_blocks_of_four():
    g = fibril.Generator().manual_seed(11)
    a, b = fibril.rand(5, generator=g), fibril.rand(3, generator=g)
    whole = np_(fibril.rand(11, generator=g.manual_seed(11)))
    np.testing.assert_array_equal(np_(a), whole[:5])
    np.testing.assert_array_equal(np_(b), whole[8:])


def test_generators_are_independent_of_each_other_and_of_the_default():
    g1, g2 = fibril.Generator().manual_seed(5), fibril.Generator().manual_seed(5)
    a = fibril.rand(8, generator=g1)
    fibril.rand(100)  # the default generator moves; g2 does not
    np.testing.assert_array_equal(np_(fibril.rand(8, generator=g2)), np_(a))
    assert not np.array_equal(np_(fibril.rand(8, generator=fibril.Generator().manual_seed(6))), np_(a))


def test_get_state_set_state_replay():
    g = fibril.Generator().manual_seed(21)
    fibril.rand(9, generator=g)
    state = g.get_state()
    assert state.dtype == fibril.uint8 and state.shape == (16,)
    a = fibril.randn(6, generator=g)
    np.testing.assert_array_equal(np_(fibril.randn(6, generator=g.set_state(state))), np_(a))
    np.testing.assert_array_equal(np_(fibril.randn(6, generator=g.set_state(bytes(state.tolist())))), np_(a))
    with pytest.raises(RuntimeError):
        g.set_state(b"short")


def test_default_seed_is_torch_s():
    code = "import fibril; print(fibril.initial_seed(), fibril.rand(3).tolist())"
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert runs[0] == runs[1] and runs[0].startswith("67280421310721 ")


def test_negative_seed_wraps_and_seed_gives_a_fresh_one():
    assert fibril.Generator().manual_seed(-1).initial_seed() == 2**64 - 1
    g = fibril.Generator()
    s = g.seed()
    assert g.initial_seed() == s
    with pytest.raises(RuntimeError):
        g.manual_seed(2**64)


def test_fill_of_a_non_contiguous_view_follows_its_row_major_order():
    base = fibril.zeros(6, 4)
    view = base.T
    view.uniform_(generator=fibril.Generator().manual_seed(2))
    np.testing.assert_array_equal(np_(view), np_(fibril.rand(4, 6, generator=fibril.Generator().manual_seed(2))))


# ------------------------------------------------------------------------------ distributions
@pytest.mark.parametrize("dtype", [fibril.float32, fibril.float64])
def test_uniform_moments_and_ks(dtype):
    x = np_(fibril.rand(N, dtype=dtype, generator=fibril.Generator().manual_seed(1))).astype(np.float64)
    assert x.min() >= 0 and x.max() < 1
    within(x.mean(), 0.5, math.sqrt(1 / 12 / N))
    within(x.var(), 1 / 12, math.sqrt(1 / 180 / N))
    chi_square_ok(np.histogram(x, bins=100, range=(0, 1))[0], np.full(100, N / 100))
    ks_ok(x, "uniform")


def test_uniform_range():
    x = np_(fibril.empty(N).uniform_(-3, 5, generator=fibril.Generator().manual_seed(2)))
    assert x.min() >= -3 and x.max() < 5
    within(x.mean(), 1.0, 8 / math.sqrt(12 * N))
    assert np.all(np_(fibril.empty(10).uniform_(2, 2)) == 2)


@pytest.mark.parametrize("dtype", [fibril.float32, fibril.float64])
def test_normal_moments_and_ks(dtype):
    x = np_(fibril.randn(N, dtype=dtype, generator=fibril.Generator().manual_seed(3))).astype(np.float64)
    within(x.mean(), 0.0, math.sqrt(1 / N))
    within(x.var(), 1.0, math.sqrt(2 / N))
    within(((x - x.mean()) ** 3).mean(), 0.0, math.sqrt(15 / N))  # skewness: symmetric
    edges = np.linspace(-3, 3, 61)
    cdf = np.array([0.5 * (1 + math.erf(e / math.sqrt(2))) for e in edges])
    chi_square_ok(np.histogram(x, bins=edges)[0], N * np.diff(cdf))
    ks_ok(x, "norm")
    assert np.isfinite(x).all()


def test_normal_with_number_and_tensor_parameters():
    g = fibril.Generator().manual_seed(4)
    x = np_(fibril.normal(2.0, 3.0, (N,), generator=g))
    within(x.mean(), 2.0, 3 / math.sqrt(N))
    within(x.std(), 3.0, 3 / math.sqrt(2 * N))
    mean = fibril.tensor([[0.0], [10.0]])
    std = fibril.tensor([1.0, 0.0, 2.0])
    y = fibril.normal(mean, std, generator=g)
    assert y.shape == (2, 3)
    np.testing.assert_array_equal(np_(y)[:, 1], [0.0, 10.0])
    z = np_(fibril.empty(N, dtype=fibril.float64).normal_(-1, 0.5, generator=g))
    within(z.mean(), -1.0, 0.5 / math.sqrt(N))


def test_exponential_mean():
    x = np_(fibril.empty(N).exponential_(2.0, generator=fibril.Generator().manual_seed(5)))
    assert x.min() >= 0
    within(x.mean(), 0.5, 0.5 / math.sqrt(N))


def test_bernoulli_rates():
    g = fibril.Generator().manual_seed(6)
    x = np_(fibril.empty(N).bernoulli_(0.3, generator=g))
    assert set(np.unique(x)) <= {0.0, 1.0}
    within(x.mean(), 0.3, math.sqrt(0.21 / N))
    p = fibril.tensor([0.0, 1.0, 0.25]).unsqueeze(0).expand(N // 4, 3)
    y = np_(fibril.bernoulli(p.contiguous(), generator=g))
    assert y[:, 0].max() == 0 and y[:, 1].min() == 1
    within(y[:, 2].mean(), 0.25, math.sqrt(0.1875 / (N // 4)))
    z = fibril.zeros(1000, dtype=fibril.bool).bernoulli_(fibril.tensor([1.0]), generator=g)
    assert z.dtype == fibril.bool and bool(z.all())


def test_randint_range_and_uniformity():
    g = fibril.Generator().manual_seed(7)
    x = np_(fibril.randint(-3, 7, (N,), generator=g))
    assert x.dtype == np.int64 and x.min() == -3 and x.max() == 6
    chi_square_ok(np.bincount(x + 3), np.full(10, N / 10))
    y = np_(fibril.randint(10, (1000,), generator=g))
    assert y.min() >= 0 and y.max() < 10
    big = np_(fibril.randint(-(2**63), 2**63 - 1, (1000,), generator=g))
    assert (big < 0).any() and (big > 0).any()
    f = fibril.randint_like(fibril.zeros(100), 5, generator=g)
    assert f.dtype == fibril.float32 and set(np.unique(np_(f))) <= {0, 1, 2, 3, 4}


def test_random_():
    g = fibril.Generator().manual_seed(8)
    assert np_(fibril.empty(1000, dtype=fibril.uint8).random_(generator=g)).max() > 200
    x = np_(fibril.empty(1000, dtype=fibril.int32).random_(3, 5, generator=g))
    assert set(np.unique(x)) == {3, 4}
    assert np_(fibril.empty(1000).random_(generator=g)).max() > 2**20


def test_randperm_is_a_deterministic_permutation():
    g = fibril.Generator().manual_seed(9)
    p = np_(fibril.randperm(10_000, generator=g))
    assert p.dtype == np.int64 and np.array_equal(np.sort(p), np.arange(10_000))
    assert not np.array_equal(p, np.arange(10_000))
    np.testing.assert_array_equal(np_(fibril.randperm(10_000, generator=g.manual_seed(9))), p)
    assert fibril.randperm(0).shape == (0,)
    first = np.array([np_(fibril.randperm(4, generator=g))[0] for _ in range(4000)])
    chi_square_ok(np.bincount(first, minlength=4), np.full(4, 1000))
    with pytest.raises(RuntimeError):
        fibril.randperm(-1)


def test_multinomial_with_replacement_frequencies():
    probs = fibril.tensor([0.1, 0.0, 0.6, 0.3])
    s = np_(fibril.multinomial(probs, N, replacement=True, generator=fibril.Generator().manual_seed(10)))
    counts = np.bincount(s, minlength=4)
    assert counts[1] == 0
    chi_square_ok(counts[[0, 2, 3]], N * np.array([0.1, 0.6, 0.3]))


def test_multinomial_without_replacement():
    g = fibril.Generator().manual_seed(12)
    weights = fibril.tensor([[1.0, 0.0, 2.0, 3.0, 4.0]] * 20000)
    s = np_(fibril.multinomial(weights, 3, generator=g))
    assert s.shape == (20000, 3)
    assert all(len(set(row)) == 3 for row in s[:500]) and not (s == 1).any()
    # The first draw follows the weights; the second, given the first, too (sequential sampling).
    chi_square_ok(np.bincount(s[:, 0], minlength=5)[[0, 2, 3, 4]], 20000 * np.array([1, 2, 3, 4]) / 10)
    all4 = np_(fibril.multinomial(fibril.tensor([1.0, 1.0, 0.0, 1.0, 1.0]), 4, generator=g))
    assert sorted(all4) == [0, 1, 3, 4]


@pytest.mark.parametrize("probs, n, replacement", [
    ([1.0, 0.0, 1.0], 3, False),          # fewer non-zero categories than samples
    ([1.0, 1.0], 3, False),               # more samples than categories
    ([1.0, -0.5], 1, True),
    ([1.0, float("inf")], 1, True),
    ([1.0, float("nan")], 1, True),
    ([0.0, 0.0], 1, True),
    ([1.0, 1.0], 0, True),
])
def test_multinomial_bad_input(probs, n, replacement):
    with pytest.raises(RuntimeError):
        fibril.multinomial(fibril.tensor(probs), n, replacement)


# ------------------------------------------------------------------------------ dropout
def test_dropout_mask_and_scale():
    x = fibril.ones(N)
    y = np_(fibril.dropout(x, 0.25, generator=fibril.Generator().manual_seed(13)))
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    within((y == 0).mean(), 0.25, math.sqrt(0.1875 / N))


def test_dropout_edge_cases():
    x = fibril.randn(100)
    np.testing.assert_array_equal(np_(fibril.dropout(x, 0.0)), np_(x))
    assert not np_(fibril.dropout(x, 1.0)).any()
    assert fibril.dropout(x, 0.5, training=False) is x
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError):
            fibril.dropout(x, p)
        with pytest.raises(ValueError):
            fibril.dropout(x, p, training=False)


def test_dropout_gradient_is_the_same_mask():
    x = (fibril.rand(1000, dtype=fibril.float64) + 1).requires_grad_()
    y = fibril.dropout(x, 0.3)
    g = fibril.randn(1000, dtype=fibril.float64)
    y.backward(g)
    mask = np_(y.detach()) / np_(x.detach())
    np.testing.assert_allclose(np_(x.grad), np_(g) * mask, rtol=1e-15)
    assert set(np.round(np.unique(mask), 12)) == {0.0, round(1 / 0.7, 12)}


def test_dropout_of_a_non_contiguous_input():
    x = fibril.ones(30, 40).T
    y = fibril.dropout(x, 0.5, generator=fibril.Generator().manual_seed(14))
    assert y.shape == (40, 30)
    assert set(np.unique(np_(y))) == {0.0, 2.0}


# ------------------------------------------------------------------------------ bad input
def test_bad_bounds_and_probabilities():
    with pytest.raises(RuntimeError):
        fibril.randint(5, 5, (3,))
    with pytest.raises(RuntimeError):
        fibril.empty(3).uniform_(1, 0)
    with pytest.raises(RuntimeError):
        fibril.empty(3).normal_(0, -1)
    with pytest.raises(ValueError):
        fibril.empty(3).bernoulli_(1.5)
    with pytest.raises(RuntimeError):
        fibril.bernoulli(fibril.tensor([0.5, 1.5]))
    with pytest.raises(RuntimeError):
        fibril.rand(3, dtype=fibril.int64)


def test_in_place_fill_of_a_leaf_that_requires_grad_needs_no_grad():
    w = fibril.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError):
        w.uniform_()
    with fibril.no_grad():
        w.normal_()
    assert w.requires_grad and np_(w.detach()).any()


def test_shapes_and_dtypes_match_torch():
    torch = pytest.importorskip("torch")
    calls = [
        lambda m: m.rand(2, 3), lambda m: m.rand((2, 3), dtype=m.float64), lambda m: m.randn(4),
        lambda m: m.randint(5, (2, 2)), lambda m: m.randint(-2, 5, (3,), dtype=m.int32),
        lambda m: m.rand_like(m.zeros(2, dtype=m.float64)), lambda m: m.randint_like(m.zeros(3, dtype=m.int32), 4),
        lambda m: m.normal(m.zeros(2, 1), m.ones(3)), lambda m: m.normal(0.0, 1.0, (5,)),
        lambda m: m.bernoulli(m.full((3,), 0.5, dtype=m.float64)), lambda m: m.randperm(6),
        lambda m: m.multinomial(m.ones(2, 5), 3), lambda m: m.multinomial(m.ones(4), 9, True),
        lambda m: m.zeros(3, dtype=m.uint8).random_(), lambda m: m.zeros(3, dtype=m.bool).bernoulli_(0.5),
    ]
    for call in calls:
        ours, theirs = call(fibril), call(torch)
        assert tuple(ours.shape) == tuple(theirs.shape)
        assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")


# ------------------------------------------------------------------------------ CUDA
@pytest.mark.cuda
class TestCuda:
    """The CUDA fills reproduce the CPU's values for the same seed and offset, bit for bit
    (float64 normal: to 1e-15, its log/sin/cos being CUDA's), at odd sizes and offsets."""

    def _both(self, fn, seed=123):
        cpu = fn(fibril.Generator().manual_seed(seed), "cpu")
        dev = fn(fibril.Generator().manual_seed(seed), "cuda")
        assert dev.device == "cuda:0"
        return np_(cpu), np_(dev.to("cpu"))

    @pytest.mark.parametrize("n", [1, 7, 1001])
    @pytest.mark.parametrize("dtype", [fibril.float32, fibril.float64])
    def test_uniform_normal(self, n, dtype):
        a, b = self._both(lambda g, d: fibril.rand(n, generator=g, dtype=dtype, device=d))
        np.testing.assert_array_equal(a, b)
        a, b = self._both(lambda g, d: fibril.empty(n, dtype=dtype, device=d).uniform_(-3.0, 2.5, generator=g))
        np.testing.assert_array_equal(a, b)
        a, b = self._both(lambda g, d: fibril.randn(n, generator=g, dtype=dtype, device=d))
        if dtype == fibril.float32:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-15, atol=1e-15)

    def test_offsets_bernoulli_randint_dropout(self):
        def seq(g, d):  # successive calls advance the offset: the third call starts mid-stream
            fibril.rand(5, generator=g, device=d)
            fibril.randn(3, generator=g, device=d)
            return fibril.rand(9, generator=g, device=d)

        a, b = self._both(seq)
        np.testing.assert_array_equal(a, b)
        for dtype in [fibril.float32, fibril.int64, fibril.bool]:
            a, b = self._both(lambda g, d: fibril.empty(333, dtype=dtype, device=d).bernoulli_(0.3, generator=g))
            np.testing.assert_array_equal(a, b)
        p = np.linspace(0, 1, 77)
        a, b = self._both(lambda g, d: fibril.bernoulli(fibril.tensor(p, device=d), generator=g))
        np.testing.assert_array_equal(a, b)
        with pytest.raises(RuntimeError, match="probability"):
            fibril.bernoulli(fibril.tensor(p + 0.5, device="cuda"))
        a, b = self._both(lambda g, d: fibril.randint(-5, 1000, (501,), generator=g, device=d))
        np.testing.assert_array_equal(a, b)
        a, b = self._both(lambda g, d: fibril.randint(-2**62, 2**62, (13,), generator=g, device=d))
        np.testing.assert_array_equal(a, b)
        x = np.random.default_rng(0).standard_normal((7, 9)).astype(np.float32)
        a, b = self._both(lambda g, d: fibril.dropout(fibril.tensor(x, device=d), 0.4, generator=g))
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------ 16-bit floats
BITS_16 = [(fibril.float16, 11), (fibril.bfloat16, 8)]


@pytest.mark.parametrize("dtype, bits", BITS_16)
def test_16bit_uniform_is_on_the_grid_below_one(dtype, bits):
    """As torch's: k / 2^bits for k uniform in [0, 2^bits), never 1 (a rounded float32 draw reaches 1)."""
    g = fibril.Generator().manual_seed(9)
    for t in (fibril.rand(10**6, dtype=dtype, generator=g), fibril.rand_like(fibril.zeros(10**6, dtype=dtype), generator=g),
              fibril.empty(10**6, dtype=dtype).uniform_(generator=g)):
        assert t.dtype == dtype
        k = np_(t.float()).astype(np.float64) * 2**bits
        np.testing.assert_array_equal(k, np.floor(k))
        counts = np.bincount(k.astype(np.int64))
        assert len(counts) == 2**bits and counts.min() > 0  # every grid point, 1.0 (k = 2^bits) never
        m = 2**bits
        within(k.mean(), (m - 1) / 2, math.sqrt((m * m - 1) / 12 / 10**6))
        within(k.var(), (m * m - 1) / 12, m * m * math.sqrt(1 / 180 / 10**6))
    y = np_(fibril.empty(10**5, dtype=dtype).uniform_(-2, 2, generator=g).float())
    assert y.min() >= -2 and y.max() < 2


@pytest.mark.parametrize("dtype, bits", BITS_16)
def test_16bit_exponential_is_finite_with_its_tail(dtype, bits):
    x = np_(fibril.empty(10**6, dtype=dtype).exponential_(2.0, generator=fibril.Generator().manual_seed(10)).float())
    assert np.isfinite(x).all() and x.min() >= 0
    assert x.max() > 5  # a 16-bit uniform caps -log1p(-u) / 2 at bits * ln(2) / 2 (< 4)
    within(x.astype(np.float64).mean(), 0.5, 0.5 / math.sqrt(10**6) + 2.0**-bits)
    within(x.astype(np.float64).var(), 0.25, 0.25 * math.sqrt(8 / 10**6) + 2.0**-bits)


@pytest.mark.parametrize("dtype, bits", BITS_16)
def test_16bit_random_without_bounds(dtype, bits):
    """Integers in [0, 2^bits] (those the dtype holds exactly), as torch's."""
    x = np_(fibril.empty(10**6, dtype=dtype).random_(generator=fibril.Generator().manual_seed(11)).float())
    np.testing.assert_array_equal(x, np.floor(x))
    assert x.min() == 0 and x.max() == 2**bits
