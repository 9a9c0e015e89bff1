// Device helpers shared by the CUDA attention kernels: the float32/float64 SIMT kernels
// (attention.cu) and the 16-bit tensor-core forward (attention_tc.cu).
#pragma once

#include <cmath>

#include "core/philox.h"
#include "cpu/kernels.h"
#include "cuda/attention.h"
#include "cuda/launch.cuh"

namespace fibril::cuda::FIBRIL_CUDA_NS {

// What both attention kernels take from AttentionArgs and the leading dims. Element (i, j) of
// the mask is at the problem's mask offset + i mask_rs + j mask_cs.
struct AttentionCommon {
  const void* q;
  const void* k;
  const void* v;
  const void* mask;
  void* out;
  void* lse;
  const void* g;  // backward: dO, (bh, tq, dv) contiguous
  void* gk;
  void* gv;
  int64_t tq, tk, d, dv;
  int64_t q_rs, k_rs, v_rs, mask_rs, mask_cs;
  AttentionLead lead;
  int mask_kind;  // 0 none, 1 boolean, 2 additive
  bool causal, dropout;
  double scale;                       // softmax scale
  uint64_t seed, offset, keep_below;  // dropout keeps a Philox word < keep_below
  double keep_scale;                  // 1 / (1 - dropout_p)
};

inline AttentionCommon attention_common(const cpu::AttentionArgs& a, const AttentionLead& lead) {
  AttentionCommon p{};
  p.q = a.q;
  p.k = a.k;
  p.v = a.v;
  p.mask = a.mask;
  p.out = a.out;
  p.lse = a.lse;
  p.g = a.g;
  p.gk = a.gk;
  p.gv = a.gv;
  p.tq = a.tq;
  p.tk = a.tk;
  p.d = a.d;
  p.dv = a.dv;
  p.q_rs = a.q_rs;
  p.k_rs = a.k_rs;
  p.v_rs = a.v_rs;
  p.mask_rs = a.mask_rs;
  p.mask_cs = a.mask_cs;
  p.lead = lead;
  p.mask_kind = a.mask_kind == cpu::AttentionMask::none ? 0 : a.mask_kind == cpu::AttentionMask::boolean ? 1 : 2;
  p.causal = a.causal;
  p.dropout = a.dropout_p > 0;
  p.scale = a.scale;
  p.seed = a.seed;
  p.offset = a.offset;
  p.keep_below = uint64_t(std::ceil((1.0 - a.dropout_p) * 4294967296.0));
  p.keep_scale = a.dropout_p < 1 ? 1.0 / (1.0 - a.dropout_p) : 0.0;
  return p;
}

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
  return uint64_t(w.v[e % 4]) < keep_below;
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
