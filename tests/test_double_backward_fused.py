"""Second derivatives through the fused ops (conv, pools, norms, class-index losses,
attention), compared with torch in float64, and autograd.grad's pruning of the graph beyond
its inputs."""

import numpy as np
import pytest

import fibril
import fibril.nn.functional as F
from fibril import autograd
from op_check import torch_one_thread  # noqa: F401  (autouse fixture)

torch = pytest.importorskip("torch")
tF = torch.nn.functional

RNG = np.random.default_rng(7)


def _second(lib, f, arrays, requires):
    """d/d(inputs) of sum(grad(f)^2): every first derivative differentiated once more."""
    tensors = [lib.tensor(a.copy(), requires_grad=r) if a.dtype.kind == "f" else lib.tensor(a.copy())
               for a, r in zip(arrays, requires)]
    wrt = [t for t, r in zip(tensors, requires) if r]
    firsts = lib.autograd.grad(f(*tensors), wrt, create_graph=True)
    total = sum((g * g).sum() for g in firsts)
    seconds = lib.autograd.grad(total, wrt, allow_unused=True)
    return [f.detach().numpy() for f in firsts], [None if s is None else s.numpy() for s in seconds]


def _check(ours_f, theirs_f, arrays, requires, atol=1e-9):
    ours = _second(fibril, ours_f, arrays, requires)
    theirs = _second(torch, theirs_f, arrays, requires)
    for mine, ref in zip(ours[0] + ours[1], theirs[0] + theirs[1]):
        if mine is None or ref is None:  # a structurally zero derivative: None or zeros
            assert all(a is None or not a.any() for a in (mine, ref))
            continue
        np.testing.assert_allclose(mine, ref, rtol=1e-8, atol=atol)


def _normal(*shape):
    return RNG.standard_normal(shape)


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 2), (2, 1, 1, 4)])
def test_conv2d_second_derivatives(stride, padding, dilation, groups):
    x, w, b = _normal(2, 4, 7, 6), _normal(8, 4 // groups, 3, 3), _normal(8)

    def f(lib_f):
        return lambda x, w, b: (lib_f.conv2d(x, w, b, stride, padding, dilation, groups) ** 3).sum()

    _check(f(F), f(tF), [x, w, b], [True, True, True])


def test_conv1d_second_derivative_wrt_input_only():
    x, w = _normal(3, 2, 9), _normal(4, 2, 3)
    _check(lambda x, w: F.conv1d(x, w, padding="same").tanh().sum(),
           lambda x, w: tF.conv1d(x, w, padding="same").tanh().sum(), [x, w], [True, False])


@pytest.mark.parametrize("stride,padding,output_padding", [(1, 0, 0), (2, 1, 1), (3, 0, 2)])
def test_conv_transpose2d_second_derivatives(stride, padding, output_padding):
    x, w, b = _normal(2, 3, 4, 5), _normal(3, 2, 3, 2), _normal(2)

    def f(lib_f):
        return lambda x, w, b: (lib_f.conv_transpose2d(x, w, b, stride, padding, output_padding) ** 3).sum()

    _check(f(F), f(tF), [x, w, b], [True, True, True])


def test_wgan_gradient_penalty_through_a_conv_critic():
    x, w1, w2 = _normal(2, 1, 8, 8), _normal(4, 1, 3, 3) * 0.5, _normal(1, 4, 3, 3) * 0.5

    def penalty(lib, lib_f):
        def f(x, w1, w2):
            h = lib_f.avg_pool2d(lib_f.leaky_relu(lib_f.conv2d(x, w1, padding=1), 0.2), 2)
            score = lib_f.conv2d(lib_f.layer_norm(h, h.shape[1:]), w2).sum()
            (g,) = lib.autograd.grad(score, x, create_graph=True)
            return ((g.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
        return f

    tensors = [fibril.tensor(a.copy(), requires_grad=True) for a in (x, w1, w2)]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in (x, w1, w2)]
    ours = fibril.autograd.grad(penalty(fibril, F)(*tensors), tensors[1:])
    ref = torch.autograd.grad(penalty(torch, tF)(*theirs), theirs[1:])
    for mine, r in zip(ours, ref):
        np.testing.assert_allclose(mine.numpy(), r.numpy(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("case", ["max", "max_dilated", "avg", "avg_no_pad_count", "adaptive_avg", "adaptive_max"])
def test_pool_second_derivatives(case):
    x = _normal(2, 3, 7, 9)
    ops = {
        "max": lambda f: lambda x: f.max_pool2d(x, 3, 2, 1),
        "max_dilated": lambda f: lambda x: f.max_pool2d(x, 2, 1, 0, 2, ceil_mode=True),
        "avg": lambda f: lambda x: f.avg_pool2d(x, 3, 2, 1, ceil_mode=True),
        "avg_no_pad_count": lambda f: lambda x: f.avg_pool2d(x, 2, 2, 1, count_include_pad=False),
        "adaptive_avg": lambda f: lambda x: f.adaptive_avg_pool2d(x, (3, 4)),
        "adaptive_max": lambda f: lambda x: f.adaptive_max_pool2d(x, (2, 5)),
    }[case]
    # x * pool(x): the pool's backward is differentiated w.r.t. its incoming gradient
    _check(lambda x: (ops(F)(x) ** 2).sum() + (x * x).sum() * ops(F)(x).sum(),
           lambda x: (ops(tF)(x) ** 2).sum() + (x * x).sum() * ops(tF)(x).sum(), [x], [True])


@pytest.mark.parametrize("case", ["layer", "layer_affine", "rms", "group", "batch_train", "batch_eval", "instance"])
def test_norm_second_derivatives(case):
    x, w, b = _normal(4, 6, 5), _normal(6) + 1, _normal(6)
    stats = (np.abs(_normal(6)), np.abs(_normal(6)) + 0.5)

    def norm(lib, f):
        def run(x, w, b):
            if case == "layer":
                return f.layer_norm(x, (6, 5))
            if case == "layer_affine":
                return f.layer_norm(x.transpose(1, 2), (6,), w, b)
            if case == "rms":
                return f.rms_norm(x.transpose(1, 2), (6,), w)
            if case == "group":
                return f.group_norm(x, 3, w, b)
            if case == "instance":
                return f.instance_norm(x, weight=w, bias=b)
            mean, var = (lib.tensor(s.copy()) for s in stats)
            return f.batch_norm(x, mean, var, w, b, training=case == "batch_train")
        return lambda x, w, b: (run(x, w, b) ** 3).sum() + run(x, w, b).cos().sum()

    needs_w = case != "layer"
    needs_b = case not in ("layer", "rms")
    _check(norm(fibril, F), norm(torch, tF), [x, w, b], [True, needs_w, needs_b], atol=1e-8)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", [{}, {"weight": True}, {"ignore_index": 1}, {"label_smoothing": 0.2},
                                     {"weight": True, "label_smoothing": 0.1, "ignore_index": 0}])
def test_cross_entropy_with_class_indices_second_derivatives(reduction, options):
    x = _normal(6, 4, 3)
    target = RNG.integers(0, 4, (6, 3))
    weight = np.abs(_normal(4)) + 0.1

    def loss(lib, f):
        kwargs = dict(options, reduction=reduction)
        if kwargs.pop("weight", False):
            kwargs["weight"] = lib.tensor(weight.copy())
        return lambda x, t: (f.cross_entropy(x, t, **kwargs) ** 2).sum()

    _check(loss(fibril, F), loss(torch, tF), [x, target], [True, False])


def test_nll_loss_on_log_probabilities_second_derivative():
    x, target = _normal(5, 3), RNG.integers(0, 3, 5)
    _check(lambda x, t: (F.nll_loss(F.log_softmax(x * x, 1), t) ** 2).sum(),
           lambda x, t: (tF.nll_loss(tF.log_softmax(x * x, 1), t) ** 2).sum(), [x, target], [True, False])


@pytest.mark.parametrize("case", ["plain", "causal", "bool_mask", "additive_mask", "cross", "scale"])
def test_attention_second_derivatives(case):
    q, k, v = _normal(2, 2, 5, 4), _normal(2, 2, 5 if case != "cross" else 7, 4), _normal(2, 2, 5 if case != "cross" else 7, 3)
    bool_mask = RNG.random((5, 5)) > 0.3
    bool_mask[:, 0] = True
    additive = _normal(5, 5)

    def attend(lib, f):
        def run(q, k, v):
            kwargs = {}
            if case == "causal":
                kwargs["is_causal"] = True
            if case == "bool_mask":
                kwargs["attn_mask"] = lib.tensor(bool_mask.copy())
            if case == "additive_mask":
                kwargs["attn_mask"] = lib.tensor(additive.copy())
            if case == "scale":
                kwargs["scale"] = 0.3
            return (f.scaled_dot_product_attention(q, k, v, **kwargs) ** 2).sum()
        return run

    _check(attend(fibril, F), attend(torch, tF), [q, k, v], [True, True, True])


def test_attention_row_with_every_key_masked_keeps_zero_second_derivatives():
    q, k, v = _normal(1, 3, 4), _normal(1, 3, 4), _normal(1, 3, 4)
    mask = np.ones((3, 3), bool)
    mask[1] = False
    tensors = [fibril.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*tensors, attn_mask=fibril.tensor(mask))
    firsts = autograd.grad((out ** 2).sum(), tensors, create_graph=True)
    seconds = autograd.grad(sum((g * g).sum() for g in firsts), tensors)
    assert all(np.isfinite(s.numpy()).all() for s in seconds)
    assert np.all(seconds[0].numpy()[0, 1] == 0)


def test_attention_with_dropout_refuses_double_backward():
    q = fibril.tensor(_normal(1, 3, 4), requires_grad=True)
    (g,) = autograd.grad(F.scaled_dot_product_attention(q, q, q, dropout_p=0.5).sum(), q, create_graph=True)
    with pytest.raises(RuntimeError, match="with dropout does not support double backward"):
        g.sum().backward()


def test_first_derivatives_keep_the_fused_kernels():
    """Without create_graph nothing is recorded: the gradients are plain tensors."""
    x = fibril.tensor(_normal(2, 3, 6, 6), requires_grad=True)
    w = fibril.tensor(_normal(4, 3, 3, 3), requires_grad=True)
    y = F.max_pool2d(F.batch_norm(F.conv2d(x, w), None, None, training=True), 2)
    gx, gw = autograd.grad(F.cross_entropy(y.flatten(1), fibril.tensor([1, 2])), [x, w])
    assert not gx.requires_grad and not gw.requires_grad


class _Counted(fibril.autograd.Function):
    calls = 0

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        _Counted.calls += 1
        return g * 2


def test_grad_runs_only_the_graph_between_outputs_and_inputs():
    """As torch: autograd.grad neither runs nor frees the graph beyond its inputs, so the
    upstream part can be differentiated afterwards."""
    x = fibril.tensor([1.0, 2.0], requires_grad=True)
    h = _Counted.apply(x) * 3
    out = (h * h).sum()
    _Counted.calls = 0
    (gh,) = autograd.grad(out, h)
    np.testing.assert_allclose(gh.numpy(), 2 * h.detach().numpy())
    assert _Counted.calls == 0
    h.sum().backward()  # the upstream graph was neither run nor released
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])
    assert _Counted.calls == 1


def test_grad_through_a_shared_input_and_an_unused_one():
    x = fibril.tensor([1.0, 2.0], requires_grad=True)
    y = fibril.tensor([3.0], requires_grad=True)
    h = x * x
    out = (h * x).sum()
    gh, gx = autograd.grad(out, [h, x], retain_graph=True)
    np.testing.assert_allclose(gh.numpy(), [1.0, 2.0])
    np.testing.assert_allclose(gx.numpy(), [3.0, 12.0])  # through h as well: d(x^3)/dx
    assert autograd.grad(out, [y], allow_unused=True) == (None,)


@pytest.mark.parametrize("kind,options", [("LSTM", {}), ("LSTM", {"bidirectional": True, "proj_size": 2}),
                                          ("GRU", {"num_layers": 2}), ("GRU", {"bidirectional": True}),
                                          ("RNN", {"nonlinearity": "relu"}), ("RNN", {"bidirectional": True})])
def test_rnn_second_derivatives(kind, options):
    torch.manual_seed(0)
    ref = getattr(torch.nn, kind)(3, 4, dtype=torch.float64, **options)
    ours = getattr(fibril.nn, kind)(3, 4, dtype=fibril.float64, **options)
    ours.load_state_dict({k: fibril.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    x = _normal(5, 2, 3)

    def run(model):
        def f(x):
            out = model(x)
            return (out[0] ** 2).sum() + (out[1][0] if kind == "LSTM" else out[1]).sin().sum()
        return f

    _check(run(ours), run(ref), [x], [True], atol=1e-8)


def test_lstm_with_lengths_second_derivative_matches_padded_runs():
    """Variable lengths: row b runs its first lengths[b] steps; each row's second derivative
    equals that of the row alone, run to its length."""
    torch.manual_seed(1)
    ref = torch.nn.LSTM(3, 4, dtype=torch.float64, bidirectional=True)
    ours = fibril.nn.LSTM(3, 4, dtype=fibril.float64, bidirectional=True)
    ours.load_state_dict({k: fibril.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    x = _normal(6, 2, 3)
    lengths = [6, 3]
    ours_second = _second(fibril, lambda x: ((ours(x, lengths=lengths)[0]) ** 2).sum(), [x], [True])[1][0]
    for b, n in enumerate(lengths):
        alone = _second(torch, lambda x: (ref(x)[0] ** 2).sum(), [x[:n, b:b + 1]], [True])[1][0]
        np.testing.assert_allclose(ours_second[:n, b:b + 1], alone, rtol=1e-8, atol=1e-9)
        assert not ours_second[n:, b].any()
