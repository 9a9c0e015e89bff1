// The reduce family's _C functions. `dims` takes None (every dim), an int or a sequence of
// ints; `dtype` None or anything dtype_from_py accepts. The GIL is released around the work.
#include <pybind11/stl.h>

#include "core/errors.h"
#include "ops/reduce.h"
#include "ops/sort.h"
#include "python/bindings.h"

namespace fibril::python {
namespace {

ops::Dims dims_from_py(py::handle obj) {
  if (obj.is_none()) return std::nullopt;
  if (py::isinstance<py::int_>(obj) && !py::isinstance<py::bool_>(obj)) return std::vector<int64_t>{obj.cast<int64_t>()};
  return shape_from_sequence(obj, "dims");
}

std::optional<DType> optional_dtype(py::handle obj) {
  if (obj.is_none()) return std::nullopt;
  return dtype_from_py(obj);
}

// p as a number, or 'fro' (the 2-norm of the flattened dims).
double norm_order(py::handle p) {
  if (py::isinstance<py::str>(p)) {
    const std::string s = p.cast<std::string>();
    FIBRIL_CHECK(s == "fro", Value, "[norm] p must be a number or 'fro', got '", s, "'");
    return 2;
  }
  FIBRIL_CHECK(!py::isinstance<py::bool_>(p), Type, "[norm] p must be a number or 'fro', got a bool");
  return p.cast<double>();
}

}  // namespace

void bind_reduce(py::module_& m) {
  py::enum_<ops::ReduceOp>(m, "ReduceOp", "The reductions _C.reduce computes.")
      .value("sum", ops::ReduceOp::sum)
      .value("mean", ops::ReduceOp::mean)
      .value("prod", ops::ReduceOp::prod)
      .value("amax", ops::ReduceOp::amax)
      .value("amin", ops::ReduceOp::amin)
      .value("any", ops::ReduceOp::any)
      .value("all", ops::ReduceOp::all)
      .value("logsumexp", ops::ReduceOp::logsumexp);

  m.def("reduce", [](ops::ReduceOp op, const Array& x, py::object dims, bool keepdim, py::object dtype) {
    const ops::Dims d = dims_from_py(dims);
    const std::optional<DType> dt = optional_dtype(dtype);
    py::gil_scoped_release release;
    return ops::reduce(op, x, d, keepdim, dt);
  }, py::arg("op"), py::arg("x"), py::arg("dims") = py::none(), py::arg("keepdim") = false,
        py::arg("dtype") = py::none(),
        "op over `dims` (None or []: all), as torch.<op>; dtype (sum, mean, prod) casts the input first.");

  auto moments = [](Array (*fn)(const Array&, const ops::Dims&, double, bool)) {
    return [fn](const Array& x, py::object dims, double correction, bool keepdim) {
      const ops::Dims d = dims_from_py(dims);
      py::gil_scoped_release release;
      return fn(x, d, correction, keepdim);
    };
  };
  m.def("var", moments(&ops::var), py::arg("x"), py::arg("dims") = py::none(), py::arg("correction") = 1.0,
        py::arg("keepdim") = false, "Variance dividing by max(0, n - correction), as torch.var.");
  m.def("std", moments(&ops::stddev), py::arg("x"), py::arg("dims") = py::none(), py::arg("correction") = 1.0,
        py::arg("keepdim") = false, "Standard deviation, as torch.std.");

  m.def("norm", [](const Array& x, py::object p, py::object dims, bool keepdim) {
    const double order = norm_order(p);
    const ops::Dims d = dims_from_py(dims);
    py::gil_scoped_release release;
    return ops::norm(x, order, d, keepdim);
  }, py::arg("x"), py::arg("p") = 2.0, py::arg("dims") = py::none(), py::arg("keepdim") = false,
        "Vector norm over dims, as torch.linalg.vector_norm; p a number (inf, -inf, 0 too) or 'fro'.");

  using G = py::call_guard<py::gil_scoped_release>;
  m.def("max_dim", &ops::max_dim, py::arg("x"), py::arg("dim"), py::arg("keepdim") = false, G(),
        "(values, int64 indices) of the first max along dim; NaN counts as the largest.");
  m.def("min_dim", &ops::min_dim, py::arg("x"), py::arg("dim"), py::arg("keepdim") = false, G());
  m.def("argmax", &ops::argmax, py::arg("x"), py::arg("dim") = py::none(), py::arg("keepdim") = false, G(),
        "Index of the first max along dim, or into the flattened array when dim is None.");
  m.def("argmin", &ops::argmin, py::arg("x"), py::arg("dim") = py::none(), py::arg("keepdim") = false, G());
  m.def("sort", &ops::sort, py::arg("x"), py::arg("dim") = -1, py::arg("descending") = false, G(),
        "(values, int64 indices) sorted along dim; stable, NaN above every number.");
  m.def("topk", &ops::topk, py::arg("x"), py::arg("k"), py::arg("dim") = -1, py::arg("largest") = true, G(),
        "(values, int64 indices) of the k largest (smallest) along dim, in order.");

  auto scan = [](Array (*fn)(const Array&, int64_t, std::optional<DType>)) {
    return [fn](const Array& x, int64_t dim, py::object dtype) {
      const std::optional<DType> dt = optional_dtype(dtype);
      py::gil_scoped_release release;
      return fn(x, dim, dt);
    };
  };
  m.def("cumsum", scan(&ops::cumsum), py::arg("x"), py::arg("dim"), py::arg("dtype") = py::none());
  m.def("cumprod", scan(&ops::cumprod), py::arg("x"), py::arg("dim"), py::arg("dtype") = py::none());
}

}  // namespace fibril::python
