"""fibril's thread pool: settings, fork safety, concurrent callers."""

import multiprocessing
import os
import threading

import numpy as np
import pytest

import fibril
from fibril._interop import from_numpy as array_from_numpy  # Array level, below Tensor

BIG = (1024, 1100)  # above every kernel's parallel grain


def transpose_roundtrip():
    x = np.random.default_rng(0).random(BIG, dtype=np.float32)
    got = np.asarray(array_from_numpy(x).transpose(0, 1).contiguous())
    return np.array_equal(got, x.T)


def test_set_and_get_num_threads(num_threads):
    num_threads(1)
    assert fibril.get_num_threads() == 1
    assert transpose_roundtrip()
    num_threads(3)  # more threads than cores is allowed, just not the default
    assert fibril.get_num_threads() == 3
    assert transpose_roundtrip()
    with pytest.raises(ValueError, match=r"\[1, 1024\]"):
        fibril.set_num_threads(0)
    with pytest.raises(ValueError, match=r"\[1, 1024\]"):
        fibril.set_num_threads(5000)


def test_default_thread_count_respects_env():
    code = "import fibril; print(fibril.get_num_threads())"
    out = _run_python(code, FIBRIL_NUM_THREADS="3")
    assert out.strip() == "3"


def _child_runs_kernels(queue):
    queue.put((transpose_roundtrip(), fibril.get_num_threads()))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_runs_parallel_kernels_without_hanging(num_threads):
    num_threads(2)
    assert transpose_roundtrip()  # the parent's pool now has live workers
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    children = [ctx.Process(target=_child_runs_kernels, args=(queue,)) for _ in range(2)]
    for c in children:
        c.start()
    for c in children:
        c.join(timeout=60)
        hung = c.is_alive()
        if hung:
            c.kill()
        assert not hung, "forked child hung in a parallel kernel"
        assert c.exitcode == 0
    results = [queue.get(timeout=5) for _ in children]
    assert results == [(True, 2)] * 2
    assert transpose_roundtrip()  # and the parent's pool still works


def test_concurrent_python_threads_get_correct_results():
    results = []

    def work():
        results.append(all(transpose_roundtrip() for _ in range(3)))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == [True] * 4


def test_flush_denormal_setting():
    assert fibril.get_flush_denormal() is True
    try:
        assert fibril.set_flush_denormal(False) is True
        assert fibril.get_flush_denormal() is False
    finally:
        fibril.set_flush_denormal(True)


def _run_python(code, **env):
    import subprocess
    import sys

    full_env = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], env=full_env, check=True, capture_output=True,
                          text=True, timeout=120).stdout
