"""Parity with torch found by fuzzing tensor creation, views and conversions: arange's and
linspace/logspace's integer and half-precision rules, range checks of tensor(), size
arguments (numpy ints, size=), full's dtype inference, ravel's copy and mT on 0-D tensors."""

import warnings

import numpy as np
import pytest

import fibril

torch = pytest.importorskip("torch")


def _same(code):
    """Evaluates code with L as fibril and as torch: the same values and dtype, or both raise."""
    results = []
    for lib in (fibril, torch):
        try:
            out = eval(code, {"L": lib, "np": np})
        except Exception as e:  # compared below: both must raise
            results.append(type(e))
            continue
        results.append((str(out.dtype).split(".")[-1], tuple(out.shape), np.asarray(out.double().tolist())))
    got, want = results
    if isinstance(want, type):
        assert isinstance(got, type), (code, got, want)
    else:
        assert not isinstance(got, type) and got[:2] == want[:2], (code, got, want)
        np.testing.assert_array_equal(got[2], want[2], err_msg=code)


@pytest.mark.parametrize("code", [
    "L.arange(0.1, 2.7, dtype=L.uint8)", "L.arange(2.7, dtype=L.int32)", "L.arange(0.1, 2, 0.1, dtype=L.int32)",
    "L.arange(-2.5, 3, 1.5, dtype=L.uint8)", "L.arange(-2.5, 3, 1.5, dtype=L.int64)", "L.arange(5, 0, -1.5, dtype=L.int64)",
    "L.arange(0, 1, 0.5, dtype=L.int64)", "L.arange(2.7, 2, 1.25)", "L.arange(0.5, 0.2, 0.1, dtype=L.int32)",
    "L.arange(0, 5, dtype=L.bool)", "L.arange(end=3)", "L.arange(1, end=4)", "L.arange(L.tensor(3.5))",
    "L.arange(0, 10, L.tensor(2))", "L.arange(0, 5, np.float32(1.25))",
])
def test_arange_bounds_step_and_dtype(code):
    _same(code)


@pytest.mark.parametrize("code", [
    "L.linspace(2.7, 0.1, 5, dtype=L.int64)", "L.linspace(-1.5, 0.1, 7, dtype=L.int32)",
    "L.linspace(1, -1, 4, dtype=L.uint8)", "L.linspace(-1.5, 1, 3, dtype=L.uint8)", "L.linspace(0, 5, 7, dtype=L.bfloat16)",
    "L.linspace(0, 5, 7, dtype=L.float16)", "L.linspace(0.3, 1.7, 6, dtype=L.float16)", "L.linspace(0, 1, 3, dtype=L.bool)",
    "L.linspace(0, 1, 1, dtype=L.bool)", "L.linspace(3.7, 1, 1, dtype=L.int64)", "L.linspace(0, 1, L.tensor(3))",
    "L.linspace(0, 1, 2.0)", "L.logspace(1.25, -1.5, 2, dtype=L.int32)", "L.logspace(0, 5, 7, base=2, dtype=L.uint8)",
    "L.logspace(2.7, 0.1, 5, base=2, dtype=L.int64)", "L.logspace(0, 2, 5, base=3, dtype=L.float16)",
    "L.logspace(0, 1, 3, dtype=L.bool)", "L.logspace(2, 3, 1, base=2)", "L.logspace(0.5, 1, 3, base=-2.0)",
])
def test_linspace_logspace_follow_torch_kernels(code):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warnings for NaN/inf results
        _same(code)


@pytest.mark.parametrize("code", [
    "L.tensor([300], dtype=L.uint8)", "L.tensor([-1], dtype=L.uint8)", "L.tensor([-256], dtype=L.uint8)",
    "L.tensor([2.5, -1.0], dtype=L.uint8)", "L.tensor([2**40], dtype=L.int32)", "L.tensor([float('nan')], dtype=L.int64)",
    "L.tensor(float('inf'), dtype=L.int32)", "L.tensor([1e300], dtype=L.float32)", "L.tensor(np.array([300]), dtype=L.uint8)",
    "L.tensor([[1, 2], [3, 4]], dtype=L.int32)",
])
def test_tensor_refuses_python_numbers_out_of_an_integer_dtype(code):
    _same(code)


@pytest.mark.parametrize("code", [
    "L.full((2,), np.True_)", "L.full((2,), L.tensor(True))", "L.full((2,), L.tensor(3, dtype=L.int32))",
    "L.full((2,), L.tensor(2.5, dtype=L.float64))", "L.full((2, 3), 1e10, dtype=L.float16)",
    "L.zeros(size=(2, 3), dtype=L.int32)", "L.ones(size=[2])", "L.zeros((2, np.int64(3)))", "L.ones(np.int32(2), 2)",
    "L.zeros(2, L.tensor(3))", "L.zeros(L.tensor(2))", "L.full((np.int64(2),), 1.5)", "L.zeros((True, 2))",
    "L.tensor([1.0]).new_zeros(np.int64(2))", "L.tril_indices(3, 3, dtype=L.float32)", "L.triu_indices(3, 4, 1, dtype=L.int32)",
])
def test_sizes_and_fill_values(code):
    _same(code)


def test_empty_takes_size_keyword():
    assert fibril.empty(size=(2, 3), dtype=fibril.int32).shape == (2, 3)
    with pytest.raises(TypeError):
        fibril.zeros(2, size=(3,))


def test_ravel_of_a_non_contiguous_tensor_is_a_contiguous_copy():
    values = np.arange(24.0).reshape(4, 3, 2)
    for lib in (fibril, torch):
        x = lib.tensor(values)[..., ::2]  # flattenable as a strided view, which ravel must not return
        flat = x.ravel()
        flat[0] = 100.0
        assert flat.is_contiguous() and flat.stride() == (1,)
        assert x[0, 0, 0].item() == 0.0
    x = fibril.arange(6.0).reshape(2, 3)
    x.ravel()[0] = 5.0  # a contiguous tensor's ravel is a view
    assert x[0, 0].item() == 5.0


def test_ravel_gradient():
    x = fibril.tensor(np.arange(6.0).reshape(2, 3)).requires_grad_()
    (x.t().ravel() * fibril.arange(6.0, dtype=fibril.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(6.0).reshape(3, 2).T)


def test_mT_of_0d_is_identity_and_of_1d_refused():
    x = fibril.tensor(2.5)
    with pytest.warns(UserWarning):
        y = x.mT
    assert y.shape == () and y.item() == 2.5
    with pytest.raises(RuntimeError):
        fibril.tensor([1.0, 2.0]).mT
    assert fibril.ones(2, 3, 4).mT.shape == (2, 4, 3)
