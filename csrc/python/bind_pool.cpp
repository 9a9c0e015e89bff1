// The pooling family's _C functions; the GIL is released around the work.
#include <pybind11/stl.h>

#include "ops/pool.h"
#include "python/bindings.h"

namespace fibril::python {
namespace {

ops::PoolOptions options(py::handle kernel, py::handle stride, py::handle padding, py::handle dilation,
                         bool ceil_mode, bool count_include_pad, int64_t divisor_override) {
  return {shape_from_sequence(kernel, "kernel_size"), shape_from_sequence(stride, "stride"),
          shape_from_sequence(padding, "padding"), shape_from_sequence(dilation, "dilation"), ceil_mode,
          count_include_pad, divisor_override};
}

template <typename F>
auto released(F&& f) {
  py::gil_scoped_release release;
  return f();
}

py::tuple pair(const ops::PoolResult& r) { return py::make_tuple(r.y, r.indices); }

}  // namespace

void bind_pool(py::module_& m) {
  m.def("max_pool", [](const Array& x, py::handle kernel, py::handle stride, py::handle padding, py::handle dilation,
                       bool ceil_mode) {
    const ops::PoolOptions o = options(kernel, stride, padding, dilation, ceil_mode, true, 0);
    return pair(released([&] { return ops::max_pool(x, o); }));
  }, "(y, indices): max pooling over the last len(kernel_size) dims.");
  m.def("avg_pool", [](const Array& x, py::handle kernel, py::handle stride, py::handle padding, bool ceil_mode,
                       bool count_include_pad, int64_t divisor_override) {
    const ops::PoolOptions o = options(kernel, stride, padding, kernel, ceil_mode, count_include_pad, divisor_override);
    return released([&] { return ops::avg_pool(x, o); });
  }, "Average pooling over the last len(kernel_size) dims; divisor_override 0 means none.");
  m.def("adaptive_max_pool", [](const Array& x, py::handle output_size) {
    const Shape s = shape_from_sequence(output_size, "output_size");
    return pair(released([&] { return ops::adaptive_max_pool(x, s); }));
  }, "(y, indices) of adaptive max pooling.");
  m.def("adaptive_avg_pool", [](const Array& x, py::handle output_size) {
    const Shape s = shape_from_sequence(output_size, "output_size");
    return released([&] { return ops::adaptive_avg_pool(x, s); });
  }, "Adaptive average pooling.");
  m.def("max_pool_backward", [](const Array& g, const Array& indices, py::handle input_shape, size_t dims) {
    const Shape s = shape_from_sequence(input_shape, "input_shape");
    return released([&] { return ops::max_pool_backward(g, indices, s, dims); });
  }, "The input gradient of (adaptive) max pooling over `dims` dims, through the indices.");
  m.def("avg_pool_backward", [](const Array& g, py::handle input_shape, py::handle kernel, py::handle stride,
                                py::handle padding, bool ceil_mode, bool count_include_pad, int64_t divisor_override) {
    const Shape s = shape_from_sequence(input_shape, "input_shape");
    const ops::PoolOptions o = options(kernel, stride, padding, kernel, ceil_mode, count_include_pad, divisor_override);
    return released([&] { return ops::avg_pool_backward(g, s, o); });
  }, "The input gradient of average pooling.");
  m.def("adaptive_avg_pool_backward", [](const Array& g, py::handle input_shape, py::handle output_size) {
    const Shape s = shape_from_sequence(input_shape, "input_shape");
    const Shape out = shape_from_sequence(output_size, "output_size");
    return released([&] { return ops::adaptive_avg_pool_backward(g, s, out); });
  }, "The input gradient of adaptive average pooling.");
}

}  // namespace fibril::python
