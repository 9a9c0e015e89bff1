// The pooling family's window tables: for every output index along an axis, the first input
// index its window reads, how many it reads (step apart) and the average's divisor share.
#include "ops/pool.h"

#include <vector>

#include "core/errors.h"
#include "core/shape.h"
#include "cpu/kernels.h"
#include "cuda/pool.h"
#include "ops/device.h"
#include "ops/pool_window.h"

namespace fibril::ops {
namespace {

struct Axis {
  PoolAxisRule rule;
  int64_t size = 1, out = 1, step = 1;
  std::vector<int64_t> start{0}, count{1};
  std::vector<double> div{1};
};

// The axis's window tables, from its rule.
Axis tabulate(const PoolAxisRule& rule) {
  Axis a;
  a.rule = rule;
  a.size = rule.size;
  a.out = rule.out;
  a.step = rule.adaptive ? 1 : rule.dilation;
  a.start.resize(a.out);
  a.count.resize(a.out);
  a.div.resize(a.out);
  for (int64_t i = 0; i < a.out; ++i) {
    const PoolWindow w = pool_window(rule, i);
    a.start[i] = w.start;
    a.count[i] = w.count;
    a.div[i] = w.div;
  }
  return a;
}

void check_input(const Array& x, size_t dims, const char* op) {
  FIBRIL_CHECK(dims == 1 || dims == 2, Value, "[", op, "] pools over 1 or 2 dims, got ", dims);
  FIBRIL_CHECK(is_floating_point(x.dtype()), Type, "[", op, "] needs a floating-point input, got ", x.describe());
  FIBRIL_CHECK(x.ndim() == static_cast<int>(dims) + 1 || x.ndim() == static_cast<int>(dims) + 2, Value, "[", op,
               "] expected a ", dims + 1, "-D or ", dims + 2, "-D input, got ", x.describe());
  for (size_t d = 0; d < dims; ++d)
    FIBRIL_CHECK(x.shape()[x.ndim() - dims + d] >= 1, Value, "[", op, "] needs non-empty spatial dims, got ",
                 x.describe());
}

// Sliding windows: output o covers o * stride - pad + t * dilation, t < kernel.
Axis window_axis(int64_t size, size_t d, const PoolOptions& o, bool max, const Shape& x, const char* op) {
  const int64_t k = o.kernel[d], s = o.stride[d], p = o.padding[d], dil = max ? o.dilation[d] : 1;
  const auto options = [&] {
    return str_cat("kernel_size ", shape_str(o.kernel), ", stride ", shape_str(o.stride), ", padding ",
                   shape_str(o.padding), max ? str_cat(", dilation ", shape_str(o.dilation)) : std::string());
  };
  FIBRIL_CHECK(k >= 1 && s >= 1 && dil >= 1 && p >= 0, Value, "[", op,
               "] kernel_size, stride and dilation must be positive and padding non-negative, got ", options());
  const int64_t effective = dil * (k - 1) + 1;
  FIBRIL_CHECK(2 * p <= (max ? effective : k), Value, "[", op, "] padding should be at most half of the kernel, got ",
               options());
  // PyTorch's size: floor((size + 2p - effective [+ s - 1 with ceil_mode]) / s) + 1, rounded
  // toward -inf (with ceil_mode an input smaller than the kernel still gets one window), less
  // one when ceil_mode's last window would start past the input and its left padding.
  const int64_t num = size + 2 * p - effective + (o.ceil_mode ? s - 1 : 0);
  PoolAxisRule r;
  r.size = size;
  r.kernel = k;
  r.stride = s;
  r.pad = p;
  r.dilation = dil;
  r.include_pad = o.count_include_pad;
  r.out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
  if (o.ceil_mode && r.out > 0 && (r.out - 1) * s >= size + p) --r.out;
  FIBRIL_CHECK(r.out >= 1, Value, "[", op, "] input ", shape_str(x), " is smaller than the kernel (", options(),
               "): non-positive output size");
  return tabulate(r);
}

Axis adaptive_axis(int64_t size, int64_t out, const Shape& x, const char* op) {
  FIBRIL_CHECK(out >= 0, Value, "[", op, "] output_size must be non-negative, got ", out, " for input ", shape_str(x));
  PoolAxisRule r;
  r.size = size;
  r.out = out;
  r.adaptive = true;
  return tabulate(r);
}

// The pooled shape: x's leading dims, then the axes' output sizes.
Shape pooled_shape(const Shape& x, const std::vector<Axis>& axes) {
  Shape s(x.begin(), x.end() - static_cast<int64_t>(axes.size()));
  for (const Axis& a : axes) s.push_back(a.out);
  return s;
}

cpu::PoolArgs pool_args(cpu::PoolKind kind, DType dtype, const Shape& x, const std::vector<Axis>& axes) {
  static const Axis unit{};  // the height axis of a 1-D pooling
  const Axis& h = axes.size() == 2 ? axes[0] : unit;
  const Axis& w = axes.back();
  int64_t planes = 1;
  for (size_t d = 0; d + axes.size() < x.size(); ++d) planes *= x[d];
  cpu::PoolArgs a{};
  a.kind = kind;
  a.dtype = dtype;
  a.planes = planes;
  a.height = h.size;
  a.width = w.size;
  a.out_height = h.out;
  a.out_width = w.out;
  a.start_h = h.start.data();
  a.count_h = h.count.data();
  a.start_w = w.start.data();
  a.count_w = w.count.data();
  a.step_h = h.step;
  a.step_w = w.step;
  a.div_h = h.div.data();
  a.div_w = w.div.data();
  return a;
}

std::vector<Axis> window_axes(const Shape& x, const PoolOptions& o, bool max, const char* op) {
  const size_t dims = o.kernel.size();
  FIBRIL_CHECK(o.stride.size() == dims && o.padding.size() == dims && (!max || o.dilation.size() == dims), Value,
               "[", op, "] kernel_size, stride, padding and dilation need ", dims, " values each");
  std::vector<Axis> axes;
  for (size_t d = 0; d < dims; ++d) axes.push_back(window_axis(x[x.size() - dims + d], d, o, max, x, op));
  return axes;
}

std::vector<Axis> adaptive_axes(const Shape& x, const Shape& output_size, const char* op) {
  std::vector<Axis> axes;
  for (size_t d = 0; d < output_size.size(); ++d)
    axes.push_back(adaptive_axis(x[x.size() - output_size.size() + d], output_size[d], x, op));
  return axes;
}

// Runs the pool kernel of x's device: the CPU's reads the window tables, CUDA's the rules.
void run_kernel(const cpu::PoolArgs& a, const std::vector<Axis>& axes, Device device) {
  if (device.is_cpu()) return cpu::kernels().pool(a);
  cuda::PoolArgs c{a.kind, a.dtype, a.planes, axes.size() == 2 ? axes[0].rule : PoolAxisRule{}, axes.back().rule,
                   a.divisor, a.x, a.g, a.out, a.indices};
  FIBRIL_CUDA_CALL(pool, device.index, c);
}

// float16/bfloat16: the float32 kernels on a widened copy, the result rounded back.
Array wide(const Array& a) { return a.astype(DType::float32); }

PoolResult run_max(const Array& x_in, const std::vector<Axis>& axes) {
  if (is_reduced_float(x_in.dtype())) {
    PoolResult r = run_max(wide(x_in), axes);
    return PoolResult{r.y.astype(x_in.dtype()), r.indices};
  }
  const Shape shape = pooled_shape(x_in.shape(), axes);
  PoolResult r{Array::empty(shape, x_in.dtype(), x_in.device()), Array::empty(shape, DType::int64, x_in.device())};
  if (r.y.numel() == 0) return r;
  const Array x = x_in.contiguous();
  cpu::PoolArgs a = pool_args(cpu::PoolKind::max, x.dtype(), x.shape(), axes);
  a.x = static_cast<const char*>(x.data());
  a.out = static_cast<char*>(r.y.data());
  a.indices = static_cast<int64_t*>(r.indices.data());
  run_kernel(a, axes, x.device());
  return r;
}

Array run_avg(const Array& x_in, const std::vector<Axis>& axes, double divisor) {
  if (is_reduced_float(x_in.dtype())) return run_avg(wide(x_in), axes, divisor).astype(x_in.dtype());
  Array y = Array::empty(pooled_shape(x_in.shape(), axes), x_in.dtype(), x_in.device());
  if (y.numel() == 0) return y;
  const Array x = x_in.contiguous();
  cpu::PoolArgs a = pool_args(cpu::PoolKind::avg, x.dtype(), x.shape(), axes);
  a.x = static_cast<const char*>(x.data());
  a.out = static_cast<char*>(y.data());
  a.divisor = divisor;
  run_kernel(a, axes, x.device());
  return y;
}

Array run_avg_backward(const Array& g_in, const Shape& input_shape, const std::vector<Axis>& axes, double divisor,
                       const char* op) {
  if (is_reduced_float(g_in.dtype())) return run_avg_backward(wide(g_in), input_shape, axes, divisor, op).astype(g_in.dtype());
  const Shape expected = pooled_shape(input_shape, axes);
  FIBRIL_CHECK(g_in.shape() == expected, Value, "[", op, "] gradient of shape ", shape_str(g_in.shape()),
               " does not match the pooled shape ", shape_str(expected));
  if (g_in.numel() == 0) return Array::full(input_shape, 0.0, g_in.dtype(), g_in.device());
  Array gx = Array::empty(input_shape, g_in.dtype(), g_in.device());  // the kernel writes all of it
  const Array g = g_in.contiguous();
  cpu::PoolArgs a = pool_args(cpu::PoolKind::avg_backward, g.dtype(), input_shape, axes);
  a.g = static_cast<const char*>(g.data());
  a.out = static_cast<char*>(gx.data());
  a.divisor = divisor;
  run_kernel(a, axes, g.device());
  return gx;
}

}  // namespace

PoolResult max_pool(const Array& x, const PoolOptions& o) {
  check_input(x, o.kernel.size(), "max_pool");
  return run_max(x, window_axes(x.shape(), o, true, "max_pool"));
}

Array avg_pool(const Array& x, const PoolOptions& o) {
  check_input(x, o.kernel.size(), "avg_pool");
  return run_avg(x, window_axes(x.shape(), o, false, "avg_pool"), static_cast<double>(o.divisor_override));
}

PoolResult adaptive_max_pool(const Array& x, const Shape& output_size) {
  check_input(x, output_size.size(), "adaptive_max_pool");
  return run_max(x, adaptive_axes(x.shape(), output_size, "adaptive_max_pool"));
}

Array adaptive_avg_pool(const Array& x, const Shape& output_size) {
  check_input(x, output_size.size(), "adaptive_avg_pool");
  return run_avg(x, adaptive_axes(x.shape(), output_size, "adaptive_avg_pool"), 0);
}

Array max_pool_backward(const Array& g_in, const Array& indices_in, const Shape& input_shape, size_t dims) {
  if (is_reduced_float(g_in.dtype())) {
    return max_pool_backward(wide(g_in), indices_in, input_shape, dims).astype(g_in.dtype());
  }
  const char* op = "max_pool_backward";
  FIBRIL_CHECK(g_in.shape() == indices_in.shape() && indices_in.dtype() == DType::int64 &&
                   g_in.ndim() == static_cast<int>(input_shape.size()) && input_shape.size() > dims,
               Value, "[", op, "] gradient ", g_in.describe(), " and indices ", indices_in.describe(),
               " do not match the input shape ", shape_str(input_shape));
  const Device device = common_device(op, {&g_in, &indices_in});
  if (g_in.numel() == 0) return Array::full(input_shape, 0.0, g_in.dtype(), device);
  Array gx = Array::empty(input_shape, g_in.dtype(), device);  // the kernel writes all of it
  const Array g = g_in.contiguous(), idx = indices_in.contiguous();
  int64_t in_plane = 1, out_plane = 1;
  for (size_t d = input_shape.size() - dims; d < input_shape.size(); ++d) {
    in_plane *= input_shape[d];
    out_plane *= g.shape()[d];
  }
  // The flat indices address whole planes: the kernel needs only the plane sizes.
  cpu::PoolArgs a{};
  a.kind = cpu::PoolKind::max_backward;
  a.dtype = g.dtype();
  a.planes = g.numel() / out_plane;
  a.height = a.out_height = 1;
  a.width = in_plane;
  a.out_width = out_plane;
  a.g = static_cast<const char*>(g.data());
  a.out = static_cast<char*>(gx.data());
  a.indices = static_cast<int64_t*>(idx.data());
  Axis plane;  // the rules of the CUDA kernel: one axis of the plane sizes
  plane.rule.size = in_plane;
  plane.rule.out = out_plane;
  run_kernel(a, {plane}, device);
  return gx;
}

Array avg_pool_backward(const Array& g, const Shape& input_shape, const PoolOptions& o) {
  return run_avg_backward(g, input_shape, window_axes(input_shape, o, false, "avg_pool_backward"),
                          static_cast<double>(o.divisor_override), "avg_pool_backward");
}

Array adaptive_avg_pool_backward(const Array& g, const Shape& input_shape, const Shape& output_size) {
  return run_avg_backward(g, input_shape, adaptive_axes(input_shape, output_size, "adaptive_avg_pool_backward"), 0,
                          "adaptive_avg_pool_backward");
}

}  // namespace fibril::ops
