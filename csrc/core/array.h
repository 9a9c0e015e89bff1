// Array: a strided view of a Storage. dtype, shape, strides (in elements, never negative)
// and an element offset. Every view op returns a new Array on the same storage; only
// contiguous(), clone() and a reshape that cannot be expressed as a view copy.
#pragma once

#include <cstdint>
#include <memory>

#include "core/device.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/storage.h"

namespace fibril {

class Array {
 public:
  Array(std::shared_ptr<Storage> storage, DType dtype, Shape shape, Strides strides, int64_t offset);

  static Array empty(const Shape& shape, DType dtype, Device device = {});
  static Array full(const Shape& shape, double value, DType dtype, Device device = {});

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_; }
  size_t itemsize() const { return fibril::itemsize(dtype_); }
  size_t nbytes() const { return static_cast<size_t>(numel_) * itemsize(); }
  Device device() const { return storage_->device(); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  bool is_contiguous() const { return fibril::is_contiguous(shape_, strides_); }
  void* data() const { return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(itemsize()); }
  std::string describe() const;  // "float32[2, 3] on cpu" for error messages

  // Views: never copy.
  Array view(const Shape& shape) const;  // RuntimeError when the strides do not allow it
  Array transpose(int64_t dim0, int64_t dim1) const;
  Array permute(const std::vector<int64_t>& dims) const;
  Array slice(int64_t dim, int64_t start, int64_t stop, int64_t step) const;  // Python rules
  Array select(int64_t dim, int64_t index) const;
  Array squeeze() const;
  Array squeeze(int64_t dim) const;
  Array unsqueeze(int64_t dim) const;
  Array expand(const Shape& shape) const;  // -1 keeps a size; new dims lead
  Array as_strided(const Shape& shape, const Strides& strides, int64_t offset) const;
  // The same bytes read as another dtype (torch's view(dtype)): a different element size
  // rescales the last dim, which must be contiguous, and the other strides and the offset.
  Array bitcast(DType dtype) const;

  // May copy.
  Array reshape(const Shape& shape) const;  // a view when possible
  Array contiguous() const;                  // *this when already contiguous
  Array clone() const;
  Array astype(DType dtype) const;           // always a new array
  Array to(Device device) const;             // *this when already there
  void copy_from(const Array& src);          // src broadcasts; dtype and device may differ
  void fill(double value);
  void fill(int64_t value);                  // exact for every int64

 private:
  std::shared_ptr<Storage> storage_;
  DType dtype_;
  Shape shape_;
  Strides strides_;
  int64_t offset_;
  int64_t numel_;
};

// Whether writing dst could change src before it is read (a partial overlap). An exact alias
// (same memory, shape, strides and dtype) is not one: each element is read before it is
// written. Compares memory, not storages: two imports of one numpy buffer share bytes.
bool may_overlap(const Array& dst, const Array& src);

// RuntimeError when dst has a stride-0 dim of size > 1 (an expanded view): several of its
// elements share one memory location, so writing it is ill-defined.
void check_writable_layout(const Array& dst, const char* op);

}  // namespace fibril
