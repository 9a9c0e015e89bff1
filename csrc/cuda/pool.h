// The CUDA pooling entry point. Unlike the CPU kernels, which read window tables, the CUDA
// kernels compute each window from the axis rules (ops/pool_window.h), so nothing is uploaded.
#pragma once

#include "cpu/kernels.h"
#include "cuda/backend.h"
#include "ops/pool_window.h"

namespace fibril::cuda {

// Over `planes` contiguous (h.size, w.size) input planes and (h.out, w.out) output planes;
// kind, divisor, x, g, out and indices as cpu::PoolArgs. max_backward needs only the plane
// sizes: h = {size 1, out 1}, w = {size: input plane, out: output plane}.
struct PoolArgs {
  cpu::PoolKind kind;
  DType dtype;
  int64_t planes;
  ops::PoolAxisRule h, w;
  double divisor;
  const char* x;
  const char* g;
  char* out;
  int64_t* indices;
};

}  // namespace fibril::cuda

FIBRIL_CUDA_DECLARE(void pool(int device, const ::fibril::cuda::PoolArgs& args))
