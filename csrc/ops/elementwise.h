// The elementwise family's op layer, device-independent: argument checks, the broadcast
// shape, PyTorch's result dtype and per-op dtype rules, the output (new, or `out` checked for
// shape, castability and layout), then the backend's kernels. Errors are prefixed "[op]".
//
// `out` (nullable) receives the result and is returned; it may alias an input exactly (the
// in-place ops of the Python layer), and an input that only partly overlaps it is copied
// first. Its dtype may differ from the result dtype where torch.can_cast allows it.
#pragma once

#include "core/array.h"
#include "core/elementwise_op.h"
#include "ops/promotion.h"

namespace fibril {

const char* op_name(UnaryOp op);
const char* op_name(BinaryOp op);

Array unary(UnaryOp op, const Array& x, Array* out = nullptr);
Array binary(BinaryOp op, Operand a, Operand b, Array* out = nullptr);
// cond: bool (uint8 accepted, as PyTorch still does); a and b promote together.
Array where(const Array& cond, Operand a, Operand b, Array* out = nullptr);
// lo, hi: nullable, at least one given; the three broadcast and promote together.
Array clamp(const Array& x, const Operand* lo, const Operand* hi, Array* out = nullptr);

}  // namespace fibril
