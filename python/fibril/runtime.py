"""Process-wide settings and helpers that PyTorch training scripts call: compile, the
determinism flags, the default device of factory functions, typename."""

import functools

from . import devices

_deterministic = False
_deterministic_warn_only = False
_default_device = "cpu"
_DEBUG_MODES = {"default": 0, "warn": 1, "error": 2}


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None, options=None,
            disable=False):
    """torch.compile's place: fibril has no graph compiler (each op already runs a fused C++
    or CUDA kernel called straight from Python), so the function or module is returned as it
    is. Usable as compile(fn), @compile and @compile(...), as torch's."""
    if model is None:
        return functools.partial(compile, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
                                 options=options, disable=disable)
    if not callable(model):
        raise RuntimeError("compile() expects a callable (a function or a Module)")
    return model


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Records the flags only: every fibril kernel is already deterministic (no atomics-ordered
    reductions, no nondeterministic scatter), so no op needs to warn or refuse."""
    global _deterministic, _deterministic_warn_only
    _deterministic, _deterministic_warn_only = bool(mode), bool(warn_only)


def are_deterministic_algorithms_enabled():
    return _deterministic


def is_deterministic_algorithms_warn_only_enabled():
    return _deterministic_warn_only


def set_deterministic_debug_mode(debug_mode):
    """0 or 'default': off; 1 or 'warn': on, warn only; 2 or 'error': on (as torch)."""
    if isinstance(debug_mode, str):
        if debug_mode not in _DEBUG_MODES:
            raise RuntimeError("invalid value of debug_mode, expected one of `default`, `warn`, `error`, but got "
                               f"{debug_mode}")
        debug_mode = _DEBUG_MODES[debug_mode]
    elif not isinstance(debug_mode, int):
        raise TypeError(f"debug_mode must be str or int, but got {type(debug_mode)}")
    if debug_mode not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode, expected 0, 1, or 2, but got {debug_mode}")
    use_deterministic_algorithms(debug_mode != 0, warn_only=debug_mode == 1)


def get_deterministic_debug_mode():
    if not _deterministic:
        return 0
    return 1 if _deterministic_warn_only else 2


def set_default_device(device):
    """The device of factory functions (zeros, tensor, randn, ...) given none; None: 'cpu'."""
    global _default_device
    device = "cpu" if device is None else str(device)
    if device != "cpu" and not device.startswith("cuda"):
        raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {device}")
    _default_device = "cuda:0" if device == "cuda" else device


def get_default_device():
    return devices.of(_default_device)


_interop_threads = 1


def set_num_interop_threads(count):
    """Recorded only: fibril runs one op at a time, each on its own thread pool
    (set_num_threads), so there are no inter-op threads to size."""
    global _interop_threads
    if not isinstance(count, int) or count < 1:
        raise RuntimeError(f"Number of inter-op threads must be positive, got {count}")
    _interop_threads = count


def get_num_interop_threads():
    return _interop_threads


def is_complex(x):
    """False: fibril has no complex dtypes."""
    return x.is_complex()


def typename(obj):
    """A tensor's type name ('fibril.FloatTensor'), else the qualified name of obj's class,
    as torch.typename."""
    from .tensor import Tensor

    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if qualname is None:
        module, qualname = type(obj).__module__, type(obj).__qualname__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"
