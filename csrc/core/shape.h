// Shape and stride helpers shared by every family: validation, contiguous strides,
// dimension wrapping, broadcasting and printing. Strides are in elements.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fibril {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

constexpr int kMaxDims = 64;

std::string shape_str(const Shape& shape);  // "[2, 3]"

// Number of elements; throws ValueError for a negative dim, too many dims or overflow.
int64_t checked_numel(const Shape& shape, const char* op);

Strides contiguous_strides(const Shape& shape);
bool is_contiguous(const Shape& shape, const Strides& strides);

// Python-style dim: -1 is the last; throws IndexError when out of [-ndim, ndim).
int wrap_dim(int64_t dim, int64_t ndim, const char* op);

// Broadcast two shapes with numpy rules; throws ValueError naming both.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Strides for viewing (shape, strides) as new_shape without copying, or an empty vector
// when that is impossible (the caller copies). numel must already match.
Strides view_strides(const Shape& shape, const Strides& strides, const Shape& new_shape);

// Replaces a single -1 by the size that makes numel match; ValueError when impossible.
Shape infer_shape(const Shape& requested, int64_t numel, const char* op);

}  // namespace fibril
