// The CPU kernel table. Every file listed in FIBRIL_ISA_SOURCES (CMakeLists.txt) is compiled
// once per instruction set into namespace fibril::cpu::<isa>; kernel_table.cpp of each
// build fills a KernelTable, and kernels() returns the one CPUID (or FIBRIL_CPU_ISA) chose.
// The kernels see plain pointers and strides only, never Array, so that no inline code of
// the core is compiled with AVX2 flags (it could be picked by the linker for generic use).
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/elementwise_op.h"

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

// out = f(in[0], ..., in[k-1]) over an n-d index space; strides in elements, input strides
// may be 0 (broadcast). The inputs already have the op's compute dtype `dtype` (where: in[0]
// is bool, in[1] and in[2] are `dtype`); out has the op's result dtype (bool for comparisons
// and logical ops, else `dtype`). out may alias an input exactly, never partially.
struct ElementwiseArgs {
  int ndim;
  const int64_t* shape;
  char* out;
  const int64_t* out_strides;
  const char* in[3];
  const int64_t* in_strides[3];
  DType dtype;
};

// What an elementwise kernel reports; the op layer turns the failures into errors.
enum class KernelStatus { ok, zero_division, unsupported };

struct KernelTable {
  const char* isa;
  void (*copy)(const CopyArgs& args);
  KernelStatus (*unary)(UnaryOp op, const ElementwiseArgs& args);
  KernelStatus (*binary)(BinaryOp op, const ElementwiseArgs& args);
  KernelStatus (*where)(const ElementwiseArgs& args);  // in: cond, a, b
  KernelStatus (*clamp)(const ElementwiseArgs& args);  // in: x, lo, hi
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
