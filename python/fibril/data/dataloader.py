"""DataLoader: batches of a map-style dataset, loaded in the caller's thread as torch's with
num_workers=0. So a Dataset's __getitem__ may draw from fibril's global generator (x =
fibril.randn(...)): its draws and the training step's (dropout, ...) interleave the same way on
every run, and a seeded run is reproducible. (A background thread running __getitem__ would race
the training step for that generator, so batches are not prefetched.)

Each epoch is planned as it starts: the sample order (a randperm from the loader's generator
when shuffling) and a seed for the epoch's own Generator, which fibril.data.transforms draw from
while the loader fetches. So a seeded loader replays the same augmentations whatever the main
thread draws between batches.

A TensorDataset (or a Subset of one) whose __getitem__ is TensorDataset's own, with the default
collate, is batched by one index_select per tensor instead of per-sample indexing and a stack;
the result is the same.
"""

import numbers
import threading

import numpy as np

from .. import _C
from ..creation import from_numpy, tensor
from ..ops.join import stack
from ..random import Generator, default_generator, randint, randperm
from ..tensor import Tensor
from .dataset import Subset, TensorDataset

_active = threading.local()  # .generator: the epoch's Generator while a loader fetches in this thread


def worker_generator():
    """The Generator of the epoch being fetched in this thread (for random transforms), else None."""
    return getattr(_active, "generator", None)


def default_collate(samples):
    """Stacks a list of samples as torch's default_collate: tensors and arrays along a new first
    dimension, numpy scalars into a tensor of their dtype, Python numbers into int64, float64 or
    bool, dicts and sequences field by field (tuples give lists, namedtuples stay namedtuples)."""
    first = samples[0]
    if isinstance(first, Tensor):
        return stack(samples)
    if isinstance(first, np.ndarray):
        return from_numpy(np.stack(samples))
    if isinstance(first, (np.number, np.bool_)):
        return from_numpy(np.array(samples))
    if isinstance(first, bool):
        return tensor(samples, dtype=_C.bool)
    if isinstance(first, numbers.Integral):
        return tensor(samples, dtype=_C.int64)
    if isinstance(first, numbers.Real):
        return tensor(samples, dtype=_C.float64)
    if isinstance(first, (str, bytes)):
        return list(samples)
    if isinstance(first, dict):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        fields = [default_collate(list(column)) for column in zip(*samples)]
        return type(first)(*fields) if hasattr(first, "_fields") else fields
    raise TypeError(f"default_collate: samples of type {type(first).__name__} cannot be batched; "
                    "pass a collate_fn")


def _signature(sample):
    """The nested structure of a sample with each tensor or array replaced by its shape."""
    if isinstance(sample, (Tensor, np.ndarray)):
        return (type(sample).__name__, tuple(sample.shape))
    if isinstance(sample, dict):
        return {key: _signature(value) for key, value in sample.items()}
    if isinstance(sample, (tuple, list)):
        return [_signature(value) for value in sample]
    return type(sample).__name__


def _renamed(exc, message):
    """exc's type with a new message (RuntimeError when that type cannot be built so), caused by exc."""
    try:
        new = type(exc)(message)
    except Exception:
        new = RuntimeError(message)
    new.__cause__ = exc
    return new


def _tensor_source(dataset):
    """(TensorDataset, index map) under a chain of Subsets, or (None, None) where a subclass
    overrides __getitem__ (its samples must come from it)."""
    mapping = None
    while type(dataset).__getitem__ is Subset.__getitem__:
        inner = np.asarray(dataset.indices, dtype=np.int64)
        mapping = inner if mapping is None else inner[mapping]
        dataset = dataset.dataset
    return (dataset, mapping) if type(dataset).__getitem__ is TensorDataset.__getitem__ else (None, None)


class _Fetcher:
    """indices -> batch, with the dataset's index named in any error."""

    def __init__(self, dataset, collate_fn):
        self.dataset = dataset
        self.collate_fn = collate_fn
        self.tensors, self.mapping = _tensor_source(dataset) if collate_fn is None else (None, None)

    def __call__(self, indices):
        if self.tensors is not None:
            index = np.asarray(indices, dtype=np.int64)
            if self.mapping is not None:
                index = self.mapping[index]
            index = from_numpy(index)
            return [t.index_select(0, index) for t in self.tensors.tensors]
        samples = []
        for i in indices:
            try:
                samples.append(self.dataset[i])
            except Exception as exc:
                raise _renamed(exc, f"{exc} (DataLoader: while loading dataset[{i}])") from exc
        if self.collate_fn is not None:
            return self.collate_fn(samples)
        first = _signature(samples[0])
        for i, sample in zip(indices, samples):
            if _signature(sample) != first:
                raise ValueError(f"DataLoader: dataset[{i}] returned {_signature(sample)} but dataset[{indices[0]}] "
                                 f"returned {first}; samples in a batch must have the same structure and shapes "
                                 "(pass a collate_fn to batch them otherwise)")
        return default_collate(samples)


class _Iterator:
    def __init__(self, loader):
        gen = loader.generator if loader.generator is not None else default_generator
        order = loader._order(gen)
        self._generator = Generator().manual_seed(int(randint(0, 1 << 62, (1,), generator=gen).item()))
        size = loader.batch_size
        batches = [order[i:i + size] for i in range(0, len(order), size)]
        if loader.drop_last and batches and len(batches[-1]) < size:
            batches.pop()
        self._fetch = _Fetcher(loader.dataset, loader.collate_fn)
        self._batches = iter(batches)

    def __iter__(self):
        return self

    def __next__(self):
        indices = next(self._batches)
        _active.generator = self._generator
        try:
            return self._fetch(indices)
        finally:
            _active.generator = None


class DataLoader:
    """Batches of `dataset`, as torch.utils.data.DataLoader (map-style datasets).

    shuffle draws a new order each epoch from `generator` (default: fibril's default
    generator); `sampler` (any iterable of indices) replaces the order. prefetch_factor (None
    or a non-negative integer) is accepted for compatibility and unused: batches are built in
    the caller's thread when asked for (see the module docstring).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, drop_last=False, collate_fn=None,
                 generator=None, prefetch_factor=None):
        if len(dataset) == 0:
            raise ValueError("DataLoader got an empty dataset (len(dataset) == 0)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if shuffle and sampler is not None:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if prefetch_factor is not None and (isinstance(prefetch_factor, bool)
                                            or not isinstance(prefetch_factor, numbers.Integral)
                                            or prefetch_factor < 0):
            raise ValueError(f"prefetch_factor must be None or a non-negative integer, got {prefetch_factor}")
        if generator is not None and not isinstance(generator, Generator):
            raise TypeError(f"generator must be a fibril.Generator, got {type(generator).__name__}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.sampler = sampler
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.generator = generator
        self.prefetch_factor = prefetch_factor

    def _order(self, gen):
        if self.sampler is not None:
            return [int(i) for i in self.sampler]
        if self.shuffle:
            return randperm(len(self.dataset), generator=gen).tolist()
        return list(range(len(self.dataset)))

    def _samples(self):
        return len(self.sampler) if self.sampler is not None else len(self.dataset)

    def __len__(self):
        n = self._samples()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        return _Iterator(self)
