#include "core/shape.h"

#include <limits>
#include <sstream>

#include "core/errors.h"

namespace fibril {

std::string shape_str(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

int64_t checked_numel(const Shape& shape, const char* op) {
  FIBRIL_CHECK(shape.size() <= static_cast<size_t>(kMaxDims), Value, "[", op, "] ", shape.size(),
               " dimensions exceed the maximum of ", kMaxDims);
  int64_t n = 1;
  bool zero = false;
  for (int64_t d : shape) {
    FIBRIL_CHECK(d >= 0, Value, "[", op, "] negative dimension in shape ", shape_str(shape));
    zero = zero || d == 0;
  }
  if (zero) return 0;
  for (int64_t d : shape) {
    FIBRIL_CHECK(n <= std::numeric_limits<int64_t>::max() / d, Value, "[", op, "] shape ",
                 shape_str(shape), " has too many elements (overflows int64)");
    n *= d;
  }
  return n;
}

Strides contiguous_strides(const Shape& shape) {
  Strides strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i] > 0 ? shape[i] : 1;
  }
  return strides;
}

bool is_contiguous(const Shape& shape, const Strides& strides) {
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 0) return true;
    if (shape[i] == 1) continue;
    if (strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

int wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t lo = ndim > 0 ? -ndim : -1, hi = ndim > 0 ? ndim - 1 : 0;
  FIBRIL_CHECK(dim >= lo && dim <= hi, Index, "[", op, "] dimension ", dim,
               " out of range (expected to be in [", lo, ", ", hi, "])");
  return static_cast<int>(dim < 0 ? dim + (ndim > 0 ? ndim : 1) : dim);
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    FIBRIL_CHECK(da == db || da == 1 || db == 1, Value, "[", op, "] shapes ", shape_str(a),
                 " and ", shape_str(b), " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Walks the old dims in chunks that are contiguous among themselves and matches them
// against runs of new dims of the same element count (the algorithm PyTorch's view uses).
Strides view_strides(const Shape& shape, const Strides& strides, const Shape& new_shape) {
  Strides out(new_shape.size());
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  if (numel == 0 || shape.empty()) return contiguous_strides(new_shape);

  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    bool chunk_ends = d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
      out[view_d] = view_numel * chunk_base_stride;
      view_numel *= new_shape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return {};
    if (d > 0) {
      chunk_base_stride = strides[d - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return {};
  return out;
}

Shape infer_shape(const Shape& requested, int64_t numel, const char* op) {
  Shape out = requested;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      FIBRIL_CHECK(infer < 0, Value, "[", op, "] only one dimension can be -1, got ",
                   shape_str(requested));
      infer = static_cast<int>(i);
    } else {
      FIBRIL_CHECK(out[i] >= 0, Value, "[", op, "] invalid shape ", shape_str(requested));
      FIBRIL_CHECK(out[i] == 0 || known <= std::numeric_limits<int64_t>::max() / out[i], Value,
                   "[", op, "] shape ", shape_str(requested), " overflows int64");
      known *= out[i];
    }
  }
  if (infer >= 0) {
    FIBRIL_CHECK(known != 0 && numel % known == 0, Value, "[", op, "] shape ",
                 shape_str(requested), " is invalid for input of size ", numel);
    out[infer] = numel / known;
  }
  FIBRIL_CHECK(checked_numel(out, op) == numel, Value, "[", op, "] shape ", shape_str(requested),
               " is invalid for input of size ", numel);
  return out;
}

}  // namespace fibril
