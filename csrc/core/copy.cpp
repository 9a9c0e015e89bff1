// The Array ops that copy: copy_from, fill, contiguous, clone, astype, to. CPU work goes to
// the ISA-dispatched strided copy kernel (csrc/cpu/copy.cpp); device work to the CUDA backend.
#include "core/array.h"
#include "core/errors.h"
#include "cpu/kernels.h"
#include "cuda/backend.h"

namespace fibril {
namespace {

void copy_cpu(const Array& dst, const Array& src) {
  cpu::CopyArgs args{dst.ndim(),         dst.shape().data(), static_cast<char*>(dst.data()),
                     dst.dtype(),        dst.strides().data(), static_cast<const char*>(src.data()),
                     src.dtype(),        src.strides().data()};
  cpu::kernels().copy(args);
}

// A contiguous device copy of a (possibly strided) device array, same dtype.
Array contiguous_on_device(const Array& src) {
  if (src.is_contiguous()) return src;
  Array out = Array::empty(src.shape(), src.dtype(), src.device());
  cuda::gather_strided(out.data(), src.data(), src.dtype(), src.ndim(), src.shape().data(),
                       src.strides().data(), src.device().index);
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

  FIBRIL_CHECK(is_contiguous(), NotImplemented, "[copy_] copies that involve a CUDA array need a contiguous "
               "destination, got ", describe(), " with strides ", shape_str(strides_));
  if (sd.is_cpu()) {  // host -> device: convert and pack on the host, then one transfer
    Array host = src.dtype() == dtype_ ? src.contiguous() : src.astype(dtype_);
    return cuda::memcpy(data(), host.data(), nbytes(), cuda::CopyKind::HostToDevice, dd.index);
  }
  Array dev = contiguous_on_device(src);
  if (dd.is_cpu()) {  // device -> host: one transfer, then convert on the host if needed
    if (dev.dtype() == dtype_) {
      return cuda::memcpy(data(), dev.data(), nbytes(), cuda::CopyKind::DeviceToHost, sd.index);
    }
    Array host = Array::empty(shape_, dev.dtype());
    cuda::memcpy(host.data(), dev.data(), host.nbytes(), cuda::CopyKind::DeviceToHost, sd.index);
    return copy_cpu(*this, host);
  }
  FIBRIL_CHECK(sd == dd, NotImplemented, "[copy_] copies between two CUDA devices (", sd.str(), " -> ",
               dd.str(), ") are not supported yet");
  FIBRIL_CHECK(dev.dtype() == dtype_, NotImplemented, "[copy_] dtype conversion on CUDA (",
               dtype_name(dev.dtype()), " -> ", dtype_name(dtype_), ") comes with the elementwise family");
  cuda::memcpy(data(), dev.data(), nbytes(), cuda::CopyKind::DeviceToDevice, dd.index);
}

void Array::fill(double value) {
  if (!device().is_cpu()) {
    FIBRIL_CHECK(is_contiguous(), NotImplemented, "[fill_] filling a strided CUDA view ", describe(),
                 " is not supported yet");
    return cuda::fill(data(), dtype_, numel_, value, device().index);
  }
  Strides zeros(shape_.size(), 0);
  cpu::CopyArgs args{ndim(), shape_.data(), static_cast<char*>(data()), dtype_, strides_.data(),
                     reinterpret_cast<const char*>(&value), DType::float64, zeros.data()};
  cpu::kernels().copy(args);
}

void Array::fill(int64_t value) {
  if (!device().is_cpu()) return fill(static_cast<double>(value));
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
