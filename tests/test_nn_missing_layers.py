"""torch.nn pieces composed from fibril's ops, against PyTorch: 3-D padding modules,
InstanceNorm3d, LPPool3d / lp_pool (inf norms, zero windows), ChannelShuffle, Softmax2d, the
in-place activations (relu_, ...), the *_with_indices pools, pdist (torch's gradient at zero
distances and p in {0, <1, 1, 2, inf}), multi_head_attention_forward and fibril.nn.grad."""

import numpy as np
import pytest

import fibril
import fibril.nn as nn
import fibril.nn.functional as F
from op_check import check_op, make_inputs, torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _same_error(fibril_call, torch_call):
    with pytest.raises(Exception) as want:
        torch_call()
    with pytest.raises(type(want.value)) as got:
        fibril_call()
    assert str(got.value).split("\n")[0].replace("fibril.Size", "torch.Size") == str(want.value).split("\n")[0]


# ------------------------------------------------------------------------------ padding, norms, pools
@pytest.mark.parametrize("name, args", [
    ("ConstantPad3d", (1, 2.5)), ("ConstantPad3d", ((1, 0, 2, 1, 0, 3), -1.0)), ("ZeroPad3d", ((2, 1, 0, 1, 1, 2),)),
    ("ReflectionPad3d", (1,)), ("ReflectionPad3d", ((2, 1, 0, 1, 1, 2),)), ("ReplicationPad3d", ((3, 1, 0, 2, 4, 1),)),
    ("CircularPad3d", (1,)), ("CircularPad3d", ((2, 1, 0, 1, 1, 2),)),
])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5, 6), (3, 4, 5, 6)])
def test_pad3d_modules_match_torch(name, args, shape):
    module, reference = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(module) == repr(reference)
    check_op(module, reference, make_inputs([shape]), gradcheck=False)


@pytest.mark.parametrize("affine, track", [(False, False), (True, False), (True, True)])
def test_instance_norm3d_matches_torch(affine, track):
    x = make_inputs([(2, 3, 4, 3, 5)], seed=2)[0]
    module = nn.InstanceNorm3d(3, affine=affine, track_running_stats=track, dtype=fibril.float64)
    reference = torch.nn.InstanceNorm3d(3, affine=affine, track_running_stats=track, dtype=torch.float64)
    assert repr(module) == repr(reference)
    check_op(module, reference, [x], gradcheck=False)
    check_op(module, reference, [x[0]], gradcheck=False)  # unbatched
    if track:
        np.testing.assert_allclose(module.running_var.numpy(), reference.running_var.numpy(), rtol=1e-12)
        module.eval(), reference.eval()
        check_op(module, reference, [x], gradcheck=False)
    with pytest.raises(ValueError, match="expected 4D or 5D input"):
        module(fibril.ones(3, 4, 5))


@pytest.mark.parametrize("kernel, stride, ceil_mode", [(2, None, False), ((2, 1, 3), (1, 2, 2), True), (3, 2, True)])
@pytest.mark.parametrize("norm_type", [1, 2, 3.5])
def test_lp_pool3d_matches_torch(kernel, stride, ceil_mode, norm_type):
    x = make_inputs([(2, 2, 5, 6, 7)], seed=3, low=0.2, high=2.0)[0]
    check_op(lambda t: F.lp_pool3d(t, norm_type, kernel, stride, ceil_mode),
             lambda t: TF.lp_pool3d(t, norm_type, kernel, stride, ceil_mode), [x], gradcheck=False)
    module, reference = nn.LPPool3d(norm_type, kernel, stride, ceil_mode), torch.nn.LPPool3d(norm_type, kernel, stride,
                                                                                            ceil_mode)
    assert repr(module) == repr(reference)
    check_op(module, reference, [x], gradcheck=False)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("norm_type", [float("inf"), -float("inf"), 2])
def test_lp_pool_infinite_norms_and_zero_windows_like_torch(dims, norm_type):
    """p = +-inf pools |x| by max (min); a window of zeros has a zero gradient, as torch's."""
    x = make_inputs([(2, 3) + (6,) * dims], seed=4)[0]
    x[..., :2] = 0.0
    fn, ref = getattr(F, f"lp_pool{dims}d"), getattr(TF, f"lp_pool{dims}d")
    check_op(lambda t: fn(t, norm_type, 2), lambda t: ref(t, norm_type, 2), [x], gradcheck=False)


def test_lp_pool3d_gradcheck():
    x = make_inputs([(1, 2, 4, 3, 4)], seed=5, low=0.5, high=2.0)[0]
    check_op(lambda t: F.lp_pool3d(t, 3, 2, 1), lambda t: TF.lp_pool3d(t, 3, 2, 1), [x])


@pytest.mark.parametrize("shape, groups", [((2, 6, 3), 2), ((2, 6, 3, 4), 3), ((1, 12, 2, 2, 2), 4), ((2, 5, 3), 1),
                                           ((2, 4, 3), 4)])
def test_channel_shuffle_matches_torch(shape, groups):
    x = make_inputs([shape], seed=6)[0]
    check_op(lambda t: F.channel_shuffle(t, groups), lambda t: TF.channel_shuffle(t, groups), [x], gradcheck=False)
    # torch has no derivative for native_channel_shuffle; fibril's is channel_shuffle's
    check_op(lambda t: F.native_channel_shuffle(t, groups), lambda t: TF.native_channel_shuffle(t, groups), [x],
             grad=False)
    module = nn.ChannelShuffle(groups)
    assert repr(module) == repr(torch.nn.ChannelShuffle(groups))
    check_op(module, torch.nn.ChannelShuffle(groups), [x], gradcheck=False)
    source = fibril.tensor(x)
    module(source).fill_(0.0)  # a new tensor, as torch's: the input stays
    np.testing.assert_array_equal(source.numpy(), x)


@pytest.mark.parametrize("shape, groups", [((2, 5, 3), 2), ((2, 6), 2), ((2, 6, 3), 0), ((2, 6, 3), -2),
                                           ((2, 6), 0)])
def test_channel_shuffle_errors_like_torch(shape, groups):
    _same_error(lambda: F.channel_shuffle(fibril.ones(*shape), groups),
                lambda: TF.channel_shuffle(torch.ones(*shape), groups))


def test_softmax2d_matches_torch():
    for shape in [(2, 3, 4, 5), (3, 4, 5)]:
        check_op(nn.Softmax2d(), torch.nn.Softmax2d(), make_inputs([shape], seed=7), gradcheck=False)
    assert repr(nn.Softmax2d()) == repr(torch.nn.Softmax2d()) == "Softmax2d()"
    _same_error(lambda: nn.Softmax2d()(fibril.ones(2, 3)), lambda: torch.nn.Softmax2d()(torch.ones(2, 3)))


# ------------------------------------------------------------------------------ in-place activations
INPLACE = [("relu_", ()), ("elu_", (0.7,)), ("leaky_relu_", (0.2,)), ("hardtanh_", (-0.5, 0.8)), ("selu_", ()),
           ("celu_", (1.3,)), ("rrelu_", (0.1, 0.3)), ("threshold_", (0.2, -3.0))]


@pytest.mark.parametrize("name, args", INPLACE)
def test_inplace_activations_match_torch(name, args):
    """The result is written into the input and returned; the gradient flows through the
    non-leaf that was overwritten; a leaf that requires grad is refused, as torch."""
    x = make_inputs([(3, 7)], seed=8)[0]
    a, b = fibril.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ya, yb = a * 1.5, b * 1.5
    out_a, out_b = getattr(F, name)(ya, *args), getattr(TF, name)(yb, *args)
    assert out_a is ya
    np.testing.assert_allclose(ya.detach().numpy(), yb.detach().numpy(), rtol=1e-12)
    cot = np.random.default_rng(9).standard_normal(x.shape)
    out_a.backward(fibril.tensor(cot)), out_b.backward(torch.tensor(cot))
    # torch's in-place elu/celu differentiate from the result, a few float32 ulps off for celu_
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-7)
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(F, name)(fibril.tensor(x, requires_grad=True), *args)
    plain = fibril.tensor(x)
    assert getattr(F, name)(plain, *args) is plain
    np.testing.assert_allclose(plain.numpy(), getattr(TF, name)(torch.tensor(x), *args).numpy(), rtol=1e-12)


def test_rrelu_inplace_training_draws_slopes():
    x = -fibril.ones(1000, dtype=fibril.float64)
    F.rrelu_(x, 0.1, 0.3, training=True)
    values = -x.numpy()
    assert values.min() >= 0.1 and values.max() <= 0.3 and values.std() > 0.03


# ------------------------------------------------------------------------------ pooling with indices
@pytest.mark.parametrize("name, shape, args", [
    ("max_pool1d_with_indices", (2, 3, 9), (3, 2, 1)), ("max_pool2d_with_indices", (2, 3, 7, 8), (3, 2, 1, 1, True)),
    ("max_pool3d_with_indices", (2, 2, 5, 6, 7), (2,)), ("adaptive_max_pool1d_with_indices", (2, 3, 9), (4,)),
    ("adaptive_max_pool2d_with_indices", (2, 3, 7, 8), ((3, 5),)),
    ("adaptive_max_pool3d_with_indices", (2, 2, 5, 6, 7), (3,)),
])
def test_with_indices_returns_both_like_torch(name, shape, args):
    x = make_inputs([shape], seed=10)[0]
    for return_indices in (False, True):
        got = getattr(F, name)(fibril.tensor(x), *args, return_indices=return_indices)
        want = getattr(TF, name)(torch.tensor(x), *args, return_indices=return_indices)
        assert len(got) == len(want) == 2
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w.numpy())


# ------------------------------------------------------------------------------ pdist
def _rows_with_ties():
    x = np.random.default_rng(11).integers(-2, 3, (7, 4)).astype(np.float64)
    x[3] = x[1]  # a zero distance
    x[5, :2] = x[0, :2]  # zero coordinates in a nonzero distance
    return x


@pytest.mark.parametrize("p", [0, 0.5, 1, 1.5, 2, 3, float("inf")])
def test_pdist_matches_torch_at_zero_distances(p):
    check_op(lambda t: F.pdist(t, p), lambda t: TF.pdist(t, p), [_rows_with_ties()], atol=1e-12, gradcheck=False)


@pytest.mark.parametrize("p", [0.7, 1.5, 2, 3])
def test_pdist_smooth_values_and_gradcheck(p):
    check_op(lambda t: F.pdist(t, p), lambda t: TF.pdist(t, p), make_inputs([(5, 3)], seed=12), atol=1e-12)


def test_pdist_shapes_and_errors_like_torch():
    for shape in [(1, 3), (0, 3), (3, 0)]:
        got, want = F.pdist(fibril.ones(*shape)), TF.pdist(torch.ones(*shape))
        assert tuple(got.shape) == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    _same_error(lambda: F.pdist(fibril.ones(2, 3, 4)), lambda: TF.pdist(torch.ones(2, 3, 4)))
    _same_error(lambda: F.pdist(fibril.ones(2, 3, dtype=fibril.int64)), lambda: TF.pdist(torch.ones(2, 3).long()))
    _same_error(lambda: F.pdist(fibril.ones(2, 3), -1), lambda: TF.pdist(torch.ones(2, 3), -1))


# ------------------------------------------------------------------------------ multi_head_attention_forward
E, HEADS, L, S, N = 8, 2, 4, 5, 3
KPM = np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0], [0, 1, 0, 0, 0]], bool)
CAUSAL = np.triu(np.ones((L, L), bool), 1)


def _mha(lib, functional, arrays, options, self_attention=False, batched=True, separate=False, bias_kv=False):
    """Output, weights and every leaf's gradient of one call with lib's tensors."""
    leaves = {name: lib.tensor(a, requires_grad=True) for name, a in arrays.items()}
    q = leaves["query"]
    k, v = (q, q) if self_attention else (leaves["key"], leaves["value"])
    if not batched:
        q, k, v = q[:, 0], k[:, 0], v[:, 0]
    options = {name: lib.tensor(value) if isinstance(value, np.ndarray) else value for name, value in options.items()}
    for name in ("static_k", "static_v"):
        if name in options:
            options[name] = leaves[name]
    if separate:
        options.update(use_separate_proj_weight=True, q_proj_weight=leaves["q_w"], k_proj_weight=leaves["k_w"],
                       v_proj_weight=leaves["v_w"])
    bias_k, bias_v = (leaves["bias_k"], leaves["bias_v"]) if bias_kv else (None, None)
    add_zero_attn = options.pop("add_zero_attn", False)
    out, weights = functional.multi_head_attention_forward(
        q, k, v, E, HEADS, leaves["in_w"], leaves["in_b"], bias_k, bias_v, add_zero_attn, 0.0, leaves["out_w"],
        leaves["out_b"], **options)
    loss = (out * lib.tensor(np.cos(np.arange(out.numel())).reshape(tuple(out.shape)))).sum()
    if weights is not None:
        loss = loss + (weights * weights).sum()
    loss.backward()
    grads = {name: None if t.grad is None else t.grad.numpy() for name, t in leaves.items()}
    return out.detach().numpy(), None if weights is None else weights.detach().numpy(), grads


@pytest.mark.parametrize("options, kind", [
    (dict(), {}), (dict(need_weights=False), {}), (dict(average_attn_weights=False), {}),
    (dict(attn_mask=np.random.default_rng(13).standard_normal((L, S))), {}),
    (dict(attn_mask=np.random.default_rng(14).random((L, S)) < 0.3), {}),
    (dict(attn_mask=np.random.default_rng(15).standard_normal((N * HEADS, L, S)), need_weights=False), {}),
    (dict(key_padding_mask=KPM), {}),
    (dict(key_padding_mask=KPM, attn_mask=np.zeros((L, S), bool), need_weights=False), {}),
    (dict(add_zero_attn=True, key_padding_mask=KPM), {}),
    (dict(add_zero_attn=True, attn_mask=np.random.default_rng(16).standard_normal((L, S))), dict(bias_kv=True)),
    (dict(key_padding_mask=KPM), dict(bias_kv=True)),
    (dict(static_k=None, static_v=None), {}),
    (dict(), dict(separate=True)), (dict(need_weights=False), dict(separate=True)),
    (dict(), dict(batched=False)), (dict(need_weights=False), dict(batched=False, self_attention=True)),
    (dict(need_weights=False, is_causal=True, attn_mask=CAUSAL), dict(self_attention=True)),
    (dict(is_causal=True, attn_mask=CAUSAL), dict(self_attention=True)),
    (dict(training=False), dict(self_attention=True)),
])
def test_multi_head_attention_forward_matches_torch(options, kind):
    rng = np.random.default_rng(17)
    shapes = dict(query=(L, N, E), key=(S, N, E), value=(S, N, E), in_w=(3 * E, E), in_b=(3 * E,), out_w=(E, E),
                  out_b=(E,), bias_k=(1, 1, E), bias_v=(1, 1, E), q_w=(E, E), k_w=(E, E), v_w=(E, E),
                  static_k=(N * HEADS, 6, E // HEADS), static_v=(N * HEADS, 6, E // HEADS))
    arrays = {name: rng.standard_normal(shape) for name, shape in shapes.items()}
    got = _mha(fibril, F, arrays, dict(options), **kind)
    want = _mha(torch, TF, arrays, dict(options), **kind)
    for g, w in zip(got[:2], want[:2]):
        assert (g is None) == (w is None)
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    for name, w in want[2].items():
        g = got[2][name]
        if w is None:
            assert g is None or not g.any(), name
        else:
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=name)


def test_multi_head_attention_forward_errors_like_torch():
    rng = np.random.default_rng(18)
    q, w, b = rng.standard_normal((L, N, E)), rng.standard_normal((3 * E, E)), rng.standard_normal(3 * E)

    def call(lib, functional, query=q, embed=E, heads=HEADS, **options):
        t = lib.tensor
        return functional.multi_head_attention_forward(t(query), t(query), t(query), embed, heads, t(w), t(b), None,
                                                       None, False, 0.0, t(w[:E]), t(b[:E]), **options)

    for kwargs in [dict(embed=6), dict(heads=3), dict(query=q[:, :, :, None]), dict(is_causal=True),
                   dict(attn_mask=np.zeros((L, L + 1))), dict(attn_mask=np.zeros((2, L, L))),
                   dict(key_padding_mask=np.zeros((N, L + 1), bool)), dict(attn_mask=np.zeros((L, L), np.int64))]:
        def wrap(lib, kw=kwargs):
            kw = {k: lib.tensor(v) if isinstance(v, np.ndarray) and k != "query" else v for k, v in kw.items()}
            return kw
        _same_error(lambda: call(fibril, F, **wrap(fibril)), lambda: call(torch, TF, **wrap(torch)))
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
        call(fibril, F, key_padding_mask=fibril.zeros(N, L, dtype=fibril.bool), attn_mask=fibril.zeros(L, L))


# ------------------------------------------------------------------------------ fibril.nn.grad
@pytest.mark.parametrize("dims, shape", [(1, (2, 4, 11)), (2, (2, 4, 9, 10)), (3, (1, 4, 7, 6, 8))])
@pytest.mark.parametrize("stride, padding, dilation, groups", [(1, 0, 1, 1), (2, 1, 1, 2), (3, 2, 2, 1), (2, 0, 1, 4)])
def test_conv_grads_match_torch(dims, shape, stride, padding, dilation, groups):
    rng = np.random.default_rng(19)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((8, 4 // groups) + (3,) * dims)
    conv = getattr(TF, f"conv{dims}d")
    go = rng.standard_normal(tuple(conv(torch.tensor(x), torch.tensor(w), None, stride, padding, dilation,
                                        groups).shape))
    args = (stride, padding, dilation, groups)
    got = getattr(nn.grad, f"conv{dims}d_input")(shape, fibril.tensor(w), fibril.tensor(go), *args)
    want = getattr(torch.nn.grad, f"conv{dims}d_input")(shape, torch.tensor(w), torch.tensor(go), *args)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)
    got = getattr(nn.grad, f"conv{dims}d_weight")(fibril.tensor(x), w.shape, fibril.tensor(go), *args)
    want = getattr(torch.nn.grad, f"conv{dims}d_weight")(torch.tensor(x), w.shape, torch.tensor(go), *args)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)


def test_conv_grads_are_differentiable():
    """Gradients of the conv gradients, through weight and grad_output or input and grad_output."""
    x, w, go = make_inputs([(1, 2, 6, 5), (3, 2, 2, 2), (1, 3, 4, 3)], seed=20)
    check_op(lambda wt, g: nn.grad.conv2d_input((1, 2, 6, 5), wt, g, stride=2, padding=1),
             lambda wt, g: torch.nn.grad.conv2d_input((1, 2, 6, 5), wt, g, stride=2, padding=1), [w, go])
    check_op(lambda xt, g: nn.grad.conv2d_weight(xt, (3, 2, 2, 2), g, stride=2, padding=1),
             lambda xt, g: torch.nn.grad.conv2d_weight(xt, (3, 2, 2, 2), g, stride=2, padding=1), [x, go])
