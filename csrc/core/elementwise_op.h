// The elementwise op codes, shared by the op layer (csrc/ops), every backend's kernel table
// and the bindings. One X-macro list per arity keeps the enum and its names in step.
#pragma once

#include <cstdint>

#define FIBRIL_UNARY_OPS(X)                                                                     \
  X(neg) X(abs) X(sign) X(exp) X(exp2) X(log) X(log2) X(log1p) X(expm1) X(sqrt) X(rsqrt)         \
  X(reciprocal) X(sin) X(cos) X(tanh) X(sigmoid) X(erf) X(floor) X(ceil) X(round) X(trunc) X(logical_not) \
  X(bitwise_not)

#define FIBRIL_BINARY_OPS(X)                                                                    \
  X(add) X(sub) X(mul) X(div) X(floor_divide) X(remainder) X(pow) X(maximum) X(minimum) X(atan2) \
  X(bitwise_and) X(bitwise_or) X(bitwise_xor)                                                   \
  X(eq) X(ne) X(lt) X(le) X(gt) X(ge) X(logical_and) X(logical_or) X(logical_xor)

namespace fibril {

#define FIBRIL_ENUM_ENTRY(name) name,
enum class UnaryOp : uint8_t { FIBRIL_UNARY_OPS(FIBRIL_ENUM_ENTRY) };
enum class BinaryOp : uint8_t { FIBRIL_BINARY_OPS(FIBRIL_ENUM_ENTRY) };
#undef FIBRIL_ENUM_ENTRY

}  // namespace fibril
