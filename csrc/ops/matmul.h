// The matmul family, device-independent: shape rules, batching and output allocation, then
// the backend's GEMM (cpu/matmul.cpp). PyTorch semantics (torch.matmul, torch.addmm,
// torch.nn.functional.linear). Operands must share one dtype (not bool); a mismatch is a
// TypeError naming both, an inner-dimension mismatch a ValueError naming both shapes.
#pragma once

#include <optional>

#include "core/array.h"
#include "cpu/kernels.h"

namespace fibril::ops {

// torch.matmul: 1-D·1-D dot (0-d result), 2-D·2-D, a 1-D operand promoted to a matrix and
// its dim dropped again, and N-D batches broadcast against each other.
Array matmul(const Array& a, const Array& b);

// beta * c + alpha * a·b for 2-D a, b; c broadcasts to the result's shape.
Array addmm(const Array& c, const Array& a, const Array& b, double beta, double alpha);

// act(x · weightᵀ + bias): x (..., in), weight (out, in), bias (out) or none.
Array linear(const Array& x, const Array& weight, const std::optional<Array>& bias, cpu::Activation act);

}  // namespace fibril::ops
