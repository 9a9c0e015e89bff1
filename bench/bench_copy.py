"""Copy family: contiguous clone, contiguous copy of a transposed matrix, float32 -> float64 cast.

GB/s counts the bytes read plus the bytes written, as the machine's copy peak does.
"""
import functools

import fibril
import numpy as np

from bench.harness import Case, assert_same

# L3 is 8 MiB: a 512x512 float32 copy (1 MiB in, 1 MiB out) stays in cache; 4096x4096
# (64 MiB each way) is bound by memory bandwidth.
SHAPES = (512, 1024, 4096)
QUICK_SHAPES = (512, 4096)

OPS = {
    "clone": {
        "fibril": lambda a: a.clone(),
        "numpy": lambda x: x.copy(),
        "torch": lambda t: t.clone(),
    },
    "contiguous(T)": {
        "fibril": lambda a: a.transpose(0, 1).contiguous(),
        "numpy": lambda x: np.ascontiguousarray(x.T),
        "torch": lambda t: t.t().contiguous(),
    },
    "cast f32->f64": {
        "fibril": lambda a: a.double(),
        "numpy": lambda x: x.astype(np.float64),
        "torch": lambda t: t.double(),
    },
}
BYTES_PER_ELEMENT = {"clone": 4 + 4, "contiguous(T)": 4 + 4, "cast f32->f64": 4 + 8}


def random_matrix(n):
    return (np.random.default_rng(0).random((n, n), dtype=np.float32),)


def check_fresh_copy(out, ref, inputs):
    """Beyond equal values: a new C-contiguous buffer, not a view that would time as free."""
    assert_same(out, ref, inputs)
    if not out.flags.c_contiguous or np.may_share_memory(out, inputs[0]):
        raise AssertionError("the result is not a fresh C-contiguous array")


def cases(quick):
    names = ("clone", "contiguous(T)") if quick else tuple(OPS)
    return [
        Case(
            name=f"{name} {n}x{n}",
            work=BYTES_PER_ELEMENT[name] * n * n,
            unit="GB/s",
            inputs=functools.partial(random_matrix, n),
            ops=OPS[name],
            check=check_fresh_copy,
        )
        for n in (QUICK_SHAPES if quick else SHAPES)
        for name in names
    ]
