"""Test helpers: gradcheck (finite differences in float64) and assert_close."""

import numpy as np

from .tensor import Tensor

# Default tolerances per dtype name, as torch.testing.assert_close.
_TOLERANCES = {"float32": (1.3e-6, 1e-5), "float64": (1e-7, 1e-7)}


def _numpy(x):
    if isinstance(x, Tensor):
        return np.asarray(x.detach()._data.to("cpu"))
    return np.asarray(x)


def assert_close(actual, expected, rtol=None, atol=None, equal_nan=True, msg=None):
    """Raises AssertionError unless |actual - expected| <= atol + rtol * |expected| elementwise,
    with the shapes equal (no broadcasting) and NaNs in the same places."""
    a, e = _numpy(actual), _numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(f"shape mismatch: {a.shape} vs {e.shape}")
    default = _TOLERANCES.get(a.dtype.name, (0.0, 0.0))
    rtol = default[0] if rtol is None else rtol
    atol = default[1] if atol is None else atol
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=equal_nan, err_msg=msg or "")


def _float_outputs(fn, inputs):
    out = fn(*inputs)
    out = out if isinstance(out, tuple) else (out,)
    return [o for o in out if isinstance(o, Tensor) and o.dtype.is_floating_point]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compares the analytical Jacobian (one backward per output element) with central
    differences, for every float64 input that requires grad; an output that does not require
    grad has a zero analytical Jacobian, as torch's. Returns True or raises."""
    from . import autograd
    from .creation import tensor

    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    for t in diff:
        if t.dtype.name != "float64":
            raise ValueError(f"gradcheck needs float64 inputs for accurate finite differences, got {t.dtype}")
    outputs = _float_outputs(fn, inputs)
    for oi, out in enumerate(outputs):
        n_out = out.numel()
        for ii, t in enumerate(diff):
            analytical = np.zeros((t.numel(), n_out))
            for k in range(n_out if out.requires_grad else 0):
                seed = np.zeros(n_out)
                seed[k] = 1.0
                fresh = _float_outputs(fn, inputs)[oi]
                (g,) = autograd.grad(fresh, t, tensor(seed.reshape(out.shape), dtype=out.dtype),
                                     allow_unused=True)
                if g is not None:
                    analytical[:, k] = _numpy(g).reshape(-1)
            numerical = _numerical_jacobian(fn, inputs, t, oi, n_out, eps)
            if not np.allclose(analytical, numerical, rtol=rtol, atol=atol):
                if not raise_exception:
                    return False
                worst = np.abs(analytical - numerical).max()
                raise AssertionError(
                    f"Jacobian mismatch for output {oi} with respect to input {ii} (max abs diff {worst:.3g})\n"
                    f"numerical:\n{numerical}\nanalytical:\n{analytical}")
    return True


def _numerical_jacobian(fn, inputs, t, oi, n_out, eps):
    from .autograd import no_grad

    data = np.asarray(t._data)  # writes below bypass autograd and the version counter on purpose
    jac = np.zeros((t.numel(), n_out))
    with no_grad():
        for flat, idx in enumerate(np.ndindex(*data.shape)):
            orig = data[idx]
            data[idx] = orig + eps
            plus = _numpy(_float_outputs(fn, inputs)[oi]).astype(np.float64).reshape(-1)
            data[idx] = orig - eps
            minus = _numpy(_float_outputs(fn, inputs)[oi]).astype(np.float64).reshape(-1)
            data[idx] = orig
            jac[flat] = (plus - minus) / (2 * eps)
    return jac
