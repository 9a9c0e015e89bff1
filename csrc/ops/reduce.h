// The reduce family, device-independent: argument checks, result shape and dtype, then the
// backend's kernels. PyTorch semantics throughout (torch.sum, torch.amax, torch.var,
// torch.linalg.vector_norm, torch.max(x, dim), torch.argmax, torch.cumsum, ...).
//
// Dims: nullopt or an empty list reduce every dim (as PyTorch); negative dims wrap;
// out of range is an IndexError, a repeated dim a ValueError. A 0-d array accepts dim 0/-1.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "core/array.h"

namespace fibril::ops {

using Dims = std::optional<std::vector<int64_t>>;

enum class ReduceOp : uint8_t { sum, mean, prod, amax, amin, any, all, logsumexp };

// sum/prod: ints and bool give int64; mean needs a floating input or dtype; `dtype` (sum,
// mean, prod only) casts the input first. logsumexp of ints and bool gives float32.
// any/all give bool (uint8 for uint8). amax/amin of an empty extent is an IndexError.
Array reduce(ReduceOp op, const Array& x, const Dims& dims, bool keepdim, std::optional<DType> dtype);

// Floating inputs only. Divides by max(0, n - correction).
Array var(const Array& x, const Dims& dims, double correction, bool keepdim);
Array stddev(const Array& x, const Dims& dims, double correction, bool keepdim);

// (sum |x|^p)^(1/p) over floating inputs; p = 0 counts non-zeros, +-inf take max/min |x|.
Array norm(const Array& x, double p, const Dims& dims, bool keepdim);

// (values, int64 indices) of the first max (min) along `dim`; NaN counts as the largest.
std::pair<Array, Array> max_dim(const Array& x, int64_t dim, bool keepdim);
std::pair<Array, Array> min_dim(const Array& x, int64_t dim, bool keepdim);

// Indices along `dim`, or into the flattened array when dim is nullopt. Not for bool.
Array argmax(const Array& x, std::optional<int64_t> dim, bool keepdim);
Array argmin(const Array& x, std::optional<int64_t> dim, bool keepdim);

// Inclusive scans along `dim`: same shape; ints and bool give int64; `dtype` casts first.
Array cumsum(const Array& x, int64_t dim, std::optional<DType> dtype);
Array cumprod(const Array& x, int64_t dim, std::optional<DType> dtype);

}  // namespace fibril::ops
