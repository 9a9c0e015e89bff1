"""MultiheadAttention and the Transformer family against PyTorch modules whose weights are
copied in (state dict names identical), forward and gradients; masks, batch_first, kdim/vdim,
need_weights, norm_first and gelu; positional encodings; bad input."""

import math

import numpy as np
import pytest

import fibril
import fibril.nn as nn
from op_check import torch

needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")


def rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def port(module, ref):
    """Copies ref's (torch) state dict into module; the names must be the same."""
    sd = ref.state_dict()
    assert list(module.state_dict().keys()) == list(sd.keys())
    module.load_state_dict({k: fibril.tensor(v.detach().numpy()) for k, v in sd.items()})
    return module


def close(a, b, atol=1e-10):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=atol, rtol=1e-8)


def pair(shape, seed):
    a = rand(shape, seed)
    return fibril.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


@needs_torch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
def test_mha_self_attention(batch_first, need_weights):
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(16, 4, batch_first=batch_first, dtype=torch.float64)
    mha = port(nn.MultiheadAttention(16, 4, batch_first=batch_first, dtype="float64"), ref)
    shape = (3, 7, 16) if batch_first else (7, 3, 16)
    x, xt = pair(shape, 1)
    kpm = np.zeros((3, 7), dtype=bool)
    kpm[1, 5:] = True
    causal = np.triu(np.ones((7, 7), dtype=bool), 1)
    out, w = mha(x, x, x, key_padding_mask=fibril.tensor(kpm), attn_mask=fibril.tensor(causal),
                 need_weights=need_weights)
    rout, rw = ref(xt, xt, xt, key_padding_mask=torch.tensor(kpm), attn_mask=torch.tensor(causal),
                   need_weights=need_weights)
    close(out, rout)
    assert (w is None) == (rw is None)
    if w is not None:
        close(w, rw)
    cot = rand(tuple(out.shape), 2)
    out.backward(fibril.tensor(cot))
    rout.backward(torch.tensor(cot))
    close(x.grad, xt.grad)
    for (name, p), (rname, rp) in zip(mha.named_parameters(), ref.named_parameters()):
        assert name == rname
        close(p.grad, rp.grad)


@needs_torch
def test_mha_cross_kdim_vdim_float_mask_unaveraged():
    torch.manual_seed(1)
    ref = torch.nn.MultiheadAttention(12, 3, kdim=5, vdim=7, batch_first=True, dtype=torch.float64)
    mha = port(nn.MultiheadAttention(12, 3, kdim=5, vdim=7, batch_first=True, dtype="float64"), ref)
    q, k, v = rand((2, 4, 12), 3), rand((2, 6, 5), 4), rand((2, 6, 7), 5)
    mask = rand((2 * 3, 4, 6), 6)
    out, w = mha(*(fibril.tensor(a) for a in (q, k, v)), attn_mask=fibril.tensor(mask), average_attn_weights=False)
    rout, rw = ref(*(torch.tensor(a) for a in (q, k, v)), attn_mask=torch.tensor(mask), average_attn_weights=False)
    close(out, rout)
    close(w, rw)
    out2, _ = mha(*(fibril.tensor(a) for a in (q, k, v)), attn_mask=fibril.tensor(mask), need_weights=False)
    close(out2, rout)


@needs_torch
def test_mha_unbatched_bias_kv_zero_attn():
    torch.manual_seed(2)
    ref = torch.nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True, dtype=torch.float64)
    mha = port(nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True, dtype="float64"), ref)
    x = rand((5, 8), 7)
    kpm = np.array([False, False, True, False, False])
    out, w = mha(*(fibril.tensor(x),) * 3, key_padding_mask=fibril.tensor(kpm))
    rout, rw = ref(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(kpm))
    close(out, rout)
    close(w, rw)


@needs_torch
def test_mha_is_causal_fast_path():
    torch.manual_seed(3)
    ref = torch.nn.MultiheadAttention(16, 2, batch_first=True, dtype=torch.float64)
    mha = port(nn.MultiheadAttention(16, 2, batch_first=True, dtype="float64"), ref)
    x = rand((2, 9, 16), 8)
    mask = nn.Transformer.generate_square_subsequent_mask(9, dtype="float64")
    out, _ = mha(*(fibril.tensor(x),) * 3, attn_mask=mask, is_causal=True, need_weights=False)
    rout, _ = ref(*(torch.tensor(x),) * 3, attn_mask=torch.tensor(mask.numpy()), is_causal=True, need_weights=False)
    close(out, rout)
    with pytest.raises(RuntimeError, match="attn_mask"):
        mha(*(fibril.tensor(x),) * 3, is_causal=True)


_MHA_CASES = {  # name: module options, and how it is called
    "seq_first": dict(kpm="bool", mask="2d_bool"),
    "batch_first": dict(batch_first=True, kpm="bool", mask="2d_bool"),
    "self_seq_first": dict(self_attn=True, mask="2d_float"),
    "self_batch_first": dict(self_attn=True, batch_first=True, kpm="float"),
    "key_is_value": dict(key_is_value=True, batch_first=True, mask="3d_float"),
    "kdim_vdim": dict(kdim=5, vdim=7, batch_first=True, mask="3d_float"),
    "kdim_vdim_seq_first_no_bias": dict(kdim=5, vdim=7, bias=False, kpm="float", mask="2d_float"),
    "bias_kv": dict(add_bias_kv=True, kpm="float", mask="2d_float"),
    "zero_attn": dict(add_zero_attn=True, kpm="bool", mask="3d_bool"),
    "bias_kv_zero_attn": dict(add_bias_kv=True, add_zero_attn=True, batch_first=True, kpm="bool"),
    "causal": dict(causal=True, batch_first=True),
    "causal_padded": dict(causal=True, kpm="bool"),
    "unbatched": dict(unbatched=True, kpm="bool", mask="3d_bool"),
    "unbatched_float_masks": dict(unbatched=True, kpm="float", mask="3d_float"),
    "unbatched_self_bias_kv": dict(unbatched=True, self_attn=True, add_bias_kv=True, mask="2d_bool"),
    "dropout_eval": dict(dropout=0.5, batch_first=True, kpm="bool", mask="2d_bool"),
}


def _mha_case(case, seed=20):
    """The module's constructor options, and query, key, value and the masks as arrays in the
    module's layout."""
    c = dict(_MHA_CASES[case])
    rng = np.random.default_rng(seed)
    n, tq, heads = 3, 4, 2
    s = tq if c.get("self_attn") or c.get("causal") else 6
    ctor = {k: c[k] for k in ("kdim", "vdim", "bias", "add_bias_kv", "add_zero_attn", "batch_first", "dropout")
            if k in c}

    def seq(t, d):
        if c.get("unbatched"):
            return (t, d)
        return (n, t, d) if c.get("batch_first") else (t, n, d)

    q = rng.standard_normal(seq(tq, 8))
    k = rng.standard_normal(seq(s, c.get("kdim", 8)))
    v = rng.standard_normal(seq(s, c.get("vdim", 8)))
    arrays = dict(query=q, key=q if c.get("self_attn") or c.get("causal") else k,
                  value=q if c.get("self_attn") or c.get("causal") else k if c.get("key_is_value") else v)
    lead = 1 if c.get("unbatched") else n
    pad = np.zeros((lead, s), bool)
    pad[0, -1] = True
    pad[-1, 1] = True
    if c.get("kpm") == "bool":
        arrays["key_padding_mask"] = pad[0] if c.get("unbatched") else pad
    elif c.get("kpm") == "float":
        arrays["key_padding_mask"] = np.where(pad, -np.inf, 0.0)[0 if c.get("unbatched") else slice(None)]
    if c.get("causal"):
        arrays["attn_mask"] = np.triu(np.ones((tq, s), bool), 1)
    elif c.get("mask"):
        shape = (tq, s) if c["mask"].startswith("2d") else (lead * heads, tq, s)
        if c["mask"].endswith("bool"):
            mask = rng.random(shape) < 0.3
            mask[..., 0] = False  # no row masked whole (torch's weights path gives NaN there)
        else:
            mask = rng.standard_normal(shape)
        arrays["attn_mask"] = mask
    return ctor, arrays, c


def _mha_run(lib, module, arrays, c, how, need_weights, average):
    """Output, weights and the gradients of the inputs and parameters of the module, or
    (how="functional") of F.multi_head_attention_forward called with the module's parameters."""
    leaves = {}
    for name in ("query", "key", "value"):
        a = arrays[name]
        same = next((t for other, t in leaves.items() if arrays[other] is a), None)
        leaves[name] = same if same is not None else lib.tensor(a, requires_grad=True)
    q, k, v = leaves["query"], leaves["key"], leaves["value"]
    kw = dict(need_weights=need_weights, average_attn_weights=average, is_causal=bool(c.get("causal")))
    for name in ("key_padding_mask", "attn_mask"):
        if name in arrays:
            kw[name] = lib.tensor(arrays[name])
    if how == "module":
        out, weights = module(q, k, v, **kw)
    else:
        F = lib.nn.functional
        transpose = module.batch_first and q.ndim == 3
        if transpose:  # as the module: one transpose of a tensor passed more than once
            views = {}
            q, k, v = (views.setdefault(id(t), t.transpose(0, 1)) for t in (q, k, v))
        out, weights = F.multi_head_attention_forward(
            q, k, v, module.embed_dim, module.num_heads, module.in_proj_weight, module.in_proj_bias,
            module.bias_k, module.bias_v, module.add_zero_attn, module.dropout, module.out_proj.weight,
            module.out_proj.bias, training=module.training, use_separate_proj_weight=not module._qkv_same_embed_dim,
            q_proj_weight=module.q_proj_weight, k_proj_weight=module.k_proj_weight,
            v_proj_weight=module.v_proj_weight, **kw)
        if transpose:
            out = out.transpose(0, 1)
    loss = (out * lib.tensor(np.cos(np.arange(out.numel())).reshape(tuple(out.shape)))).sum()
    if weights is not None:
        loss = loss + (weights * weights).sum()
    loss.backward()
    grads = {name: t.grad.numpy() for name, t in leaves.items()}
    grads.update({name: p.grad.numpy() for name, p in module.named_parameters()})
    for p in module.parameters():
        p.grad = None
    return out.detach().numpy(), None if weights is None else weights.detach().numpy(), grads


@needs_torch
@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("case", list(_MHA_CASES))
def test_mha_module_is_the_functional(case, need_weights, average):
    """The module gives F.multi_head_attention_forward's outputs and gradients bit for bit (its
    forward is the functional), and both give torch's module's."""
    ctor, arrays, c = _mha_case(case)
    torch.manual_seed(6)
    ref = torch.nn.MultiheadAttention(8, 2, dtype=torch.float64, **ctor).eval()
    mha = port(nn.MultiheadAttention(8, 2, dtype="float64", **ctor), ref).eval()
    want = _mha_run(torch, ref, arrays, c, "module", need_weights, average)
    got = _mha_run(fibril, mha, arrays, c, "module", need_weights, average)
    functional = _mha_run(fibril, mha, arrays, c, "functional", need_weights, average)
    for ours, theirs, name in ((got[0], want[0], "output"), (got[1], want[1], "weights")):
        assert (ours is None) == (theirs is None) == (name == "weights" and not need_weights)
        if theirs is not None:
            np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12, err_msg=name)
    assert want[2].keys() == got[2].keys() == functional[2].keys()
    for name, theirs in want[2].items():
        np.testing.assert_allclose(got[2][name], theirs, rtol=1e-10, atol=1e-12, err_msg=name)
    for ours, same in zip(got[:2], functional[:2]):
        np.testing.assert_array_equal(ours, same)
    for name, same in functional[2].items():
        np.testing.assert_array_equal(got[2][name], same, err_msg=name)


@needs_torch
@pytest.mark.parametrize("norm_first,activation", [(False, "relu"), (True, "gelu")])
def test_encoder_decoder_layers(norm_first, activation):
    torch.manual_seed(4)
    kw = dict(dim_feedforward=24, dropout=0.0, activation=activation, norm_first=norm_first, batch_first=True)
    enc_ref = torch.nn.TransformerEncoderLayer(16, 4, dtype=torch.float64, **kw)
    dec_ref = torch.nn.TransformerDecoderLayer(16, 4, dtype=torch.float64, **kw)
    enc = port(nn.TransformerEncoderLayer(16, 4, dtype="float64", **kw), enc_ref)
    dec = port(nn.TransformerDecoderLayer(16, 4, dtype="float64", **kw), dec_ref)
    src, src_t = pair((2, 7, 16), 9)
    tgt, tgt_t = pair((2, 5, 16), 10)
    tmask = nn.generate_square_subsequent_mask(5, dtype="float64")
    kpm = np.zeros((2, 7), dtype=bool)
    kpm[0, -2:] = True
    mem = enc(src, src_key_padding_mask=fibril.tensor(kpm))
    out = dec(tgt, mem, tgt_mask=tmask, tgt_is_causal=True, memory_key_padding_mask=fibril.tensor(kpm))
    mem_t = enc_ref(src_t, src_key_padding_mask=torch.tensor(kpm))
    out_t = dec_ref(tgt_t, mem_t, tgt_mask=torch.tensor(tmask.numpy()), tgt_is_causal=True,
                    memory_key_padding_mask=torch.tensor(kpm))
    close(mem, mem_t)
    close(out, out_t)
    out.sum().backward()
    out_t.sum().backward()
    close(src.grad, src_t.grad)
    close(tgt.grad, tgt_t.grad)


@needs_torch
@pytest.mark.filterwarnings("ignore:enable_nested_tensor")
def test_transformer_full():
    torch.manual_seed(5)
    kw = dict(d_model=16, nhead=2, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=32, dropout=0.0)
    ref = torch.nn.Transformer(dtype=torch.float64, **kw)
    model = port(nn.Transformer(dtype="float64", **kw), ref)
    src, tgt = rand((6, 2, 16), 11), rand((4, 2, 16), 12)
    tmask = nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(tmask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())
    out = model(fibril.tensor(src), fibril.tensor(tgt), tgt_mask=tmask.double())
    out_t = ref(torch.tensor(src), torch.tensor(tgt), tgt_mask=torch.tensor(tmask.numpy()).double())
    close(out, out_t)
    assert len(model.encoder.layers) == 2 and model.encoder.layers[0] is not model.encoder.layers[1]


def test_training_dropout_reproducible():
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.2, batch_first=True)
    x = fibril.tensor(rand((2, 5, 16), 13).astype(np.float32))
    fibril.manual_seed(3)
    a = layer(x).detach().numpy()
    fibril.manual_seed(3)
    assert np.array_equal(a, layer(x).detach().numpy())
    assert not np.array_equal(a, layer(x).detach().numpy())
    layer.eval()
    assert np.array_equal(layer(x).detach().numpy(), layer(x).detach().numpy())


def test_positional_encodings():
    pe = nn.SinusoidalPositionalEncoding(6, max_len=10, batch_first=True)
    x = fibril.zeros(2, 4, 6)
    got = pe(x).numpy()
    pos, i = 3, 2
    assert math.isclose(got[1, pos, 2 * i], math.sin(pos / 10000 ** (2 * i / 6)), rel_tol=1e-6)
    assert math.isclose(got[0, pos, 2 * i + 1], math.cos(pos / 10000 ** (2 * i / 6)), rel_tol=1e-6)
    assert "pe" not in pe.state_dict()
    seq_first = nn.SinusoidalPositionalEncoding(6, max_len=10)(fibril.zeros(4, 2, 6)).numpy()
    np.testing.assert_array_equal(seq_first[:, 1], got[1])
    learned = nn.LearnedPositionalEmbedding(10, 6, batch_first=True)
    y = learned(x)
    y.sum().backward()
    assert learned.weight.grad.numpy()[:4].tolist() == [[2.0] * 6] * 4
    assert np.all(learned.weight.grad.numpy()[4:] == 0)
    with pytest.raises(ValueError, match="max_len"):
        pe(fibril.zeros(1, 11, 6))


def test_bad_input():
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    with pytest.raises(ValueError, match=r"\[2, 3, 7\]"):
        mha(fibril.zeros(2, 3, 7), fibril.zeros(2, 3, 7), fibril.zeros(2, 3, 7))
    with pytest.raises(ValueError, match=r"attn_mask is \[3, 4\]"):
        x = fibril.zeros(2, 3, 8)
        mha(x, x, x, attn_mask=fibril.zeros(3, 4))
    with pytest.raises(ValueError, match="key_padding_mask"):
        mha(x, x, x, key_padding_mask=fibril.zeros(2, 4, dtype="bool"))
    with pytest.raises(RuntimeError, match="relu/gelu"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
