// Element types. Storage-level only: promotion rules live with the elementwise family.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "core/half.h"

namespace fibril {

enum class DType : uint8_t { float32, float64, int64, int32, uint8, bool_, float16, bfloat16 };

constexpr int kNumDTypes = 8;

inline size_t itemsize(DType dt) {
  switch (dt) {
    case DType::float32: return 4;
    case DType::float64: return 8;
    case DType::int64: return 8;
    case DType::int32: return 4;
    case DType::uint8: return 1;
    case DType::bool_: return 1;
    case DType::float16: return 2;
    case DType::bfloat16: return 2;
  }
  return 0;
}

// float16 and bfloat16: storage types whose kernels compute in float32 (core/half.h).
inline bool is_reduced_float(DType dt) { return dt == DType::float16 || dt == DType::bfloat16; }

inline bool is_floating_point(DType dt) {
  return dt == DType::float32 || dt == DType::float64 || is_reduced_float(dt);
}

const char* dtype_name(DType dt);            // "float32", ..., "bool"
DType dtype_from_name(const std::string&);   // throws TypeError naming the unknown type

// TypeError: `op` has no kernel for dt (the reduced floats where a family computes in
// float32 and float64 only).
[[noreturn]] void unsupported_dtype(const char* op, DType dt);

// Calls fn(T{}) with T the C++ type of dt, for the dtypes kernels compute in (all but float16
// and bfloat16, which raise TypeError naming `op`): the switch every dtype-generic kernel uses.
template <typename Fn>
decltype(auto) visit_dtype(DType dt, Fn&& fn, const char* op = "this operation") {
  switch (dt) {
    case DType::float32: return fn(float{});
    case DType::float64: return fn(double{});
    case DType::int64: return fn(int64_t{});
    case DType::int32: return fn(int32_t{});
    case DType::uint8: return fn(uint8_t{});
    case DType::bool_: return fn(bool{});
    case DType::float16: case DType::bfloat16: break;
  }
  unsupported_dtype(op, dt);
}

// visit_dtype over every dtype, Half and BFloat16 included: for kernels that move or convert
// elements (copy, fill, gather) or widen them to compute_t<T> themselves.
template <typename Fn>
decltype(auto) visit_any_dtype(DType dt, Fn&& fn) {
  switch (dt) {
    case DType::float16: return fn(Half{});
    case DType::bfloat16: return fn(BFloat16{});
    default: return visit_dtype(dt, std::forward<Fn>(fn));
  }
}

}  // namespace fibril
