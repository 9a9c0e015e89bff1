"""torch.jit's decorators, for code that scripts or traces its models: fibril has no
TorchScript compiler (its ops are fused kernels called from Python), so script and trace
return the function or module unchanged, which then runs eagerly with the same results."""

import typing

Final = typing.Final


def script(obj, optimize=None, _frames_up=0, _rcb=None, example_inputs=None):
    return obj


def trace(func, example_inputs=None, optimize=None, check_trace=True, check_inputs=None, check_tolerance=1e-5,
          strict=True, _force_outplace=False, _module_class=None, _compilation_unit=None,
          example_kwarg_inputs=None, _store_inputs=True):
    if not callable(func):
        raise TypeError(f"trace: expected a function or a Module, got {type(func).__name__}")
    return func


def ignore(drop=False, **kwargs):
    """@ignore and @ignore(drop=...): the function as it is."""
    if callable(drop):
        return drop
    return lambda fn: fn


def unused(fn):
    return fn


def export(fn):
    return fn


def annotate(the_type, the_value):
    return the_value


def is_scripting():
    return False


def is_tracing():
    return False
