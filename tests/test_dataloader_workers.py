"""DataLoader with num_workers > 0: worker processes as torch.utils.data's (batch order, worker
info and seeding, worker_init_fn, IterableDataset sharding, errors, timeouts, dead workers,
prefetching, persistent workers, shutdown, tensors crossing the process boundary, spawn)."""

import gc
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import namedtuple

import numpy as np
import pytest

import fibril
from fibril.data import DataLoader, Dataset, IterableDataset, TensorDataset, WorkerInfo, get_worker_info

WAIT = 20  # the DataLoader timeout in these tests: a bug fails a test rather than hanging it
Pair = namedtuple("Pair", "first second")


def gen(seed=0):
    return fibril.Generator().manual_seed(seed)


def described(x):
    """A batch as plain data (tensors of either library as dtype, shape and values), to compare."""
    if hasattr(x, "tolist") and hasattr(x, "dtype"):
        return ("tensor", str(x.dtype).split(".")[-1], tuple(x.shape), x.tolist())
    if isinstance(x, dict):
        return {key: described(value) for key, value in x.items()}
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [described(value) for value in x])
    return x


def pids_gone(pids, within=5.0):
    """Whether the processes have exited and been reaped (a zombie keeps its /proc entry)."""
    deadline = time.monotonic() + within
    while any(os.path.exists(f"/proc/{pid}") for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc to see processes")


class Samples(Dataset):
    """Samples made of numpy arrays and Python numbers, so torch's DataLoader reads them too."""

    def __init__(self, n=7):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"x": np.arange(3, dtype=np.float32) + i, "meta": (i, 0.5 * i)}, np.int32(i)


class Report(Dataset):
    """Each sample reports the worker that loaded it, its first random draws there (Python's,
    numpy's, the library's) and the library's thread count."""

    def __init__(self, draw, threads, n=6):
        self.draw, self.threads, self.n = draw, threads, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        info = self.worker_info()
        return (i, info.id, info.num_workers, info.seed, info.dataset is self, os.getpid(), random.random(),
                np.random.random(), self.draw(), self.threads())

    @staticmethod
    def worker_info():
        return get_worker_info()


def fibril_draw():
    return fibril.rand(1).item()


class Pids(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return i, os.getpid()


class Failing(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise KeyError("bad sample")
        return i


class TwoArguments(Exception):
    def __init__(self, a, b):
        super().__init__(a, b)


class RaisingTwoArguments(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        if i == 1:
            raise TwoArguments(1, 2)
        return i


class Slow(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(0.6)
        return i


class Dying(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return i


class Counted(Dataset):
    """Counts its fetches across the workers."""

    def __init__(self, n):
        self.n = n
        self.fetches = multiprocessing.Value("i", 0)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        with self.fetches.get_lock():
            self.fetches.value += 1
        return i


class Tagged(Dataset):
    tag = None

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return i, self.tag


def tag_worker(worker_id):
    info = get_worker_info()
    info.dataset.tag = (worker_id, info.id, os.getpid())


def failing_init(worker_id):
    raise ValueError(f"no setup for worker {worker_id}")


class ShardsMixin:
    """range(n), split between the workers as the torch docs show; every worker reads all of it
    when not `sharded`."""

    def __init__(self, n, worker_info, sharded=True):
        self.n, self.worker_info, self.sharded = n, worker_info, sharded

    def __iter__(self):
        info = self.worker_info()
        if info is None or not self.sharded:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


class Shards(ShardsMixin, IterableDataset):
    pass


def torch_shards(torch, n, sharded=True):
    class TorchShards(ShardsMixin, torch.utils.data.IterableDataset):
        pass

    return TorchShards(n, torch.utils.data.get_worker_info, sharded)


class Tensors(Dataset):
    """fibril tensors of every kind a batch can hold."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        base = fibril.arange(10, dtype=fibril.float32) * (i + 1)
        fields = {"f16": fibril.full((2,), i + 0.5, dtype=fibril.float16),
                  "i32": fibril.tensor([i, -i], dtype=fibril.int32), "u8": fibril.tensor([i], dtype=fibril.uint8),
                  "flag": fibril.tensor(i % 2 == 0), "view": base[2:5], "strided": base[::3]}
        return fields, [fibril.tensor(float(i), dtype=fibril.float64), Pair(i, "s")]


def special_tensors(batch):
    """A collate_fn returning tensors that do not pickle as plain arrays."""
    leaf = fibril.ones(2, requires_grad=True)
    leaf.grad = fibril.full((2,), 3.0)
    return {"bf16": fibril.tensor([1.5, 2.5], dtype=fibril.bfloat16), "leaf": leaf, "indices": batch}


def non_leaf(batch):
    return fibril.ones(2, requires_grad=True) * 2


def unpicklable(batch):
    return lambda: batch


# ------------------------------------------------------------------------------ order and values
@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")  # torch's, without an accelerator
def test_map_style_batches_as_torch_and_as_without_workers():
    torch = pytest.importorskip("torch")
    for kwargs in ({"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": None},
                   {"batch_size": 2, "sampler": [5, 0, 6, 2, 1]}, {"batch_sampler": [[4, 1], [0, 2, 3], [6]]},
                   {"batch_size": 2, "prefetch_factor": 1, "pin_memory": True}):
        ours = [described(b) for b in DataLoader(Samples(), num_workers=2, timeout=WAIT, **kwargs)]
        kwargs.pop("prefetch_factor", None)
        alone = [described(b) for b in DataLoader(Samples(), **kwargs)]
        theirs = [described(b) for b in torch.utils.data.DataLoader(Samples(), num_workers=2, timeout=WAIT, **kwargs)]
        assert ours == alone == theirs, kwargs


def test_seeded_shuffle_gives_the_batches_of_no_workers():
    data = TensorDataset(fibril.arange(40))

    def epochs(num_workers, **kwargs):
        loader = DataLoader(data, batch_size=6, shuffle=True, generator=gen(7), num_workers=num_workers,
                            timeout=WAIT, **kwargs)
        return [[b[0].tolist() for b in loader] for _ in range(2)]

    with_workers = epochs(2)
    assert with_workers == epochs(0)
    assert with_workers[0] != with_workers[1]
    persistent = epochs(2, persistent_workers=True)
    assert persistent[0] == with_workers[0]
    assert sorted(sum(persistent[1], [])) == list(range(40))


def test_tensor_dataset_fast_path_in_workers():
    x = fibril.tensor(np.arange(30, dtype=np.float32).reshape(10, 3))
    ours = [(a.numpy().copy(), b.tolist()) for a, b in DataLoader(TensorDataset(x, fibril.arange(10)), batch_size=4,
                                                                num_workers=2, timeout=WAIT)]
    assert [b for _, b in ours] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    np.testing.assert_array_equal(np.concatenate([a for a, _ in ours]), x.numpy())


# ------------------------------------------------------------------------------ worker info and seeding
def check_reports(rows, first_draw_of_seed, numpy_state):
    """The rows of Report samples loaded by two workers (batch_size=None): each worker seeded
    base_seed + id, its first draws those of that seed."""
    assert sorted({r[1] for r in rows}) == [0, 1]
    assert all(r[2] == 2 and r[4] for r in rows)
    assert all(r[5] != os.getpid() for r in rows)
    base_seeds = {r[3] - r[1] for r in rows}
    assert len(base_seeds) == 1
    base = base_seeds.pop()
    for worker in (0, 1):
        first = min((r for r in rows if r[1] == worker), key=lambda r: r[0])
        seed = base + worker
        assert first[3] == seed
        assert first[6] == random.Random(seed).random()
        assert first[7] == np.random.RandomState(numpy_state(base, worker)).random_sample()
        assert first[8] == first_draw_of_seed(seed)
    assert all(r[9] == 1 for r in rows)  # one thread per worker


def test_worker_info_and_seeds_as_torch(num_threads):
    torch = pytest.importorskip("torch")
    from torch.utils.data._utils.worker import _generate_state

    num_threads(2)
    report = Report(fibril_draw, fibril.get_num_threads)
    rows = list(DataLoader(report, batch_size=None, num_workers=2, timeout=WAIT, generator=gen(3)))
    check_reports(rows, lambda seed: fibril.rand(1, generator=gen(seed)).item(), _generate_state)
    again = list(DataLoader(report, batch_size=None, num_workers=2, timeout=WAIT, generator=gen(3)))
    assert [r[3:4] + r[6:] for r in again] == [r[3:4] + r[6:] for r in rows]  # a seeded loader replays its workers

    class TorchReport(Report):
        @staticmethod
        def worker_info():
            return torch.utils.data.get_worker_info()

    theirs = list(torch.utils.data.DataLoader(TorchReport(lambda: torch.rand(1).item(), torch.get_num_threads),
                                              batch_size=None, num_workers=2, timeout=WAIT))
    check_reports(theirs, lambda seed: torch.rand(1, generator=torch.Generator().manual_seed(seed)).item(),
                  _generate_state)
    assert get_worker_info() is None and torch.utils.data.get_worker_info() is None


def test_worker_info_is_frozen():
    info = WorkerInfo(id=0, num_workers=1, seed=5, dataset=None)
    with pytest.raises(AttributeError):
        info.id = 1


def test_worker_init_fn_runs_first_in_each_worker():
    rows = list(DataLoader(Tagged(), batch_size=None, num_workers=2, worker_init_fn=tag_worker, timeout=WAIT))
    assert [i for i, _ in rows] == list(range(6))
    tags = {tuple(tag) for _, tag in rows}
    assert {tag[0] for tag in tags} == {0, 1} and all(tag[0] == tag[1] for tag in tags)
    assert len({tag[2] for tag in tags}) == 2 and Tagged.tag is None


def test_failing_worker_init_fn_is_reraised_as_torch():
    torch = pytest.importorskip("torch")
    for library in (fibril.data, torch.utils.data):
        loader = library.DataLoader(Tagged(), num_workers=1, worker_init_fn=failing_init, timeout=WAIT)
        with pytest.raises(ValueError, match="Caught ValueError in DataLoader worker process 0") as info:
            next(iter(loader))
        assert "no setup for worker 0" in str(info.value) and "failing_init" in str(info.value)


# ------------------------------------------------------------------------------ iterable datasets
def test_iterable_dataset_sharding_and_batching_as_torch():
    torch = pytest.importorskip("torch")
    for n, sharded, kwargs in ((7, True, {"batch_size": 2}), (7, True, {"batch_size": 2, "drop_last": True}),
                               (7, True, {"batch_size": None}), (9, True, {"batch_size": 3}),
                               (5, False, {"batch_size": 2}), (1, True, {"batch_size": 4})):
        loader = DataLoader(Shards(n, get_worker_info, sharded), num_workers=2, timeout=WAIT, **kwargs)
        ours = [described(b) for b in loader]
        theirs = [described(b) for b in torch.utils.data.DataLoader(torch_shards(torch, n, sharded), num_workers=2,
                                                                    timeout=WAIT, **kwargs)]
        assert ours == theirs, (n, sharded, kwargs)
    assert [b.tolist() for b in DataLoader(Shards(7, get_worker_info), batch_size=2, num_workers=2,
                                           timeout=WAIT)] == [[0, 2], [1, 3], [4, 6], [5]]


class Uneven(IterableDataset):
    """Worker 0 yields one sample, worker 1 forty: each its process id."""

    def __iter__(self):
        return iter([os.getpid()] * (1 if get_worker_info().id == 0 else 40))


@needs_proc
def test_a_worker_whose_pass_ended_exits_before_the_epoch_ends():
    it = iter(DataLoader(Uneven(), batch_size=None, num_workers=2, timeout=WAIT))
    first, second = next(it), next(it)
    rest = []
    for pid in it:  # the loader reaps the exited worker as it hands out batches
        rest.append(pid)
        if pids_gone([first], within=0):
            break
        time.sleep(0.05)
    assert pids_gone([first], within=0) and not pids_gone([second], within=0)
    assert first != second and rest + list(it) == [second] * 39


def test_iterable_dataset_with_persistent_workers_restarts_each_epoch():
    torch = pytest.importorskip("torch")
    ours = DataLoader(Shards(7, get_worker_info), batch_size=2, num_workers=2, persistent_workers=True, timeout=WAIT)
    theirs = torch.utils.data.DataLoader(torch_shards(torch, 7), batch_size=2, num_workers=2,
                                         persistent_workers=True, timeout=WAIT)
    for _ in range(3):
        assert [b.tolist() for b in ours] == [b.tolist() for b in theirs] == [[0, 2], [1, 3], [4, 6], [5]]


# ------------------------------------------------------------------------------ errors
def test_worker_exception_is_reraised_with_its_traceback_as_torch():
    torch = pytest.importorskip("torch")
    for library in (fibril.data, torch.utils.data):
        it = iter(library.DataLoader(Failing(), batch_size=2, num_workers=2, timeout=WAIT))
        assert [next(it).tolist(), next(it).tolist()] == [[0, 1], [2, 3]]
        with pytest.raises(KeyError) as info:
            next(it)
        message = str(info.value)
        assert message.startswith("Caught KeyError in DataLoader worker process 0.\nOriginal Traceback")
        assert "bad sample" in message and "__getitem__" in message
        assert next(it).tolist() == [6, 7]  # the loader goes on after an error
        with pytest.raises(RuntimeError, match=r"(?s)in DataLoader worker process 1\..*TwoArguments: \(1, 2\)"):
            list(library.DataLoader(RaisingTwoArguments(), num_workers=2, timeout=WAIT))


def test_unpicklable_batches_raise_rather_than_hang():
    with pytest.raises(Exception, match="in DataLoader worker process 0") as info:
        next(iter(DataLoader(Samples(), batch_size=2, num_workers=1, collate_fn=unpicklable, timeout=WAIT)))
    assert "pickle" in str(info.value)
    with pytest.raises(RuntimeError, match=r"(?s)in DataLoader worker process 0.*graph leaves"):
        next(iter(DataLoader(Samples(), batch_size=2, num_workers=1, collate_fn=non_leaf, timeout=WAIT)))


def test_timeout_as_torch():
    torch = pytest.importorskip("torch")
    for library in (fibril.data, torch.utils.data):
        start = time.monotonic()
        with pytest.raises(RuntimeError, match=r"^DataLoader timed out after 0.1 seconds$"):
            next(iter(library.DataLoader(Slow(), num_workers=1, timeout=0.1)))
        assert time.monotonic() - start < 3


@needs_proc
def test_a_killed_worker_is_a_runtime_error():
    before = {p.pid for p in multiprocessing.active_children()}
    it = iter(DataLoader(Dying(), batch_size=None, num_workers=2, timeout=WAIT))
    pids = {p.pid for p in multiprocessing.active_children()} - before
    assert len(pids) == 2
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"):
        list(it)
    assert time.monotonic() - start < WAIT / 2
    assert pids_gone(pids)
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        next(it)


# ------------------------------------------------------------------------------ prefetching
def test_prefetch_factor_bounds_the_batches_in_flight():
    def fetched_after_one_batch(**kwargs):
        data = Counted(12)
        it = iter(DataLoader(data, batch_size=1, num_workers=2, timeout=WAIT, **kwargs))
        assert next(it).tolist() == [0]
        expected = 2 * (kwargs.get("prefetch_factor") or 2) + 1  # the first window, and one for the batch taken
        deadline = time.monotonic() + WAIT
        while data.fetches.value < expected and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        return data.fetches.value, expected

    for kwargs in ({"prefetch_factor": 1}, {}, {"prefetch_factor": 3}):
        fetched, expected = fetched_after_one_batch(**kwargs)
        assert fetched == expected, kwargs
    assert DataLoader(Counted(2), num_workers=1).prefetch_factor == 2
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(Counted(2), num_workers=1, prefetch_factor=0)


# ------------------------------------------------------------------------------ worker lifetimes
@needs_proc
def test_persistent_workers_are_reused_and_an_epoch_left_early_does_not_leak():
    def epoch_pids(loader):
        return {pid for batch in loader for pid in batch[1].tolist()}

    persistent = DataLoader(Pids(), batch_size=2, num_workers=2, persistent_workers=True, timeout=WAIT)
    first = epoch_pids(persistent)
    assert len(first) == 2 and epoch_pids(persistent) == first
    assert not pids_gone(first, within=0.2)
    next(iter(persistent))  # an epoch left after one batch: its answers in flight are dropped
    assert [b[0].tolist() for b in persistent] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    del persistent
    gc.collect()
    assert pids_gone(first)

    fresh = DataLoader(Pids(), batch_size=2, num_workers=2, timeout=WAIT)
    first = epoch_pids(fresh)
    assert pids_gone(first)  # exhausted: its workers have exited
    assert epoch_pids(fresh).isdisjoint(first)


@needs_proc
def test_workers_exit_when_the_iterator_is_collected():
    for in_a_cycle in (False, True):
        it = iter(DataLoader(Pids(), batch_size=1, num_workers=2, timeout=WAIT))
        pids = {next(it)[1].item(), next(it)[1].item()}
        assert len(pids) == 2 and not pids_gone(pids, within=0.2)
        if in_a_cycle:
            cycle = [it]
            cycle.append(cycle)
            del cycle
        start = time.monotonic()
        del it
        gc.collect()
        assert pids_gone(pids) and time.monotonic() - start < 3  # exited, not killed after the wait
        assert not any(p.pid in pids for p in multiprocessing.active_children())


@needs_proc
def test_workers_exit_with_the_interpreter():
    # `report` runs after every exit handler fibril and multiprocessing register (they come later):
    # the workers have exited by themselves (code 0), none was terminated by multiprocessing
    script = textwrap.dedent("""
        import atexit
        import multiprocessing
        import sys

        def report():
            print(*(f"{worker.pid}:{worker.exitcode}" for worker in workers))

        atexit.register(report)
        sys.path.insert(0, sys.argv[1])
        from test_dataloader_workers import Pids, WAIT
        from fibril.data import DataLoader
        loader = DataLoader(Pids(), batch_size=2, num_workers=2, persistent_workers=True, timeout=WAIT)
        assert len([batch for batch in loader]) == 4
        left = iter(DataLoader(Pids(), batch_size=1, num_workers=2, timeout=WAIT))
        next(left)
        workers = multiprocessing.active_children()
    """)
    done = subprocess.run([sys.executable, "-c", script, os.path.dirname(__file__)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    exits = dict(item.split(":") for item in done.stdout.split())
    assert len(exits) == 4 and set(exits.values()) == {"0"}, exits
    assert pids_gone([int(pid) for pid in exits])


# ------------------------------------------------------------------------------ tensors and contexts
def test_tensors_and_structure_cross_the_process_boundary():
    for kwargs in ({"batch_size": 2}, {"batch_size": None}):
        ours = list(DataLoader(Tensors(), num_workers=2, timeout=WAIT, **kwargs))
        alone = list(DataLoader(Tensors(), **kwargs))
        assert [described(b) for b in ours] == [described(b) for b in alone]
        assert isinstance(ours[0][1][1], Pair) and isinstance(ours[0][0]["f16"], fibril.Tensor)
    batch = ours[0][0]["view"]
    batch.add_(1)  # writable
    assert batch.tolist() == [3.0, 4.0, 5.0]
    special = next(iter(DataLoader(Tensors(), batch_size=2, num_workers=1, collate_fn=special_tensors,
                                   timeout=WAIT)))
    assert special["bf16"].dtype == fibril.bfloat16 and special["bf16"].tolist() == [1.5, 2.5]
    assert special["leaf"].requires_grad and special["leaf"].grad.tolist() == [3.0, 3.0]
    assert special["indices"][0][1][1] == Pair(0, "s")


def test_plain_tensors_travel_as_numpy_arrays():
    from multiprocessing.reduction import ForkingPickler

    from fibril.data import worker

    batch = {"x": fibril.arange(6, dtype=fibril.float32).reshape(2, 3), "view": fibril.arange(10)[3:7]}
    payload = worker._dumps(batch)
    assert b"from_numpy" in payload and b"_rebuild" not in payload  # rebuilt over the unpickled memory
    back = ForkingPickler.loads(payload)
    assert described(back) == described(batch)
    special = special_tensors([1])
    assert b"_rebuild" in worker._dumps(special["bf16"]) and b"_rebuild" in worker._dumps(special["leaf"])


def test_spawn_context():
    shards = DataLoader(Shards(5, get_worker_info), batch_size=2, num_workers=2, multiprocessing_context="spawn",
                        timeout=WAIT)
    assert [b.tolist() for b in shards] == [[0, 2], [1, 3], [4]]
