// The activation family, device-independent: checks, then the backend's kernels
// (csrc/cpu/activation.cpp). Parameters a, b, c per kind as in cpu::ActivationArgs.
#pragma once

#include "core/array.h"
#include "cpu/kernels.h"

namespace fibril::ops {

using cpu::ActivationKind;

// f(x), a new contiguous array of x's shape and dtype (float32 or float64).
Array activation(ActivationKind kind, const Array& x, double a, double b, double c);
// g * f'(x), from the forward's input x and the output gradient g (x's shape and dtype).
Array activation_backward(ActivationKind kind, const Array& x, const Array& g, double a, double b, double c);

}  // namespace fibril::ops
