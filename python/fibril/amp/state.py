"""Autocast's per-thread state, as torch keeps it: whether autocast is on for each device type,
its dtype there, whether casts are cached, and how deeply autocast regions nest.

The ops read one attribute before doing anything else, `active.on`: a plain (slotted) object's,
true while some thread has autocast on, so that they cost ~5 ns while autocast is off (a
threading.local read costs ~50). The policy then reads this thread's state. Imports nothing
beyond _C: fibril.cuda imports this package while fibril itself is still being imported."""

import threading

from .. import _C

DEVICE_TYPES = ("cpu", "cuda")
_DEFAULT_DTYPES = {"cpu": _C.bfloat16, "cuda": _C.float16}


class _State(threading.local):
    """Class attributes are each new thread's defaults (threading.local)."""

    on = False  # cpu or cuda, in this thread
    cpu = False
    cuda = False
    cpu_dtype = _C.bfloat16
    cuda_dtype = _C.float16
    cache_enabled = True
    nesting = 0
    cache = None  # {(id(tensor), dtype): (tensor, cast)}, made on first use in each thread


state = _State()


class _Active:
    """How many threads have autocast on for some device type; `on` while any does (a thread
    that ends with autocast on leaves it set: the ops then take the policy's path, which reads
    that thread's state and casts nothing; only slower)."""

    __slots__ = ("on", "threads", "lock")

    def __init__(self):
        self.on = False
        self.threads = 0
        self.lock = threading.Lock()


active = _Active()


def _check_device_type(device_type, what):
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if device_type not in DEVICE_TYPES:
        raise RuntimeError(f"{what}: unsupported autocast device_type '{device_type}' (fibril has autocast for "
                           f"{', '.join(DEVICE_TYPES)})")


def is_autocast_available(device_type):
    """True for the device types fibril can autocast: 'cpu' and 'cuda'."""
    return device_type in DEVICE_TYPES


def is_autocast_enabled(device_type=None):
    """Whether autocast is on for device_type in this thread; with no argument, for 'cuda' (as torch)."""
    if device_type is None:
        return state.cuda
    _check_device_type(device_type, "is_autocast_enabled")
    return getattr(state, device_type)


def set_autocast_enabled(device_type, enabled=None):
    """set_autocast_enabled(device_type, enabled), or set_autocast_enabled(enabled) for 'cuda' (as torch)."""
    if enabled is None:
        if isinstance(device_type, str):
            raise TypeError("set_autocast_enabled(device_type, enabled): missing `enabled`")
        device_type, enabled = "cuda", device_type
    _check_device_type(device_type, "set_autocast_enabled")
    setattr(state, device_type, bool(enabled))
    was, state.on = state.on, state.cpu or state.cuda
    if was != state.on:
        with active.lock:
            active.threads += 1 if state.on else -1
            active.on = active.threads > 0


def get_autocast_dtype(device_type):
    _check_device_type(device_type, "get_autocast_dtype")
    return getattr(state, device_type + "_dtype")


def set_autocast_dtype(device_type, dtype):
    _check_device_type(device_type, "set_autocast_dtype")
    setattr(state, device_type + "_dtype", dtype)


def is_autocast_cpu_enabled():
    return state.cpu


def set_autocast_cpu_enabled(enabled):
    set_autocast_enabled("cpu", enabled)


def get_autocast_cpu_dtype():
    return state.cpu_dtype


def set_autocast_cpu_dtype(dtype):
    state.cpu_dtype = dtype


def get_autocast_gpu_dtype():
    return state.cuda_dtype


def set_autocast_gpu_dtype(dtype):
    state.cuda_dtype = dtype


def is_autocast_cache_enabled():
    return state.cache_enabled


def set_autocast_cache_enabled(enabled):
    state.cache_enabled = bool(enabled)


def clear_autocast_cache():
    """Drops the cached casts of parameters (autocast does so on leaving its outermost region)."""
    if state.cache:
        state.cache.clear()


def autocast_increment_nesting():
    state.nesting += 1
    return state.nesting


def autocast_decrement_nesting():
    state.nesting -= 1
    return state.nesting
