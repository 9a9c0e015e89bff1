// The sort family, PyTorch's torch.sort and torch.topk: (values, int64 indices) along a dim,
// always stable (ties keep their input order), NaN above every number. On CUDA the lines are
// sorted on the host, through a copy each way.
#pragma once

#include <utility>

#include "core/array.h"

namespace fibril::ops {

std::pair<Array, Array> sort(const Array& x, int64_t dim, bool descending);

// The k largest (smallest) along dim, in order; 0 <= k <= the dim's size.
std::pair<Array, Array> topk(const Array& x, int64_t k, int64_t dim, bool largest);

}  // namespace fibril::ops
