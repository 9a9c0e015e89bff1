"""Runtime utilities training scripts call: compile, anomaly detection, determinism flags,
print options, the default device, typename, and the Tensor odds and ends (post-accumulate
grad hooks, share_memory_, pin_memory, new, apply_/map_). Compared with torch where it runs."""

import warnings

import numpy as np
import pytest

import fibril
from fibril import printing, runtime
from fibril.autograd import anomaly_mode, detect_anomaly, set_detect_anomaly

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def restore_global_state():
    yield
    printing.set_printoptions(profile="default")
    torch.set_printoptions(profile="default")
    anomaly_mode.set_anomaly_enabled(False)
    runtime.use_deterministic_algorithms(False)
    runtime.set_default_device(None)


# ---------------------------------------------------------------------------------- compile
def test_compile_returns_the_callable_itself_in_every_form():
    def f(x):
        return x * 2

    model = fibril.nn.Linear(2, 2)
    assert runtime.compile(f) is f
    assert runtime.compile(model, mode="max-autotune", fullgraph=True) is model
    assert runtime.compile(f, disable=True) is f

    @runtime.compile
    def g(x):
        return x + 1

    @runtime.compile(dynamic=True, backend="eager")
    def h(x):
        return x - 1

    assert g(fibril.tensor(1.0)).item() == 2.0 and h(fibril.tensor(1.0)).item() == 0.0
    assert h.__name__ == "h"
    with pytest.raises(RuntimeError):
        runtime.compile(3)


# ---------------------------------------------------------------------------------- anomaly detection
def _sqrt_at_zero(lib):
    x = lib.tensor([0.0, 1.0], requires_grad=True)
    return (x.sqrt() * 0).sum()


def _anomaly_error(lib, detect):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with detect(check_nan=True):
            loss = _sqrt_at_zero(lib)
            with pytest.raises(RuntimeError) as error:
                loss.backward()
    return str(error.value), [str(w.message) for w in caught]


def test_anomaly_nan_in_backward_raises_as_torch_and_warns_with_the_forward_traceback():
    message, warned = _anomaly_error(fibril, detect_anomaly)
    torch_message, torch_warned = _anomaly_error(torch, torch.autograd.detect_anomaly)
    assert message == torch_message == "Function 'SqrtBackward0' returned nan values in its 0th output."
    assert warned[0] == torch_warned[0]  # "Anomaly Detection has been enabled. ..."
    error = [w for w in warned if w.startswith("Error detected in SqrtBackward0")]
    assert len(error) == 1
    assert "Traceback of forward call that caused the error:" in error[0]
    assert "_sqrt_at_zero" in error[0] and "x.sqrt()" in error[0]  # the forward's own line


def test_without_anomaly_mode_a_nan_gradient_passes_silently_and_nothing_is_recorded():
    loss = _sqrt_at_zero(fibril)
    assert anomaly_mode.forward_stack(loss.grad_fn) is None
    loss.backward()
    assert "__init__" not in fibril.autograd.FunctionCtx.__dict__


def test_anomaly_check_nan_off_lets_nan_through():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with detect_anomaly(check_nan=False):
            assert anomaly_mode.is_anomaly_enabled() and not anomaly_mode.is_anomaly_check_nan_enabled()
            x = fibril.tensor([0.0, 1.0], requires_grad=True)
            (x.sqrt() * 0).sum().backward()
    assert np.isnan(x.grad.numpy()[0])
    assert not anomaly_mode.is_anomaly_enabled() and anomaly_mode.is_anomaly_check_nan_enabled()


def test_anomaly_mode_names_the_node_whose_backward_raised():
    class Fails(fibril.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            raise ValueError("broken backward")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with set_detect_anomaly(True):
            y = Fails.apply(fibril.ones(2, requires_grad=True)).sum()
        with set_detect_anomaly(True), pytest.raises(ValueError, match="broken backward"):
            y.backward()
    assert any(str(w.message).startswith("Error detected in FailsBackward0. Traceback of forward call")
               for w in caught)


def test_set_detect_anomaly_as_a_call_and_detect_anomaly_as_a_decorator():
    set_detect_anomaly(True, check_nan=False)
    assert anomaly_mode.is_anomaly_enabled() and not anomaly_mode.is_anomaly_check_nan_enabled()
    set_detect_anomaly(False)
    assert not anomaly_mode.is_anomaly_enabled()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        @detect_anomaly()
        def step():
            assert anomaly_mode.is_anomaly_enabled()
            _sqrt_at_zero(fibril).backward()

    with warnings.catch_warnings(), pytest.raises(RuntimeError, match="returned nan values"):
        warnings.simplefilter("ignore")
        step()
    assert not anomaly_mode.is_anomaly_enabled()


# ---------------------------------------------------------------------------------- determinism
def test_determinism_flags_as_torch():
    for mode in (0, 1, 2, "default", "warn", "error"):
        runtime.set_deterministic_debug_mode(mode)
        torch.set_deterministic_debug_mode(mode)
        assert runtime.get_deterministic_debug_mode() == torch.get_deterministic_debug_mode()
        assert runtime.are_deterministic_algorithms_enabled() == torch.are_deterministic_algorithms_enabled()
        assert (runtime.is_deterministic_algorithms_warn_only_enabled()
                == torch.is_deterministic_algorithms_warn_only_enabled())
    torch.use_deterministic_algorithms(False)
    runtime.use_deterministic_algorithms(True, warn_only=True)
    assert runtime.get_deterministic_debug_mode() == 1
    for bad in ("loud", 3):
        with pytest.raises(RuntimeError, match="invalid value of debug_mode"):
            runtime.set_deterministic_debug_mode(bad)


# ---------------------------------------------------------------------------------- print options
_VALUES = [
    [1.0, 2.0, 3.0], [1.5, 2.25, -3.125], [0.0, 1e-5, 1.0], [1e9, 1.0], [[1.0, 2.0], [3.0, 4.0]],
    [float("nan"), 1.5, -float("inf")], [0.0, 0.0], 3.5, [123456.789, 0.001],
    np.arange(2000.0).reshape(40, 50) / 7, np.arange(30.0) / 3, np.arange(1200).reshape(3, 400),
    np.random.default_rng(0).standard_normal((4, 7, 3)),
]
_OPTIONS = [{}, dict(precision=2), dict(threshold=5), dict(sci_mode=True), dict(sci_mode=False),
            dict(edgeitems=1, threshold=10), dict(linewidth=40), dict(profile="short"), dict(edgeitems=0, threshold=3)]


@pytest.mark.parametrize("options", _OPTIONS, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_repr_matches_torch_under_print_options(options, dtype):
    printing.set_printoptions(**options)
    torch.set_printoptions(**options)
    for values in _VALUES:
        values = np.array(values)
        if dtype == "int64" and not np.all(np.isfinite(values)):
            continue
        values = values.astype(dtype)
        assert repr(fibril.tensor(values)) == repr(torch.tensor(values)), values


@pytest.mark.parametrize("make", [
    lambda lib: lib.ones(2, requires_grad=True), lambda lib: lib.ones(2, requires_grad=True) * 2,
    lambda lib: lib.tensor([True, False]), lambda lib: lib.zeros(0), lambda lib: lib.zeros(2, 0),
    lambda lib: lib.tensor(7), lambda lib: lib.tensor([1.5, -2.0], dtype=lib.float16),
    lambda lib: lib.arange(100.0).reshape(10, 10) * 1.37 + lib.zeros(1, requires_grad=True),
])
def test_repr_suffixes_match_torch(make):
    assert repr(make(fibril)) == repr(make(torch)).replace("torch.", "fibril.")


def test_printoptions_context_and_profiles():
    with printing.printoptions(precision=1):
        assert repr(fibril.tensor([1.25])) == "tensor([1.2])"
    assert repr(fibril.tensor([1.25])) == "tensor([1.2500])"
    printing.set_printoptions(profile="full")
    assert printing.get_printoptions()["threshold"] == torch.inf
    assert "..." not in repr(fibril.arange(2000))


# ---------------------------------------------------------------------------------- default device, typename
def test_default_device_state():
    assert runtime.get_default_device() == "cpu" == str(torch.get_default_device())
    runtime.set_default_device("cuda")
    assert runtime.get_default_device() == "cuda:0"
    # a CPU tensor then prints its device, as torch's do when the default is another device
    assert repr(fibril.tensor([1.0], device="cpu")) == "tensor([1.], device='cpu')"
    runtime.set_default_device(None)
    assert runtime.get_default_device() == "cpu"
    with pytest.raises(RuntimeError, match="device type at start of device string"):
        runtime.set_default_device("foo")


class _Local:
    pass


def _function():
    pass


def test_typename_as_torch():
    for make in (lambda lib: lib.tensor([1.0]), lambda lib: lib.tensor([1, 2]),
                 lambda lib: lib.tensor([1.0], dtype=lib.float64)):
        assert runtime.typename(make(fibril)) == torch.typename(make(torch)).replace("torch.", "fibril.")
    for obj in (3, None, len, _Local, _Local(), _function, np.float32, "s"):
        assert runtime.typename(obj) == torch.typename(obj)
    assert runtime.typename(fibril.nn.Linear) == "fibril.nn.linear.Linear"


# ---------------------------------------------------------------------------------- Tensor utilities
def test_post_accumulate_grad_hook_runs_after_accumulation_as_torch():
    seen = {}
    for lib in (fibril, torch):
        x = lib.ones(2, requires_grad=True)
        calls = seen[lib] = []
        handle = x.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.tolist()))
        (x * 3).sum().backward()
        (x * 3).sum().backward()
        lib.autograd.grad((x * 3).sum(), x)  # accumulates nothing: no call
        handle.remove()
        (x * 3).sum().backward()
        for bad in (x * 2, lib.ones(2)):
            with pytest.raises(RuntimeError):
                bad.register_post_accumulate_grad_hook(lambda t: None)
    assert seen[fibril] == seen[torch] == [[3.0, 3.0], [6.0, 6.0]]


def test_post_accumulate_grad_hook_under_create_graph():
    x = fibril.ones(2, requires_grad=True)
    calls = []
    x.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.requires_grad))
    (x * x).sum().backward(create_graph=True)
    assert calls == [True]


def test_share_memory_pin_memory_and_flags():
    t = fibril.ones(3)
    assert t.share_memory_() is t and not t.is_shared()
    assert not t.is_pinned() and t.is_cpu
    if not fibril.cuda.is_available():
        with pytest.raises(RuntimeError, match="Cannot access accelerator device"):
            t.pin_memory()
    x = fibril.ones(2, requires_grad=True)
    assert x.output_nr == 0 and (x * 1).output_nr == 0


def test_new_legacy_constructor_as_torch():
    for lib in (fibril, torch):
        a = lib.ones(3)
        assert tuple(a.new(2, 3).shape) == (2, 3) and a.new(2, 3).dtype == a.dtype
        assert tuple(a.new(lib.Size([2, 4])).shape) == (2, 4)
        assert a.new([1, 2]).tolist() == [1.0, 2.0] and a.new([1, 2]).dtype == a.dtype
        assert a.new((2, 3)).tolist() == [2.0, 3.0]  # a tuple is data, only a Size is a shape
        assert tuple(a.new().shape) == (0,)
        other = lib.tensor([5.0, 6.0])
        assert a.new(other).data_ptr() == other.data_ptr()
        with pytest.raises(TypeError):
            a.new(lib.tensor([1, 2]))
    assert fibril.ones(2, dtype=fibril.int64).new(3).dtype == fibril.int64


def test_apply_and_map_as_torch():
    for make in (lambda lib: lib.tensor([1.0, 2.0, 3.0]), lambda lib: lib.tensor([1, 2, 3]),
                 lambda lib: lib.arange(6.0).reshape(2, 3).t()):
        mine, theirs = make(fibril), make(torch)
        assert mine.apply_(lambda v: v * 2.7) is mine
        theirs.apply_(lambda v: v * 2.7)
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
        mine.map_(make(fibril)[:1], lambda u, v: u - v)  # the other is broadcast
        theirs.map_(make(torch)[:1], lambda u, v: u - v)
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    x = fibril.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="Can't call apply_"):
        x.apply_(lambda v: v)
    with pytest.raises(RuntimeError, match="Can't call map_"):
        x.map_(x, lambda u, v: v)
    with pytest.raises(TypeError, match="map_: expected fibril.FloatTensor"):
        fibril.ones(2).map_(fibril.ones(2, dtype=fibril.int64), lambda u, v: v)


@pytest.mark.cuda
def test_default_device_reaches_the_factories():
    fibril.set_default_device("cuda")
    try:
        made = [fibril.zeros(2), fibril.randn(2), fibril.tensor([1.0, 2.0]), fibril.arange(3),
                fibril.nn.Linear(2, 3).weight]
        assert all(str(t.device).startswith("cuda") for t in made)
        assert str(fibril.tensor(fibril.ones(2, device="cpu")).device) == "cpu"  # a tensor's data keeps its device
    finally:
        fibril.set_default_device(None)
    assert str(fibril.zeros(2).device) == "cpu"
