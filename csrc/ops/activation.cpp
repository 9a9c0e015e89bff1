// The activation family's checks; kernels (cpu/activation.cpp, cuda/activation.cu) run over
// contiguous memory (a strided input is copied first).
#include "ops/activation.h"

#include <optional>

#include "core/errors.h"
#include "cuda/activation.h"
#include "ops/device.h"

namespace fibril::ops {
namespace {

void check_input(const Array& x, const char* op) {
  FIBRIL_CHECK(is_floating_point(x.dtype()), Type, "[", op, "] needs a floating-point input, got ", x.describe());
}

Array run(ActivationKind kind, const Array& x_in, const Array* g_in, double a, double b, double c) {
  const Device device = common_device(g_in ? "activation_backward" : "activation", {&x_in, g_in});
  if (device.is_cpu() && is_reduced_float(x_in.dtype())) {
    // The CPU kernels have no 16-bit float loops: compute in float32, round the result back.
    std::optional<Array> g_wide;
    if (g_in) g_wide = g_in->astype(DType::float32);
    return run(kind, x_in.astype(DType::float32), g_in ? &*g_wide : nullptr, a, b, c).astype(x_in.dtype());
  }
  const Array x = x_in.contiguous();
  const Array g = g_in ? g_in->contiguous() : x;
  Array out = Array::empty(x.shape(), x.dtype(), device);
  if (out.numel() == 0) return out;
  cpu::ActivationArgs args{kind, x.dtype(), x.numel(), static_cast<const char*>(x.data()),
                           g_in ? static_cast<const char*>(g.data()) : nullptr, static_cast<char*>(out.data()), a, b, c};
  if (device.is_cpu()) cpu::kernels().activation(args);
  else FIBRIL_CUDA_CALL(activation, device.index, args);
  return out;
}

}  // namespace

Array activation(ActivationKind kind, const Array& x, double a, double b, double c) {
  check_input(x, "activation");
  return run(kind, x, nullptr, a, b, c);
}

Array activation_backward(ActivationKind kind, const Array& x, const Array& g, double a, double b, double c) {
  check_input(x, "activation_backward");
  FIBRIL_CHECK(g.shape() == x.shape() && g.dtype() == x.dtype(), Value, "[activation_backward] gradient ",
               g.describe(), " does not match the input ", x.describe());
  return run(kind, x, &g, a, b, c);
}

}  // namespace fibril::ops
