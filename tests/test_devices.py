"""fibril.device against torch.device (parsing, type/index, equality, repr, errors, pickling,
the default-device context), and the names training scripts touch in torch.backends (with
nn.attention.sdpa_kernel), torch.jit and torch.distributed."""

import pickle

import pytest

import fibril
from fibril import backends

torch = pytest.importorskip("torch")

SPECS = [("cpu",), ("cuda",), ("cuda:0",), ("cuda:3",), ("cuda", 2), ("cpu", 0), ("cpu:1",)]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_device_parses_as_torch(spec):
    ours, theirs = fibril.device(*spec), torch.device(*spec)
    assert (ours.type, ours.index) == (theirs.type, theirs.index)
    assert str(ours) == str(theirs)
    assert repr(ours) == repr(theirs).replace("torch.", "")


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cuda:-1", "cuda:01", ""])
def test_bad_device_strings_raise_as_torch(spec):
    with pytest.raises(RuntimeError):
        torch.device(spec)
    with pytest.raises(RuntimeError):
        fibril.device(spec)


def test_a_device_is_its_string():
    d = fibril.device("cuda", 1)
    assert d == "cuda:1" and {"cuda:1": 7}[d] == 7
    assert fibril.device(d) is d and fibril.device(2) == "cuda:2"  # an int is a CUDA index
    assert fibril.device("cuda") != fibril.device("cuda:0")  # as torch: no index is not index 0
    back = pickle.loads(pickle.dumps(d))
    assert back == d and isinstance(back, fibril.device)
    with pytest.raises(TypeError):
        fibril.device(1.5)


def test_tensor_device_is_a_device():
    x = fibril.ones(2)
    assert isinstance(x.device, fibril.device)
    assert (x.device.type, x.device.index) == ("cpu", None)
    assert x.device == "cpu" and not x.is_cuda
    assert fibril.zeros(2, device=fibril.device("cpu")).device == "cpu"
    assert x.to(fibril.device("cpu")).device == "cpu"
    assert isinstance(fibril.get_default_device(), fibril.device)


def test_with_device_sets_the_factories_default_and_restores_it():
    assert fibril.get_default_device() == "cpu"
    with fibril.device("cpu") as d:
        assert d == "cpu" and fibril.get_default_device() == "cpu"
        assert fibril.ones(1).device == "cpu"
    assert fibril.get_default_device() == "cpu"
    with pytest.raises(RuntimeError):
        with fibril.device("cpu"):
            fibril.set_default_device("tpu")
    assert fibril.get_default_device() == "cpu"


@pytest.mark.cuda
def test_with_a_cuda_device_places_factory_tensors_there():
    if not fibril.cuda.is_available():
        pytest.skip("no CUDA device")
    with fibril.device("cuda"):
        x = fibril.zeros(3)
        nested = fibril.ones(2, device="cpu")
    assert x.device == "cuda:0" and (x.device.type, x.device.index) == ("cuda", 0)
    assert nested.device == "cpu" and fibril.get_default_device() == "cpu"


def test_dtype_is_the_dtype_class():
    assert isinstance(fibril.float32, fibril.dtype) and isinstance(fibril.ones(1).dtype, fibril.dtype)


def test_backend_flags_read_back_and_tf32_is_the_matmul_precision():
    before = fibril.get_float32_matmul_precision()
    try:
        backends.cuda.matmul.allow_tf32 = True
        assert fibril.get_float32_matmul_precision() == "high" and backends.cuda.matmul.allow_tf32
        backends.cuda.matmul.allow_tf32 = False
        assert fibril.get_float32_matmul_precision() == "highest" and not backends.cuda.matmul.allow_tf32
    finally:
        fibril.set_float32_matmul_precision(before)
    backends.cudnn.benchmark = True
    assert backends.cudnn.benchmark is True
    backends.cudnn.benchmark = False
    assert not backends.cudnn.is_available() and not backends.mps.is_available()
    assert backends.cpu.get_cpu_capability() in ("AVX512", "AVX2", "DEFAULT")


def test_jit_script_and_trace_return_what_they_are_given():
    net = fibril.nn.Linear(3, 2)
    assert fibril.jit.script(net) is net
    assert fibril.jit.trace(net, fibril.ones(1, 3)) is net

    @fibril.jit.ignore
    def f(x):
        return x + 1

    assert f(1) == 2 and not fibril.jit.is_scripting() and not fibril.jit.is_tracing()
    with pytest.raises(TypeError):
        fibril.jit.trace(3)


def test_distributed_is_not_available():
    assert not fibril.distributed.is_available() and not fibril.distributed.is_initialized()


def test_cuda_seeding_seeds_the_shared_generator():
    fibril.cuda.manual_seed_all(5)
    a = fibril.rand(4).numpy()
    fibril.manual_seed(5)
    assert (fibril.rand(4).numpy() == a).all() and fibril.cuda.initial_seed() == 5


def test_sdpa_kernel_scopes_the_backend_switches_as_torch():
    from torch.nn.attention import SDPBackend as TorchBackend
    from torch.nn.attention import sdpa_kernel as torch_sdpa_kernel

    from fibril.nn.attention import SDPBackend, sdpa_kernel

    assert {b.name: int(b) for b in SDPBackend} == {n: int(getattr(TorchBackend, n)) for n in SDPBackend.__members__}
    for ours, theirs in ((backends.cuda, torch.backends.cuda),):
        with sdpa_kernel(backends=[SDPBackend.MATH]), torch_sdpa_kernel(backends=[TorchBackend.MATH]):
            assert ours.flash_sdp_enabled() == theirs.flash_sdp_enabled() is False
            assert ours.math_sdp_enabled() == theirs.math_sdp_enabled() is True
            q = fibril.randn(1, 2, 5, 4)
            assert fibril.nn.functional.scaled_dot_product_attention(q, q, q).shape == (1, 2, 5, 4)
        assert ours.flash_sdp_enabled() == theirs.flash_sdp_enabled() is True
    backends.cuda.enable_mem_efficient_sdp(False)
    assert not backends.cuda.mem_efficient_sdp_enabled()
    backends.cuda.enable_mem_efficient_sdp(True)
    with pytest.raises(AssertionError, match="instance of SDPBackend"):
        with sdpa_kernel("flash"):
            pass
