"""Recurrent layers RNN, LSTM, GRU and the cells RNNCell, LSTMCell, GRUCell, with torch.nn's
constructor arguments, parameter names (weight_ih_l0, weight_hh_l0_reverse, ...), shapes, gate
order (LSTM i, f, g, o; GRU r, z, n) and initialization, so a torch state_dict loads one-to-one.

Variable-length batches: pass `lengths` (one int per batch entry, in [1, seq_len], any order)
to forward, or a PackedSequence as input. Row b then runs its first lengths[b] steps only (the
reverse direction starts at its own last valid step), its outputs after them are 0, and h_n /
c_n hold the state after its last valid step: what torch gives for
pack_padded_sequence(..., enforce_sorted=False) followed by pad_packed_sequence(...,
total_length=seq_len). A PackedSequence input (nn.utils.rnn) gives a PackedSequence output
with the input's batch_sizes and indices, and h_n / c_n in the original batch order, as torch."""

import math
import numbers
import warnings

import numpy as np

from .. import creation
from ..ops import index
from ..ops.join import cat
from ..ops.random import dropout as _dropout
from ..ops.rnn import rnn_layer
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence, _pack, pad_packed_sequence

# torch.nn.RNNBase's mode names (the kernels take them in lower case) and their gate counts.
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _lengths_array(lengths, batch, name):
    if isinstance(lengths, Tensor):
        lengths = lengths.numpy()
    values = np.asarray(lengths)
    if values.ndim != 1 or values.shape[0] != batch or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name}: lengths must be {batch} integers (one per batch entry), got shape "
                         f"{list(values.shape)} of {values.dtype}")
    return creation.tensor(values.astype(np.int64))._data


def _check_state(h, expected, what, name):
    if tuple(h.shape) != tuple(expected):
        raise ValueError(f"{name}: expected {what} of shape {list(expected)}, got {list(h.shape)}")


class RNNBase(Module):
    """The base of RNN, LSTM and GRU, as torch.nn.RNNBase: mode "RNN_TANH", "RNN_RELU", "LSTM" or
    "GRU" picks the cell (`mode` keeps it, as torch's)."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(f"dropout should be a number in range [0, 1] representing the probability of an "
                             f"element being zeroed, got {dropout}")
        for what, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, numbers.Integral) or value <= 0:
                raise ValueError(f"{what} must be a positive integer, got {value!r}")
        if proj_size < 0 or (proj_size and mode != "LSTM"):
            raise ValueError(f"proj_size must be a non-negative integer, and only LSTM takes one, got {proj_size}")
        if proj_size >= hidden_size:
            raise ValueError(f"proj_size {proj_size} has to be smaller than hidden_size {hidden_size}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and num_layers=1")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        gate_size = _GATES[mode] * hidden_size
        state = proj_size or hidden_size
        num_dirs = 2 if bidirectional else 1
        for layer in range(num_layers):
            for suffix in ("", "_reverse")[:num_dirs]:
                layer_input = input_size if layer == 0 else state * num_dirs
                shapes = [("weight_ih", (gate_size, layer_input)), ("weight_hh", (gate_size, state))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                for kind, shape in shapes:
                    name = f"{kind}_l{layer}{suffix}"
                    setattr(self, name, Parameter(creation.empty(*shape, device=device, dtype=dtype)))
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def flatten_parameters(self):
        """Kept for torch compatibility: the weights are always read in place."""

    def _direction_weights(self, layer, suffix):
        def get(kind):
            return getattr(self, f"{kind}_l{layer}{suffix}", None)

        return [get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"), get("weight_hr")]

    def _run(self, input, hx, lengths):
        """hx: (h0, c0 or None) or None. Returns output, h_n, c_n (None unless LSTM).
        A PackedSequence input runs padded, with its lengths, and its output is packed alike."""
        name = type(self).__name__
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError(f"{name}: pass lengths or a PackedSequence, not both")
            padded, lengths = pad_packed_sequence(input, self.batch_first)
            out, h_n, c_n = self._run(padded, hx, lengths)
            out = index.transpose(out, 0, 1) if self.batch_first else out
            packed = _pack(out, input.batch_sizes.numpy(), input.sorted_indices)
            return PackedSequence(packed, input.batch_sizes, input.sorted_indices, input.unsorted_indices), h_n, c_n
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: expected input to be 2D (unbatched) or 3D, got {input.ndim}D input of "
                             f"shape {list(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                             f"got {input.shape[-1]} (input shape {list(input.shape)})")
        batched = input.ndim == 3
        x = input if not batched or not self.batch_first else index.transpose(input, 0, 1)
        if not batched:
            x = index.unsqueeze(x, 1)
        batch = x.shape[1]
        num_dirs = 2 if self.bidirectional else 1
        state = self.proj_size or self.hidden_size
        h_shape = (self.num_layers * num_dirs, batch, state)
        c_shape = (self.num_layers * num_dirs, batch, self.hidden_size)
        h0, c0 = hx if hx is not None else (None, None)
        if h0 is None:
            h0 = creation.zeros(*h_shape, dtype=x.dtype, device=x.device)
        else:
            _check_state(h0, h_shape if batched else (h_shape[0], state), "hx" if self.mode != "LSTM" else "h_0",
                         name)
            h0 = h0 if batched else index.unsqueeze(h0, 1)
        if self.mode == "LSTM":
            if c0 is None:
                c0 = creation.zeros(*c_shape, dtype=x.dtype, device=x.device)
            else:
                _check_state(c0, c_shape if batched else (c_shape[0], self.hidden_size), "c_0", name)
                c0 = c0 if batched else index.unsqueeze(c0, 1)
        lens = None if lengths is None else _lengths_array(lengths, batch, name)
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            rows = slice(layer * num_dirs, (layer + 1) * num_dirs)
            weights = [self._direction_weights(layer, s) for s in ("", "_reverse")[:num_dirs]]
            if self.training and self.dropout > 0 and layer > 0:
                x = _dropout(x, self.dropout, True)
            out = rnn_layer(self.mode.lower(), x, h0[rows], c0[rows] if c0 is not None else None, weights, lens)
            x = out[0]
            h_n.append(out[1])
            if self.mode == "LSTM":
                c_n.append(out[2])
        h_n = cat(h_n, 0) if len(h_n) > 1 else h_n[0]
        c_n = (cat(c_n, 0) if len(c_n) > 1 else c_n[0]) if c_n else None
        if not batched:
            x, h_n = index.squeeze(x, 1), index.squeeze(h_n, 1)
            c_n = None if c_n is None else index.squeeze(c_n, 1)
        elif self.batch_first:
            x = index.transpose(x, 0, 1)
        return x, h_n, c_n

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN, h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu.
    forward(input, hx=None, lengths=None) -> (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__(f"RNN_{nonlinearity.upper()}", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, device, dtype)

    def forward(self, input, hx=None, lengths=None):
        out, h_n, _ = self._run(input, None if hx is None else (hx, None), lengths)
        return out, h_n


class LSTM(RNNBase):
    """LSTM with torch's gates i, f, g, o and optional projections (proj_size > 0: h_t =
    W_hr (o * tanh(c_t))). forward(input, hx=None, lengths=None) -> (output, (h_n, c_n))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)

    def forward(self, input, hx=None, lengths=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ValueError("LSTM: hx must be a tuple (h_0, c_0)")
        out, h_n, c_n = self._run(input, hx, lengths)
        return out, (h_n, c_n)


class GRU(RNNBase):
    """GRU with torch's gates r, z, n: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
    h' = (1 - z) n + z h. forward(input, hx=None, lengths=None) -> (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                         device, dtype)

    def forward(self, input, hx=None, lengths=None):
        out, h_n, _ = self._run(input, None if hx is None else (hx, None), lengths)
        return out, h_n


class RNNCellBase(Module):
    """The base of RNNCell, LSTMCell and GRUCell. Unlike torch's (input_size, hidden_size, bias,
    num_chunks), it takes RNNBase's mode first, which also picks the kernel."""

    def __init__(self, mode, input_size, hidden_size, bias, device, dtype):
        super().__init__()
        self.mode, self.input_size, self.hidden_size, self.bias = mode, input_size, hidden_size, bias
        gate_size = _GATES[mode] * hidden_size
        self.weight_ih = Parameter(creation.empty(gate_size, input_size, device=device, dtype=dtype))
        self.weight_hh = Parameter(creation.empty(gate_size, hidden_size, device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(creation.empty(gate_size, device=device, dtype=dtype))
            self.bias_hh = Parameter(creation.empty(gate_size, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0  # a cell may have no hidden units
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def _step(self, input, states):
        """One step as a one-step layer; states: (h,) or (h, c), None where not given.
        Returns h' and, for LSTM, c'."""
        name = type(self).__name__
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape [batch, {self.input_size}] or [{self.input_size}], "
                             f"got {list(input.shape)}")
        batch = input.shape[0] if input.ndim == 2 else 1
        shape = (batch, self.hidden_size) if input.ndim == 2 else (self.hidden_size,)
        full = []
        for what, s in zip(("hx", "cx"), states):
            if s is None:
                s = creation.zeros(*shape, dtype=input.dtype, device=input.device)
            _check_state(s, shape, what, name)
            full.append(index.reshape(s, (1, batch, self.hidden_size)))
        x = index.reshape(input, (1, batch, self.input_size))
        weights = [[self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, None]]
        out = rnn_layer(self.mode.lower(), x, full[0], full[1] if self.mode == "LSTM" else None, weights)
        return [index.reshape(o, shape) for o in out[1:]]

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act tanh or relu."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__(f"RNN_{nonlinearity.upper()}", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return self._step(input, (hx,))[0]


class LSTMCell(RNNCellBase):
    """forward(input, hx=None) with hx = (h, c) -> (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ValueError("LSTMCell: hx must be a tuple (h, c)")
        h, c = self._step(input, (None, None) if hx is None else hx)
        return h, c


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return self._step(input, (hx,))[0]
