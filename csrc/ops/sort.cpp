// The sort family's checks and result shapes; csrc/cpu/sort.cpp sorts.
#include "ops/sort.h"

#include "core/errors.h"
#include "core/shape.h"
#include "cpu/sort.h"

namespace fibril::ops {
namespace {

// The first k of x's lines along dim, ordered; float16/bfloat16 sort as float32 (exact, the
// same order), other devices' arrays on the host.
std::pair<Array, Array> sorted_lines(const Array& x_in, int64_t k, int64_t dim, bool descending, const char* op) {
  const Device device = x_in.device();
  const bool reduced = is_reduced_float(x_in.dtype());
  Array x = x_in.to(Device{});
  if (reduced) x = x.astype(DType::float32);
  x = x.contiguous();
  const int nd = x.ndim(), d = wrap_dim(dim, nd, op);
  cpu::SortArgs a{x.dtype(), static_cast<const char*>(x.data()), 1, 1, 1, k, descending, nullptr, nullptr};
  Shape shape = x.shape();
  for (int i = 0; i < nd; ++i) {
    if (i < d) a.outer *= shape[i];
    if (i == d) a.n = shape[i];
    if (i > d) a.inner *= shape[i];
  }
  FIBRIL_CHECK(k >= 0 && k <= a.n, Runtime, "[", op, "] k = ", k, " is out of range for dim ", dim, " of ",
               x_in.describe(), " (expected 0 <= k <= ", a.n, ")");
  if (nd > 0) shape[d] = k;
  else a.k = 1;  // a 0-d input is its own result, for k = 0 too (as torch)
  Array values = Array::empty(shape, x.dtype()), indices = Array::empty(shape, DType::int64);
  a.values = static_cast<char*>(values.data());
  a.indices = static_cast<int64_t*>(indices.data());
  if (values.numel() > 0) cpu::sort(a);
  if (reduced) values = values.astype(x_in.dtype());
  return {values.to(device), indices.to(device)};
}

}  // namespace

std::pair<Array, Array> sort(const Array& x, int64_t dim, bool descending) {
  const int64_t n = x.ndim() > 0 ? x.shape()[wrap_dim(dim, x.ndim(), "sort")] : 1;
  return sorted_lines(x, n, dim, descending, "sort");
}

std::pair<Array, Array> topk(const Array& x, int64_t k, int64_t dim, bool largest) {
  return sorted_lines(x, k, dim, largest, "topk");
}

}  // namespace fibril::ops
