"""In-place changes that torch refuses or allows, each program run with fibril and torch: both
raise the same exception (fibril's message naming the same problem), or both give the same
values and gradients. Covered: outputs of functions returning several views (split, chunk,
unbind), writes whose source overlaps the destination in memory, writes into expanded views,
and which tensors backward keeps (the result rather than the input for 1 / y, tan, pow)."""

import re

import numpy as np
import pytest

import fibril
from op_check import torch_one_thread  # noqa: F401 (an autouse fixture)

torch = pytest.importorskip("torch")

PARTIAL_OVERLAP = "some elements of the input tensor and the written-to tensor refer to a single memory location"
INTERNAL_OVERLAP = "more than one element of the written-to tensor refers to a single memory location"
# fibril's kernels refuse a stride-0 destination in these words (outside autograd)
INTERNAL_OVERLAP_IN_FIBRIL = f"{INTERNAL_OVERLAP}|several of its elements share one memory location"
# (words of torch's message, what fibril's message must say of the same problem)
PROBLEMS = [
    ("returns multiple views", "returns multiple views"),
    ("no_grad mode", "created in no_grad mode"),
    ("leaf Variable", "leaf Variable"),
    (PARTIAL_OVERLAP, PARTIAL_OVERLAP),
    (INTERNAL_OVERLAP, INTERNAL_OVERLAP_IN_FIBRIL),
    ("modified by an inplace operation", "modified by an inplace operation"),
]


def outcome(lib, program):
    """(exception, None) if program(lib) raises, else (None, the arrays of what it returns)."""
    try:
        values = program(lib)
    except Exception as e:  # noqa: BLE001 (any exception is compared with torch's)
        return e, None
    return None, [None if v is None else np.array(v.detach().tolist()) for v in values]


def check_like_torch(program):
    error, values = outcome(fibril, program)
    expected_error, expected = outcome(torch, program)
    if expected_error is None:
        assert error is None, f"fibril raised where torch does not: {error!r}"
        assert len(values) == len(expected)
        for got, want in zip(values, expected):
            assert (got is None) == (want is None)
            if want is not None:
                np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
        return
    assert error is not None, f"torch raises {expected_error!r}, fibril does not"
    assert type(error) is type(expected_error), (error, expected_error)
    words = next(fibril_words for torch_words, fibril_words in PROBLEMS if torch_words in str(expected_error))
    assert re.search(words, str(error)), (error, expected_error)


# ------------------------------------------------------------------------------ functions returning several views
# torch refuses in-place changes of the outputs of split, split_with_sizes, chunk and unbind
# under autograd; tensor_split and hsplit/vsplit/dsplit return plain slices, which it allows.
SPLITTERS = {
    "split": lambda t: t.split(2),
    "split_with_sizes": lambda t: t.split([2, 4]),
    "chunk": lambda t: t.chunk(3),
    "unbind": lambda t: t.view(3, 2).unbind(),
    "tensor_split": lambda t: t.tensor_split(3),
    "hsplit": lambda t: t.hsplit(3),
    "vsplit": lambda t: t.view(3, 2).vsplit(3),
    "dsplit": lambda t: t.view(1, 3, 2).dsplit(2),
}


def _leaf(lib):
    return lib.arange(6.0, requires_grad=True)


def _of_a_leaf(lib, pieces):
    pieces(_leaf(lib))[1].mul_(2)
    return []


def _of_a_non_leaf(lib, pieces):
    x = _leaf(lib)
    y = x * 1
    pieces(y)[1].mul_(2)
    (y * y).sum().backward()
    return [y, x.grad]


def _of_a_constant(lib, pieces):
    b = lib.arange(6.0)
    pieces(b)[1].mul_(2)
    return [b]


def _of_a_constant_by_a_variable(lib, pieces):
    b, w = lib.arange(6.0), lib.tensor(3.0, requires_grad=True)
    pieces(b)[1].mul_(w)
    (b * b).sum().backward()
    return [b, w.grad]


def _made_under_no_grad(lib, pieces):
    y = _leaf(lib) * 1
    with lib.no_grad():
        piece = pieces(y)[1]
    piece.mul_(2)
    return [y]


def _changed_under_no_grad_then_used(lib, pieces):
    x = _leaf(lib)
    y = x * 1
    piece = pieces(y)[1]
    with lib.no_grad():
        piece.mul_(2)
    (piece * piece).sum().backward()
    return [y, x.grad]


def _base_changed_then_used(lib, pieces):
    x = _leaf(lib)
    y = x * 1
    piece = pieces(y)[1]
    y.add_(1)
    (piece * piece).sum().backward()
    return [y, x.grad]


def _base_changed_then_used_under_no_grad(lib, pieces):
    y = _leaf(lib) * 1
    piece = pieces(y)[1]
    y.add_(1)
    with lib.no_grad():
        return [piece * 2]


def _view_of_a_piece(lib, pieces):
    x = _leaf(lib)
    y = x * 1
    pieces(y)[1][:1].mul_(2)
    (y * y).sum().backward()
    return [y, x.grad]


def _detached_piece(lib, pieces):
    y = _leaf(lib) * 1
    pieces(y)[1].detach().mul_(2)
    return [y]


def _piece_of_a_detached_base(lib, pieces):
    y, w = _leaf(lib) * 1, lib.tensor(3.0, requires_grad=True)
    base = y.detach()
    pieces(base)[1].mul_(w)
    (base * base).sum().backward()
    return [base, w.grad]


PIECE_PROGRAMS = [_of_a_leaf, _of_a_non_leaf, _of_a_constant, _of_a_constant_by_a_variable, _made_under_no_grad,
                  _changed_under_no_grad_then_used, _base_changed_then_used, _base_changed_then_used_under_no_grad,
                  _view_of_a_piece, _detached_piece, _piece_of_a_detached_base]


@pytest.mark.parametrize("program", PIECE_PROGRAMS, ids=[p.__name__.strip("_") for p in PIECE_PROGRAMS])
@pytest.mark.parametrize("splitter", list(SPLITTERS))
def test_inplace_on_outputs_of_functions_returning_several_views(splitter, program):
    check_like_torch(lambda lib: program(lib, SPLITTERS[splitter]))


def test_several_views_message_names_the_function_and_the_output():
    y = fibril.arange(6.0, requires_grad=True) * 1
    with pytest.raises(RuntimeError, match=r"Output 1 of unbind is a view and is being modified in place\. This "
                                           r"view is the output of a function that returns multiple views"):
        y.view(3, 2).unbind()[1].add_(1)
    pieces = y.chunk(2)
    y.mul_(2)
    with pytest.raises(RuntimeError, match="Output 0 of split is a view and its base or another view of its base "
                                           "has been modified in place"):
        pieces[0].exp()


def test_a_view_refused_after_its_base_changed_still_prints_and_requires_grad():
    for lib in (fibril, torch):
        y = lib.arange(6.0, requires_grad=True) * 1
        first, _ = y.split(3)
        y.add_(1)
        assert first.requires_grad and repr(first) == "tensor([1., 2., 3.], grad_fn=<Invalid>)"
        with pytest.raises(RuntimeError, match="returns multiple views"):
            _ = first.grad_fn


def test_views_under_no_grad_are_marked_whatever_their_base():
    """As torch: a view made under no_grad may not change in place under autograd, also where
    its base did not require grad when it was made."""
    for lib in (fibril, torch):
        b, w = lib.zeros(4), lib.ones(2, requires_grad=True)
        with lib.no_grad():
            view = b[:2]
        b[2:].copy_(w)  # b requires grad from now on
        with pytest.raises(RuntimeError, match="no_grad mode"):
            view.add_(1)
        with lib.no_grad():
            view.add_(1)
        np.testing.assert_array_equal(b.detach().numpy(), [1, 1, 1, 1])


# ------------------------------------------------------------------------------ overlapping source and destination
OVERLAPS = {
    "copy_ shifted right": lambda x: x[1:].copy_(x[:-1]),
    "copy_ shifted left": lambda x: x[:-1].copy_(x[1:]),
    "copy_ disjoint halves": lambda x: x[:3].copy_(x[3:]),
    "copy_ onto itself": lambda x: x.copy_(x),
    "copy_ same memory transposed": lambda x: x.view(2, 3).copy_(x.view(3, 2).t()),
    "copy_ interleaved (too hard to tell)": lambda x: x[::2].copy_(x[1::2]),
    "setitem shifted": lambda x: x.__setitem__(slice(1, None), x[:-1]),
    "setitem disjoint": lambda x: x.__setitem__(slice(0, 2), x[4:]),
    "add_ shifted": lambda x: x[1:].add_(x[:-1]),
    "iadd shifted": lambda x: x[1:].__iadd__(x[:-1]),
    "add_ itself": lambda x: x.add_(x),
    "mul_ by its first element": lambda x: x.mul_(x[0]),
    "sub_ overlapping rows": lambda x: x.view(3, 2)[:2].sub_(x.view(3, 2)[1:]),
    "div_ overlapping columns (not dense: too hard to tell)": lambda x: x.view(2, 3)[:, :2].div_(x.view(2, 3)[:, 1:]),
    "pow_ shifted": lambda x: x[1:].pow_(x[:-1]),
    "clamp_ shifted min": lambda x: x[1:].clamp_(min=x[:-1]),
    "lerp_ shifted": lambda x: x[1:].lerp_(x[:-1], 0.5),
    "addcmul_ shifted": lambda x: x[1:].addcmul_(x[:-1], x[:-1]),
    "hypot_ shifted": lambda x: x[1:].hypot_(x[:-1]),
    "atan2_ shifted": lambda x: x[1:].atan2_(x[:-1]),
    "fill_ with its own element": lambda x: x.fill_(x[0]),
    "sin_": lambda x: x.sin_(),
}


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
@pytest.mark.parametrize("name", list(OVERLAPS))
def test_writes_overlapping_their_source(name, grad):
    change = OVERLAPS[name]

    def program(lib):
        leaf = lib.arange(1.0, 7.0, requires_grad=grad)
        x = leaf * 1 if grad else leaf
        change(x)
        if not grad:
            return [x]
        (x * x).sum().backward()
        return [x, leaf.grad]

    check_like_torch(program)


# ------------------------------------------------------------------------------ writes into expanded views
EXPANDED_WRITES = {
    "add_": lambda e, w: e.add_(1),
    "copy_": lambda e, w: e.copy_(e.detach() + 1),
    "copy_ onto itself": lambda e, w: e.copy_(e),
    "fill_": lambda e, w: e.fill_(5.0),
    "zero_": lambda e, w: e.zero_(),
    "relu_": lambda e, w: e.relu_(),
    "row[0] = 5": lambda e, w: e.__setitem__(0, 5.0),
    "row[0] = w": lambda e, w: e.__setitem__(0, w),
    "[0, 1:] = w": lambda e, w: e.__setitem__((0, slice(1, None)), w),
    "[0, 1] = 5": lambda e, w: e.__setitem__((0, 1), 5.0),
    "[:, 0] = 5": lambda e, w: e.__setitem__((slice(None), 0), 5.0),
    "[:, 0] = w": lambda e, w: e.__setitem__((slice(None), 0), w),
    "[...] = 5": lambda e, w: e.__setitem__(Ellipsis, 5.0),
    "[1:2] = 5": lambda e, w: e.__setitem__(slice(1, 2), 5.0),
    "T[:, 1] = 5": lambda e, w: e.T.__setitem__((slice(None), 1), 5.0),
    "T[0] = 5": lambda e, w: e.T.__setitem__(0, 5.0),
    "[0, [0, 1]] = 5": lambda e, w: e.__setitem__((0, [0, 1]), 5.0),
    "row[0].mul_(w)": lambda e, w: e[0].mul_(w),
    "row[0] += row[1]": lambda e, w: e[0].__iadd__(e[1]),
    "row[0] = row[1]": lambda e, w: e.__setitem__(0, e[1]),
    "[0, 1:] = [1, :3]": lambda e, w: e.__setitem__((0, slice(1, None)), e[1, :3]),
    "[0][mask] = 5": lambda e, w: e[0].__setitem__(e[0].detach() > 2, 5.0),
}
BASES = ["a constant", "a non-leaf", "a constant, written a variable"]


def _expanded_write(change, base):
    def program(lib):
        x = lib.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        w = lib.tensor([5.0], requires_grad=base != "a constant")
        y = x * 1 if base == "a non-leaf" else x.detach().clone()
        e = y.unsqueeze(0).expand(3, 4)
        change(e, w)
        out = (y * lib.arange(4.0)).sum() + (e * lib.arange(12.0).reshape(3, 4)).sum()
        if not out.requires_grad:
            return [y]
        out.backward()
        return [y, x.grad, w.grad]

    return program


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("name", list(EXPANDED_WRITES))
def test_writes_into_expanded_views(name, base):
    check_like_torch(_expanded_write(EXPANDED_WRITES[name], base))


def _expanded_non_leaf(lib):
    lib.manual_seed(0)
    y = lib.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True) * 1
    return y, y.unsqueeze(0).expand(3, 4)


REFUSED_AT_THE_WRITE = {
    "[:, 0] = 5": lambda e: e.__setitem__((slice(None), 0), 5.0),
    "[...] = row": lambda e: e.__setitem__(Ellipsis, e[0].detach() * 2),
    "add_": lambda e: e.add_(1),
    "uniform_": lambda e: e.uniform_(),
    "fill_(tensor)": lambda e: e.fill_(e.new_tensor(5.0)),
}


@pytest.mark.parametrize("name", list(REFUSED_AT_THE_WRITE))
def test_autograd_refuses_writes_into_expanded_views_before_computing_them(name):
    """In torch's words, with nothing computed first (no random numbers drawn either)."""
    for lib in (fibril, torch):
        y, e = _expanded_non_leaf(lib)
        with pytest.raises(RuntimeError, match=INTERNAL_OVERLAP):
            REFUSED_AT_THE_WRITE[name](e)
        assert y._version == 0 if lib is torch else y._version.value == 0
        after = lib.rand(2).tolist()
        lib.manual_seed(0)
        assert lib.rand(2).tolist() == after


REFUSED_AT_BACKWARD = {
    "fill_": (lambda e: e.fill_(5.0), [5.0] * 4),
    "zero_": (lambda e: e.zero_(), [0.0] * 4),
    "copy_ onto itself": (lambda e: e.copy_(e), [1.0, 2.0, 3.0, 4.0]),
}


@pytest.mark.parametrize("name", list(REFUSED_AT_BACKWARD))
def test_autograd_takes_fills_of_expanded_views_but_not_their_backward(name):
    """torch writes a fill (or a copy onto the same elements) into an expanded view, and then
    cannot send the gradient back through it."""
    write, values = REFUSED_AT_BACKWARD[name]
    for lib in (fibril, torch):
        y, e = _expanded_non_leaf(lib)
        write(e)
        assert e.grad_fn is not None and y.tolist() == values
        with pytest.raises(RuntimeError, match=INTERNAL_OVERLAP):
            (e * 2).sum().backward()


def test_random_fill_of_an_expanded_view_raises():
    for lib, words in ((fibril, INTERNAL_OVERLAP_IN_FIBRIL), (torch, INTERNAL_OVERLAP)):
        with pytest.raises(RuntimeError, match=words):
            lib.zeros(1, 4).expand(3, 4).uniform_()


# torch writes these (with a deprecation warning) where fibril's index_put_ and masked copies refuse a
# stride-0 destination; under autograd torch raises at backward, fibril at the write
REFUSED_BY_FIBRIL_ONLY = {
    "[[0]] = 5": lambda e: e.__setitem__([0], 5.0),
    "[mask] = 5": lambda e: e.__setitem__(e.detach() > 2, 5.0),
    "masked_fill_": lambda e: e.masked_fill_(e.detach() > 2, 5.0),
}


@pytest.mark.filterwarnings("ignore:Use of .* on expanded tensors is deprecated:UserWarning")
@pytest.mark.parametrize("name", list(REFUSED_BY_FIBRIL_ONLY))
def test_advanced_writes_into_expanded_views(name):
    write = REFUSED_BY_FIBRIL_ONLY[name]
    with pytest.warns(UserWarning, match="expanded tensors is deprecated"):
        write(torch.tensor([1.0, 2.0, 3.0, 4.0]).expand(3, 4))
    with pytest.raises(RuntimeError, match=INTERNAL_OVERLAP_IN_FIBRIL):
        write(fibril.tensor([1.0, 2.0, 3.0, 4.0]).expand(3, 4))
    _, e = _expanded_non_leaf(torch)
    write(e)
    with pytest.raises(RuntimeError, match=INTERNAL_OVERLAP):
        (e * 2).sum().backward()
    _, e = _expanded_non_leaf(fibril)
    with pytest.raises(RuntimeError, match=INTERNAL_OVERLAP):
        write(e)


# ------------------------------------------------------------------------------ what backward keeps
def _w(lib):
    return lib.tensor([1.5, 2.0, 3.0], requires_grad=True)


KEEPING = {  # op: torch keeps its input (y), or its result, or both
    "1 / y": lambda lib, y: 1 / y,
    "2.5 / y": lambda lib, y: 2.5 / y,
    "y.reciprocal()": lambda lib, y: y.reciprocal(),
    "reciprocal(y)": lambda lib, y: lib.reciprocal(y),
    "w / y": lambda lib, y: _w(lib) / y,
    "exp": lambda lib, y: lib.exp(y),
    "sqrt": lambda lib, y: lib.sqrt(y),
    "rsqrt": lambda lib, y: lib.rsqrt(y),
    "tanh": lambda lib, y: lib.tanh(y),
    "sigmoid": lambda lib, y: lib.sigmoid(y),
    "log": lambda lib, y: lib.log(y),
    "tan": lambda lib, y: lib.tan(y),
    "y ** 2": lambda lib, y: y ** 2,
    "2 ** y": lambda lib, y: 2 ** y,
    "y ** w": lambda lib, y: y ** _w(lib),
    "y ** w.detach()": lambda lib, y: y ** _w(lib).detach(),
    "w ** y": lambda lib, y: _w(lib) ** y,
    "hypot": lambda lib, y: lib.hypot(y, _w(lib)),
}


@pytest.mark.parametrize("changed", ["input", "result"])
@pytest.mark.parametrize("op", list(KEEPING))
def test_backward_keeps_what_torch_keeps(op, changed):
    """Changing in place what backward kept raises at backward; changing what it did not is fine."""

    def program(lib):
        x = lib.tensor([0.5, 1.5, 2.0], requires_grad=True)
        y = x * 1
        z = KEEPING[op](lib, y)
        (y if changed == "input" else z).add_(1)
        z.sum().backward()
        return [z, x.grad]

    check_like_torch(program)


@pytest.mark.parametrize("number", [1, 3, 0.7, -2.5])
def test_number_over_tensor_matches_torch_bitwise(number):
    """torch computes number / y as reciprocal(y) * number, which rounds twice."""
    y = np.random.default_rng(0).uniform(0.1, 10.0, 1000).astype(np.float32)
    np.testing.assert_array_equal((number / fibril.tensor(y)).numpy(), (number / torch.tensor(y)).numpy())
    assert (1 / fibril.tensor([2, 4])).dtype == fibril.float32
