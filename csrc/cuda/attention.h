// The CUDA attention family (csrc/cuda/attention.cu): scaled dot-product attention forward
// and backward over the CPU's AttentionArgs. The per-problem offsets of AttentionArgs are host
// arrays; the device computes them from the leading dims instead (AttentionLead), so a call
// makes no host-to-device transfer.
#pragma once

#include <cstdint>

#include "cpu/kernels.h"
#include "cuda/backend.h"

namespace fibril::cuda {

// The leading (batch, head, ...) dims of the problems, and each operand's strides over them
// (elements); problem b's operand starts at sum_d index_d(b) stride_d. mask unused when
// AttentionArgs has none. ndim 0 is a single problem.
constexpr int kAttentionMaxLead = 6;
struct AttentionLead {
  int ndim;
  int64_t shape[kAttentionMaxLead];
  int64_t q[kAttentionMaxLead], k[kAttentionMaxLead], v[kAttentionMaxLead], mask[kAttentionMaxLead];
};

// The head dims the CUDA kernels take: max(d, dv) up to this (float32; float64 half of it).
constexpr int64_t kAttentionMaxHeadDim = 256;

}  // namespace fibril::cuda

// The 16-bit tensor-core kernels (attention_tc.cu) for float16/bfloat16 args, forward or
// backward as attention() below: false, and nothing run, where they do not take the call (head
// dims not multiples of 8 up to 128, rows off 16 bytes, a device before sm_80); lse is float32.
FIBRIL_CUDA_DECLARE(bool attention_tc(int device, const ::fibril::cpu::AttentionArgs& args,
                                      const ::fibril::cuda::AttentionLead& lead))
// Forward when args.g is null (writes out, lse), else backward (reads out, lse, g; writes gq,
// gk, gv). args' *_offsets are ignored (lead gives them).
FIBRIL_CUDA_DECLARE(void attention(int device, const ::fibril::cpu::AttentionArgs& args,
                                   const ::fibril::cuda::AttentionLead& lead))
