#include "ops/elementwise.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <type_traits>

#include "core/errors.h"
#include "cpu/kernels.h"
#include "cuda/elementwise.h"

namespace fibril {
namespace {

#define FIBRIL_OP_NAME(name) #name,
const char* const kUnaryNames[] = {FIBRIL_UNARY_OPS(FIBRIL_OP_NAME)};
const char* const kBinaryNames[] = {FIBRIL_BINARY_OPS(FIBRIL_OP_NAME)};
#undef FIBRIL_OP_NAME

// The device the op runs on: that of its arrays, where a 0-d CPU array (a Python number, or a
// CPU scalar tensor as PyTorch allows) joins any device; RuntimeError for two devices.
Device op_device(const char* op, std::initializer_list<const Array*> arrays) {
  const Array* first = nullptr;
  for (const Array* a : arrays) {
    if (!a || (a->ndim() == 0 && a->device().is_cpu())) continue;
    if (!first) {
      first = a;
      continue;
    }
    FIBRIL_CHECK(a->device() == first->device(), Runtime, "[", op, "] expected all arrays on the same device, got ",
                 first->describe(), " and ", a->describe());
  }
  return first ? first->device() : Device{};
}

void check_out(const char* op, const Array& out, const Shape& shape, DType result) {
  FIBRIL_CHECK(out.shape() == shape, Value, "[", op, "] out has shape ", shape_str(out.shape()),
               ", but the result has the broadcast shape ", shape_str(shape));
  FIBRIL_CHECK(can_cast(result, out.dtype()), Runtime, "[", op, "] result type ", torch_type_name(result),
               " can't be cast to the desired output type ", torch_type_name(out.dtype()));
  check_writable_layout(out, op);
}

// A kernel input and the dtype the kernel reads it in.
struct Input {
  const Array* array;
  DType dtype;
};

// a's strides seen through `ndim` broadcast dims: 0 along the dims it is broadcast over.
void broadcast_strides(const Array& a, int ndim, int64_t* strides) {
  const int lead = ndim - a.ndim();
  for (int i = 0; i < ndim; ++i) strides[i] = i < lead || a.shape()[i - lead] == 1 ? 0 : a.strides()[i - lead];
}

// The part every op shares: bring the inputs to their dtypes (and copy any that partly
// overlaps out), run the kernel into out or a new array, report kernel failures.
// kernel(args, host_scalars): on CUDA, bit k of host_scalars marks input k as a host value.
template <typename Kernel>
Array launch_inputs(const char* op, const Device device, const Shape& shape, DType compute, DType result,
                    const Input* inputs, int count, Array* out, Kernel&& kernel) {
  const int ndim = static_cast<int>(shape.size());
  std::optional<Array> held[3];
  alignas(8) char scalars[3][8];
  int64_t strides[3][kMaxDims];
  cpu::ElementwiseArgs args{};
  unsigned host_scalars = 0;
  int k = 0;
  for (int i = 0; i < count; ++i) {
    const Input& in = inputs[i];
    const Array* a = in.array;
    args.in[k] = static_cast<const char*>(a->data());
    args.in_strides[k] = strides[k];
    // a 0-d host array (a Python number, usually): converted here, no allocation; on CUDA
    // passed to the kernel by value
    if (a->ndim() == 0 && a->device().is_cpu() && (a->dtype() != in.dtype || !device.is_cpu())) {
      cpu::kernels().copy({0, nullptr, scalars[k], in.dtype, nullptr, args.in[k], a->dtype(), nullptr});
      args.in[k] = scalars[k];
      std::fill(strides[k], strides[k] + ndim, 0);
      if (!device.is_cpu()) host_scalars |= 1u << k;
      ++k;
      continue;
    }
    if (a->dtype() != in.dtype) {
      a = &held[k].emplace(a->astype(in.dtype));  // mixed dtypes are rare: convert first
    } else if (out && may_overlap(*out, *a)) {
      a = &held[k].emplace(a->clone());
    }
    broadcast_strides(*a, ndim, strides[k]);
    args.in[k] = static_cast<const char*>(a->data());
    ++k;
  }
  std::optional<Array> fresh;
  Array* target = out;
  if (!out || out->dtype() != result || out->device() != device) target = &fresh.emplace(Array::empty(shape, result, device));
  args.ndim = ndim;
  args.shape = shape.data();
  args.out = static_cast<char*>(target->data());
  args.out_strides = target->strides().data();
  args.dtype = compute;
  const cpu::KernelStatus status = kernel(args, host_scalars);
  FIBRIL_CHECK(status != cpu::KernelStatus::zero_division, Runtime, "[", op,
               "] ZeroDivisionError: integer division or remainder by zero");
  FIBRIL_CHECK(status == cpu::KernelStatus::ok, NotImplemented, "[", op, "] not implemented for '",
               dtype_name(compute), "'");
  if (!out) return std::move(*fresh);
  if (target != out) out->copy_from(*target);
  return *out;
}

// Checks out, then launch_inputs; on the CPU, 16-bit floats go through float32.
template <typename Kernel>
Array launch(const char* op, const Device device, const Shape& shape, DType compute, DType result,
             std::initializer_list<Input> inputs, Array* out, Kernel&& kernel) {
  if (out) check_out(op, *out, shape, result);
  if (device.is_cpu() && is_reduced_float(compute)) {
    // The CPU kernels have no 16-bit float loops: compute in float32, round the result back.
    // An operand of another dtype (a Python number, an integer tensor) is first rounded to the
    // 16-bit dtype, as the 16-bit computation would: x == 0.1 compares with 0.1 in x's dtype.
    Input wide_inputs[3];
    std::optional<Array> rounded[3];
    int n = 0;
    for (const Input& in : inputs) {
      const Array* a = in.array;
      if (in.dtype == compute && a->dtype() != compute) a = &rounded[n].emplace(a->astype(compute));
      wide_inputs[n] = {a, in.dtype == compute ? DType::float32 : in.dtype};
      ++n;
    }
    const DType wide_result = result == compute ? DType::float32 : result;
    Array wide = launch_inputs(op, device, shape, DType::float32, wide_result, wide_inputs, n, nullptr, kernel);
    if (wide_result != result) wide = wide.astype(result);
    if (!out) return wide;
    out->copy_from(wide);
    return *out;
  }
  const Input* begin = inputs.begin();
  return launch_inputs(op, device, shape, compute, result, begin, static_cast<int>(inputs.size()), out, kernel);
}

bool float_only(UnaryOp op) {
  switch (op) {
    case UnaryOp::exp: case UnaryOp::exp2: case UnaryOp::log: case UnaryOp::log2: case UnaryOp::log1p:
    case UnaryOp::expm1: case UnaryOp::sqrt: case UnaryOp::rsqrt: case UnaryOp::reciprocal: case UnaryOp::sin:
    case UnaryOp::cos: case UnaryOp::tanh: case UnaryOp::sigmoid: case UnaryOp::erf:
      return true;
    default:
      return false;
  }
}

bool rounding(UnaryOp op) {
  return op == UnaryOp::floor || op == UnaryOp::ceil || op == UnaryOp::round || op == UnaryOp::trunc;
}

// A 0-d array holding dt's lowest (upper: highest) value: clamp's missing bound.
Array extreme(DType dt, bool upper) {
  double v = visit_any_dtype(dt, [upper](auto t) {
    using T = decltype(t);
    if constexpr (std::is_floating_point_v<compute_t<T>>) return (upper ? 1 : -1) * std::numeric_limits<double>::infinity();
    else return static_cast<double>(upper ? std::numeric_limits<T>::max() : std::numeric_limits<T>::min());
  });
  return Array::full({}, v, dt);  // int64's max rounds up to 2^63, which the cast saturates back
}

}  // namespace

const char* op_name(UnaryOp op) { return kUnaryNames[static_cast<int>(op)]; }
const char* op_name(BinaryOp op) { return kBinaryNames[static_cast<int>(op)]; }

Array unary(UnaryOp op, const Array& x, Array* out) {
  const char* name = op_name(op);
  const Device device = op_device(name, {&x, out});
  const DType dt = x.dtype();
  FIBRIL_CHECK(op != UnaryOp::neg || dt != DType::bool_, Runtime,
               "[neg] negation, the `-` operator, on a bool array is not supported; "
               "to invert a mask use the `~` operator or logical_not()");
  FIBRIL_CHECK(dt != DType::bool_ || !(op == UnaryOp::abs || rounding(op)), NotImplemented, "[", name,
               "] not implemented for 'bool'");
  FIBRIL_CHECK(op != UnaryOp::bitwise_not || !is_floating_point(dt), NotImplemented,
               "[bitwise_not] not implemented for floating point (integers and bools only), got ", x.describe());
  if (rounding(op) && !is_floating_point(dt)) {  // integers are whole already
    if (!out) return x.clone();
    check_out(name, *out, x.shape(), dt);
    out->copy_from(x);
    return *out;
  }
  const DType compute = float_only(op) && !is_floating_point(dt) ? DType::float32 : dt;
  const DType result = op == UnaryOp::logical_not ? DType::bool_ : compute;
  return launch(name, device, x.shape(), compute, result, {{&x, compute}}, out,
                [op, device](const cpu::ElementwiseArgs& args, unsigned host) {
                  if (device.is_cpu()) return cpu::kernels().unary(op, args);
                  return FIBRIL_CUDA_CALL(elementwise_unary, device.index, op, args, host);
                });
}

Array binary(BinaryOp op, Operand a, Operand b, Array* out) {
  const char* name = op_name(op);
  const Device device = op_device(name, {a.array, b.array, out});
  const DType common = result_type({a, b});
  DType compute = common;
  switch (op) {
    case BinaryOp::sub:
      FIBRIL_CHECK(a.array->dtype() != DType::bool_ && b.array->dtype() != DType::bool_, Runtime,
                   "[sub] subtraction, the `-` operator, with a bool operand is not supported; to invert a "
                   "mask use the `~` operator or logical_not(), to compare two masks use logical_xor()");
      break;
    case BinaryOp::div:
    case BinaryOp::atan2:
      if (!is_floating_point(common)) compute = DType::float32;  // true division of integers
      break;
    case BinaryOp::bitwise_and:
    case BinaryOp::bitwise_or:
    case BinaryOp::bitwise_xor:
      FIBRIL_CHECK(!is_floating_point(common), NotImplemented, "[", name,
                   "] not implemented for floating point (integers and bools only), got ", a.array->describe(),
                   " and ", b.array->describe());
      break;
    case BinaryOp::floor_divide:
    case BinaryOp::remainder:
    case BinaryOp::pow:
      FIBRIL_CHECK(common != DType::bool_, NotImplemented, "[", name, "] not implemented for 'bool'");
      FIBRIL_CHECK(!(op == BinaryOp::pow && b.wrapped && !is_floating_point(common) &&
                     b.array->dtype() == DType::int64 && *static_cast<const int64_t*>(b.array->data()) < 0),
                   Runtime, "[pow] integers to negative integer powers are not allowed");
      break;
    default:
      break;
  }
  const DType result = op >= BinaryOp::eq ? DType::bool_ : compute;  // comparisons and logical ops
  const Shape shape = broadcast_shapes(a.array->shape(), b.array->shape(), name);
  return launch(name, device, shape, compute, result, {{a.array, compute}, {b.array, compute}}, out,
                [op, device](const cpu::ElementwiseArgs& args, unsigned host) {
                  if (device.is_cpu()) return cpu::kernels().binary(op, args);
                  return FIBRIL_CUDA_CALL(elementwise_binary, device.index, op, args, host);
                });
}

Array where(const Array& cond, Operand a, Operand b, Array* out) {
  const Device device = op_device("where", {&cond, a.array, b.array, out});
  FIBRIL_CHECK(cond.dtype() == DType::bool_ || cond.dtype() == DType::uint8, Runtime,
               "[where] expected a bool condition, got ", cond.describe());
  const DType dt = result_type({a, b});
  const Shape shape =
      broadcast_shapes(broadcast_shapes(cond.shape(), a.array->shape(), "where"), b.array->shape(), "where");
  return launch("where", device, shape, dt, dt, {{&cond, DType::bool_}, {a.array, dt}, {b.array, dt}}, out,
                [device](const cpu::ElementwiseArgs& args, unsigned host) {
                  if (device.is_cpu()) return cpu::kernels().where(args);
                  return FIBRIL_CUDA_CALL(elementwise_where, device.index, args, host);
                });
}

Array clamp(const Array& x, const Operand* lo, const Operand* hi, Array* out) {
  const Device device = op_device("clamp", {&x, lo ? lo->array : nullptr, hi ? hi->array : nullptr, out});
  FIBRIL_CHECK(lo || hi, Runtime, "[clamp] at least one of 'min' or 'max' must not be None");
  const Operand xo{&x, false};
  const DType dt = result_type({xo, lo ? *lo : xo, hi ? *hi : xo});
  FIBRIL_CHECK(dt != DType::bool_, NotImplemented, "[clamp] not implemented for 'bool'");
  std::optional<Array> missing;
  const Array* l = lo ? lo->array : &missing.emplace(extreme(dt, false));
  const Array* h = hi ? hi->array : &missing.emplace(extreme(dt, true));
  const Shape shape = broadcast_shapes(broadcast_shapes(x.shape(), l->shape(), "clamp"), h->shape(), "clamp");
  return launch("clamp", device, shape, dt, dt, {{&x, dt}, {l, dt}, {h, dt}}, out,
                [device](const cpu::ElementwiseArgs& args, unsigned host) {
                  if (device.is_cpu()) return cpu::kernels().clamp(args);
                  return FIBRIL_CUDA_CALL(elementwise_clamp, device.index, args, host);
                });
}

}  // namespace fibril
