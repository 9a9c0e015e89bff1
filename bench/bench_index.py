"""Index family (gather type): gather along dim 1 of a 4096x4096 float32 matrix with a
random int64 index of the same shape; index_select of 4096 random rows of a 16384x256
float32 matrix. Peers: numpy's take_along_axis / take, torch.gather / index_select.

GB/s counts the bytes the op must move: the index read, the gathered values read and the
output written (the rows' bytes for index_select).
"""
import numpy as np

from bench.harness import Case

N = 4096
ROWS, COLS, PICKED = 16384, 256, 4096


def gather_inputs():
    rng = np.random.default_rng(0)
    return rng.random((N, N), dtype=np.float32), rng.integers(0, N, size=(N, N))


def index_select_inputs():
    rng = np.random.default_rng(0)
    return rng.random((ROWS, COLS), dtype=np.float32), rng.integers(0, ROWS, size=PICKED)


def cases(quick):
    return [
        Case(
            name=f"gather dim1 {N}x{N}",
            work=(8 + 4 + 4) * N * N,
            unit="GB/s",
            inputs=gather_inputs,
            ops={
                "fibril": lambda x, i: x.gather(1, i),
                "numpy": lambda x, i: np.take_along_axis(x, i, axis=1),
                "torch": lambda t, i: t.gather(1, i),
            },
        ),
        Case(
            name=f"index_select {PICKED}/{ROWS}x{COLS}",
            work=8 * PICKED + (4 + 4) * PICKED * COLS,
            unit="GB/s",
            inputs=index_select_inputs,
            ops={
                "fibril": lambda x, i: x.index_select(0, i),
                "numpy": lambda x, i: np.take(x, i, axis=0),
                "torch": lambda t, i: t.index_select(0, i),
            },
        ),
    ]
