// Process-wide runtime: threads, CPU ISA, memory statistics, machine peak, Philox, CUDA queries.
#include <pybind11/stl.h>

#include "core/allocator.h"
#include "core/cpu_features.h"
#include "core/machine.h"
#include "core/parallel.h"
#include "core/philox.h"
#include "cuda/backend.h"
#include "cuda/emu_selftest.h"
#include "python/bindings.h"

namespace fibril::python {
namespace {

py::dict stats_dict(const MemoryStats& s) {
  py::dict d;
  d["allocated"] = s.allocated;
  d["reserved"] = s.reserved;
  d["peak"] = s.peak_allocated;
  d["hits"] = s.hits;
  d["misses"] = s.misses;
  d["allocations"] = s.allocations;
  return d;
}

}  // namespace

void bind_runtime(py::module_& m) {
  m.def("get_num_threads", &get_num_threads);
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("get_flush_denormal", &get_flush_denormal);
  m.def("set_flush_denormal", &set_flush_denormal, py::arg("on"));
  m.def("cpu_isa", &cpu_isa, "The instruction set the CPU kernels were chosen for: 'avx512', 'avx2' or 'generic'.");
  m.def("cpu_supports_avx2", &cpu_supports_avx2_fma);
  m.def("cpu_supports_avx512", &cpu_supports_avx512);

  m.def("memory_stats", [] { return stats_dict(cpu_allocator::stats()); });
  m.def("empty_cache", &cpu_allocator::empty_cache);
  m.def("reset_peak_memory_stats", &cpu_allocator::reset_peak);
  m.def("allocator_size_class", &cpu_allocator::size_class, py::arg("nbytes"));

  m.def("machine_peak", [] {
    MachinePeak p;
    {
      py::gil_scoped_release release;
      p = measure_machine_peak();
    }
    py::dict d;
    d["fma_gflops"] = p.fma_gflops;
    d["copy_gbs"] = p.copy_gbs;
    d["threads"] = p.threads;
    d["isa"] = cpu_isa();
    return d;
  }, "Measures the fp32 multiply-add GFLOP/s and copy GB/s (read + write) on all threads (~1 s).");

  m.def("philox4x32", [](std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key) {
    Philox4x32 out = philox4x32_10({{counter[0], counter[1], counter[2], counter[3]}}, key[0], key[1]);
    return std::array<uint32_t, 4>{out.v[0], out.v[1], out.v[2], out.v[3]};
  }, py::arg("counter"), py::arg("key"), "One Philox4x32-10 block (for known-answer tests).");

  py::module_ c = m.def_submodule("cuda", "CUDA runtime queries");
  c.def("built", &cuda::built_with_cuda);
  c.def("emulated", &cuda::emulating);
  c.def("_emulator_block_sums", &cuda::emu::selftest_block_sums, py::arg("x"), py::arg("block"));
  c.def("_emulator_divergent_barrier", &cuda::emu::selftest_divergent_barrier);
  c.def("device_count", &cuda::device_count);
  c.def("synchronize", &cuda::synchronize, py::arg("device") = -1, py::call_guard<py::gil_scoped_release>());
  c.def("memory_stats", [](int device) { return stats_dict(cuda::memory_stats(device)); }, py::arg("device") = 0);
  c.def("empty_cache", &cuda::empty_cache);
}

}  // namespace fibril::python
