// The index family's _C functions (gather-type ops); see ops/index.h. GIL released.
#include "ops/index.h"
#include "python/bindings.h"

namespace fibril::python {

void bind_index(py::module_& m) {
  using G = py::call_guard<py::gil_scoped_release>;
  m.def("gather", &ops::gather, py::arg("x"), py::arg("dim"), py::arg("index"), G(),
        "out[i][j] = x[index[i][j]][j] (dim 0), as torch.gather.");
  m.def("scatter", &ops::scatter, py::arg("x"), py::arg("dim"), py::arg("index"), py::arg("src"),
        py::arg("add") = false, G(), "A copy of x with src written (add: accumulated) at index along dim.");
  m.def("index_select", &ops::index_select, py::arg("x"), py::arg("dim"), py::arg("index"), G(),
        "The slices of x at a 0-d or 1-d index along dim, as torch.index_select.");
  m.def("index_put_", [](Array& x, int64_t dim, const Array& index, const Array& src, bool accumulate) {
    ops::index_put_(x, dim, index, src, accumulate);
  }, py::arg("x"), py::arg("dim"), py::arg("index"), py::arg("src"), py::arg("accumulate") = false, G(),
        "In place: x's slices at index along dim = (accumulate: +=) src's, src broadcasting.");
  m.def("nonzero", &ops::nonzero, py::arg("x"), G(), "int64 [n, ndim] coordinates of the non-zeros, as torch.");
  m.def("wrap_index", &ops::wrap_index, py::arg("index"), py::arg("size"), py::arg("dim"), G(),
        "Contiguous int64 copy of index with negatives wrapped; IndexError outside [-size, size).");
}

}  // namespace fibril::python
