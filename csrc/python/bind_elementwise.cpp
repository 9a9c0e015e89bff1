// Elementwise ops: the UnaryOp/BinaryOp enums, unary, binary, where, clamp, result_type.
// Operands may be Arrays or Python (or numpy) bools, ints and floats, which become 0-d
// arrays marked as wrapped numbers for type promotion. With out=, the out object is returned.
//
// Per-call cost, measured: _C.binary(BinaryOp.add, a, b) on 100 float32 takes 1.47 us from
// Python (0.42 us of it in C++, 0.19 us of that the output's allocation); torch.add 3.5 us,
// numpy.add 1.2 us. Adding a Python float: 1.7 us (torch: 8.5 us).
#include <algorithm>
#include <optional>
#include <string_view>

#include "core/errors.h"
#include "ops/elementwise.h"
#include "python/bindings.h"

namespace fibril::python {
namespace {

template <typename T>
const Array& scalar_array(std::optional<Array>& holder, DType dt, T value) {
  Array& a = holder.emplace(Array::empty({}, dt));
  *static_cast<T*>(a.data()) = value;
  return a;
}

bool is_numpy_bool(py::handle obj) {
  const std::string_view name = Py_TYPE(obj.ptr())->tp_name;
  return name == "numpy.bool" || name == "numpy.bool_";
}

// obj as an operand; a Python number is wrapped into `holder`. Python's own number types are
// tested first: they are cheap to recognise, while a failed pybind11 isinstance costs ~0.6 us.
Operand to_operand(py::handle obj, std::optional<Array>& holder, const char* op, const char* arg) {
  PyObject* p = obj.ptr();
  if (PyBool_Check(p)) return {&scalar_array(holder, DType::bool_, p == Py_True), true};
  if (PyFloat_Check(p)) return {&scalar_array(holder, DType::float64, PyFloat_AS_DOUBLE(p)), true};
  py::detail::make_caster<Array> caster;
  if (!PyLong_Check(p) && caster.load(obj, false)) return {&py::detail::cast_op<const Array&>(caster), false};
  if (is_numpy_bool(obj)) return {&scalar_array(holder, DType::bool_, PyObject_IsTrue(p) == 1), true};
  if (PyIndex_Check(p)) {  // int and numpy integers
    py::int_ as_int = py::reinterpret_steal<py::int_>(PyNumber_Index(p));
    if (!as_int) throw py::error_already_set();
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(as_int.ptr(), &overflow);
    FIBRIL_CHECK(!overflow, Value, "[", op, "] the integer ", std::string(py::str(obj)), " given for '", arg,
                 "' does not fit in int64");
    return {&scalar_array(holder, DType::int64, static_cast<int64_t>(v)), true};
  }
  if (Py_TYPE(p)->tp_as_number && Py_TYPE(p)->tp_as_number->nb_float) {  // numpy floats
    double v = PyFloat_AsDouble(p);
    if (v == -1.0 && PyErr_Occurred()) throw py::error_already_set();
    return {&scalar_array(holder, DType::float64, v), true};
  }
  FIBRIL_FAIL(Type, "[", op, "] '", arg, "' must be an Array or a Python bool, int or float, got ",
              std::string(py::str(py::type::of(obj).attr("__name__"))));
}

Array* out_arg(const py::object& out) { return out.is_none() ? nullptr : &out.cast<Array&>(); }

// Whether the op's index space (the largest size along each right-aligned dim) is big enough
// to be worth releasing the GIL, which costs ~0.2 us: a 100-element add costs ~0.4 us.
bool large(std::initializer_list<const Array*> arrays) {
  constexpr int64_t kLarge = 32768;
  int ndim = 0;
  for (const Array* a : arrays) ndim = std::max(ndim, a ? a->ndim() : 0);
  int64_t n = 1;
  for (int i = 1; i <= ndim && n < kLarge; ++i) {
    int64_t size = 1;
    for (const Array* a : arrays) size = a && a->ndim() >= i ? std::max(size, a->shape()[a->ndim() - i]) : size;
    n *= size;
  }
  return n >= kLarge;
}

// Runs fn (GIL released when the work is large); returns the out object itself when given.
template <typename Fn>
py::object run(std::initializer_list<const Array*> arrays, const py::object& out, Fn&& fn) {
  std::optional<Array> r;
  {
    std::optional<py::gil_scoped_release> release;
    if (large(arrays)) release.emplace();
    r.emplace(fn());
  }
  return out.is_none() ? py::cast(std::move(*r)) : out;
}

}  // namespace

void bind_elementwise(py::module_& m) {
  py::enum_<UnaryOp> unary_op(m, "UnaryOp", "The op of _C.unary.");
  py::enum_<BinaryOp> binary_op(m, "BinaryOp", "The op of _C.binary.");
#define FIBRIL_BIND_UNARY(name) unary_op.value(#name, UnaryOp::name);
#define FIBRIL_BIND_BINARY(name) binary_op.value(#name, BinaryOp::name);
  FIBRIL_UNARY_OPS(FIBRIL_BIND_UNARY)
  FIBRIL_BINARY_OPS(FIBRIL_BIND_BINARY)
#undef FIBRIL_BIND_UNARY
#undef FIBRIL_BIND_BINARY

  m.def("unary", [](UnaryOp op, const Array& x, py::object out) {
    Array* o = out_arg(out);
    return run({&x}, out, [&] { return unary(op, x, o); });
  }, py::arg("op"), py::arg("x"), py::arg("out") = py::none(), "op(x), elementwise; op is a UnaryOp.");

  m.def("binary", [](BinaryOp op, py::handle a, py::handle b, py::object out) {
    std::optional<Array> ha, hb;
    Operand oa = to_operand(a, ha, op_name(op), "a"), ob = to_operand(b, hb, op_name(op), "b");
    Array* o = out_arg(out);
    return run({oa.array, ob.array}, out, [&] { return binary(op, oa, ob, o); });
  }, py::arg("op"), py::arg("a"), py::arg("b"), py::arg("out") = py::none(),
     "op(a, b), elementwise with broadcasting and PyTorch's type promotion; a and b are Arrays or numbers.");

  m.def("where", [](const Array& cond, py::handle a, py::handle b, py::object out) {
    std::optional<Array> ha, hb;
    Operand oa = to_operand(a, ha, "where", "a"), ob = to_operand(b, hb, "where", "b");
    Array* o = out_arg(out);
    return run({&cond, oa.array, ob.array}, out, [&] { return where(cond, oa, ob, o); });
  }, py::arg("cond"), py::arg("a"), py::arg("b"), py::arg("out") = py::none(),
     "a where cond else b; the three broadcast, a and b promote.");

  m.def("clamp", [](const Array& x, py::object min, py::object max, py::object out) {
    std::optional<Array> hl, hh;
    std::optional<Operand> lo, hi;
    if (!min.is_none()) lo = to_operand(min, hl, "clamp", "min");
    if (!max.is_none()) hi = to_operand(max, hh, "clamp", "max");
    Array* o = out_arg(out);
    return run({&x, lo ? lo->array : nullptr, hi ? hi->array : nullptr}, out,
               [&] { return clamp(x, lo ? &*lo : nullptr, hi ? &*hi : nullptr, o); });
  }, py::arg("x"), py::arg("min") = py::none(), py::arg("max") = py::none(), py::arg("out") = py::none(),
     "min(max(x, min), max); each bound None, a number or an Array (broadcast).");

  m.def("result_type", [](py::handle a, py::handle b) {
    std::optional<Array> ha, hb;
    return dtype_object(result_type({to_operand(a, ha, "result_type", "a"), to_operand(b, hb, "result_type", "b")}));
  }, py::arg("a"), py::arg("b"), "The dtype PyTorch's promotion gives a op b (Arrays or Python numbers).");
}

}  // namespace fibril::python
