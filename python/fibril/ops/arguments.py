"""Argument parsing shared by the op families with per-dimension sizes (conv, pool, unpool)."""

import numbers


def int_tuple(value, n, name, op):
    """n ints from an int or a sequence of 1 (one value for every dim, as torch) or n; a
    TypeError or ValueError naming op and the argument otherwise."""
    if isinstance(value, numbers.Integral):
        return (int(value),) * n
    try:
        values = tuple(int(v) for v in value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int or a sequence of {n} ints, got {value!r}") from None
    if len(values) == 1:
        values *= n
    if len(values) != n:
        raise ValueError(f"{op}: {name} needs {n} values, got {value!r}")
    return values
