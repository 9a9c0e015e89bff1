// fibril._C: the one compiled module. Errors thrown as fibril::Error surface as the
// matching Python exception type.
#include "core/errors.h"
#include "cpu/kernels.h"
#include "python/bindings.h"

namespace fibril::python {
namespace {

PyObject* python_type(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Value: return PyExc_ValueError;
    case ErrorKind::Type: return PyExc_TypeError;
    case ErrorKind::Index: return PyExc_IndexError;
    case ErrorKind::Memory: return PyExc_MemoryError;
    case ErrorKind::NotImplemented: return PyExc_NotImplementedError;
    case ErrorKind::Runtime: return PyExc_RuntimeError;
  }
  return PyExc_RuntimeError;
}

}  // namespace
}  // namespace fibril::python

PYBIND11_MODULE(_C, m) {
  using namespace fibril::python;
  m.doc() = "fibril's compiled core: Array storage, CPU (and CUDA) kernels, runtime";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fibril::Error& e) {
      PyErr_SetString(python_type(e.kind()), e.what());
    }
  });
  fibril::cpu::kernels();  // choose the CPU kernels now: a bad FIBRIL_CPU_ISA fails the import
  bind_array(m);
  bind_runtime(m);
  bind_elementwise(m);
  bind_reduce(m);
  bind_random(m);
  bind_index(m);
  bind_matmul(m);
  bind_softmax(m);
  bind_activation(m);
  bind_optim(m);
  bind_norm(m);
  bind_conv(m);
  bind_pool(m);
  bind_attention(m);
  bind_rnn(m);
  bind_autograd(m);
}
