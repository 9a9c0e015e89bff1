// The norm family, device-independent: checks, shapes and scratch, then the backend's kernels
// (csrc/cpu/norm.cpp). PyTorch semantics (F.layer_norm, F.rms_norm, F.batch_norm).
#pragma once

#include <optional>

#include "core/array.h"

namespace fibril::ops {

using OptArray = std::optional<Array>;

// layer_norm (rms = false) or rms_norm over the trailing dims `normalized_shape` of x; weight
// and bias (layer norm only) have that shape. mean (layer norm) and rstd have x's leading
// shape and are what backward needs.
struct NormResult {
  Array y, mean, rstd;
};
NormResult row_norm(bool rms, const Array& x, const Shape& normalized_shape, const OptArray& weight,
                    const OptArray& bias, double eps);

struct NormGrads {
  Array gx;
  OptArray gw, gb;
};
// gw when weight is given and want_weight, gb when want_bias.
NormGrads row_norm_backward(bool rms, const Array& g, const Array& x, const Shape& normalized_shape,
                            const OptArray& weight, const Array& mean, const Array& rstd, bool want_weight,
                            bool want_bias);

// x is (N, C, *); statistics per channel. Training updates running_mean/var in place when
// given (and needs more than one value per channel); eval uses them. mean and rstd (C) are
// the statistics used, for backward.
NormResult batch_norm(const Array& x, const OptArray& weight, const OptArray& bias, const OptArray& running_mean,
                      const OptArray& running_var, bool training, double momentum, double eps);
NormGrads batch_norm_backward(const Array& g, const Array& x, const OptArray& weight, const Array& mean,
                              const Array& rstd, bool training, bool want_weight, bool want_bias);

}  // namespace fibril::ops
