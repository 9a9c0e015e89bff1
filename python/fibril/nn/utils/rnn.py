"""Packed and padded variable-length sequences, as torch.nn.utils.rnn: PackedSequence,
pad_sequence, pack_padded_sequence, pad_packed_sequence, pack_sequence, unpad_sequence,
unpack_sequence. Packing and unpacking are one index_select each, so gradients flow through."""

import collections

import numpy as np

from ... import creation
from ...ops.gather import index_select
from ...ops.index import reshape, transpose
from ...ops.join import cat, stack
from ...tensor import Tensor


def _int64(values, device=None):
    return creation.tensor(np.asarray(values, dtype=np.int64), device=device)


def _numpy(values):
    return np.asarray(values.cpu().numpy() if isinstance(values, Tensor) else values, dtype=np.int64)


class PackedSequence(collections.namedtuple("PackedSequence", "data batch_sizes sorted_indices unsorted_indices")):
    """data: the time steps' valid rows, one after another, [sum(lengths), *]; batch_sizes:
    how many sequences are still running at each step; sorted_indices: the batch order of
    data's rows (longest first), None when the batch was already sorted."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:
            raise ValueError("PackedSequence: batch_sizes is required (build one with pack_padded_sequence)")
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _int64(np.argsort(_numpy(sorted_indices)), sorted_indices.device)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        return self._replace(data=self.data.to(*args, **kwargs))

    def cpu(self):
        return self._replace(data=self.data.cpu())

    def cuda(self, *args, **kwargs):
        return self._replace(data=self.data.cuda(*args, **kwargs))

    def double(self):
        return self._replace(data=self.data.double())

    def float(self):
        return self._replace(data=self.data.float())

    def half(self):
        return self._replace(data=self.data.half())

    @property
    def is_cuda(self):
        return self.data.is_cuda


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stacks tensors [L_i, *] into [max L, B, *] ([B, max L, *] with batch_first), each
    padded with padding_value on padding_side, all in the first one's dtype, as torch."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    rows = []
    for s in sequences:
        s = s.to(sequences[0].dtype)
        fill = creation.full((longest - s.shape[0],) + tuple(s.shape[1:]), padding_value, dtype=s.dtype,
                             device=s.device)
        rows.append(cat([s, fill] if padding_side == "right" else [fill, s], 0))
    return stack(rows, 0 if batch_first else 1)


def _batch_sizes(lengths):
    return np.array([(lengths > t).sum() for t in range(lengths.max())], dtype=np.int64)


def _pack(padded, batch_sizes, sorted_indices):
    """Packs time-major padded [T, B, *] whose batch order is sorted_indices (None: as is)."""
    steps, batch = padded.shape[:2]
    order = np.arange(batch) if sorted_indices is None else _numpy(sorted_indices)
    rows = np.concatenate([t * batch + order[:n] for t, n in enumerate(batch_sizes)])
    flat = reshape(padded, (steps * batch,) + tuple(padded.shape[2:]))
    return index_select(flat, 0, _int64(rows, flat.device))


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Packs padded [T, B, *] ([B, T, *] with batch_first) whose entry b is lengths[b] long.
    enforce_sorted: lengths must not increase; otherwise the batch is sorted here (stably)."""
    lengths = _numpy(lengths)
    if lengths.ndim != 1:
        raise ValueError(f"pack_padded_sequence: lengths must be 1-D, got shape {list(lengths.shape)}")
    padded = transpose(input, 0, 1) if batch_first else input
    steps, batch = padded.shape[:2]
    if len(lengths) != batch:
        raise ValueError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lengths)} "
                         f"(batch_size={batch})")
    if batch == 0 or lengths.min() <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' "
                           "that is <= 0")
    if lengths.max() > steps:
        raise RuntimeError(f"pack_padded_sequence: a length ({lengths.max()}) exceeds the padded length ({steps})")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence "
                               "to sidestep this requirement if you do not need ONNX exportability.")
        sorted_indices = None
    else:
        sorted_indices = _int64(np.argsort(-lengths, kind="stable"), input.device)
    batch_sizes = _batch_sizes(lengths)
    return PackedSequence(_pack(padded, batch_sizes, sorted_indices), _int64(batch_sizes), sorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Inverse of pack_padded_sequence: (padded [T, B, *] or [B, T, *], lengths), in the
    original batch order; T is total_length when given, else the longest length."""
    data, batch_sizes = sequence.data, _numpy(sequence.batch_sizes)
    steps, batch = len(batch_sizes), int(batch_sizes[0])
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being {steps}")
        steps = total_length
    order = np.arange(batch) if sequence.sorted_indices is None else _numpy(sequence.sorted_indices)
    # Each (t, b) reads its row of data, or the padding row appended at the end.
    rows = np.full((steps, batch), data.shape[0], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)])
    for t, n in enumerate(batch_sizes):
        rows[t, order[:n]] = offsets[t] + np.arange(n)
    pad_row = creation.full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    padded = index_select(cat([data, pad_row], 0), 0, _int64(rows.reshape(-1), data.device))
    padded = reshape(padded, (steps, batch) + tuple(data.shape[1:]))
    lengths = np.zeros(batch, dtype=np.int64)
    lengths[order] = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(1)
    return (transpose(padded, 0, 1) if batch_first else padded), _int64(lengths)


def pack_sequence(sequences, enforce_sorted=True):
    """Packs a list of tensors [L_i, *]."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of the first lengths[b] steps of each batch entry."""
    padded = padded_sequences if batch_first else transpose(padded_sequences, 0, 1)
    return [padded[b, :int(n)] for b, n in enumerate(_numpy(lengths))]


def unpack_sequence(packed_sequences):
    """The list of the packed sequences, in the original batch order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
