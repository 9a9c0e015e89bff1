"""autocast (context manager and decorator), custom_fwd and custom_bwd, as torch.amp's."""

import collections.abc
import functools
import warnings

from .. import _C
from . import state as _s

_SUPPORTED_DTYPES = (_C.bfloat16, _C.float16)


def _cuda_available():
    from .. import cuda
    return cuda.is_available()


class autocast:
    """Ops in the region run in an op-specific dtype: the matrix products, convolutions and
    attention in `dtype` (default: bfloat16 on 'cpu', float16 on 'cuda'), the losses in float32,
    the rest in their inputs' dtype (see fibril.amp.policy). Regions nest; leaving one restores
    the state it found. Wrap the forward pass and the loss, not backward.

        with fibril.autocast("cpu"):
            loss = loss_fn(model(x), y)
        loss.backward()
    """

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        _s._check_device_type(device_type, "autocast")
        self.device = device_type
        self.fast_dtype = _s.get_autocast_dtype(device_type) if dtype is None else dtype
        self._cache_enabled = _s.is_autocast_cache_enabled() if cache_enabled is None else bool(cache_enabled)
        if enabled:
            if device_type == "cuda" and not _cuda_available():
                warnings.warn("CUDA is not available. Disabling autocast.", stacklevel=2)
                enabled = False
            elif self.fast_dtype not in _SUPPORTED_DTYPES:
                name = device_type.upper()
                warnings.warn(f"In {name} autocast, but the target dtype is not supported. Disabling autocast.\n"
                              f"{name} Autocast only supports dtypes of fibril.bfloat16, fibril.float16 currently.",
                              stacklevel=2)
                enabled = False
        self._enabled = bool(enabled)
        self._saved = []  # a stack: the same instance may be entered again (recursion, as a decorator)

    def __enter__(self):
        st = _s.state
        self._saved.append((getattr(st, self.device), getattr(st, self.device + "_dtype"), st.cache_enabled))
        _s.set_autocast_enabled(self.device, self._enabled)
        _s.set_autocast_dtype(self.device, self.fast_dtype)
        _s.autocast_increment_nesting()
        _s.set_autocast_cache_enabled(self._cache_enabled)
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        enabled, dtype, cache_enabled = self._saved.pop()
        if _s.autocast_decrement_nesting() == 0:  # left the outermost region: drop the cached casts
            _s.clear_autocast_cache()
        _s.set_autocast_enabled(self.device, enabled)
        _s.set_autocast_dtype(self.device, dtype)
        _s.set_autocast_cache_enabled(cache_enabled)
        return False

    def __call__(self, func):
        if not callable(func):
            raise TypeError(f"autocast()(func) requires a callable, but got {type(func).__name__}. Did you mean to "
                            f"use autocast as a context manager? For example:\n"
                            f"    with fibril.autocast(device_type=...):\n"
                            f"        output = model(input)")

        @functools.wraps(func)
        def decorate_autocast(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        return decorate_autocast

    def __repr__(self):
        return (f"autocast(device_type={self.device!r}, dtype={self.fast_dtype}, enabled={self._enabled}, "
                f"cache_enabled={self._cache_enabled})")


def _cast(value, device_type, dtype):
    """value with its floating tensors on device_type (float64 excepted) cast to dtype, through
    lists, tuples, dicts and other iterables (strings and arrays pass through), as torch's."""
    from ..tensor import Tensor
    from .policy import _device_type

    if isinstance(value, Tensor):
        eligible = value.is_floating_point() and _device_type(value) == device_type and value.dtype != _C.float64
        return value.to(dtype) if eligible else value
    if isinstance(value, (str, bytes)) or type(value).__module__ == "numpy":
        return value
    if isinstance(value, collections.abc.Mapping):
        return {_cast(k, device_type, dtype): _cast(v, device_type, dtype) for k, v in value.items()}
    if isinstance(value, collections.abc.Iterable):
        iterable = (_cast(v, device_type, dtype) for v in value)
        return type(value)(iterable) if isinstance(value, (list, tuple)) else iterable
    return value


def _floating_dtypes(args):
    from ..tensor import Tensor
    return tuple(a.dtype if isinstance(a, Tensor) and a.is_floating_point() else None for a in args)


def _to_input_dtypes(grads, dtypes):
    """Each floating gradient in the dtype of its forward input, as torch's engine casts what a
    custom backward returns (fibril's does not: cast_inputs and autocast in backward would
    otherwise hand a bfloat16 input a float32 gradient, or a float32 parameter a float16 one)."""
    from ..tensor import Tensor

    single = isinstance(grads, Tensor)
    if not dtypes or not (single or isinstance(grads, (tuple, list))):
        return grads
    out = tuple(g.to(d) if isinstance(g, Tensor) and d is not None and g.is_floating_point() and g.dtype != d else g
                for g, d in zip((grads,) if single else grads, dtypes))
    if not single and len(grads) > len(dtypes):
        out += tuple(grads[len(dtypes):])
    return out[0] if single else out


def custom_fwd(fwd=None, *, device_type, cast_inputs=None):
    """Decorates a custom Function's forward(ctx, ...). cast_inputs=None: forward runs under the
    current autocast state. cast_inputs=dtype: inside an autocast region on device_type, its
    floating tensor arguments are cast to dtype and forward runs with autocast off; outside one
    it is a no-op. Pair with custom_bwd on backward."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        ctx = args[0]
        ctx._dtype = _s.get_autocast_dtype(device_type)
        ctx._amp_input_dtypes = _floating_dtypes(args[1:])
        if cast_inputs is None:
            ctx._fwd_used_autocast = _s.is_autocast_enabled(device_type)
            return fwd(*args, **kwargs)
        ctx._fwd_used_autocast = False
        if _s.is_autocast_enabled(device_type):
            with autocast(device_type=device_type, enabled=False):
                return fwd(*_cast(args, device_type, cast_inputs), **_cast(kwargs, device_type, cast_inputs))
        return fwd(*args, **kwargs)

    return decorate_fwd


def custom_bwd(bwd=None, *, device_type):
    """Decorates a custom Function's backward(ctx, ...): it runs with the autocast state its
    forward (decorated with custom_fwd) ran with."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args, **kwargs):
        ctx = args[0]
        with autocast(device_type=device_type, enabled=ctx._fwd_used_autocast, dtype=ctx._dtype):
            grads = bwd(*args, **kwargs)
        return _to_input_dtypes(grads, getattr(ctx, "_amp_input_dtypes", ()))

    return decorate_bwd
