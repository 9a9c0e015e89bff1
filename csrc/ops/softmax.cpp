// The softmax family's checks and layouts. Kernels work on contiguous rows: the reduced dim is
// moved last (a view) and made contiguous (a copy only when it is not already innermost), and
// results are returned as the inverse permutation of those rows, a view.
#include "ops/softmax.h"

#include <algorithm>
#include <string>
#include <vector>

#include "core/errors.h"
#include "cpu/kernels.h"
#include "cuda/softmax.h"
#include "ops/device.h"

namespace fibril::ops {
namespace {

void check_input(const Array& x, const char* op) {
  FIBRIL_CHECK(is_floating_point(x.dtype()), Type, "[", op, "] needs a floating-point input, got ", x.describe());
}

// The permutation moving dim d of an ndim array last, and its inverse.
std::vector<int64_t> to_last(int nd, int d) {
  std::vector<int64_t> p;
  for (int i = 0; i < nd; ++i)
    if (i != d) p.push_back(i);
  p.push_back(d);
  return p;
}

std::vector<int64_t> inverse(const std::vector<int64_t>& p) {
  std::vector<int64_t> inv(p.size());
  for (size_t i = 0; i < p.size(); ++i) inv[p[i]] = static_cast<int64_t>(i);
  return inv;
}

// x with dim d last, contiguous; 0-d arrays become one row of one.
Array rows_of(const Array& x, int d) {
  if (x.ndim() == 0) return x.reshape({1});
  return x.permute(to_last(x.ndim(), d)).contiguous();
}

Array back_from_rows(const Array& rows, const Array& like, int d) {
  if (like.ndim() == 0) return rows.reshape({});
  return rows.permute(inverse(to_last(like.ndim(), d)));
}

// float16/bfloat16 on the CPU: float32 kernels on widened copies, results rounded back. The
// CUDA kernels take them as they are (16-bit loads and stores, float32 math).
bool widen(const Array& x) { return is_reduced_float(x.dtype()) && x.device().is_cpu(); }

Array run_softmax(cpu::SoftmaxKind kind, const Array& x, const Array* g, int d) {
  if (widen(x)) {
    std::optional<Array> g_wide;
    if (g) g_wide = g->astype(DType::float32);
    return run_softmax(kind, x.astype(DType::float32), g ? &*g_wide : nullptr, d).astype(x.dtype());
  }
  const Array xr = rows_of(x, d);
  const Array gr = g ? rows_of(*g, d) : xr;
  const Device device = x.device();
  Array out = Array::empty(xr.shape(), x.dtype(), device);
  const int64_t n = xr.ndim() ? xr.shape().back() : 1;
  if (out.numel() > 0) {
    cpu::SoftmaxArgs args{kind, x.dtype(), out.numel() / n, n, static_cast<const char*>(xr.data()),
                          static_cast<const char*>(gr.data()), static_cast<char*>(out.data())};
    if (device.is_cpu()) cpu::kernels().softmax(args);
    else FIBRIL_CUDA_CALL(softmax, device.index, args);
  }
  return back_from_rows(out, x, d);
}

int class_dim(const Array& x) { return x.ndim() >= 2 ? 1 : 0; }

Shape without_dim(const Shape& s, int d) {
  Shape r;
  for (int i = 0; i < static_cast<int>(s.size()); ++i)
    if (i != d) r.push_back(s[i]);
  return r;
}

const char* loss_name(const ClassLossOptions& opt) { return opt.logits ? "cross_entropy" : "nll_loss"; }

// The checked operands as contiguous (rows, C) x, int64 targets and weight.
struct Operands {
  Array x, target;
  std::optional<Array> weight;
  int64_t rows, n;
};

Operands operands(const Array& x, const Array& target, const ClassLossOptions& opt) {
  const char* op = loss_name(opt);
  check_input(x, op);
  common_device(op, {&x, &target, opt.weight ? &*opt.weight : nullptr});
  FIBRIL_CHECK(x.ndim() >= 1, Value, "[", op, "] needs an input of at least 1 dim (classes), got ", x.describe());
  FIBRIL_CHECK(!is_floating_point(target.dtype()) && target.dtype() != DType::bool_, Type, "[", op,
               "] class-index targets must be integers, got ", target.describe());
  const int d = class_dim(x);
  FIBRIL_CHECK(target.shape() == without_dim(x.shape(), d), Value, "[", op, "] target shape ",
               shape_str(target.shape()), " does not match input shape ", shape_str(x.shape()),
               " (expected ", shape_str(without_dim(x.shape(), d)), ")");
  FIBRIL_CHECK(opt.smoothing >= 0 && opt.smoothing <= 1, Value, "[", op, "] label_smoothing must be in [0, 1], got ",
               opt.smoothing);
  const int64_t n = x.shape()[d];
  Array rows = rows_of(x, d);
  std::optional<Array> weight;
  if (opt.weight) {
    FIBRIL_CHECK(opt.weight->shape() == Shape{n}, Value, "[", op, "] weight of shape ", shape_str(opt.weight->shape()),
                 " does not match the ", n, " classes of input shape ", shape_str(x.shape()));
    weight = opt.weight->dtype() == x.dtype() ? opt.weight->contiguous() : opt.weight->astype(x.dtype());
  }
  return Operands{rows, target.dtype() == DType::int64 ? target.contiguous() : target.astype(DType::int64),
                  weight, n ? rows.numel() / n : 0, n};
}

cpu::ClassLossArgs loss_args(const Operands& o, const ClassLossOptions& opt) {
  return cpu::ClassLossArgs{o.x.dtype(), opt.logits, o.rows, o.n, static_cast<const char*>(o.x.data()),
                            static_cast<const int64_t*>(o.target.data()),
                            o.weight ? static_cast<const char*>(o.weight->data()) : nullptr, opt.ignore_index,
                            opt.smoothing, nullptr, nullptr, nullptr, nullptr, 0, nullptr};
}

// The per-row statistics (max, log-sum) of 16-bit logits are float32.
DType stats_dtype(const Array& x) { return is_reduced_float(x.dtype()) ? DType::float32 : x.dtype(); }

// 16-bit logits with a class weight of another dtype also take the widened path (the kernels
// read the weight in the logits' dtype, which would round a float32 weight).
bool widen_loss(const Array& x, const ClassLossOptions& opt) {
  return is_reduced_float(x.dtype()) && (x.device().is_cpu() || (opt.weight && opt.weight->dtype() != x.dtype()));
}

}  // namespace

Array softmax(const Array& x, int64_t dim, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  check_input(x, op);
  const int d = wrap_dim(dim, x.ndim(), op);
  return run_softmax(log ? cpu::SoftmaxKind::log_softmax : cpu::SoftmaxKind::softmax, x, nullptr, d);
}

Array softmax_backward(const Array& y, const Array& g, int64_t dim, bool log) {
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  check_input(y, op);
  common_device(op, {&y, &g});
  FIBRIL_CHECK(g.shape() == y.shape() && g.dtype() == y.dtype(), Value, "[", op, "] gradient ", g.describe(),
               " does not match the result ", y.describe());
  const int d = wrap_dim(dim, y.ndim(), op);
  return run_softmax(log ? cpu::SoftmaxKind::log_softmax_backward : cpu::SoftmaxKind::softmax_backward, y, &g, d);
}

ClassLoss class_loss(const Array& x, const Array& target, const ClassLossOptions& opt) {
  if (widen_loss(x, opt)) {  // float32 math; the per-row statistics stay float32
    check_input(x, loss_name(opt));
    ClassLoss r = class_loss(x.astype(DType::float32), target, opt);
    return ClassLoss{r.loss.astype(x.dtype()), r.row_weight.astype(x.dtype()), r.stats};
  }
  const Operands o = operands(x, target, opt);
  const Device device = x.device();
  ClassLoss r{Array::empty(target.shape(), x.dtype(), device), Array::empty(target.shape(), x.dtype(), device),
              Array::empty({o.rows, 2}, stats_dtype(x), device)};
  if (o.rows == 0) return r;
  FIBRIL_CHECK(o.n > 0, Value, "[", loss_name(opt), "] needs at least one class, got input ", x.describe());
  cpu::ClassLossArgs args = loss_args(o, opt);
  args.loss = static_cast<char*>(r.loss.data());
  args.row_weight = static_cast<char*>(r.row_weight.data());
  args.stats = static_cast<char*>(r.stats.data());
  const bool ok = device.is_cpu() ? cpu::kernels().class_loss(args) : FIBRIL_CUDA_CALL(class_loss, device.index, args);
  FIBRIL_CHECK(ok, Index, "[", loss_name(opt), "] target out of range: every target must be in [0, ",
               o.n, ") or equal ignore_index (", opt.ignore_index, ")");
  return r;
}

Array class_loss_backward(const Array& g, const Array& x, const Array& target, const Array& stats,
                          const ClassLossOptions& opt) {
  if (widen_loss(x, opt) && g.dtype() == x.dtype()) {
    return class_loss_backward(g.astype(DType::float32), x.astype(DType::float32), target, stats, opt)
        .astype(x.dtype());
  }
  const Operands o = operands(x, target, opt);
  const std::string bop = std::string(loss_name(opt)) + "_backward";
  const Device device = common_device(bop.c_str(), {&g, &x, &stats});
  FIBRIL_CHECK(g.shape() == target.shape(), Value, "[", loss_name(opt), "_backward] gradient ", g.describe(),
               " does not match target ", target.describe());
  const bool scalar = std::all_of(g.strides().begin(), g.strides().end(), [](int64_t s) { return s == 0; });
  FIBRIL_CHECK(g.dtype() == x.dtype(), Type, "[", loss_name(opt), "_backward] gradient ", g.describe(),
               " does not match input ", x.describe());
  const Array gc = scalar ? g : g.contiguous();
  const Array st = stats.dtype() == stats_dtype(x) ? stats : stats.astype(stats_dtype(x));
  Array gx = Array::empty(o.x.shape(), x.dtype(), device);
  if (o.rows > 0) {
    cpu::ClassLossArgs args = loss_args(o, opt);
    args.stats = const_cast<char*>(static_cast<const char*>(st.data()));
    args.g = static_cast<const char*>(gc.data());
    args.g_stride = scalar ? 0 : 1;
    args.gx = static_cast<char*>(gx.data());
    if (device.is_cpu()) cpu::kernels().class_loss_backward(args);
    else FIBRIL_CUDA_CALL(class_loss_backward, device.index, args);
  }
  return back_from_rows(gx, x, class_dim(x));
}

}  // namespace fibril::ops
