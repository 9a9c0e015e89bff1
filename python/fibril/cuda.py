"""CUDA queries. With no CUDA build, driver or GPU, is_available() is False and nothing crashes.

With FIBRIL_CUDA_EMULATOR=1 in the environment when fibril starts, "cuda:0" is an emulated
device: its memory is host memory and its kernels (the same sources nvcc compiles) run on the
CPU, one block at a time. That is how the CUDA tests run without a GPU; it is slow by design.
"""

from . import _C


def is_built():
    """True when this fibril was compiled with the CUDA backend."""
    return _C.cuda.built()


def is_emulated():
    """True when "cuda" is the CPU emulator (FIBRIL_CUDA_EMULATOR=1), not a GPU."""
    return _C.cuda.emulated()


def device_count():
    return _C.cuda.device_count()


def is_available():
    return device_count() > 0


def _require():
    if not is_available():
        reason = "no CUDA device or driver" if is_built() else "fibril was built without CUDA"
        raise RuntimeError(f"CUDA is not available: {reason}")


def synchronize(device=None):
    """Waits for all queued work on `device` (default: every device)."""
    _require()
    _C.cuda.synchronize(-1 if device is None else _index(device))


def memory_stats(device=0):
    """Device pool statistics in bytes: allocated, reserved, peak; hits and misses."""
    _require()
    return _C.cuda.memory_stats(_index(device))


def memory_allocated(device=0):
    """Bytes of device memory held by live arrays on `device`."""
    return memory_stats(device)["allocated"]


def max_memory_allocated(device=0):
    """The high-water mark of memory_allocated(device)."""
    return memory_stats(device)["peak"]


def empty_cache():
    """Returns cached, unused device memory to the driver."""
    if is_available():
        _C.cuda.empty_cache()


def _index(device):
    if isinstance(device, int):
        return device
    if device == "cuda":
        return 0
    if isinstance(device, str) and device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    raise ValueError(f"invalid CUDA device {device!r} (expected an int, 'cuda' or 'cuda:N')")


# Seeding: fibril draws CUDA and CPU random numbers from one Philox generator (a seed gives
# the same values on both devices), so these act on fibril's default generator.
def manual_seed(seed):
    """Seeds the generator that CUDA tensors draw from (fibril's one default generator)."""
    from . import random

    random.manual_seed(seed)


manual_seed_all = manual_seed


def seed():
    from . import random

    random.seed()


seed_all = seed


def initial_seed():
    from . import random

    return random.initial_seed()


def current_device():
    """The index of the device "cuda" means: fibril always places it on device 0."""
    _require()
    return 0


from .amp import cuda_amp as amp  # noqa: E402  (fibril.cuda.amp.GradScaler, torch's legacy name)
