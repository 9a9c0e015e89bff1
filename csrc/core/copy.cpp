// The Array ops that copy: copy_from, fill, contiguous, clone, astype, to. CPU work goes to
// the ISA-dispatched strided copy kernel (csrc/cpu/copy.cpp); device work to the CUDA backend.
#include <cmath>

#include "core/array.h"
#include "core/errors.h"
#include "cpu/kernels.h"
#include "cuda/backend.h"
#include "cuda/copy.h"

namespace fibril {
namespace {

void copy_cpu(const Array& dst, const Array& src) {
  cpu::CopyArgs args{dst.ndim(),         dst.shape().data(), static_cast<char*>(dst.data()),
                     dst.dtype(),        dst.strides().data(), static_cast<const char*>(src.data()),
                     src.dtype(),        src.strides().data()};
  cpu::kernels().copy(args);
}

// dst = src (cast) on one device, any strides: the elementwise copy kernel (merged dims,
// 128-bit accesses where contiguous, 32-bit index math), cuda/copy.cu.
void copy_device(const Array& dst, const Array& src) {
  cpu::CopyArgs args{dst.ndim(),  dst.shape().data(), static_cast<char*>(dst.data()),       dst.dtype(),
                     dst.strides().data(), static_cast<const char*>(src.data()), src.dtype(), src.strides().data()};
  FIBRIL_CUDA_CALL(copy_cast, dst.device().index, args);
}

// A contiguous device copy of a (possibly strided) device array, same dtype.
Array contiguous_on_device(const Array& src) {
  if (src.is_contiguous()) return src;
  Array out = Array::empty(src.shape(), src.dtype(), src.device());
  copy_device(out, src);
  return out;
}

}  // namespace

void Array::copy_from(const Array& source) {
  check_writable_layout(*this, "copy_");
  Array src = source.shape() == shape_ ? source : source.expand(shape_);
  if (may_overlap(*this, src)) src = src.clone();  // copy through a temporary
  if (numel_ == 0) return;
  const Device sd = src.device(), dd = device();
  if (sd.is_cpu() && dd.is_cpu()) return copy_cpu(*this, src);

  if (!dd.is_cpu() && !sd.is_cpu()) {
    FIBRIL_CHECK(sd == dd, NotImplemented, "[copy_] copies between two CUDA devices (", sd.str(), " -> ",
                 dd.str(), ") are not supported yet");
    if (src.dtype() == dtype_ && is_contiguous() && src.is_contiguous()) {
      return cuda::memcpy(data(), src.data(), nbytes(), cuda::CopyKind::DeviceToDevice, dd.index);
    }
    return copy_device(*this, src);  // converting and/or strided: one elementwise pass
  }
  if (sd.is_cpu()) {  // host -> device: convert and pack on the host, then one transfer
    Array host = src.dtype() == dtype_ ? src.contiguous() : src.astype(dtype_);
    if (is_contiguous()) {
      return cuda::memcpy(data(), host.data(), nbytes(), cuda::CopyKind::HostToDevice, dd.index);
    }
    Array staged = Array::empty(shape_, dtype_, dd);  // then scatter into the strided destination
    cuda::memcpy(staged.data(), host.data(), nbytes(), cuda::CopyKind::HostToDevice, dd.index);
    return copy_from(staged);
  }
  // device -> host: one transfer of the packed source, then convert/scatter on the host
  Array dev = contiguous_on_device(src);
  if (dev.dtype() == dtype_ && is_contiguous()) {
    return cuda::memcpy(data(), dev.data(), nbytes(), cuda::CopyKind::DeviceToHost, sd.index);
  }
  Array host = Array::empty(shape_, dev.dtype());
  cuda::memcpy(host.data(), dev.data(), host.nbytes(), cuda::CopyKind::DeviceToHost, sd.index);
  return copy_cpu(*this, host);
}

void Array::fill(double value) {
  if (!device().is_cpu()) {
    if (is_contiguous()) return cuda::fill(data(), dtype_, numel_, value, device().index);
    Array full = Array::empty(shape_, dtype_, device());  // a strided view: fill, then copy in
    full.fill(value);
    return copy_from(full);
  }
  Strides zeros(shape_.size(), 0);
  cpu::CopyArgs args{ndim(), shape_.data(), static_cast<char*>(data()), dtype_, strides_.data(),
                     reinterpret_cast<const char*>(&value), DType::float64, zeros.data()};
  cpu::kernels().copy(args);
}

void Array::fill(int64_t value) {
  if (!device().is_cpu()) {
    const double d = static_cast<double>(value);
    if (is_floating_point(dtype_) || (std::fabs(d) < 9.2233720368547758e18 && static_cast<int64_t>(d) == value)) {
      return fill(d);
    }
    // an int64 beyond 2^53: converted on the host, then broadcast-copied in
    Array host = Array::empty({}, dtype_);
    host.fill(value);
    return copy_from(host.to(device()));
  }
  Strides zeros(shape_.size(), 0);
  cpu::CopyArgs args{ndim(), shape_.data(), static_cast<char*>(data()), dtype_, strides_.data(),
                     reinterpret_cast<const char*>(&value), DType::int64, zeros.data()};
  cpu::kernels().copy(args);
}

Array Array::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Array Array::clone() const { return astype(dtype_); }

Array Array::astype(DType dtype) const {
  Array out = Array::empty(shape_, dtype, device());
  out.copy_from(*this);
  return out;
}

Array Array::to(Device device) const {
  if (device == this->device()) return *this;
  Array out = Array::empty(shape_, dtype_, device);
  out.copy_from(*this);
  return out;
}

}  // namespace fibril
