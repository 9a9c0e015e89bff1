"""fractional_max_pool2d/3d (composed from differentiable ops): with torch's _random_samples,
output and indices equal torch's exactly (float32 and float64, unbatched, output_ratio, ties,
NaN, empty output), gradients equal torch's; fibril's own samples give windows of the right
size; the FractionalMaxPool2d/3d modules; bad arguments as torch."""

import numpy as np
import pytest

import fibril
import fibril.nn as nn
import fibril.nn.functional as F
from op_check import check_op, torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")
TF = torch.nn.functional

CASES_2D = [
    ((2, 3, 10, 9), 2, (5, 4)),
    ((1, 2, 17, 13), (3, 2), (6, 11)),
    ((2, 2, 7, 8), 3, (5, 6)),  # the largest output 2-D allows: out + kernel - 1 == size
    ((2, 1, 9, 9), 1, (9, 9)),
    ((3, 2, 8, 8), 2, (1, 1)),
]
CASES_3D = [
    ((2, 2, 7, 8, 9), 2, (3, 4, 5)),
    ((1, 3, 9, 6, 11), (3, 1, 2), (4, 5, 9)),
    ((1, 1, 6, 6, 6), 2, (4, 4, 4)),  # 3-D is strict: out + kernel - 1 < size
]


def _pools(dims):
    return getattr(F, f"fractional_max_pool{dims}d"), getattr(TF, f"fractional_max_pool{dims}d")


def _assert_exact(dims, x, kernel, output_size=None, output_ratio=None, samples=None):
    pool, torch_pool = _pools(dims)
    y, i = pool(fibril.tensor(x), kernel, output_size, output_ratio, True, _random_samples=fibril.tensor(samples))
    yt, it = torch_pool(torch.tensor(x), kernel, output_size, output_ratio, True, _random_samples=torch.tensor(samples))
    assert y.dtype.name == str(yt.dtype).replace("torch.", "") and i.dtype.name == "int64"
    np.testing.assert_array_equal(y.numpy(), yt.numpy())
    np.testing.assert_array_equal(i.numpy(), it.numpy())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dims, shape, kernel, out", [(2,) + c for c in CASES_2D] + [(3,) + c for c in CASES_3D])
def test_torch_samples_give_torch_output_and_indices(dtype, dims, shape, kernel, out):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(dtype)
    plane_shape = shape[:2] + (dims,)
    for samples in (rng.random(plane_shape), np.full(plane_shape, 0.999999), np.zeros(plane_shape)):
        _assert_exact(dims, x, kernel, out, samples=samples.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_interval_formula_in_the_input_precision(dtype):
    """Long rows, where float32's rounding of (i + sample) * alpha moves some window starts
    from where float64 puts them: the starts follow the input's precision, as torch's."""
    rng = np.random.default_rng(0)
    samples = rng.random((1, 64, 2)).astype(dtype)
    x = rng.standard_normal((1, 64, 1, 2407)).astype(dtype)
    _assert_exact(2, x, (1, 2), (1, 1411), samples=samples)
    if dtype == np.float32:  # the case tells the two precisions apart
        y = F.fractional_max_pool2d(fibril.tensor(x), (1, 2), (1, 1411), return_indices=True,
                                    _random_samples=fibril.tensor(samples))[1]
        y64 = F.fractional_max_pool2d(fibril.tensor(x.astype(np.float64)), (1, 2), (1, 1411), return_indices=True,
                                      _random_samples=fibril.tensor(samples.astype(np.float64)))[1]
        assert (y.numpy() != y64.numpy()).any()


def test_unbatched_larger_samples_batch_and_output_ratio():
    rng = np.random.default_rng(4)
    x2, x3 = rng.standard_normal((3, 11, 9)), rng.standard_normal((2, 7, 8, 9))
    _assert_exact(2, x2, 2, (5, 4), samples=rng.random((2, 3, 2)))  # only the first row of samples is read
    _assert_exact(3, x3, 2, (3, 4, 5), samples=rng.random((1, 2, 3)))
    _assert_exact(2, rng.standard_normal((2, 3, 11, 9)), 2, output_ratio=(0.5, 0.7), samples=rng.random((2, 3, 2)))
    _assert_exact(3, rng.standard_normal((1, 2, 8, 9, 10)), (2, 1, 3), output_ratio=0.5, samples=rng.random((1, 2, 3)))


def test_ties_nan_and_inf_like_torch():
    """Few distinct values: torch keeps each window's first maximum; a NaN wins, the last one."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, (2, 3, 9, 10)).astype(np.float64)
    x[0, 0, 2:4, 2:5] = np.nan
    x[0, 1, 4, 3] = np.nan
    x[1, 2] = -np.inf
    _assert_exact(2, x, 3, (4, 5), samples=rng.random((2, 3, 2)))
    x3 = rng.integers(0, 2, (1, 2, 6, 7, 8)).astype(np.float64)
    x3[0, 0, 1:3, 1:3, 1:3] = np.nan
    _assert_exact(3, x3, 2, (3, 4, 5), samples=rng.random((1, 2, 3)))


def test_empty_output_and_batch():
    rng = np.random.default_rng(6)
    _assert_exact(2, rng.standard_normal((2, 3, 6, 7)), 2, (0, 0), samples=rng.random((2, 3, 2)))
    _assert_exact(2, rng.standard_normal((0, 3, 6, 7)), 2, (3, 3), samples=rng.random((0, 3, 2)))
    _assert_exact(3, rng.standard_normal((1, 2, 5, 6, 7)), 2, (0, 2, 3), samples=rng.random((1, 2, 3)))


@pytest.mark.parametrize("dims, shape, kernel, out", [(2,) + c for c in CASES_2D[:3]] + [(3,) + CASES_3D[0]])
def test_gradients_match_torch(dims, shape, kernel, out):
    """Overlapping windows (kernel over the step) sum their gradients at a shared maximum."""
    rng = np.random.default_rng(7)
    samples = rng.random(shape[:2] + (dims,))
    pool, torch_pool = _pools(dims)
    x = rng.integers(0, 4, shape).astype(np.float64)  # ties: the gradient goes where torch sends it
    check_op(lambda t: pool(t, kernel, out, _random_samples=fibril.tensor(samples)),
             lambda t: torch_pool(t, kernel, out, _random_samples=torch.tensor(samples)), [x], gradcheck=False)
    check_op(lambda t: pool(t, kernel, out, _random_samples=fibril.tensor(samples)),
             lambda t: torch_pool(t, kernel, out, _random_samples=torch.tensor(samples)),
             [rng.standard_normal(shape)], atol=1e-12)


def test_fibril_samples_draw_valid_windows():
    """Without _random_samples: windows of kernel size inside the input, each output the max of
    the input at its index; fibril.manual_seed repeats the draw."""
    x = fibril.tensor(np.random.default_rng(8).standard_normal((2, 3, 13, 12)))
    fibril.manual_seed(0)
    y, i = F.fractional_max_pool2d(x, 3, output_ratio=(0.5, 0.5), return_indices=True)
    assert tuple(y.shape) == (2, 3, 6, 6)
    flat = x.numpy().reshape(2, 3, -1)
    picked = np.take_along_axis(flat, i.numpy().reshape(2, 3, -1), -1)
    np.testing.assert_array_equal(picked, y.numpy().reshape(2, 3, -1))
    fibril.manual_seed(0)
    again, _ = F.fractional_max_pool2d_with_indices(x, 3, output_ratio=(0.5, 0.5))
    np.testing.assert_array_equal(again.numpy(), y.numpy())
    y3 = F.fractional_max_pool3d(fibril.randn(3, 8, 9, 10, dtype=fibril.float32), 2, output_size=(4, 5, 6))
    assert tuple(y3.shape) == (3, 4, 5, 6) and y3.dtype == fibril.float32


def test_gradcheck():
    samples = fibril.tensor(np.random.default_rng(9).random((1, 2, 2)))
    x = fibril.tensor(np.random.default_rng(10).standard_normal((1, 2, 7, 6)), requires_grad=True)
    assert fibril.testing.gradcheck(lambda t: F.fractional_max_pool2d(t, 2, (4, 3), _random_samples=samples), [x])


def test_modules_match_torch():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 10, 11))
    samples = rng.random((2, 3, 2))
    module = nn.FractionalMaxPool2d(3, output_ratio=0.5, return_indices=True, _random_samples=fibril.tensor(samples))
    reference = torch.nn.FractionalMaxPool2d(3, output_ratio=0.5, return_indices=True,
                                             _random_samples=torch.tensor(samples))
    for got, want in zip(module(fibril.tensor(x)), reference(torch.tensor(x))):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert repr(module) == repr(reference) == "FractionalMaxPool2d()"
    assert list(module.state_dict()) == list(reference.state_dict()) == ["_random_samples"]
    assert (module.kernel_size, module.output_ratio, module.output_size) == (reference.kernel_size,
                                                                             reference.output_ratio, None)
    x3, samples3 = rng.standard_normal((1, 2, 7, 8, 9)), rng.random((1, 2, 3))
    module3 = nn.FractionalMaxPool3d((2, 3, 2), output_size=4, _random_samples=fibril.tensor(samples3))
    reference3 = torch.nn.FractionalMaxPool3d((2, 3, 2), output_size=4, _random_samples=torch.tensor(samples3))
    np.testing.assert_array_equal(module3(fibril.tensor(x3)).numpy(), reference3(torch.tensor(x3)).numpy())
    assert repr(module3) == repr(reference3) and module3.output_size == (4, 4, 4)
    assert nn.FractionalMaxPool2d(2, output_size=3)._random_samples is None


def _same_error(fibril_call, torch_call):
    with pytest.raises(Exception) as want:
        torch_call()
    with pytest.raises(type(want.value)) as got:
        fibril_call()
    assert str(got.value).split("\n")[0] == str(want.value).split("\n")[0]


@pytest.mark.parametrize("dims, shape, kwargs, samples_shape", [
    (2, (2, 3, 7, 8), dict(kernel_size=2), None),
    (2, (2, 3, 7, 8), dict(kernel_size=2, output_size=7), None),
    (2, (2, 3, 7, 8), dict(kernel_size=(2, 3), output_size=(6, 7)), None),
    (2, (2, 3, 7, 8), dict(kernel_size=(2, 3, 4), output_size=3), None),
    (2, (2, 3, 7, 8), dict(kernel_size=2, output_size=(3, 3, 3)), None),
    (2, (2, 3, 7, 8), dict(kernel_size=2, output_ratio=(0.5, 0.5, 0.5)), None),
    (2, (2, 3, 7, 8), dict(kernel_size=2, output_ratio=0.5), None),  # torch takes len() of the float
    (2, (2, 0, 7, 8), dict(kernel_size=2, output_size=3), None),
    (2, (2, 3, 7, 8), dict(kernel_size=2, output_size=3), (1, 3, 2)),
    (2, (2, 3, 7, 8), dict(kernel_size=2, output_size=3), (2, 2, 2)),
    (2, (2, 3, 7, 8), dict(kernel_size=2, output_size=3), (2, 3, 3)),
    (2, (2, 3, 7, 8), dict(kernel_size=2, output_size=3), (2, 3)),
    (2, (8, 9), dict(kernel_size=2, output_size=3), (1, 8, 2)),
    (3, (2, 3, 5, 6, 7), dict(kernel_size=2, output_size=4), None),
    (3, (2, 3, 5, 6, 7), dict(kernel_size=2, output_size=(3, 5, 2)), None),
    (3, (2, 3, 5, 6, 7), dict(kernel_size=2, output_size=(3, 4, 6)), None),
    (3, (2, 3, 5, 6, 7), dict(kernel_size=(2, 2), output_size=2), None),
    (3, (2, 0, 5, 6, 7), dict(kernel_size=2, output_size=2), None),
    (3, (5, 6, 7), dict(kernel_size=2, output_size=2), (1, 5, 3)),
])
def test_bad_arguments_like_torch(dims, shape, kwargs, samples_shape):
    pool, torch_pool = _pools(dims)
    x = np.ones(shape)

    def samples(lib):
        return None if samples_shape is None else lib.tensor(np.full(samples_shape, 0.5))

    _same_error(lambda: pool(fibril.tensor(x), **kwargs, _random_samples=samples(fibril)),
                lambda: torch_pool(torch.tensor(x), **kwargs, _random_samples=samples(torch)))


def test_bad_samples_dtype_and_module_arguments_like_torch():
    x = np.ones((1, 2, 6, 6))
    _same_error(lambda: F.fractional_max_pool2d(fibril.tensor(x), 2, 3, _random_samples=fibril.rand(1, 2, 2)),
                lambda: TF.fractional_max_pool2d(torch.tensor(x), 2, 3, _random_samples=torch.rand(1, 2, 2)))
    for args, kwargs in [((2,), {}), ((2, 3, 0.5), {}), ((2,), dict(output_ratio=1.5)),
                         ((2,), dict(output_ratio=(0.5, 0.0)))]:
        _same_error(lambda: nn.FractionalMaxPool2d(*args, **kwargs),
                    lambda: torch.nn.FractionalMaxPool2d(*args, **kwargs))
    _same_error(lambda: nn.FractionalMaxPool3d(0, output_ratio=0.5),
                lambda: torch.nn.FractionalMaxPool3d(0, output_ratio=0.5))
    with pytest.raises(RuntimeError, match="kernel_size must be greater than 0"):  # torch pools empty windows
        F.fractional_max_pool2d(fibril.tensor(x), 0, 3)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_inputs_pool_their_float32_windows(dtype):
    """numpy has no bfloat16: half samples place the windows through their float32 values."""
    x = fibril.randn(2, 3, 9, 9)
    samples = fibril.rand(2, 3, 2)
    half = getattr(fibril, dtype)
    y = F.fractional_max_pool2d(x.to(half), 2, output_size=4, _random_samples=samples.to(half))
    ref = F.fractional_max_pool2d(x.to(half).float(), 2, output_size=4, _random_samples=samples.to(half).float())
    assert y.dtype == half
    np.testing.assert_array_equal(y.float().numpy(), ref.numpy())
