// The attention family, device-independent: checks, layouts and outputs, then the backend's
// flash-style kernel (csrc/cpu/attention.cpp). PyTorch semantics (F.scaled_dot_product_attention).
#pragma once

#include <cstdint>
#include <optional>

#include "core/array.h"

namespace fibril::ops {

// q (*, L, E), k (*, S, E), v (*, S, Ev) with the same leading dims; attn_mask broadcastable
// to (*, L, S), boolean (True attends) or additive (cast to q's dtype). scale None means
// 1/sqrt(E). Dropout keeps elements by Philox (seed, offset); see cpu/kernels.h.
struct AttentionParams {
  std::optional<Array> mask;
  double dropout_p = 0.0;
  bool causal = false;
  std::optional<double> scale;
  uint64_t seed = 0, offset = 0;
};

struct AttentionResult {
  Array out, lse;  // out (*, L, Ev); lse (*, L), +inf where every key is masked
};
AttentionResult attention(const Array& q, const Array& k, const Array& v, const AttentionParams& p);

struct AttentionGrads {
  Array gq, gk, gv;
};
AttentionGrads attention_backward(const Array& g, const Array& q, const Array& k, const Array& v, const Array& out,
                                  const Array& lse, const AttentionParams& p);

}  // namespace fibril::ops
