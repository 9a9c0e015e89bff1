// Element types. Storage-level only: promotion rules live with the elementwise family.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace fibril {

enum class DType : uint8_t { float32, float64, int64, int32, uint8, bool_ };

constexpr int kNumDTypes = 6;

inline size_t itemsize(DType dt) {
  switch (dt) {
    case DType::float32: return 4;
    case DType::float64: return 8;
    case DType::int64: return 8;
    case DType::int32: return 4;
    case DType::uint8: return 1;
    case DType::bool_: return 1;
  }
  return 0;
}

inline bool is_floating_point(DType dt) { return dt == DType::float32 || dt == DType::float64; }

const char* dtype_name(DType dt);            // "float32", ..., "bool"
DType dtype_from_name(const std::string&);   // throws TypeError naming the unknown type

// Calls fn(T{}) with T the C++ type of dt: the one switch every dtype-generic kernel uses.
template <typename Fn>
decltype(auto) visit_dtype(DType dt, Fn&& fn) {
  switch (dt) {
    case DType::float32: return fn(float{});
    case DType::float64: return fn(double{});
    case DType::int64: return fn(int64_t{});
    case DType::int32: return fn(int32_t{});
    case DType::uint8: return fn(uint8_t{});
    case DType::bool_: return fn(bool{});
  }
  return fn(float{});
}

}  // namespace fibril
