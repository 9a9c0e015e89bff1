// The reduce family's argument checks, result shapes and dtypes; the CPU kernels
// (csrc/cpu/reduce.cpp, arg_reduce.cpp, scan.cpp) or the CUDA ones (csrc/cuda/reduce.cu,
// arg_reduce.cu) do the work. Fused forms are two kernel passes, each in a fixed order:
// mean = sum / n; var = sum((x - mean)^2) / (n - correction) (two-pass, so no
// cancellation); logsumexp = log(sum(exp(x - amax))) + amax.
#include "ops/reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/errors.h"
#include "cpu/kernels.h"
#include "cuda/reduce.h"

namespace fibril::ops {
namespace {

using cpu::ReduceKind;

const char* op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::mean: return "mean";
    case ReduceOp::prod: return "prod";
    case ReduceOp::amax: return "amax";
    case ReduceOp::amin: return "amin";
    case ReduceOp::any: return "any";
    case ReduceOp::all: return "all";
    case ReduceOp::logsumexp: return "logsumexp";
  }
  return "reduce";
}

// The reductions run float16 and bfloat16 in float32 (a widened copy; the kernels have no
// 16-bit loads) and round the result back.
Array widened(const Array& x) { return is_reduced_float(x.dtype()) ? x.astype(DType::float32) : x; }
Array narrowed(const Array& r, DType dt) { return r.dtype() == DType::float32 && dt != r.dtype() ? r.astype(dt) : r; }

void check_floating(const Array& x, const char* op) {
  FIBRIL_CHECK(is_floating_point(x.dtype()), Type, "[", op, "] needs a floating-point input, got ", x.describe());
}

// Which input dims a reduction removes, the result's shape, and the elements per output.
struct Plan {
  std::vector<bool> reduced;
  Shape out_shape;
  int64_t count = 1;
};

Plan plan_reduction(const Array& x, const Dims& dims, bool keepdim, const char* op) {
  const int nd = x.ndim();
  Plan plan;
  plan.reduced.assign(nd, !dims || dims->empty());
  bool scalar_seen = false;  // a 0-d array takes dim 0 (or -1) once
  if (dims) {
    for (int64_t d : *dims) {
      const int w = wrap_dim(d, nd, op);
      const bool seen = nd == 0 ? scalar_seen : static_cast<bool>(plan.reduced[w]);
      FIBRIL_CHECK(!seen, Value, "[", op, "] dim ", w, " appears more than once in dims ", shape_str(*dims),
                   " for ", x.describe());
      if (nd == 0) scalar_seen = true;
      else plan.reduced[w] = true;
    }
  }
  for (int i = 0; i < nd; ++i) {
    if (plan.reduced[i]) {
      plan.count *= x.shape()[i];
      if (keepdim) plan.out_shape.push_back(1);
    } else {
      plan.out_shape.push_back(x.shape()[i]);
    }
  }
  return plan;
}

// Runs one kernel pass: out (contiguous, plan.out_shape) = kind over the planned dims of x.
void run(ReduceKind kind, const Array& x, const Plan& plan, const Array& out, const Array* aux = nullptr,
         double divisor = 1, double p = 1, bool root = false) {
  Shape kept_shape, kept_strides, red_shape, red_strides;
  for (int i = 0; i < x.ndim(); ++i) {
    (plan.reduced[i] ? red_shape : kept_shape).push_back(x.shape()[i]);
    (plan.reduced[i] ? red_strides : kept_strides).push_back(x.strides()[i]);
  }
  cpu::ReduceArgs args{kind,
                       x.dtype(),
                       static_cast<const char*>(x.data()),
                       static_cast<int>(kept_shape.size()),
                       kept_shape.data(),
                       kept_strides.data(),
                       static_cast<int>(red_shape.size()),
                       red_shape.data(),
                       red_strides.data(),
                       static_cast<char*>(out.data()),
                       aux ? aux->data() : nullptr,
                       divisor,
                       p,
                       root};
  if (x.device().is_cpu()) cpu::kernels().reduce(args);
  else FIBRIL_CUDA_CALL(reduce, x.device().index, args);
}

void check_nonempty(const Array& x, const Plan& plan, const char* op) {
  FIBRIL_CHECK(plan.count > 0, Index, "[", op, "] cannot reduce ", x.describe(),
               " over an empty dim: the operation has no identity (reduce over non-empty dims only)");
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Array moments(const Array& x, const Dims& dims, double correction, bool keepdim, bool root) {
  const char* op = root ? "std" : "var";
  check_floating(x, op);
  const Plan plan = plan_reduction(x, dims, keepdim, op);
  Array out = Array::empty(plan.out_shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  if (plan.count == 0) {
    out.fill(kNaN);
    return out;
  }
  Array mean = Array::empty(plan.out_shape, x.dtype(), x.device());
  run(ReduceKind::sum, x, plan, mean, nullptr, static_cast<double>(plan.count));
  const double dof = std::max(0.0, static_cast<double>(plan.count) - correction);
  run(ReduceKind::sum_sq_dev, x, plan, out, &mean, dof, 1, root);
  return out;
}

// `dim` of x as (outer, n, inner) and the shape without it (or with 1 for keepdim).
struct AlongDim {
  int64_t outer = 1, n = 1, inner = 1;
  Shape out_shape;
};

AlongDim along_dim(const Array& x, int64_t dim, bool keepdim, const char* op) {
  const int nd = x.ndim();
  const int d = wrap_dim(dim, nd, op);
  AlongDim s;
  for (int i = 0; i < nd; ++i) {
    const int64_t size = x.shape()[i];
    if (i < d) s.outer *= size;
    if (i > d) s.inner *= size;
    if (i == d) s.n = size;
    if (i != d || keepdim) s.out_shape.push_back(i == d ? 1 : size);
  }
  return s;
}

std::pair<Array, Array> arg_reduce(const Array& x_in, std::optional<int64_t> dim, bool keepdim, bool is_max,
                                   bool want_values, const char* op) {
  FIBRIL_CHECK(want_values || x_in.dtype() != DType::bool_, Type, "[", op, "] does not support bool input, got ",
               x_in.describe());
  if (is_reduced_float(x_in.dtype())) {  // widening keeps the order, ties and NaNs
    auto [values, indices] = arg_reduce(widened(x_in), dim, keepdim, is_max, want_values, op);
    return {want_values ? narrowed(values, x_in.dtype()) : values, indices};
  }
  const Array x = x_in.contiguous();
  AlongDim s;
  if (dim) {
    s = along_dim(x, *dim, keepdim, op);
  } else {
    s.n = x.numel();
    if (keepdim) s.out_shape.assign(x.ndim(), 1);
  }
  FIBRIL_CHECK(s.n > 0, Index, "[", op, "] cannot reduce ", x.describe(),
               dim ? " over an empty dim" : " (empty, and no dim given)", ": the operation has no identity");
  Array indices = Array::empty(s.out_shape, DType::int64, x.device());
  Array values = want_values ? Array::empty(s.out_shape, x.dtype(), x.device()) : indices;
  cpu::ArgReduceArgs args{is_max,     x.dtype(), static_cast<const char*>(x.data()),
                          s.outer,    s.n,       s.inner,
                          want_values ? static_cast<char*>(values.data()) : nullptr,
                          static_cast<int64_t*>(indices.data())};
  if (indices.numel() == 0) return {values, indices};
  if (x.device().is_cpu()) cpu::kernels().arg_reduce(args);
  else FIBRIL_CUDA_CALL(arg_reduce, x.device().index, args);
  return {values, indices};
}

Array scan(const Array& x_in, int64_t dim, std::optional<DType> dtype, bool is_prod, const char* op) {
  const DType in = dtype.value_or(x_in.dtype());
  if (is_reduced_float(in)) return narrowed(scan(widened(x_in), dim, DType::float32, is_prod, op), in);
  Array x = dtype && *dtype != x_in.dtype() ? x_in.astype(*dtype) : x_in.contiguous();
  const AlongDim s = along_dim(x, dim, true, op);
  Array out = Array::empty(x.shape(), is_floating_point(x.dtype()) ? x.dtype() : DType::int64, x.device());
  cpu::ScanArgs args{is_prod, x.dtype(), static_cast<const char*>(x.data()), static_cast<char*>(out.data()),
                     s.outer, s.n,       s.inner};
  if (x.device().is_cpu()) cpu::kernels().scan(args);
  else FIBRIL_CUDA_CALL(scan, x.device().index, args);
  return dtype && out.dtype() != *dtype ? out.astype(*dtype) : out;
}

}  // namespace

Array reduce(ReduceOp op, const Array& x_in, const Dims& dims, bool keepdim, std::optional<DType> dtype) {
  const char* name = op_name(op);
  const bool takes_dtype = op == ReduceOp::sum || op == ReduceOp::mean || op == ReduceOp::prod;
  FIBRIL_CHECK(!dtype || takes_dtype, Type, "[", name, "] takes no dtype argument");
  const DType in = dtype.value_or(x_in.dtype());
  if (is_reduced_float(in)) {  // float32 accumulation, the result rounded back
    const bool direct = op == ReduceOp::sum || op == ReduceOp::mean || op == ReduceOp::amax || op == ReduceOp::amin;
    if (!x_in.device().is_cpu() && direct && in == x_in.dtype()) {
      // The CUDA kernels read 16-bit elements themselves and write float32.
      const Plan plan = plan_reduction(x_in, dims, keepdim, name);
      if (op == ReduceOp::amax || op == ReduceOp::amin) check_nonempty(x_in, plan, name);
      Array out = Array::empty(plan.out_shape, DType::float32, x_in.device());
      if (out.numel() > 0 && plan.count > 0) {
        const ReduceKind kind = op == ReduceOp::amax ? ReduceKind::max : op == ReduceOp::amin ? ReduceKind::min
                                                                                              : ReduceKind::sum;
        run(kind, x_in, plan, out, nullptr, op == ReduceOp::mean ? static_cast<double>(plan.count) : 1.0);
        return out.astype(in);
      }
    }
    Array r = reduce(op, widened(x_in), dims, keepdim, dtype ? std::optional<DType>(DType::float32) : std::nullopt);
    return narrowed(r, in);
  }
  FIBRIL_CHECK(op != ReduceOp::mean || is_floating_point(dtype.value_or(x_in.dtype())), Type,
               "[mean] needs a floating-point input or dtype, got ", x_in.describe(),
               dtype ? std::string(" with dtype ") + dtype_name(*dtype) : std::string());
  Array x = x_in;
  if (dtype && *dtype != x.dtype()) x = x.astype(*dtype);
  if (op == ReduceOp::logsumexp && !is_floating_point(x.dtype())) x = x.astype(DType::float32);

  const Plan plan = plan_reduction(x, dims, keepdim, name);
  DType out_dtype = x.dtype();
  if ((op == ReduceOp::sum || op == ReduceOp::prod) && !is_floating_point(x.dtype())) out_dtype = DType::int64;
  // any/all give bool, but uint8 for uint8 (PyTorch's legacy rule; the same 0/1 bytes).
  if ((op == ReduceOp::any || op == ReduceOp::all) && x.dtype() != DType::uint8) out_dtype = DType::bool_;
  if (op == ReduceOp::amax || op == ReduceOp::amin) check_nonempty(x, plan, name);
  Array out = Array::empty(plan.out_shape, out_dtype, x.device());

  if (out.numel() > 0 && plan.count == 0) {  // the identity of an empty extent
    switch (op) {
      case ReduceOp::sum: case ReduceOp::any: out.fill(int64_t{0}); break;
      case ReduceOp::prod: case ReduceOp::all: out.fill(int64_t{1}); break;
      case ReduceOp::mean: out.fill(kNaN); break;
      case ReduceOp::logsumexp: out.fill(-kInf); break;
      case ReduceOp::amax: case ReduceOp::amin: break;  // rejected above
    }
  } else if (out.numel() > 0) {
    switch (op) {
      case ReduceOp::sum: run(ReduceKind::sum, x, plan, out); break;
      case ReduceOp::mean: run(ReduceKind::sum, x, plan, out, nullptr, static_cast<double>(plan.count)); break;
      case ReduceOp::prod: run(ReduceKind::prod, x, plan, out); break;
      case ReduceOp::amax: run(ReduceKind::max, x, plan, out); break;
      case ReduceOp::amin: run(ReduceKind::min, x, plan, out); break;
      case ReduceOp::any: run(ReduceKind::any, x, plan, out); break;
      case ReduceOp::all: run(ReduceKind::all, x, plan, out); break;
      case ReduceOp::logsumexp: {
        Array max = Array::empty(plan.out_shape, x.dtype(), x.device());
        run(ReduceKind::max, x, plan, max);
        run(ReduceKind::sum_exp, x, plan, out, &max);
        break;
      }
    }
  }
  return dtype && out.dtype() != *dtype ? out.astype(*dtype) : out;
}

Array var(const Array& x, const Dims& dims, double correction, bool keepdim) {
  return narrowed(moments(widened(x), dims, correction, keepdim, false), x.dtype());
}

Array stddev(const Array& x, const Dims& dims, double correction, bool keepdim) {
  return narrowed(moments(widened(x), dims, correction, keepdim, true), x.dtype());
}

Array norm(const Array& x_in, double p, const Dims& dims, bool keepdim) {
  if (is_reduced_float(x_in.dtype())) return narrowed(norm(widened(x_in), p, dims, keepdim), x_in.dtype());
  const Array& x = x_in;
  check_floating(x, "norm");
  FIBRIL_CHECK(!std::isnan(p), Value, "[norm] p must be a number, got nan");
  const Plan plan = plan_reduction(x, dims, keepdim, "norm");
  const bool by_extreme = std::isinf(p);
  if (by_extreme) check_nonempty(x, plan, p > 0 ? "norm(p=inf)" : "norm(p=-inf)");
  Array out = Array::empty(plan.out_shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  if (plan.count == 0) {
    out.fill(p < 0 ? kInf : 0.0);  // (sum of nothing)^(1/p)
    return out;
  }
  ReduceKind kind = ReduceKind::norm_p;
  if (p == 0) kind = ReduceKind::norm_0;
  else if (p == 1) kind = ReduceKind::norm_1;
  else if (p == 2) kind = ReduceKind::norm_2;
  else if (by_extreme) kind = p > 0 ? ReduceKind::norm_inf : ReduceKind::norm_neginf;
  run(kind, x, plan, out, nullptr, 1, p);
  return out;
}

std::pair<Array, Array> max_dim(const Array& x, int64_t dim, bool keepdim) {
  return arg_reduce(x, dim, keepdim, true, true, "max");
}

std::pair<Array, Array> min_dim(const Array& x, int64_t dim, bool keepdim) {
  return arg_reduce(x, dim, keepdim, false, true, "min");
}

Array argmax(const Array& x, std::optional<int64_t> dim, bool keepdim) {
  return arg_reduce(x, dim, keepdim, true, false, "argmax").second;
}

Array argmin(const Array& x, std::optional<int64_t> dim, bool keepdim) {
  return arg_reduce(x, dim, keepdim, false, false, "argmin").second;
}

Array cumsum(const Array& x, int64_t dim, std::optional<DType> dtype) { return scan(x, dim, dtype, false, "cumsum"); }

Array cumprod(const Array& x, int64_t dim, std::optional<DType> dtype) { return scan(x, dim, dtype, true, "cumprod"); }

}  // namespace fibril::ops
