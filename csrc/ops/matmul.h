// The matmul family, device-independent: shape rules, batching and output allocation, then
// the backend's GEMM (cpu/matmul.cpp). PyTorch semantics (torch.matmul, torch.addmm,
// torch.nn.functional.linear). Operands must share one dtype (not bool); a mismatch is a
// TypeError naming both, an inner-dimension mismatch a ValueError naming both shapes.
#pragma once

#include <optional>
#include <string>

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

// torch.set_float32_matmul_precision / get_float32_matmul_precision: "highest" (default,
// exact float32), "high" or "medium" (CUDA float32 GEMMs may use TF32 tensor cores; the CPU
// kernels ignore it). ValueError for any other name.
void set_float32_matmul_precision(const std::string& precision);
std::string get_float32_matmul_precision();
// Whether the precision is "high" or "medium": what a CUDA float32 GEMM asks, on every call.
bool float32_matmul_allows_tf32();

}  // namespace fibril::ops
