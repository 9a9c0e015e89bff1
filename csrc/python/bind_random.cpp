// The random family's _C functions. Each takes the Philox (seed, offset) the Python
// Generator hands out; fills write into `out` in place. The GIL is released around the work.
#include "ops/random.h"
#include "python/bindings.h"

namespace fibril::python {

void bind_random(py::module_& m) {
  using G = py::call_guard<py::gil_scoped_release>;
  auto state = [](uint64_t seed, uint64_t offset) { return ops::PhiloxState{seed, offset}; };
  m.def("uniform_", [state](Array out, double from, double to, uint64_t seed, uint64_t offset) {
    ops::uniform_(out, from, to, state(seed, offset));
  }, py::arg("out"), py::arg("from_"), py::arg("to"), py::arg("seed"), py::arg("offset"), G());
  m.def("normal_", [state](Array out, double mean, double std, uint64_t seed, uint64_t offset) {
    ops::normal_(out, mean, std, state(seed, offset));
  }, py::arg("out"), py::arg("mean"), py::arg("std"), py::arg("seed"), py::arg("offset"), G());
  m.def("bernoulli_", [state](Array out, double p, uint64_t seed, uint64_t offset) {
    ops::bernoulli_(out, p, state(seed, offset));
  }, py::arg("out"), py::arg("p"), py::arg("seed"), py::arg("offset"), G());
  m.def("bernoulli_", [state](Array out, const Array& p, uint64_t seed, uint64_t offset) {
    ops::bernoulli_(out, p, state(seed, offset));
  }, py::arg("out"), py::arg("p"), py::arg("seed"), py::arg("offset"), G());
  m.def("randint_", [state](Array out, int64_t low, int64_t high, uint64_t seed, uint64_t offset) {
    ops::randint_(out, low, high, state(seed, offset));
  }, py::arg("out"), py::arg("low"), py::arg("high"), py::arg("seed"), py::arg("offset"), G());
  m.def("dropout", [state](const Array& x, double p, uint64_t seed, uint64_t offset) {
    return ops::dropout(x, p, state(seed, offset));
  }, py::arg("x"), py::arg("p"), py::arg("seed"), py::arg("offset"), G(), "(x * mask, mask), mask in {0, 1/(1-p)}.");
  m.def("randperm", [state](int64_t n, uint64_t seed, uint64_t offset) {
    return ops::randperm(n, state(seed, offset));
  }, py::arg("n"), py::arg("seed"), py::arg("offset"), G());
  m.def("multinomial", [state](const Array& probs, int64_t num_samples, bool replacement, uint64_t seed,
                               uint64_t offset) {
    return ops::multinomial(probs, num_samples, replacement, state(seed, offset));
  }, py::arg("probs"), py::arg("num_samples"), py::arg("replacement"), py::arg("seed"), py::arg("offset"), G());
  m.def("multinomial_elements", &ops::multinomial_elements, py::arg("probs"), py::arg("num_samples"),
        py::arg("replacement"), "How many random elements multinomial reads (4 per Philox block).");
}

}  // namespace fibril::python
