"""The strided copy kernel (csrc/cpu/copy.cpp) through contiguous, clone, astype, copy_ and fill_.

Reference: numpy. Casts follow numpy's astype, except float -> integer, which the kernel
defines for every input: NaN -> 0, truncate and saturate to int64, then wrap to the target
like an integer cast (see `reference_cast`). Float -> bool is x != 0; bool -> number is 0/1.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fibril
from fibril._interop import from_numpy as array_from_numpy  # Array level, below Tensor

DTYPES = {
    fibril.float32: np.float32,
    fibril.float64: np.float64,
    fibril.int64: np.int64,
    fibril.int32: np.int32,
    fibril.uint8: np.uint8,
    fibril.bool: np.bool_,
}
NP_DTYPES = list(DTYPES.values())
INT_DTYPES = [np.int64, np.int32, np.uint8]
INT64_MIN, INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max


def sample(shape, dtype, seed=0):
    """Random values spread over each dtype's range (floats: normal, no denormals)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return np.asarray(rng.random(shape) < 0.5)
    if dtype.kind == "f":
        return np.asarray(rng.standard_normal(shape) * 100, dtype)
    high = {np.uint8: 256, np.int32: 2**31, np.int64: 2**40}[dtype.type]
    low = 0 if dtype == np.uint8 else -high
    return np.asarray(rng.integers(low, high, shape), dtype)


def name(dtype):
    return np.dtype(dtype).name


def reference_cast(x, dtype):
    """numpy's astype, except float -> integer: NaN -> 0, truncate and saturate to int64,
    then wrap like an integer cast."""
    dtype = np.dtype(dtype)
    if x.dtype.kind != "f" or dtype.kind not in "iu":
        with np.errstate(over="ignore"):
            return x.astype(dtype)
    f = x.astype(np.float64)
    high, low = f >= 2.0**63, f <= -(2.0**63)
    truncated = np.trunc(np.where(np.isnan(f) | high | low, 0, f)).astype(np.int64)
    return np.asarray(np.where(high, INT64_MAX, np.where(low, INT64_MIN, truncated))).astype(dtype)


def assert_same(a, expected):
    """a (fibril) has exactly expected's dtype, shape and values."""
    got = np.asarray(a)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


# -------------------------------------------------------------------------------- casts

FLOATS = np.array([0, -0.0, 0.5, 1, 2.75, -3.25, 127.9, 255.5, 256, -128, -200.5, 1e6 + 0.5,
                   2**31 - 0.5, -(2**31), 2**53 + 2, 2**62, -(2**63), 1e30, -1e-30, 3e38])
CAST_VALUES = {
    np.float64: FLOATS,
    np.float32: FLOATS.astype(np.float32),
    np.int64: np.array([0, 1, -1, 127, 255, 256, -129, 2**31, -(2**31) - 1, 2**53 + 1, 2**62,
                        INT64_MIN, INT64_MAX]),
    np.int32: np.array([0, 1, -1, 127, 255, 256, -129, 2**24 + 1, -(2**31), 2**31 - 1], np.int32),
    np.uint8: np.array([0, 1, 2, 127, 128, 200, 255], np.uint8),
    np.bool_: np.array([False, True]),
}


@pytest.mark.parametrize("dst", NP_DTYPES, ids=name)
@pytest.mark.parametrize("src", NP_DTYPES, ids=name)
def test_cast_every_dtype_pair_matches_numpy(src, dst):
    x = CAST_VALUES[src]
    if x.dtype.kind == "f" and np.dtype(dst).kind in "iu":  # in range, where numpy's cast is defined
        info = np.iinfo(dst)
        x = x[(x > info.min - 1.0) & (x < info.max + 1.0)]
    with np.errstate(over="ignore"):
        expected = x.astype(dst)
    a = array_from_numpy(x)
    assert_same(a.astype(dst), expected)
    out = fibril.Array.empty(x.shape, dst)
    assert_same(out.copy_(a), expected)


SPECIAL, SATURATED = zip(*[  # float value, and the int64 it saturates/truncates to
    (np.nan, 0), (np.inf, INT64_MAX), (-np.inf, INT64_MIN), (1e19, INT64_MAX), (-1e19, INT64_MIN),
    (2.0**63, INT64_MAX), (-(2.0**63), INT64_MIN), (3e9, 3_000_000_000), (-1.5, -1), (-0.0, 0),
    (255.9, 255), (256.0, 256), (-257.5, -257),
])


@pytest.mark.parametrize("dst", INT_DTYPES + [np.bool_], ids=name)
@pytest.mark.parametrize("src", [np.float32, np.float64], ids=name)
def test_cast_float_specials_follow_the_documented_rule(src, dst):
    x = np.array(SPECIAL, src)
    if dst == np.bool_:
        expected = x != 0
    else:
        expected = np.array(SATURATED, np.int64).astype(dst)  # saturated int64, then wrapped
    np.testing.assert_array_equal(expected, reference_cast(x, dst))
    assert_same(array_from_numpy(x).astype(dst), expected)


# ------------------------------------------------- random layouts (hypothesis) for every path


class Layout:
    """A view of `shape` carved out of a bigger base array: per dimension a slice
    (start, step) or, for cut None, a size-1 dim expanded (stride 0); then a permutation.
    Applies the same way to numpy and fibril arrays."""

    def __init__(self, shape, perm, cuts):
        self.perm = perm
        self.pre_shape = tuple(shape[perm.index(d)] for d in range(len(shape)))  # before permute
        self.expands = None in cuts
        self.slices = []
        for size, cut in zip(self.pre_shape, cuts):
            if cut is None:  # one element, expanded to `size`
                self.slices.append(slice(0, 1, 1))
            else:
                start, step = cut
                self.slices.append(slice(start, start + (size - 1) * step + 1 if size else start, step))
        self.base_shape = tuple(s.stop + 1 for s in self.slices)

    def __repr__(self):
        return (f"Layout(base {self.base_shape}, slices {self.slices}, expand to {self.pre_shape}, "
                f"permute {self.perm})")

    def numpy(self, base):
        x = base[tuple(self.slices) + (...,)]  # the ... keeps 0-d results views
        if self.expands:
            x = np.broadcast_to(x, self.pre_shape)
        return x.transpose(self.perm)

    def fibril(self, a):
        for dim, s in enumerate(self.slices):
            a = a.slice(dim, s.start, s.stop, s.step)
        if self.expands:
            a = a.expand(*self.pre_shape)
        return a.permute(*self.perm) if self.perm else a


@st.composite
def layouts(draw, shape, expand=True):
    sliced = st.tuples(st.integers(0, 2), st.integers(1, 3))
    cut = st.integers(0, 3).flatmap(lambda k: st.none() if k == 0 else sliced) if expand else sliced
    return Layout(shape, draw(st.permutations(range(len(shape)))), [draw(cut) for _ in shape])


shapes = st.lists(st.integers(0, 9), min_size=0, max_size=5).map(tuple)
dtypes = st.sampled_from(NP_DTYPES)


@st.composite
def copy_cases(draw):
    """A destination layout, a source layout whose shape broadcasts to it (some dims 1, some
    leading dims dropped, often neither), and their dtypes."""
    shape = draw(shapes)
    dropped = draw(st.one_of(st.just(0), st.integers(0, len(shape))))
    src_shape = tuple(1 if draw(st.integers(0, 3)) == 0 else n for n in shape[dropped:])
    return draw(layouts(shape, expand=False)), draw(layouts(src_shape)), draw(dtypes), draw(dtypes)


HYPOTHESIS = settings(max_examples=100, derandomize=True, deadline=None)


@HYPOTHESIS
@given(copy_cases())
def test_random_strided_copies_match_numpy(case):
    dst_layout, src_layout, dst_dtype, src_dtype = case
    src_base = sample(src_layout.base_shape, src_dtype, seed=1)
    x = src_layout.numpy(src_base)
    a = src_layout.fibril(array_from_numpy(src_base))
    assert a.shape == x.shape

    for out in (a.contiguous(), a.clone(), a.astype(src_dtype)):
        assert out.is_contiguous()
        assert_same(out, x)
    assert_same(a.astype(dst_dtype), reference_cast(x, dst_dtype))

    dst_base = sample(dst_layout.base_shape, dst_dtype, seed=2)
    expected = dst_base.copy()
    dst_layout.numpy(expected)[...] = reference_cast(x, dst_dtype)
    dst_layout.fibril(array_from_numpy(dst_base)).copy_(a)
    np.testing.assert_array_equal(dst_base, expected)  # the view, and nothing else, was written


# ---------------------------------------------------------- transposes: tiled and streaming


def check_permuted_copy(shape, dtype, perm):
    """contiguous(), clone() and copy_ of a permuted view equal numpy's."""
    x = sample(shape, dtype)
    a = array_from_numpy(x).permute(*perm)
    expected = x.transpose(perm).copy()
    assert_same(a.contiguous(), expected)
    assert_same(a.clone(), expected)
    assert_same(fibril.Array.empty(expected.shape, a.dtype).copy_(a), expected)


TILE_SIZES = [1, 7, 8, 9, 63, 64, 65, 255, 256, 257, 1000]
MATRICES = [(n, n) for n in TILE_SIZES] + [(1, 257), (257, 1), (7, 65), (65, 7), (9, 1000), (1000, 63), (255, 257)]
TILE_DTYPES = [np.float32, np.float64, np.uint8, np.int32]


@pytest.mark.parametrize("dtype", TILE_DTYPES, ids=name)
@pytest.mark.parametrize("shape", MATRICES, ids=str)
def test_transposed_matrix(shape, dtype):
    check_permuted_copy(shape, dtype, (1, 0))


@pytest.mark.parametrize("perm", [(0, 2, 1), (2, 1, 0), (1, 2, 0), (2, 0, 1)])
@pytest.mark.parametrize("dtype", TILE_DTYPES, ids=name)
def test_transposed_batch(dtype, perm):
    check_permuted_copy((3, 65, 130), dtype, perm)


# float32 outputs of 4 MiB and more go through 256x16 strips with streaming stores when the
# destination rows are 32-byte aligned; partial strips and unaligned rows fall back to tiles.
STREAMING = [
    ((1024, 1100), (1, 0)),    # rows 1024 floats apart: streaming, a partial strip of rows
    ((1032, 1100), (1, 0)),    # a last strip only 8 columns wide
    ((1000, 1030), (1, 0)),
    ((1100, 1024), (1, 0)),    # rows 1100 floats apart: not 32-byte aligned, tiled
    ((2048, 2048), (1, 0)),
    ((4, 520, 512), (0, 2, 1)),
    pytest.param((4096, 4100), (1, 0), marks=pytest.mark.slow),
]


@pytest.mark.parametrize("shape, perm", STREAMING, ids=str)
def test_transposed_streaming(shape, perm):
    check_permuted_copy(shape, np.float32, perm)


def test_large_transpose_into_an_unaligned_destination():
    x = sample((1024, 1100), np.float32)
    base = fibril.Array.full((1100 * 1024 + 1,), -1.0)
    dst = base.slice(0, 1).view(1100, 1024)
    dst.copy_(array_from_numpy(x).transpose(0, 1))
    assert np.asarray(base)[0] == -1
    assert_same(dst, x.T.copy())


# ------------------------------------------------------------------------------- copy_


@pytest.mark.parametrize("dst_shape, src_shape", [
    ((4, 5), (5,)), ((4, 5), (1, 5)), ((4, 5), (4, 1)), ((4, 5), ()), ((4, 5), (1, 1)),
    ((2, 3, 4), (3, 1)), ((2, 3, 4), (1, 4)), ((2, 0, 4), (4,)), ((300, 5000), (1, 5000)),
])
def test_copy_broadcasts_the_source(dst_shape, src_shape):
    x = sample(src_shape, np.float64)
    out = fibril.Array.empty(dst_shape, fibril.int32).copy_(array_from_numpy(x))
    assert_same(out, reference_cast(np.broadcast_to(x, dst_shape), np.int32))


def test_copy_into_a_non_contiguous_destination():
    base = sample((6, 8), np.float32)
    expected = base.copy()
    expected.T[1::2, :4] = np.arange(16).reshape(4, 4)
    dst = array_from_numpy(base).transpose(0, 1).slice(0, 1, None, 2).slice(1, 0, 4)
    dst.copy_(array_from_numpy(np.arange(16).reshape(4, 4)))
    np.testing.assert_array_equal(base, expected)


@pytest.mark.parametrize("n", [4, 65, 300])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8], ids=name)
def test_copy_from_an_overlapping_transpose(n, dtype):
    x = sample((n, n), dtype)
    expected = x.T.copy()
    a = array_from_numpy(x)
    a.copy_(a.transpose(0, 1))
    np.testing.assert_array_equal(x, expected)


def test_copy_from_an_overlapping_shifted_view():
    x = np.arange(100.0)
    a = array_from_numpy(x)
    a.slice(0, 1).copy_(a.slice(0, 0, 99))
    np.testing.assert_array_equal(x, np.r_[0, np.arange(99.0)])
    a.copy_(a)
    np.testing.assert_array_equal(x, np.r_[0, np.arange(99.0)])
    m = a.view(10, 10)
    m.copy_(m.select(0, 3))  # every row becomes (the old) row 3
    np.testing.assert_array_equal(x.reshape(10, 10), np.tile(np.arange(29.0, 39.0), (10, 1)))


def test_copy_between_two_imports_of_the_same_numpy_array():
    x = sample((4, 4), np.float64)
    expected = x.T.copy()
    array_from_numpy(x).copy_(array_from_numpy(x.T))
    np.testing.assert_array_equal(x, expected)


def test_copy_into_an_expanded_destination_is_runtime_error():
    dst = fibril.Array.empty((1, 3)).expand(4, 3)
    with pytest.raises(RuntimeError, match="stride 0"):
        dst.copy_(fibril.Array.full((4, 3), 1.0))


@pytest.mark.parametrize("src_shape", [(4,), (3, 2), (1, 2, 3)])
def test_copy_shape_mismatch_is_value_error(src_shape):
    shape_text = ", ".join(map(str, src_shape))
    with pytest.raises(ValueError, match=rf"\[{shape_text}\].*\[2, 3\]"):
        fibril.Array.empty((2, 3)).copy_(fibril.Array.empty(src_shape))


# ------------------------------------------------------------------------------- fill_


@pytest.mark.parametrize("value", [2**62, -(2**62), 2**62 + 1, INT64_MAX, INT64_MIN])
def test_fill_int64_is_exact(value):
    assert_same(fibril.Array.full((3,), 0, fibril.int64).fill_(value), np.full(3, value, np.int64))


def test_fill_with_a_numpy_integer_is_exact():
    value = np.int64(2**62 + 1)
    assert_same(fibril.Array.full((3,), 0, fibril.int64).fill_(value), np.full(3, value))


@pytest.mark.parametrize("value, dtype, expected", [
    (2.75, np.int32, 2), (-2.75, np.int64, -2), (float("nan"), np.int32, 0), (-1, np.uint8, 255),
    (256, np.uint8, 0), (300.5, np.uint8, 44), (2**64, np.int64, INT64_MAX), (0.5, np.bool_, True),
    (0, np.bool_, False), (-3, np.bool_, True), (True, np.float32, 1.0), (False, np.int64, 0),
    (2**62 + 1, np.float64, 2.0**62), (1e300, np.float32, np.inf), (-7, np.float64, -7.0),
    (0.1, np.float32, np.float32(0.1)),
])
def test_fill_converts_like_a_cast(value, dtype, expected):
    assert_same(fibril.Array.full((2, 3), 9, dtype).fill_(value), np.full((2, 3), expected, dtype))


@pytest.mark.parametrize("dtype", NP_DTYPES, ids=name)
def test_fill_a_non_contiguous_view_changes_only_the_view(dtype):
    x = np.zeros((5, 6), dtype)
    expected = x.copy()
    expected.T[1::2, 1:] = 1
    array_from_numpy(x).transpose(0, 1).slice(0, 1, None, 2).slice(1, 1).fill_(True)
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("shape", [(), (0,), (3, 0)])
def test_fill_scalars_and_empty_arrays(shape):
    assert_same(fibril.Array.full(shape, 0, fibril.int32).fill_(7), np.full(shape, 7, np.int32))


# ----------------------------------------------------------- threads and portable kernels


def test_results_do_not_depend_on_the_thread_count(num_threads):
    x = sample((1024, 1100), np.float64)
    a, a32 = array_from_numpy(x), array_from_numpy(x.astype(np.float32))
    cases = {  # name: (fibril copy, numpy reference), big enough to be split across threads
        "tiled": (lambda: a.transpose(0, 1).contiguous(), x.T),
        "streaming": (lambda: a32.transpose(0, 1).contiguous(), x.T.astype(np.float32)),
        "cast": (lambda: a.slice(1, 0, None, 2).astype(fibril.int32), reference_cast(x[:, ::2], np.int32)),
        "broadcast": (lambda: fibril.Array.empty((300, 1100)).copy_(a.select(0, 3)),
                      np.broadcast_to(x[3].astype(np.float32), (300, 1100))),
        "fill": (lambda: fibril.Array.full((400, 400), 0, fibril.uint8).slice(1, 1, None, 3).fill_(7),
                 np.full((400, 133), 7, np.uint8)),
    }
    for name, (copy, expected) in cases.items():
        results = []
        for n in (1, 2):
            num_threads(n)
            results.append(np.asarray(copy()))
        np.testing.assert_array_equal(results[0], results[1], err_msg=name)
        np.testing.assert_array_equal(results[0], expected, err_msg=name)


GENERIC = """
import fibril, numpy as np
import test_copy as t
assert fibril.cpu_isa() == "generic", fibril.cpu_isa()
for src in t.NP_DTYPES:
    for dst in t.NP_DTYPES:
        t.test_cast_every_dtype_pair_matches_numpy(src, dst)
    if src in (np.float32, np.float64):
        for dst in t.INT_DTYPES + [np.bool_]:
            t.test_cast_float_specials_follow_the_documented_rule(src, dst)
for dtype in t.TILE_DTYPES:
    for shape in [(9, 65), (257, 63), (1000, 1000)]:
        t.check_permuted_copy(shape, dtype, (1, 0))
    t.check_permuted_copy((3, 65, 130), dtype, (0, 2, 1))
    t.test_copy_from_an_overlapping_transpose(65, dtype)
t.check_permuted_copy((1032, 1100), np.float32, (1, 0))
"""


def test_portable_kernels_match_numpy():
    env = {**os.environ, "FIBRIL_CPU_ISA": "generic"}
    subprocess.run([sys.executable, "-c", GENERIC], env=env, cwd=os.path.dirname(__file__), check=True)


# ------------------------------------------------------------------------------ CUDA
# Copies on "cuda" (a GPU, or the emulator with FIBRIL_CUDA_EMULATOR=1): the converting
# strided copy kernel behind astype, to(dtype), contiguous and copy_ between CUDA arrays.

FROM_NP = {np.dtype(v): k for k, v in DTYPES.items()}


def to_cuda(x):
    return array_from_numpy(np.asarray(x)).to("cuda")


def from_cuda(a):
    assert a.device == "cuda:0"
    return np.asarray(a.to("cpu"))


def cast_sample(dtype, n=37):
    values = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 255.0, 256.0, -129.0, 3e9, -3e9, 1e19, -1e19,
                       np.nan, np.inf, -np.inf], np.float64)
    base = np.concatenate([values, np.linspace(-300, 300, n)])
    if np.dtype(dtype).kind in "iu" or dtype == np.bool_:
        with np.errstate(invalid="ignore"):
            return reference_cast(base, dtype)
    return base.astype(dtype)


@pytest.mark.cuda
@pytest.mark.parametrize("src", NP_DTYPES)
@pytest.mark.parametrize("dst", NP_DTYPES)
def test_cuda_astype_matches_cpu(src, dst):
    x = cast_sample(src)
    want = np.asarray(array_from_numpy(x).astype(FROM_NP[np.dtype(dst)]))
    d = to_cuda(x)
    got = from_cuda(d.astype(FROM_NP[np.dtype(dst)]))
    assert got.dtype == np.dtype(dst)
    np.testing.assert_array_equal(got, want)
    got = from_cuda(d.slice(0, 1).astype(FROM_NP[np.dtype(dst)]))  # misaligned source
    np.testing.assert_array_equal(got, want[1:])
    got = from_cuda(d.slice(0, None, None, 3).astype(FROM_NP[np.dtype(dst)]))  # strided source
    np.testing.assert_array_equal(got, want[::3])


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_cuda_copy_into_strided_views(dtype):
    rng = np.random.default_rng(0)
    base = np.zeros((6, 8), dtype)
    src = (rng.uniform(-50, 50, (8, 3)) > 0) if dtype == np.bool_ else rng.uniform(-50, 50, (8, 3)).astype(dtype)
    dst = to_cuda(base)
    view = dst.transpose(0, 1).slice(1, 1, None, 2)  # (8, 3), strided and transposed
    view.copy_(to_cuda(src.astype(np.float64)))  # converting device -> device
    want = base.copy()
    want.T[:, 1::2] = src
    np.testing.assert_array_equal(from_cuda(dst), want)
    host_src = np.ascontiguousarray(src.astype(np.int32)[:, [2, 0, 1]])
    dst.transpose(0, 1).slice(1, None, None, 2).copy_(array_from_numpy(host_src))
    want.T[:, ::2] = host_src.astype(dtype)
    np.testing.assert_array_equal(from_cuda(dst), want)  # host -> strided device
    bc = to_cuda(np.arange(8, dtype=np.float32).reshape(8, 1))
    dst.transpose(0, 1).slice(1, 0, 2).copy_(bc)  # a broadcast source
    want.T[:, 0:2] = np.arange(8).reshape(8, 1).astype(dtype)
    np.testing.assert_array_equal(from_cuda(dst), want)


@pytest.mark.cuda
def test_cuda_contiguous_fill_and_tensor_to():
    x = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    d = to_cuda(x)
    t = d.transpose(0, 2)
    np.testing.assert_array_equal(from_cuda(t.contiguous()), x.transpose(2, 1, 0))
    v = d.slice(1, 1, 3).slice(2, None, None, 2)
    v.fill_(-1.5)
    want = x.copy()
    want[:, 1:3, ::2] = -1.5
    np.testing.assert_array_equal(from_cuda(d), want)
    tt = fibril.tensor(x, device="cuda")
    for dtype in (fibril.float64, fibril.int32, fibril.bool):
        got = tt.to(dtype)
        assert got.device == "cuda:0" and got.dtype == dtype
        np.testing.assert_array_equal(got.to("cpu").numpy(), x.astype(DTYPES[dtype]))
    e = to_cuda(np.zeros((0, 3), np.float32)).astype(fibril.int64)
    assert from_cuda(e).shape == (0, 3)


@pytest.mark.cuda
def test_cuda_fill_int64_beyond_float_precision():
    big = 2**62 + 1
    a = fibril.Array.full((5,), big, fibril.int64, "cuda")
    np.testing.assert_array_equal(from_cuda(a), np.full(5, big, np.int64))
    a.slice(0, None, None, 2).fill_(-big)
    np.testing.assert_array_equal(from_cuda(a), np.array([-big, big, -big, big, -big], np.int64))
