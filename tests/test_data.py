"""fibril.data: datasets, random_split, the samplers, the DataLoader (order, determinism,
collate, errors, torch's options, iterable datasets) and the transforms."""

from collections import namedtuple

import numpy as np
import pytest

import fibril
from fibril.data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset, IterableDataset,
                         RandomSampler, Sampler, SequentialSampler, Subset, SubsetRandomSampler, TensorDataset,
                         WeightedRandomSampler, default_collate, default_convert, get_worker_info, random_split,
                         transforms as T)
from op_check import torch

needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")


def gen(seed=0):
    return fibril.Generator().manual_seed(seed)


def dataset(n=10, features=3):
    x = fibril.tensor(np.arange(n * features, dtype=np.float32).reshape(n, features))
    return TensorDataset(x, fibril.arange(n))


class Squares(Dataset):
    """Samples of several kinds, fetched one by one (the general path)."""

    def __init__(self, n=7):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"x": fibril.full((2,), float(i)), "arr": np.full(3, i, dtype=np.float32)}, i * i, float(i), "s"


class Ragged(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        return fibril.zeros(3 if i != 4 else 2), i


class Failing(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise KeyError("bad sample")
        return fibril.zeros(2), i


def test_tensor_dataset_and_subset_and_concat():
    ds = dataset()
    assert len(ds) == 10
    x, y = ds[3]
    np.testing.assert_array_equal(x.numpy(), [9, 10, 11])
    assert y.item() == 3
    sub = Subset(ds, [4, 2])
    assert len(sub) == 2 and sub[1][1].item() == 2
    both = ds + sub
    assert isinstance(both, ConcatDataset) and len(both) == 12
    assert both[10][1].item() == 4 and both[-1][1].item() == 2
    with pytest.raises(IndexError):
        both[12]
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(fibril.zeros(3), fibril.zeros(4))
    with pytest.raises(TypeError, match="expected a Tensor"):
        TensorDataset(np.zeros(3))


def test_random_split_counts_and_fractions():
    ds = dataset(10)
    parts = random_split(ds, [0.5, 0.3, 0.2], generator=gen())
    assert [len(p) for p in parts] == [5, 3, 2]
    indices = sorted(i for p in parts for i in p.indices)
    assert indices == list(range(10))
    again = random_split(ds, [5, 3, 2], generator=gen())
    assert [p.indices for p in again] == [p.indices for p in parts]
    assert [len(p) for p in random_split(dataset(11), [0.5, 0.5], generator=gen())] == [6, 5]
    assert [len(p) for p in random_split(dataset(10), [0.7, 0.2, 0.1], generator=gen())] == [7, 2, 1]
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(ds, [5, 4])
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(ds, [0.5, 0.3])


def test_loader_batches_in_order():
    batches = list(DataLoader(dataset(10), batch_size=4))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].shape == (4, 3)
    dropped = DataLoader(dataset(10), batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [b[1].tolist() for b in dropped] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(DataLoader(dataset(10), batch_size=4)) == 3


def test_shuffle_is_a_permutation_and_deterministic_under_a_seed():
    def epochs(loader):
        return [[i for b in loader for i in b[1].tolist()] for _ in range(3)]

    first = epochs(DataLoader(dataset(50), batch_size=8, shuffle=True, generator=gen(7)))
    second = epochs(DataLoader(dataset(50), batch_size=8, shuffle=True, generator=gen(7)))
    assert first == second
    assert all(sorted(e) == list(range(50)) for e in first)
    assert first[0] != first[1]  # a new order each epoch
    other = epochs(DataLoader(dataset(50), batch_size=8, shuffle=True, generator=gen(8)))
    assert other != first


class NoisyDataset(Dataset):
    """Random augmentation in __getitem__: draws from the loader's epoch generator."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        return T.RandomNoise(std=1.0)(fibril.full((3,), float(i)))


def test_seeded_loader_ignores_main_thread_draws():
    loader = DataLoader(NoisyDataset(), batch_size=4, generator=gen(1))
    quiet = [b.numpy().copy() for b in loader]
    busy = []
    for b in DataLoader(NoisyDataset(), batch_size=4, generator=gen(1)):
        fibril.randn(100)  # the training step's own randomness (dropout, ...)
        busy.append(b.numpy().copy())
    for a, b in zip(quiet, busy):
        np.testing.assert_array_equal(a, b)


class GlobalRandomSamples(Dataset):
    """torch style: __getitem__ draws from the global generator."""

    def __len__(self):
        return 16

    def __getitem__(self, i):
        return fibril.randn(3)


def test_getitem_draws_interleave_with_the_training_step_as_in_torch():
    fibril.manual_seed(0)
    got = []
    for batch in DataLoader(GlobalRandomSamples(), batch_size=2, generator=gen(0)):
        got += [batch.numpy().copy(), fibril.randn(2).numpy()]  # a dropout mask, say
    fibril.manual_seed(0)
    want = []
    for _ in range(8):
        want += [np.stack([fibril.randn(3).numpy(), fibril.randn(3).numpy()]), fibril.randn(2).numpy()]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


def test_shuffle_without_generator_follows_manual_seed():
    fibril.manual_seed(11)
    a = [b[1].tolist() for b in DataLoader(dataset(20), batch_size=5, shuffle=True)]
    fibril.manual_seed(11)
    b = [b[1].tolist() for b in DataLoader(dataset(20), batch_size=5, shuffle=True)]
    assert a == b


def test_subset_of_tensor_dataset_matches_per_sample_fetch():
    ds = dataset(20)
    sub = Subset(Subset(ds, list(range(19, -1, -1))), [0, 5, 7, 2, 3])
    fast = list(DataLoader(sub, batch_size=2))
    slow = list(DataLoader(sub, batch_size=2, collate_fn=default_collate))
    for (fx, fy), (sx, sy) in zip(fast, slow):
        np.testing.assert_array_equal(fx.numpy(), sx.numpy())
        assert fy.tolist() == sy.tolist()
    assert [i for b in fast for i in b[1].tolist()] == [19, 14, 12, 17, 16]


class Shifted(TensorDataset):
    """A TensorDataset whose own __getitem__ changes the samples."""

    def __getitem__(self, i):
        x, y = super().__getitem__(i)
        return x * 100, y + 1000


def test_tensor_dataset_subclass_samples_come_from_its_getitem():
    ds = Shifted(fibril.arange(8).float().reshape(4, 2), fibril.arange(4))
    x, y = next(iter(DataLoader(ds, batch_size=2)))
    np.testing.assert_array_equal(x.numpy(), [[0, 100], [200, 300]])
    assert y.tolist() == [1000, 1001]
    (x, y), = list(DataLoader(Subset(Subset(ds, [3, 2, 1]), [1, 0]), batch_size=2))
    np.testing.assert_array_equal(x.numpy(), [[400, 500], [600, 700]])
    assert y.tolist() == [1002, 1003]


def test_default_collate_nested_samples():
    (fields, sq, fl, s), = list(DataLoader(Squares(3), batch_size=3))
    assert fields["x"].shape == (3, 2) and fields["arr"].shape == (3, 3)
    assert sq.tolist() == [0, 1, 4] and sq.dtype == fibril.int64
    assert fl.dtype == fibril.float64 and s == ["s", "s", "s"]


def test_default_collate_keeps_numpy_scalar_dtypes():
    for kind in (np.float16, np.float32, np.int32, np.uint8, np.int64, np.bool_):
        batch = default_collate([kind(1), kind(0)])
        assert batch.dtype == getattr(fibril, np.dtype(kind).name) and batch.tolist() == [1, 0]


def test_default_collate_sequences_as_torch():
    Point = namedtuple("Point", "x y")
    assert isinstance(default_collate([(1, 2.0), (3, 4.0)]), list)
    point = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(point, Point) and point.x.tolist() == [1, 3] and point.y.tolist() == [2.0, 4.0]
    assert isinstance(next(iter(DataLoader(dataset(4), batch_size=2))), list)  # the TensorDataset fast path
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate
    for samples in ([np.float32(1.5), np.float32(2)], [np.int32(1), np.int32(2)], [np.float16(1), np.float16(2)]):
        assert str(default_collate(samples).dtype).split(".")[1] == str(torch_collate(samples).dtype).split(".")[1]
    samples = [(fibril.zeros(2), 1), (fibril.ones(2), 2)]
    assert type(default_collate(samples)) is type(torch_collate([(torch.zeros(2), 1), (torch.ones(2), 2)]))


def test_custom_collate_and_sampler():
    loader = DataLoader(dataset(10), batch_size=3, sampler=[9, 8, 7, 0], collate_fn=lambda s: [x[1].item() for x in s])
    assert list(loader) == [[9, 8, 7], [0]]
    assert len(loader) == 2


def test_inconsistent_shapes_name_the_index():
    with pytest.raises(ValueError, match=r"dataset\[4\] returned .*\(2,\).* but dataset\[3\] returned .*\(3,\)"):
        list(DataLoader(Ragged(), batch_size=3))


def test_loading_error_is_reraised_with_the_index():
    loader = DataLoader(Failing(), batch_size=2)
    it = iter(loader)
    next(it), next(it)
    with pytest.raises(KeyError, match=r"dataset\[5\]") as info:
        next(it)
    assert "bad sample" in str(info.value)
    assert isinstance(info.value.__cause__, KeyError)


def test_bad_arguments():
    with pytest.raises(ValueError, match="empty dataset"):
        DataLoader(TensorDataset(fibril.zeros(0, 3)))
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(dataset(), batch_size=0)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(dataset(), shuffle=True, sampler=[0])
    with pytest.raises(TypeError, match="fibril.Generator"):
        DataLoader(dataset(), generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(dataset(), prefetch_factor=-1)


def same_error(fibril_call, torch_call):
    """Both calls raise, and the same exception type; returns fibril's exception."""
    with pytest.raises(Exception) as ours:
        fibril_call()
    with pytest.raises(Exception) as theirs:
        torch_call()
    assert type(ours.value) is type(theirs.value), (ours.value, theirs.value)
    return ours.value


def test_sampler_base_and_sequential():
    class Evens(Sampler):
        def __init__(self, data_source):
            super().__init__(data_source)  # as torch's older samplers do
            self.n = len(data_source)

        def __iter__(self):
            return iter(range(0, self.n, 2))

    assert list(Evens(range(7))) == [0, 2, 4, 6]
    with pytest.raises(NotImplementedError):
        iter(Sampler())
    seq = SequentialSampler(range(5))
    assert list(seq) == [0, 1, 2, 3, 4] and len(seq) == 5


@needs_torch
def test_batch_sampler_as_torch():
    from torch.utils.data import BatchSampler as TorchBatchSampler
    for size in (1, 3, 4, 10, 11):
        for drop_last in (False, True):
            ours = BatchSampler(SequentialSampler(range(10)), size, drop_last)
            theirs = TorchBatchSampler(range(10), size, drop_last)
            assert list(ours) == list(theirs) and len(ours) == len(theirs)
    for size, drop_last in ((0, False), (True, False), (2.0, False), (2, 1)):
        same_error(lambda: BatchSampler(range(4), size, drop_last), lambda: TorchBatchSampler(range(4), size, drop_last))


def test_random_sampler_orders():
    perm = RandomSampler(range(20), generator=gen(3))
    assert sorted(perm) == list(range(20)) and len(perm) == 20
    assert list(RandomSampler(range(20), generator=gen(3))) == list(RandomSampler(range(20), generator=gen(3)))
    fibril.manual_seed(5)
    first = list(RandomSampler(range(20)))
    fibril.manual_seed(5)
    assert list(RandomSampler(range(20))) == first
    long = list(RandomSampler(range(4), num_samples=10, generator=gen()))
    assert len(long) == 10 and sorted(long[:4]) == sorted(long[4:8]) == [0, 1, 2, 3] and set(long[8:]) <= {0, 1, 2, 3}
    drawn = RandomSampler(range(3), replacement=True, num_samples=300, generator=gen())
    assert len(drawn) == 300 and sorted(set(drawn)) == [0, 1, 2]
    assert len(list(drawn)) == 300


def test_subset_and_weighted_random_samplers():
    sub = SubsetRandomSampler([10, 20, 30, 40], generator=gen(1))
    assert sorted(sub) == [10, 20, 30, 40] and len(sub) == 4
    assert len({tuple(sub) for _ in range(5)}) > 1  # a new order per epoch
    weighted = WeightedRandomSampler([0.0, 1.0, 3.0], 400, generator=gen(2))
    draws = list(weighted)
    assert len(weighted) == 400 and len(draws) == 400 and 0 not in draws
    assert 2.0 < draws.count(2) / draws.count(1) < 4.5
    assert list(WeightedRandomSampler([0.0, 1.0, 3.0], 400, generator=gen(2))) == draws
    distinct = list(WeightedRandomSampler([1.0, 2.0, 3.0, 4.0], 4, replacement=False, generator=gen()))
    assert sorted(distinct) == [0, 1, 2, 3]


@needs_torch
def test_sampler_arguments_checked_as_torch():
    from torch.utils.data import (RandomSampler as TorchRandom, WeightedRandomSampler as TorchWeighted)
    for kwargs in ({"replacement": 1}, {"num_samples": 0}, {"num_samples": 2.5}):
        same_error(lambda: RandomSampler(range(4), **kwargs), lambda: TorchRandom(range(4), **kwargs))
    for args in (([1.0, 2.0], 0), ([1.0, 2.0], 3.0), ([[1.0, 2.0]], 1), ([1.0, 2.0], 1, "yes")):
        same_error(lambda: WeightedRandomSampler(*args), lambda: TorchWeighted(*args))
    for sampler in (RandomSampler(range(6), num_samples=9), WeightedRandomSampler([1.0, 2.0], 7),
                    SubsetRandomSampler([3, 4])):
        assert len(sampler) == len(list(sampler))
    with pytest.raises(TypeError, match="fibril.Generator"):
        RandomSampler(range(3), generator=torch.Generator())


def test_loader_default_samplers_and_shuffle_sampler():
    loader = DataLoader(dataset(10), batch_size=4)
    assert isinstance(loader.sampler, SequentialSampler) and isinstance(loader.batch_sampler, BatchSampler)
    shuffled = DataLoader(dataset(10), batch_size=4, shuffle=True, generator=gen(4))
    assert isinstance(shuffled.sampler, RandomSampler)
    order = [i for b in shuffled for i in b[1].tolist()]
    assert order == list(RandomSampler(range(10), generator=gen(4)))
    weighted = DataLoader(dataset(10), batch_size=5, sampler=WeightedRandomSampler([0.0] * 9 + [1.0], 10))
    assert [b[1].tolist() for b in weighted] == [[9] * 5, [9] * 5]


@needs_torch
def test_batch_sampler_option_as_torch():
    batches = [[3, 1], [0, 2, 4], [5]]
    ours = DataLoader(dataset(6), batch_sampler=batches)
    theirs = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(6)), batch_sampler=batches)
    assert [b[1].tolist() for b in ours] == [b[0].tolist() for b in theirs] == batches
    assert len(ours) == len(theirs) == 3 and ours.batch_size is None and theirs.batch_size is None
    ours = DataLoader(dataset(10), batch_sampler=BatchSampler(RandomSampler(range(10), generator=gen(0)), 4, True))
    assert [len(b[1]) for b in ours] == [4, 4] and len(ours) == 2
    torch_data = torch.utils.data.TensorDataset(torch.arange(6))
    for kwargs in ({"batch_size": 2}, {"shuffle": True}, {"sampler": [0]}, {"drop_last": True}):
        error = same_error(lambda: DataLoader(dataset(6), batch_sampler=batches, **kwargs),
                           lambda: torch.utils.data.DataLoader(torch_data, batch_sampler=batches, **kwargs))
        assert "mutually exclusive" in str(error)


@needs_torch
def test_batch_size_none_converts_each_sample_as_torch():
    Pair = namedtuple("Pair", "a b")

    def samples(lib):
        return [(np.arange(3, dtype=np.float32), 7, "s"), {"k": np.float64(2.5), "l": [np.int32(1), 2.0]},
                Pair(lib.zeros(2), np.bool_(True))]

    ours = list(DataLoader(samples(fibril), batch_size=None))
    theirs = list(torch.utils.data.DataLoader(samples(torch), batch_size=None))
    assert len(DataLoader(samples(fibril), batch_size=None)) == 3

    def described(x):
        if isinstance(x, (fibril.Tensor, torch.Tensor)):
            return ("tensor", str(x.dtype).split(".")[1], tuple(x.shape), x.tolist())
        if isinstance(x, dict):
            return {key: described(value) for key, value in x.items()}
        if isinstance(x, (list, tuple)):
            return (type(x).__name__, [described(value) for value in x])
        return x

    assert [described(x) for x in ours] == [described(x) for x in theirs]
    assert [described(default_convert(s)) for s in samples(fibril)] == [described(x) for x in ours]
    assert [x[1].tolist() for x in DataLoader(dataset(3), batch_size=None)] == [0, 1, 2]  # not stacked
    assert next(iter(DataLoader(dataset(3), batch_size=None, collate_fn=lambda s: "got"))) == "got"
    same_error(lambda: DataLoader(dataset(3), batch_size=None, drop_last=True),
               lambda: torch.utils.data.DataLoader(range(3), batch_size=None, drop_last=True))


@needs_torch
def test_worker_options_are_accepted_and_checked_as_torch():
    called = []
    loader = DataLoader(dataset(10), batch_size=4, num_workers=2, pin_memory=True, timeout=5.0,
                        worker_init_fn=called.append, multiprocessing_context="spawn", persistent_workers=True,
                        pin_memory_device="cuda", in_order=False)
    assert [b[1].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert called == [] and loader.num_workers == 2 and loader.prefetch_factor == 2
    assert loader.multiprocessing_context.get_start_method() == "spawn"
    torch_data = list(range(4))
    for kwargs in ({"num_workers": -1}, {"timeout": -1}, {"persistent_workers": True},
                   {"multiprocessing_context": "spawn"}, {"num_workers": 1, "multiprocessing_context": "bogus"},
                   {"num_workers": 1, "multiprocessing_context": 3}):
        same_error(lambda: DataLoader(dataset(4), **kwargs), lambda: torch.utils.data.DataLoader(torch_data, **kwargs))
    assert get_worker_info() is None


class Count(IterableDataset):
    """0 .. n-1 as a stream, each sample drawing noise from the loader's epoch generator."""

    def __init__(self, n, noisy=False):
        self.n, self.noisy = n, noisy

    def __iter__(self):
        for i in range(self.n):
            yield T.RandomNoise(std=1.0)(fibril.zeros(2)) if self.noisy else (fibril.full((2,), float(i)), i)


class SizedCount(Count):
    def __len__(self):
        return self.n


@needs_torch
def test_iterable_dataset_batches_consecutive_samples_as_torch():
    class TorchCount(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter([(torch.full((2,), float(i)), i) for i in range(7)])

    for kwargs in ({"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": 1}, {"batch_size": 7}):
        ours = [(x.tolist(), y.tolist()) for x, y in DataLoader(Count(7), **kwargs)]
        theirs = [(x.tolist(), y.tolist()) for x, y in torch.utils.data.DataLoader(TorchCount(), **kwargs)]
        assert ours == theirs
    unbatched = list(DataLoader(Count(3), batch_size=None))
    assert [y for _, y in unbatched] == [0, 1, 2] and unbatched[0][0].shape == (2,)
    assert [len(DataLoader(SizedCount(7), batch_size=3, drop_last=d)) for d in (False, True)] == [3, 2]
    assert len(DataLoader(SizedCount(7), batch_size=None)) == 7
    same_error(lambda: len(DataLoader(Count(7), batch_size=3)),
               lambda: len(torch.utils.data.DataLoader(TorchCount(), batch_size=3)))
    for kwargs in ({"shuffle": True}, {"sampler": [0, 1]}, {"batch_sampler": [[0, 1]]}):
        error = same_error(lambda: DataLoader(Count(7), **kwargs),
                           lambda: torch.utils.data.DataLoader(TorchCount(), **kwargs))
        assert "IterableDataset" in str(error)
    assert len(list(DataLoader(Count(7), shuffle=False))) == 7


def test_iterable_dataset_chain_and_epoch_generator():
    both = Count(2) + SizedCount(3)
    assert isinstance(both, ChainDataset) and [y for _, y in both] == [0, 1, 0, 1, 2]
    assert len(SizedCount(2) + SizedCount(3)) == 5
    with pytest.raises(AssertionError, match="IterableDataset"):
        list(ChainDataset([Count(1), dataset(2)]))
    quiet = [b.numpy().copy() for b in DataLoader(Count(6, noisy=True), batch_size=4, generator=gen(1))]
    busy = []
    for b in DataLoader(Count(6, noisy=True), batch_size=4, generator=gen(1)):
        fibril.randn(100)
        busy.append(b.numpy().copy())
    assert [b.shape for b in quiet] == [(4, 2), (2, 2)]
    for a, b in zip(quiet, busy, strict=True):
        np.testing.assert_array_equal(a, b)

    class RaggedStream(IterableDataset):
        def __iter__(self):
            return iter([fibril.zeros(2), fibril.zeros(2), fibril.zeros(2), fibril.zeros(3)])

    with pytest.raises(ValueError, match=r"sample 3 of iter\(dataset\) returned .*\(3,\).* but sample 2"):
        list(DataLoader(RaggedStream(), batch_size=2))


@needs_torch
def test_names_mirror_torch_utils_data():
    names = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset",
             "RandomSampler", "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
             "WeightedRandomSampler", "default_collate", "default_convert", "get_worker_info", "random_split"]
    for name in names:
        assert hasattr(torch.utils.data, name) and hasattr(fibril.data, name), name


def test_normalize():
    x = fibril.tensor(np.arange(12, dtype=np.float32).reshape(3, 2, 2))
    out = T.Normalize([1.0, 2.0, 3.0], [2.0, 4.0, 8.0])(x)
    ref = (x.numpy() - np.array([1, 2, 3]).reshape(3, 1, 1)) / np.array([2, 4, 8]).reshape(3, 1, 1)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6)
    np.testing.assert_allclose(T.Normalize(0.5, 0.25)(x).numpy(), (x.numpy() - 0.5) / 0.25)
    with pytest.raises(ValueError, match="zero"):
        T.Normalize(0.0, [1.0, 0.0])


def test_random_crop_is_a_padded_window():
    x = fibril.tensor(np.arange(1, 17, dtype=np.float32).reshape(1, 4, 4))
    padded = np.pad(x.numpy(), ((0, 0), (1, 1), (1, 1)))
    crop = T.RandomCrop(4, padding=1, generator=gen(0))
    seen = set()
    for _ in range(30):
        out = crop(x).numpy()
        assert out.shape == (1, 4, 4)
        windows = [(i, j) for i in range(3) for j in range(3)
                   if np.array_equal(padded[:, i:i + 4, j:j + 4], out)]
        assert windows
        seen.add(windows[0])
    assert len(seen) > 3
    with pytest.raises(ValueError, match="larger than"):
        T.RandomCrop(6)(x)


def test_flip_noise_shift_and_compose():
    x = fibril.tensor(np.arange(6, dtype=np.float32).reshape(1, 6))
    flip = T.RandomHorizontalFlip(generator=gen(2))
    flips = [flip(x).numpy()[0, 0] for _ in range(40)]
    assert set(flips) == {0.0, 5.0}
    assert T.RandomHorizontalFlip(p=0.0)(x) is x
    noisy = T.RandomNoise(std=0.5, generator=gen(0))(fibril.zeros(20000))
    assert abs(noisy.numpy().std() - 0.5) < 0.02
    for _ in range(20):
        out = T.RandomShift(2, generator=gen(_))(x).numpy()[0]
        shift = [s for s in range(-2, 3) if np.array_equal(out, shifted(x.numpy()[0], s))]
        assert shift
        wrapped = T.RandomShift(3, mode="wrap", generator=gen(_))(x).numpy()[0]
        assert sorted(wrapped) == sorted(x.numpy()[0])
    pipeline = T.Compose([T.RandomShift(1, generator=gen(0)), T.Normalize(2.0, 2.0)])
    assert pipeline(x).shape == x.shape and "RandomShift" in repr(pipeline)
    with pytest.raises(ValueError, match="mode"):
        T.RandomShift(1, mode="reflect")
    with pytest.raises(TypeError, match="fibril Tensor"):
        T.RandomHorizontalFlip()(np.zeros(3))


def shifted(signal, s):
    out = np.zeros_like(signal)
    if s >= 0:
        out[s:] = signal[:len(signal) - s]
    else:
        out[:s] = signal[-s:]
    return out
