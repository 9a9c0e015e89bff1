"""inference_mode against torch.inference_mode: the grad and inference flags inside nested
contexts, as a decorator (with and without parentheses), restored after exceptions, per
thread; and nothing recorded inside."""

import threading

import pytest

import fibril
from fibril.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from fibril.autograd.inference_mode import inference_mode, is_inference_mode_enabled

torch = pytest.importorskip("torch")


def _flags(lib):
    if lib is torch:
        return torch.is_grad_enabled(), torch.is_inference_mode_enabled()
    return is_grad_enabled(), is_inference_mode_enabled()


def _contexts(lib):
    if lib is torch:
        return {"inference": torch.inference_mode, "inference_off": lambda: torch.inference_mode(False),
                "no_grad": torch.no_grad, "enable_grad": torch.enable_grad}
    return {"inference": inference_mode, "inference_off": lambda: inference_mode(False), "no_grad": no_grad,
            "enable_grad": enable_grad}


def _nested_flags(lib, contexts):
    """The flags inside each of `contexts` entered in turn, then after leaving them all."""
    make = _contexts(lib)
    seen = []

    def enter(rest):
        if not rest:
            return
        with make[rest[0]]():
            seen.append(_flags(lib))
            enter(rest[1:])

    enter(contexts)
    seen.append(_flags(lib))
    return seen


@pytest.mark.parametrize("contexts", [
    ["inference"],
    ["inference", "inference_off"],
    ["no_grad", "inference_off"],
    ["inference", "enable_grad", "inference"],
    ["inference", "no_grad", "inference_off", "inference"],
    ["inference_off"],
])
def test_flags_in_nested_contexts_match_torch(contexts):
    assert _nested_flags(fibril, contexts) == _nested_flags(torch, contexts)


def test_nothing_is_recorded_inside():
    x = fibril.ones(3, requires_grad=True)
    with inference_mode():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert (x * 2).requires_grad


def test_decorator_with_and_without_parentheses():
    x = fibril.ones(3, requires_grad=True)

    @inference_mode()
    def doubled(t):
        """doc"""
        return t * 2, is_inference_mode_enabled()

    @inference_mode
    def tripled(t):
        return t * 3, is_inference_mode_enabled()

    @inference_mode(False)
    def recorded(t):
        return t * 4, is_inference_mode_enabled()

    for fn, tracked in ((doubled, False), (tripled, False)):
        out, inside = fn(x)
        assert inside and out.requires_grad is tracked and not is_inference_mode_enabled()
    with inference_mode():
        out, inside = recorded(x)
        assert not inside and out.requires_grad and is_inference_mode_enabled()
    assert doubled.__name__ == "doubled" and doubled.__doc__ == "doc"
    assert inference_mode(True).clone().mode is True and inference_mode(False).clone().mode is False


def test_a_decorated_function_may_recurse():
    @inference_mode()
    def depth(n):
        return [is_inference_mode_enabled()] + (depth(n - 1) if n else [])

    assert depth(3) == [True] * 4
    assert not is_inference_mode_enabled() and is_grad_enabled()


def test_a_decorated_generator_runs_each_step_in_the_mode():
    def make(lib):
        @(inference_mode() if lib is fibril else torch.inference_mode())
        def steps():
            sent = yield _flags(lib)
            yield sent, _flags(lib)

        return steps

    for lib in (fibril, torch):
        gen = make(lib)()
        first = next(gen)
        outside = _flags(lib)
        second = gen.send("x")
        assert (first, outside, second) == ((False, True), (True, False), ("x", (False, True))), lib.__name__


def test_flags_are_restored_after_an_exception():
    with pytest.raises(ValueError):
        with inference_mode():
            raise ValueError
    assert _flags(fibril) == (True, False)


def test_the_flag_is_per_thread():
    seen = []
    with inference_mode():
        thread = threading.Thread(target=lambda: seen.append(is_inference_mode_enabled()))
        thread.start()
        thread.join()
        assert is_inference_mode_enabled()
    assert seen == [False]
