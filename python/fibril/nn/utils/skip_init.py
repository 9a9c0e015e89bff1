"""skip_init as torch.nn.utils: a module made without a guaranteed initialization, for code
that initializes it itself."""

import inspect

from ..module import Module

__all__ = ["skip_init"]


def skip_init(module_cls, *args, **kwargs):
    """module_cls(*args, **kwargs), whose class must take a `device` argument (as torch asks).
    torch builds it on the meta device and leaves its tensors uninitialized (any values); fibril
    has no meta device, so the constructor's own initialization runs: the values are defined,
    there is just no time saved."""
    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    kwargs.setdefault("device", "cpu")
    return module_cls(*args, **kwargs)
