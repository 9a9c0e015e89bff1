// The matmul family's _C functions. The GIL is released around the work.
#include <pybind11/stl.h>

#include "core/errors.h"
#include "ops/matmul.h"
#include "python/bindings.h"

namespace fibril::python {
namespace {

cpu::Activation activation_from_py(const std::string& name) {
  if (name == "none") return cpu::Activation::none;
  if (name == "relu") return cpu::Activation::relu;
  if (name == "gelu") return cpu::Activation::gelu;
  if (name == "gelu_tanh") return cpu::Activation::gelu_tanh;
  FIBRIL_FAIL(Value, "[linear] activation must be 'none', 'relu', 'gelu' or 'gelu_tanh', got '", name, "'");
}

}  // namespace

void bind_matmul(py::module_& m) {
  m.def("matmul", [](const Array& a, const Array& b) {
    py::gil_scoped_release release;
    return ops::matmul(a, b);
  }, py::arg("a"), py::arg("b"), "torch.matmul: 1-D, 2-D and broadcast batched N-D products.");

  m.def("addmm", [](const Array& c, const Array& a, const Array& b, double beta, double alpha) {
    py::gil_scoped_release release;
    return ops::addmm(c, a, b, beta, alpha);
  }, py::arg("c"), py::arg("a"), py::arg("b"), py::arg("beta") = 1.0, py::arg("alpha") = 1.0,
        "beta * c + alpha * (a @ b) for 2-D a and b; c broadcasts.");

  m.def("linear", [](const Array& x, const Array& weight, std::optional<Array> bias, const std::string& activation) {
    const cpu::Activation act = activation_from_py(activation);
    py::gil_scoped_release release;
    return ops::linear(x, weight, bias, act);
  }, py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("activation") = "none",
        "activation(x @ weight.T + bias), the epilogue fused into the GEMM.");

  m.def("set_float32_matmul_precision", &ops::set_float32_matmul_precision, py::arg("precision"),
        "'highest' (exact float32), 'high' or 'medium' (CUDA float32 GEMMs may use TF32).");
  m.def("get_float32_matmul_precision", &ops::get_float32_matmul_precision);
}

}  // namespace fibril::python
