// The index family's argument checks and result shapes; the CPU kernels (cpu/index.cpp)
// or the CUDA ones (cuda/index.cu) do the work. A 0-d operand is seen as [1] by the kernels.
#include "ops/index.h"

#include <cstring>

#include "core/errors.h"
#include "cpu/kernels.h"
#include "cuda/backend.h"
#include "cuda/index.h"
#include "ops/device.h"

namespace fibril::ops {
namespace {

// int64 index (int32 too where allowed, converted); TypeError otherwise.
Array as_index(const Array& index, const char* op, bool allow_int32) {
  const DType dt = index.dtype();
  FIBRIL_CHECK(dt == DType::int64 || (allow_int32 && dt == DType::int32), Type, "[", op,
               "] index must be an int64", allow_int32 ? " or int32" : "", " tensor, got ", index.describe());
  return dt == DType::int64 ? index : index.astype(DType::int64);
}

Array at_least_1d(const Array& a) { return a.ndim() == 0 ? a.reshape({1}) : a; }

// Throws the IndexError for the first entry of index outside [lo, size).
void check_range(const Array& index, int64_t lo, int64_t size, int64_t dim, const char* op) {
  const Array flat = index.contiguous();
  if (!flat.device().is_cpu()) {  // find the first bad position on the device, then read its value
    const int dev = flat.device().index;
    const int64_t k = FIBRIL_CUDA_CALL(first_out_of_range, dev, static_cast<const int64_t*>(flat.data()), flat.numel(),
                                       lo, size);
    if (k < 0) return;
    int64_t value = 0;
    cuda::memcpy(&value, static_cast<const int64_t*>(flat.data()) + k, sizeof(value), cuda::CopyKind::DeviceToHost,
                 dev);
    FIBRIL_CHECK(false, Index, "[", op, "] index ", value, " is out of bounds for dimension ", dim, " with size ", size);
  }
  const int64_t* p = static_cast<const int64_t*>(flat.data());
  for (int64_t k = 0; k < flat.numel(); ++k) {
    FIBRIL_CHECK(p[k] >= lo && p[k] < size, Index, "[", op, "] index ", p[k], " is out of bounds for dimension ",
                 dim, " with size ", size);
  }
}

void run_gather(const Array& out, const Array& x, int dim, const Array& index, const Strides& index_strides,
                const char* op) {
  cpu::GatherArgs args{x.dtype(), out.ndim(), out.shape().data(), dim, x.shape()[dim],
                       static_cast<char*>(out.data()), out.strides().data(), static_cast<const char*>(x.data()),
                       x.strides().data(), static_cast<const int64_t*>(index.data()), index_strides.data()};
  const bool ok = x.device().is_cpu() ? cpu::kernels().gather(args) : FIBRIL_CUDA_CALL(gather, x.device().index, args);
  if (!ok) check_range(index, 0, x.shape()[dim], dim, op);
}

void run_scatter(const Array& out, const Shape& shape, int dim, const Array& src, const Array& index,
                 const Strides& index_strides, bool add, const char* op) {
  cpu::ScatterArgs args{out.dtype(), add, static_cast<int>(shape.size()), shape.data(), dim, out.shape()[dim],
                        static_cast<char*>(out.data()), out.strides().data(), static_cast<const char*>(src.data()),
                        src.strides().data(), static_cast<const int64_t*>(index.data()), index_strides.data()};
  const bool ok =
      out.device().is_cpu() ? cpu::kernels().scatter(args) : FIBRIL_CUDA_CALL(scatter, out.device().index, args);
  if (!ok) check_range(index, 0, out.shape()[dim], dim, op);
}

void check_same_ndim(const Array& a, const Array& index, const char* op, const char* what) {
  FIBRIL_CHECK(a.ndim() == index.ndim() || (a.ndim() <= 1 && index.ndim() <= 1), Value, "[", op, "] index ",
               index.describe(), " must have as many dims as ", what, " ", a.describe());
}

// index_select/index_put_'s index: 0-d or 1-d, int64, with strides broadcasting it over
// an n-d space along dim.
Array line_index(const Array& index, const char* op) {
  FIBRIL_CHECK(index.ndim() <= 1, Value, "[", op, "] index must be 0-d or 1-d, got ", index.describe());
  return at_least_1d(as_index(index, op, true));
}

Strides along_dim_strides(const Array& index, int ndim, int dim) {
  Strides s(ndim, 0);
  s[dim] = index.strides()[0];
  return s;
}

}  // namespace

Array gather(const Array& x, int64_t dim, const Array& index) {
  const char* op = "gather";
  const Device device = common_device(op, {&x, &index});
  const Array idx = at_least_1d(as_index(index, op, false));
  check_same_ndim(x, index, op, "input");
  const Array xs = at_least_1d(x);
  const int d = wrap_dim(dim, xs.ndim(), op);
  for (int i = 0; i < xs.ndim(); ++i) {
    FIBRIL_CHECK(i == d || idx.shape()[i] <= xs.shape()[i], Value, "[", op, "] index ", index.describe(),
                 " is larger than input ", x.describe(), " in dim ", i);
  }
  Array out = Array::empty(index.shape(), x.dtype(), device);
  if (out.numel() == 0) return out;
  run_gather(at_least_1d(out), xs, d, idx, idx.strides(), op);
  return out;
}

Array scatter(const Array& x, int64_t dim, const Array& index, const Array& src, bool add) {
  if (add && is_reduced_float(x.dtype()) && src.dtype() == x.dtype()) {  // sums in float32, rounded once
    return scatter(x.astype(DType::float32), dim, index, src.astype(DType::float32), true).astype(x.dtype());
  }
  const char* op = add ? "scatter_add" : "scatter";
  common_device(op, {&x, &index, &src});
  const Array idx = at_least_1d(as_index(index, op, false));
  check_same_ndim(x, index, op, "input");
  check_same_ndim(src, index, op, "src");
  FIBRIL_CHECK(src.dtype() == x.dtype(), Type, "[", op, "] src ", src.describe(), " must have the dtype of input ",
               x.describe());
  Array out = x.clone();
  const Array os = at_least_1d(out), ss = at_least_1d(src);
  const int d = wrap_dim(dim, os.ndim(), op);
  for (int i = 0; i < os.ndim(); ++i) {
    FIBRIL_CHECK(idx.shape()[i] <= ss.shape()[i] && (i == d || idx.shape()[i] <= os.shape()[i]), Value, "[", op,
                 "] index ", index.describe(), " is larger than src ", src.describe(), " or input ", x.describe(),
                 " in dim ", i);
  }
  if (idx.numel() > 0) run_scatter(os, idx.shape(), d, ss, idx, idx.strides(), add, op);
  return out;
}

Array index_select(const Array& x, int64_t dim, const Array& index) {
  const char* op = "index_select";
  const Device device = common_device(op, {&x, &index});
  const Array idx = line_index(index, op);
  const Array xs = at_least_1d(x);
  const int d = wrap_dim(dim, xs.ndim(), op);
  Shape shape = xs.shape();
  shape[d] = idx.shape()[0];
  Array out = Array::empty(x.ndim() == 0 ? index.shape() : shape, x.dtype(), device);
  if (out.numel() == 0) {
    check_range(idx, 0, xs.shape()[d], d, op);
    return out;
  }
  const Array os = at_least_1d(out);
  run_gather(os, xs, d, idx, along_dim_strides(idx, os.ndim(), d), op);
  return out;
}

void index_put_(Array& x, int64_t dim, const Array& index, const Array& src, bool accumulate) {
  if (accumulate && is_reduced_float(x.dtype())) {  // sums in float32, rounded once
    check_writable_layout(x, "index_add");
    Array wide = x.astype(DType::float32);
    index_put_(wide, dim, index, src, true);
    x.copy_from(wide);
    return;
  }
  const char* op = accumulate ? "index_add" : "index_put_";
  common_device(op, {&x, &index, &src});
  check_writable_layout(x, op);
  const Array idx = line_index(index, op);
  Array xs = at_least_1d(x);
  const int d = wrap_dim(dim, xs.ndim(), op);
  check_range(idx, 0, xs.shape()[d], d, op);
  Shape shape = xs.shape();
  shape[d] = idx.shape()[0];
  FIBRIL_CHECK(src.ndim() <= static_cast<int>(shape.size()), Value, "[", op, "] source ", src.describe(),
               " does not broadcast to ", shape_str(shape));
  Array values = src.dtype() == x.dtype() ? src : src.astype(x.dtype());
  values = values.expand(shape);  // throws ValueError naming both shapes
  if (may_overlap(x, values)) values = values.clone();
  if (values.numel() > 0) run_scatter(xs, shape, d, values, idx, along_dim_strides(idx, xs.ndim(), d), accumulate, op);
}

Array nonzero(const Array& x) {
  // CUDA: the result's size depends on the data, so this waits for the device anyway; the
  // coordinates are found on the host (a copy of x) and sent back.
  if (!x.device().is_cpu()) return nonzero(x.to(Device{})).to(x.device());
  const Array c = at_least_1d(x).astype(DType::bool_);
  const bool* p = static_cast<const bool*>(c.data());
  int64_t n = 0;
  for (int64_t k = 0; k < c.numel(); ++k) n += p[k];
  const int nd = x.ndim();
  Array out = Array::empty({n, nd}, DType::int64);
  int64_t* o = static_cast<int64_t*>(out.data());
  for (int64_t k = 0; k < c.numel(); ++k) {
    if (!p[k]) continue;
    int64_t rest = k;
    for (int i = nd - 1; i >= 0; --i) {
      o[i] = rest % x.shape()[i];
      rest /= x.shape()[i];
    }
    o += nd;
  }
  return out;
}

Array wrap_index(const Array& index, int64_t size, int64_t dim) {
  const char* op = "index";
  const Array idx = as_index(index, op, true);
  Array out = idx.clone();
  check_range(out, -size, size, dim, op);
  if (!out.device().is_cpu()) {
    FIBRIL_CUDA_CALL(wrap_negative, out.device().index, static_cast<int64_t*>(out.data()), out.numel(), size);
    return out;
  }
  int64_t* p = static_cast<int64_t*>(out.data());
  for (int64_t k = 0; k < out.numel(); ++k) p[k] += p[k] < 0 ? size : 0;
  return out;
}

}  // namespace fibril::ops
