// Shared helpers of the pybind11 layer: argument conversion and GIL-safe release of
// memory owned by Python objects. The bindings convert and forward; no logic lives here.
#pragma once

#include <pybind11/pybind11.h>

#include <functional>

#include "core/array.h"

namespace fibril::python {

namespace py = pybind11;

// (2, 3), [2, 3] or 2, 3 as *args; ints only (TypeError), each fitting int64 (ValueError).
Shape shape_from_args(const py::args& args);
Shape shape_from_sequence(py::handle seq, const char* what);
// fibril.float32, "float32", numpy dtypes and numpy scalar types.
DType dtype_from_py(py::handle obj);
py::object dtype_object(DType dt);  // the singleton Python object of dt
Device device_from_py(py::handle obj);  // None -> cpu

// Runs `fn` with the GIL held, unless the interpreter is shutting down (then leaks).
void with_gil(const std::function<void()>& fn);

void bind_array(py::module_& m);
void bind_dlpack(py::module_& m, py::class_<Array>& cls);
void bind_runtime(py::module_& m);
void bind_elementwise(py::module_& m);
void bind_reduce(py::module_& m);
void bind_random(py::module_& m);
void bind_index(py::module_& m);
void bind_matmul(py::module_& m);
void bind_softmax(py::module_& m);
void bind_activation(py::module_& m);
void bind_optim(py::module_& m);
void bind_norm(py::module_& m);
void bind_conv(py::module_& m);
void bind_pool(py::module_& m);
void bind_attention(py::module_& m);
void bind_rnn(py::module_& m);
void bind_autograd(py::module_& m);

}  // namespace fibril::python
