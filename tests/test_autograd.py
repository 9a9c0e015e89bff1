"""The autograd engine, exercised with custom Functions whose math is numpy (so the engine
is tested apart from any kernel family) and with fibril's view ops."""

import numpy as np
import pytest

import fibril
from fibril.autograd import Function, function
from op_check import check_program, torch


def t64(*shape, seed=0):
    return fibril.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def wrap(arr):
    return fibril.tensor(np.ascontiguousarray(arr))


def npy(t):
    return t.detach().numpy()


class Square(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return wrap(npy(x) ** 2)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return wrap(2 * npy(x) * npy(g))


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return wrap(npy(a) * npy(b))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return (wrap(npy(g) * npy(b)) if ctx.needs_input_grad[0] else None,
                wrap(npy(g) * npy(a)) if ctx.needs_input_grad[1] else None)


class Sum(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return wrap(np.asarray(npy(x).sum()))

    @staticmethod
    def backward(ctx, g):
        return wrap(np.broadcast_to(npy(g), ctx.shape))


class Split2(Function):
    """Two outputs: the first and second half of a 1-d tensor."""

    @staticmethod
    def forward(ctx, x):
        n = x.shape[0] // 2
        return wrap(npy(x)[:n]), wrap(npy(x)[n:])

    @staticmethod
    def backward(ctx, g1, g2):
        return wrap(np.concatenate([npy(g1), npy(g2)]))


def test_chain_rule_and_leaf_gradient():
    x = t64(3, 4)
    Sum.apply(Square.apply(x)).backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * npy(x))
    assert x.is_leaf and x.grad.requires_grad is False


def test_diamond_accumulates_both_paths():
    x = t64(5)
    y = Square.apply(x)
    Sum.apply(Mul.apply(y, y)).backward()  # d(x^4) = 4 x^3
    np.testing.assert_allclose(x.grad.numpy(), 4 * npy(x) ** 3)


def test_gradients_accumulate_across_backward_calls():
    x = t64(4)
    for _ in range(3):
        Sum.apply(Square.apply(x)).backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * npy(x))


def test_shared_gradient_object_is_not_aliased_between_leaves():
    a, b = t64(3, seed=1), t64(3, seed=2)
    out = Mul.apply(a, b)
    out.backward(fibril.ones(3, dtype=fibril.float64))
    assert a.grad.data_ptr() != b.grad.data_ptr()


def test_ten_thousand_step_chain_needs_no_recursion():
    x = t64(2, 3)
    y = x
    for i in range(10_000):
        y = y.reshape(3, 2) if i % 2 == 0 else y.reshape(2, 3)
    Sum.apply(y).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))


def test_backward_twice_needs_retain_graph():
    x = t64(3)
    y = Sum.apply(Square.apply(x))
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * npy(x))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_modifying_a_saved_tensor_raises_at_backward():
    x = t64(3)
    y = Square.apply(x * 1 if False else x.clone())
    saved = y.grad_fn.ctx._saved[0][0]
    with fibril.no_grad():
        saved.fill_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*version 1; expected version 0"):
        Sum.apply(y).backward()


def test_inplace_on_a_leaf_that_requires_grad_raises():
    x = t64(3)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.fill_(0.0)
    with fibril.no_grad():
        x.fill_(0.0)
    assert x._version.value == 1


def test_data_has_its_own_version_counter():
    """x.data changed in place is invisible to autograd's version checks (as torch): the
    backward then reads the new values; detach() shares the counter, so it is checked."""
    x = fibril.tensor([1.0, 2.0, 3.0], requires_grad=True)
    z = (x * x).sum()
    x.data.mul_(2)
    assert x._version.value == 0
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0, 12.0])
    y = x * 1.0
    z = (y * y).sum()
    y.detach().add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()


def test_expanded_view_after_its_base_changed_in_place():
    """An expanded (stride 0) view's history is rebuilt after its base changes in place; its
    gradient sums over the expanded dims (as torch), where the copy into a stride-0 region
    used to raise."""
    x = fibril.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1.0
    z = y.unsqueeze(0).expand(4, 3)
    y.add_(1)
    (z * fibril.arange(12.0).reshape(4, 3)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [18.0, 22.0, 26.0])


def test_views_share_the_version_counter():
    x = fibril.zeros(4, 4)
    v = x[1:].transpose(0, 1)
    v.fill_(2.0)
    assert x._version.value == 1
    np.testing.assert_array_equal(npy(x)[1:], 2.0)
    assert npy(x)[0].sum() == 0


def test_implicit_gradient_only_for_scalars():
    x = t64(3)
    with pytest.raises(RuntimeError, match="implicitly created only for scalar"):
        Square.apply(x).backward()
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        Square.apply(x).backward(fibril.ones(4, dtype=fibril.float64))
    with pytest.raises(RuntimeError, match="does not require grad"):
        fibril.ones(1).backward()


def test_grad_mode_is_per_thread():
    import threading
    seen = {}

    def other():
        seen["enabled"] = fibril.is_grad_enabled()
        with fibril.no_grad():
            seen["inside"] = fibril.is_grad_enabled()

    with fibril.no_grad():
        worker = threading.Thread(target=other)
        worker.start()
        worker.join()
        assert not fibril.is_grad_enabled()  # the other thread's no_grad did not leak here
    assert seen == {"enabled": True, "inside": False}
    assert fibril.is_grad_enabled()


def test_no_grad_enable_grad_set_grad_enabled():
    x = t64(3)
    with fibril.no_grad():
        assert not Square.apply(x).requires_grad
        with fibril.enable_grad():
            assert Square.apply(x).requires_grad
    assert Square.apply(x).requires_grad

    @fibril.no_grad()
    def f(t):
        return Square.apply(t)

    assert not f(x).requires_grad
    fibril.set_grad_enabled(False)
    try:
        assert not fibril.is_grad_enabled()
    finally:
        fibril.set_grad_enabled(True)
    with fibril.set_grad_enabled(False):
        assert not fibril.is_grad_enabled()
    assert fibril.is_grad_enabled()


def test_hooks_see_and_replace_gradients():
    x = t64(3)
    seen = []
    handle = x.register_hook(lambda g: seen.append(npy(g).copy()))
    y = Square.apply(x)
    y.register_hook(lambda g: wrap(npy(g) * 10))
    Sum.apply(y).backward()
    np.testing.assert_allclose(x.grad.numpy(), 20 * npy(x))
    np.testing.assert_allclose(seen[0], 20 * npy(x))
    handle.remove()
    x.grad = None
    Sum.apply(Square.apply(x)).backward()
    assert len(seen) == 1
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        fibril.ones(2).register_hook(lambda g: g)


def test_retain_grad_on_non_leaf():
    x = t64(3)
    y = Square.apply(x)
    y.retain_grad()
    Sum.apply(y).backward()
    np.testing.assert_array_equal(y.grad.numpy(), np.ones(3))


def test_autograd_grad_returns_without_accumulating():
    x, w = t64(3, seed=1), t64(3, seed=2)
    y = Sum.apply(Mul.apply(x, w))
    (gx,) = fibril.autograd.grad(y, x, retain_graph=True)
    np.testing.assert_allclose(gx.numpy(), w.detach().numpy())
    assert x.grad is None and w.grad is None
    h = Square.apply(x)
    (gh,) = fibril.autograd.grad(Sum.apply(Mul.apply(h, w)), h)  # a non-leaf input
    np.testing.assert_allclose(gh.numpy(), w.detach().numpy())
    unused = t64(2)
    with pytest.raises(RuntimeError, match="not have been used"):
        fibril.autograd.grad(y, [x, unused], retain_graph=True)
    assert fibril.autograd.grad(y, [x, unused], allow_unused=True)[1] is None


def test_multiple_outputs_and_unused_output():
    x = t64(6)
    first, second = Split2.apply(x)
    Sum.apply(Square.apply(first)).backward()  # `second` never used: its grad is materialized as zeros
    expected = np.r_[2 * npy(x)[:3], np.zeros(3)]
    np.testing.assert_allclose(x.grad.numpy(), expected)


def test_requires_grad_rules():
    with pytest.raises(RuntimeError, match="floating point"):
        fibril.zeros(3, dtype=fibril.int64).requires_grad_()
    y = Square.apply(t64(2))
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad = False
    d = y.detach()
    assert not d.requires_grad and d.data_ptr() == y.data_ptr()
    with pytest.raises(RuntimeError, match="numpy"):
        y.numpy()


def test_gradcheck_accepts_right_and_rejects_wrong_backward():
    class WrongSquare(Square):
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return wrap(3 * npy(x) * npy(g))

    x = t64(2, 3)
    assert fibril.testing.gradcheck(Square.apply, [x])
    with pytest.raises(AssertionError, match="Jacobian mismatch"):
        fibril.testing.gradcheck(WrongSquare.apply, [x])
    with pytest.raises(ValueError, match="float64"):
        fibril.testing.gradcheck(Square.apply, [fibril.ones(2, requires_grad=True)])


# ------------------------------------------------------------------------------ in-place changes of views
def _brief(lib, x):
    y = x * 2
    y[0] += 1
    y[:, 1].mul_(3)
    return y


def _view_times_operand(lib, x, w):
    y = x.sin()
    y[1:, ::2].mul_(w)  # mul saved the view's values from before the write
    return y


def _view_op_saving_self(lib, x):
    y = x * 1
    y[:, 0].sin_()
    y.T[2].log_()
    return y


def _views_of_views(lib, x, w):
    y = (x * 2).T  # a transposed view of a contiguous base
    v = y[1:]
    v[:, 1:] += w
    v[0, ::2].mul_(x[0, :2])
    return y * y


def _other_views_see_the_change(lib, x):
    y = x * 0.5
    row, col = y[0], y[:, 1]  # made before the changes: their history is rebuilt from y's
    y[0, 1:] *= 3
    y.sin_()
    return row * col[0] + col.sum()


def _copy_and_fills(lib, x, w):
    y = x * 2
    y[1].copy_(w)
    y[:, 0].fill_(5.0)
    y[2, 2:].zero_()
    return y * x


def _base_without_grad(lib, x, w):
    b = lib.zeros(3, 4, dtype=lib.float64)
    b[1:, 2].add_(w)
    b[0].copy_(w[0] * 3)
    return b * x


INPLACE_PROGRAMS = [(_brief, [(3, 4)]), (_view_times_operand, [(3, 4), (2, 2)]), (_view_op_saving_self, [(3, 4)]),
                    (_views_of_views, [(3, 4), (3, 2)]), (_other_views_see_the_change, [(3, 4)]),
                    (_copy_and_fills, [(3, 4), (4,)]), (_base_without_grad, [(3, 4), (2,)])]


@pytest.mark.parametrize("program, shapes", INPLACE_PROGRAMS, ids=[p.__name__ for p, _ in INPLACE_PROGRAMS])
@pytest.mark.parametrize("transposed", [False, True])
def test_inplace_on_views_matches_torch(program, shapes, transposed):
    layout = (lambda t: t.T.contiguous().T if t.ndim == 2 else t) if transposed else None
    check_program(program, shapes, layout)


def test_inplace_on_a_view_of_a_non_contiguous_base():
    base = np.arange(24.0).reshape(4, 6)[1:, ::2]  # strided memory with an offset: the base's own layout
    for lib in [fibril] + ([torch] if torch is not None else []):
        b = lib.from_numpy(base.copy()[:, :]) if lib is torch else fibril.from_numpy(np.lib.stride_tricks.as_strided(
            np.arange(24.0)[6:], base.shape, base.strides))
        assert lib is torch or not b.is_contiguous()
        w = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        b[1:, 1].mul_(w)
        (b * b).sum().backward()
        np.testing.assert_allclose(w.grad.numpy(), 2 * w.detach().numpy() * base[1:, 1] ** 2)


def test_inplace_on_an_empty_view():
    x = fibril.zeros(0, 3, dtype=fibril.float64, requires_grad=True)
    y = x * 2
    y[:, 1] += 1
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 3)


def test_inplace_on_a_view_of_a_leaf_raises():
    x = t64(3, 4)
    for change in [lambda: x[0].mul_(2), lambda: x.T.fill_(0.0), lambda: x[1:, 2].copy_(fibril.ones(2).double()),
                   lambda: x[0].add_(1)]:
        with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad is being used in an "
                                               "in-place operation"):
            change()
    assert x._version.value == 0
    with fibril.no_grad():
        x[0].mul_(2)
    assert x._version.value == 1


def test_inplace_on_a_view_still_checks_saved_tensors():
    x = t64(3, 4)
    y = x * 2
    z = y * y  # saves y
    y[0] += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()
    y = x * 2
    row = y[1]
    s = row * row  # saves the view
    y[1, :2] *= 3
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        s.sum().backward()


def test_copy_slices_history_names_and_requires_grad():
    b = fibril.zeros(2, 3, dtype=fibril.float64)
    view = b[0]
    assert view._base is b and not view.requires_grad
    w = t64(3)
    view.copy_(w)
    assert b.grad_fn.name() == "CopySlicesBackward0" and b.requires_grad and not b.is_leaf
    assert view.grad_fn.name() == "AsStridedBackward0"
    b.sum().backward()
    np.testing.assert_array_equal(npy(w.grad), np.ones(3))


def test_random_fill_of_a_view_gets_no_gradient():
    x = t64(3, 4)
    y = x * 2
    y[0].uniform_()
    y[1].normal_()
    y.sum().backward()
    np.testing.assert_array_equal(npy(x.grad), [[0] * 4, [0] * 4, [2] * 4])


def test_fill_with_a_tensor_value():
    x = t64(3)
    v = fibril.tensor(1.5, dtype=fibril.float64, requires_grad=True)
    y = x * 2
    y[1:].fill_(v)
    np.testing.assert_array_equal(npy(y)[1:], [1.5, 1.5])
    y.sum().backward()
    np.testing.assert_array_equal(npy(x.grad), [2.0, 0.0, 0.0])
    assert v.grad.item() == 2.0
    with pytest.raises(ValueError, match=r"0-dimensional value tensor, got shape \[1\]"):
        fibril.zeros(3).fill_(fibril.ones(1))


def test_inplace_on_a_view_made_under_no_grad_raises():
    y = t64(2, 3) * 2
    with fibril.no_grad():
        view = y[0]
    with pytest.raises(RuntimeError, match="view created in no_grad mode is being modified in place"):
        view.mul_(3)
    assert y._version.value == 0
    with fibril.no_grad():
        view.mul_(3)
    assert y._version.value == 1


def test_leaf_takes_a_gradient_only_the_engine_holds(monkeypatch):
    """As PyTorch steals it: no copy of a gradient a backward made for one leaf alone; a copy
    of the caller's gradient, of one shared by two leaves, or of one a hook kept."""
    copies = []
    copy = function._copy
    monkeypatch.setattr(function, "_copy", lambda grad: copies.append(1) or copy(grad))
    x, y = fibril.randn(4, 5, requires_grad=True), fibril.randn(4, 5, requires_grad=True)
    fibril.nn.functional.softmax(x, dim=1).backward(fibril.randn(4, 5))
    (y * 2).sum().backward()
    assert not copies
    g = fibril.randn(4, 5)
    x.grad = y.grad = None
    (x + 0).backward(g)
    g.mul_(0)
    assert not x.grad._data.shares_storage(g._data) and npy(x.grad).any()
    x.grad = None
    (x + y).backward(fibril.ones(4, 5) * 3)
    assert not x.grad._data.shares_storage(y.grad._data)
    kept = []
    x.grad = None
    x.register_hook(kept.append)
    (x * 2).sum().backward()
    assert not x.grad._data.shares_storage(kept[0]._data)
    assert len(copies) == 4  # x + 0, both leaves of x + y (the caller's gradient passed through), the hook


def test_retain_grad_runs_after_the_other_hooks_and_once():
    x = fibril.ones(2, requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.retain_grad()
    y.register_hook(lambda g: g * 10)
    y.sum().backward()
    assert y.retains_grad and not x.retains_grad
    np.testing.assert_array_equal(y.grad.numpy(), [10, 10])  # as torch >= 2.0
    np.testing.assert_array_equal(x.grad.numpy(), [20, 20])


def test_detach_in_place_refuses_a_view():
    y = fibril.ones(4, requires_grad=True) * 1
    with pytest.raises(RuntimeError, match="Can't detach views in-place"):
        y[1:3].detach_()


def test_copies_of_a_parameter_drop_its_grad():
    import copy
    import pickle

    p = fibril.nn.Parameter(fibril.ones(2))
    p.grad = fibril.ones(2)
    assert copy.deepcopy(p).grad is None and pickle.loads(pickle.dumps(p)).grad is None
    t = fibril.ones(2, requires_grad=True)
    t.grad = fibril.ones(2)
    assert copy.deepcopy(t).grad is not None  # a plain tensor keeps it, as torch


def test_backward_with_inputs_accumulates_into_those_only():
    """As torch's backward(inputs=...): leaves or not, and the rest of the graph untouched."""
    torch = pytest.importorskip("torch")
    results = []
    for lib in (fibril, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, 4.0], requires_grad=True)
        h = x * w
        out = (h * h).sum()
        out.backward(inputs=[w], retain_graph=True)
        assert x.grad is None
        out.backward(inputs=[h, x])
        results.append([t.grad.numpy() for t in (x, w, h)])
        with pytest.raises(RuntimeError, match="cannot be empty"):
            (x * 2).sum().backward(inputs=[])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs)


def _custom_function_program(lib):
    """torch's custom-Function features: mark_non_differentiable, an input returned unmarked
    (an alias: the input keeps its history), setup_context, mark_dirty."""
    results = []

    class Sort(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            values, order = x.sort()
            ctx.mark_non_differentiable(order)
            ctx.save_for_backward(order)
            return values, order

        @staticmethod
        def backward(ctx, g_values, g_order):
            (order,) = ctx.saved_tensors
            g = lib.zeros_like(g_values)
            g[order] = g_values
            return g

    class Twice(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class Scale(lib.autograd.Function):
        @staticmethod
        def forward(x, k):
            return x * k

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.k = inputs[1]

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None

    class AddOne(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            return x.add_(1)

        @staticmethod
        def backward(ctx, g):
            return g

    x = lib.tensor([3.0, 1.0, 2.0], requires_grad=True)
    values, order = Sort.apply(x)
    (values * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
    results += [order.requires_grad, x.grad.tolist()]
    y = Twice.apply(x)
    x.grad = None
    (y * 3).sum().backward()
    results += [y is x, x.is_leaf, x.grad.tolist()]
    x.grad = None
    Scale.apply(x, 3.0).sum().backward()
    results.append(x.grad.tolist())
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad has been used in an in-place"):
        AddOne.apply(x)
    h = x * 1
    out = AddOne.apply(h)
    x.grad = None
    (out * out).sum().backward()
    results += [out is h, x.grad.tolist()]
    return results


def test_custom_function_features_as_torch():
    torch = pytest.importorskip("torch")
    assert _custom_function_program(fibril) == _custom_function_program(torch)


def test_once_differentiable_decorator_refuses_double_backward():
    from fibril.autograd.function import once_differentiable

    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

    x = fibril.tensor([1.0, 2.0], requires_grad=True)
    (g,) = fibril.autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="Cube does not support double backward"):
        g.sum().backward()


def _badly_shaped_backward(lib, grad_of):
    class Scaled(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * k

        @staticmethod
        def backward(ctx, g):
            return grad_of(g), None

    return Scaled


@pytest.mark.parametrize("case", ["broadcast", "dtype"])
def test_custom_backward_gradients_are_conformed_to_the_inputs_as_torch(case):
    torch = pytest.importorskip("torch")
    grads = []
    for lib in (fibril, torch):
        x = lib.ones(4, requires_grad=True)
        if case == "broadcast":  # a gradient x broadcasts to: summed down to x's shape
            fn = _badly_shaped_backward(lib, lambda g: g.expand(3, 4))
        else:  # another dtype: cast to x's
            fn = _badly_shaped_backward(lib, lambda g: g.double())
        fn.apply(x, 2.0).sum().backward()
        grads.append(x.grad)
    assert str(grads[0].dtype).split(".")[-1] == str(grads[1].dtype).split(".")[-1]
    np.testing.assert_array_equal(grads[0].numpy(), grads[1].numpy())


def test_custom_backward_gradient_errors_as_torch():
    torch = pytest.importorskip("torch")
    for lib in (fibril, torch):
        x = lib.ones(4, requires_grad=True)
        with pytest.raises(RuntimeError, match="invalid gradient at index 0"):
            _badly_shaped_backward(lib, lambda g: lib.ones(5)).apply(x, 2.0).sum().backward()

        class NonTensorGrad(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, k):
                return x * k

            @staticmethod
            def backward(ctx, g):
                return g, g

        with pytest.raises(RuntimeError, match="not a Variable"):
            NonTensorGrad.apply(x, 2.0).sum().backward()
