// The elementwise ops, one element at a time, with PyTorch's semantics. Integer arithmetic
// wraps (two's complement, computed unsigned so that overflow is defined); integer division
// and remainder round toward -inf, never see a zero divisor (the row kernel checks first)
// and treat INT_MIN / -1 without trapping. Only included from per-ISA translation units.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "cpu/vec_math.h"

namespace fibril::cpu::FIBRIL_ISA::fn {

template <typename T>
constexpr bool kSignedInt = std::is_integral_v<T> && std::is_signed_v<T>;

template <typename T>
inline T wrap_neg(T a) {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(-static_cast<std::make_unsigned_t<T>>(a));
  else return -a;
}

// ---- unary ---------------------------------------------------------------------------

struct Neg {
  template <typename T> static T apply(T a) { return wrap_neg(a); }
};
struct Abs {
  template <typename T> static T apply(T a) {
    if constexpr (std::is_floating_point_v<T>) return std::fabs(a);
    else if constexpr (kSignedInt<T>) return a < 0 ? wrap_neg(a) : a;
    else return a;
  }
};
struct Sign {  // NaN and -0 give 0, as in PyTorch
  template <typename T> static T apply(T a) {
    if constexpr (std::is_same_v<T, bool>) return a;
    else return static_cast<T>((T(0) < a) - (a < T(0)));
  }
};
struct Floor {
  template <typename T> static T apply(T a) { return std::floor(a); }
};
struct Ceil {
  template <typename T> static T apply(T a) { return std::ceil(a); }
};
struct Round {  // half to even: the default rounding mode
  template <typename T> static T apply(T a) { return std::nearbyint(a); }
};
struct Trunc {
  template <typename T> static T apply(T a) { return std::trunc(a); }
};
struct LogicalNot {
  template <typename T> static bool apply(T a) { return a == T(0); }
};
struct BitwiseNot {
  template <typename T> static T apply(T a) {
    if constexpr (std::is_same_v<T, bool>) return !a;
    else return static_cast<T>(~a);
  }
};
struct Sqrt {
  template <typename T> static T apply(T a) { return std::sqrt(a); }
};
struct Rsqrt {
  template <typename T> static T apply(T a) { return T(1) / std::sqrt(a); }
};
struct Reciprocal {
  template <typename T> static T apply(T a) { return T(1) / a; }
};
struct Sin {
  template <typename T> static T apply(T a) { return std::sin(a); }
};
struct Cos {
  template <typename T> static T apply(T a) { return std::cos(a); }
};

// Ops with a float32 lane algorithm (vec_math.h): f32 takes float or __m256, f64 a double.
struct Exp {
  template <typename V> static V f32(V x) { return vm::exp(x); }
  static double f64(double x) { return std::exp(x); }
};
struct Exp2 {
  template <typename V> static V f32(V x) { return vm::exp2(x); }
  static double f64(double x) { return std::exp2(x); }
};
struct Expm1 {
  template <typename V> static V f32(V x) { return vm::expm1(x); }
  static double f64(double x) { return std::expm1(x); }
};
struct Log {
  template <typename V> static V f32(V x) { return vm::log(x); }
  static double f64(double x) { return std::log(x); }
};
struct Log2 {
  template <typename V> static V f32(V x) { return vm::log2(x); }
  static double f64(double x) { return std::log2(x); }
};
struct Log1p {
  template <typename V> static V f32(V x) { return vm::log1p(x); }
  static double f64(double x) { return std::log1p(x); }
};
struct Tanh {
  template <typename V> static V f32(V x) { return vm::tanh(x); }
  static double f64(double x) { return std::tanh(x); }
};
struct Erf {
  template <typename V> static V f32(V x) { return vm::erf(x); }
  static double f64(double x) { return std::erf(x); }
};
struct Sigmoid {
  template <typename V> static V f32(V x) { return vm::sigmoid(x); }
  static double f64(double x) {
    double e = std::exp(-std::fabs(x));
    return (x >= 0 ? 1.0 : e) / (1.0 + e);
  }
};

// ---- binary --------------------------------------------------------------------------

struct Add {
  template <typename T> static T apply(T a, T b) {
    if constexpr (std::is_same_v<T, bool>) return a || b;
    else if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<std::make_unsigned_t<T>>(a) + static_cast<std::make_unsigned_t<T>>(b));
    else return a + b;
  }
};
struct Sub {
  template <typename T> static T apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<std::make_unsigned_t<T>>(a) - static_cast<std::make_unsigned_t<T>>(b));
    else return a - b;
  }
};
struct Mul {
  template <typename T> static T apply(T a, T b) {
    if constexpr (std::is_same_v<T, bool>) return a && b;
    else if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<std::make_unsigned_t<T>>(a) * static_cast<std::make_unsigned_t<T>>(b));
    else return a * b;
  }
};
struct Div {
  template <typename T> static T apply(T a, T b) { return a / b; }
};
struct FloorDivide {
  template <typename T> static T apply(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {  // PyTorch's div_floor_floating
      if (b == 0) return a / b;
      T mod = std::fmod(a, b);
      T div = (a - mod) / b;
      if (mod != 0 && (b < 0) != (mod < 0)) div -= T(1);
      if (div == 0) return std::copysign(T(0), a / b);
      T floored = std::floor(div);
      return div - floored > T(0.5) ? floored + T(1) : floored;
    } else {
      if constexpr (kSignedInt<T>) {
        if (b == -1) return wrap_neg(a);  // INT_MIN / -1 would trap
      }
      T q = static_cast<T>(a / b), r = static_cast<T>(a % b);
      return (r != 0 && (r < 0) != (b < 0)) ? static_cast<T>(q - 1) : q;
    }
  }
};
struct Remainder {  // the sign of the divisor, as Python's %
  template <typename T> static T apply(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
      T mod = std::fmod(a, b);
      return (mod != 0 && (b < 0) != (mod < 0)) ? mod + b : mod;
    } else {
      if constexpr (kSignedInt<T>) {
        if (b == -1) return 0;  // INT_MIN % -1 would trap
      }
      T r = static_cast<T>(a % b);
      return (r != 0 && (r < 0) != (b < 0)) ? static_cast<T>(r + b) : r;
    }
  }
};
struct Pow {
  template <typename T> static T apply(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
      return std::pow(a, b);
    } else {
      if constexpr (kSignedInt<T>) {  // PyTorch: 1 and -1 keep a magnitude, the rest go to 0
        if (b < 0) return a == 1 ? T(1) : a == -1 ? ((-(b + 1)) % 2 == 0 ? T(-1) : T(1)) : T(0);
      }
      using U = std::make_unsigned_t<T>;
      U base = static_cast<U>(a), result = 1;
      for (U e = static_cast<U>(b); e; e >>= 1) {
        if (e & 1) result = static_cast<U>(result * base);
        base = static_cast<U>(base * base);
      }
      return static_cast<T>(result);
    }
  }
};
struct Maximum {  // NaN wins; otherwise std::max
  template <typename T> static T apply(T a, T b) { return (a < b || b != b) ? b : a; }
};
struct Minimum {
  template <typename T> static T apply(T a, T b) { return (b < a || b != b) ? b : a; }
};
struct Atan2 {
  template <typename T> static T apply(T a, T b) { return std::atan2(a, b); }
};
struct Eq {
  template <typename T> static bool apply(T a, T b) { return a == b; }
};
struct Ne {
  template <typename T> static bool apply(T a, T b) { return a != b; }
};
struct Lt {
  template <typename T> static bool apply(T a, T b) { return a < b; }
};
struct Le {
  template <typename T> static bool apply(T a, T b) { return a <= b; }
};
struct Gt {
  template <typename T> static bool apply(T a, T b) { return a > b; }
};
struct Ge {
  template <typename T> static bool apply(T a, T b) { return a >= b; }
};
// Bitwise ops see integers and bools only (the op layer rejects floats); on bools they are
// the logical ones.
struct BitwiseAnd {
  template <typename T> static T apply(T a, T b) { return static_cast<T>(a & b); }
};
struct BitwiseOr {
  template <typename T> static T apply(T a, T b) { return static_cast<T>(a | b); }
};
struct BitwiseXor {
  template <typename T> static T apply(T a, T b) { return static_cast<T>(a ^ b); }
};
struct LogicalAnd {
  template <typename T> static bool apply(T a, T b) { return a != T(0) && b != T(0); }
};
struct LogicalOr {
  template <typename T> static bool apply(T a, T b) { return a != T(0) || b != T(0); }
};
struct LogicalXor {
  template <typename T> static bool apply(T a, T b) { return (a != T(0)) != (b != T(0)); }
};

// ---- ternary -------------------------------------------------------------------------

// PyTorch's clamp: a NaN bound gives NaN, else min(max(x, lo), hi) (hi wins when lo > hi).
template <typename T>
inline T clamp(T x, T lo, T hi) {
  if constexpr (std::is_floating_point_v<T>) {
    if (lo != lo || hi != hi) return std::numeric_limits<T>::quiet_NaN();
  }
  T m = x < lo ? lo : x;  // std::max(x, lo): a NaN x stays
  return hi < m ? hi : m;
}

}  // namespace fibril::cpu::FIBRIL_ISA::fn
