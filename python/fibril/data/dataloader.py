"""DataLoader: batches of a dataset, loaded in the caller's thread with num_workers=0, as torch's.
So a Dataset's __getitem__ may draw from fibril's global generator (x = fibril.randn(...)): its
draws and the training step's (dropout, ...) interleave the same way on every run, and a seeded
run is reproducible. (A background thread running __getitem__ would race the training step for
that generator, so batches are not prefetched.) With num_workers > 0 worker processes load them
(see worker.py).

Each epoch is planned as it starts: the sample order (the sampler's draws; a randperm from the
loader's generator when shuffling) and a seed for the epoch's own Generator, which
fibril.data.transforms draw from while the loader fetches (in a Dataset's __getitem__ or an
IterableDataset's __iter__). So a seeded loader replays the same augmentations whatever the main
thread draws between batches.

A TensorDataset (or a Subset of one) whose __getitem__ is TensorDataset's own, with the default
collate, is batched by one index_select per tensor instead of per-sample indexing and a stack;
the result is the same.
"""

import collections.abc
import copy
import functools
import itertools
import multiprocessing
import numbers
import threading

import numpy as np

from .. import _C
from ..creation import as_tensor, empty, from_numpy, tensor
from ..ops.join import stack
from ..random import Generator, default_generator, randint
from ..tensor import Tensor
from .dataset import IterableDataset, Subset, TensorDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler, check_batching, check_generator, chunks
from .worker import WorkerIterator

_active = threading.local()  # .generator: the epoch's Generator while a loader fetches in this thread


def worker_generator():
    """The Generator of the epoch being fetched in this thread (for random transforms), else None."""
    return getattr(_active, "generator", None)


def default_convert(sample):
    """One sample as torch's default_convert (the collate without automatic batching): numpy
    arrays and scalars become tensors, dicts and sequences are converted field by field (tuples
    give lists, namedtuples stay namedtuples), anything else is returned as it is."""
    if isinstance(sample, np.ndarray) and sample.dtype.kind in "OSU":
        return sample
    if isinstance(sample, (np.ndarray, np.number, np.bool_)):
        return as_tensor(sample)
    if isinstance(sample, collections.abc.Mapping):
        converted = {key: default_convert(sample[key]) for key in sample}
        if isinstance(sample, collections.abc.MutableMapping):
            clone = copy.copy(sample)
            clone.update(converted)
            return clone
        return converted
    if isinstance(sample, tuple):
        fields = [default_convert(field) for field in sample]
        return type(sample)(*fields) if hasattr(sample, "_fields") else fields
    if isinstance(sample, collections.abc.Sequence) and not isinstance(sample, (str, bytes)):
        return [default_convert(field) for field in sample]
    return sample


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


def _collate(samples, name, collate_fn):
    """collate_fn(samples), or default_collate once the samples are checked to share one
    structure and shape; name(j) says where sample j came from."""
    if collate_fn is not None:
        return collate_fn(samples)
    first = _signature(samples[0])
    for j, sample in enumerate(samples):
        if _signature(sample) != first:
            raise ValueError(f"DataLoader: {name(j)} returned {_signature(sample)} but {name(0)} returned {first}; "
                             "samples in a batch must have the same structure and shapes "
                             "(pass a collate_fn to batch them otherwise)")
    return default_collate(samples)


class _Fetcher:
    """indices -> batch (index -> converted sample without automatic batching), with the
    dataset's index named in any error."""

    def __init__(self, dataset, collate_fn, auto_collation):
        self.dataset = dataset
        self.collate_fn = collate_fn
        self.auto_collation = auto_collation
        fast = auto_collation and collate_fn is None
        self.tensors, self.mapping = _tensor_source(dataset) if fast else (None, None)

    def __call__(self, indices):
        if not self.auto_collation:
            return (self.collate_fn or default_convert)(self._load(indices))
        if self.tensors is not None:
            index = np.asarray(indices, dtype=np.int64)
            if self.mapping is not None:
                index = self.mapping[index]
            index = from_numpy(index)
            return [t.index_select(0, index) for t in self.tensors.tensors]
        if getattr(self.dataset, "__getitems__", None):  # a dataset that fetches a batch at once, as torch's
            samples = self.dataset.__getitems__(list(indices))
        else:
            samples = [self._load(i) for i in indices]
        return _collate(samples, lambda j: f"dataset[{indices[j]}]", self.collate_fn)

    def _load(self, i):
        try:
            return self.dataset[i]
        except Exception as exc:
            raise _renamed(exc, f"{exc} (DataLoader: while loading dataset[{i}])") from exc


def _stream_batches(dataset, batch_size, drop_last, collate_fn):
    """Batches of batch_size consecutive samples of an IterableDataset (with batch_size None, each
    sample converted alone). A generator, so iter(dataset) runs under the epoch's Generator."""
    samples = iter(dataset)
    if batch_size is None:
        yield from map(collate_fn or default_convert, samples)
        return
    for k, batch in enumerate(chunks(samples, batch_size, drop_last)):
        yield _collate(batch, lambda j: f"sample {k * batch_size + j} of iter(dataset)", collate_fn)


class _Iterator:
    def __init__(self, loader):
        gen = loader.generator if loader.generator is not None else default_generator
        if loader._iterable:
            batches = _stream_batches(loader.dataset, loader.batch_size, loader.drop_last, loader.collate_fn)
        else:
            fetch = _Fetcher(loader.dataset, loader.collate_fn, loader._auto_collation)
            batches = map(fetch, iter(loader._index_sampler))  # draws the epoch's order now
        self._generator = Generator().manual_seed(int(randint(0, 1 << 62, (1,), generator=gen).item()))
        self._batches = batches

    def __iter__(self):
        return self

    def __next__(self):
        _active.generator = self._generator
        try:
            return next(self._batches)
        finally:
            _active.generator = None


def _check_worker_options(num_workers, timeout, prefetch_factor, persistent_workers):
    if num_workers < 0:
        raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if prefetch_factor is not None and (isinstance(prefetch_factor, bool)
                                        or not isinstance(prefetch_factor, numbers.Integral)
                                        or prefetch_factor < 0):
        raise ValueError(f"prefetch_factor must be None or a non-negative integer, got {prefetch_factor}")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")
    if num_workers > 0 and prefetch_factor == 0:
        raise ValueError("prefetch_factor must be positive with num_workers > 0 (batches in flight per worker)")


def _multiprocessing_context(context, num_workers):
    """The context checked as torch does (a start method's name gives its context)."""
    if context is None:
        return None
    if num_workers == 0:
        raise ValueError("multiprocessing_context can only be used with multi-process loading "
                         f"(num_workers > 0), but got num_workers={num_workers}")
    if isinstance(context, str):
        methods = multiprocessing.get_all_start_methods()
        if context not in methods:
            raise ValueError(f"multiprocessing_context option should specify a valid start method in {methods!r}, "
                             f"but got multiprocessing_context={context!r}")
        context = multiprocessing.get_context(context)
    if not isinstance(context, multiprocessing.context.BaseContext):
        raise TypeError("multiprocessing_context option should be a valid context object or a string specifying "
                        f"the start method, but got multiprocessing_context={context}")
    return context


def _check_iterable_options(shuffle, sampler, batch_sampler):
    if shuffle not in (False, None):
        raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                         f"shuffle={shuffle}")
    if sampler is not None:
        raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got "
                         f"sampler={sampler}")
    if batch_sampler is not None:
        raise ValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler option, but got "
                         f"batch_sampler={batch_sampler}")


def _check_batching_options(batch_size, shuffle, sampler, batch_sampler, drop_last):
    if sampler is not None and shuffle:
        raise ValueError("sampler option is mutually exclusive with shuffle")
    if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
        raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last")
    if batch_size is None and drop_last:
        raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")


class DataLoader:
    """Batches of `dataset`, as torch.utils.data.DataLoader.

    A map-style dataset is read in the order of `sampler` (any iterable of indices; default
    SequentialSampler, or RandomSampler drawing a new order each epoch from `generator` when
    shuffle), batch_size indices at a time, or in the batches of indices `batch_sampler` yields.
    An IterableDataset is iterated and batch_size consecutive samples make a batch. With
    batch_size=None samples are not batched: each goes through collate_fn alone (default:
    default_convert).

    With num_workers=0 every batch is loaded in the calling process when asked for (prefetch_factor,
    None or a non-negative integer, is then unused, and accepted). With num_workers > 0 that many
    worker processes of `multiprocessing_context` (default: the platform's start method) load
    them, prefetch_factor (default 2) batches in flight per worker, as torch's do (see worker.py):
    worker_init_fn(worker_id) runs first in each, get_worker_info() describes the worker there,
    each worker iterates its own copy of an IterableDataset, a worker's exception is re-raised
    with its traceback, `timeout` (seconds, 0 for none) bounds the wait for a batch, and the
    workers exit at the end of each epoch unless persistent_workers. Batches come in sampler
    order whatever in_order says; pin_memory and pin_memory_device change nothing (batches stay
    on the CPU).
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        _check_worker_options(num_workers, timeout, prefetch_factor, persistent_workers)
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            _check_iterable_options(shuffle, sampler, batch_sampler)
        elif hasattr(dataset, "__len__") and len(dataset) == 0:
            raise ValueError("DataLoader got an empty dataset (len(dataset) == 0)")
        _check_batching_options(batch_size, shuffle, sampler, batch_sampler, drop_last)
        check_generator(generator)
        if batch_sampler is not None:
            batch_size, drop_last = None, False
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None:
            check_batching(batch_size, drop_last)
        if batch_size is not None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.collate_fn = collate_fn
        self.generator = generator
        self.num_workers = num_workers
        self.prefetch_factor = 2 if num_workers > 0 and prefetch_factor is None else prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = _multiprocessing_context(multiprocessing_context, num_workers)
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self._iterator = None  # the persistent workers' iterator

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None or (self._iterable and self.batch_size is not None)

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self):
        if not self._iterable:
            return len(self._index_sampler)
        n = len(self.dataset)  # a TypeError where the dataset has no __len__, as torch
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        if self.num_workers == 0:
            return _Iterator(self)
        if self._iterator is not None and not self._iterator.closed:
            self._iterator.reset(self._worker_plan())
            return self._iterator
        plan = self._worker_plan()  # the sampler draws the epoch's order before the workers' seed, as with no workers
        base_seed = int(empty((), dtype=_C.int64).random_(generator=self.generator).item())
        iterator = WorkerIterator(self, self._worker_fetcher(), plan, base_seed)
        if self.persistent_workers:
            self._iterator = iterator
        return iterator

    def _worker_plan(self):
        """The payloads of an epoch's worker tasks: batches of indices (or indices) of a map-style
        dataset; for an IterableDataset, endless requests for the next batch."""
        return itertools.repeat(None) if self._iterable else iter(self._index_sampler)

    def _worker_fetcher(self):
        if self._iterable:
            return functools.partial(_stream_batches, self.dataset, self.batch_size, self.drop_last, self.collate_fn)
        return _Fetcher(self.dataset, self.collate_fn, self._auto_collation)
