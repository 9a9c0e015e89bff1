// The convolution family's checks and geometry. Kernels take contiguous operands of one
// floating dtype; a 1-D convolution is passed as a 2-D one of height 1.
#include "ops/conv.h"

#include "core/errors.h"
#include "core/shape.h"
#include "cpu/kernels.h"
#include "cuda/conv.h"
#include "ops/device.h"
#include "ops/matmul.h"

namespace fibril::ops {
namespace {

// float16/bfloat16 operands of one dtype: the float32 kernels on widened copies, the result
// rounded back.
bool widens(const Array& a, const Array& b) { return is_reduced_float(a.dtype()) && b.dtype() == a.dtype(); }
Array wide(const Array& a) { return a.astype(DType::float32); }

void check_tensor(const Array& a, const Array& ref, const char* what, const char* op) {
  FIBRIL_CHECK(a.dtype() == DType::float32 || a.dtype() == DType::float64, Type, "[", op,
               "] needs float32 or float64 operands, got ", what, " ", a.describe());
  common_device(op, {&a, &ref});
  FIBRIL_CHECK(a.dtype() == ref.dtype(), Type, "[", op, "] expected operands of one dtype, got ", what, " ",
               a.describe(), " and ", ref.describe());
}

int64_t output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t pad_after, int64_t dilation) {
  const int64_t span = in + pad + pad_after - dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

// The kernel's geometry for input shape x and weight shape w (ValueError naming both when
// they do not make a convolution).
cpu::ConvGeometry geometry(const Shape& x, const Shape& w, const ConvOptions& o, const char* op) {
  const size_t rank = x.size();
  const auto shapes = [&] { return str_cat("input ", shape_str(x), " and weight ", shape_str(w)); };
  FIBRIL_CHECK((rank == 3 || rank == 4) && w.size() == rank, Value, "[", op,
               "] expected a 3-D or 4-D input (N, C, *spatial) and a weight of the same rank, got ", shapes());
  const size_t dims = rank - 2;
  FIBRIL_CHECK(o.stride.size() == dims && o.padding.size() == dims && o.padding_after.size() == dims &&
                   o.dilation.size() == dims,
               Value, "[", op, "] stride, padding and dilation need ", dims, " values each for ", shapes());
  FIBRIL_CHECK(o.groups >= 1, Value, "[", op, "] groups must be positive, got ", o.groups);
  const int64_t C = x[1], O = w[0];
  FIBRIL_CHECK(C % o.groups == 0 && O % o.groups == 0 && w[1] * o.groups == C, Value, "[", op, "] ", shapes(),
               " with groups=", o.groups, ": expected weight (out_channels, in_channels / groups, ...) with in and ",
               "out channels divisible by groups");
  FIBRIL_CHECK(O >= 1, Value, "[", op, "] weight needs at least one output channel, got ", shapes());
  for (size_t d = 0; d < dims; ++d) {
    FIBRIL_CHECK(w[2 + d] >= 1, Value, "[", op, "] kernel sizes must be positive, got ", shapes());
    FIBRIL_CHECK(o.stride[d] >= 1 && o.dilation[d] >= 1, Value, "[", op, "] stride and dilation must be positive, got stride ",
                 shape_str(o.stride), " dilation ", shape_str(o.dilation));
    FIBRIL_CHECK(o.padding[d] >= 0 && o.padding_after[d] >= 0, Value, "[", op,
                 "] padding must be non-negative, got ", shape_str(o.padding), " before and ",
                 shape_str(o.padding_after), " after");
  }
  cpu::ConvGeometry g{};
  g.batch = x[0];
  g.groups = o.groups;
  g.in_channels = C;
  g.out_channels = O;
  const size_t h = dims == 2 ? 0 : dims;  // a 1-D convolution has height 1
  const auto at = [&](const Shape& s, size_t d, int64_t one) { return d < dims ? s[d] : one; };
  g.height = dims == 2 ? x[2] : 1;
  g.width = x[rank - 1];
  g.kernel_h = dims == 2 ? w[2] : 1;
  g.kernel_w = w[rank - 1];
  g.stride_h = at(o.stride, h, 1);
  g.stride_w = o.stride[dims - 1];
  g.pad_h = at(o.padding, h, 0);
  g.pad_w = o.padding[dims - 1];
  g.dilation_h = at(o.dilation, h, 1);
  g.dilation_w = o.dilation[dims - 1];
  g.out_height = dims == 2 ? output_size(g.height, g.kernel_h, g.stride_h, g.pad_h, o.padding_after[0], g.dilation_h) : 1;
  g.out_width = output_size(g.width, g.kernel_w, g.stride_w, g.pad_w, o.padding_after[dims - 1], g.dilation_w);
  FIBRIL_CHECK(g.out_height >= 1 && g.out_width >= 1, Value, "[", op, "] ", shapes(), " with padding ",
               shape_str(o.padding), ", stride ", shape_str(o.stride), " and dilation ", shape_str(o.dilation),
               " gives a non-positive output size: the input is smaller than the dilated kernel");
  return g;
}

Shape output_shape(const cpu::ConvGeometry& g, size_t rank) {
  if (rank == 3) return {g.batch, g.out_channels, g.out_width};
  return {g.batch, g.out_channels, g.out_height, g.out_width};
}

void check_grad_out(const Array& grad_out, const cpu::ConvGeometry& g, size_t rank, const char* op) {
  const Shape expected = output_shape(g, rank);
  FIBRIL_CHECK(grad_out.shape() == expected, Value, "[", op, "] grad_out of shape ", shape_str(grad_out.shape()),
               " does not match the convolution's output shape ", shape_str(expected));
}

const char* bytes(const Array& a) { return static_cast<const char*>(a.data()); }

void run_kernel(const cpu::ConvArgs& args, Device device) {
  if (device.is_cpu()) return cpu::kernels().conv(args);
  FIBRIL_CUDA_CALL(conv, device.index, args, float32_matmul_allows_tf32());
}

}  // namespace

Array conv(const Array& x_in, const Array& w_in, const std::optional<Array>& bias, const ConvOptions& o) {
  if (widens(x_in, w_in) && (!bias || bias->dtype() == x_in.dtype())) {
    return conv(wide(x_in), wide(w_in), bias ? std::optional<Array>(wide(*bias)) : std::nullopt, o).astype(x_in.dtype());
  }
  const char* op = "conv";
  check_tensor(x_in, x_in, "input", op);
  check_tensor(w_in, x_in, "weight", op);
  const cpu::ConvGeometry g = geometry(x_in.shape(), w_in.shape(), o, op);
  std::optional<Array> b;
  if (bias) {
    check_tensor(*bias, x_in, "bias", op);
    FIBRIL_CHECK(bias->shape() == Shape{g.out_channels}, Value, "[", op, "] bias of shape ", shape_str(bias->shape()),
                 " does not match the weight's ", g.out_channels, " output channels (weight ",
                 shape_str(w_in.shape()), ")");
    b = bias->contiguous();
  }
  Array y = Array::empty(output_shape(g, x_in.ndim()), x_in.dtype(), x_in.device());
  if (y.numel() == 0) return y;
  const Array x = x_in.contiguous(), w = w_in.contiguous();
  cpu::ConvArgs args{cpu::ConvPass::forward, x.dtype(), g, bytes(x), bytes(w), b ? bytes(*b) : nullptr, nullptr,
                     static_cast<char*>(y.data())};
  run_kernel(args, x.device());
  return y;
}

Array conv_backward_input(const Array& grad_in, const Array& w_in, const Shape& input_shape, const ConvOptions& o) {
  if (widens(grad_in, w_in)) return conv_backward_input(wide(grad_in), wide(w_in), input_shape, o).astype(grad_in.dtype());
  const char* op = "conv_backward_input";
  check_tensor(grad_in, grad_in, "grad_out", op);
  check_tensor(w_in, grad_in, "weight", op);
  const cpu::ConvGeometry g = geometry(input_shape, w_in.shape(), o, op);
  check_grad_out(grad_in, g, input_shape.size(), op);
  Array gx = Array::empty(input_shape, grad_in.dtype(), grad_in.device());
  if (gx.numel() == 0) return gx;
  const Array gy = grad_in.contiguous(), w = w_in.contiguous();
  cpu::ConvArgs args{cpu::ConvPass::backward_input, gy.dtype(), g, nullptr, bytes(w), nullptr, bytes(gy),
                     static_cast<char*>(gx.data())};
  run_kernel(args, gy.device());
  return gx;
}

Array conv_backward_weight(const Array& x_in, const Array& grad_in, const Shape& weight_shape, const ConvOptions& o) {
  if (widens(x_in, grad_in)) return conv_backward_weight(wide(x_in), wide(grad_in), weight_shape, o).astype(x_in.dtype());
  const char* op = "conv_backward_weight";
  check_tensor(x_in, x_in, "input", op);
  check_tensor(grad_in, x_in, "grad_out", op);
  const cpu::ConvGeometry g = geometry(x_in.shape(), weight_shape, o, op);
  check_grad_out(grad_in, g, x_in.ndim(), op);
  if (g.batch == 0) return Array::full(weight_shape, 0.0, x_in.dtype(), x_in.device());
  Array gw = Array::empty(weight_shape, x_in.dtype(), x_in.device());
  const Array x = x_in.contiguous(), gy = grad_in.contiguous();
  cpu::ConvArgs args{cpu::ConvPass::backward_weight, x.dtype(), g, bytes(x), nullptr, nullptr, bytes(gy),
                     static_cast<char*>(gw.data())};
  run_kernel(args, x.device());
  return gw;
}

std::pair<Array, Array> conv_backward(const Array& x_in, const Array& grad_in, const Array& w_in,
                                      const ConvOptions& o) {
  const bool same = x_in.dtype() == grad_in.dtype() && w_in.dtype() == grad_in.dtype();
  if (!x_in.device().is_cpu() || widens(grad_in, w_in) || !same)
    return {conv_backward_input(grad_in, w_in, x_in.shape(), o), conv_backward_weight(x_in, grad_in, w_in.shape(), o)};
  const char* op = "conv_backward";
  check_tensor(x_in, x_in, "input", op);
  check_tensor(grad_in, x_in, "grad_out", op);
  check_tensor(w_in, x_in, "weight", op);
  const cpu::ConvGeometry g = geometry(x_in.shape(), w_in.shape(), o, op);
  check_grad_out(grad_in, g, x_in.ndim(), op);
  Array gx = Array::empty(x_in.shape(), x_in.dtype(), x_in.device());
  if (gx.numel() == 0) return {gx, conv_backward_weight(x_in, grad_in, w_in.shape(), o)};
  Array gw = Array::empty(w_in.shape(), x_in.dtype(), x_in.device());
  const Array x = x_in.contiguous(), gy = grad_in.contiguous(), w = w_in.contiguous();
  cpu::ConvArgs args{cpu::ConvPass::backward_both, x.dtype(), g, bytes(x), bytes(w), nullptr, bytes(gy),
                     static_cast<char*>(gx.data()), static_cast<char*>(gw.data())};
  run_kernel(args, x.device());
  return {gx, gw};
}

}  // namespace fibril::ops
