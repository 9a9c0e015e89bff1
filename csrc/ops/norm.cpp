// The norm family's checks. Kernels take contiguous x (a strided input is copied first) and
// parameters of x's dtype.
#include "ops/norm.h"

#include <initializer_list>

#include "core/errors.h"
#include "cpu/kernels.h"
#include "cuda/norm.h"
#include "ops/device.h"

namespace fibril::ops {
namespace {

void check_input(const Array& x, const char* op) {
  FIBRIL_CHECK(is_floating_point(x.dtype()), Type, "[", op, "] needs a floating-point input, got ", x.describe());
}

// p contiguous, of x's dtype, with shape `shape` (ValueError naming both shapes otherwise).
OptArray param(const OptArray& p, const Shape& shape, const Array& x, const char* what, const char* op) {
  if (!p) return p;
  FIBRIL_CHECK(p->shape() == shape, Value, "[", op, "] ", what, " of shape ", shape_str(p->shape()),
               " does not match the expected ", shape_str(shape), " for input shape ", shape_str(x.shape()));
  return p->dtype() == x.dtype() ? p->contiguous() : p->astype(x.dtype());
}

const char* data(const OptArray& p) { return p ? static_cast<const char*>(p->data()) : nullptr; }
char* mutable_data(const OptArray& p) { return p ? static_cast<char*>(p->data()) : nullptr; }

// x's leading shape and the row length, after checking the trailing dims.
Shape leading_shape(const Array& x, const Shape& normalized, const char* op) {
  const size_t k = normalized.size();
  bool ok = k >= 1 && k <= x.shape().size();
  for (size_t i = 0; ok && i < k; ++i) ok = x.shape()[x.shape().size() - k + i] == normalized[i];
  FIBRIL_CHECK(ok, Value, "[", op, "] normalized_shape ", shape_str(normalized), " does not match the trailing dims of input shape ",
               shape_str(x.shape()));
  return Shape(x.shape().begin(), x.shape().end() - static_cast<int64_t>(k));
}

// The norms compute float16 and bfloat16 in float32, and keep the mean and rstd float32 as
// PyTorch does. The CUDA kernels take them as they are (16-bit loads and stores); the CPU, and
// parameters or running statistics of another dtype than x, take widened copies, results
// rounded back.
Array wide(const Array& a) { return is_reduced_float(a.dtype()) ? a.astype(DType::float32) : a; }
DType stats_dtype(const Array& x) { return is_reduced_float(x.dtype()) ? DType::float32 : x.dtype(); }

// True for a 16-bit x that takes the widened path: on the CPU, or with a parameter (or running
// statistic) of another dtype or not contiguous.
bool widen_16bit(const Array& x, std::initializer_list<const OptArray*> params) {
  if (!is_reduced_float(x.dtype())) return false;
  bool widen = x.device().is_cpu();
  for (const OptArray* p : params) widen = widen || (*p && ((*p)->dtype() != x.dtype() || !(*p)->is_contiguous()));
  return widen;
}
OptArray wide(const OptArray& a) { return a ? OptArray(wide(*a)) : a; }
OptArray narrow(const OptArray& a, DType dt) { return a ? OptArray(a->astype(dt)) : a; }

int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

struct ChannelLayout {
  int64_t batch, channels, spatial;
};

ChannelLayout channels_of(const Array& x, const char* op) {
  FIBRIL_CHECK(x.ndim() >= 2, Value, "[", op, "] needs an input of at least 2 dims (N, C, ...), got ", x.describe());
  return {x.shape()[0], x.shape()[1], x.numel() / std::max<int64_t>(1, x.shape()[0] * x.shape()[1])};
}

}  // namespace

NormResult row_norm(bool rms, const Array& x_in, const Shape& normalized, const OptArray& weight,
                    const OptArray& bias, double eps) {
  const char* op = rms ? "rms_norm" : "layer_norm";
  check_input(x_in, op);
  if (widen_16bit(x_in, {&weight, &bias})) {
    NormResult r = row_norm(rms, wide(x_in), normalized, wide(weight), wide(bias), eps);
    return NormResult{r.y.astype(x_in.dtype()), r.mean, r.rstd};
  }
  const Device device = common_device(op, {&x_in, weight ? &*weight : nullptr, bias ? &*bias : nullptr});
  const Shape lead = leading_shape(x_in, normalized, op);
  const Array x = x_in.contiguous();
  const OptArray w = param(weight, normalized, x, "weight", op);
  const OptArray b = param(bias, normalized, x, "bias", op);
  NormResult r{Array::empty(x.shape(), x.dtype(), device), Array::empty(lead, stats_dtype(x), device),
               Array::empty(lead, stats_dtype(x), device)};
  const int64_t n = numel_of(normalized);
  if (x.numel() == 0) return r;
  cpu::RowNormArgs args{rms, x.dtype(), x.numel() / n, n, eps, static_cast<const char*>(x.data()), data(w), data(b),
                        static_cast<char*>(r.y.data()), static_cast<char*>(r.mean.data()),
                        static_cast<char*>(r.rstd.data()), nullptr, nullptr, nullptr, nullptr, nullptr};
  if (device.is_cpu()) cpu::kernels().row_norm(args);
  else FIBRIL_CUDA_CALL(row_norm, device.index, args);
  return r;
}

NormGrads row_norm_backward(bool rms, const Array& g_in, const Array& x_in, const Shape& normalized,
                            const OptArray& weight, const Array& mean, const Array& rstd, bool want_weight,
                            bool want_bias) {
  const char* op = rms ? "rms_norm_backward" : "layer_norm_backward";
  check_input(x_in, op);
  if (widen_16bit(x_in, {&weight}) && g_in.dtype() == x_in.dtype()) {
    NormGrads r = row_norm_backward(rms, wide(g_in), wide(x_in), normalized, wide(weight), wide(mean), wide(rstd),
                                    want_weight, want_bias);
    const DType pd = weight ? weight->dtype() : x_in.dtype();
    return NormGrads{r.gx.astype(x_in.dtype()), narrow(r.gw, pd), narrow(r.gb, pd)};
  }
  const Device device = common_device(op, {&g_in, &x_in, weight ? &*weight : nullptr, &mean, &rstd});
  leading_shape(x_in, normalized, op);
  FIBRIL_CHECK(g_in.shape() == x_in.shape() && g_in.dtype() == x_in.dtype(), Value, "[", op, "] gradient ",
               g_in.describe(), " does not match the input ", x_in.describe());
  const Array x = x_in.contiguous(), g = g_in.contiguous();
  const OptArray w = param(weight, normalized, x, "weight", op);
  const DType sd = stats_dtype(x);
  const Array mean_c = mean.dtype() == sd ? mean : mean.astype(sd);
  const Array rstd_c = rstd.dtype() == sd ? rstd : rstd.astype(sd);
  const int64_t n = numel_of(normalized), rows = n ? x.numel() / n : 0;
  NormGrads r{Array::empty(x.shape(), x.dtype(), device), std::nullopt, std::nullopt};
  if (want_weight && w) r.gw = Array::empty(normalized, x.dtype(), device);
  if (want_bias) r.gb = Array::empty(normalized, x.dtype(), device);
  if (x.numel() == 0) {
    if (r.gw) r.gw->fill(0.0);
    if (r.gb) r.gb->fill(0.0);
    return r;
  }
  const int64_t blocks = (rows + cpu::kNormRowBlock - 1) / cpu::kNormRowBlock;
  // the CUDA kernels take their own scratch
  Array scratch = Array::empty({(r.gw || r.gb) && device.is_cpu() ? 2 * blocks * n : 0}, x.dtype());
  cpu::RowNormArgs args{rms, x.dtype(), rows, n, 0.0, static_cast<const char*>(x.data()), data(w), nullptr,
                        nullptr, static_cast<char*>(mean_c.data()), static_cast<char*>(rstd_c.data()),
                        static_cast<const char*>(g.data()), static_cast<char*>(r.gx.data()), mutable_data(r.gw),
                        mutable_data(r.gb), static_cast<char*>(scratch.data())};
  if (device.is_cpu()) cpu::kernels().row_norm(args);
  else FIBRIL_CUDA_CALL(row_norm, device.index, args);
  return r;
}

NormResult batch_norm(const Array& x_in, const OptArray& weight, const OptArray& bias, const OptArray& running_mean,
                      const OptArray& running_var, bool training, double momentum, double eps) {
  const char* op = "batch_norm";
  check_input(x_in, op);
  if (widen_16bit(x_in, {&weight, &bias, &running_mean, &running_var})) {
    const OptArray mean_wide = wide(running_mean), var_wide = wide(running_var);
    NormResult r = batch_norm(wide(x_in), wide(weight), wide(bias), mean_wide, var_wide, training, momentum, eps);
    for (auto [stat, stat_wide] : {std::pair{&running_mean, &mean_wide}, std::pair{&running_var, &var_wide}}) {
      if (training && *stat && is_reduced_float((*stat)->dtype())) Array(**stat).copy_from(**stat_wide);  // rounded back
    }
    return NormResult{r.y.astype(x_in.dtype()), r.mean, r.rstd};
  }
  const Device device = common_device(op, {&x_in, weight ? &*weight : nullptr, bias ? &*bias : nullptr,
                                           running_mean ? &*running_mean : nullptr,
                                           running_var ? &*running_var : nullptr});
  const ChannelLayout l = channels_of(x_in, op);
  FIBRIL_CHECK(!training || l.batch * l.spatial > 1, Value, "[batch_norm] expected more than 1 value per channel when training, got input size ",
               shape_str(x_in.shape()));
  FIBRIL_CHECK(training || (running_mean && running_var), Value,
               "[batch_norm] running_mean and running_var are needed in eval mode (training=False)");
  const Shape c_shape{l.channels};
  for (const OptArray* p : {&running_mean, &running_var}) {
    FIBRIL_CHECK(!*p || ((*p)->shape() == c_shape && (*p)->dtype() == x_in.dtype() && (*p)->is_contiguous()), Value,
                 "[batch_norm] running statistics must be contiguous ", dtype_name(x_in.dtype()), " of shape ",
                 shape_str(c_shape), " for input shape ", shape_str(x_in.shape()), ", got ", (*p)->describe());
  }
  const Array x = x_in.contiguous();
  const OptArray w = param(weight, c_shape, x, "weight", op);
  const OptArray b = param(bias, c_shape, x, "bias", op);
  NormResult r{Array::empty(x.shape(), x.dtype(), device), Array::empty(c_shape, stats_dtype(x), device),
               Array::empty(c_shape, stats_dtype(x), device)};
  if (l.channels == 0) return r;
  cpu::BatchNormArgs args{x.dtype(), l.batch, l.channels, l.spatial, training, momentum, eps,
                          static_cast<const char*>(x.data()), data(w), data(b), mutable_data(running_mean),
                          mutable_data(running_var), static_cast<char*>(r.y.data()), static_cast<char*>(r.mean.data()),
                          static_cast<char*>(r.rstd.data()), nullptr, nullptr, nullptr, nullptr};
  if (device.is_cpu()) cpu::kernels().batch_norm(args);
  else FIBRIL_CUDA_CALL(batch_norm, device.index, args);
  return r;
}

NormGrads batch_norm_backward(const Array& g_in, const Array& x_in, const OptArray& weight, const Array& mean,
                              const Array& rstd, bool training, bool want_weight, bool want_bias) {
  const char* op = "batch_norm_backward";
  check_input(x_in, op);
  if (widen_16bit(x_in, {&weight}) && g_in.dtype() == x_in.dtype()) {
    NormGrads r = batch_norm_backward(wide(g_in), wide(x_in), wide(weight), wide(mean), wide(rstd), training,
                                      want_weight, want_bias);
    const DType pd = weight ? weight->dtype() : x_in.dtype();
    return NormGrads{r.gx.astype(x_in.dtype()), narrow(r.gw, pd), narrow(r.gb, pd)};
  }
  const Device device = common_device(op, {&g_in, &x_in, weight ? &*weight : nullptr, &mean, &rstd});
  const ChannelLayout l = channels_of(x_in, op);
  FIBRIL_CHECK(g_in.shape() == x_in.shape() && g_in.dtype() == x_in.dtype(), Value, "[", op, "] gradient ",
               g_in.describe(), " does not match the input ", x_in.describe());
  const Array x = x_in.contiguous(), g = g_in.contiguous();
  const Shape c_shape{l.channels};
  const OptArray w = param(weight, c_shape, x, "weight", op);
  const DType sd = stats_dtype(x);
  const Array mean_c = mean.dtype() == sd ? mean : mean.astype(sd);
  const Array rstd_c = rstd.dtype() == sd ? rstd : rstd.astype(sd);
  NormGrads r{Array::empty(x.shape(), x.dtype(), device), std::nullopt, std::nullopt};
  if (want_weight && w) r.gw = Array::empty(c_shape, x.dtype(), device);
  if (want_bias) r.gb = Array::empty(c_shape, x.dtype(), device);
  if (l.channels == 0) return r;
  cpu::BatchNormArgs args{x.dtype(), l.batch, l.channels, l.spatial, training, 0.0, 0.0,
                          static_cast<const char*>(x.data()), data(w), nullptr, nullptr, nullptr, nullptr,
                          static_cast<char*>(mean_c.data()), static_cast<char*>(rstd_c.data()),
                          static_cast<const char*>(g.data()), static_cast<char*>(r.gx.data()), mutable_data(r.gw),
                          mutable_data(r.gb)};
  if (device.is_cpu()) cpu::kernels().batch_norm(args);
  else FIBRIL_CUDA_CALL(batch_norm, device.index, args);
  return r;
}

}  // namespace fibril::ops
