// The activation family's _C functions. The GIL is released around the work.
#include "ops/activation.h"
#include "python/bindings.h"

namespace fibril::python {

void bind_activation(py::module_& m) {
  using K = ops::ActivationKind;
  py::enum_<K>(m, "ActivationKind", "The activations _C.activation computes.")
      .value("relu", K::relu)
      .value("leaky_relu", K::leaky_relu)
      .value("elu", K::elu)
      .value("gelu", K::gelu)
      .value("gelu_tanh", K::gelu_tanh)
      .value("silu", K::silu)
      .value("mish", K::mish)
      .value("sigmoid", K::sigmoid)
      .value("tanh", K::tanh)
      .value("softplus", K::softplus)
      .value("softsign", K::softsign)
      .value("hardtanh", K::hardtanh)
      .value("hardsigmoid", K::hardsigmoid)
      .value("hardswish", K::hardswish);
  using G = py::call_guard<py::gil_scoped_release>;
  m.def("activation", &ops::activation, py::arg("kind"), py::arg("x"), py::arg("a") = 0.0, py::arg("b") = 0.0,
        py::arg("c") = 0.0, G(), "f(x) for the activation `kind` with parameters a, b, c.");
  m.def("activation_backward", &ops::activation_backward, py::arg("kind"), py::arg("x"), py::arg("g"),
        py::arg("a") = 0.0, py::arg("b") = 0.0, py::arg("c") = 0.0, G(), "g * f'(x).");
}

}  // namespace fibril::python
