// The norm family's _C functions. Results come back as tuples; the GIL is released around the
// work.
#include <pybind11/stl.h>

#include "ops/norm.h"
#include "python/bindings.h"

namespace fibril::python {
namespace {

template <typename F>
py::tuple released(F&& f) {
  auto r = [&] {
    py::gil_scoped_release release;
    return f();
  }();
  if constexpr (std::is_same_v<decltype(r), ops::NormResult>) return py::make_tuple(r.y, r.mean, r.rstd);
  else return py::make_tuple(r.gx, r.gw, r.gb);
}

}  // namespace

void bind_norm(py::module_& m) {
  using ops::OptArray;
  m.def("row_norm", [](bool rms, const Array& x, py::handle shape, OptArray w, OptArray b, double eps) {
    const Shape s = shape_from_sequence(shape, "normalized_shape");
    return released([&] { return ops::row_norm(rms, x, s, w, b, eps); });
  }, py::arg("rms"), py::arg("x"), py::arg("normalized_shape"), py::arg("weight"), py::arg("bias"), py::arg("eps"),
        "(y, mean, rstd) of layer_norm (rms=False) or rms_norm over the trailing normalized_shape.");
  m.def("row_norm_backward", [](bool rms, const Array& g, const Array& x, py::handle shape, OptArray w,
                                const Array& mean, const Array& rstd, bool want_weight, bool want_bias) {
    const Shape s = shape_from_sequence(shape, "normalized_shape");
    return released([&] { return ops::row_norm_backward(rms, g, x, s, w, mean, rstd, want_weight, want_bias); });
  }, "(gx, gw or None, gb or None).");
  m.def("batch_norm", [](const Array& x, OptArray w, OptArray b, OptArray rm, OptArray rv, bool training,
                         double momentum, double eps) {
    return released([&] { return ops::batch_norm(x, w, b, rm, rv, training, momentum, eps); });
  }, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("running_mean"), py::arg("running_var"),
        py::arg("training"), py::arg("momentum"), py::arg("eps"),
        "(y, mean, rstd); training updates the running statistics in place.");
  m.def("batch_norm_backward", [](const Array& g, const Array& x, OptArray w, const Array& mean, const Array& rstd,
                                  bool training, bool want_weight, bool want_bias) {
    return released([&] { return ops::batch_norm_backward(g, x, w, mean, rstd, training, want_weight, want_bias); });
  }, "(gx, gw or None, gb or None).");
}

}  // namespace fibril::python
