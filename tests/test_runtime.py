"""Runtime facts: ISA dispatch, Philox, machine probe, CUDA queries without a GPU, config."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fibril


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **env), capture_output=True,
                          text=True, timeout=120)


def test_default_isa_is_the_best_supported():
    expected = ("avx512" if fibril._C.cpu_supports_avx512() else
                "avx2" if fibril._C.cpu_supports_avx2() else "generic")
    if os.environ.get("FIBRIL_CPU_ISA"):
        expected = os.environ["FIBRIL_CPU_ISA"]
    assert fibril.cpu_isa() == expected


# generic: the portable kernels on any machine; avx2: the narrower GEMM build where avx512 is
# the default (the avx512 build rebuilds only the GEMM families).
@pytest.mark.parametrize("isa", ["generic", "avx2"])
def test_isa_is_selected_by_env_and_computes_the_same(isa):
    if isa == "avx2" and not fibril._C.cpu_supports_avx2():
        pytest.skip("needs AVX2")
    code = (
        "import fibril, numpy as np\n"
        "x = np.arange(4096 * 1030, dtype=np.float32).reshape(4096, 1030)\n"
        "t = np.asarray(fibril.from_numpy(x).transpose(0, 1).contiguous())\n"
        "rng = np.random.default_rng(0)\n"
        "a, b = rng.standard_normal((77, 301), np.float32), rng.standard_normal((301, 45), np.float32)\n"
        "c = np.asarray(fibril.from_numpy(a) @ fibril.from_numpy(b))\n"
        "print(fibril.cpu_isa(), np.array_equal(t, x.T), np.abs(c - a.astype(np.float64) @ b).max() < 1e-3)\n"
    )
    out = run_python(code, FIBRIL_CPU_ISA=isa)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [isa, "True", "True"]


def test_unknown_isa_fails_the_import_with_a_clear_error():
    out = run_python("import fibril", FIBRIL_CPU_ISA="avx9000")
    assert out.returncode != 0
    assert "FIBRIL_CPU_ISA='avx9000' is not one of: generic, avx2, avx512" in out.stderr


# Known-answer vectors of Philox4x32-10 from the Random123 distribution.
@pytest.mark.parametrize("counter,key,expected", [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
])
def test_philox_known_answers(counter, key, expected):
    assert fibril._C.philox4x32(counter, key) == expected


@pytest.mark.slow
def test_machine_peak_measures_something_plausible():
    peak = fibril._C.machine_peak()
    assert set(peak) == {"fma_gflops", "copy_gbs", "threads", "isa"}
    assert 1 < peak["fma_gflops"] < 1e5
    assert 0.5 < peak["copy_gbs"] < 1e4
    assert peak["threads"] == fibril.get_num_threads()


def test_cuda_queries_never_crash():
    assert isinstance(fibril.cuda.is_built(), bool)
    assert fibril.cuda.device_count() >= 0
    assert fibril.cuda.is_available() == (fibril.cuda.device_count() > 0)
    fibril.cuda.empty_cache()


@pytest.mark.skipif(fibril.cuda.is_available(), reason="checks the behaviour without a GPU")
def test_cuda_use_without_a_device_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="CUDA"):
        fibril.cuda.synchronize()
    with pytest.raises(RuntimeError, match="CUDA|cuda"):
        fibril.Array.empty((4,), fibril.float32, "cuda")
    with pytest.raises(RuntimeError, match="CUDA|cuda"):
        fibril.Array.full((4,), 1.0, fibril.float32).to("cuda:0")


def test_bad_device_strings_are_value_errors():
    for spec in ["gpu", "cuda:", "cuda:x", "cpu:0 "]:
        with pytest.raises(ValueError, match="device"):
            fibril.Array.empty((1,), fibril.float32, spec)
    with pytest.raises(TypeError, match="device"):
        fibril.Array.empty((1,), fibril.float32, 0)


def test_show_config_names_version_isa_threads_cuda():
    text = fibril.show_config()
    assert fibril.__version__ in text and fibril.cpu_isa() in text and "CUDA" in text


@pytest.mark.cuda
class TestCudaDevice:
    """Runs where a GPU is present, and on the CUDA emulator (FIBRIL_CUDA_EMULATOR=1)."""

    @pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_])
    def test_round_trip(self, dtype):
        x = (np.arange(24).reshape(4, 6) % 3).astype(dtype)
        d = fibril.from_numpy(x).to("cuda")
        assert d.device == "cuda:0"
        np.testing.assert_array_equal(np.asarray(d.to("cpu")), x)
        np.testing.assert_array_equal(np.asarray(d.transpose(0, 1).contiguous().to("cpu")), x.T)
        np.testing.assert_array_equal(np.asarray(d[:, 1::2].to("cpu")), x[:, 1::2])

    def test_fill_and_memory_stats(self):
        a = fibril.Array.full((500, 400), 2.5, fibril.float32, "cuda")
        np.testing.assert_array_equal(np.asarray(a.to("cpu")), np.full((500, 400), 2.5, np.float32))
        fibril.cuda.synchronize()
        assert fibril.cuda.memory_stats()["allocated"] >= 8 * 10**5
        assert fibril.cuda.max_memory_allocated() >= fibril.cuda.memory_allocated() >= 8 * 10**5
        with pytest.raises(RuntimeError):
            np.asarray(a)  # device memory has no host buffer

    def test_tensor_and_module_moves(self):
        x = fibril.randn(3, 4)
        d = x.cuda()
        assert d.is_cuda and d.device == "cuda:0" and d.to("cpu").device == "cpu"
        np.testing.assert_array_equal(d.cpu().numpy(), x.numpy())
        assert fibril.zeros(2, device="cuda").device == fibril.ones(2, device="cuda:0").device == "cuda:0"
        m = fibril.nn.Linear(4, 2).cuda()
        assert all(p.device == "cuda:0" for p in m.parameters())
        assert all(p.device == "cpu" for p in m.cpu().parameters())

    def test_dlpack_refused_under_the_emulator(self):
        if not fibril.cuda.is_emulated():
            pytest.skip("a real GPU")
        with pytest.raises(RuntimeError, match="emulator"):
            fibril.zeros(3, device="cuda").__dlpack__()

    def test_dlpack_with_torch_cuda(self):
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            pytest.skip("torch without CUDA")
        t = torch.arange(10, device="cuda", dtype=torch.float32)
        a = fibril.from_dlpack(t)
        assert a.device == "cuda:0"
        back = torch.from_dlpack(a)
        assert back.data_ptr() == t.data_ptr()


def test_cuda_emulator_runs_barriers_and_shuffles():
    rng = np.random.default_rng(0)
    for block in (32, 64, 256, 1024):
        x = rng.standard_normal(3 * block).astype(np.float32)
        got = fibril._C.cuda._emulator_block_sums(x.tolist(), block)
        np.testing.assert_allclose(got, x.reshape(3, block).sum(1), rtol=1e-5, atol=1e-5)


def test_cuda_emulator_reports_a_divergent_barrier():
    with pytest.raises(RuntimeError, match="deadlocked"):
        fibril._C.cuda._emulator_divergent_barrier()
    x = np.ones(64, np.float32)  # and runs the next kernel normally
    assert fibril._C.cuda._emulator_block_sums(x.tolist(), 64) == [64.0]
