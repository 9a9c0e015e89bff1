"""out= on fibril's, fibril.linalg's and fibril.special's functions: the values of the call
without it written into out (resized, cast), tuple results, creation functions in out's dtype,
and torch's refusals (a float result into an integer out, a wrong index dtype, autograd)."""

import warnings

import numpy as np
import pytest

import fibril
from fibril.ops.out_arguments import LINALG, SPECIAL, TOP_LEVEL

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
F = fibril


def test_every_listed_function_takes_out():
    for namespace, names in ((fibril, TOP_LEVEL), (fibril.linalg, LINALG), (fibril.special, SPECIAL)):
        for name in names:
            assert hasattr(getattr(namespace, name), "__wrapped__"), name


def _matrix(m, n, seed=0):
    values = np.random.default_rng(seed).standard_normal((m, n)) + 3 * np.eye(m, n)
    return fibril.tensor(values.astype(np.float32))


# Each call passes its keywords (out=) to its outermost function.
CALLS = {
    "exp": lambda x, **kw: F.exp(x, **kw),
    "add_alpha": lambda x, **kw: F.add(x, x, alpha=2, **kw),
    "eq": lambda x, **kw: F.eq(x, 0.5, **kw),
    "where": lambda x, **kw: F.where(x > 0, x, 0.0, **kw),
    "sum_dim": lambda x, **kw: F.sum(x, 1, keepdim=True, **kw),
    "mean": lambda x, **kw: F.mean(x, **kw),
    "argmax": lambda x, **kw: F.argmax(x, 0, **kw),
    "max_dim": lambda x, **kw: F.max(x, 1, **kw),
    "sort": lambda x, **kw: F.sort(x, 0, descending=True, **kw),
    "topk": lambda x, **kw: F.topk(x, 2, **kw),
    "cummax": lambda x, **kw: F.cummax(x, 1, **kw),
    "mm": lambda x, **kw: F.mm(x, x.T, **kw),
    "matmul": lambda x, **kw: F.matmul(x, x, **kw),
    "cat": lambda x, **kw: F.cat([x, x], 1, **kw),
    "stack": lambda x, **kw: F.stack([x, x], **kw),
    "clamp": lambda x, **kw: F.clamp(x, -0.5, 0.5, **kw),
    "tril": lambda x, **kw: F.tril(x, -1, **kw),
    "index_select": lambda x, **kw: F.index_select(x, 1, F.tensor([2, 0]), **kw),
    "nonzero": lambda x, **kw: F.nonzero(x > 0, **kw),
    "linalg_inv": lambda x, **kw: F.linalg.inv(x, **kw),
    "linalg_svd": lambda x, **kw: F.linalg.svd(x, **kw),
    "linalg_vector_norm": lambda x, **kw: F.linalg.vector_norm(x, 3, dim=0, **kw),
    "special_expit": lambda x, **kw: F.special.expit(x, **kw),
    "special_erfcx": lambda x, **kw: F.special.erfcx(x, **kw),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_out_holds_the_result_and_is_returned(call):
    x = _matrix(3, 3)
    want = call(x)
    if isinstance(want, tuple):
        out = tuple(fibril.empty(0, dtype=w.dtype) for w in want)
        got = call(x, out=out)
        assert type(got) is type(want) and all(g is o for g, o in zip(got, out))
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w.numpy())
    else:
        out = fibril.empty(0, dtype=want.dtype)
        assert call(x, out=out) is out
        np.testing.assert_array_equal(out.numpy(), want.numpy())


def test_out_of_another_shape_is_resized_with_torchs_warning():
    x = _matrix(2, 3)
    out = fibril.zeros(5)
    with pytest.warns(UserWarning, match="resized"):
        fibril.exp(x, out=out)
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out.numpy(), np.exp(x.numpy()), rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fibril.exp(x, out=fibril.empty(0))


def test_out_may_be_an_input_or_a_view():
    x = _matrix(3, 3)
    want = (x + x.T).numpy()
    fibril.add(x, x.T, out=x)
    np.testing.assert_array_equal(x.numpy(), want)
    base = fibril.zeros(2, 3)
    fibril.mul(fibril.ones(3), 4, out=base[1])
    np.testing.assert_array_equal(base.numpy(), [[0, 0, 0], [4, 4, 4]])


def test_creation_functions_make_out_dtype_values():
    out = fibril.empty(0, dtype=fibril.int64)
    assert fibril.zeros(2, 3, out=out) is out and out.dtype == fibril.int64 and out.shape == (2, 3)
    floats = fibril.empty(0)
    fibril.arange(5, out=floats)
    np.testing.assert_array_equal(floats.numpy(), np.arange(5.0))
    fibril.linspace(0, 1, 5, out=floats)
    np.testing.assert_allclose(floats.numpy(), np.linspace(0, 1, 5), rtol=1e-6)
    with pytest.raises(RuntimeError, match="does not match"):
        fibril.zeros(2, dtype=fibril.float32, out=out)


def test_refusals():
    x = _matrix(2, 2)
    with pytest.raises(RuntimeError, match="can't be cast"):
        fibril.add(x, x, out=fibril.empty(0, dtype=fibril.int64))
    with pytest.raises(RuntimeError, match="dtype int64"):
        fibril.max(x, 0, out=(fibril.empty(0), fibril.empty(0)))
    with pytest.raises(TypeError, match="tuple of 2"):
        fibril.max(x, 0, out=fibril.empty(0))
    with pytest.raises(TypeError, match="must be Tensor"):
        fibril.exp(x, out=(fibril.empty(0),))
    with pytest.raises(RuntimeError, match="automatic differentiation"):
        fibril.exp(x.requires_grad_(), out=fibril.empty(0))
    with fibril.no_grad():
        fibril.exp(x, out=fibril.empty(0))


@needs_torch
@pytest.mark.parametrize("name, args, out_dtypes", [
    ("add", lambda m: (m.ones(2), 1), ["float64", "int64", "bool", "float16"]),
    ("eq", lambda m: (m.ones(2), 1), ["float32", "bool", "int32"]),
    ("sum", lambda m: (m.ones(2, 2), 0), ["float64", "float16"]),
    ("exp", lambda m: (m.ones(2),), ["float64", "float16", "int64"]),
    ("cat", lambda m: ([m.ones(2), m.zeros(2)],), ["float64", "int64"]),
])
def test_casts_into_out_as_torch(name, args, out_dtypes):
    for dtype in out_dtypes:
        def run(m):
            out = m.empty(0, dtype=getattr(m, dtype))
            try:
                getattr(m, name)(*args(m), out=out)
            except (RuntimeError, TypeError):
                return "refused"
            return out.tolist()

        assert run(fibril) == run(torch), (name, dtype)
