// Array and DType bindings: views, copies, the buffer protocol (both directions).
#include <pybind11/stl.h>

#include <climits>
#include <cstring>

#include "core/errors.h"
#include "python/bindings.h"

namespace fibril::python {
namespace {

int64_t int_arg(py::handle h, const char* what) {
  if (!py::isinstance<py::int_>(h) || py::isinstance<py::bool_>(h)) {
    FIBRIL_FAIL(Type, what, " must be integers, got ", std::string(py::str(py::type::of(h).attr("__name__"))));
  }
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(h.ptr(), &overflow);
  FIBRIL_CHECK(!overflow, Value, what, " value ", std::string(py::str(h)), " does not fit in int64");
  return v;
}

// Buffer-protocol format -> DType; TypeError for types fibril lacks, ValueError for
// non-native byte order.
DType dtype_from_format(std::string format, size_t itemsize) {
  if (!format.empty() && (format[0] == '@' || format[0] == '=' || format[0] == '<')) format.erase(0, 1);
  FIBRIL_CHECK(format.empty() || (format[0] != '>' && format[0] != '!'), Value,
               "[from_buffer] non-native byte order '", format, "'");
  if (format.size() == 1) {
    switch (format[0]) {
      case 'f': if (itemsize == 4) return DType::float32; break;
      case 'd': if (itemsize == 8) return DType::float64; break;
      case 'e': if (itemsize == 2) return DType::float16; break;
      case 'q': case 'l': case 'i':
        if (itemsize == 8) return DType::int64;
        if (itemsize == 4) return DType::int32;
        break;
      case 'B': if (itemsize == 1) return DType::uint8; break;
      case '?': if (itemsize == 1) return DType::bool_; break;
      default: break;
    }
  }
  FIBRIL_FAIL(Type, "[from_buffer] unsupported element format '", format, "' (", itemsize,
              " bytes); fibril has float32, float64, float16, int64, int32, uint8, bool");
}

const char* format_of(DType dt) {
  switch (dt) {
    case DType::float32: return "f";
    case DType::float64: return "d";
    case DType::int64: return "q";
    case DType::int32: return "i";
    case DType::uint8: return "B";
    case DType::bool_: return "?";
    case DType::float16: return "e";
    case DType::bfloat16: break;  // no buffer-protocol (or numpy) type
  }
  return "";
}

// Zero-copy import of any writable buffer with native, aligned, non-negative strides. The
// exporter stays alive (and its buffer held) until the last fibril view is gone.
Array array_from_buffer(py::handle obj) {
  struct Held {
    Py_buffer view{};
    bool acquired = false;
    ~Held() {
      if (acquired) with_gil([this] { PyBuffer_Release(&view); });
    }
  };
  auto held = std::make_shared<Held>();
  if (PyObject_GetBuffer(obj.ptr(), &held->view, PyBUF_RECORDS_RO) != 0) throw py::error_already_set();
  held->acquired = true;
  Py_buffer& b = held->view;
  FIBRIL_CHECK(!b.readonly, Value, "[from_buffer] the buffer is read-only; fibril arrays are writable, so copy it first");
  DType dtype = dtype_from_format(b.format ? b.format : "B", static_cast<size_t>(b.itemsize));
  const int64_t item = b.itemsize;
  FIBRIL_CHECK(reinterpret_cast<uintptr_t>(b.buf) % item == 0, Value,
               "[from_buffer] the buffer's data is not aligned to its ", item, "-byte elements");
  Shape shape(b.shape, b.shape + b.ndim);
  Strides strides(b.ndim);
  int64_t extent = 1, numel = checked_numel(shape, "from_buffer");
  for (int i = 0; i < b.ndim; ++i) {
    FIBRIL_CHECK(b.strides[i] >= 0 && b.strides[i] % item == 0, Value, "[from_buffer] stride ", b.strides[i],
                 " bytes is negative or not a multiple of the ", item, "-byte element");
    strides[i] = b.strides[i] / item;
    extent += (shape[i] - 1) * strides[i];
  }
  size_t nbytes = numel == 0 ? 0 : static_cast<size_t>(extent * item);
  auto storage = std::make_shared<Storage>(b.buf, nbytes, Device{}, [held](void*) mutable { held.reset(); });
  return Array(std::move(storage), dtype, shape, strides, 0);
}

py::buffer_info buffer_of(const Array& a) {
  FIBRIL_CHECK(a.device().is_cpu(), Runtime, "[buffer] ", a.describe(),
               " lives on a CUDA device; copy it to the CPU with .to('cpu') first");
  FIBRIL_CHECK(a.dtype() != DType::bfloat16, Type, "[buffer] ", a.describe(),
               ": bfloat16 has no buffer-protocol or numpy type; convert it with .float() first");
  std::vector<py::ssize_t> shape(a.shape().begin(), a.shape().end()), strides(a.ndim());
  for (int i = 0; i < a.ndim(); ++i) strides[i] = a.strides()[i] * static_cast<py::ssize_t>(a.itemsize());
  return py::buffer_info(a.data(), static_cast<py::ssize_t>(a.itemsize()), format_of(a.dtype()), a.ndim(), shape,
                         strides, /*readonly=*/false);
}

void fill_from_py(Array& a, py::handle value) {
  // Integers (Python's and numpy's, anything with __index__) fill exactly, not via double.
  if (!PyFloat_Check(value.ptr()) && PyIndex_Check(value.ptr())) {
    py::int_ as_int = py::reinterpret_steal<py::int_>(PyNumber_Index(value.ptr()));
    if (!as_int) throw py::error_already_set();
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(as_int.ptr(), &overflow);
    if (!overflow) {
      py::gil_scoped_release release;
      return a.fill(static_cast<int64_t>(v));
    }
  }
  double v = py::cast<double>(value);
  py::gil_scoped_release release;
  a.fill(v);
}

}  // namespace

Shape shape_from_sequence(py::handle seq, const char* what) {
  FIBRIL_CHECK(py::isinstance<py::sequence>(seq) && !py::isinstance<py::str>(seq), Type, what,
               " must be a sequence of ints, got ", std::string(py::str(py::type::of(seq).attr("__name__"))));
  Shape shape;
  for (py::handle item : seq) shape.push_back(int_arg(item, what));
  return shape;
}

Shape shape_from_args(const py::args& args) {
  if (args.size() == 1 && !py::isinstance<py::int_>(args[0])) return shape_from_sequence(args[0], "shape");
  Shape shape;
  for (py::handle item : args) shape.push_back(int_arg(item, "shape"));
  return shape;
}

DType dtype_from_py(py::handle obj) {
  if (py::isinstance<DType>(obj)) return obj.cast<DType>();
  if (py::isinstance<py::str>(obj)) return dtype_from_name(obj.cast<std::string>());
  py::object np_dtype;
  try {
    np_dtype = py::module_::import("numpy").attr("dtype")(obj);
  } catch (py::error_already_set&) {
    FIBRIL_FAIL(Type, "cannot interpret ", std::string(py::repr(obj)), " as a dtype");
  }
  return dtype_from_name(np_dtype.attr("name").cast<std::string>());
}

Device device_from_py(py::handle obj) {
  if (obj.is_none()) return Device{};
  FIBRIL_CHECK(py::isinstance<py::str>(obj), Type, "device must be a string like 'cpu' or 'cuda:0', got ",
               std::string(py::repr(obj)));
  return parse_device(obj.cast<std::string>());
}

void with_gil(const std::function<void()>& fn) {
#if PY_VERSION_HEX >= 0x030D0000
  if (!Py_IsInitialized() || Py_IsFinalizing()) return;
#else
  if (!Py_IsInitialized() || _Py_IsFinalizing()) return;
#endif
  py::gil_scoped_acquire gil;
  fn();
}

// A tuple of Python ints, built directly (read on every op call: no list in between).
py::tuple int_tuple(const Shape& values) {
  py::tuple t(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    PyObject* v = PyLong_FromLongLong(values[i]);
    if (!v) throw py::error_already_set();
    PyTuple_SET_ITEM(t.ptr(), i, v);
  }
  return t;
}

// One Python object per dtype. pybind11 casts an enum by value into a fresh object; the
// singletons make `array.dtype` allocation-free and let Python test dtypes by identity.
// Deliberately leaked: they live as long as the module, past interpreter teardown order.
static py::object* dtype_objects[kNumDTypes];

py::object dtype_object(DType dt) { return *dtype_objects[static_cast<int>(dt)]; }

void bind_array(py::module_& m) {
  py::enum_<DType> dtype(m, "DType", "An element type: fibril.float32, float64, int64, int32, uint8, bool.");
  for (int i = 0; i < kNumDTypes; ++i) {
    DType dt = static_cast<DType>(i);
    dtype.value(dtype_name(dt), dt);
    dtype_objects[i] = new py::object(dtype.attr(dtype_name(dt)));
    m.attr(dtype_name(dt)) = *dtype_objects[i];
  }
  // PyTorch's spelling: repr(fibril.float32) == "fibril.float32" (set as attributes, since
  // enum_ installs its own __repr__ after any .def).
  auto name = py::cpp_function([](DType dt) { return std::string("fibril.") + dtype_name(dt); }, py::is_method(dtype));
  dtype.attr("__repr__") = name;
  dtype.attr("__str__") = name;
  dtype.def_property_readonly("itemsize", [](DType dt) { return itemsize(dt); })
      .def_property_readonly("is_floating_point", [](DType dt) { return is_floating_point(dt); });

  using G = py::call_guard<py::gil_scoped_release>;
  py::class_<Array> cls(m, "Array", py::buffer_protocol(),
                        "A strided view of CPU or CUDA memory: the storage under every fibril tensor.");
  cls.def_buffer(&buffer_of)
      // numpy reaches __array__ only when the buffer protocol failed (a CUDA array): without it,
      // numpy would fall back to iterating the array element by element.
      .def("__array__", [](const Array& a, py::object dtype, py::object copy) {
            FIBRIL_CHECK(a.device().is_cpu(), Runtime, "[numpy] cannot convert ", a.describe(),
                         " to a numpy array: copy it to the CPU with .to('cpu') first");
            py::object arr = py::module_::import("numpy").attr("asarray")(py::memoryview(py::cast(a)));
            return dtype.is_none() ? arr : arr.attr("astype")(dtype, py::arg("copy") = false);
          }, py::arg("dtype") = py::none(), py::arg("copy") = py::none())
      .def_static("empty", [](py::object shape, py::object dtype, py::object device) {
            return Array::empty(shape_from_sequence(shape, "shape"), dtype_from_py(dtype), device_from_py(device));
          }, py::arg("shape"), py::arg("dtype") = DType::float32, py::arg("device") = py::none())
      .def_static("full", [](py::object shape, py::object value, py::object dtype, py::object device) {
            Array a = Array::empty(shape_from_sequence(shape, "shape"), dtype_from_py(dtype), device_from_py(device));
            fill_from_py(a, value);
            return a;
          }, py::arg("shape"), py::arg("value"), py::arg("dtype") = DType::float32, py::arg("device") = py::none())
      .def_static("from_buffer", &array_from_buffer, py::arg("obj"),
                  "Zero-copy view of a writable buffer (numpy array, memoryview); the owner is kept alive.")
      .def_property_readonly("shape", [](const Array& a) { return int_tuple(a.shape()); })
      .def_property_readonly("strides", [](const Array& a) { return int_tuple(a.strides()); },
                             "Strides in elements (as torch.Tensor.stride()), not bytes.")
      .def_property_readonly("dtype", [](const Array& a) { return dtype_object(a.dtype()); })
      .def_property_readonly("device", [](const Array& a) { return a.device().str(); })
      .def_property_readonly("offset", &Array::offset, "Offset of the first element in the storage, in elements.")
      .def_property_readonly("ndim", &Array::ndim)
      .def_property_readonly("itemsize", &Array::itemsize)
      .def_property_readonly("nbytes", &Array::nbytes)
      .def_property_readonly("storage_nbytes", [](const Array& a) { return a.storage()->nbytes(); })
      .def("numel", &Array::numel)
      .def("__len__", [](const Array& a) {
        FIBRIL_CHECK(a.ndim() > 0, Type, "len() of a 0-d array");
        return a.shape()[0];
      })
      .def("is_contiguous", &Array::is_contiguous)
      .def("data_ptr", [](const Array& a) { return reinterpret_cast<uintptr_t>(a.data()); })
      .def("shares_storage", [](const Array& a, const Array& b) { return a.storage() == b.storage(); })
      .def("view", [](const Array& a, py::args s) { return a.view(shape_from_args(s)); })
      .def("reshape", [](const Array& a, py::args s) {
        Shape shape = shape_from_args(s);
        py::gil_scoped_release release;
        return a.reshape(shape);
      })
      .def("transpose", &Array::transpose, py::arg("dim0"), py::arg("dim1"))
      .def("permute", [](const Array& a, py::args dims) { return a.permute(shape_from_args(dims)); })
      .def("slice", [](const Array& a, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> stop,
                       int64_t step) {
            return a.slice(dim, start.value_or(0), stop.value_or(INT64_MAX), step);
          }, py::arg("dim"), py::arg("start") = py::none(), py::arg("stop") = py::none(), py::arg("step") = 1)
      .def("select", &Array::select, py::arg("dim"), py::arg("index"))
      .def("squeeze", [](const Array& a, std::optional<int64_t> dim) { return dim ? a.squeeze(*dim) : a.squeeze(); },
           py::arg("dim") = py::none())
      .def("unsqueeze", &Array::unsqueeze, py::arg("dim"))
      .def("expand", [](const Array& a, py::args s) { return a.expand(shape_from_args(s)); })
      .def("as_strided", [](const Array& a, py::object shape, py::object strides, std::optional<int64_t> offset) {
            return a.as_strided(shape_from_sequence(shape, "shape"), shape_from_sequence(strides, "strides"),
                                offset.value_or(a.offset()));
          }, py::arg("shape"), py::arg("strides"), py::arg("offset") = py::none())
      .def("bitcast", [](const Array& a, py::object dtype) { return a.bitcast(dtype_from_py(dtype)); },
           py::arg("dtype"), "The same bytes read as dtype (a view; torch's view(dtype)).")
      .def("contiguous", &Array::contiguous, G())
      .def("clone", &Array::clone, G())
      .def("astype", [](const Array& a, py::object dtype) {
        DType dt = dtype_from_py(dtype);
        py::gil_scoped_release release;
        return a.astype(dt);
      }, py::arg("dtype"))
      .def("to", [](const Array& a, py::object device) {
        Device dev = device_from_py(device);
        py::gil_scoped_release release;
        return a.to(dev);
      }, py::arg("device"))
      .def("copy_", [](Array& a, const Array& src) {
        a.copy_from(src);
        return a;
      }, py::arg("src"), G())
      .def("fill_", [](Array& a, py::object value) {
        fill_from_py(a, value);
        return a;
      }, py::arg("value"))
      .def("__repr__", [](const Array& a) {
        return "Array(" + a.describe() + ", strides=" + shape_str(a.strides()) + ")";
      })
      .def("_storage_use_count", [](const Array& a) { return a.storage().use_count(); },
           "How many arrays (views, numpy and DLPack exports) hold this array's storage.");
  bind_dlpack(m, cls);
}

}  // namespace fibril::python
