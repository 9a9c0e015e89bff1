"""Higher-order gradients (create_graph=True), compared with torch in float64."""

import numpy as np
import pytest

import fibril
import fibril.nn.functional as F
from fibril import autograd
from op_check import torch_one_thread  # noqa: F401  (autouse fixture)

torch = pytest.importorskip("torch")
tF = torch.nn.functional

RNG = np.random.default_rng(0)


def _pair(array):
    return (fibril.tensor(array.copy(), requires_grad=True),
            torch.tensor(array.copy(), dtype=torch.float64, requires_grad=True))


def _close(ours, theirs, atol=1e-10):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-9, atol=atol)


def _hvp(lib, f, x, v):
    """The Hessian of sum(f(x)) times v, by double backward."""
    (g,) = lib.autograd.grad(f(x).sum(), x, create_graph=True)
    assert g.requires_grad
    (hv,) = lib.autograd.grad(g, x, grad_outputs=v)
    return hv


# (fibril function, torch function), each smooth on the inputs drawn below
ELEMENTWISE = {
    "mul_add": (lambda x: x * x * 3.0 + x, lambda x: x * x * 3.0 + x),
    "div": (lambda x: (x + 2.0) / (x * x + 1.0) - x / 2.0, lambda x: (x + 2.0) / (x * x + 1.0) - x / 2.0),
    "pow": (lambda x: x ** 3, lambda x: x ** 3),
    "exp": (lambda x: x.exp(), lambda x: x.exp()),
    "log": (lambda x: (x * x + 1.0).log(), lambda x: (x * x + 1.0).log()),
    "sin": (lambda x: x.sin(), lambda x: x.sin()),
    "cos": (lambda x: x.cos(), lambda x: x.cos()),
    "tanh": (fibril.tanh, torch.tanh),
    "sigmoid": (fibril.sigmoid, torch.sigmoid),
    "relu": (lambda x: F.relu(x) * x, lambda x: tF.relu(x) * x),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2) * x, lambda x: tF.leaky_relu(x, 0.2) * x),
    "gelu": (F.gelu, tF.gelu),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda x: tF.gelu(x, approximate="tanh")),
    "softplus": (lambda x: F.softplus(x, beta=2.0), lambda x: tF.softplus(x, beta=2.0)),
    "elu": (F.elu, tF.elu),
    "silu": (F.silu, tF.silu),
    "softmax": (lambda x: F.softmax(x, 1) * x, lambda x: tF.softmax(x, 1) * x),
    "log_softmax": (lambda x: F.log_softmax(x, 1) ** 2, lambda x: tF.log_softmax(x, 1) ** 2),
    "var_mean": (lambda x: x.var(1) * x.mean(), lambda x: x.var(1) * x.mean()),
    "norm": (lambda x: x.norm(2, dim=1) ** 3, lambda x: x.norm(2, dim=1) ** 3),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_hessian_vector_product_matches_torch(name):
    ours_fn, torch_fn = ELEMENTWISE[name]
    x, xt = _pair(RNG.uniform(-2, 2, (3, 4)))
    v = RNG.standard_normal((3, 4))
    hv = _hvp(fibril, ours_fn, x, fibril.tensor(v))
    hv_torch = _hvp(torch, torch_fn, xt, torch.tensor(v))
    _close(hv, hv_torch)


def test_third_derivative_of_elementwise_ops():
    x, xt = _pair(RNG.uniform(-1, 1, (5,)))
    grads = []
    for lib, t in ((fibril, x), (torch, xt)):
        y = (t.sin() * t.exp() + t ** 4).sum()
        (g1,) = lib.autograd.grad(y, t, create_graph=True)
        (g2,) = lib.autograd.grad(g1.sum(), t, create_graph=True)
        (g3,) = lib.autograd.grad(g2.sum(), t)
        grads.append((g1, g2, g3))
    for ours, theirs in zip(*grads):
        _close(ours, theirs)


def test_matmul_and_mse_loss_hessian_vector_product():
    a = RNG.standard_normal((4, 3))
    target = RNG.standard_normal((4, 2))
    w0, v = RNG.standard_normal((3, 2)), RNG.standard_normal((3, 2))
    results = []
    for lib, functional in ((fibril, F), (torch, tF)):
        w = lib.tensor(w0.copy(), requires_grad=True) if lib is fibril else \
            torch.tensor(w0.copy(), requires_grad=True)
        loss = functional.mse_loss(lib.tanh(lib.tensor(a) @ w), lib.tensor(target))
        (g,) = lib.autograd.grad(loss, w, create_graph=True)
        (hv,) = lib.autograd.grad((g * lib.tensor(v)).sum(), w)
        results.append((g, hv))
    for ours, theirs in zip(*results):
        _close(ours, theirs)


def _critic(lib, nn):
    return nn.Sequential(nn.Linear(3, 8), nn.LeakyReLU(0.2), nn.Linear(8, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))


def test_wgan_gradient_penalty_matches_torch():
    ours, theirs = _critic(fibril, fibril.nn).double(), _critic(torch, torch.nn).double()
    with torch.no_grad():
        for p, q in zip(ours.parameters(), theirs.parameters()):
            p.data = fibril.tensor(q.detach().numpy().copy())
    x_hat = RNG.standard_normal((6, 3))
    penalties = []
    for lib, model in ((fibril, ours), (torch, theirs)):
        x = lib.tensor(x_hat.copy(), requires_grad=True) if lib is fibril else \
            torch.tensor(x_hat.copy(), requires_grad=True)
        (g,) = lib.autograd.grad(model(x).sum(), x, create_graph=True)
        penalty = ((g.norm(2, dim=1) - 1.0) ** 2).mean() + model(x).mean()
        penalty.backward()
        penalties.append(penalty)
    _close(penalties[0], penalties[1])
    for p, q in zip(ours.parameters(), theirs.parameters()):
        assert p.grad is not None and p.grad.grad_fn is None
        _close(p.grad, q.grad)


@pytest.mark.filterwarnings(r"ignore:Using backward\(\) with create_graph=True")
def test_backward_with_create_graph_keeps_the_graph_in_grad():
    x, xt = _pair(np.array([0.5, -1.5, 2.0]))
    for lib, t in ((fibril, x), (torch, xt)):
        lib.autograd.backward((t ** 3).sum(), create_graph=True)
        assert t.grad.requires_grad
        (second,) = lib.autograd.grad(t.grad.sum(), t)
        t.second = second
    _close(x.grad, xt.grad)
    _close(x.second, xt.second)


def test_plain_grad_has_no_graph():
    x = fibril.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = autograd.grad((x * x).sum(), x)
    assert g.grad_fn is None and not g.requires_grad


def test_grad_outputs_and_allow_unused():
    x, xt = _pair(np.array([0.3, 0.7]))
    unused, unused_t = _pair(np.array([1.0]))
    v = np.array([2.0, -1.0])
    outs = []
    for lib, t, u in ((fibril, x, unused), (torch, xt, unused_t)):
        y = t * t * t
        g, gu = lib.autograd.grad(y, (t, u), grad_outputs=lib.tensor(v), create_graph=True, allow_unused=True)
        assert gu is None
        outs.append(lib.autograd.grad(g.sum(), t)[0])
    _close(outs[0], outs[1])
    with pytest.raises(RuntimeError, match="allow_unused"):
        autograd.grad((x * x).sum(), (x, unused))


def test_retain_graph_defaults_to_create_graph():
    x = fibril.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x.exp() * x).sum()
    autograd.grad(y, x, create_graph=True)
    (again,) = autograd.grad(y, x)  # the graph was kept
    z = (x.exp() * x).sum()
    autograd.grad(z, x)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        autograd.grad(z, x)
    np.testing.assert_allclose(again.numpy(), (np.exp([1.0, 2.0]) * np.array([2.0, 3.0])))


def test_op_without_double_backward_raises_clearly():
    """Also where x is reached only through the incoming gradient (2 y) the backward read."""
    x = fibril.tensor(RNG.standard_normal(5) * 3, requires_grad=True)
    y = F.hardsigmoid(x)
    (g,) = autograd.grad((y ** 2).sum(), x, create_graph=True)
    assert g.requires_grad
    with pytest.raises(RuntimeError, match=r"Activation \(hardsigmoid\) does not support double backward "
                                           r"\(create_graph=True\)"):
        autograd.grad(g.sum(), x)


def test_op_without_double_backward_raises_from_grad_with_allow_unused():
    """A refused second derivative raises, never an unused (zero) gradient."""
    x = fibril.tensor(RNG.standard_normal(4) * 3, requires_grad=True)
    (g,) = autograd.grad(F.hardsigmoid(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="does not support double backward"):
        autograd.grad(g.sum(), x, allow_unused=True)


def test_activation_without_double_backward_names_its_kind():
    x = fibril.tensor(RNG.standard_normal(4) * 3, requires_grad=True)
    (g,) = autograd.grad(F.hardsigmoid(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match=r"Activation \(hardsigmoid\) does not support double backward"):
        g.sum().backward()


@pytest.mark.filterwarnings(r"ignore:Using backward\(\) with create_graph=True")
def test_tensor_backward_takes_create_graph_and_refuses_once_differentiable_ops():
    """Tensor.backward(create_graph=True) as torch's; an op whose backward is not
    differentiable raises when its gradient is differentiated, not a silently wrong second
    derivative."""
    torch = pytest.importorskip("torch")
    for lib in (fibril, torch):
        x = lib.tensor([0.5, 2.0, -1.5], dtype=lib.float64, requires_grad=True)
        (x ** 3).sum().backward(create_graph=True)
        g = x.grad
        x.grad = None
        g.sum().backward()
        if lib is fibril:
            ours = x.grad.numpy()
        else:
            np.testing.assert_allclose(ours, x.grad.numpy())
    x = fibril.tensor([0.5, 2.0], dtype=fibril.float64, requires_grad=True)
    (g,) = fibril.autograd.grad(F.hardsigmoid(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        g.sum().backward()
