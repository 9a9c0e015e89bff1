"""torch's top-level functions and Tensor methods fibril composes from its own ops: aliases
(comparisons, nn.functional ops in ATen's signatures, in-place functions), number theory and
float decomposition (gcd, lcm, ldexp, frexp, nextafter), isin, statistics and integration (cov,
corrcoef, trapezoid, gradient, histogram), the scatters, windows, in-place methods and samplers."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fibril  # noqa: E402
from op_check import check_op, make_inputs  # noqa: E402

X = np.linspace(-2.0, 3.0, 12).reshape(3, 4)
Y = np.linspace(0.5, 4.0, 12).reshape(3, 4)[::-1].copy()
V = np.array([0.5, -1.0, 2.0, 3.5, 0.25])
I = np.array([[12, -18, 0, 7], [9, 4, -6, 5]])
J = np.array([[8, 12, 0, 3], [6, -10, 4, 0]])


def _run(lib, code, arrays):
    env = {"L": lib, **{k: lib.tensor(v) for k, v in arrays.items()}}
    try:
        return eval(code, env)
    except Exception as e:  # compared by type below
        return type(e)


def _as_comparable(out):
    if isinstance(out, tuple):
        return tuple(_as_comparable(o) for o in out)
    if hasattr(out, "dtype") and hasattr(out, "shape"):
        return np.asarray(out.detach() if hasattr(out, "detach") else out), str(out.dtype).split(".")[-1]
    return list(out) if type(out).__name__ == "Size" else out


def _assert_close(got, want, code):
    if isinstance(want, tuple) and len(want) == 2 and isinstance(want[0], np.ndarray):
        assert isinstance(got, tuple) and isinstance(got[0], np.ndarray), (code, got, want)
        assert got[0].shape == want[0].shape and got[1] == want[1], (code, got, want)
        atol = 1e-7 if want[1] == "float32" else 1e-9
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=atol, err_msg=code)
    elif isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), (code, got, want)
        for g, w in zip(got, want):
            _assert_close(g, w, code)
    elif want in (RuntimeError, NotImplementedError):
        # torch's catch-all; fibril raises the exception for the kind of error
        assert got in (want, ValueError, TypeError, IndexError), (code, got, want)
    else:
        assert got == want, (code, got, want)


def assert_same(code, **arrays):
    """code gives the same values, shape and dtype (or error) with fibril and torch as L."""
    arrays = arrays or {"x": X, "y": Y, "v": V, "i": I, "j": J}
    _assert_close(_as_comparable(_run(fibril, code, arrays)), _as_comparable(_run(torch, code, arrays)), code)


# ------------------------------------------------------------------------------ aliases and predicates
@pytest.mark.parametrize("code", [
    "L.greater(x, y)", "L.greater_equal(x, 0.5)", "L.less(x, y)", "L.less_equal(i, j)", "L.not_equal(i, j)",
    "L.ravel(x.t())", "L.select(x, 1, -1)", "L.detach(x)", "L.rsub(x, y)", "L.rsub(x, y, alpha=2)",
    "L.rsub(i, 3)", "L.rsub(i, 2.5)", "L.vdot(v, v)", "x.select(0, 1).vdot(y[1])", "L.vdot(x, y)",
    "L.broadcast_shapes((3, 1), (4,), 1)", "L.broadcast_shapes((2, 3), (4, 3))", "L.broadcast_shapes()",
    "L.is_nonzero(x[0, :1])", "L.is_nonzero(i[0, 2])", "L.is_nonzero(x)", "L.is_same_size(x, y)",
    "L.is_same_size(x, v)", "L.is_signed(i)", "L.is_signed(i.to(L.uint8))", "x.is_signed()",
    "L.scalar_tensor(3)", "L.scalar_tensor(2.5, dtype=L.float64)", "L.range(1, 4)", "L.range(0, 1, 0.25)",
    "L.range(5, 1, -2)", "L.range(1, 4, dtype=L.int64)", "L.range(0, 1, -1)",
    "L.asarray([1, 2, 3])", "L.asarray(x, dtype=L.float32)", "L.asarray([[1.5, 2.0]], dtype=L.float64)",
    "L.empty_strided((2, 3), (1, 2)).stride()", "L.empty_strided((2, 3), (1, 2)).shape",
    "x.H", "x.mH", "x.reshape(3, 2, 2).mH", "v.H", "L.adjoint(x)", "x.adjoint()",
    "v.adjoint()", "L.isreal(x)", "L.unravel_index(i.abs(), (4, 5))",
    "L.unravel_index(L.tensor([-1, 5, 6, 23]), (2, 3))", "L.unravel_index(L.tensor(4), (2, 3))",
    "L.unravel_index(x, (2, 3))", "x.sum_to_size(1, 4)", "x.sum_to_size((3, 1))", "x.sum_to_size(4)",
    "x.sum_to_size(2, 4)",
])
def test_aliases_and_predicates(code):
    assert_same(code)


def test_asarray_shares_a_tensor_and_a_numpy_array():
    x = fibril.tensor([1.0, 2.0])
    assert fibril.asarray(x) is x
    assert fibril.asarray(x, copy=True) is not x
    a = np.arange(3.0)
    shared = fibril.asarray(a)
    a[0] = 9.0
    assert shared[0].item() == 9.0


def test_swapaxes_inplace_is_transpose_inplace():
    for lib in (fibril, torch):
        t = lib.zeros(2, 3, 4)
        assert tuple(t.swapaxes_(0, 2).shape) == (4, 3, 2) and tuple(t.swapdims_(0, 1).shape) == (3, 4, 2)


@pytest.mark.parametrize("name", ["abs_", "exp_", "sigmoid_", "relu_", "tanh_", "sqrt_", "round_", "zero_", "trunc_",
                                  "square_", "neg_"])
def test_top_level_inplace_functions_write_into_their_argument(name):
    got, want = fibril.tensor(Y.copy()), torch.tensor(Y.copy())
    assert getattr(fibril, name)(got) is got
    getattr(torch, name)(want)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


# ------------------------------------------------------------------------------ nn.functional ops at top level
@pytest.mark.parametrize("code", [
    "L.relu(x)", "L.selu(x)", "L.celu(x, 0.5)", "L.threshold(x, 0.1, -7.0)", "L.hardshrink(x, 1.0)",
    "L.prelu(x, L.tensor([0.25], dtype=L.float64))", "L.rrelu(x)",
    "L.conv1d(x[None], y[:2, :3].reshape(2, 3, 1))",
    "L.conv2d(x[None, None], y[None, None, :2, :2])", "L.conv_transpose1d(x[None], y[:, :2].reshape(3, 1, 2))",
    "L.max_pool1d(x[None], 2)", "L.max_pool2d(x[None], 2, 1)", "L.avg_pool1d(x[None], 2)",
    "L.adaptive_avg_pool1d(x[None], 3)", "L.adaptive_max_pool1d(x[None], 3)",
    "L.layer_norm(x, (4,), y[0], y[1], 1e-5, True)", "L.group_norm(x.reshape(1, 4, 3), 2)",
    "L.batch_norm(x.t(), y[0, :3], y[1, :3], y[2, :3].clone(), y[0, :3].abs(), False, 0.1, 1e-5, False)",
    "L.batch_norm(x, None, None, None, None, True, 0.1, 1e-5, False)",
    "L.instance_norm(x.reshape(1, 3, 4), None, None, None, None, True, 0.1, 1e-5, False)",
    "L.rms_norm(x, (4,))", "L.embedding(y, L.tensor([[2, 0], [1, 1]]))",
    "L.embedding(y, L.tensor([2, 0]), 0)", "L.pixel_shuffle(x.reshape(1, 4, 3, 1), 2)",
    "L.pixel_unshuffle(x.reshape(1, 1, 2, 6), 2)", "L.channel_shuffle(x.reshape(1, 4, 3), 2)",
    "L.cosine_similarity(x, y)", "L.pairwise_distance(x, y)", "L.pdist(x)",
    "L.bilinear(x, y, L.ones(2, 4, 4, dtype=L.float64), None)",
    "L.dropout(x, 0.5, False)", "L.alpha_dropout(x, 0.3, False)", "L.feature_alpha_dropout(x, 0.3, False)",
    "L.kl_div(x, y)", "L.kl_div(x, y.log(), 0, log_target=True)", "L.kl_div(x, y, 2)",
    "L.binary_cross_entropy_with_logits(x, y / 4)", "L.binary_cross_entropy_with_logits(x, y / 4, None, y[0], 0)",
    "L.margin_ranking_loss(x[0], y[0], L.tensor([1.0, -1, 1, -1]), 0.5, 2)",
    "L.triplet_margin_loss(x, y, x.flip(0), 1.0, 2.0, 1e-6, True, 0)",
    "L.hinge_embedding_loss(x, y.sign() * 0 + 1, 1.0, 1)",
    "L.cosine_embedding_loss(x, y, L.tensor([1.0, -1, 1]), 0.1, 2)",
    "L.poisson_nll_loss(x, y, True, False, 1e-8, 1)", "L.poisson_nll_loss(y, x.abs(), False, True, 1e-8, 0)",
])
def test_functional_ops_at_top_level_take_atens_signature(code):
    assert_same(code)


def test_ctc_loss_at_top_level_takes_an_integer_reduction():
    logits = make_inputs([(6, 2, 4)])[0]
    targets, input_lengths, target_lengths = np.array([[1, 2], [3, 3]]), np.array([6, 5]), np.array([2, 1])
    results = []
    for lib in (fibril, torch):
        log_probs = lib.tensor(logits).log_softmax(2)
        results.append([lib.ctc_loss(log_probs, lib.tensor(targets), lib.tensor(input_lengths),
                                     lib.tensor(target_lengths), 0, reduction).detach().numpy()
                        for reduction in (0, 1, 2)])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-6)


# ------------------------------------------------------------------------------ new math
@pytest.mark.parametrize("code", [
    "L.gcd(i, j)", "L.lcm(i, j)", "i.gcd(j)", "i.lcm(j[0])", "i.clone().gcd_(j)", "i.clone().lcm_(j)",
    "L.gcd(x, y)", "L.gcd(i, j.to(L.int32))", "L.ldexp(x, i[0])", "L.ldexp(i, j.abs())", "x.ldexp(i[1].to(L.int32))",
    "x.clone().ldexp_(i[0])", "i.clone().ldexp_(j)", "L.frexp(x * 100)", "(x * 1e-30).frexp()", "L.frexp(i)",
    "L.frexp(L.tensor([0.0, -0.0, float('inf'), -float('inf')]))", "L.nextafter(x, y)",
    "x.to(L.float32).nextafter(y.to(L.float32))", "x.clone().nextafter_(y)", "L.nextafter(x, i[0])",
    "L.nextafter(x.to(L.float32), y)", "L.nextafter(i, j)", "L.nextafter(x, 2.0)",
    "L.nextafter(x.to(L.float16), y.to(L.float16))",
    "L.isin(i, j)", "L.isin(i, j, invert=True)", "L.isin(x, 0.5)", "L.isin(3, i)", "L.isin(x, i)",
    "L.isin(i, L.tensor([], dtype=L.int64))", "L.isin(i, j, assume_unique=True)",
])
def test_number_theory_float_decomposition_and_isin(code):
    assert_same(code)


@pytest.mark.parametrize("code", [
    "L.cov(x)", "L.cov(v)", "L.cov(x, correction=0)", "L.cov(x, correction=3)", "L.cov(i)",
    "L.cov(x, fweights=L.tensor([1, 2, 0, 3]))", "L.cov(x, aweights=y[0])",
    "L.cov(x, fweights=L.tensor([1, 2, 1, 3]), aweights=y[1], correction=2)", "x.cov()",
    "L.cov(x.reshape(1, 3, 4))", "L.cov(x, fweights=L.tensor([1, -2, 1, 3]))", "L.cov(x, aweights=y[0, :3])",
    "L.corrcoef(x)", "x.corrcoef()", "L.corrcoef(v)", "L.corrcoef(i)",
    "L.trapezoid(x)", "L.trapezoid(x, dim=0)", "L.trapezoid(x, dx=0.5)", "L.trapezoid(x, y[0])",
    "L.trapezoid(x, y, dim=0)", "L.trapezoid(x, y[:, 0], dim=0)", "L.trapezoid(i)", "L.trapezoid(i, dx=2)",
    "L.trapezoid(x[:, :0])", "L.trapz(x, y)", "L.trapz(x, dx=2.0, dim=0)",
    "L.cumulative_trapezoid(x)", "L.cumulative_trapezoid(x, y, dim=0)", "L.cumulative_trapezoid(x, dx=3.0)",
    "L.cumulative_trapezoid(i)", "L.cumulative_trapezoid(x, y[0])",
    "L.gradient(x)", "L.gradient(x, dim=1)", "L.gradient(x, spacing=2.0)", "L.gradient(x, spacing=[2.0, 0.5])",
    "L.gradient(x, spacing=(v[:3].cumsum(0).abs() + L.arange(3), v[1:].abs().cumsum(0)))",
    "L.gradient(x, dim=1, edge_order=2)", "L.gradient(x, spacing=0.5, edge_order=2)", "L.gradient(i)",
    "L.gradient(v, spacing=(L.tensor(2.0),))", "L.gradient(x, edge_order=3)", "L.gradient(x[:, :1], dim=1)",
    "L.combinations(v)", "L.combinations(v, 3)", "L.combinations(v, with_replacement=True)",
    "L.combinations(i[0], 0)", "L.combinations(v, 6)", "L.combinations(x)",
    "L.histogram(x)", "L.histogram(x, 4)", "L.histogram(x, 3, range=(-1.0, 1.0))",
    "L.histogram(x, bins=L.tensor([-2.0, 0.0, 0.5, 3.0], dtype=L.float64))",
    "L.histogram(x, 5, weight=y)", "L.histogram(x, 5, density=True)", "L.histogram(x, 5, weight=y, density=True)",
    "L.histogram(x[0, :1].expand(3), 2)", "L.histogram(x[:0], 2)", "x.histogram(3)", "L.histogram(i, 3)",
])
def test_statistics_and_integration(code):
    assert_same(code)


@pytest.mark.parametrize("code", [
    "L.select_scatter(x, y[0], 0, 1)", "L.select_scatter(x, y[:, 0], 1, -1)", "x.select_scatter(i[0, :3], 1, 0)",
    "L.select_scatter(x, y[0, :3], 0, 1)", "L.slice_scatter(x, y[:2], 0, 1)",
    "L.slice_scatter(x, y[:, :2], 1, 0, 4, 2)", "x.slice_scatter(y[:, 1:], dim=1, start=1)",
    "L.slice_scatter(x, y, 0, 0, 2)", "L.diagonal_scatter(x, y[0, :3])", "L.diagonal_scatter(x, y[0, :3], 1)",
    "L.diagonal_scatter(x, y[0, :2], -1)", "x.diagonal_scatter(y[0, :3], 0, 1, 0)",
    "L.diagonal_scatter(x, y[0])",
])
def test_scatters_write_src_into_a_copy(code):
    assert_same(code)


@pytest.mark.parametrize("name", ["hann_window", "hamming_window", "blackman_window", "bartlett_window",
                                  "kaiser_window"])
@pytest.mark.parametrize("length", [0, 1, 2, 5, 8])
@pytest.mark.parametrize("periodic", [True, False])
def test_windows(name, length, periodic):
    assert_same(f"L.{name}({length}, {periodic}, dtype=L.float64)")
    assert_same(f"L.{name}({length}, periodic={periodic})")


@pytest.mark.parametrize("code", [
    "L.hamming_window(7, True, 0.6, 0.3, dtype=L.float64)", "L.kaiser_window(9, False, 5.0, dtype=L.float64)",
    "L.hann_window(4, dtype=L.int64)", "L.hann_window(-1)",
])
def test_window_parameters_and_errors(code):
    assert_same(code)


# ------------------------------------------------------------------------------ Tensor methods
@pytest.mark.parametrize("code", [
    "x.clone().cumsum_(1)", "x.clone().cumprod_(0)", "i.clone().cumsum_(1)", "y.clone().lgamma_()",
    "y.clone().digamma_()", "(x / 4).erfinv_()", "y.clone().polygamma_(2)", "x.clone().heaviside_(y)",
    "x.clone().addmm_(x, L.ones(4, 4, dtype=L.float64), beta=2)",
    "x.clone().addmm_(y, L.eye(4, dtype=L.float64), beta=2, alpha=0.5)",
    "i[:, :2].clone().addmm_(x[:2, :2], x[:2, :2])",
    "x[0].clone().addmv_(y.t(), y[:, 0], alpha=3)", "x.clone().addr_(y[:, 0], y[0], beta=0.5)",
    "x.clone().addbmm_(y[None], L.ones(1, 4, 4, dtype=L.float64))",
    "x[None].clone().baddbmm_(y[None], L.ones(1, 4, 4, dtype=L.float64), alpha=2)",
    "x.clone().greater_(y)", "x.clone().less_(y)", "x.clone().greater_equal_(0.5)", "x.clone().less_equal_(y)",
    "x.clone().not_equal_(y)", "x.hardshrink(1.0)", "x.prelu(L.tensor([0.25], dtype=L.float64))",
    "x.clone().index_reduce_(0, L.tensor([0, 2, 0]), y, 'prod')",
    "x.index_reduce(1, L.tensor([0, 3, 3, 1]), y, 'amax', include_self=False)",
    "x.index_reduce(0, L.tensor([1, 1, 1]), y, 'mean')", "x.index_reduce(0, L.tensor([1, 1, 1]), y, 'amin')",
    "i.index_reduce(1, L.tensor([0, 1, 1, 0]), j, 'mean')", "x.index_reduce(0, L.tensor([0, 1]), y, 'prod')",
    "x.index_reduce(0, L.tensor([0, 1, 2]), y, 'sum')", "x.index_reduce(0, L.tensor([0, 1, 2]), y[:, :3], 'prod')",
])
def test_tensor_methods(code):
    assert_same(code)


# ------------------------------------------------------------------------------ gradients by composition
@pytest.mark.parametrize("fns", [
    (lambda a: fibril.cov(a), lambda a: torch.cov(a)),
    (lambda a: fibril.cov(a, aweights=fibril.tensor([1.0, 2.0, 0.5, 3.0], dtype=fibril.float64)),
     lambda a: torch.cov(a, aweights=torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=torch.float64))),
    (lambda a: fibril.corrcoef(a), lambda a: torch.corrcoef(a)),
    (lambda a: fibril.trapezoid(a), lambda a: torch.trapezoid(a)),
    (lambda a: fibril.cumulative_trapezoid(a, dim=0), lambda a: torch.cumulative_trapezoid(a, dim=0)),
    (lambda a: fibril.gradient(a, spacing=0.5, edge_order=2)[1], lambda a: torch.gradient(a, spacing=0.5,
                                                                                          edge_order=2)[1]),
    (lambda a: fibril.combinations(a.reshape(-1)[:5], 3), lambda a: torch.combinations(a.reshape(-1)[:5], 3)),
    # non-negative exponents: torch's gradient takes 2 ** other in integers, 0 for a negative one
    (lambda a: fibril.ldexp(a, fibril.tensor([1, 2, 3, 0])), lambda a: torch.ldexp(a, torch.tensor([1, 2, 3, 0]))),
    (lambda a: fibril.frexp(a).mantissa, lambda a: torch.frexp(a).mantissa),
    (lambda a: fibril.rsub(a, 2.0, alpha=3), lambda a: torch.rsub(a, 2.0, alpha=3)),
    (lambda a: a.sum_to_size(3, 1), lambda a: a.sum_to_size(3, 1)),
    (lambda a: fibril.vdot(a[0], a[1]), lambda a: torch.vdot(a[0], a[1])),
])
def test_gradients_match_torch(fns):
    check_op(fns[0], fns[1], make_inputs([(3, 4)], seed=3))


@pytest.mark.parametrize("fns", [
    (lambda a, b: fibril.trapezoid(a, b), lambda a, b: torch.trapezoid(a, b)),
    (lambda a, b: fibril.select_scatter(a, b[0], 0, 2), lambda a, b: torch.select_scatter(a, b[0], 0, 2)),
    (lambda a, b: fibril.slice_scatter(a, b[:, ::2], 1, 0, 4, 2),
     lambda a, b: torch.slice_scatter(a, b[:, ::2], 1, 0, 4, 2)),
    (lambda a, b: fibril.diagonal_scatter(a, b[0, :3], 1), lambda a, b: torch.diagonal_scatter(a, b[0, :3], 1)),
    (lambda a, b: a.index_reduce(1, fibril.tensor([0, 3, 3, 1]), b, "prod"),
     lambda a, b: a.index_reduce(1, torch.tensor([0, 3, 3, 1]), b, "prod")),
    (lambda a, b: a.clone().addmm_(a[:, :3], b, beta=2), lambda a, b: a.clone().addmm_(a[:, :3], b, beta=2)),
])
def test_two_input_gradients_match_torch(fns):
    check_op(fns[0], fns[1], make_inputs([(3, 4), (3, 4)], seed=5))


def test_gradient_with_coordinates_has_torchs_gradient():
    coords = np.array([0.0, 0.5, 1.75, 2.0])
    check_op(lambda a: fibril.gradient(a, spacing=(fibril.tensor(coords),), dim=1)[0],
             lambda a: torch.gradient(a, spacing=(torch.tensor(coords),), dim=1)[0], make_inputs([(3, 4)], seed=8))


# ------------------------------------------------------------------------------ samplers
def test_geometric_cauchy_and_log_normal_have_their_distributions():
    fibril.manual_seed(0)
    geometric = fibril.empty(40000, dtype=fibril.float64).geometric_(0.3).numpy()
    assert geometric.min() == 1 and np.all(geometric == np.round(geometric))
    assert abs(geometric.mean() - 1 / 0.3) < 0.05 and abs(geometric.var() - 0.7 / 0.09) < 0.4
    cauchy = fibril.empty(40000, dtype=fibril.float64).cauchy_(1.0, 2.0).numpy()
    quartiles = np.quantile(cauchy, [0.25, 0.5, 0.75])
    np.testing.assert_allclose(quartiles, [-1.0, 1.0, 3.0], atol=0.1)
    log_normal = np.log(fibril.empty(40000, dtype=fibril.float64).log_normal_(0.5, 0.3).numpy())
    assert abs(log_normal.mean() - 0.5) < 0.01 and abs(log_normal.std() - 0.3) < 0.01
    with pytest.raises(RuntimeError):
        fibril.empty(3).geometric_(1.5)


def test_poisson_and_binomial_have_their_moments_and_replay_under_a_seed():
    fibril.manual_seed(1)
    rates = fibril.full((40000,), 3.5, dtype=fibril.float64)
    counts = fibril.poisson(rates).numpy()
    assert np.all(counts == np.round(counts)) and abs(counts.mean() - 3.5) < 0.05 and abs(counts.var() - 3.5) < 0.1
    draws = fibril.binomial(fibril.full((40000,), 10.0), fibril.full((40000,), 0.3))
    assert draws.dtype == fibril.float32 and draws.max().item() <= 10
    assert abs(draws.mean().item() - 3.0) < 0.05 and abs(draws.var().item() - 2.1) < 0.1
    assert fibril.poisson(fibril.zeros(5)).sum().item() == 0
    fibril.manual_seed(7)
    first = fibril.poisson(fibril.full((6,), 2.0)).numpy()
    fibril.manual_seed(7)
    np.testing.assert_array_equal(fibril.poisson(fibril.full((6,), 2.0)).numpy(), first)
    with pytest.raises((RuntimeError, TypeError)):
        fibril.poisson(fibril.tensor([1, 2]))
    for lib in (fibril, torch):
        with pytest.raises((RuntimeError, ValueError)):
            lib.poisson(lib.tensor([-1.0]))


def test_histogram_matches_torch_on_float32_edges():
    values = make_inputs([(50,)], seed=4)[0].astype(np.float32)
    got = fibril.histogram(fibril.tensor(values), 7)
    want = torch.histogram(torch.tensor(values), 7)
    np.testing.assert_array_equal(got.hist.numpy(), want.hist.numpy())
    np.testing.assert_allclose(got.bin_edges.numpy(), want.bin_edges.numpy(), rtol=1e-6)
    assert math.isclose(float(got.hist.sum()), 50.0)
