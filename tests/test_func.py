"""fibril.func (grad, grad_and_value, vjp, jvp, jacrev, jacfwd, hessian, functional_call,
vmap) compared with torch.func in float64: values, the structure of the results, composition
of the transforms, and the errors torch raises."""

import numpy as np
import pytest

import fibril
import fibril.func as ff
import fibril.nn.functional as F
from op_check import torch_one_thread  # noqa: F401  (autouse fixture)

torch = pytest.importorskip("torch")
tF = torch.nn.functional
tf = torch.func

RNG = np.random.default_rng(0)


def _pair(*shape):
    """The same random float64 values as a fibril and a torch tensor."""
    a = RNG.uniform(-1, 1, shape)
    return fibril.tensor(a.copy(), dtype=fibril.float64), torch.tensor(a.copy(), dtype=torch.float64)


def _assert_same(ours, theirs):
    """Same pytree structure (tuple, list, dict, tensor at each level), shapes and values."""
    if isinstance(theirs, (tuple, list)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            _assert_same(o, t)
        return
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs)
        for key in theirs:
            _assert_same(ours[key], theirs[key])
        return
    assert isinstance(ours, fibril.Tensor), type(ours)
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-9, atol=1e-11)


def _scalar(lib):
    return lambda x: (lib.sin(x) * lib.exp(x) + x ** 3).sum()


def _two_args(lib):
    return lambda x, w: lib.tanh(x @ w).pow(2).sum()


# ------------------------------------------------------------------------------ grad
def test_grad_of_one_argument():
    x, tx = _pair(4)
    _assert_same(ff.grad(_scalar(fibril))(x), tf.grad(_scalar(torch))(tx))


@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1, 0), -1])
def test_grad_argnums(argnums):
    (x, tx), (w, tw) = _pair(3, 4), _pair(4, 2)
    _assert_same(ff.grad(_two_args(fibril), argnums)(x, w), tf.grad(_two_args(torch), argnums)(tx, tw))


def test_grad_has_aux_and_grad_and_value():
    def f(lib):
        def loss(x, w):
            y = lib.tanh(x @ w)
            return y.sum(), {"y": y}
        return loss

    (x, tx), (w, tw) = _pair(3, 4), _pair(4, 2)
    (g, aux), (tg, taux) = ff.grad(f(fibril), 1, has_aux=True)(x, w), tf.grad(f(torch), 1, has_aux=True)(tx, tw)
    _assert_same(g, tg)
    _assert_same(aux["y"], taux["y"])
    with pytest.raises(RuntimeError, match="Expected tensors, got unsupported type <class 'int'>"):
        ff.grad(lambda x: (x.sum(), 3), has_aux=True)(x)
    (g, (value, aux)) = ff.grad_and_value(f(fibril), (0, 1), has_aux=True)(x, w)
    (tg, (tvalue, taux)) = tf.grad_and_value(f(torch), (0, 1), has_aux=True)(tx, tw)
    _assert_same((g, value, aux["y"]), (tg, tvalue, taux["y"]))
    _assert_same(ff.grad_and_value(_scalar(fibril))(x), tf.grad_and_value(_scalar(torch))(tx))


def test_grad_of_pytree_argument():
    def f(lib):
        return lambda p, x: (lib.tanh(x @ p["w"] + p["b"]) * p["scale"][0]).sum()

    (w, tw), (b, tb), (s, ts), (x, tx) = _pair(3, 2), _pair(2), _pair(1), _pair(5, 3)
    params, tparams = {"w": w, "b": b, "scale": [s]}, {"w": tw, "b": tb, "scale": [ts]}
    _assert_same(ff.grad(f(fibril))(params, x), tf.grad(f(torch))(tparams, tx))


def test_grad_of_grad_is_the_second_derivative():
    def f(lib):
        return lambda x: lib.sin(x) * x ** 3

    x, tx = _pair()
    _assert_same(ff.grad(ff.grad(f(fibril)))(x), tf.grad(tf.grad(f(torch)))(tx))
    _assert_same(ff.grad(ff.grad(ff.grad(f(fibril))))(x), tf.grad(tf.grad(tf.grad(f(torch))))(tx))
    v, tv = _pair(3)
    _assert_same(ff.grad(lambda x: ff.grad(_scalar(fibril))(x).pow(2).sum())(v),
                 tf.grad(lambda x: tf.grad(_scalar(torch))(x).pow(2).sum())(tv))


def test_grad_keeps_only_the_graph_from_outside():
    """As torch: no graph left on the result of inputs that did not require grad, the graph kept
    to an input (or a captured tensor) that did."""
    x, tx = _pair(3)
    assert not ff.grad(_scalar(fibril))(x).requires_grad
    w = x.detach().requires_grad_(True)
    tw = tx.detach().requires_grad_(True)
    g = ff.grad(lambda v: (v * w).pow(2).sum())(x)
    tg = tf.grad(lambda v: (v * tw).pow(2).sum())(tx)
    assert g.requires_grad and tg.requires_grad
    g.sum().backward()
    tg.sum().backward()
    _assert_same(w.grad, tw.grad)
    with fibril.no_grad():
        assert not ff.grad(_scalar(fibril))(w).requires_grad


def test_grad_errors():
    x, _ = _pair(3)
    with pytest.raises(RuntimeError, match="Expected f\\(\\*args\\) to return a scalar Tensor, got tensor with 1"):
        ff.grad(lambda x: x * 2)(x)
    with pytest.raises(RuntimeError, match="Expected f\\(\\*args\\) to return a Tensor"):
        ff.grad(lambda x: 1.0)(x)
    with pytest.raises(RuntimeError, match="output of function f should be a tuple"):
        ff.grad(lambda x: x.sum(), has_aux=True)(x)
    with pytest.raises(RuntimeError, match="Got argnum=2, but only 1 positional inputs"):
        ff.grad(lambda x: x.sum(), argnums=2)(x)
    with pytest.raises(RuntimeError, match="argnums elements must be unique"):
        ff.grad(lambda x, y: x.sum(), argnums=(0, -2))(x, x)
    with pytest.raises(ValueError, match="must be Tensor"):
        ff.grad(lambda x: x[0].sum())((x, 1.0))


def test_grad_of_an_unused_argument_is_zero():
    (x, tx), (y, ty) = _pair(3), _pair(2)
    _assert_same(ff.grad(lambda x, y: x.sum(), (0, 1))(x, y), tf.grad(lambda x, y: x.sum(), (0, 1))(tx, ty))


# ------------------------------------------------------------------------------ vjp, jvp
def _outputs(lib):
    return lambda x, w: (lib.tanh(x @ w), (x ** 2).sum(1))


def test_vjp():
    (x, tx), (w, tw), (u, tu), (v, tv) = _pair(3, 4), _pair(4, 2), _pair(3, 2), _pair(3)
    out, vjp_fn = ff.vjp(_outputs(fibril), x, w)
    tout, tvjp_fn = tf.vjp(_outputs(torch), tx, tw)
    _assert_same(out, tout)
    _assert_same(vjp_fn((u, v)), tvjp_fn((tu, tv)))
    out, vjp_fn, aux = ff.vjp(lambda x: (x.sin(), x.cos()), x, has_aux=True)
    tout, tvjp_fn, taux = tf.vjp(lambda x: (x.sin(), x.cos()), tx, has_aux=True)
    _assert_same((out, aux), (tout, taux))
    _assert_same(vjp_fn(x), tvjp_fn(tx))
    with pytest.raises(RuntimeError, match="Expected pytree structure of cotangents"):
        ff.vjp(_outputs(fibril), x, w)[1](u)


def test_jvp():
    (x, tx), (w, tw), (dx, tdx), (dw, tdw) = _pair(3, 4), _pair(4, 2), _pair(3, 4), _pair(4, 2)
    _assert_same(ff.jvp(_outputs(fibril), (x, w), (dx, dw)), tf.jvp(_outputs(torch), (tx, tw), (tdx, tdw)))
    result = ff.jvp(lambda x: (x.exp(), x.sum()), (x,), (dx,), has_aux=True)
    tresult = tf.jvp(lambda x: (x.exp(), x.sum()), (tx,), (tdx,), has_aux=True)
    _assert_same(result, tresult)
    # an output independent of the inputs has a zero tangent
    _assert_same(ff.jvp(lambda x: x.new_ones(2), (x,), (dx,)), tf.jvp(lambda x: x.new_ones(2), (tx,), (tdx,)))
    with pytest.raises(RuntimeError, match="Expected primals to be a tuple"):
        ff.jvp(_scalar(fibril), x, dx)
    with pytest.raises(RuntimeError, match="same python structure"):
        ff.jvp(_outputs(fibril), (x, w), (dx,))


# ------------------------------------------------------------------------------ Jacobians
@pytest.mark.parametrize("transform", ["jacrev", "jacfwd"])
@pytest.mark.parametrize("argnums", [0, 1, (0, 1)])
def test_jacobians(transform, argnums):
    (x, tx), (w, tw) = _pair(3, 4), _pair(4, 2)
    ours = getattr(ff, transform)(_outputs(fibril), argnums)(x, w)
    _assert_same(ours, getattr(tf, transform)(_outputs(torch), argnums)(tx, tw))


def test_jacobian_has_aux_and_composition():
    x, tx = _pair(3)
    ours = ff.jacrev(lambda x: (x.sin() * x.sum(), x.cos()), has_aux=True)(x)
    _assert_same(ours, tf.jacrev(lambda x: (x.sin() * x.sum(), x.cos()), has_aux=True)(tx))
    ours = ff.jacfwd(lambda x: (x.exp(), {"s": x.sum()}), has_aux=True)(x)
    _assert_same(ours, tf.jacfwd(lambda x: (x.exp(), {"s": x.sum()}), has_aux=True)(tx))
    _assert_same(ff.jacrev(ff.jacrev(lambda x: x.sin() * x.prod()))(x),
                 tf.jacrev(tf.jacrev(lambda x: x.sin() * x.prod()))(tx))


@pytest.mark.parametrize("argnums", [0, (0, 1)])
def test_hessian(argnums):
    (x, tx), (w, tw) = _pair(3, 4), _pair(4, 2)
    _assert_same(ff.hessian(_two_args(fibril), argnums)(x, w), tf.hessian(_two_args(torch), argnums)(tx, tw))


def test_jacobian_errors():
    x, _ = _pair(3)
    with pytest.raises(ValueError, match="chunk_size` should be greater than 0"):
        ff.jacrev(_scalar(fibril), chunk_size=0)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        ff.jacfwd(lambda x: x * fibril.rand(3, dtype=fibril.float64))(x)
    with pytest.raises(RuntimeError, match="Only allowed values for randomness"):
        ff.jacfwd(_scalar(fibril), randomness="bad")
    _assert_same(ff.jacrev(_scalar(fibril), chunk_size=2)(x), ff.jacrev(_scalar(fibril))(x))


# ------------------------------------------------------------------------------ functional_call
def _modules():
    torch_module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    module = fibril.nn.Sequential(fibril.nn.Linear(3, 4), fibril.nn.Tanh(), fibril.nn.Linear(4, 2))
    params = {name: fibril.tensor(p.detach().numpy().copy(), dtype=fibril.float64)
              for name, p in torch_module.named_parameters()}
    return module, params, torch_module, {name: p.detach() for name, p in torch_module.named_parameters()}


def test_functional_call():
    module, params, torch_module, tparams = _modules()
    x, tx = _pair(5, 3)
    _assert_same(ff.functional_call(module, params, (x,)), tf.functional_call(torch_module, tparams, (tx,)))
    first, second = dict(list(params.items())[:2]), dict(list(params.items())[2:])
    _assert_same(ff.functional_call(module, (first, second), x), tf.functional_call(torch_module, tparams, tx))
    assert module[0].weight.dtype == fibril.float32  # the module's own parameters are back
    with pytest.raises(ValueError, match="appeared in multiple dictionaries"):
        ff.functional_call(module, (params, first), x)
    with pytest.raises(ValueError, match="Expected parameter_and_buffer_dicts to be a dict"):
        ff.functional_call(module, 3, x)


def test_grad_through_functional_call():
    module, params, torch_module, tparams = _modules()
    x, tx = _pair(5, 3)
    ours = ff.grad(lambda p, x: ff.functional_call(module, p, (x,)).pow(2).mean())(params, x)
    theirs = tf.grad(lambda p, x: tf.functional_call(torch_module, p, (x,)).pow(2).mean())(tparams, tx)
    _assert_same(ours, theirs)


# ------------------------------------------------------------------------------ vmap
def test_vmap_in_dims():
    (x, tx), (y, ty), (w, tw) = _pair(4, 3), _pair(3, 4), _pair(3, 2)

    def f(a, b, c):
        return a * b + c.sum()

    _assert_same(ff.vmap(f, in_dims=(0, 1, None))(x, y, w), tf.vmap(f, in_dims=(0, 1, None))(tx, ty, tw))
    _assert_same(ff.vmap(f, in_dims=(-2, -1, None))(x, y, w), tf.vmap(f, in_dims=(-2, -1, None))(tx, ty, tw))
    _assert_same(ff.vmap(lambda a: a.sin())(x), tf.vmap(lambda a: a.sin())(tx))

    def g(p, v):
        return p["a"] @ v[0] + p["b"]

    (a, ta), (b, tb), (v, tv) = _pair(2, 3), _pair(4, 2), _pair(3, 4)
    in_dims = ({"a": None, "b": 0}, [1])
    _assert_same(ff.vmap(g, in_dims)({"a": a, "b": b}, [v]), tf.vmap(g, in_dims)({"a": ta, "b": tb}, [tv]))


def test_vmap_out_dims_and_pytree_outputs():
    (x, tx), (y, ty) = _pair(4, 3), _pair(4, 2)

    def f(a, b):
        return {"outer": a[:, None] * b, "pair": (a.exp(), b)}

    for out_dims in (0, 1, -1, {"outer": 2, "pair": (0, 1)}):
        _assert_same(ff.vmap(f, out_dims=out_dims)(x, y), tf.vmap(f, out_dims=out_dims)(tx, ty))
    _assert_same(ff.vmap(lambda a: (a * 2, y), out_dims=(0, None))(x),
                 tf.vmap(lambda a: (a * 2, ty), out_dims=(0, None))(tx))
    _assert_same(ff.vmap(lambda a: a * 2, out_dims=(1,))(x), tf.vmap(lambda a: a * 2, out_dims=(1,))(tx))
    out_dims = {"outer": 2, "pair": 1}
    _assert_same(ff.vmap(f, out_dims=out_dims)(x, y), tf.vmap(f, out_dims=out_dims)(tx, ty))
    # an output independent of the mapped inputs is repeated along the batch, as torch expands it
    _assert_same(ff.vmap(lambda a: y.sum(0))(x), tf.vmap(lambda a: ty.sum(0))(tx))


def test_vmap_errors():
    (x, _), (y, _) = _pair(4, 3), _pair(5, 3)
    with pytest.raises(ValueError, match=r"same size in the mapped dimension, got sizes \[4, 5\]"):
        ff.vmap(lambda a, b: a + b)(x, y)
    with pytest.raises(ValueError, match=r"expected in_dim to satisfy -2 <= in_dim < 2"):
        ff.vmap(lambda a: a, in_dims=2)(x)
    with pytest.raises(ValueError, match="Expected at least one Tensor to vmap over"):
        ff.vmap(lambda a: a, in_dims=(None,))(x)
    with pytest.raises(ValueError, match="got no inputs"):
        ff.vmap(lambda: x)()
    with pytest.raises(ValueError, match="in_dims is not compatible with the structure"):
        ff.vmap(lambda a, b: a, in_dims=(0, 0, 0))(x, x)
    with pytest.raises(ValueError, match="We cannot vmap over non-Tensor arguments"):
        ff.vmap(lambda a, n: a * n, in_dims=(0, 0))(x, 2)
    with pytest.raises(ValueError, match="must only return Tensors, got type <class 'float'>"):
        ff.vmap(lambda a: 1.0)(x)
    with pytest.raises(ValueError, match="`out_dims` must be an int, None"):
        ff.vmap(lambda a: a, out_dims=("0",))(x)
    with pytest.raises(ValueError, match="expected `in_dims` to be int or a"):
        ff.vmap(lambda a: a, in_dims=[0])(x)
    with pytest.raises(ValueError, match="chunk_size should be None or greater than 0"):
        ff.vmap(lambda a: a, chunk_size=0)
    assert ff.vmap(lambda a, n: a * n, in_dims=(0, None))(x, 2).shape == x.shape


def test_vmap_per_sample_gradients():
    module, params, torch_module, tparams = _modules()
    (x, tx), (y, ty) = _pair(6, 3), _pair(6, 2)

    def loss(lib, functional_call, mse):
        def f(p, xi, yi):
            return mse(functional_call(p, (xi.unsqueeze(0),)), yi.unsqueeze(0))
        return f

    ours_loss = loss(fibril, lambda p, a: ff.functional_call(module, p, a), F.mse_loss)
    torch_loss = loss(torch, lambda p, a: tf.functional_call(torch_module, p, a), tF.mse_loss)
    theirs = tf.vmap(tf.grad(torch_loss), in_dims=(None, 0, 0))(tparams, tx, ty)
    _assert_same(ff.vmap(ff.grad(ours_loss), in_dims=(None, 0, 0))(params, x, y), theirs)
    _assert_same(ff.vmap(ff.grad(ours_loss), in_dims=(None, 0, 0), chunk_size=4)(params, x, y), theirs)


def test_grad_through_vmap_and_nested_vmap():
    (x, tx), (y, ty) = _pair(4, 3), _pair(5, 3)
    _assert_same(ff.vmap(ff.vmap(fibril.dot, (None, 0)), (0, None))(x, y),
                 tf.vmap(tf.vmap(torch.dot, (None, 0)), (0, None))(tx, ty))
    _assert_same(ff.grad(lambda a: ff.vmap(lambda r: r.sin().sum())(a).pow(2).sum())(x),
                 tf.grad(lambda a: tf.vmap(lambda r: r.sin().sum())(a).pow(2).sum())(tx))
    _assert_same(ff.vmap(ff.jacrev(lambda r: r.sin() * r.sum()))(x),
                 tf.vmap(tf.jacrev(lambda r: r.sin() * r.sum()))(tx))


def test_vmap_randomness():
    x = fibril.zeros(5, 3, dtype=fibril.float64)
    same = ff.vmap(lambda a: a + fibril.rand(3, dtype=fibril.float64), randomness="same")(x)
    for row in same[1:]:
        np.testing.assert_array_equal(row.numpy(), same[0].numpy())
    different = ff.vmap(lambda a: a + fibril.rand(3, dtype=fibril.float64), randomness="different")(x)
    assert not np.array_equal(different[0].numpy(), different[1].numpy())
    with pytest.raises(RuntimeError, match="randomness error mode"):
        ff.vmap(lambda a: a + fibril.rand(3))(x)
    with pytest.raises(RuntimeError, match="Only allowed values for randomness"):
        ff.vmap(lambda a: a, randomness="sometimes")(x)


def test_top_level_vmap():
    assert fibril.vmap is ff.vmap
