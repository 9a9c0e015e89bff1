"""autograd.functional (vjp, jvp, jacobian, hessian, vhp, hvp) and gradgradcheck, compared
with torch in float64: values, the nesting of the results, create_graph, strict mode errors."""

import numpy as np
import pytest

import fibril
import fibril.nn.functional as F
from fibril.autograd import functional as AF
from fibril.autograd.gradcheck_second import gradgradcheck
from op_check import torch_one_thread  # noqa: F401  (autouse fixture)

torch = pytest.importorskip("torch")
tF = torch.nn.functional
TAF = torch.autograd.functional

RNG = np.random.default_rng(0)


def _arrays(*shapes):
    return tuple(RNG.uniform(-1, 1, shape) for shape in shapes)


def _tensors(lib, arrays):
    return tuple(lib.tensor(a.copy(), dtype=lib.float64) for a in arrays)


def _assert_same(ours, theirs, requires_grad=False):
    """Same nesting (tuple, list or tensor at each level), shapes, values, and requires_grad."""
    if isinstance(theirs, (tuple, list)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            _assert_same(o, t, requires_grad)
        return
    assert isinstance(ours, fibril.Tensor), type(ours)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert ours.requires_grad == theirs.requires_grad == requires_grad
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-9, atol=1e-11)


def _elementwise(lib, functional):
    return lambda x: x.sin() * x.exp() + x ** 3


def _matmul(lib, functional):
    return lambda x, w: lib.tanh(x @ w) @ w.t()


def _mlp_loss(lib, functional):
    """A two-layer MLP's loss, a function of (input, w1, b1, w2) with a fixed target."""
    target = lib.tensor([[0.5], [-0.25], [1.0]], dtype=lib.float64)
    return lambda x, w1, b1, w2: functional.mse_loss(lib.tanh(functional.linear(x, w1, b1)) @ w2, target)


def _conv2d(lib, functional):
    return lambda x, w: lib.tanh(functional.conv2d(x, w, padding=1))


def _layer_norm(lib, functional):
    return lambda x, w: functional.layer_norm(x, (4,), weight=w) * x


def _softmax(lib, functional):
    return lambda x: functional.softmax(x, 1) * x


# name -> (builder(lib, functional), input shapes)
CASES = {
    "elementwise": (_elementwise, [(2, 3)]),
    "matmul": (_matmul, [(2, 3), (3, 3)]),
    "mlp_loss": (_mlp_loss, [(3, 2), (4, 2), (4,), (4, 1)]),
    "conv2d": (_conv2d, [(1, 1, 3, 3), (2, 1, 2, 2)]),
    "layer_norm": (_layer_norm, [(2, 4), (4,)]),
    "softmax": (_softmax, [(2, 3)]),
}


def _case(name):
    """(fibril function, torch function, fibril inputs, torch inputs, input arrays); the
    inputs are one tensor for a one-argument function, else a tuple."""
    build, shapes = CASES[name]
    arrays = _arrays(*shapes)
    ours, theirs = _tensors(fibril, arrays), _tensors(torch, arrays)
    if len(arrays) == 1:
        ours, theirs = ours[0], theirs[0]
    return build(fibril, F), build(torch, tF), ours, theirs, arrays


def _random_pair(shapes, as_tuple):
    """Fresh random values of the given shapes, as (fibril, torch) tensors or tuples of them."""
    arrays = _arrays(*shapes)
    ours, theirs = _tensors(fibril, arrays), _tensors(torch, arrays)
    return (ours, theirs) if as_tuple else (ours[0], theirs[0])


def _scalar(fn):
    return lambda *args: (fn(*args) ** 2).sum()


@pytest.mark.parametrize("name", sorted(CASES))
def test_vjp_jvp_jacobian_match_torch(name):
    fn, tfn, x, tx, arrays = _case(name)
    out = tfn(*(tx if isinstance(tx, tuple) else (tx,)))
    v_out, tv_out = _random_pair([tuple(out.shape)], False)
    v_in, tv_in = _random_pair([a.shape for a in arrays], isinstance(tx, tuple))
    _assert_same(AF.vjp(fn, x, v_out), TAF.vjp(tfn, tx, tv_out))
    _assert_same(AF.jvp(fn, x, v_in), TAF.jvp(tfn, tx, tv_in))
    _assert_same(AF.jacobian(fn, x), TAF.jacobian(tfn, tx))


@pytest.mark.parametrize("name", sorted(CASES))
def test_hessian_vhp_hvp_match_torch(name):
    fn, tfn, x, tx, arrays = _case(name)
    fn, tfn = _scalar(fn), _scalar(tfn)
    if name == "mlp_loss":  # already a loss: its own Hessian
        fn, tfn = CASES[name][0](fibril, F), CASES[name][0](torch, tF)
    v, tv = _random_pair([a.shape for a in arrays], isinstance(tx, tuple))
    _assert_same(AF.hessian(fn, x), TAF.hessian(tfn, tx))
    _assert_same(AF.vhp(fn, x, v), TAF.vhp(tfn, tx, tv))
    _assert_same(AF.hvp(fn, x, v), TAF.hvp(tfn, tx, tv))


STRUCTURES = {
    "tensor_to_tensor": (lambda x, y: x * y, False, False),
    "tuple_to_tensor": (lambda x, y: x * y, True, False),
    "tensor_to_tuple": (lambda x, y: (x * y, (x * y).sum(), x.exp()), False, True),
    "tuple_to_tuple": (lambda x, y: (x * y, (x * y).sum(), x.exp()), True, True),
}


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_result_nesting_follows_tuple_inputs_and_outputs(name):
    body, tuple_in, tuple_out = STRUCTURES[name]
    a, b = _arrays((3,), (3,))
    results = []
    for lib, functional in ((fibril, AF), (torch, TAF)):
        const = lib.tensor(b.copy())
        x = (lib.tensor(a.copy()), const) if tuple_in else lib.tensor(a.copy())
        fn = (lambda x, y: body(x, y)) if tuple_in else (lambda x: body(x, const))
        out = fn(*(x if tuple_in else (x,)))
        v_out = tuple(o.detach() * 0.5 + 1 for o in out) if tuple_out else out.detach() + 1
        v_in = tuple(t * 0 + 2 for t in x) if tuple_in else x * 0 + 2
        results.append((functional.jacobian(fn, x), functional.vjp(fn, x, v_out), functional.jvp(fn, x, v_in),
                        functional.jacobian(fn, x, vectorize=True),
                        functional.jacobian(fn, x, vectorize=True, strategy="forward-mode")))
    _assert_same(*results)


def test_hessian_of_tuple_inputs_is_a_tuple_of_tuples():
    arrays = _arrays((2,), (3,))
    results = []
    for lib in (fibril, torch):
        fn = lambda x, y: (x.sum() * y.exp()).sum() + (x ** 3).sum()  # noqa: E731
        module = AF if lib is fibril else TAF
        inputs = _tensors(lib, arrays)
        forward = module.hessian(fn, inputs, vectorize=True, outer_jacobian_strategy="forward-mode")
        # torch's forward-over-reverse result keeps a graph to its internal leaves; fibril's none
        results.append((module.hessian(fn, inputs), module.hessian(fn, inputs, vectorize=True),
                        [[h.detach() for h in row] for row in forward]))
    _assert_same(*results)


def test_create_graph_results_can_be_differentiated_again():
    a, w0, v0 = _arrays((3,), (3, 3), (3,))
    results = []
    for lib, module in ((fibril, AF), (torch, TAF)):
        x = lib.tensor(a.copy(), requires_grad=True)
        w = lib.tensor(w0.copy())
        v = lib.tensor(v0.copy())
        fn = lambda t: lib.tanh(w @ t) * t  # noqa: E731
        _, jv = module.jvp(fn, x, v, create_graph=True)
        _, vj = module.vjp(fn, x, v, create_graph=True)
        jac = module.jacobian(fn, x, create_graph=True)
        hess = module.hessian(lambda t: fn(t).sum(), x, create_graph=True)
        _, hv = module.hvp(lambda t: fn(t).sum(), x, v, create_graph=True)
        total = (jv.sum() + (vj ** 2).sum() + jac.sin().sum() + hess.sum() + hv.sum())
        results.append(lib.autograd.grad(total, x))
        for r in (jv, vj, jac, hess, hv):
            assert r.requires_grad
    _assert_same(*results)


def test_results_are_detached_without_create_graph():
    x = fibril.tensor([1.0, 2.0], dtype=fibril.float64, requires_grad=True)
    out, vj = AF.vjp(lambda t: t * t, x, fibril.ones(2, dtype=fibril.float64))
    assert not out.requires_grad and not vj.requires_grad
    assert not AF.hessian(lambda t: (t ** 3).sum(), x).requires_grad
    assert x.grad is None


def test_v_may_be_omitted_for_single_elements():
    results = []
    for lib, module in ((fibril, AF), (torch, TAF)):
        x = lib.tensor([0.7], dtype=lib.float64)
        cube = lambda t: (t ** 3).sum()  # noqa: E731
        results.append((module.vjp(cube, x), module.jvp(lambda t: t.exp() * 2, x), module.vhp(cube, x),
                        module.hvp(cube, x)))
    _assert_same(*results)


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_tensor_the_function_captures_is_not_the_input(create_graph):
    """As torch: the function gets new tensor objects, so x used directly inside it is a
    constant, even when it is the tensor passed as the input."""
    a = _arrays((3,))[0]
    results = []
    for lib, module in ((fibril, AF), (torch, TAF)):
        x = lib.tensor(a.copy(), requires_grad=True)
        jac = module.jacobian(lambda t: t * x, x, create_graph=create_graph)
        results.append(jac.detach())
    _assert_same(*results)
    np.testing.assert_allclose(results[0].numpy(), np.diag(a))


def test_non_differentiable_outputs_and_unused_inputs_give_zeros():
    a = _arrays((3,))[0]
    results = []
    for lib, module in ((fibril, AF), (torch, TAF)):
        x, y = lib.tensor(a.copy()), lib.tensor(a.copy())
        fn = lambda x, y: (x * 2, lib.ones(2, dtype=lib.float64))  # noqa: E731
        ones = (lib.ones(3, dtype=lib.float64), lib.ones(2, dtype=lib.float64))
        results.append((module.vjp(fn, (x, y), ones), module.jvp(fn, (x, y), (x, y)), module.jacobian(fn, (x, y)),
                        module.hessian(lambda x, y: (x * 2).sum(), (x, y)),
                        module.vhp(lambda x, y: (x ** 3).sum(), (x, y), (x, y)),
                        module.hvp(lambda x, y: (x ** 3).sum(), (x, y), (x, y))))
    _assert_same(*results)


def _same_error(ours, theirs):
    """Both calls raise the same exception type with the same message (torch.Size read as fibril.Size)."""
    with pytest.raises(Exception) as expected:
        theirs()
    message = str(expected.value).replace("torch.Size", "fibril.Size")
    with pytest.raises(expected.type) as got:
        ours()
    assert str(got.value) == message


def _both(call):
    """call(lib, module, x, y) for fibril and for torch, x and y two float64 vectors of 3."""
    a, b = _arrays((3,), (3,))

    def run(lib, module):
        return lambda: call(lib, module, lib.tensor(a.copy()), lib.tensor(b.copy()))
    return run(fibril, AF), run(torch, TAF)


ERRORS = {
    "vjp_strict_output_without_grad": lambda lib, m, x, y: m.vjp(lambda t: t.detach(), x, x, strict=True),
    "vjp_strict_unused_input": lambda lib, m, x, y: m.vjp(lambda a, b: a * 2, (x, y), x, strict=True),
    "vjp_v_needed": lambda lib, m, x, y: m.vjp(lambda t: t * 2, x),
    "vjp_v_wrong_length": lambda lib, m, x, y: m.vjp(lambda a, b: (a, b), (x, y), (x,)),
    "vjp_v_single_wanted": lambda lib, m, x, y: m.vjp(lambda t: t * 2, x, (x, y)),
    "vjp_v_wrong_size": lambda lib, m, x, y: m.vjp(lambda t: t * 2, x, x[:2]),
    "vjp_v_entry_wrong_size": lambda lib, m, x, y: m.vjp(lambda a, b: (a, b), (x, y), (x, y[:2])),
    "vjp_list_inputs": lambda lib, m, x, y: m.vjp(lambda t: t, [x], x),
    "vjp_tuple_with_number": lambda lib, m, x, y: m.vjp(lambda a, b: a, (x, 2.0), x),
    "vjp_output_not_tensor": lambda lib, m, x, y: m.vjp(lambda t: [t], x, x),
    "vjp_strict_create_graph_linear": lambda lib, m, x, y: m.vjp(lambda t: t * 2, x, x, create_graph=True,
                                                                 strict=True),
    "jvp_v_needed": lambda lib, m, x, y: m.jvp(lambda t: t * 2, x),
    "jvp_strict_output_without_grad": lambda lib, m, x, y: m.jvp(lambda t: t.detach(), x, x, strict=True),
    "jvp_strict_unused_input": lambda lib, m, x, y: m.jvp(lambda a, b: a * 2, (x, y), (x, y), strict=True),
    "jacobian_strict_unused_input": lambda lib, m, x, y: m.jacobian(lambda a, b: a * 2, (x, y), strict=True),
    "jacobian_strict_create_graph_linear": lambda lib, m, x, y: m.jacobian(lambda t: t * 2, x, create_graph=True,
                                                                           strict=True),
    "jacobian_strict_vectorize": lambda lib, m, x, y: m.jacobian(lambda t: t * 2, x, strict=True, vectorize=True),
    "jacobian_bad_strategy": lambda lib, m, x, y: m.jacobian(lambda t: t, x, strategy="sideways"),
    "jacobian_forward_mode_create_graph": lambda lib, m, x, y: m.jacobian(lambda t: t, x, create_graph=True,
                                                                          strategy="forward-mode"),
    "jacobian_forward_mode_strict": lambda lib, m, x, y: m.jacobian(lambda t: t, x, strict=True,
                                                                    strategy="forward-mode"),
    "jacobian_forward_mode_needs_vectorize": lambda lib, m, x, y: m.jacobian(lambda t: t, x,
                                                                             strategy="forward-mode"),
    "hessian_strict_linear": lambda lib, m, x, y: m.hessian(lambda t: (t * 2).sum(), x, strict=True),
    "hessian_strict_unused_input": lambda lib, m, x, y: m.hessian(lambda a, b: (a ** 3).sum(), (x, y),
                                                                  strict=True),
    "hessian_not_scalar": lambda lib, m, x, y: m.hessian(lambda t: t ** 3, x),
    "hessian_tuple_output": lambda lib, m, x, y: m.hessian(lambda t: ((t ** 3).sum(),), x),
    "hessian_bad_strategy": lambda lib, m, x, y: m.hessian(lambda t: (t ** 3).sum(), x,
                                                           outer_jacobian_strategy="sideways"),
    "hessian_forward_mode_needs_vectorize": lambda lib, m, x, y: m.hessian(lambda t: (t ** 3).sum(), x,
                                                                           outer_jacobian_strategy="forward-mode"),
    "vhp_not_scalar": lambda lib, m, x, y: m.vhp(lambda t: t ** 3, x, x),
    "vhp_tuple_output": lambda lib, m, x, y: m.vhp(lambda t: ((t ** 3).sum(),), x, x),
    "vhp_strict_linear": lambda lib, m, x, y: m.vhp(lambda t: (t * 2).sum(), x, x, strict=True),
    "vhp_strict_quadratic_create_graph": lambda lib, m, x, y: m.vhp(lambda t: (t * t).sum(), x, x, strict=True,
                                                                    create_graph=True),
    "vhp_v_needed": lambda lib, m, x, y: m.vhp(lambda t: (t ** 3).sum(), x),
    "hvp_strict_linear": lambda lib, m, x, y: m.hvp(lambda t: (t * 2).sum(), x, x, strict=True),
    "hvp_not_scalar": lambda lib, m, x, y: m.hvp(lambda t: t ** 3, x, x),
    "hvp_strict_unused_input": lambda lib, m, x, y: m.hvp(lambda a, b: (a ** 3).sum() + (b * 2).sum(), (x, y),
                                                          (x, y), strict=True),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_match_torch(name):
    _same_error(*_both(ERRORS[name]))


def test_grad_mode_of_the_caller_is_kept():
    x = fibril.tensor([1.0, 2.0], dtype=fibril.float64)
    with fibril.no_grad():
        _, jv = AF.jvp(lambda t: t ** 3, x, x)
        jac = AF.jacobian(lambda t: t ** 3, x)
        assert not fibril.is_grad_enabled()
    np.testing.assert_allclose(jv.numpy(), [3.0, 24.0])
    np.testing.assert_allclose(jac.numpy(), np.diag([3.0, 12.0]))
    assert fibril.is_grad_enabled()


# gradgradcheck


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradgradcheck_passes_where_torch_does(name):
    build, shapes = CASES[name]
    arrays = _arrays(*shapes)
    ours = tuple(fibril.tensor(a.copy(), requires_grad=True) for a in arrays)
    theirs = tuple(torch.tensor(a.copy(), requires_grad=True) for a in arrays)
    assert torch.autograd.gradgradcheck(build(torch, tF), theirs)
    assert gradgradcheck(build(fibril, F), ours)
    assert gradgradcheck(build(fibril, F), ours, gen_non_contig_grad_outputs=True)


def test_gradgradcheck_with_given_grad_outputs_and_constant_inputs():
    x, w, g = _arrays((2, 3), (3, 3), (2, 3))
    fn = lambda x, w: (x @ w).sin()  # noqa: E731
    for lib, check in ((torch, torch.autograd.gradgradcheck), (fibril, gradgradcheck)):
        inputs = [lib.tensor(x.copy(), requires_grad=True), lib.tensor(w.copy())]
        assert check(fn, inputs, lib.tensor(g.copy(), requires_grad=True))
        assert check(fn, inputs, [lib.tensor(g.copy())])  # grad_outputs not differentiated


def _wrong_second_derivative(lib):
    """x ** 3 whose backward is right but not differentiable through x (reads a detached x)."""

    class Cube(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x.detach() ** 2

    return Cube.apply


def test_gradgradcheck_catches_a_wrong_second_derivative():
    a = _arrays((3,))[0]
    fn = _wrong_second_derivative(fibril)
    x = fibril.tensor(a.copy(), requires_grad=True)
    assert fibril.testing.gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,), raise_exception=False) is False
    with pytest.raises(AssertionError, match="Jacobian mismatch"):
        gradgradcheck(fn, (x,))
    theirs = _wrong_second_derivative(torch)
    tx = torch.tensor(a.copy(), requires_grad=True)
    assert torch.autograd.gradgradcheck(theirs, (tx,), raise_exception=False) is False


def test_gradgradcheck_random_grad_outputs():
    """As torch.testing.make_tensor: uniform in [-1, 1), requiring grad, non-contiguous when asked."""
    from fibril.autograd.gradcheck_second import _random_like

    out = fibril.zeros(2, 3, dtype=fibril.float64)
    strided = _random_like(out, True)
    assert not strided.is_contiguous() and strided.requires_grad and tuple(strided.shape) == (2, 3)
    values = strided.detach().numpy()
    assert (values >= -1).all() and (values < 1).all() and len(np.unique(values)) == 6
    assert _random_like(out, False).is_contiguous()
    assert _random_like(fibril.zeros(2, dtype=fibril.int64), False).dtype == fibril.float64
