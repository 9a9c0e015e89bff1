// The optim family's checks and per-tensor scalars; the CPU kernels do the element work
// (csrc/cpu/optim.cpp). Each call groups the tensors by dtype and makes one kernel call per
// group. A non-contiguous param is updated through a contiguous copy written back; a
// non-contiguous gradient is read through a contiguous copy.
#include "ops/optim.h"

#include <cmath>
#include <functional>
#include <limits>
#include <optional>

#include "core/errors.h"
#include "cpu/kernels.h"
#include "cuda/optim.h"
#include "ops/device.h"

namespace fibril::ops {
namespace {

bool is_float(DType d) { return d == DType::float32 || d == DType::float64; }

void check_float(const Array& x, const char* op, const char* what, size_t i) {
  FIBRIL_CHECK(is_floating_point(x.dtype()), Type, "[", op, "] needs floating-point tensors, but ", what, " ", i,
               " is ", x.describe());
}

void check_cpu_float(const Array& x, const char* op, const char* what, size_t i) {
  FIBRIL_CHECK(x.device().is_cpu(), NotImplemented, "[", op, "] not implemented on CUDA yet (", what, " ", i,
               " is ", x.describe(), ")");
  FIBRIL_CHECK(is_float(x.dtype()), Type, "[", op, "] needs float32 or float64 tensors, but ", what, " ", i, " is ",
               x.describe());
}

void check_lengths(const std::vector<Array>& list, size_t n, const char* op, const char* what) {
  FIBRIL_CHECK(list.empty() || list.size() == n, Value, "[", op, "] got ", n, " params but ", list.size(), " ", what);
}

void check_state(const Array& s, const Array& param, const char* op, const char* what, size_t i) {
  FIBRIL_CHECK(s.dtype() == param.dtype() && s.shape() == param.shape() && s.device() == param.device(), Value, "[",
               op, "] ", what, " ", i, " is ", s.describe(), " but its param is ", param.describe());
  FIBRIL_CHECK(s.is_contiguous(), Value, "[", op, "] ", what, " ", i, " must be contiguous");
}

// Adds one to a one-element float step counter in place and returns the new value.
double increment_step(const Array& step, const char* op, size_t i) {
  FIBRIL_CHECK(step.numel() == 1 && is_float(step.dtype()) && step.device().is_cpu(), Value, "[", op, "] step ", i,
               " must be a one-element float32 or float64 tensor on cpu, got ", step.describe());
  if (step.dtype() == DType::float64) return *static_cast<double*>(step.data()) += 1.0;
  return *static_cast<float*>(step.data()) += 1.0f;
}

// The pointers of the tensors of one dtype, as a kernel call takes them.
struct Batch {
  std::vector<int64_t> numel;
  std::vector<char*> param, s0, s1, s2;
  std::vector<const char*> grad;
  std::vector<uint8_t> fresh;
  std::vector<double> step_size, bc2_sqrt;
};

char* data(const Array& x) { return static_cast<char*>(x.data()); }

// Checks the lists, then calls `scalars(i, batch)` for each tensor (to append its per-tensor
// scalars) and the kernel once per dtype.
void run(cpu::OptimArgs args, const char* op, const std::vector<Array>& params, const std::vector<Array>& grads,
         const std::vector<Array>* states[3], const char* const state_names[3],
         const std::function<void(size_t, Batch&)>& scalars) {
  const size_t n = params.size();
  FIBRIL_CHECK(grads.size() == n, Value, "[", op, "] got ", n, " params but ", grads.size(), " grads");
  for (int k = 0; k < 3; ++k) check_lengths(*states[k], n, op, state_names[k]);
  // The kernels' operands: contiguous, and float32 copies of 16-bit params, grads and states
  // (the kernels have no 16-bit loops), written back rounded after the step.
  std::vector<Array> params_c, grads_c;
  std::vector<std::optional<Array>> states_c[3];
  const auto state = [&](int k, size_t i) -> const Array& { return states_c[k][i] ? *states_c[k][i] : (*states[k])[i]; };
  const Device device = n == 0 ? Device{} : params[0].device();
  for (size_t i = 0; i < n; ++i) {
    const Array& p = params[i];
    check_float(p, op, "param", i);
    common_device(op, {&params[0], &p, &grads[i]});
    FIBRIL_CHECK(grads[i].dtype() == p.dtype() && grads[i].shape() == p.shape(), Value,
                 "[", op, "] grad ", i, " is ", grads[i].describe(), " but its param is ", p.describe());
    check_writable_layout(p, op);
    for (int k = 0; k < 3; ++k) {
      if (!states[k]->empty()) check_state((*states[k])[i], p, op, state_names[k], i);
    }
    const bool reduced = is_reduced_float(p.dtype());
    params_c.push_back(reduced ? p.astype(DType::float32) : p.contiguous());
    grads_c.push_back(reduced ? grads[i].astype(DType::float32) : grads[i].contiguous());
    for (int k = 0; k < 3; ++k) {
      states_c[k].push_back(reduced && !states[k]->empty() ? std::optional<Array>((*states[k])[i].astype(DType::float32))
                                                           : std::nullopt);
    }
  }
  for (DType dtype : {DType::float32, DType::float64}) {
    Batch b;
    for (size_t i = 0; i < n; ++i) {
      if (params_c[i].dtype() != dtype) continue;
      b.numel.push_back(params[i].numel());
      b.param.push_back(data(params_c[i]));
      b.grad.push_back(data(grads_c[i]));
      b.s0.push_back(states[0]->empty() ? nullptr : data(state(0, i)));
      b.s1.push_back(states[1]->empty() ? nullptr : data(state(1, i)));
      b.s2.push_back(states[2]->empty() ? nullptr : data(state(2, i)));
      scalars(i, b);
    }
    if (b.numel.empty()) continue;
    args.dtype = dtype;
    args.count = static_cast<int64_t>(b.numel.size());
    args.numel = b.numel.data();
    args.param = b.param.data();
    args.grad = b.grad.data();
    args.state0 = b.s0.data();
    args.state1 = b.s1.data();
    args.state2 = b.s2.data();
    args.fresh = b.fresh.data();
    args.step_size = b.step_size.data();
    args.bc2_sqrt = b.bc2_sqrt.data();
    if (device.is_cpu()) cpu::kernels().optim_step(args);
    else FIBRIL_CUDA_CALL(optim_step, device.index, args);
  }
  for (size_t i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k) {
      if (states_c[k][i]) Array((*states[k])[i]).copy_from(*states_c[k][i]);
    }
    if (params_c[i].data() == params[i].data()) continue;
    Array dst = params[i];  // a handle: writes go to the param's storage
    dst.copy_from(params_c[i]);
  }
}

cpu::OptimArgs base_args(cpu::OptimKind kind) {
  cpu::OptimArgs a{};
  a.kind = kind;
  return a;
}

}  // namespace

void sgd_step(const std::vector<Array>& params, const std::vector<Array>& grads,
              const std::vector<Array>& momentum_buffers, const std::vector<bool>& fresh, const SgdOptions& opt) {
  cpu::OptimArgs a = base_args(cpu::OptimKind::sgd);
  a.lr = opt.lr;
  a.momentum = opt.momentum;
  a.dampening = opt.dampening;
  a.weight_decay = opt.weight_decay;
  a.nesterov = opt.nesterov;
  a.maximize = opt.maximize;
  FIBRIL_CHECK(opt.momentum == 0 || (momentum_buffers.size() == params.size() && fresh.size() == params.size()), Value,
               "[sgd] momentum needs one buffer and one fresh flag per param, got ", momentum_buffers.size(), " and ",
               fresh.size(), " for ", params.size(), " params");
  const std::vector<Array> none;
  const std::vector<Array>* states[3] = {opt.momentum == 0 ? &none : &momentum_buffers, &none, &none};
  const char* const names[3] = {"momentum_buffers", "", ""};
  run(a, "sgd", params, grads, states, names, [&](size_t i, Batch& b) {
    b.fresh.push_back(opt.momentum != 0 && fresh[i]);
  });
}

void adam_step(const std::vector<Array>& params, const std::vector<Array>& grads, const std::vector<Array>& exp_avgs,
               const std::vector<Array>& exp_avg_sqs, const std::vector<Array>& max_exp_avg_sqs,
               const std::vector<Array>& steps, const AdamOptions& opt) {
  const char* op = opt.decoupled_weight_decay ? "adamw" : "adam";
  cpu::OptimArgs a = base_args(cpu::OptimKind::adam);
  a.lr = opt.lr;
  a.beta1 = opt.beta1;
  a.beta2 = opt.beta2;
  a.eps = opt.eps;
  a.weight_decay = opt.weight_decay;
  a.amsgrad = opt.amsgrad;
  a.maximize = opt.maximize;
  a.decoupled_weight_decay = opt.decoupled_weight_decay;
  const size_t n = params.size();
  FIBRIL_CHECK(exp_avgs.size() == n && exp_avg_sqs.size() == n && steps.size() == n, Value, "[", op,
               "] needs exp_avg, exp_avg_sq and step per param, got ", exp_avgs.size(), ", ", exp_avg_sqs.size(),
               " and ", steps.size(), " for ", n, " params");
  FIBRIL_CHECK(!opt.amsgrad || max_exp_avg_sqs.size() == n, Value, "[", op, "] amsgrad needs max_exp_avg_sq per param");
  const std::vector<Array> none;
  const std::vector<Array>* states[3] = {&exp_avgs, &exp_avg_sqs, opt.amsgrad ? &max_exp_avg_sqs : &none};
  const char* const names[3] = {"exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs"};
  run(a, op, params, grads, states, names, [&](size_t i, Batch& b) {
    // As torch, in double: step_size = lr / (1 - beta1^step), (1 - beta2^step)^0.5.
    const double step = increment_step(steps[i], op, i);
    b.step_size.push_back(opt.lr / (1 - std::pow(opt.beta1, step)));
    b.bc2_sqrt.push_back(std::pow(1 - std::pow(opt.beta2, step), 0.5));
  });
}

void rmsprop_step(const std::vector<Array>& params, const std::vector<Array>& grads,
                  const std::vector<Array>& square_avgs, const std::vector<Array>& momentum_buffers,
                  const std::vector<Array>& grad_avgs, const std::vector<Array>& steps, const RmspropOptions& opt) {
  cpu::OptimArgs a = base_args(cpu::OptimKind::rmsprop);
  a.lr = opt.lr;
  a.alpha = opt.alpha;
  a.eps = opt.eps;
  a.weight_decay = opt.weight_decay;
  a.momentum = opt.momentum;
  a.centered = opt.centered;
  a.maximize = opt.maximize;
  const size_t n = params.size();
  FIBRIL_CHECK(square_avgs.size() == n && steps.size() == n, Value,
               "[rmsprop] needs square_avg and step per param, got ", square_avgs.size(), " and ", steps.size(),
               " for ", n, " params");
  FIBRIL_CHECK(opt.momentum <= 0 || momentum_buffers.size() == n, Value,
               "[rmsprop] momentum needs momentum_buffer per param");
  FIBRIL_CHECK(!opt.centered || grad_avgs.size() == n, Value, "[rmsprop] centered needs grad_avg per param");
  const std::vector<Array> none;
  const std::vector<Array>* states[3] = {&square_avgs, opt.momentum > 0 ? &momentum_buffers : &none,
                                         opt.centered ? &grad_avgs : &none};
  const char* const names[3] = {"square_avgs", "momentum_buffers", "grad_avgs"};
  run(a, "rmsprop", params, grads, states, names, [&](size_t i, Batch&) { increment_step(steps[i], "rmsprop", i); });
}

void adagrad_step(const std::vector<Array>& params, const std::vector<Array>& grads, const std::vector<Array>& sums,
                  const std::vector<Array>& steps, const AdagradOptions& opt) {
  cpu::OptimArgs a = base_args(cpu::OptimKind::adagrad);
  a.lr = opt.lr;
  a.weight_decay = opt.weight_decay;
  a.eps = opt.eps;
  a.maximize = opt.maximize;
  const size_t n = params.size();
  FIBRIL_CHECK(sums.size() == n && steps.size() == n, Value, "[adagrad] needs sum and step per param, got ",
               sums.size(), " and ", steps.size(), " for ", n, " params");
  const std::vector<Array> none;
  const std::vector<Array>* states[3] = {&sums, &none, &none};
  const char* const names[3] = {"sums", "", ""};
  run(a, "adagrad", params, grads, states, names, [&](size_t i, Batch& b) {
    const double step = increment_step(steps[i], "adagrad", i);
    b.step_size.push_back(opt.lr / (1 + (step - 1) * opt.lr_decay));
  });
}

Array multi_tensor_norm(const std::vector<Array>& xs, double p) {
  FIBRIL_CHECK(p > 0, Value, "[clip_grad_norm] norm_type must be positive or inf, got ", p);
  const bool inf = std::isinf(p);
  bool any64 = false;
  std::vector<Array> cs;
  for (size_t i = 0; i < xs.size(); ++i) {
    check_cpu_float(xs[i], "clip_grad_norm", "tensor", i);
    any64 |= xs[i].dtype() == DType::float64;
    cs.push_back(xs[i].contiguous());
  }
  double total = 0;  // sum of per-tensor norm^p, or their max
  for (DType dtype : {DType::float32, DType::float64}) {
    std::vector<int64_t> numel;
    std::vector<const char*> ptrs;
    for (const Array& c : cs) {
      if (c.dtype() != dtype) continue;
      numel.push_back(c.numel());
      ptrs.push_back(static_cast<const char*>(c.data()));
    }
    if (numel.empty()) continue;
    std::vector<double> out(numel.size());
    cpu::MultiNormArgs args{dtype, static_cast<int64_t>(numel.size()), numel.data(), ptrs.data(), p, out.data()};
    cpu::kernels().multi_norm(args);
    for (double v : out) {
      // Each tensor's norm rounded to its dtype, as torch's per-tensor vector_norm.
      double norm = inf ? v : p == 1 ? v : p == 2 ? std::sqrt(v) : std::pow(v, 1 / p);
      if (dtype == DType::float32) norm = static_cast<float>(norm);
      if (inf) total = (norm > total || norm != norm) ? norm : total;  // NaN sticks
      else total += p == 1 ? norm : p == 2 ? norm * norm : std::pow(norm, p);
    }
  }
  const double result = inf ? total : p == 1 ? total : p == 2 ? std::sqrt(total) : std::pow(total, 1 / p);
  return Array::full({}, result, any64 ? DType::float64 : DType::float32);
}

void multi_tensor_scale_(const std::vector<Array>& xs, double factor) {
  std::vector<Array> cs;
  for (size_t i = 0; i < xs.size(); ++i) {
    check_cpu_float(xs[i], "clip_grad_norm", "tensor", i);
    check_writable_layout(xs[i], "clip_grad_norm");
    cs.push_back(xs[i].contiguous());
  }
  for (DType dtype : {DType::float32, DType::float64}) {
    std::vector<int64_t> numel;
    std::vector<char*> ptrs;
    for (const Array& c : cs) {
      if (c.dtype() != dtype) continue;
      numel.push_back(c.numel());
      ptrs.push_back(static_cast<char*>(c.data()));
    }
    if (numel.empty()) continue;
    cpu::MultiScaleArgs args{dtype, static_cast<int64_t>(numel.size()), numel.data(), ptrs.data(), factor};
    cpu::kernels().multi_scale(args);
  }
  for (size_t i = 0; i < xs.size(); ++i) {
    if (cs[i].data() == xs[i].data()) continue;
    Array dst = xs[i];
    dst.copy_from(cs[i]);
  }
}

}  // namespace fibril::ops
