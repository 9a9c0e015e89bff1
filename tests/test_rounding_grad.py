"""Piecewise-constant ops (floor, ceil, round with and without decimals, trunc/fix, sign/sgn,
div with a rounding mode) are tracked with a zero gradient as in torch; frac has gradient 1;
floor_divide (`//`) is tracked but has no derivative. Values, requires_grad, gradients, the
second derivative through them, in-place forms, and the untracked path."""

import numpy as np
import pytest

import fibril
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")

VALUES = np.array([1.5, -2.3, 0.0, -0.0, 2.5, -0.5, 7.0, 3.25])
UNARY = {
    "floor": lambda L, x: L.floor(x), "ceil": lambda L, x: L.ceil(x), "round": lambda L, x: L.round(x),
    "round_decimals": lambda L, x: L.round(x, decimals=1), "round_tens": lambda L, x: L.round(x, decimals=-1),
    "trunc": lambda L, x: L.trunc(x), "fix": lambda L, x: x.fix(), "frac": lambda L, x: L.frac(x),
    "sign": lambda L, x: L.sign(x), "sgn": lambda L, x: x.sgn(),
    "floor_method": lambda L, x: x.floor(), "sign_method": lambda L, x: x.sign(),
}
DIVISIONS = {
    "div_floor": lambda L, a, b: L.div(a, b, rounding_mode="floor"),
    "div_trunc": lambda L, a, b: L.div(a, b, rounding_mode="trunc"),
    "div_floor_number": lambda L, a, b: L.div(a, 2.0, rounding_mode="floor"),
}


def _leaf(lib, values):
    return lib.tensor(values, dtype=lib.float64, requires_grad=True)


def _np(t):
    return t.detach().numpy(force=True) if isinstance(t, torch.Tensor) else t.detach().numpy()  # torch: ZeroTensors


def _grads(lib, fn, *leaves):
    out = fn(lib, *leaves)
    grads = lib.autograd.grad(out.sum(), leaves, allow_unused=True)
    return out, [None if g is None else _np(g) for g in grads]


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_tracked_with_torch_gradient(name):
    out, (got,) = _grads(fibril, UNARY[name], _leaf(fibril, VALUES))
    ref, (want,) = _grads(torch, UNARY[name], _leaf(torch, VALUES))
    assert out.requires_grad and ref.requires_grad
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", list(DIVISIONS))
def test_rounded_division_tracked_with_zero_gradients(name):
    b = np.array([0.7, 2.0, -1.0, 3.0, -0.4, 0.3, 2.0, -1.5])
    out, got = _grads(fibril, DIVISIONS[name], _leaf(fibril, VALUES), _leaf(fibril, b))
    ref, want = _grads(torch, DIVISIONS[name], _leaf(torch, VALUES), _leaf(torch, b))
    assert out.requires_grad
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
    for g, w in zip(got, want):
        assert (g is None) == (w is None)
        if w is not None:
            np.testing.assert_array_equal(g, w)


def test_broadcast_division_gradient_has_input_shapes():
    a, b = _leaf(fibril, np.ones((3, 1)) * 5.0), _leaf(fibril, np.array([2.0, 3.0]))
    ga, gb = fibril.autograd.grad(fibril.div(a, b, rounding_mode="floor").sum(), (a, b))
    assert ga.shape == (3, 1) and gb.shape == (2,) and not ga.numpy().any() and not gb.numpy().any()


@pytest.mark.parametrize("code", ["a // b", "a // 2.0", "3.0 // a", "L.floor_divide(a, b)"])
def test_floor_divide_is_tracked_without_derivative(code):
    """As torch: the result requires grad, and backward through it raises."""
    for lib in (fibril, torch):
        a, b = _leaf(lib, VALUES[VALUES != 0]), _leaf(lib, np.full((VALUES != 0).sum(), 0.7))
        out = eval(code, {"L": lib, "a": a, "b": b})
        assert out.requires_grad
        with pytest.raises(RuntimeError, match="derivative for .*floor_divide.* is not implemented"):
            out.sum().backward()


def test_zero_gradient_records_no_graph():
    """torch's zeros_like(grad): differentiating the gradient again raises, as torch."""
    for lib in (fibril, torch):
        x = _leaf(lib, VALUES)
        (g,) = lib.autograd.grad(lib.floor(x).sum(), x, create_graph=True)
        assert not g.requires_grad
        with pytest.raises(RuntimeError):
            lib.autograd.grad(g.sum(), x)


@pytest.mark.parametrize("program", [
    lambda L, x: (x * L.floor(x * 3)).sum(),
    lambda L, x: (x ** 2 * L.sign(x - 1)).sum(),
    lambda L, x: (L.round(x, decimals=1) * x.exp()).sum(),
    lambda L, x: (L.frac(x) ** 3).sum(),
    lambda L, x: (x.abs() * L.remainder(x, 0.7)).sum(),
])
def test_second_derivatives_through_rounding_match_torch(program):
    a = np.array([0.37, 1.26, -2.41, 3.77])
    grads = []
    for lib in (fibril, torch):
        x = _leaf(lib, a)
        (g,) = lib.autograd.grad(program(lib, x), x, create_graph=True)
        (gg,) = lib.autograd.grad(g.sum(), x)
        grads.append((_np(g), _np(gg)))
    (g, gg), (want_g, want_gg) = grads
    np.testing.assert_allclose(g, want_g, rtol=1e-12)
    np.testing.assert_allclose(gg, want_gg, rtol=1e-12)


def test_remainder_divisor_gradient_differentiates_twice():
    """remainder's gradient in b is -floor(a / b) (div's floor, not floor_divide, which raises)."""
    results = []
    for lib in (fibril, torch):
        a, b = _leaf(lib, [5.3, -2.2]), _leaf(lib, [1.1, 0.9])
        (gb,) = lib.autograd.grad(lib.remainder(a * b, b).sum(), b, create_graph=True)
        (gg,) = lib.autograd.grad(gb.sum(), a)
        results.append((_np(gb), _np(gg)))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12)


@pytest.mark.parametrize("method", ["floor_", "ceil_", "round_", "trunc_", "sign_", "fix_", "sgn_"])
def test_inplace_forms_are_tracked(method):
    for lib in (fibril, torch):
        x = _leaf(lib, VALUES)
        y = x * 1.5
        getattr(y, method)()
        assert y.requires_grad
        (g,) = lib.autograd.grad(y.sum(), x)
        assert not _np(g).any()


def test_untracked_inputs_give_untracked_results():
    x = fibril.tensor(VALUES)
    assert not any(f(fibril, x).requires_grad for f in UNARY.values())
    with fibril.no_grad():
        assert not fibril.floor(_leaf(fibril, VALUES)).requires_grad
        assert not (_leaf(fibril, VALUES) // 2.0).requires_grad
    i = fibril.tensor([7, -7, 3])
    assert fibril.floor(i).dtype == fibril.int64 and fibril.sign(i).numpy().tolist() == [1, -1, 1]
    assert fibril.div(i, 2, rounding_mode="trunc").numpy().tolist() == [3, -3, 1]
    assert fibril.div(i, 2, rounding_mode="floor").numpy().tolist() == [3, -4, 1]
