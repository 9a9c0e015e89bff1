"""The caching CPU allocator: size classes, reuse, statistics, failure modes."""

import gc

import numpy as np
import pytest

import fibril
from fibril._interop import from_numpy as array_from_numpy  # Array level, below Tensor

MiB = 1 << 20


def test_size_classes_are_aligned_and_bounded():
    for n in [0, 1, 63, 64, 65, 500, 513, 1000, 4097, 10**6, 3 * MiB + 1, 256 * MiB, 10**9 + 7]:
        c = fibril._C.allocator_size_class(n)
        assert c >= max(n, 1) and c % 64 == 0
        assert c <= max(64, 1.25 * n + 64), (n, c)


def test_same_size_reuses_the_cached_block_without_growing_reserved():
    a = fibril.Array.empty((64 * MiB,), fibril.float32)  # 256 MiB
    ptr = a.data_ptr()
    del a
    before = fibril.memory_stats()
    b = fibril.Array.empty((64 * MiB,), fibril.float32)
    after = fibril.memory_stats()
    assert after["hits"] == before["hits"] + 1
    assert after["misses"] == before["misses"]
    assert after["reserved"] == before["reserved"]
    assert after["allocated"] == before["allocated"] + 256 * MiB
    assert b.data_ptr() == ptr
    del b


def test_blocks_are_64_byte_aligned():
    arrays = [fibril.Array.empty((n,), fibril.uint8) for n in (1, 3, 100, 5000, 5 * MiB)]
    assert all(a.data_ptr() % 64 == 0 for a in arrays)


def test_allocated_returns_to_baseline_and_peak_tracks_the_high_water_mark():
    gc.collect()
    fibril.reset_peak_memory_stats()
    base = fibril.memory_stats()
    x = array_from_numpy(np.ones((300, 500), np.float32))
    for _ in range(20):
        x.transpose(0, 1).contiguous().astype(fibril.float64).clone()
    mid = fibril.memory_stats()
    assert mid["allocated"] == base["allocated"]
    assert mid["allocations"] == base["allocations"]
    # astype's float64 result and its clone are alive together
    assert mid["peak"] >= base["allocated"] + 300 * 500 * (8 + 8)


def test_empty_cache_returns_cached_memory():
    a = fibril.Array.empty((8 * MiB,), fibril.uint8)
    del a
    assert fibril.memory_stats()["reserved"] > fibril.memory_stats()["allocated"]
    fibril.empty_cache()
    stats = fibril.memory_stats()
    assert stats["reserved"] == stats["allocated"]


def test_impossible_request_is_memory_error_not_a_crash():
    with pytest.raises(MemoryError, match="allocate"):
        fibril.Array.empty((10**15,), fibril.uint8)
    with pytest.raises(MemoryError):
        fibril.Array.empty((2**56,), fibril.float64)
    with pytest.raises(ValueError, match="overflows the byte size"):
        fibril.Array.empty((2**61,), fibril.float64)
    # the allocator still works afterwards
    assert fibril.Array.full((4,), 1.0, fibril.float32).numel() == 4


def test_zero_size_arrays_allocate_nothing_visible():
    a = fibril.Array.empty((0, 5), fibril.float64)
    assert a.numel() == 0 and a.nbytes == 0
    assert np.asarray(a).shape == (0, 5)
