"""DataLoader worker processes (num_workers > 0), as torch.utils.data's.

Each worker is a daemonic process of the loader's multiprocessing context (default: the
platform's start method) running _worker_loop: it holds its own copy of the dataset and answers
tasks (a batch of indices, a single index without automatic batching, or "the next batch" of an
IterableDataset, which each worker iterates in full unless it shards itself with
get_worker_info()) by fetching and collating in the worker. The main process hands the tasks to
the workers in turn, keeps prefetch_factor of them in flight per worker, and returns the batches
in task order.

A worker is seeded as torch's are, from a base seed drawn from the loader's generator when the
workers start: Python's random and fibril's default generator with base_seed + worker_id, numpy's
global generator with the state torch gives it. Random transforms in a worker draw from that
default generator.

An exception in a worker comes back to the main process as torch's ExceptionWrapper brings it:
the same type (RuntimeError where that type cannot be built from a message) with the worker's
traceback in its message. A worker that dies gives a RuntimeError, and `timeout` one when no batch
comes in time. Workers exit when their iterator is exhausted (unless persistent_workers), garbage
collected, or at interpreter exit.

Batches cross the process boundary pickled: plain CPU tensors as numpy arrays, rebuilt in the main
process by fibril.from_numpy over the unpickled memory (no copy); other tensors (requiring grad,
bfloat16, subclasses, ...) as Tensor.__reduce_ex__ pickles them.
"""

import atexit
import io
import itertools
import multiprocessing
import multiprocessing.util  # registers multiprocessing's exit handler before _shutdown_at_exit (see there)
import os
import pickle
import queue
import random
import sys
import time
import traceback
import weakref
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler

import numpy as np

from .. import _C
from ..creation import from_numpy
from ..random import manual_seed
from ..tensor import Tensor, _View

_STATUS_CHECK_INTERVAL = 0.5  # seconds between checks that the other side is still alive
_SHUTDOWN_WAIT = 5.0  # seconds the workers get to exit before they are killed
_NEW_EPOCH = "new epoch"  # tells a persistent worker that a new epoch starts


@dataclass(frozen=True)
class WorkerInfo:
    """What get_worker_info() returns in a worker: its id, the number of workers, its seed and its
    copy of the dataset."""

    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info = None


def get_worker_info():
    """This worker's WorkerInfo in a DataLoader worker process; None in the main process."""
    return _worker_info


class WorkerError:
    """An exception raised in a worker, carried to the main process as torch's ExceptionWrapper
    carries it: the type and the traceback text. Built in an except block."""

    def __init__(self, worker_id):
        exc_type, exc, tb = sys.exc_info()
        self.exc_type = exc_type
        self.message = (f"Caught {exc_type.__name__} in DataLoader worker process {worker_id}.\nOriginal "
                        + "".join(traceback.format_exception(exc_type, exc, tb)))

    def reraise(self):
        message = _KeyErrorMessage(self.message) if self.exc_type is KeyError else self.message
        try:
            exc = self.exc_type(message)
        except Exception:
            raise RuntimeError(self.message) from None
        try:
            raise exc
        finally:
            del exc  # no cycle through this frame: the iterator is freed (and its workers stopped) once unused


class _KeyErrorMessage(str):
    """A message that a KeyError prints as it is (KeyError prints the repr of its argument)."""

    def __repr__(self):
        return self


class _StreamEnd:
    """A worker's answer once its pass over an IterableDataset has ended."""


def _plain(t):
    """Whether a tensor is its values alone, so a numpy array carries it whole."""
    return (type(t) in (Tensor, _View) and not t.requires_grad and t.grad is None and t.device == "cpu"
            and t.dtype != _C.bfloat16 and all(name.startswith("_") or name == "grad" for name in vars(t)))


class _BatchPickler(ForkingPickler):
    def reducer_override(self, obj):
        if isinstance(obj, Tensor) and _plain(obj):
            return from_numpy, (obj.numpy(),)
        return NotImplemented


def _dumps(obj):
    buffer = io.BytesIO()
    _BatchPickler(buffer, pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def _encode(task_id, data, worker_id):
    """(task_id, data) pickled in the worker, so that what cannot be pickled comes back as an
    error (a multiprocessing Queue would print it in its feeder thread and drop the batch)."""
    try:
        return _dumps((task_id, data))
    except Exception:
        if isinstance(data, WorkerError):
            data.exc_type = RuntimeError  # its own type cannot be pickled (a class made in a function, ...)
        else:
            data = WorkerError(worker_id)
    return _dumps((task_id, data))


def _seed_worker(base_seed, worker_id):
    seed = base_seed + worker_id
    random.seed(seed)
    manual_seed(seed)
    # the numpy state torch's workers get (_generate_state is numpy's SeedSequence written out)
    np.random.seed(np.random.SeedSequence([worker_id, base_seed & 0xFFFFFFFF, base_seed >> 32]).generate_state(4))
    return seed


def _epoch_fetch(fetcher, iterable):
    """task payload -> batch for one epoch: the fetcher itself for a map-style dataset; for an
    IterableDataset, the next batch of a new pass over it (fetcher() starts one)."""
    if not iterable:
        return fetcher
    batches = fetcher()
    return lambda _: next(batches)


def _worker_loop(dataset, fetcher, iterable, tasks, results, done, worker_id, num_workers, base_seed, init_fn):
    global _worker_info
    parent = os.getppid()  # a change means the main process died
    try:
        _C.set_num_threads(1)
        seed = _seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        init_error = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
        except Exception:
            init_error = WorkerError(worker_id)  # the answer to every task: the worker is not set up
        fetch, ended = _epoch_fetch(fetcher, iterable), False
        while os.getppid() == parent:
            try:
                task = tasks.get(timeout=_STATUS_CHECK_INTERVAL)
            except queue.Empty:
                if done.is_set():
                    break  # the main process shut down without reaching this queue (see WorkerIterator._shutdown)
                continue
            if task is None:
                break
            if task == _NEW_EPOCH:
                fetch, ended = _epoch_fetch(fetcher, iterable), False
                continue
            if done.is_set() or ended:
                continue  # tasks the main process no longer waits for
            task_id, payload = task
            if init_error is not None:
                data = init_error
            else:
                try:
                    data = fetch(payload)
                except Exception as exc:
                    if iterable and isinstance(exc, StopIteration):
                        data, ended = _StreamEnd(), True
                    else:
                        data = WorkerError(worker_id)
            results.put(_encode(task_id, data, worker_id))
            del data  # not kept alive while waiting for the next task
    except KeyboardInterrupt:
        pass  # the main process gets it too
    if done.is_set() or os.getppid() != parent:
        results.cancel_join_thread()  # nobody reads what is still buffered: exit without flushing it
        results.close()


_live_iterators = weakref.WeakSet()


@atexit.register
def _shutdown_at_exit():
    # registered after multiprocessing's own exit handler, so it runs first: the workers exit
    # cleanly instead of being terminated
    for iterator in list(_live_iterators):
        iterator._shutdown()


class WorkerIterator:
    """The batches of a DataLoader with num_workers > 0, loaded by worker processes, as torch's
    _MultiProcessingDataLoaderIter with in_order=True.

    `fetcher` turns a task's payload into a batch (map-style) or, called, starts a pass that
    yields the batches (IterableDataset); `plan` yields an epoch's task payloads. Task ids count
    on across the epochs of persistent workers, so the results of an epoch left early are told
    apart and dropped.
    """

    def __init__(self, loader, fetcher, plan, base_seed):
        self._closed = True
        context = loader.multiprocessing_context or multiprocessing.get_context()
        self._num_workers = loader.num_workers
        self._window = loader.prefetch_factor * loader.num_workers
        self._timeout = loader.timeout
        self._persistent = loader.persistent_workers
        self._failure = None
        self._results = context.Queue()
        self._done = context.Event()
        self._workers, self._task_queues = [], []
        self._exiting = []  # workers told to exit before the others, to reap once they have
        self._sent = 0
        self._closed = False
        _live_iterators.add(self)
        try:
            for worker_id in range(self._num_workers):
                tasks = context.Queue()
                tasks.cancel_join_thread()  # the main process does not wait at exit to hand a dead worker its tasks
                worker = context.Process(target=_worker_loop, daemon=True,
                                         args=(loader.dataset, fetcher, loader._iterable, tasks, self._results,
                                               self._done, worker_id, self._num_workers, base_seed,
                                               loader.worker_init_fn))
                worker.start()
                self._workers.append(worker)
                self._task_queues.append(tasks)
        except BaseException:
            self._shutdown()
            raise
        self._start_epoch(plan)

    @property
    def closed(self):
        return self._closed

    def reset(self, plan):
        """Starts a new epoch on the same (persistent) workers."""
        for tasks in self._task_queues:
            tasks.put(_NEW_EPOCH)
        self._start_epoch(plan)

    def _start_epoch(self, plan):
        self._plan = plan
        self._active = [True] * self._num_workers  # False once a worker's IterableDataset pass has ended
        self._turns = itertools.cycle(range(self._num_workers))
        self._epoch_start = self._received = self._sent
        self._pending = {}  # task id -> worker, for tasks sent and not answered
        self._ready = {}  # task id -> batch, for answers that came before their turn
        for _ in range(self._window):
            self._dispatch()

    def _dispatch(self):
        """Sends the plan's next task to the next active worker, if any."""
        try:
            payload = next(self._plan)
        except StopIteration:
            return
        for _ in range(self._num_workers):
            worker = next(self._turns)
            if self._active[worker]:
                break
        else:
            return
        self._task_queues[worker].put((self._sent, payload))
        self._pending[self._sent] = worker
        self._sent += 1

    def __iter__(self):
        return self

    def __next__(self):
        if self._closed:
            if self._failure is not None:
                raise RuntimeError(self._failure)
            raise StopIteration
        while True:
            while self._received in self._pending and not self._active[self._pending[self._received]]:
                del self._pending[self._received]  # its worker's pass ended first: no answer comes
                self._received += 1
            if self._received in self._ready:
                data = self._ready.pop(self._received)
                self._received += 1
                return self._deliver(data)
            if self._received == self._sent:
                if not self._persistent:
                    self._shutdown()
                raise StopIteration
            task_id, data = self._receive()
            if task_id < self._epoch_start:
                continue  # an answer for an epoch left early
            if isinstance(data, _StreamEnd):
                self._retire(self._pending[task_id])  # its task is then dropped as those after it
                self._dispatch()
                continue
            del self._pending[task_id]
            if task_id == self._received:
                self._received += 1
                return self._deliver(data)
            self._ready[task_id] = data

    def _deliver(self, data):
        self._dispatch()
        if self._exiting:
            self._reap_exited()
        if isinstance(data, WorkerError):
            data.reraise()
        return data

    def _retire(self, worker):
        """A worker whose pass over the IterableDataset has ended gets no more tasks this epoch;
        without persistent workers it exits now."""
        self._active[worker] = False
        if not self._persistent:
            self._task_queues[worker].put(None)
            self._exiting.append(self._workers[worker])

    def _reap_exited(self):
        """Joins the workers told to exit early that have (no zombies until the epoch ends)."""
        for worker in self._exiting:
            worker.join(0)
        self._exiting = [w for w in self._exiting if w.exitcode is None]

    def _receive(self):
        """The next (task id, data) any worker sends."""
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        while True:
            wait = _STATUS_CHECK_INTERVAL
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - time.monotonic()))
            try:
                return ForkingPickler.loads(self._results.get(timeout=wait))
            except queue.Empty:
                pass
            self._check_workers()
            if deadline is not None and time.monotonic() >= deadline:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")

    def _check_workers(self):
        dead = [w for w, active in zip(self._workers, self._active) if active and not w.is_alive()]
        if dead:
            pids = ", ".join(str(w.pid) for w in dead)
            codes = ", ".join(str(w.exitcode) for w in dead)
            self._failure = f"DataLoader worker (pid(s) {pids}) exited unexpectedly (exit code(s) {codes})"
            self._shutdown()
            raise RuntimeError(self._failure)

    def _shutdown(self):
        # When the iterator is garbage in a reference cycle, the collector may already have stopped
        # the task queues' feeder threads, and the None then never reaches the workers: they also
        # stop on seeing `done` set.
        if self._closed:
            return
        self._closed = True
        _live_iterators.discard(self)
        self._done.set()
        for worker, tasks in zip(self._workers, self._task_queues):
            if worker.is_alive():
                tasks.put(None)
        deadline = time.monotonic() + _SHUTDOWN_WAIT
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():  # stuck in a fetch
                worker.kill()
                worker.join()
        for tasks in self._task_queues:
            tasks.close()
        self._results.cancel_join_thread()
        self._results.close()

    def __del__(self):
        self._shutdown()
