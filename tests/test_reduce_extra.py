"""Reductions composed from the reduce kernels and sort: nansum/nanmean, var_mean/std_mean,
aminmax, count_nonzero, median/nanmedian, quantile/nanquantile, mode, cummax/cummin,
logcumsumexp and diff. Values against float64 numpy (or a plain Python loop where numpy has
no such op), PyTorch for edge cases, indices and gradients, and gradcheck."""

import collections
import math
import warnings

import numpy as np
import pytest

import fibril
from op_check import check_op, make_inputs, torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
nan = math.nan


def with_nans(shape, seed=0):
    x = make_inputs([shape], seed)[0]
    x.flat[::4] = nan
    return x


def assert_same(got, want):
    """A fibril tensor (or tuple of them) equals a torch one: values (NaN matching NaN), shape, dtype."""
    got, want = (got, want) if isinstance(got, tuple) else ((got,), (want,))
    for g, w in zip(got, want, strict=True):
        assert g.dtype.name == str(w.dtype).replace("torch.", ""), (g.dtype, w.dtype)
        np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------ nansum, nanmean
@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), ((0, 2), False), (-1, True)])
def test_nansum_nanmean_values(dim, keepdim):
    x = with_nans((3, 4, 5))
    axis = dim
    t = fibril.tensor(x)
    np.testing.assert_allclose(fibril.nansum(t, dim, keepdim).numpy(), np.nansum(x, axis, keepdims=keepdim))
    with warnings.catch_warnings():  # numpy warns of all-NaN slices
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.nanmean(x, axis, keepdims=keepdim)
    np.testing.assert_allclose(t.nanmean(dim, keepdim).numpy(), want)


def test_nanmean_of_all_nan_is_nan_and_ints_are_refused():
    assert math.isnan(fibril.nanmean(fibril.tensor([nan, nan])).item())
    assert math.isnan(fibril.nanmean(fibril.tensor([])).item())
    assert fibril.nansum(fibril.tensor([1, 2], dtype=fibril.int32)).dtype == fibril.int64
    with pytest.raises(TypeError, match="int64"):
        fibril.nanmean(fibril.tensor([1, 2]))


def test_nan_reductions_gradient_skips_the_nans():
    x = make_inputs([(3, 4)])[0]
    x[0, 1] = x[2, 3] = nan
    check_op(lambda t: fibril.nansum(t, 1), lambda t: t.nansum(1), [x], gradcheck=False)
    check_op(lambda t: fibril.nanmean(t, 0, keepdim=True), lambda t: t.nanmean(0, keepdim=True), [x],
             gradcheck=False)
    check_op(lambda t: fibril.nanmean(t, 1), lambda t: t.nanmean(1), make_inputs([(3, 4)]))
    # An all-NaN line: torch's gradient there is NaN (0 / 0); fibril's is 0, as at every NaN.
    t = fibril.tensor([[nan, nan], [1.0, nan]], requires_grad=True)
    fibril.nanmean(t, 1).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[0, 0], [1, 0]])


# ------------------------------------------------------------------------------ var_mean, std_mean, aminmax, count_nonzero
def test_var_mean_std_mean():
    x = make_inputs([(4, 5)])[0]
    var, mean = fibril.var_mean(fibril.tensor(x), 1, keepdim=True)
    np.testing.assert_allclose(var.numpy(), x.var(1, ddof=1, keepdims=True))
    np.testing.assert_allclose(mean.numpy(), x.mean(1, keepdims=True))
    std, mean = fibril.std_mean(fibril.tensor(x), correction=0)
    np.testing.assert_allclose(std.numpy(), x.std())
    check_op(lambda t: fibril.stack(fibril.std_mean(t, 0)), lambda t: torch.stack(torch.std_mean(t, 0)), [x])


def test_aminmax():
    x = make_inputs([(4, 5)])[0]
    result = fibril.tensor(x).aminmax(dim=1, keepdim=True)
    np.testing.assert_allclose(result.min.numpy(), x.min(1, keepdims=True))
    np.testing.assert_allclose(result.max.numpy(), x.max(1, keepdims=True))
    smallest, largest = fibril.aminmax(fibril.tensor([3, 1, 2]))
    assert (smallest.item(), largest.item()) == (1, 3)
    check_op(lambda t: fibril.aminmax(t, dim=0).max, lambda t: torch.aminmax(t, dim=0).max, [x])
    with pytest.raises(IndexError, match="empty"):
        fibril.aminmax(fibril.tensor([]))


def test_count_nonzero():
    x = np.array([[1.0, 0, nan], [0, 0, 2]])
    t = fibril.tensor(x)
    assert fibril.count_nonzero(t).item() == np.count_nonzero(x) == 3
    np.testing.assert_array_equal(t.count_nonzero(1).numpy(), np.count_nonzero(x, 1))
    np.testing.assert_array_equal(fibril.count_nonzero(t, (0, 1)).numpy(), 3)
    assert fibril.count_nonzero(t, 0).dtype == fibril.int64


# ------------------------------------------------------------------------------ median, nanmedian
def lower_median(line, ignore_nan):
    line = np.asarray(line, np.float64)
    if ignore_nan:
        line = line[~np.isnan(line)]
    elif np.isnan(line).any():
        return nan
    return np.sort(line)[(len(line) - 1) // 2] if len(line) else nan


def lines_with_nans(shape, dim, seed=0):
    """Random values where, along dim, the first line is all NaN and the second partly."""
    y = make_inputs([np.moveaxis(np.empty(shape), dim, -1).shape], seed)[0]
    lines = y.reshape(-1, y.shape[-1])
    lines[-1, ::3] = nan
    if len(lines) > 1:
        lines[0] = nan
    return np.ascontiguousarray(np.moveaxis(y, -1, dim))


@pytest.mark.parametrize("fn", ["median", "nanmedian"])
@pytest.mark.parametrize("shape,dim", [((7,), 0), ((4, 6), 1), ((4, 6), 0), ((3, 4, 5), -2)])
def test_median_values_and_indices(fn, shape, dim):
    x = lines_with_nans(shape, dim, seed=len(shape))
    ignore_nan = fn == "nanmedian"
    t = fibril.tensor(x)
    want = np.apply_along_axis(lower_median, dim, x, ignore_nan)
    values, indices = getattr(fibril, fn)(t, dim)
    np.testing.assert_array_equal(values.numpy(), want)
    np.testing.assert_array_equal(np.take_along_axis(x, np.expand_dims(indices.numpy(), dim), dim).squeeze(dim), want)
    flat = x.ravel()
    np.testing.assert_array_equal(getattr(t, fn)().numpy(), lower_median(flat, ignore_nan))
    if torch is not None:
        assert_same(getattr(fibril, fn)(t, dim, keepdim=True).values, getattr(torch, fn)(torch.tensor(x), dim, True)[0])


@needs_torch
def test_median_picks_the_first_nan_as_torch():
    x = np.array([[1.0, nan, 3, nan], [4, 3, 2, 1]])
    assert_same(tuple(fibril.median(fibril.tensor(x), 1)), tuple(torch.median(torch.tensor(x), 1)))


def test_median_gradients():
    x = make_inputs([(4, 5)])[0]
    check_op(lambda t: fibril.median(t, 1).values, lambda t: torch.median(t, 1).values, [x])
    check_op(lambda t: fibril.nanmedian(t, 0, keepdim=True).values,
             lambda t: torch.nanmedian(t, 0, keepdim=True).values, [x])
    check_op(lambda t: fibril.median(t), lambda t: torch.median(t), [x])
    # The global median's gradient is split among the elements equal to it (as torch).
    check_op(lambda t: t.median(), lambda t: t.median(), [np.array([1.0, 2, 2, 3, 2, 0])], gradcheck=False)


def test_median_edge_cases():
    assert math.isnan(fibril.median(fibril.tensor([])).item())
    assert math.isnan(fibril.nanmedian(fibril.tensor([nan, nan])).item())
    assert fibril.median(fibril.tensor([3, 1, 2])).item() == 2
    values, indices = fibril.median(fibril.tensor(5.0), 0)
    assert values.shape == () and indices.item() == 0
    empty = fibril.median(fibril.zeros(0, 3), 1)
    assert empty.values.shape == (0,) and empty.indices.dtype == fibril.int64
    with pytest.raises(IndexError, match=r"dim 1 of input shape \[2, 0\]"):
        fibril.median(fibril.zeros(2, 0), 1)
    with pytest.raises(ValueError, match="empty int64"):
        fibril.median(fibril.tensor([], dtype=fibril.int64))


# ------------------------------------------------------------------------------ quantile, nanquantile
INTERPOLATIONS = ["linear", "lower", "higher", "midpoint", "nearest"]


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("dim,keepdim", [(None, False), (None, True), (0, False), (1, True), (-1, False)])
@pytest.mark.parametrize("q", [0.37, [0.0, 0.25, 0.5, 0.9, 1.0]])
def test_quantile_matches_numpy(interpolation, dim, keepdim, q):
    x = make_inputs([(5, 6)])[0]
    x[0, 0] = x[0, 1]  # a tie
    fq = q if isinstance(q, float) else fibril.tensor(q, dtype=fibril.float64)
    got = fibril.quantile(fibril.tensor(x), fq, dim, keepdim, interpolation=interpolation)
    want = np.quantile(x, q, axis=dim, keepdims=keepdim, method=interpolation)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    with_nan = x.copy()
    with_nan[1, 2] = with_nan[3, :] = nan
    got = fibril.tensor(with_nan).nanquantile(fq, dim, keepdim, interpolation=interpolation)
    with warnings.catch_warnings():  # numpy warns of the all-NaN line
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.nanquantile(with_nan, q, axis=dim, keepdims=keepdim, method=interpolation)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    got = fibril.quantile(fibril.tensor(with_nan), fq, dim, keepdim, interpolation=interpolation)
    np.testing.assert_allclose(got.numpy(), np.quantile(with_nan, q, axis=dim, keepdims=keepdim, method=interpolation))


@needs_torch
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_quantile_float32_and_gradients_match_torch(interpolation):
    x = make_inputs([(4, 7)], seed=3)[0]
    q = np.array([0.1, 0.45, 0.8])  # ranks off the integers and half-integers, where some modes jump
    for fn in ("quantile", "nanquantile"):
        got = getattr(fibril, fn)(fibril.tensor(x, dtype=fibril.float32), fibril.tensor(q, dtype=fibril.float32), 1,
                                  interpolation=interpolation)
        assert_same(got, getattr(torch, fn)(torch.tensor(x, dtype=torch.float32), torch.tensor(q, dtype=torch.float32),
                                            1, interpolation=interpolation))
    # Gradients reach the input and (through the interpolation weight) q.
    check_op(lambda t, p: fibril.quantile(t, p, 0, interpolation=interpolation),
             lambda t, p: torch.quantile(t, p, 0, interpolation=interpolation), [x, q])


def test_quantile_errors():
    x = fibril.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="float or double"):
        fibril.quantile(fibril.tensor([1, 2]), 0.5)
    with pytest.raises(ValueError, match=r"non-empty, got shape \[2, 0\]"):
        fibril.quantile(fibril.zeros(2, 0), 0.5, dim=0)
    with pytest.raises(ValueError, match=r"range \[0, 1\]"):
        fibril.quantile(x, 1.5)
    with pytest.raises(ValueError, match=r"scalar or 1D tensor, got shape \[1, 1\]"):
        fibril.quantile(x, fibril.tensor([[0.5]]))
    with pytest.raises(TypeError, match="float64"):
        fibril.quantile(x, fibril.tensor([0.5], dtype=fibril.float64))
    with pytest.raises(ValueError, match="interpolation"):
        fibril.nanquantile(x, 0.5, interpolation="cubic")
    assert fibril.quantile(fibril.tensor(2.0), 0.3, dim=0, keepdim=True).shape == ()


# ------------------------------------------------------------------------------ mode
def mode_reference(line):
    counts = collections.Counter(line.tolist())
    value = min(counts, key=lambda v: (-counts[v], v))
    return value, max(i for i, v in enumerate(line) if v == value)


@pytest.mark.parametrize("shape,dim", [((9,), 0), ((4, 11), 1), ((6, 3, 4), 0), ((1, 5), -1)])
@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.bool_])
def test_mode_matches_reference(shape, dim, dtype):
    x = np.random.default_rng(len(shape)).integers(-2, 3, shape).astype(dtype)
    values, indices = fibril.tensor(x).mode(dim)
    lines = np.moveaxis(x, dim, -1)
    for pos in np.ndindex(values.shape):
        got = (values.numpy()[pos].item(), indices.numpy()[pos].item())
        assert got == mode_reference(lines[pos]), (lines[pos], got)


@needs_torch
def test_mode_nan_zero_d_and_gradient_as_torch():
    for x in ([3.0, nan, nan, 1], [nan, nan], [2.0]):
        assert_same(tuple(fibril.mode(fibril.tensor(x))), tuple(torch.mode(torch.tensor(x))))
    assert_same(tuple(fibril.mode(fibril.tensor(5.0), 0)), tuple(torch.mode(torch.tensor(5.0), 0)))
    x = np.random.default_rng(0).integers(0, 3, (4, 6)).astype(np.float64)
    check_op(lambda t: fibril.mode(t, 1, keepdim=True).values, lambda t: torch.mode(t, 1, keepdim=True).values, [x],
             gradcheck=False)
    with pytest.raises(IndexError, match=r"dim 0 of input shape \[0, 3\]"):
        fibril.mode(fibril.zeros(0, 3), 0)


# ------------------------------------------------------------------------------ cummax, cummin
def running_reference(line, is_max):
    """torch's rule: a later element takes over when NaN, or when >= (<=) a non-NaN best."""
    values, indices, best, at = [], [], None, None
    for i, v in enumerate(line.tolist()):
        if best is None or math.isnan(v) or (not math.isnan(best) and (v >= best if is_max else v <= best)):
            best, at = v, i
        values.append(best)
        indices.append(at)
    return values, indices


@pytest.mark.parametrize("fn", ["cummax", "cummin"])
@pytest.mark.parametrize("shape,dim", [((13,), 0), ((4, 9), 1), ((5, 3, 2), 0), ((0, 4), 1), ((1,), -1)])
def test_cummax_cummin_match_reference(fn, shape, dim):
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, shape).astype(np.float64)
    x.flat[5::7] = nan
    values, indices = getattr(fibril, fn)(fibril.tensor(x), dim)
    for pos in np.ndindex(np.moveaxis(x, dim, -1).shape[:-1]):
        want_v, want_i = running_reference(np.moveaxis(x, dim, -1)[pos], fn == "cummax")
        np.testing.assert_array_equal(np.moveaxis(values.numpy(), dim, -1)[pos], want_v)
        np.testing.assert_array_equal(np.moveaxis(indices.numpy(), dim, -1)[pos], want_i)
    if torch is not None:
        assert_same(tuple(getattr(fibril, fn)(fibril.tensor(x), dim)), tuple(getattr(torch, fn)(torch.tensor(x), dim)))


@needs_torch
def test_cummax_ints_bools_zero_d_and_gradients():
    for x in ([3, 1, 4, 1, 5], [True, False, True]):
        for fn in ("cummax", "cummin"):
            assert_same(tuple(getattr(fibril, fn)(fibril.tensor(x), 0)), tuple(getattr(torch, fn)(torch.tensor(x), 0)))
    assert_same(tuple(fibril.tensor(2.0).cummax(0)), tuple(torch.tensor(2.0).cummax(0)))
    x = make_inputs([(3, 8)])[0]
    check_op(lambda t: fibril.cummax(t, 1).values, lambda t: torch.cummax(t, 1).values, [x])
    ties = np.array([[1.0, 3, 3, 2, 5, 5]])
    check_op(lambda t: t.cummin(-1).values, lambda t: t.cummin(-1).values, [ties], gradcheck=False)


# ------------------------------------------------------------------------------ logcumsumexp
def logcumsumexp_reference(x, axis):
    with np.errstate(invalid="ignore"):  # inf - inf inside logaddexp
        return np.logaddexp.accumulate(x, axis=axis)


@pytest.mark.parametrize("shape,dim", [((1,), 0), ((2,), 0), ((13,), 0), ((4, 9), 1), ((5, 3, 2), 0), ((3, 0), 1)])
def test_logcumsumexp_values_and_gradient(shape, dim):
    x = make_inputs([shape], low=-5, high=5)[0]
    check_op(lambda t: fibril.logcumsumexp(t, dim), lambda t: torch.logcumsumexp(t, dim), [x],
             numpy_fn=lambda a: logcumsumexp_reference(a, dim), atol=1e-12, rtol=1e-12)


def test_logcumsumexp_keeps_small_terms_and_infinities():
    x = np.array([-100.0, 0, 3, -np.inf, 50, 1000, np.inf, 2, nan, 1])
    for dtype in (np.float32, np.float64):
        got = fibril.tensor(x.astype(dtype)).logcumsumexp(0).numpy()
        # atol: fibril flushes float32 denormals (exp(-100)) to 0
        np.testing.assert_allclose(got, logcumsumexp_reference(x, 0).astype(dtype), rtol=1e-6, atol=1e-37)
    assert fibril.logcumsumexp(fibril.tensor([-100.0, -100.0]), 0).numpy()[0] == -100.0  # no underflow to -inf
    y = fibril.tensor([-np.inf, -np.inf, 1.0], requires_grad=True)
    out = fibril.logcumsumexp(y, 0)
    np.testing.assert_array_equal(out.detach().numpy(), [-np.inf, -np.inf, 1.0])
    out.sum().backward()
    assert np.isfinite(y.grad.numpy()).all()
    assert fibril.logcumsumexp(fibril.tensor(2.0), 0).item() == 2.0
    with pytest.raises(TypeError, match="int64"):
        fibril.logcumsumexp(fibril.tensor([1, 2]), 0)


# ------------------------------------------------------------------------------ diff
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_diff_matches_numpy(n, dim):
    x, pre, app = make_inputs([(4, 5), (4, 5), (4, 5)])
    pre, app = np.take(pre, [0], dim), np.take(app, [0, 1], dim)
    check_op(lambda t: fibril.diff(t, n, dim), lambda t: torch.diff(t, n, dim), [x],
             numpy_fn=lambda a: np.diff(a, n, dim))
    check_op(lambda t, p, a: t.diff(n, dim, prepend=p, append=a), lambda t, p, a: t.diff(n, dim, prepend=p, append=a),
             [x, pre, app], numpy_fn=lambda a, p, q: np.diff(a, n, dim, prepend=p, append=q))


def test_diff_dtypes_and_errors():
    np.testing.assert_array_equal(fibril.diff(fibril.tensor([True, False, False])).numpy(), [True, False])
    np.testing.assert_array_equal(fibril.diff(fibril.tensor([1, 3, 6], dtype=fibril.uint8)).numpy(), [2, 3])
    assert fibril.diff(fibril.tensor([1, 3, 6]), n=2).tolist() == [1]
    assert fibril.diff(fibril.zeros(2, 0), dim=1).shape == (2, 0)
    with pytest.raises(ValueError, match="one-dimensional"):
        fibril.diff(fibril.tensor(1.0))
    with pytest.raises(ValueError, match="non-negative"):
        fibril.diff(fibril.tensor([1.0, 2.0]), n=-1)
    with pytest.raises(ValueError, match=r"shape \[\] for input shape \[3\]"):
        fibril.diff(fibril.tensor([1, 3, 6]), prepend=fibril.tensor(0))


# ------------------------------------------------------------------------------ devices
@pytest.mark.cuda
def test_composed_reductions_on_cuda_match_cpu():
    x = with_nans((4, 9), seed=2)
    cases = [
        lambda t: fibril.nanmean(t, 1),
        lambda t: fibril.median(t, 1).values,
        lambda t: fibril.nanmedian(t),
        lambda t: fibril.nanquantile(t, 0.3, 0),
        lambda t: fibril.mode(t, 1).indices,
        lambda t: fibril.cummax(t, 1).indices,
        lambda t: fibril.logcumsumexp(t, 1),
        lambda t: fibril.diff(t, 2, 0),
    ]
    for fn in cases:
        want = fn(fibril.tensor(x)).numpy()
        got = fn(fibril.tensor(x, device="cuda"))
        assert got.device.startswith("cuda")
        np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-12)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_of_two_tensors_are_elementwise(name):
    """torch.max(x, other) / x.min(other): the elementwise maximum/minimum, broadcast, with
    gradients (the reduction forms take a dim, not a tensor)."""
    a, b = make_inputs([(3, 4), (4,)], seed=3)
    check_op(lambda x, y: getattr(fibril, name)(x, y), lambda x, y: getattr(x, name)(y), [a, b],
             numpy_fn=np.maximum if name == "max" else np.minimum)
    check_op(lambda x, y: getattr(x, name)(y), lambda x, y: getattr(x, name)(y), [a, b])


# ------------------------------------------------------------------------------ regressions found by fuzzing against torch
def _grads(fibril_fn, torch_fn, x):
    """(fibril's gradient, torch's) of fn(x).sum() for a float64 numpy x."""
    f, t = fibril.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    fibril_fn(f).sum().backward()
    torch_fn(t).sum().backward()
    return f.grad.numpy(), t.grad.numpy()


@needs_torch
@pytest.mark.parametrize("name,args", [
    ("sum", (0,)), ("mean", (-1,)), ("prod", (0,)), ("amax", (0,)), ("amin", (-1,)),
    ("logsumexp", (0,)), ("nansum", (-1,)), ("nanmean", (0,)), ("norm", (2, 0)), ("norm", (1, -1)),
    ("var", (0,)), ("std", (-1,)), ("var_mean", (0,)), ("std_mean", (-1, False, True)),
])
def test_zero_d_input_with_a_dim_has_torchs_gradient(name, args):
    """A 0-d input reduced along dim 0 or -1: backward restored the reduced dim into an empty
    shape and raised IndexError."""
    def call(lib):
        def fn(t):
            out = getattr(lib, name)(t, *args)
            return out[0] + out[1] if isinstance(out, tuple) else out
        return fn
    with warnings.catch_warnings():  # torch warns of no degrees of freedom left (var, std)
        warnings.simplefilter("ignore", UserWarning)
        got, want = _grads(call(fibril), call(torch), np.array(1.5))
    np.testing.assert_allclose(got, want)


@needs_torch
@pytest.mark.parametrize("name", ["std", "var", "std_mean", "var_mean"])
@pytest.mark.parametrize("unbiased", [True, False])
def test_bool_second_argument_is_unbiased_as_torch(name, unbiased):
    """torch.std(x, False) is the overload (input, unbiased): the population std of all
    elements. fibril took the bool for dim and raised 'dims must be integers, got bool'."""
    x = make_inputs([(3, 4)], seed=5)[0]
    assert_same(getattr(fibril, name)(fibril.tensor(x), unbiased), getattr(torch, name)(torch.tensor(x), unbiased))
    if name in ("std", "var"):
        assert_same(getattr(fibril.tensor(x), name)(unbiased), getattr(torch.tensor(x), name)(unbiased))
    for kwargs in ({"keepdim": True}, {"correction": 0}, {"unbiased": True}):
        with pytest.raises(TypeError):
            getattr(fibril, name)(fibril.tensor(x), unbiased, **kwargs)
    with pytest.raises(TypeError, match="either unbiased or correction"):
        getattr(fibril, name)(fibril.tensor(x), 0, unbiased=False, correction=0)


@needs_torch
@pytest.mark.parametrize("p", [2, 1, 3, float("inf"), "fro"])
def test_norm_dtype_computes_in_that_dtype(p):
    """torch.norm(x, p, dim, keepdim, dtype=...): fibril had no dtype argument (TypeError)."""
    x = make_inputs([(3, 4)], seed=6)[0]
    got = fibril.norm(fibril.tensor(x).to(fibril.float32), p, 1, dtype=fibril.float64)
    want = torch.norm(torch.tensor(x).float(), p, 1, dtype=torch.float64)
    assert_same(got, want)
    assert_same(fibril.tensor(x).to(fibril.float32).norm(p, dtype=fibril.float64),
                torch.tensor(x).float().norm(p, dtype=torch.float64))
    got, want = _grads(lambda t: fibril.norm(t.to(fibril.float32), p, 0, dtype=fibril.float64),
                       lambda t: torch.norm(t.float(), p, 0, dtype=torch.float64), x)
    np.testing.assert_allclose(got, want, rtol=1e-6)


@needs_torch
@pytest.mark.parametrize("name", ["amax", "amin", "aminmax", "max", "min"])
def test_max_min_gradients_through_nan_as_torch(name):
    """With NaN the result of a reduction is NaN. torch's amax/amin backward, (g / count) *
    (x == result), gives such a slice a NaN gradient; its max()/min() over all elements splits
    the gradient evenly among the NaN. fibril gave 0 everywhere in both cases."""
    x = np.array([[1.0, nan, 2.0, nan], [3.0, 3.0, 1.0, 3.0]])
    calls = {"amax": lambda lib, t: lib.amax(t, 1), "amin": lambda lib, t: lib.amin(t, -1, True),
             "aminmax": lambda lib, t: lib.aminmax(t, dim=1).max,
             "max": lambda lib, t: lib.max(t), "min": lambda lib, t: t.min()}
    got, want = _grads(lambda t: calls[name](fibril, t), lambda t: calls[name](torch, t), x)
    np.testing.assert_array_equal(got, want)
    # Without NaN: ties split evenly (max()/min() of all elements, as amax/amin).
    y = x[1:]
    got, want = _grads(lambda t: calls[name](fibril, t), lambda t: calls[name](torch, t), y)
    np.testing.assert_array_equal(got, want)


@needs_torch
@pytest.mark.parametrize("name", ["median", "nanmedian"])
def test_median_of_an_empty_tensor_stays_in_the_graph(name):
    """median()/nanmedian() of an empty float tensor is NaN; fibril's was a constant without a
    grad_fn, so backward raised 'does not require grad'."""
    f, t = fibril.zeros((0, 2), requires_grad=True), torch.zeros((0, 2), requires_grad=True)
    got, want = getattr(fibril, name)(f), getattr(torch, name)(t)
    assert_same(got, want)
    got.backward()
    want.backward()
    assert tuple(f.grad.shape) == tuple(t.grad.shape) == (0, 2)


@needs_torch
@pytest.mark.parametrize("line", [[nan, 1.0, 2.0], [1.0, 2.0, nan], [1.0, nan, 2.0, 3.0]])
def test_logcumsumexp_gradient_through_nan_is_nan_as_torch(line):
    """An output that a NaN reaches is NaN, and so is its derivative in every input it also
    depends on (torch's). fibril's log-add-exp scan sent the gradient only to the NaN, so the
    inputs before it got finite gradients that ignored the NaN outputs."""
    got, want = _grads(lambda t: fibril.logcumsumexp(t, 0), lambda t: torch.logcumsumexp(t, 0), np.array(line))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(want).all()
    for dtype in (fibril.float16, fibril.bfloat16, fibril.float32):  # the NaN path keeps the dtype
        assert fibril.logcumsumexp(fibril.tensor(line).to(dtype), 0).dtype == dtype


def test_kthvalue_checks_dim_and_empty_lines_as_torch():
    with pytest.raises(IndexError, match="out of range"):
        fibril.kthvalue(fibril.tensor(3.0), 1, -2)
    with pytest.raises(IndexError, match="non-zero size"):
        fibril.kthvalue(fibril.zeros(0), 1, 0)
    out = fibril.kthvalue(fibril.tensor([[3.0, 1.0], [0.0, 2.0]]), 1, -1)
    assert out.values.tolist() == [1.0, 0.0] and out.indices.tolist() == [1, 0]


@pytest.mark.parametrize("name", ["max", "min", "median", "nanmedian"])
def test_keepdim_without_dim_is_refused_as_torch(name):
    with pytest.raises(TypeError, match="keepdim"):
        getattr(fibril, name)(fibril.zeros(3), keepdim=True)
    assert getattr(fibril, name)(fibril.zeros(3), 0, keepdim=True).values.shape == (1,)
