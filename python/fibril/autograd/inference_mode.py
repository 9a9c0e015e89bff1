"""inference_mode: torch.inference_mode's context manager and decorator, and
is_inference_mode_enabled (a per-thread flag, as torch's).

In fibril it is no_grad that also says so: entering inference_mode(True) turns grad mode off,
inference_mode(False) turns it on (as torch: inference mode off implies grad mode on), and
both are restored on exit. Torch goes further: tensors made in inference mode are "inference
tensors" that autograd refuses later (saving one for backward or changing one in place
outside inference mode raises). fibril does not mark them: every op makes its tensors in
C++, with no hook to mark them by, so those uses simply work here as they do after no_grad.
"""

import functools
import inspect
import threading

from .grad_mode import _set_enabled, is_grad_enabled

_state = threading.local()


def is_inference_mode_enabled():
    return getattr(_state, "enabled", False)


def _set_inference_mode(mode):
    _state.enabled = mode


class inference_mode:
    """Context manager and decorator; `@inference_mode` without parentheses decorates too."""

    def __new__(cls, mode=True):
        if isinstance(mode, bool):
            return super().__new__(cls)
        return cls()(mode)  # inference_mode(fn): the bare decorator

    def __init__(self, mode=True):
        self.mode = mode

    def __enter__(self):
        self._prev = is_inference_mode_enabled(), is_grad_enabled()
        _set_inference_mode(self.mode)
        _set_enabled(not self.mode)

    def __exit__(self, *exc):
        inference, grad = self._prev
        _set_inference_mode(inference)
        _set_enabled(grad)
        return False

    def clone(self):
        return self.__class__(self.mode)

    def __call__(self, fn):
        if inspect.isgeneratorfunction(fn):
            return self._wrap_generator(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.clone():
                return fn(*args, **kwargs)

        return wrapper

    def _wrap_generator(self, fn):
        """As torch: each resumption of the generator runs in the mode, not just its creation."""

        @functools.wraps(fn)
        def generator(*args, **kwargs):
            gen = fn(*args, **kwargs)
            try:
                with self.clone():
                    response = gen.send(None)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with self.clone():
                            gen.close()
                        raise
                    except BaseException as error:
                        with self.clone():
                            response = gen.throw(error)
                    else:
                        with self.clone():
                            response = gen.send(request)
            except StopIteration as stop:
                return stop.value

        return generator
