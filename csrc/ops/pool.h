// The pooling family, device-independent: window tables, shape rules and checks, then the
// backend's kernel (cpu/pool.cpp). PyTorch semantics (F.max_pool1d/2d, avg_pool1d/2d,
// adaptive_avg_pool1d/2d, adaptive_max_pool1d/2d). Inputs are (*, H, W) or (*, L): every
// leading dim is a plane (batched or not, as PyTorch).
#pragma once

#include "core/array.h"

namespace fibril::ops {

// Per spatial dim (one or two): kernel, stride, padding (both sides), dilation (max only).
struct PoolOptions {
  Shape kernel, stride, padding, dilation;
  bool ceil_mode = false;
  bool count_include_pad = true;   // avg only
  int64_t divisor_override = 0;    // avg only; 0: none
};

// y and, for max pooling, the argmax of each window as a flat index in its plane (int64).
struct PoolResult {
  Array y, indices;
};

PoolResult max_pool(const Array& x, const PoolOptions& o);
Array avg_pool(const Array& x, const PoolOptions& o);
PoolResult adaptive_max_pool(const Array& x, const Shape& output_size);
Array adaptive_avg_pool(const Array& x, const Shape& output_size);

// Input gradients. Max pooling (plain or adaptive, over `dims` spatial dims) routes g through
// the saved indices.
Array max_pool_backward(const Array& g, const Array& indices, const Shape& input_shape, size_t dims);
Array avg_pool_backward(const Array& g, const Shape& input_shape, const PoolOptions& o);
Array adaptive_avg_pool_backward(const Array& g, const Shape& input_shape, const Shape& output_size);

}  // namespace fibril::ops
