// The softmax family's _C functions. The GIL is released around the work.
#include <pybind11/stl.h>

#include "ops/softmax.h"
#include "python/bindings.h"

namespace fibril::python {

void bind_softmax(py::module_& m) {
  using G = py::call_guard<py::gil_scoped_release>;
  m.def("softmax", &ops::softmax, py::arg("x"), py::arg("dim"), py::arg("log") = false, G(),
        "softmax (log_softmax when log) along dim, as torch.softmax.");
  m.def("softmax_backward", &ops::softmax_backward, py::arg("y"), py::arg("g"), py::arg("dim"),
        py::arg("log") = false, G(), "The input gradient from the result y and its gradient g.");

  py::class_<ops::ClassLossOptions>(m, "ClassLossOptions")
      .def(py::init([](std::optional<Array> weight, int64_t ignore_index, double smoothing, bool logits) {
             return ops::ClassLossOptions{std::move(weight), ignore_index, smoothing, logits};
           }),
           py::arg("weight") = py::none(), py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
           py::arg("logits") = true);
  m.def("class_loss", [](const Array& x, const Array& target, const ops::ClassLossOptions& opt) {
    ops::ClassLoss r = [&] {
      py::gil_scoped_release release;
      return ops::class_loss(x, target, opt);
    }();
    return py::make_tuple(r.loss, r.row_weight, r.stats);
  }, py::arg("x"), py::arg("target"), py::arg("options"),
        "(per-sample loss, per-sample weight, stats) of cross_entropy (logits) or nll_loss.");
  m.def("class_loss_backward", &ops::class_loss_backward, py::arg("g"), py::arg("x"), py::arg("target"),
        py::arg("stats"), py::arg("options"), G());
}

}  // namespace fibril::python
