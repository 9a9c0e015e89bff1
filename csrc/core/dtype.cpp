#include "core/dtype.h"

#include "core/errors.h"

namespace fibril {

const char* dtype_name(DType dt) {
  switch (dt) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::int64: return "int64";
    case DType::int32: return "int32";
    case DType::uint8: return "uint8";
    case DType::bool_: return "bool";
    case DType::float16: return "float16";
    case DType::bfloat16: return "bfloat16";
  }
  return "?";
}

DType dtype_from_name(const std::string& name) {
  for (int i = 0; i < kNumDTypes; ++i) {
    DType dt = static_cast<DType>(i);
    if (name == dtype_name(dt)) return dt;
  }
  if (name == "half") return DType::float16;
  FIBRIL_FAIL(Type, "unsupported dtype '", name,
              "' (fibril has float32, float64, float16, bfloat16, int64, int32, uint8, bool)");
}

void unsupported_dtype(const char* op, DType dt) {
  FIBRIL_FAIL(Type, "[", op, "] not implemented for ", dtype_name(dt),
              is_reduced_float(dt) ? " here; convert with .float() first" : "");
}

}  // namespace fibril
