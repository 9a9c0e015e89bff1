// The convolution family, device-independent: shape rules, checks and output allocation, then
// the backend's kernels (cpu/conv.cpp). PyTorch semantics (F.conv1d/conv2d and their input
// and weight gradients, from which the Python layer also builds conv_transpose1d/2d).
#pragma once

#include <optional>
#include <utility>

#include "core/array.h"

namespace fibril::ops {

// Per spatial dim (one or two of them): stride, padding before and after the input (after
// may be negative, cropping the input: conv_transpose's output_padding), dilation; groups.
struct ConvOptions {
  Shape stride, padding, padding_after, dilation;
  int64_t groups = 1;
};

// x (N, C, *spatial), weight (O, C / groups, *kernel), bias (O) or none -> (N, O, *out).
Array conv(const Array& x, const Array& weight, const std::optional<Array>& bias, const ConvOptions& o);

// The gradient of conv's input, of shape input_shape, from grad_out and weight.
Array conv_backward_input(const Array& grad_out, const Array& weight, const Shape& input_shape,
                          const ConvOptions& o);

// The gradient of conv's weight, of shape weight_shape, from x and grad_out.
Array conv_backward_weight(const Array& x, const Array& grad_out, const Shape& weight_shape, const ConvOptions& o);

// Both gradients, (input, weight), from x, grad_out and weight: the same values as the two
// functions above, in one pass over grad_out where the kernels allow (depthwise, stride 1).
std::pair<Array, Array> conv_backward(const Array& x, const Array& grad_out, const Array& weight,
                                      const ConvOptions& o);

}  // namespace fibril::ops
