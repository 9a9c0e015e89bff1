// Device helpers shared by the CUDA attention kernels: the float32/float64 SIMT kernels
// (attention.cu) and the 16-bit tensor-core forward (attention_tc.cu).
#pragma once

#include "cuda/attention.h"
#include "cuda/launch.cuh"

namespace fibril::cuda::FIBRIL_CUDA_NS {

// Element offsets of problem b's operands (q, k, v, mask) from the leading dims.
__device__ __forceinline__ void problem_offsets(const AttentionLead& lead, int64_t b, int64_t (&off)[4]) {
  off[0] = off[1] = off[2] = off[3] = 0;
  for (int d = lead.ndim - 1; d >= 0; --d) {
    const int64_t i = b % lead.shape[d];
    b /= lead.shape[d];
    off[0] += i * lead.q[d];
    off[1] += i * lead.k[d];
    off[2] += i * lead.v[d];
    off[3] += i * lead.mask[d];
  }
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
