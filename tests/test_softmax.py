"""Softmax family: softmax/log_softmax, cross_entropy and nll_loss (fused kernels) and the
composed losses, against a float64 numpy reference and PyTorch (forward and gradients),
gradcheck, extreme logits, non-contiguous inputs and bad input."""

import warnings

import numpy as np
import pytest

import fibril
import fibril.nn.functional as F
from op_check import assert_all_close, check_op, make_inputs, on_cpu_and_cuda, torch

needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")
TF = torch.nn.functional if torch is not None else None


def np_log_softmax(a, axis):
    m = a.max(axis=axis, keepdims=True)
    return a - m - np.log(np.exp(a - m).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("transposed", [False, True])
def test_softmax_matches_numpy_torch_and_gradcheck(dim, log, transposed):
    name = "log_softmax" if log else "softmax"
    ref = (lambda a: np_log_softmax(a, dim)) if log else (lambda a: np.exp(np_log_softmax(a, dim)))
    layout = (lambda t: t.transpose(0, 2).contiguous().transpose(0, 2)) if transposed else None
    check_op(lambda x: getattr(F, name)(x, dim), lambda x: getattr(TF, name)(x, dim), make_inputs([(3, 5, 7)]),
             numpy_fn=None if transposed else ref, atol=1e-12, rtol=1e-12, layout=layout)


@needs_torch
@pytest.mark.parametrize("n", [1, 7, 8, 33, 4099])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_float32_rows_vs_torch(n, log):
    a = np.random.default_rng(n).standard_normal((5, n)).astype(np.float32) * 10
    name = "log_softmax" if log else "softmax"
    x, t = fibril.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = getattr(F, name)(x, -1), getattr(TF, name)(t, -1)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=2e-6, atol=2e-6)
    g = np.random.default_rng(0).standard_normal(a.shape).astype(np.float32)
    y.backward(fibril.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-5)


EXTREME = np.array([[1e4, -1e4, 0.0, 3.0], [-np.inf, 2.0, -np.inf, 1.0], [5.0, 5.0, 5.0, 5.0],
                    [-1e4, -1e4 + 1, -1e4, -1e4], [-np.inf] * 4])


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_extreme_inputs_as_torch(dtype, log):
    """+-1e4 logits, -inf masked positions, equal rows, and an all -inf row (NaN, as torch)."""
    name = "log_softmax" if log else "softmax"
    a = EXTREME.astype(dtype)
    got = getattr(F, name)(fibril.tensor(a), 1).numpy()
    want = getattr(TF, name)(torch.tensor(a), 1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    assert np.isfinite(got[:4]).sum() == np.isfinite(want[:4]).sum()


def test_softmax_of_scalar_and_empty():
    assert F.softmax(fibril.tensor(3.0), 0).item() == 1.0
    assert F.log_softmax(fibril.zeros((0, 3)), 1).shape == (0, 3)


def test_softmax_rejects_integers():
    with pytest.raises(TypeError, match="softmax"):
        F.softmax(fibril.tensor([1, 2]), 0)


# ----------------------------------------------------------------------- class-index losses
OPTIONS = [{}, {"weight": True}, {"ignore_index": 2}, {"label_smoothing": 0.25},
           {"weight": True, "ignore_index": 1, "label_smoothing": 0.1}]


def _kwargs(lib, opts, reduction, classes):
    kw = {k: v for k, v in opts.items() if k != "weight"}
    if opts.get("weight"):
        w = np.linspace(0.5, 2.0, classes)
        kw["weight"] = fibril.tensor(w) if lib is fibril else torch.tensor(w)
    return dict(kw, reduction=reduction)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("opts", OPTIONS)
@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 2, 3), (5,)])
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_class_losses_match_torch(name, shape, opts, reduction):
    if name == "nll_loss" and "label_smoothing" in opts:
        pytest.skip("nll_loss has no label smoothing")
    classes = shape[1] if len(shape) > 1 else shape[0]
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    target = np.random.default_rng(3).integers(0, classes, size=target_shape)
    if target.ndim:
        target.flat[0] = 1  # an ignored entry where ignore_index is 1 or 2
    fib_t, tor_t = fibril.tensor(target), (torch.tensor(target) if torch is not None else None)
    check_op(lambda x: getattr(F, name)(x, fib_t, **_kwargs(fibril, opts, reduction, classes)),
             lambda x: getattr(TF, name)(x, tor_t, **_kwargs(torch, opts, reduction, classes)),
             make_inputs([shape]), atol=1e-12, rtol=1e-10)


def test_cross_entropy_numpy_reference():
    (a,) = make_inputs([(4, 6)])
    target = np.array([0, 5, 2, 2])
    want = -np_log_softmax(a, 1)[np.arange(4), target].mean()
    assert abs(F.cross_entropy(fibril.tensor(a), fibril.tensor(target)).item() - want) < 1e-12


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_extreme_logits(dtype):
    a = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [7.0, 7.0, 7.0], [0.0, -np.inf, 1.0]], dtype)
    target = np.array([1, 0, 2, 0])
    x = fibril.tensor(a, requires_grad=True)
    loss = F.cross_entropy(x, fibril.tensor(target), reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [2e4, 2e4 + np.log(2), np.log(3), np.log1p(np.e)], rtol=1e-6)
    loss.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    if torch is not None:
        t = torch.tensor(a, requires_grad=True)
        TF.cross_entropy(t, torch.tensor(target), reduction="sum").backward()
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), atol=1e-6)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_with_probabilities(smoothing):
    p = np.random.default_rng(5).dirichlet(np.ones(5), size=(4, 3)).transpose(0, 2, 1)  # (4, 5, 3)
    tp = fibril.tensor(p)
    check_op(lambda x: F.cross_entropy(x, tp, label_smoothing=smoothing),
             lambda x: TF.cross_entropy(x, torch.tensor(p), label_smoothing=smoothing),
             make_inputs([(4, 5, 3)]), atol=1e-12, rtol=1e-10)


def test_cross_entropy_non_contiguous_logits():
    target = fibril.tensor([0, 3, 1])
    tt = torch.tensor([0, 3, 1]) if torch is not None else None
    check_op(lambda x: F.cross_entropy(x.T, target), lambda x: TF.cross_entropy(x.T, tt),
             make_inputs([(4, 3)]), atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_class_index_out_of_range_is_index_error(name):
    x = fibril.zeros((2, 3))
    for bad in ([0, 3], [-1, 0]):
        with pytest.raises(IndexError, match="out of range"):
            getattr(F, name)(x, fibril.tensor(bad))
    getattr(F, name)(x, fibril.tensor([0, -100]))  # ignore_index is not out of range


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_target_shape_mismatch_names_both_shapes(name):
    with pytest.raises(ValueError, match=r"\[4\].*\[3, 5\]"):
        getattr(F, name)(fibril.zeros((3, 5)), fibril.tensor([0, 1, 2, 3]))


def test_weight_of_wrong_length():
    with pytest.raises(ValueError, match="weight"):
        F.cross_entropy(fibril.zeros((2, 3)), fibril.tensor([0, 1]), weight=fibril.ones(4))


# ----------------------------------------------------------------------- composed losses
def _pair(name, fn_kwargs=None, low=-2.0, high=2.0, target_low=-2.0, target_high=2.0):
    kw = fn_kwargs or {}
    return name, kw, (low, high), (target_low, target_high)


ELEMENTWISE = [
    _pair("mse_loss"), _pair("l1_loss"), _pair("smooth_l1_loss", {"beta": 0.5}), _pair("huber_loss", {"delta": 1.5}),
    _pair("binary_cross_entropy", {}, 0.05, 0.95, 0.0, 1.0), _pair("binary_cross_entropy_with_logits"),
    _pair("kl_div", {}, -2.0, 0.0, 0.05, 1.0), _pair("kl_div", {"log_target": True}, -2.0, 0.0, -2.0, 0.0),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,kw,xr,tr", ELEMENTWISE, ids=lambda v: str(v))
@pytest.mark.filterwarnings("ignore:reduction")
def test_elementwise_losses_match_torch(name, kw, xr, tr, reduction):
    rng = np.random.default_rng(4)
    x = rng.uniform(*xr, size=(3, 4))
    t = rng.uniform(*tr, size=(3, 4))
    check_op(lambda a, b: getattr(F, name)(a, b, reduction=reduction, **kw),
             lambda a, b: getattr(TF, name)(a, b, reduction=reduction, **kw), [x, t], atol=1e-10, rtol=1e-10)


def test_bce_with_logits_pos_weight_and_extremes():
    x = np.array([[-1e4, 1e4, 0.5], [30.0, -30.0, 0.0]])
    t = np.array([[1.0, 0.0, 0.3], [0.0, 1.0, 1.0]])
    pw = np.array([2.0, 0.5, 1.5])
    got = F.binary_cross_entropy_with_logits(fibril.tensor(x), fibril.tensor(t), pos_weight=fibril.tensor(pw),
                                             reduction="none").numpy()
    assert np.isfinite(got).all()
    if torch is not None:
        want = TF.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(t), pos_weight=torch.tensor(pw),
                                                   reduction="none").numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12)


def np_sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


@pytest.mark.parametrize("weighted", [False, True])
def test_bce_with_logits_gradient_is_sigmoid_minus_target(weighted):
    """Exact 0 logits (where max(-x, 0) has a one-sided derivative) and large |x|, where a
    thresholded softplus(-x) ~ -x would lose the whole loss of t = 0, x << 0."""
    x = np.array([[0.0, 0.0, 0.0, -21.0, 21.0], [-30.0, 30.0, -100.0, 100.0, 0.0]])
    t = np.array([[0.0, 0.5, 1.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0, 0.3]])
    pw = np.array([2.0, 0.5, 1.5, 3.0, 1.0]) if weighted else None
    w = np.array([[1.0], [2.5]]) if weighted else None
    lw = 1.0 if pw is None else 1.0 + (pw - 1.0) * t
    scale = 1.0 if w is None else w
    want_loss = scale * ((1.0 - t) * x + lw * np.logaddexp(0.0, -x))
    want_grad = scale * ((1.0 - t) - lw * np_sigmoid(-x))

    def fkw(lib):
        return {} if not weighted else {"weight": lib.tensor(w), "pos_weight": lib.tensor(pw)}

    fx = fibril.tensor(x, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(fx, fibril.tensor(t), reduction="none", **fkw(fibril))
    np.testing.assert_allclose(loss.detach().numpy(), want_loss, rtol=1e-12)
    loss.sum().backward()
    # (1 - t) - sigmoid(-x) cancels: about an ulp of 1 off where it nearly vanishes
    np.testing.assert_allclose(fx.grad.numpy(), want_grad, rtol=1e-12, atol=1e-15)
    check_op(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none", **fkw(fibril)),
             lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction="none", **fkw(torch)),
             [x, t], atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_gradient_where_input_is_0_or_1(dtype):
    """(x - t) / max(x (1 - x), 1e-12) for the input, PyTorch's rule, not NaN; the target's,
    log(1 - x) - log(x), with the forward's -100 clamps (torch has +-inf where x is 0 or 1)."""
    x = np.array([0.0, 1.0, 0.3, 0.0, 1.0, 0.5], dtype)
    t = np.array([0.0, 1.0, 1.0, 0.4, 0.25, 0.5], dtype)
    w = np.array([2.0, 1.0, 0.5, 1.0, 3.0, 1.0], dtype)
    fx, ft = fibril.tensor(x, requires_grad=True), fibril.tensor(t, requires_grad=True)
    F.binary_cross_entropy(fx, ft, weight=fibril.tensor(w), reduction="sum").backward()
    x64, t64 = x.astype(np.float64), t.astype(np.float64)
    with np.errstate(divide="ignore"):
        log_x, log_1mx = np.maximum(np.log(x64), -100), np.maximum(np.log1p(-x64), -100)
    np.testing.assert_allclose(fx.grad.numpy(), w * (x64 - t64) / np.maximum(x64 * (1 - x64), 1e-12), rtol=1e-6)
    np.testing.assert_allclose(ft.grad.numpy(), w * (log_1mx - log_x), rtol=1e-6)
    if torch is not None:
        tx, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
        TF.binary_cross_entropy(tx, tt, weight=torch.tensor(w), reduction="sum").backward()
        np.testing.assert_allclose(fx.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
        inside = (x > 0) & (x < 1)
        np.testing.assert_allclose(ft.grad.numpy()[inside], tt.grad.numpy()[inside], rtol=1e-6)


def test_bce_after_saturated_float32_sigmoid():
    """float32 sigmoid(20) is exactly 1 and sigmoid(-120) exactly 0: a right answer there has
    zero gradient, not NaN."""
    z, t = np.array([20.0, -120.0, 0.5], np.float32), np.array([1.0, 0.0, 1.0], np.float32)
    fz = fibril.tensor(z, requires_grad=True)
    F.binary_cross_entropy(F.sigmoid(fz), fibril.tensor(t)).backward()
    assert fz.grad.numpy()[0] == 0 and fz.grad.numpy()[1] == 0
    np.testing.assert_allclose(fz.grad.numpy()[2], (np_sigmoid(0.5) - 1) / 3, rtol=1e-6)


def test_bce_rejects_input_outside_unit_interval():
    for bad in ([0.5, 1.5], [-0.1], [np.nan, 0.5]):
        with pytest.raises(RuntimeError, match="between 0 and 1"):
            F.binary_cross_entropy(fibril.tensor(bad), fibril.full((len(bad),), 0.5))
    assert F.binary_cross_entropy(fibril.tensor([0.0, 1.0]), fibril.tensor([0.0, 1.0])).item() == 0.0
    assert F.binary_cross_entropy(fibril.zeros(0), fibril.zeros(0), reduction="sum").item() == 0.0


def test_kl_div_batchmean():
    rng = np.random.default_rng(6)
    x, t = np.log(rng.dirichlet(np.ones(4), 3)), rng.dirichlet(np.ones(4), 3)
    check_op(lambda a, b: F.kl_div(a, b, reduction="batchmean"), lambda a, b: TF.kl_div(a, b, reduction="batchmean"),
             [x, t], atol=1e-12, rtol=1e-10)


def test_margin_and_hinge_losses():
    rng = np.random.default_rng(7)
    y = np.where(rng.random(6) < 0.5, -1.0, 1.0)
    fy, ty = fibril.tensor(y), torch.tensor(y) if torch is not None else None
    check_op(lambda a, b: F.margin_ranking_loss(a, b, fy, margin=0.3),
             lambda a, b: TF.margin_ranking_loss(a, b, ty, margin=0.3), make_inputs([(6,), (6,)]), atol=1e-12)
    check_op(lambda a: F.hinge_embedding_loss(a, fy, margin=0.5), lambda a: TF.hinge_embedding_loss(a, ty, margin=0.5),
             make_inputs([(6,)]), atol=1e-12)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_multi_margin_loss(p, weighted):
    target = np.array([0, 3, 2, 3])
    w = np.linspace(0.5, 1.5, 5)
    fkw = {"weight": fibril.tensor(w)} if weighted else {}
    tkw = {"weight": torch.tensor(w)} if weighted and torch is not None else {}
    check_op(lambda a: F.multi_margin_loss(a, fibril.tensor(target), p=p, margin=0.7, **fkw),
             lambda a: TF.multi_margin_loss(a, torch.tensor(target), p=p, margin=0.7, **tkw),
             make_inputs([(4, 5)], low=-0.5, high=0.5), atol=1e-12)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_multi_margin_loss_no_gradient_at_the_hinge(p, weighted):
    """Terms margin - x[y] + x[j] that are exactly 0 pass no gradient, as torch counts only
    terms > 0."""
    x = fibril.tensor([[0.0, 1.0, 1.0]], requires_grad=True)
    F.multi_margin_loss(x, fibril.tensor([1]), p=p).backward()  # terms: 0 (j = 0), 1 (j = 2)
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, -p / 3, p / 3]], rtol=1e-6)
    a = np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 1.0], [0.5, -0.5, 0.25], [2.0, 2.0, 1.0]])
    target = np.array([1, 2, 0, 0])
    w = np.array([0.5, 1.0, 2.0])
    fkw = {"weight": fibril.tensor(w)} if weighted else {}
    tkw = {"weight": torch.tensor(w)} if weighted and torch is not None else {}
    check_op(lambda x: F.multi_margin_loss(x, fibril.tensor(target), p=p, reduction="sum", **fkw),
             lambda x: TF.multi_margin_loss(x, torch.tensor(target), p=p, reduction="sum", **tkw),
             [a], atol=1e-12, rtol=1e-12, gradcheck=False)


BROADCASTING = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"]  # warn, as torch
SILENTLY_BROADCASTING = ["kl_div", "hinge_embedding_loss"]


@pytest.mark.parametrize("shapes", [((3, 1), (3, 4)), ((3, 4), (3, 1)), ((4,), (2, 4))])
@pytest.mark.parametrize("name", BROADCASTING + SILENTLY_BROADCASTING)
@pytest.mark.filterwarnings("ignore:.*different to the input size", "ignore:reduction")
def test_elementwise_losses_broadcast_target_as_torch(name, shapes):
    rng = np.random.default_rng(8)
    x = rng.uniform(-2.0, 0.0, size=shapes[0])
    t = rng.uniform(0.05, 1.0, size=shapes[1])
    if name == "hinge_embedding_loss":
        t = np.where(t < 0.5, -1.0, 1.0)
    fx, ft = fibril.tensor(x), fibril.tensor(t)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        getattr(F, name)(fx, ft)
    warned = [w for w in caught if "different to the input size" in str(w.message)]
    assert len(warned) == (name in BROADCASTING)
    assert all(w.category is UserWarning and w.filename == __file__ for w in warned)
    np_fn = {"mse_loss": lambda a, b: ((a - b) ** 2).mean(), "l1_loss": lambda a, b: np.abs(a - b).mean()}.get(name)
    check_op(lambda a, b: getattr(F, name)(a, b), lambda a, b: getattr(TF, name)(a, b), [x, t],
             numpy_fn=np_fn, atol=1e-12, rtol=1e-12)


def test_margin_ranking_loss_broadcasts_inputs_of_one_ndim():
    rng = np.random.default_rng(9)
    y = np.where(rng.random((1, 4)) < 0.5, -1.0, 1.0)
    check_op(lambda a, b: F.margin_ranking_loss(a, b, fibril.tensor(y), margin=0.1),
             lambda a, b: TF.margin_ranking_loss(a, b, torch.tensor(y), margin=0.1),
             make_inputs([(3, 4), (3, 1)]), atol=1e-12)
    with pytest.raises(ValueError, match=r"\[3, 4\].*\[3, 4\].*\[4\]"):
        F.margin_ranking_loss(fibril.zeros(3, 4), fibril.zeros(3, 4), fibril.ones(4))


@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits"])
def test_bce_target_of_another_size_is_value_error(name):
    """torch raises for these even where the shapes broadcast."""
    with pytest.raises(ValueError, match=r"\[3, 4\].*\[3, 1\]"):
        getattr(F, name)(fibril.full((3, 1), 0.5), fibril.full((3, 4), 0.5))


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
                                  "binary_cross_entropy_with_logits", "kl_div", "hinge_embedding_loss"])
def test_elementwise_loss_shape_mismatch_names_both(name):
    with pytest.raises(ValueError, match=r"\[2, 3\].*\[3, 2\]"):
        getattr(F, name)(fibril.full((3, 2), 0.5), fibril.full((2, 3), 0.5))


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(fibril.zeros(2), fibril.zeros(2), reduction="avg")


# ------------------------------------------------------------------------------------- CUDA
# The fused kernels on "cuda" (a GPU, or FIBRIL_CUDA_EMULATOR=1) against the CPU kernels and a
# float64 numpy reference: warp rows (<= 1024), block rows, odd lengths (scalar heads and
# tails around the 128-bit loads), float64, non-last dims. Small shapes: the emulator runs
# every CUDA thread as a fiber.
CUDA_TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-12, atol=1e-13)}


@pytest.mark.cuda
@pytest.mark.parametrize("n", [1, 3, 31, 33, 1000, 1025, 1031, 2047, 2051, 16384, 16411, 32773])
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_softmax_rows(n, log, dtype):
    """Warp rows (<= 1024) and block rows: kept in registers (up to 16384 floats / 2048
    doubles) or streamed twice (longer)."""
    a = (np.random.default_rng(n).standard_normal((3, n)) * 5).astype(dtype)
    name = "log_softmax" if log else "softmax"
    cpu, cuda = on_cpu_and_cuda(lambda d, x: getattr(F, name)(x, -1), [a])
    assert_all_close(cpu, cuda, **CUDA_TOL[dtype])
    ref = np_log_softmax(a.astype(np.float64), 1)
    np.testing.assert_allclose(cuda[0], ref if log else np.exp(ref), **CUDA_TOL[dtype])


@pytest.mark.cuda
@pytest.mark.parametrize("dim", [0, 1])
@pytest.mark.parametrize("log", [False, True])
def test_cuda_softmax_non_last_dims(dim, log):
    a = np.random.default_rng(1).standard_normal((5, 7, 3))
    name = "log_softmax" if log else "softmax"
    cpu, cuda = on_cpu_and_cuda(lambda d, x: getattr(F, name)(x, dim), [a])
    assert_all_close(cpu, cuda, **CUDA_TOL["float64"])


@pytest.mark.cuda
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("rows, n", [(300, 33), (4, 1000), (2, 4000), (2, 9000)])
def test_cuda_softmax_many_rows_and_misaligned_base(log, rows, n):
    """300 rows (38 blocks of 8 warps); a view one element into its buffer is not 16-byte
    aligned like the output, so the kernel takes its scalar path (warp rows kept in registers
    up to 256 elements, block rows up to 4096; longer rows streamed)."""
    name = "log_softmax" if log else "softmax"
    flat = np.random.default_rng(2).standard_normal(1 + rows * n).astype(np.float32)
    want = getattr(F, name)(fibril.tensor(flat)[1:].reshape(rows, n), 1).numpy()
    got = getattr(F, name)(fibril.tensor(flat, device="cuda")[1:].reshape(rows, n), 1)
    assert got.device == "cuda:0"
    np.testing.assert_allclose(got.cpu().numpy(), want, **CUDA_TOL["float32"])
    cpu, cuda = on_cpu_and_cuda(lambda d, x: getattr(F, name)(x, 1), [flat[1:].reshape(rows, n)])
    assert_all_close(cpu, cuda, **CUDA_TOL["float32"])


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("log", [False, True])
def test_cuda_softmax_extreme_inputs(dtype, log):
    name = "log_softmax" if log else "softmax"
    a = EXTREME.astype(dtype)
    want = getattr(F, name)(fibril.tensor(a), 1).numpy()
    got = getattr(F, name)(fibril.tensor(a, device="cuda"), 1).cpu().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)  # NaN where the CPU has NaN
    assert np.isnan(got[4]).all()


@pytest.mark.cuda
def test_cuda_softmax_of_scalar_and_empty():
    assert F.softmax(fibril.tensor(3.0, device="cuda"), 0).item() == 1.0
    y = F.log_softmax(fibril.zeros((0, 3), device="cuda"), 1)
    assert y.shape == (0, 3) and y.device == "cuda:0"


@pytest.mark.cuda
@pytest.mark.parametrize("opts", OPTIONS)
@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 2), (3, 1100)])
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_cuda_class_losses(name, shape, opts):
    if name == "nll_loss" and "label_smoothing" in opts:
        pytest.skip("nll_loss has no label smoothing")
    classes = shape[1]
    target = np.random.default_rng(3).integers(0, classes, size=shape[:1] + shape[2:])
    target.flat[0] = 1  # an ignored entry where ignore_index is 1 or 2

    def fn(device, x):
        kw = _kwargs(fibril, opts, "none", classes)
        if "weight" in kw:
            kw["weight"] = fibril.tensor(np.linspace(0.5, 2.0, classes).astype(x.dtype.name), device=device)
        return getattr(F, name)(x, fibril.tensor(target, device=device), **kw)

    a = np.random.default_rng(4).standard_normal(shape) * 3
    cpu, cuda = on_cpu_and_cuda(fn, [a])
    assert_all_close(cpu, cuda, **CUDA_TOL["float64"])
    cpu, cuda = on_cpu_and_cuda(fn, [a.astype(np.float32)], scalar_grad=True)
    assert_all_close(cpu, cuda, **CUDA_TOL["float32"])


@pytest.mark.cuda
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cuda_cross_entropy_gpt2_vocabulary(smoothing):
    """50257 classes: odd rows, block per row, 128-bit loads after a per-row head."""
    a = np.random.default_rng(6).standard_normal((3, 50257)).astype(np.float32) * 4
    target = np.array([0, 50256, 1234])
    w = np.random.default_rng(7).uniform(0.5, 2, 50257).astype(np.float32)
    cpu, cuda = on_cpu_and_cuda(lambda d, x: F.cross_entropy(x, fibril.tensor(target, device=d), weight=fibril.tensor(w, device=d),
                                                      reduction="none", label_smoothing=smoothing), [a])
    assert_all_close(cpu, cuda, **CUDA_TOL["float32"])
    ref = -np_log_softmax(a.astype(np.float64), 1)
    want = (1 - smoothing) * w[target] * ref[np.arange(3), target] + smoothing / 50257 * (ref * w).sum(1)
    np.testing.assert_allclose(cuda[0], want, rtol=2e-5)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_cross_entropy_extreme_logits(dtype):
    a = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [7.0, 7.0, 7.0], [0.0, -np.inf, 1.0]], dtype)
    target = np.array([1, 0, 2, 0])
    cpu, cuda = on_cpu_and_cuda(lambda d, x: F.cross_entropy(x, fibril.tensor(target, device=d), reduction="none"), [a])
    assert_all_close(cpu, cuda, **CUDA_TOL[dtype])
    np.testing.assert_allclose(cuda[0], [2e4, 2e4 + np.log(2), np.log(3), np.log1p(np.e)], rtol=1e-6)


@pytest.mark.cuda
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_cuda_class_index_out_of_range_is_index_error(name):
    x = fibril.zeros((2, 3), device="cuda")
    for bad in ([0, 3], [-1, 0]):
        with pytest.raises(IndexError, match="out of range"):
            getattr(F, name)(x, fibril.tensor(bad, device="cuda"), reduction="none")
    getattr(F, name)(x, fibril.tensor([0, -100], device="cuda"), reduction="none")


@pytest.mark.cuda
def test_cuda_mixed_devices_are_runtime_errors():
    x = fibril.zeros((2, 3), device="cuda")
    with pytest.raises(RuntimeError, match="same device"):
        F.cross_entropy(x, fibril.tensor([0, 1]), reduction="none")
    with pytest.raises(RuntimeError, match="same device"):
        F.cross_entropy(x, fibril.tensor([0, 1], device="cuda"), weight=fibril.ones(3), reduction="none")


@pytest.mark.parametrize("shape", [(2, 3, 4), (1, 3, 4), (5, 4)])
def test_bce_weights_must_broadcast_to_the_input(shape):
    x, t, w = fibril.zeros(3, 4), fibril.full((3, 4), 0.5), fibril.ones(*shape)
    pattern = rf"weight of shape \[{', '.join(map(str, shape))}\].*\[3, 4\]"
    with pytest.raises(ValueError, match=pattern):
        F.binary_cross_entropy_with_logits(x, t, weight=w)
    with pytest.raises(ValueError, match="pos_" + pattern):
        F.binary_cross_entropy_with_logits(x, t, pos_weight=w)
    with pytest.raises(ValueError, match=pattern):
        F.binary_cross_entropy(F.sigmoid(x), t, weight=w)
    # weights that broadcast to the input's shape still do
    assert F.binary_cross_entropy_with_logits(x, t, weight=fibril.ones(4), pos_weight=fibril.ones(3, 1),
                                              reduction="none").shape == (3, 4)
    assert F.binary_cross_entropy(F.sigmoid(x), t, weight=fibril.ones(1, 4), reduction="none").shape == (3, 4)

