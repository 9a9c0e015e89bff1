"""RNN family: nn.LSTM and nn.GRU over a (seq 128, batch 64, input 128) float32 sequence,
hidden 256, 1 and 2 layers; forward (output y), and forward+backward (y's gradient fixed,
returns the input's gradient; the weight gradients are computed too, as in training).

GFLOP/s counts the GEMM work: per layer forward 2 T B (I + H) G H (G = 4 LSTM, 3 GRU), and
backward twice that (input/state gradients and weight gradients), so forward+backward is 3x.
numpy has no RNN: its plain float32 step loop with hand-written backpropagation checks the
results and is not timed.
"""
import functools

import numpy as np

from bench.harness import Case

T, B, I, H = 128, 64, 128, 256
GATES = {"lstm": 4, "gru": 3}
_modules = {}


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def weights(kind, layers):
    rng = np.random.default_rng(1)
    out = []
    for layer in range(layers):
        n_in = I if layer == 0 else H
        for shape in ((GATES[kind] * H, n_in), (GATES[kind] * H, H), (GATES[kind] * H,), (GATES[kind] * H,)):
            out.append(rng.uniform(-H ** -0.5, H ** -0.5, shape).astype(np.float32))
    return out


def inputs(kind, layers, grad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I), dtype=np.float32)
    g = (rng.standard_normal((T, B, H), dtype=np.float32),) if grad else ()
    return (x,) + g + tuple(weights(kind, layers))


def np_layer(kind, x, w_ih, w_hh, b_ih, b_hh):
    """Forward of one layer; returns y and the per-step cache for np_layer_backward."""
    h, c = np.zeros((B, H), np.float32), np.zeros((B, H), np.float32)
    gi_all = x @ w_ih.T + b_ih
    ys, cache = [], []
    for t in range(x.shape[0]):
        gi, gh = gi_all[t], h @ w_hh.T + b_hh
        if kind == "lstm":
            i, f, g, o = np.split(gi + gh, 4, axis=1)
            i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
            c_prev, c = c, f * c + i * g
            cache.append((h, c_prev, c, i, f, g, o))
            h = o * np.tanh(c)
        else:
            r = sigmoid(gi[:, :H] + gh[:, :H])
            z = sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
            n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
            cache.append((h, r, z, n, gh[:, 2 * H:]))
            h = (1 - z) * n + z * h
        ys.append(h)
    return np.stack(ys), cache


def np_layer_backward(kind, dy, w_ih, w_hh, cache):
    """The input gradient of one layer (the weight gradients are left out of the reference)."""
    dh, dc = np.zeros((B, H), np.float32), np.zeros((B, H), np.float32)
    dgi = np.empty((dy.shape[0], B, GATES[kind] * H), np.float32)
    for t in range(dy.shape[0] - 1, -1, -1):
        d = dh + dy[t]
        if kind == "lstm":
            h_prev, c_prev, c, i, f, g, o = cache[t]
            tc = np.tanh(c)
            dct = dc + d * o * (1 - tc * tc)
            dg = np.concatenate([dct * g * i * (1 - i), dct * c_prev * f * (1 - f), dct * i * (1 - g * g),
                                 d * tc * o * (1 - o)], axis=1)
            dc, dgi[t], dh = dct * f, dg, dg @ w_hh
        else:
            h_prev, r, z, n, hn = cache[t]
            dn = d * (1 - z) * (1 - n * n)
            dz = d * (h_prev - n) * z * (1 - z)
            dr = dn * hn * r * (1 - r)
            dgi[t] = np.concatenate([dr, dz, dn], axis=1)
            dh = d * z + np.concatenate([dr, dz, dn * r], axis=1) @ w_hh
    return dgi @ w_ih


def np_rnn(kind, grad, x, *rest):
    g, ws = (rest[0], rest[1:]) if grad else (None, rest)
    caches = []
    for layer in range(len(ws) // 4):
        w_ih, w_hh, b_ih, b_hh = ws[4 * layer:4 * layer + 4]
        caches.append((x, w_ih, w_hh))
        x, cache = np_layer(kind, x, w_ih, w_hh, b_ih, b_hh)
        caches[-1] += (cache,)
    if not grad:
        return x
    for _, w_ih, w_hh, cache in reversed(caches):
        g = np_layer_backward(kind, g, w_ih, w_hh, cache)
    return g


def module(lib, kind, ws):
    """One module per library and case, holding the case's weights (made on the first call)."""
    key = (lib, kind, len(ws), id(ws[0]))
    if key not in _modules:
        if lib == "fibril":
            import fibril.nn as nn
        else:
            import torch.nn as nn
        m = (nn.LSTM if kind == "lstm" else nn.GRU)(I, H, num_layers=len(ws) // 4)
        m.load_state_dict(dict(zip(m.state_dict().keys(), ws)))
        _modules[key] = m
    return _modules[key]


def run(lib, kind, grad, x, *rest):
    g, ws = (rest[0], rest[1:]) if grad else (None, rest)
    m = module(lib, kind, ws)
    if not grad:
        mod = __import__(lib)
        with mod.no_grad():
            return m(x)[0]
    leaf = x.detach().requires_grad_()
    m(leaf)[0].backward(g)
    return leaf.grad


def assert_close(out, ref, inputs):
    if out.dtype != np.float32 or out.shape != ref.shape:
        raise AssertionError(f"got {out.dtype} {out.shape}, numpy gives {ref.dtype} {ref.shape}")
    np.testing.assert_allclose(out, ref, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(ref).max())))


def cases(quick):
    out = []
    for kind in ("lstm", "gru"):
        for layers in (1, 2):
            flops = 2 * T * B * GATES[kind] * H * ((I + H) + (layers - 1) * 2 * H)
            for grad in (False, True):
                out.append(Case(name=f"{kind} {layers}L {'fwd+bwd' if grad else 'fwd'}",
                                work=flops * (3 if grad else 1), unit="GFLOP/s",
                                inputs=functools.partial(inputs, kind, layers, grad),
                                ops={"fibril": functools.partial(run, "fibril", kind, grad),
                                     "torch": functools.partial(run, "torch", kind, grad)},
                                check=assert_close, reference=functools.partial(np_rnn, kind, grad)))
    return out[:1] if quick else out
