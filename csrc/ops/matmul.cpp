// The matmul family's shape rules and batching; cpu/matmul.cpp does the arithmetic. Operands
// are passed to the GEMM with their own strides (transposed, stepped and broadcast views are
// read in place); only the result is allocated.
#include "ops/matmul.h"

#include <vector>

#include <atomic>
#include <optional>

#include "core/errors.h"
#include "core/shape.h"
#include "cuda/matmul.h"
#include "ops/device.h"

namespace fibril::ops {
namespace {

// torch.set_float32_matmul_precision: 0 "highest" (exact float32), 1 "high", 2 "medium"
// (both let CUDA float32 products use TF32 tensor cores; the CPU ignores it).
std::atomic<int> g_precision{0};

Device check_operands(const char* op, const Array& a, const Array& b) {
  const Device device = common_device(op, {&a, &b});
  FIBRIL_CHECK(a.dtype() == b.dtype(), Type, "[", op, "] expected operands of one dtype, got ", a.describe(),
               " and ", b.describe());
  FIBRIL_CHECK(a.dtype() != DType::bool_, Type, "[", op, "] does not support bool operands, got ", a.describe(),
               " and ", b.describe());
  return device;
}

// The batch of GEMMs C[i] = A[i]·B[i] (+ epilogue): A (batch..., m, k), B (batch..., k, n),
// both already broadcast to one batch shape (stride 0 where expanded), C contiguous
// (batch..., m, n). Holds references: an Array copy (two shape vectors) costs more than a
// small GEMM's arithmetic.
struct GemmCall {
  const Array &a, &b, &c;
  double alpha = 1, beta = 0;
  const Array* bias = nullptr;
  int64_t bias_rs = 0, bias_cs = 0;
  cpu::Activation act = cpu::Activation::none;
};

// Offsets (elements) of every batch entry of `x`, whose last two dims are the matrix.
std::vector<int64_t> batch_offsets(const Array& x) {
  const int batch_dims = x.ndim() - 2;
  int64_t count = 1;
  for (int d = 0; d < batch_dims; ++d) count *= x.shape()[d];
  std::vector<int64_t> offsets(static_cast<size_t>(count));
  std::vector<int64_t> index(static_cast<size_t>(std::max(batch_dims, 0)), 0);
  int64_t offset = 0;
  for (int64_t i = 0; i < count; ++i) {
    offsets[static_cast<size_t>(i)] = offset;
    for (int d = batch_dims - 1; d >= 0; --d) {
      offset += x.strides()[d];
      if (++index[d] < x.shape()[d]) break;
      offset -= x.strides()[d] * x.shape()[d];
      index[d] = 0;
    }
  }
  return offsets;
}

void run(const GemmCall& call) {
  if (call.c.device().is_cpu() && is_reduced_float(call.c.dtype())) {
    // The CPU GEMM computes in float32 and float64: 16-bit operands widen, the product rounds back.
    const Array a = call.a.astype(DType::float32), b = call.b.astype(DType::float32);
    const Array c = call.beta != 0 ? call.c.astype(DType::float32) : Array::empty(call.c.shape(), DType::float32);
    GemmCall wide{a, b, c, call.alpha, call.beta, nullptr, 0, 0, call.act};
    std::optional<Array> bias;
    if (call.bias) {  // a 1-D bias: contiguous once widened
      bias = call.bias->astype(DType::float32);
      wide.bias = &*bias;
      wide.bias_rs = call.bias_rs ? 1 : 0;
      wide.bias_cs = call.bias_cs ? 1 : 0;
    }
    run(wide);
    Array(call.c).copy_from(wide.c);
    return;
  }
  const Array &a = call.a, &b = call.b, &c = call.c;
  const int nd = a.ndim();
  cpu::MatmulArgs args{};
  args.dtype = a.dtype();
  args.m = a.shape()[nd - 2];
  args.k = a.shape()[nd - 1];
  args.n = b.shape()[nd - 1];
  args.batch = c.numel() == 0 ? 0 : c.numel() / (args.m * args.n);
  if (args.batch == 0) return;
  // Each GEMM's pointers are data() + offset; the kernel sees the first entry's base.
  args.a = static_cast<const char*>(a.data());
  args.b = static_cast<const char*>(b.data());
  args.c = static_cast<char*>(c.data());
  args.a_rs = a.strides()[nd - 2];
  args.a_cs = a.strides()[nd - 1];
  args.b_rs = b.strides()[nd - 2];
  args.b_cs = b.strides()[nd - 1];
  args.c_rs = args.n;
  std::vector<int64_t> a_off, b_off, c_off;
  if (nd > 2) {
    a_off = batch_offsets(a);
    b_off = batch_offsets(b);
    c_off.resize(a_off.size());
    for (size_t i = 0; i < c_off.size(); ++i) c_off[i] = static_cast<int64_t>(i) * args.m * args.n;
    args.a_offsets = a_off.data();
    args.b_offsets = b_off.data();
    args.c_offsets = c_off.data();
  }
  args.alpha = call.alpha;
  args.beta = call.beta;
  if (call.bias) {
    args.bias = static_cast<const char*>(call.bias->data());
    args.bias_rs = call.bias_rs;
    args.bias_cs = call.bias_cs;
  }
  args.act = call.act;
  const Device device = c.device();
  if (device.is_cpu()) cpu::kernels().matmul(args);
  else FIBRIL_CUDA_CALL(matmul, device.index, args, float32_matmul_allows_tf32());
}

// (m, k)·(k, n) shapes of the two operands' last dims must agree.
void check_inner(const char* op, const Array& a, const Array& b, int64_t ka, int64_t kb) {
  FIBRIL_CHECK(ka == kb, Value, "[", op, "] inner dimensions differ: ", a.describe(), " and ", b.describe(),
               " (", ka, " != ", kb, ")");
}

}  // namespace

Array matmul(const Array& a_in, const Array& b_in) {
  const Device device = check_operands("matmul", a_in, b_in);
  FIBRIL_CHECK(a_in.ndim() >= 1 && b_in.ndim() >= 1, Value, "[matmul] both operands need at least 1 dim, got ",
               a_in.describe(), " and ", b_in.describe());
  if (a_in.ndim() == 2 && b_in.ndim() == 2) {  // the common case, without copies or batch shapes
    check_inner("matmul", a_in, b_in, a_in.shape()[1], b_in.shape()[0]);
    Array c = Array::empty({a_in.shape()[0], b_in.shape()[1]}, a_in.dtype(), device);
    run(GemmCall{a_in, b_in, c});
    return c;
  }
  // 1-D operands become a row (left) or a column (right) matrix; that dim is dropped again.
  const bool a_vec = a_in.ndim() == 1, b_vec = b_in.ndim() == 1;
  const Array a = a_vec ? a_in.unsqueeze(0) : a_in;
  const Array b = b_vec ? b_in.unsqueeze(1) : b_in;
  const int64_t m = a.shape()[a.ndim() - 2], k = a.shape()[a.ndim() - 1];
  const int64_t kb = b.shape()[b.ndim() - 2], n = b.shape()[b.ndim() - 1];
  check_inner("matmul", a_in, b_in, k, kb);
  const Shape a_batch(a.shape().begin(), a.shape().end() - 2), b_batch(b.shape().begin(), b.shape().end() - 2);

  const auto finish = [&](const Array& c, Shape out_shape) {
    if (!a_vec) out_shape.push_back(m);
    if (!b_vec) out_shape.push_back(n);
    return c.view(out_shape);
  };
  if (b_batch.empty() && !a_batch.empty()) {
    // (batch..., m, k)·(k, n): one GEMM over all rows of A.
    int64_t rows = m;
    for (int64_t s : a_batch) rows *= s;
    Array c = Array::empty({rows, n}, a.dtype(), device);
    run(GemmCall{a.reshape({rows, k}), b, c});
    return finish(c, a_batch);
  }
  const Shape batch = broadcast_shapes(a_batch, b_batch, "matmul");
  Shape a_full = batch, b_full = batch, c_full = batch;
  a_full.insert(a_full.end(), {m, k});
  b_full.insert(b_full.end(), {k, n});
  c_full.insert(c_full.end(), {m, n});
  Array c = Array::empty(c_full, a.dtype(), device);
  run(GemmCall{a.expand(a_full), b.expand(b_full), c});
  return finish(c, batch);
}

Array addmm(const Array& c_in, const Array& a, const Array& b, double beta, double alpha) {
  const Device device = check_operands("addmm", a, b);
  check_operands("addmm", c_in, a);
  FIBRIL_CHECK(a.ndim() == 2 && b.ndim() == 2, Value, "[addmm] expects 2-D matrices, got ", a.describe(), " and ",
               b.describe());
  check_inner("addmm", a, b, a.shape()[1], b.shape()[0]);
  const Shape out_shape{a.shape()[0], b.shape()[1]};
  Array c = Array::empty(out_shape, a.dtype(), device);
  FIBRIL_CHECK(broadcast_shapes(c_in.shape(), out_shape, "addmm") == out_shape, Value, "[addmm] input ",
               c_in.describe(), " does not broadcast to the product's shape ", shape_str(out_shape));
  if (beta != 0) c.copy_from(c_in);
  GemmCall call{a, b, c};
  call.alpha = alpha;
  call.beta = beta;
  run(call);
  return c;
}

Array linear(const Array& x, const Array& weight, const std::optional<Array>& bias, cpu::Activation act) {
  const Device device = check_operands("linear", x, weight);
  FIBRIL_CHECK(x.ndim() >= 1 && weight.ndim() == 2, Value, "[linear] expects input (..., in) and weight (out, in), got ",
               x.describe(), " and ", weight.describe());
  const int64_t in = x.shape()[x.ndim() - 1], out = weight.shape()[0];
  FIBRIL_CHECK(weight.shape()[1] == in, Value, "[linear] input features differ: ", x.describe(), " and weight ",
               weight.describe(), " (", in, " != ", weight.shape()[1], ")");
  FIBRIL_CHECK(act == cpu::Activation::none || act == cpu::Activation::relu || is_floating_point(x.dtype()), Type,
               "[linear] gelu needs floating-point operands, got ", x.describe());
  if (bias) {
    check_operands("linear", x, *bias);
    FIBRIL_CHECK(bias->ndim() == 1 && bias->shape()[0] == out, Value, "[linear] bias must have shape [", out,
                 "], got ", bias->describe());
  }
  int64_t rows = 1;
  for (int d = 0; d < x.ndim() - 1; ++d) rows *= x.shape()[d];
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(out);
  Array c = Array::empty({rows, out}, x.dtype(), device);
  const Array x2 = x.reshape({rows, in}), weight_t = weight.transpose(0, 1);
  GemmCall call{x2, weight_t, c};
  if (bias) {
    call.bias = &*bias;
    call.bias_cs = bias->strides()[0];
  }
  call.act = act;
  run(call);
  return c.view(out_shape);
}

void set_float32_matmul_precision(const std::string& precision) {
  int level;
  if (precision == "highest") level = 0;
  else if (precision == "high") level = 1;
  else if (precision == "medium") level = 2;
  else FIBRIL_FAIL(Value, "[set_float32_matmul_precision] expected 'highest', 'high' or 'medium', got '",
                   precision, "'");
  g_precision.store(level, std::memory_order_relaxed);
}

std::string get_float32_matmul_precision() {
  static const char* const names[] = {"highest", "high", "medium"};
  return names[g_precision.load(std::memory_order_relaxed)];
}

bool float32_matmul_allows_tf32() { return g_precision.load(std::memory_order_relaxed) != 0; }

}  // namespace fibril::ops
