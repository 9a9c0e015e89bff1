"""Samplers as torch.utils.data's: the order in which a DataLoader reads a map-style dataset.

Random samplers draw from `generator` (default: fibril's default generator, so fibril.manual_seed
makes them reproducible). Each draws an epoch's whole order when iterated, so the training step's
own draws between batches do not change it.
"""

import itertools
import numbers

from .. import _C
from ..creation import as_tensor
from ..random import Generator, multinomial, randint, randperm


def check_generator(generator):
    if generator is not None and not isinstance(generator, Generator):
        raise TypeError(f"generator must be a fibril.Generator, got {type(generator).__name__}")


def _is_positive_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def check_batching(batch_size, drop_last):
    if not _is_positive_int(batch_size):
        raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
    if not isinstance(drop_last, bool):
        raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")


def chunks(items, size, drop_last):
    """Lists of `size` consecutive items of an iterator (the last one shorter unless drop_last)."""
    while chunk := list(itertools.islice(items, size)):
        if drop_last and len(chunk) < size:
            return
        yield chunk


class Sampler:
    """Base class: __iter__ yields indices (or batches of them); __len__ is optional."""

    def __init__(self, data_source=None):
        pass  # torch's older subclasses pass data_source up; it is unused, as in torch

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """num_samples (default len(data_source)) random indices: whole permutations one after another
    (the last one cut short), or independent draws with replacement."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement}")
        check_generator(generator)
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not _is_positive_int(self.num_samples):
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, count = len(self.data_source), self.num_samples
        if self.replacement:
            return iter(randint(0, n, (count,), generator=self.generator).tolist())
        order = []
        for _ in range(-(-count // n)):
            order += randperm(n, generator=self.generator).tolist()
        return iter(order[:count])

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order."""

    def __init__(self, indices, generator=None):
        check_generator(generator)
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        order = randperm(len(self.indices), generator=self.generator).tolist()
        return iter([self.indices[i] for i in order])

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """num_samples indices of 0 .. len(weights) - 1, drawn with probabilities proportional to weights."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if not _is_positive_int(num_samples):
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        check_generator(generator)
        weights = as_tensor(weights, dtype=_C.float64)
        if weights.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {tuple(weights.shape)}")
        self.weights = weights
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self):
        return iter(multinomial(self.weights, self.num_samples, self.replacement, generator=self.generator).tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of batch_size consecutive indices of `sampler` (any iterable); the last one shorter
    unless drop_last."""

    def __init__(self, sampler, batch_size, drop_last):
        check_batching(batch_size, drop_last)
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        return chunks(iter(self.sampler), self.batch_size, self.drop_last)  # the sampler's draws happen now

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return -(-len(self.sampler) // self.batch_size)
