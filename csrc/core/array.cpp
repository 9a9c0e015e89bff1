// Array construction, the view ops and layout queries (no copies here; see copy.cpp for those).
#include "core/array.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "core/errors.h"

namespace fibril {

Array::Array(std::shared_ptr<Storage> storage, DType dtype, Shape shape, Strides strides, int64_t offset)
    : storage_(std::move(storage)), dtype_(dtype), shape_(std::move(shape)), strides_(std::move(strides)),
      offset_(offset) {
  numel_ = checked_numel(shape_, "array");
  FIBRIL_CHECK(shape_.size() == strides_.size(), Value, "[array] shape ", shape_str(shape_), " and strides ",
               shape_str(strides_), " differ in length");
  FIBRIL_CHECK(offset_ >= 0, Value, "[array] negative storage offset ", offset_);
  int64_t last = offset_;
  for (size_t i = 0; i < shape_.size(); ++i) {
    FIBRIL_CHECK(strides_[i] >= 0, Value, "[array] negative strides are not supported, got ",
                 shape_str(strides_));
    if (numel_ > 0) {
      FIBRIL_CHECK(strides_[i] <= (std::numeric_limits<int64_t>::max() - last) / std::max<int64_t>(shape_[i], 1),
                   Value, "[array] strides ", shape_str(strides_), " overflow int64");
      last += (shape_[i] - 1) * strides_[i];
    }
  }
  const int64_t capacity = static_cast<int64_t>(storage_->nbytes() / itemsize());
  FIBRIL_CHECK(numel_ == 0 || last < capacity, Value, "[array] a view of shape ", shape_str(shape_),
               " with strides ", shape_str(strides_), " and offset ", offset_, " needs ", last + 1,
               " elements, but the storage holds ", capacity);
}

Array Array::empty(const Shape& shape, DType dtype, Device device) {
  int64_t n = checked_numel(shape, "empty");
  FIBRIL_CHECK(n <= std::numeric_limits<int64_t>::max() / static_cast<int64_t>(fibril::itemsize(dtype)), Value,
               "[empty] shape ", shape_str(shape), " of ", dtype_name(dtype), " overflows the byte size");
  auto storage = Storage::allocate(static_cast<size_t>(n) * fibril::itemsize(dtype), device);
  return Array(std::move(storage), dtype, shape, contiguous_strides(shape), 0);
}

Array Array::full(const Shape& shape, double value, DType dtype, Device device) {
  Array out = empty(shape, dtype, device);
  out.fill(value);
  return out;
}

std::string Array::describe() const {
  std::string s = std::string(dtype_name(dtype_)) + shape_str(shape_);
  return device().is_cpu() ? s : s + " on " + device().str();
}

Array Array::view(const Shape& shape) const {
  Shape target = infer_shape(shape, numel_, "view");
  Strides strides = view_strides(shape_, strides_, target);
  FIBRIL_CHECK(!strides.empty() || target.empty(), Runtime, "[view] cannot view ", describe(),
               " with strides ", shape_str(strides_), " as shape ", shape_str(target),
               " without copying; use reshape()");
  return Array(storage_, dtype_, target, strides, offset_);
}

Array Array::reshape(const Shape& shape) const {
  Shape target = infer_shape(shape, numel_, "reshape");
  Strides strides = view_strides(shape_, strides_, target);
  if (!strides.empty() || target.empty()) return Array(storage_, dtype_, target, strides, offset_);
  return contiguous().view(target);
}

Array Array::transpose(int64_t dim0, int64_t dim1) const {
  int a = wrap_dim(dim0, ndim(), "transpose"), b = wrap_dim(dim1, ndim(), "transpose");
  if (ndim() == 0) return *this;
  Shape shape = shape_;
  Strides strides = strides_;
  std::swap(shape[a], shape[b]);
  std::swap(strides[a], strides[b]);
  return Array(storage_, dtype_, shape, strides, offset_);
}

Array Array::permute(const std::vector<int64_t>& dims) const {
  FIBRIL_CHECK(static_cast<int>(dims.size()) == ndim(), Value, "[permute] got ", dims.size(), " dims ",
               shape_str(dims), " for an array of ", ndim(), " dims");
  std::vector<bool> seen(dims.size(), false);
  Shape shape(dims.size());
  Strides strides(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    int d = wrap_dim(dims[i], ndim(), "permute");
    FIBRIL_CHECK(!seen[d], Value, "[permute] dims ", shape_str(dims), " repeat dimension ", d);
    seen[d] = true;
    shape[i] = shape_[d];
    strides[i] = strides_[d];
  }
  return Array(storage_, dtype_, shape, strides, offset_);
}

Array Array::slice(int64_t dim, int64_t start, int64_t stop, int64_t step) const {
  FIBRIL_CHECK(ndim() > 0, Index, "[slice] cannot slice a 0-d array");
  int d = wrap_dim(dim, ndim(), "slice");
  FIBRIL_CHECK(step > 0, Value, "[slice] step must be positive, got ", step);
  const int64_t size = shape_[d];
  auto clamp = [size](int64_t i) {
    if (i < 0) i = i < -size ? 0 : i + size;
    return std::min(i, size);
  };
  start = clamp(start);
  stop = std::max(clamp(stop), start);
  Shape shape = shape_;
  Strides strides = strides_;
  shape[d] = (stop - start + step - 1) / step;
  strides[d] = strides_[d] * step;
  return Array(storage_, dtype_, shape, strides, shape[d] > 0 ? offset_ + start * strides_[d] : offset_);
}

Array Array::select(int64_t dim, int64_t index) const {
  FIBRIL_CHECK(ndim() > 0, Index, "[select] cannot index a 0-d array");
  int d = wrap_dim(dim, ndim(), "select");
  FIBRIL_CHECK(index >= -shape_[d] && index < shape_[d], Index, "[select] index ", index,
               " is out of bounds for dimension ", d, " with size ", shape_[d]);
  if (index < 0) index += shape_[d];
  Shape shape = shape_;
  Strides strides = strides_;
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  return Array(storage_, dtype_, shape, strides, offset_ + index * strides_[d]);
}

Array Array::squeeze() const {
  Shape shape;
  Strides strides;
  for (int i = 0; i < ndim(); ++i) {
    if (shape_[i] == 1) continue;
    shape.push_back(shape_[i]);
    strides.push_back(strides_[i]);
  }
  return Array(storage_, dtype_, shape, strides, offset_);
}

Array Array::squeeze(int64_t dim) const {
  int d = wrap_dim(dim, ndim(), "squeeze");
  if (ndim() == 0 || shape_[d] != 1) return *this;
  Shape shape = shape_;
  Strides strides = strides_;
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  return Array(storage_, dtype_, shape, strides, offset_);
}

Array Array::unsqueeze(int64_t dim) const {
  int d = wrap_dim(dim, ndim() + 1, "unsqueeze");
  Shape shape = shape_;
  Strides strides = strides_;
  int64_t stride = d < ndim() ? strides_[d] * shape_[d] : 1;
  shape.insert(shape.begin() + d, 1);
  strides.insert(strides.begin() + d, stride);
  return Array(storage_, dtype_, shape, strides, offset_);
}

Array Array::expand(const Shape& shape) const {
  FIBRIL_CHECK(shape.size() >= shape_.size(), Value, "[expand] cannot expand ", describe(), " to ",
               shape_str(shape), ": fewer dimensions");
  const size_t lead = shape.size() - shape_.size();
  Shape out(shape.size());
  Strides strides(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      FIBRIL_CHECK(shape[i] >= 0, Value, "[expand] cannot expand ", describe(), " to ", shape_str(shape),
                   ": new leading dimensions must be given (not -1)");
      out[i] = shape[i];
      strides[i] = 0;
      continue;
    }
    int64_t have = shape_[i - lead], want = shape[i] == -1 ? have : shape[i];
    FIBRIL_CHECK(want == have || (have == 1 && want >= 0), Value, "[expand] cannot expand ", describe(),
                 " to ", shape_str(shape), ": size ", have, " at dimension ", i - lead, " must match or be 1");
    out[i] = want;
    strides[i] = want == have ? strides_[i - lead] : 0;
  }
  return Array(storage_, dtype_, out, strides, offset_);
}

Array Array::as_strided(const Shape& shape, const Strides& strides, int64_t offset) const {
  FIBRIL_CHECK(shape.size() == strides.size(), Value, "[as_strided] shape ", shape_str(shape),
               " and strides ", shape_str(strides), " differ in length");
  return Array(storage_, dtype_, shape, strides, offset);
}

Array Array::bitcast(DType dtype) const {
  const int64_t from = static_cast<int64_t>(itemsize()), to = static_cast<int64_t>(fibril::itemsize(dtype));
  if (from == to) return Array(storage_, dtype, shape_, strides_, offset_);
  const auto what = [&] {
    return str_cat(" to view ", dtype_name(dtype_), " as ", dtype_name(dtype), " (different element sizes)");
  };
  FIBRIL_CHECK(ndim() > 0, Runtime, "self.dim() cannot be 0", what());
  FIBRIL_CHECK(strides_.back() == 1, Runtime, "self.stride(-1) must be 1", what());
  Shape shape = shape_;
  Strides strides = strides_;
  int64_t offset = offset_;
  if (from > to) {
    const int64_t r = from / to;
    shape.back() *= r;
    for (size_t d = 0; d + 1 < strides.size(); ++d) strides[d] *= r;
    offset *= r;
  } else {
    const int64_t r = to / from;
    FIBRIL_CHECK(shape.back() % r == 0, Runtime, "self.size(-1) must be divisible by ", r, what(), ", but got ",
                 shape.back());
    for (size_t d = 0; d + 1 < strides.size(); ++d)
      FIBRIL_CHECK(strides[d] % r == 0, Runtime, "self.stride(", d, ") must be divisible by ", r, what(),
                   ", but got ", strides[d]);
    FIBRIL_CHECK(offset % r == 0, Runtime, "self.storage_offset() must be divisible by ", r, what(), ", but got ",
                 offset);
    shape.back() /= r;
    for (size_t d = 0; d + 1 < strides.size(); ++d) strides[d] /= r;
    offset /= r;
  }
  return Array(storage_, dtype, shape, strides, offset);
}

namespace {

// The bytes [first, last) an array's elements span.
std::pair<const char*, const char*> byte_span(const Array& a) {
  const char* first = static_cast<const char*>(a.data());
  int64_t last = 0;
  for (int i = 0; i < a.ndim(); ++i) last += (a.shape()[i] - 1) * a.strides()[i];
  return {first, first + (last + 1) * static_cast<int64_t>(a.itemsize())};
}

}  // namespace

bool may_overlap(const Array& dst, const Array& src) {
  if (dst.numel() == 0 || src.numel() == 0 || dst.device() != src.device()) return false;
  if (src.data() == dst.data() && src.shape() == dst.shape() && src.strides() == dst.strides() &&
      src.dtype() == dst.dtype()) {
    return false;
  }
  auto [d0, d1] = byte_span(dst);
  auto [s0, s1] = byte_span(src);
  return d0 < s1 && s0 < d1;
}

void check_writable_layout(const Array& dst, const char* op) {
  if (dst.numel() == 0) return;  // no elements, none shared (numpy gives empty arrays stride 0)
  for (int i = 0; i < dst.ndim(); ++i) {
    FIBRIL_CHECK(dst.strides()[i] != 0 || dst.shape()[i] <= 1, Runtime, "[", op, "] the destination ",
                 dst.describe(), " has stride 0 at dimension ", i,
                 ": several of its elements share one memory location (an expanded view)");
  }
}

}  // namespace fibril
