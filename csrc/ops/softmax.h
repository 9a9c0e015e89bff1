// The softmax family, device-independent: argument checks, layouts and dtypes, then the
// backend's kernels (csrc/cpu/softmax.cpp). PyTorch semantics (torch.softmax,
// torch.log_softmax, F.cross_entropy and F.nll_loss with class-index targets).
#pragma once

#include <optional>

#include "core/array.h"

namespace fibril::ops {

// softmax or log_softmax along `dim` of a float32/float64 array; same shape.
Array softmax(const Array& x, int64_t dim, bool log);
// The gradient of x from the forward's result y and the output gradient g.
Array softmax_backward(const Array& y, const Array& g, int64_t dim, bool log);

// Per-sample losses for class-index targets: x is (C), (N, C) or (N, C, d1, ...) with the
// classes along dim 1 (dim 0 for 1-d x); target has x's shape without that dim. `logits`:
// cross_entropy (x are logits, label smoothing allowed), else nll_loss (x are log-probs).
// loss and row_weight (w[target], 0 where ignored; mean divides by its sum) have target's
// shape; stats is what backward needs. Out-of-range targets are an IndexError.
struct ClassLoss {
  Array loss, row_weight, stats;
};
struct ClassLossOptions {
  std::optional<Array> weight;
  int64_t ignore_index = -100;
  double smoothing = 0;
  bool logits = true;
};
ClassLoss class_loss(const Array& x, const Array& target, const ClassLossOptions& opt);
// g has target's shape (any strides; an expanded scalar is read in place).
Array class_loss_backward(const Array& g, const Array& x, const Array& target, const Array& stats,
                          const ClassLossOptions& opt);

}  // namespace fibril::ops
