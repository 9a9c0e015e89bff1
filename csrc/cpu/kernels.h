// The CPU kernel table. Every file listed in FIBRIL_ISA_SOURCES (CMakeLists.txt) is compiled
// once per instruction set into namespace fibril::cpu::<isa>; kernel_table.cpp of each
// build fills a KernelTable, and kernels() returns the one CPUID (or FIBRIL_CPU_ISA) chose.
// The kernels see plain pointers and strides only, never Array, so that no inline code of
// the core is compiled with AVX2 flags (it could be picked by the linker for generic use).
#pragma once

#include <cstdint>

#include "core/dtype.h"

#ifndef FIBRIL_ISA
#define FIBRIL_ISA generic
#endif

namespace fibril::cpu {

// dst[i] = cast(src[i]) over an n-d index space; strides in elements, src strides may be 0.
struct CopyArgs {
  int ndim;
  const int64_t* shape;
  char* dst;
  DType dst_dtype;
  const int64_t* dst_strides;
  const char* src;
  DType src_dtype;
  const int64_t* src_strides;
};

struct KernelTable {
  const char* isa;
  void (*copy)(const CopyArgs& args);
  // Single-thread fp32 multiply-add throughput over `iterations` rounds, in GFLOP/s.
  double (*fma_gflops)(int64_t iterations);
};

#define FIBRIL_DECLARE_ISA(isa) \
  namespace isa {               \
  const KernelTable& table();   \
  }
FIBRIL_DECLARE_ISA(generic)
FIBRIL_DECLARE_ISA(avx2)
#undef FIBRIL_DECLARE_ISA

const KernelTable& kernels();

}  // namespace fibril::cpu
