"""RNN family: one recurrent layer (both directions) per autograd Function. Forward and backward
through time each run as one _C call (the step loop is C++), so a 1,000-step sequence costs
one graph node and no Python recursion."""

from .. import _C
from ..autograd import Function
from ..tensor import Tensor


def _data(t):
    return None if t is None else t._data


def _wrap(a):
    return None if a is None else Tensor._wrap(a)


class RnnLayer(Function):
    """inputs: mode, lengths (_C int64 array or None), x (T, B, I), h0 (D, B, P), c0 (LSTM) or
    None, then per direction w_ih, w_hh, b_ih, b_hh, w_hr (None where absent). Outputs y
    (T, B, D P), h_n and, for LSTM, c_n."""
    once_differentiable = True  # backward runs raw kernels

    @staticmethod
    def forward(ctx, mode, lengths, x, h0, c0, *weights):
        dirs = [[_data(w) for w in weights[i:i + 5]] for i in range(0, len(weights), 5)]
        y, h_n, c_n, saved = _C.rnn_layer(mode, x._data, dirs, h0._data, _data(c0), lengths)
        ctx.save_for_backward(x, *weights)
        ctx.mode, ctx.lengths, ctx.c_n, ctx.saved = mode, lengths, c_n, saved
        if c_n is None:
            return Tensor._wrap(y), Tensor._wrap(h_n)
        return Tensor._wrap(y), Tensor._wrap(h_n), Tensor._wrap(c_n)

    @staticmethod
    def backward(ctx, gy, gh, gc=None):
        x, *weights = ctx.saved_tensors
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
