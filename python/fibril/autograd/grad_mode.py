"""Whether operations record the graph: no_grad, enable_grad, set_grad_enabled (per thread;
the flag itself lives in C++, where every op call reads it)."""

import functools

from .. import _C

is_grad_enabled = _C.is_grad_enabled
_set_enabled = _C.set_grad_enabled


class _GradMode:
    """Context manager and decorator that sets grad mode on entry and restores it on exit."""

    _mode = True

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set_enabled(self._mode)

    def __exit__(self, *exc):
        _set_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    _mode = False


class enable_grad(_GradMode):
    _mode = True


class set_grad_enabled(_GradMode):
    """Sets grad mode at construction (as a function call) and restores it when used with `with`."""

    def __init__(self, mode):
        self._prev = is_grad_enabled()
        self._mode = bool(mode)
        _set_enabled(self._mode)

    def __enter__(self):
        pass

    def __call__(self, fn):
        _set_enabled(self._prev)
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper
