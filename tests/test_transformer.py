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
