"""RNN family: one recurrent layer (both directions) per autograd Function. Forward and backward
through time each run as one _C call (the step loop is C++), so a 1,000-step sequence costs
one graph node and no Python recursion. Under create_graph the backward recomputes the layer
step by step from differentiable ops (autograd.composed), so second derivatives exist."""

from .. import _C
from ..autograd import Function, is_grad_enabled
from ..autograd.composed import composed_gradients
from ..tensor import Tensor
from . import elementwise as ew
from . import index
from .activation import relu
from .join import cat, chunk, stack
from .matmul import linear


def _data(t):
    return None if t is None else t._data


def _wrap(a):
    return None if a is None else Tensor._wrap(a)


class RnnLayer(Function):
    """inputs: mode, lengths (_C int64 array or None), x (T, B, I), h0 (D, B, P), c0 (LSTM) or
    None, then per direction w_ih, w_hh, b_ih, b_hh, w_hr (None where absent). Outputs y
    (T, B, D P), h_n and, for LSTM, c_n."""

    @staticmethod
    def forward(ctx, mode, lengths, x, h0, c0, *weights):
        dirs = [[_data(w) for w in weights[i:i + 5]] for i in range(0, len(weights), 5)]
        y, h_n, c_n, saved = _C.rnn_layer(mode, x._data, dirs, h0._data, _data(c0), lengths)
        ctx.save_for_backward(x, h0, c0, *weights)
        ctx.mode, ctx.lengths, ctx.c_n, ctx.saved = mode, lengths, c_n, saved
        if c_n is None:
            return Tensor._wrap(y), Tensor._wrap(h_n)
        return Tensor._wrap(y), Tensor._wrap(h_n), Tensor._wrap(c_n)

    @staticmethod
    def backward(ctx, gy, gh, gc=None):
        if is_grad_enabled():
            x, h0, c0, *weights = ctx.saved_tensors
            lengths = None if ctx.lengths is None else Tensor._wrap(ctx.lengths)
            compose = lambda *inputs: _layer_composed(ctx.mode, lengths, *inputs)  # noqa: E731
            grads = (gy, gh) if gc is None else (gy, gh, gc)
            return (None, None) + composed_gradients(compose, (x, h0, c0, *weights), ctx.needs_input_grad[2:], grads)
        x, _, _, *weights = ctx.saved_tensors
        dirs = [[_data(w) for w in weights[i:i + 5]] for i in range(0, len(weights), 5)]
        dx, dh0, dc0, dws = _C.rnn_layer_backward(ctx.mode, x._data, dirs, ctx.lengths, ctx.c_n, ctx.saved,
                                                  gy._data, gh._data, _data(gc), ctx.needs_input_grad[2])
        return (None, None, _wrap(dx), Tensor._wrap(dh0), _wrap(dc0)) + tuple(_wrap(d) for d in dws)


def rnn_layer(mode, x, h0, c0, weights, lengths=None):
    """One layer over time-major x (T, B, I): mode 'rnn_tanh', 'rnn_relu', 'lstm' or 'gru';
    weights: per direction [w_ih, w_hh, b_ih, b_hh, w_hr] (None where absent); lengths: a
    _C int64 array (B) or None. Returns (y, h_n) or, for LSTM, (y, h_n, c_n)."""
    flat = [w for direction in weights for w in direction]
    return RnnLayer.apply(mode, lengths, x, h0, c0, *flat)


def _cell_composed(mode, x_t, h, c, w_ih, w_hh, b_ih, b_hh, w_hr):
    """One step of the cell from differentiable ops: (h', c') (c' None but for LSTM)."""
    gi, gh = linear(x_t, w_ih, b_ih), linear(h, w_hh, b_hh)
    if mode == "lstm":
        i, f, g, o = chunk(ew.add(gi, gh), 4, 1)
        c = ew.add(ew.mul(ew.sigmoid(f), c), ew.mul(ew.sigmoid(i), ew.tanh(g)))
        h = ew.mul(ew.sigmoid(o), ew.tanh(c))
        return (h if w_hr is None else linear(h, w_hr)), c
    if mode == "gru":
        (ir, iz, i_n), (hr, hz, h_n) = chunk(gi, 3, 1), chunk(gh, 3, 1)
        r, z = ew.sigmoid(ew.add(ir, hr)), ew.sigmoid(ew.add(iz, hz))
        n = ew.tanh(ew.add(i_n, ew.mul(r, h_n)))
        return ew.add(n, ew.mul(z, ew.sub(h, n))), None
    pre = ew.add(gi, gh)
    return (ew.tanh(pre) if mode == "rnn_tanh" else relu(pre)), None


def _layer_composed(mode, lengths, x, h0, c0, *weights):
    """RnnLayer's forward from differentiable ops: per direction, step by step (the reverse
    direction from each row's last step); a row past its length keeps its state and outputs 0."""
    steps = x.shape[0]
    ys, hs, cs = [], [], []
    for d in range(len(weights) // 5):
        h, c = h0[d], None if c0 is None else c0[d]
        out = [None] * steps
        for t in (range(steps) if d == 0 else reversed(range(steps))):
            h_new, c_new = _cell_composed(mode, x[t], h, c, *weights[5 * d:5 * d + 5])
            if lengths is None:
                h, c, out[t] = h_new, c_new, h_new
                continue
            active = index.unsqueeze(ew.gt(lengths, t), 1)
            h = ew.where(active, h_new, h)
            c = None if c is None else ew.where(active, c_new, c)
            out[t] = ew.where(active, h_new, 0.0)
        ys.append(stack(out))
        hs.append(h)
        cs.append(c)
    results = (cat(ys, 2), stack(hs))
    return results if c0 is None else results + (stack(cs),)
