// Device helpers shared by the CUDA attention kernels: the float32/float64 SIMT kernels
// (attention.cu) and the 16-bit tensor-core forward (attention_tc.cu).
#pragma once

#include "core/philox.h"
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

// Whether dropout keeps element (b, i, j) of the (problems, tq, tk) probabilities: Philox word
// e = (b tq + i) tk + j of (seed, offset, stream 0) below keep_below, as the CPU kernel, so CPU
// and CUDA drop the same elements.
__device__ __forceinline__ bool dropout_keeps(uint64_t seed, uint64_t offset, uint64_t keep_below, int64_t tq,
                                              int64_t tk, int64_t b, int64_t i, int64_t j) {
  const uint64_t e = (uint64_t(b) * uint64_t(tq) + uint64_t(i)) * uint64_t(tk) + uint64_t(j);
  const Philox4x32 w = philox_block(seed, 0, offset + e / 4);
  const unsigned r = unsigned(e % 4);  // selects, not an indexed (local memory) read
  const uint32_t word = r == 0 ? w.v[0] : r == 1 ? w.v[1] : r == 2 ? w.v[2] : w.v[3];
  return uint64_t(word) < keep_below;
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
