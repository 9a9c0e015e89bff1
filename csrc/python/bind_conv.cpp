// The convolution family's _C functions; the GIL is released around the work.
#include <pybind11/stl.h>

#include "ops/conv.h"
#include "python/bindings.h"

namespace fibril::python {
namespace {

ops::ConvOptions options(py::handle stride, py::handle padding, py::handle padding_after, py::handle dilation,
                         int64_t groups) {
  return {shape_from_sequence(stride, "stride"), shape_from_sequence(padding, "padding"),
          shape_from_sequence(padding_after, "padding_after"), shape_from_sequence(dilation, "dilation"), groups};
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def("conv", [](const Array& x, const Array& w, std::optional<Array> b, py::handle stride, py::handle padding,
                   py::handle padding_after, py::handle dilation, int64_t groups) {
    const ops::ConvOptions o = options(stride, padding, padding_after, dilation, groups);
    py::gil_scoped_release release;
    return ops::conv(x, w, b, o);
  }, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("stride"), py::arg("padding"),
        py::arg("padding_after"), py::arg("dilation"), py::arg("groups"),
        "1-D or 2-D convolution over (N, C, *spatial); padding before and after the input per dim.");
  m.def("conv_backward_input", [](const Array& g, const Array& w, py::handle input_shape, py::handle stride,
                                  py::handle padding, py::handle padding_after, py::handle dilation, int64_t groups) {
    const ops::ConvOptions o = options(stride, padding, padding_after, dilation, groups);
    const Shape shape = shape_from_sequence(input_shape, "input_shape");
    py::gil_scoped_release release;
    return ops::conv_backward_input(g, w, shape, o);
  }, "The gradient of conv's input, of shape input_shape.");
  m.def("conv_backward_weight", [](const Array& x, const Array& g, py::handle weight_shape, py::handle stride,
                                   py::handle padding, py::handle padding_after, py::handle dilation, int64_t groups) {
    const ops::ConvOptions o = options(stride, padding, padding_after, dilation, groups);
    const Shape shape = shape_from_sequence(weight_shape, "weight_shape");
    py::gil_scoped_release release;
    return ops::conv_backward_weight(x, g, shape, o);
  }, "The gradient of conv's weight, of shape weight_shape.");
  m.def("conv_backward", [](const Array& x, const Array& g, const Array& w, py::handle stride, py::handle padding,
                            py::handle padding_after, py::handle dilation, int64_t groups) {
    const ops::ConvOptions o = options(stride, padding, padding_after, dilation, groups);
    py::gil_scoped_release release;
    return ops::conv_backward(x, g, w, o);
  }, "Both gradients of conv, (input, weight), in one pass over g where the kernels allow.");
}

}  // namespace fibril::python
