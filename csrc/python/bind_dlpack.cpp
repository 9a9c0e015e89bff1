// DLPack exchange: Array.__dlpack__ / __dlpack_device__ (export) and
// fibril._C.from_dlpack_capsule (import). Both directions are zero-copy, except that a
// read-only import is copied (fibril arrays are writable).
#include <pybind11/stl.h>

#include <optional>

#include "core/errors.h"
#include "cuda/backend.h"
#include "python/bindings.h"
#include "python/dlpack.h"

namespace fibril::python {
namespace {

constexpr const char* kLegacyName = "dltensor";
constexpr const char* kVersionedName = "dltensor_versioned";

DLDataType to_dl(DType dt) {
  switch (dt) {
    case DType::float32: return {kDLFloat, 32, 1};
    case DType::float64: return {kDLFloat, 64, 1};
    case DType::int64: return {kDLInt, 64, 1};
    case DType::int32: return {kDLInt, 32, 1};
    case DType::uint8: return {kDLUInt, 8, 1};
    case DType::bool_: return {kDLBool, 8, 1};
    case DType::float16: return {kDLFloat, 16, 1};
    case DType::bfloat16: return {kDLBfloat, 16, 1};
  }
  return {};
}

std::optional<DType> from_dl(DLDataType t) {
  if (t.lanes != 1) return std::nullopt;
  if (t.code == kDLFloat && t.bits == 32) return DType::float32;
  if (t.code == kDLFloat && t.bits == 64) return DType::float64;
  if (t.code == kDLFloat && t.bits == 16) return DType::float16;
  if (t.code == kDLBfloat && t.bits == 16) return DType::bfloat16;
  if (t.code == kDLInt && t.bits == 64) return DType::int64;
  if (t.code == kDLInt && t.bits == 32) return DType::int32;
  if (t.code == kDLUInt && t.bits == 8) return DType::uint8;
  if (t.code == kDLBool && t.bits == 8) return DType::bool_;
  return std::nullopt;
}

DLDevice to_dl(Device d) { return d.is_cpu() ? DLDevice{kDLCPU, 0} : DLDevice{kDLCUDA, d.index}; }

// Owns what the exported DLTensor points at: the Array (so its storage) and the shape and
// stride arrays. ManagedT is DLManagedTensor or DLManagedTensorVersioned.
template <typename ManagedT>
struct ExportContext {
  Array array;
  Shape shape;
  Strides strides;
  ManagedT managed{};

  explicit ExportContext(Array a) : array(std::move(a)), shape(array.shape()), strides(array.strides()) {
    managed.manager_ctx = this;
    managed.deleter = [](ManagedT* self) { delete static_cast<ExportContext*>(self->manager_ctx); };
    DLTensor& t = managed.dl_tensor;
    t.data = array.data();
    t.device = to_dl(array.device());
    t.ndim = array.ndim();
    t.dtype = to_dl(array.dtype());
    t.shape = shape.data();
    t.strides = strides.data();
    t.byte_offset = 0;
  }
};

template <typename ManagedT>
py::capsule make_capsule(Array a, const char* name) {
  auto* ctx = new ExportContext<ManagedT>(std::move(a));
  if constexpr (std::is_same_v<ManagedT, DLManagedTensorVersioned>) ctx->managed.version = {1, 0};
  // The capsule destructor frees the tensor only if no consumer took it (renamed it).
  PyObject* cap = PyCapsule_New(&ctx->managed, name, [](PyObject* capsule) {
    const char* n = PyCapsule_GetName(capsule);
    if (!n || (std::strcmp(n, kLegacyName) != 0 && std::strcmp(n, kVersionedName) != 0)) return;
    auto* m = static_cast<ManagedT*>(PyCapsule_GetPointer(capsule, n));
    if (m && m->deleter) m->deleter(m);
  });
  if (!cap) {
    delete ctx;
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::capsule>(cap);
}

py::object dlpack_export(const Array& self, py::object stream, std::optional<std::pair<int, int>> max_version,
                         std::optional<std::pair<int, int>> dl_device, std::optional<bool> copy) {
  if (dl_device) {
    DLDevice mine = to_dl(self.device());
    if (dl_device->first != mine.device_type || dl_device->second != mine.device_id) {
      PyErr_SetString(PyExc_BufferError, "[__dlpack__] export to another device is not supported");
      throw py::error_already_set();
    }
  }
  if (!self.device().is_cpu()) {
    FIBRIL_CHECK(!cuda::emulating(), Runtime, "[__dlpack__] ", self.describe(), " lives in the CUDA emulator's "
                 "host memory, which no other library can read as CUDA memory");
    // Work queued on fibril's stream must be done before another library's stream reads.
    FIBRIL_CHECK(stream.is_none() || py::isinstance<py::int_>(stream), Type, "[__dlpack__] stream must be an int or None");
    py::gil_scoped_release release;
    cuda::synchronize(self.device().index);
  }
  Array a = copy.value_or(false) ? self.clone() : self;
  if (max_version && max_version->first >= 1) return make_capsule<DLManagedTensorVersioned>(a, kVersionedName);
  return make_capsule<DLManagedTensor>(a, kLegacyName);
}

// Wraps a consumed DLTensor. `release` calls the producer's deleter (with the GIL, since
// producers' deleters touch Python objects).
Array wrap_dltensor(const DLTensor& t, bool read_only, std::function<void()> release) {
  struct Guard {  // calls the deleter unless ownership moved into a Storage
    std::function<void()> fn;
    ~Guard() {
      if (fn) fn();
    }
  } guard{release};
  std::optional<DType> dtype = from_dl(t.dtype);
  FIBRIL_CHECK(dtype.has_value(), Type, "[from_dlpack] unsupported DLPack dtype (code ", int(t.dtype.code), ", ",
               int(t.dtype.bits), " bits, ", t.dtype.lanes, " lanes); fibril has float32, float64, float16, bfloat16, int64, int32, uint8, bool");
  Device device;
  if (t.device.device_type == kDLCUDA) {
    FIBRIL_CHECK(!cuda::emulating(), Runtime, "[from_dlpack] CUDA memory cannot be imported under the CUDA emulator");
    FIBRIL_CHECK(cuda::device_count() > t.device.device_id, Runtime, "[from_dlpack] the tensor lives on cuda:",
                 t.device.device_id, ", which this fibril build or machine does not have");
    device = Device{DeviceType::cuda, t.device.device_id};
  } else {
    FIBRIL_CHECK(t.device.device_type == kDLCPU || t.device.device_type == kDLCUDAHost, Runtime,
                 "[from_dlpack] unsupported DLPack device type ", int(t.device.device_type));
  }
  FIBRIL_CHECK(t.ndim >= 0 && t.ndim <= kMaxDims, Value, "[from_dlpack] unsupported ndim ", t.ndim);
  Shape shape(t.shape, t.shape + t.ndim);
  Strides strides = t.strides ? Strides(t.strides, t.strides + t.ndim) : contiguous_strides(shape);
  const int64_t numel = checked_numel(shape, "from_dlpack");
  const size_t item = itemsize(*dtype);
  char* base = static_cast<char*>(t.data) + t.byte_offset;
  int64_t extent = 1;
  for (int i = 0; i < t.ndim; ++i) {
    FIBRIL_CHECK(strides[i] >= 0 || shape[i] <= 1, Value, "[from_dlpack] negative strides ", shape_str(strides),
                 " are not supported; make the source contiguous first");
    if (shape[i] <= 1) strides[i] = std::max<int64_t>(strides[i], 0);
    extent += (shape[i] - 1) * strides[i];
  }
  if (numel == 0) return Array::empty(shape, *dtype, device);
  FIBRIL_CHECK(reinterpret_cast<uintptr_t>(base) % item == 0, Value,
               "[from_dlpack] data pointer is not aligned to its ", item, "-byte elements");
  auto storage = std::make_shared<Storage>(base, static_cast<size_t>(extent) * item, device,
                                           [fn = std::move(guard.fn)](void*) { fn(); });
  guard.fn = nullptr;
  Array view(std::move(storage), *dtype, shape, strides, 0);
  if (!read_only) return view;
  py::gil_scoped_release unlocked;
  return view.clone();
}

Array dlpack_import(py::capsule capsule) {
  const char* name = PyCapsule_GetName(capsule.ptr());
  FIBRIL_CHECK(name && (std::strcmp(name, kLegacyName) == 0 || std::strcmp(name, kVersionedName) == 0), Value,
               "[from_dlpack] expected an unconsumed 'dltensor' or 'dltensor_versioned' capsule, got '",
               name ? name : "", "'");
  const bool versioned = std::strcmp(name, kVersionedName) == 0;
  void* ptr = PyCapsule_GetPointer(capsule.ptr(), name);
  if (!ptr) throw py::error_already_set();
  // From here the capsule is ours: renaming it stops its destructor from freeing the tensor.
  if (PyCapsule_SetName(capsule.ptr(), versioned ? "used_dltensor_versioned" : "used_dltensor") != 0)
    throw py::error_already_set();
  if (versioned) {
    auto* m = static_cast<DLManagedTensorVersioned*>(ptr);
    auto release = [m] { with_gil([m] { if (m->deleter) m->deleter(m); }); };
    if (m->version.major != 1) {
      release();
      FIBRIL_FAIL(Value, "[from_dlpack] unsupported DLPack version ", m->version.major, ".", m->version.minor);
    }
    return wrap_dltensor(m->dl_tensor, m->flags & kDLPackFlagReadOnly, release);
  }
  auto* m = static_cast<DLManagedTensor*>(ptr);
  return wrap_dltensor(m->dl_tensor, false, [m] { with_gil([m] { if (m->deleter) m->deleter(m); }); });
}

}  // namespace

void bind_dlpack(py::module_& m, py::class_<Array>& cls) {
  cls.def("__dlpack__", &dlpack_export, py::kw_only(), py::arg("stream") = py::none(),
          py::arg("max_version") = py::none(), py::arg("dl_device") = py::none(), py::arg("copy") = py::none())
      .def("__dlpack_device__", [](const Array& a) {
        DLDevice d = to_dl(a.device());
        return py::make_tuple(static_cast<int>(d.device_type), d.device_id);
      });
  m.def("from_dlpack_capsule", &dlpack_import, py::arg("capsule"),
        "Consumes a DLPack capsule (legacy or versioned) into an Array sharing its memory.");
}

}  // namespace fibril::python
