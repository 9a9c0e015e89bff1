// CUDA elementwise family: every UnaryOp and BinaryOp, where and clamp, over
// cpu::ElementwiseArgs with the CPU kernels' semantics (cpu/elementwise_functors.h: integer
// arithmetic wraps, division and remainder round toward -inf, INT_MIN / -1 does not trap,
// NaN-propagating maximum/minimum and clamp, half-to-even round, PyTorch's float floor_divide).
//
// Design: the iteration is elementwise_loop.cuh's. Contiguous (or scalar) operands over one
// merged dim take flat_kernel: 128-bit loads and stores (4 float32, 2 float64/int64, 16
// bool/uint8 per thread per step), grid-stride, 256 threads. Anything else (broadcast rows,
// transposed views) takes strided_kernel, whose index math is 32-bit with magic-number
// division (the host splits launches past 2^31). Python numbers (0-d host arrays) come by
// value as kernel arguments.
// One kernel per (op, dtype) instantiation, so each inner loop is the op alone.
//
// Integer floor_divide/remainder by zero: a host-scalar divisor is checked on the host; a
// device divisor sets a device flag that is read back after the kernel (the only sync in this
// family, and only for those two ops on integers), and the op layer raises as on the CPU.
//
// Float math uses the CUDA math library's accurate functions (expf, erff, tanhf...: 1-2 ulp),
// not the __expf intrinsics; the tests compare with the CPU kernels at their tolerances.
//
// H100 figures (`python -m bench.cuda`, bench/cuda_elementwise.py; torch 2.11 in the same run):
// add of 2 x 64M float32 266 us = 3.02 TB/s, 100% of the device-copy bandwidth, 1.00x torch;
// 16M float32: add 2.89 TB/s 1.01x, mul by 2.0 1.00x, gt -> bool 1.00x, exp/tanh/sigmoid/clamp
// 0.99-1.00x; (4096,4096) + (4096,) row broadcast 1.90 TB/s 0.83x (broadcast operands are read
// per element), (4096,4096) + its transpose 1.00x.
#include "cuda/elementwise.h"

#include <cstdint>
#include <limits>
#include <type_traits>

#include "cuda/elementwise_loop.cuh"
#include "cuda/launch.cuh"
#include "cuda/math.cuh"

namespace fibril::cuda::FIBRIL_CUDA_NS {
namespace {

using cpu::KernelStatus;

template <typename T>
constexpr bool kFloat = std::is_floating_point_v<T>;
template <typename T>
constexpr bool kSignedInt = std::is_integral_v<T> && std::is_signed_v<T>;

template <typename T>
__device__ __forceinline__ T wrap_neg(T a) {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(-static_cast<std::make_unsigned_t<T>>(a));
  else return -a;
}

// ---- unary ---------------------------------------------------------------------------
struct Neg {
  template <typename T> __device__ static T apply(T a) { return wrap_neg(a); }
};
struct Abs {
  template <typename T> __device__ static T apply(T a) {
    if constexpr (kFloat<T>) return m_fabs(a);
    else if constexpr (kSignedInt<T>) return a < 0 ? wrap_neg(a) : a;
    else return a;
  }
};
struct Sign {
  template <typename T> __device__ static T apply(T a) {
    if constexpr (std::is_same_v<T, bool>) return a;
    else if constexpr (std::is_unsigned_v<T>) return static_cast<T>(a != T(0));
    else return static_cast<T>((T(0) < a) - (a < T(0)));
  }
};
struct LogicalNot {
  template <typename T> __device__ static bool apply(T a) { return a == T(0); }
};
// The bitwise ops: integers and bools only (the op layer rejects floats, whose instances
// below are never launched).
struct BitwiseNot {
  template <typename T> __device__ static T apply(T a) {
    if constexpr (std::is_same_v<T, bool>) return !a;
    else if constexpr (std::is_integral_v<T>) return static_cast<T>(~a);
    else return a;
  }
};
#define FIBRIL_EW_FLOAT_UNARY(Name, expr) \
  struct Name {                           \
    template <typename T> __device__ static T apply(T x) { return expr; } \
  };
FIBRIL_EW_FLOAT_UNARY(Exp, m_exp(x))
FIBRIL_EW_FLOAT_UNARY(Exp2, m_exp2(x))
FIBRIL_EW_FLOAT_UNARY(Expm1, m_expm1(x))
FIBRIL_EW_FLOAT_UNARY(Log, m_log(x))
FIBRIL_EW_FLOAT_UNARY(Log2, m_log2(x))
FIBRIL_EW_FLOAT_UNARY(Log1p, m_log1p(x))
FIBRIL_EW_FLOAT_UNARY(Tanh, m_tanh(x))
FIBRIL_EW_FLOAT_UNARY(Erf, m_erf(x))
FIBRIL_EW_FLOAT_UNARY(Sqrt, m_sqrt(x))
FIBRIL_EW_FLOAT_UNARY(Rsqrt, T(1) / m_sqrt(x))
FIBRIL_EW_FLOAT_UNARY(Reciprocal, T(1) / x)
FIBRIL_EW_FLOAT_UNARY(Sin, m_sin(x))
FIBRIL_EW_FLOAT_UNARY(Cos, m_cos(x))
FIBRIL_EW_FLOAT_UNARY(Floor, m_floor(x))
FIBRIL_EW_FLOAT_UNARY(Ceil, m_ceil(x))
FIBRIL_EW_FLOAT_UNARY(Round, m_rint(x))  // half to even
FIBRIL_EW_FLOAT_UNARY(Trunc, m_trunc(x))
#undef FIBRIL_EW_FLOAT_UNARY
struct Sigmoid {  // no overflow: e^-|x|
  template <typename T> __device__ static T apply(T x) {
    const T e = m_exp(-m_fabs(x));
    return (x >= T(0) ? T(1) : e) / (T(1) + e);
  }
};

// ---- binary --------------------------------------------------------------------------
template <typename T>
using Unsigned = std::make_unsigned_t<T>;

struct Add {
  template <typename T> __device__ static T apply(T a, T b) {
    if constexpr (std::is_same_v<T, bool>) return a || b;
    else if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<Unsigned<T>>(a) + static_cast<Unsigned<T>>(b));
    else return a + b;
  }
};
struct Sub {
  template <typename T> __device__ static T apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<Unsigned<T>>(a) - static_cast<Unsigned<T>>(b));
    else return a - b;
  }
};
struct Mul {
  template <typename T> __device__ static T apply(T a, T b) {
    if constexpr (std::is_same_v<T, bool>) return a && b;
    else if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<Unsigned<T>>(a) * static_cast<Unsigned<T>>(b));
    else return a * b;
  }
};
struct Div {
  template <typename T> __device__ static T apply(T a, T b) { return a / b; }
};
struct FloorDivide {
  template <typename T> __device__ static T apply(T a, T b) {
    if constexpr (kFloat<T>) {  // PyTorch's div_floor_floating
      if (b == T(0)) return a / b;
      const T mod = m_fmod(a, b);
      T div = (a - mod) / b;
      if (mod != T(0) && (b < T(0)) != (mod < T(0))) div -= T(1);
      if (div == T(0)) return m_copysign(T(0), a / b);
      const T floored = m_floor(div);
      return div - floored > T(0.5) ? floored + T(1) : floored;
    } else {
      if constexpr (std::is_unsigned_v<T>) {
        return static_cast<T>(a / b);
      } else {
        if (b == T(-1)) return wrap_neg(a);  // INT_MIN / -1 would trap
        const T q = static_cast<T>(a / b), r = static_cast<T>(a % b);
        return (r != 0 && (r < 0) != (b < 0)) ? static_cast<T>(q - 1) : q;
      }
    }
  }
};
struct Remainder {
  template <typename T> __device__ static T apply(T a, T b) {
    if constexpr (kFloat<T>) {
      const T mod = m_fmod(a, b);
      return (mod != T(0) && (b < T(0)) != (mod < T(0))) ? mod + b : mod;
    } else {
      if constexpr (std::is_unsigned_v<T>) {
        return static_cast<T>(a % b);
      } else {
        if (b == T(-1)) return T(0);
        const T r = static_cast<T>(a % b);
        return (r != 0 && (r < 0) != (b < 0)) ? static_cast<T>(r + b) : r;
      }
    }
  }
};
struct Pow {
  template <typename T> __device__ static T apply(T a, T b) {
    if constexpr (kFloat<T>) {
      return m_pow(a, b);
    } else {
      if constexpr (kSignedInt<T>) {
        if (b < 0) return a == 1 ? T(1) : a == -1 ? ((-(b + 1)) % 2 == 0 ? T(-1) : T(1)) : T(0);
      }
      using U = Unsigned<T>;
      U base = static_cast<U>(a), result = 1;
      for (U e = static_cast<U>(b); e; e >>= 1) {
        if (e & 1) result = static_cast<U>(result * base);
        base = static_cast<U>(base * base);
      }
      return static_cast<T>(result);
    }
  }
};
struct Maximum {
  template <typename T> __device__ static T apply(T a, T b) { return (a < b || b != b) ? b : a; }
};
struct Minimum {
  template <typename T> __device__ static T apply(T a, T b) { return (b < a || b != b) ? b : a; }
};
struct Atan2 {
  template <typename T> __device__ static T apply(T a, T b) { return m_atan2(a, b); }
};
#define FIBRIL_EW_PREDICATE(Name, expr) \
  struct Name {                         \
    template <typename T> __device__ static bool apply(T a, T b) { return expr; } \
  };
FIBRIL_EW_PREDICATE(Eq, a == b)
FIBRIL_EW_PREDICATE(Ne, a != b)
FIBRIL_EW_PREDICATE(Lt, a < b)
FIBRIL_EW_PREDICATE(Le, a <= b)
FIBRIL_EW_PREDICATE(Gt, a > b)
FIBRIL_EW_PREDICATE(Ge, a >= b)
FIBRIL_EW_PREDICATE(LogicalAnd, a != T(0) && b != T(0))
FIBRIL_EW_PREDICATE(LogicalOr, a != T(0) || b != T(0))
FIBRIL_EW_PREDICATE(LogicalXor, (a != T(0)) != (b != T(0)))
#undef FIBRIL_EW_PREDICATE
#define FIBRIL_EW_BITWISE(Name, op)                                  \
  struct Name {                                                      \
    template <typename T> __device__ static T apply(T a, T b) {      \
      if constexpr (std::is_integral_v<T>) return static_cast<T>(a op b); \
      else return a;                                                 \
    }                                                                \
  };
FIBRIL_EW_BITWISE(BitwiseAnd, &)
FIBRIL_EW_BITWISE(BitwiseOr, |)
FIBRIL_EW_BITWISE(BitwiseXor, ^)
#undef FIBRIL_EW_BITWISE

template <typename Op>
constexpr bool integer_division() {
  if constexpr (std::is_same_v<Op, FloorDivide> || std::is_same_v<Op, Remainder>) return true;
  else return false;
}

// ---- the functors the loop runs --------------------------------------------------------
// Storage type T, result R; the op computes in compute_t<T> (float for the 16-bit floats).
template <typename R, typename V>
__device__ __forceinline__ R narrow_to(V v) {
  if constexpr (is_half_v<R>) return R(v);
  else return v;
}

template <typename Op, typename T, typename R>
struct UnaryF {
  static constexpr int nin = 1;
  static constexpr bool kCheckZero = false;
  __device__ __forceinline__ static R apply(T a, T, T) {
    using C = compute_t<T>;
    return narrow_to<R>(Op::apply(C(a)));
  }
};

template <typename Op, typename T, typename R>
struct BinaryF {
  static constexpr int nin = 2;
  static constexpr bool kCheckZero = integer_division<Op>() && std::is_integral_v<T>;
  __device__ __forceinline__ static R apply(T a, T b, T) {
    using C = compute_t<T>;
    return narrow_to<R>(Op::apply(C(a), C(b)));
  }
};

template <typename T>
struct WhereF {
  static constexpr int nin = 3;
  static constexpr bool kCheckZero = false;
  __device__ __forceinline__ static T apply(bool c, T a, T b) { return c ? a : b; }
};

template <typename T>
struct ClampF {  // PyTorch's clamp: a NaN bound gives NaN, hi wins when lo > hi
  static constexpr int nin = 3;
  static constexpr bool kCheckZero = false;
  __device__ __forceinline__ static T apply(T x_in, T lo_in, T hi_in) {
    using C = compute_t<T>;
    const C x = C(x_in), lo = C(lo_in), hi = C(hi_in);
    if constexpr (kFloat<C>) {
      if (lo != lo || hi != hi) return narrow_to<T>(std::numeric_limits<C>::quiet_NaN());
    }
    const C m = x < lo ? lo : x;
    return narrow_to<T>(hi < m ? hi : m);
  }
};

// An input of the args as a Src: host scalars (bit k of host_scalars) by value.
template <typename T>
Src<T> source(const cpu::ElementwiseArgs& args, int k, unsigned host_scalars) {
  if (host_scalars & (1u << k)) return Src<T>{nullptr, *reinterpret_cast<const T*>(args.in[k]), 2};
  return Src<T>{reinterpret_cast<const T*>(args.in[k]), T(), 0};
}

template <typename T>
Src<T> unused() {
  return Src<T>{nullptr, T(), 2};
}

// Runs F; for integer division reports a zero divisor (host-side for a host scalar).
template <typename F, typename R, typename A, typename B, typename C>
KernelStatus run(const char* name, int device, const cpu::ElementwiseArgs& args, Src<A> a, Src<B> b, Src<C> c) {
  const int64_t* strides[4] = {args.out_strides, args.in_strides[0], args.in_strides[1], args.in_strides[2]};
  R* out = reinterpret_cast<R*>(args.out);
  int64_t n = 1;
  for (int d = 0; d < args.ndim; ++d) n *= args.shape[d];
  if constexpr (F::kCheckZero) {
    if (n == 0) return KernelStatus::ok;
    if (b.mode == 2) {
      if (b.value == B(0)) return KernelStatus::zero_division;
    } else {
      Scratch flag(sizeof(int), device);
      fill(flag.as<int>(), DType::int32, 1, 0.0, device);
      run_elementwise<F, R>(name, device, args.ndim, args.shape, strides, out, a, b, c, flag.as<int>());
      int host = 0;
      ::fibril::cuda::FIBRIL_CUDA_NS::memcpy(&host, flag.as<int>(), sizeof(int), CopyKind::DeviceToHost, device);
      return host ? KernelStatus::zero_division : KernelStatus::ok;
    }
  }
  run_elementwise<F, R>(name, device, args.ndim, args.shape, strides, out, a, b, c, static_cast<int*>(nullptr));
  return KernelStatus::ok;
}

template <typename Op, typename T, typename R>
KernelStatus run_unary(const char* name, int device, const cpu::ElementwiseArgs& args, unsigned host) {
  return run<UnaryF<Op, T, R>, R>(name, device, args, source<T>(args, 0, host), unused<T>(), unused<T>());
}

// kBool: the op takes bool; kFloatOnly: floating dtypes only; kBoolResult: R = bool.
template <typename Op, bool kBool, bool kFloatOnly, bool kBoolResult = false>
KernelStatus unary_op(const char* name, int device, const cpu::ElementwiseArgs& args, unsigned host) {
  return visit_any_dtype(args.dtype, [&](auto t) -> KernelStatus {
    using T = decltype(t);
    if constexpr ((std::is_same_v<T, bool> && !kBool) || (kFloatOnly && !kFloat<compute_t<T>>)) {
      return KernelStatus::unsupported;
    } else {
      return run_unary<Op, T, std::conditional_t<kBoolResult, bool, T>>(name, device, args, host);
    }
  });
}

template <typename Op, bool kBool, bool kFloatOnly, bool kBoolResult = false>
KernelStatus binary_op(const char* name, int device, const cpu::ElementwiseArgs& args, unsigned host) {
  return visit_any_dtype(args.dtype, [&](auto t) -> KernelStatus {
    using T = decltype(t);
    if constexpr ((std::is_same_v<T, bool> && !kBool) || (kFloatOnly && !kFloat<compute_t<T>>)) {
      return KernelStatus::unsupported;
    } else {
      using R = std::conditional_t<kBoolResult, bool, T>;
      return run<BinaryF<Op, T, R>, R>(name, device, args, source<T>(args, 0, host), source<T>(args, 1, host),
                                       unused<T>());
    }
  });
}

}  // namespace

KernelStatus elementwise_unary(int device, UnaryOp op, const cpu::ElementwiseArgs& args, unsigned host) {
  switch (op) {
    case UnaryOp::neg: return unary_op<Neg, false, false>("neg", device, args, host);
    case UnaryOp::abs: return unary_op<Abs, false, false>("abs", device, args, host);
    case UnaryOp::sign: return unary_op<Sign, true, false>("sign", device, args, host);
    case UnaryOp::logical_not: return unary_op<LogicalNot, true, false, true>("logical_not", device, args, host);
    case UnaryOp::exp: return unary_op<Exp, false, true>("exp", device, args, host);
    case UnaryOp::exp2: return unary_op<Exp2, false, true>("exp2", device, args, host);
    case UnaryOp::expm1: return unary_op<Expm1, false, true>("expm1", device, args, host);
    case UnaryOp::log: return unary_op<Log, false, true>("log", device, args, host);
    case UnaryOp::log2: return unary_op<Log2, false, true>("log2", device, args, host);
    case UnaryOp::log1p: return unary_op<Log1p, false, true>("log1p", device, args, host);
    case UnaryOp::tanh: return unary_op<Tanh, false, true>("tanh", device, args, host);
    case UnaryOp::sigmoid: return unary_op<Sigmoid, false, true>("sigmoid", device, args, host);
    case UnaryOp::erf: return unary_op<Erf, false, true>("erf", device, args, host);
    case UnaryOp::sqrt: return unary_op<Sqrt, false, true>("sqrt", device, args, host);
    case UnaryOp::rsqrt: return unary_op<Rsqrt, false, true>("rsqrt", device, args, host);
    case UnaryOp::reciprocal: return unary_op<Reciprocal, false, true>("reciprocal", device, args, host);
    case UnaryOp::sin: return unary_op<Sin, false, true>("sin", device, args, host);
    case UnaryOp::cos: return unary_op<Cos, false, true>("cos", device, args, host);
    case UnaryOp::floor: return unary_op<Floor, false, true>("floor", device, args, host);
    case UnaryOp::ceil: return unary_op<Ceil, false, true>("ceil", device, args, host);
    case UnaryOp::round: return unary_op<Round, false, true>("round", device, args, host);
    case UnaryOp::trunc: return unary_op<Trunc, false, true>("trunc", device, args, host);
    case UnaryOp::bitwise_not: return unary_op<BitwiseNot, true, false>("bitwise_not", device, args, host);
  }
  return KernelStatus::unsupported;
}

KernelStatus elementwise_binary(int device, BinaryOp op, const cpu::ElementwiseArgs& args, unsigned host) {
  switch (op) {
    case BinaryOp::add: return binary_op<Add, true, false>("add", device, args, host);
    case BinaryOp::sub: return binary_op<Sub, false, false>("sub", device, args, host);
    case BinaryOp::mul: return binary_op<Mul, true, false>("mul", device, args, host);
    case BinaryOp::div: return binary_op<Div, false, true>("div", device, args, host);
    case BinaryOp::floor_divide: return binary_op<FloorDivide, false, false>("floor_divide", device, args, host);
    case BinaryOp::remainder: return binary_op<Remainder, false, false>("remainder", device, args, host);
    case BinaryOp::pow: return binary_op<Pow, false, false>("pow", device, args, host);
    case BinaryOp::maximum: return binary_op<Maximum, true, false>("maximum", device, args, host);
    case BinaryOp::minimum: return binary_op<Minimum, true, false>("minimum", device, args, host);
    case BinaryOp::atan2: return binary_op<Atan2, false, true>("atan2", device, args, host);
    case BinaryOp::bitwise_and: return binary_op<BitwiseAnd, true, false>("bitwise_and", device, args, host);
    case BinaryOp::bitwise_or: return binary_op<BitwiseOr, true, false>("bitwise_or", device, args, host);
    case BinaryOp::bitwise_xor: return binary_op<BitwiseXor, true, false>("bitwise_xor", device, args, host);
    case BinaryOp::eq: return binary_op<Eq, true, false, true>("eq", device, args, host);
    case BinaryOp::ne: return binary_op<Ne, true, false, true>("ne", device, args, host);
    case BinaryOp::lt: return binary_op<Lt, true, false, true>("lt", device, args, host);
    case BinaryOp::le: return binary_op<Le, true, false, true>("le", device, args, host);
    case BinaryOp::gt: return binary_op<Gt, true, false, true>("gt", device, args, host);
    case BinaryOp::ge: return binary_op<Ge, true, false, true>("ge", device, args, host);
    case BinaryOp::logical_and: return binary_op<LogicalAnd, true, false, true>("logical_and", device, args, host);
    case BinaryOp::logical_or: return binary_op<LogicalOr, true, false, true>("logical_or", device, args, host);
    case BinaryOp::logical_xor: return binary_op<LogicalXor, true, false, true>("logical_xor", device, args, host);
  }
  return KernelStatus::unsupported;
}

KernelStatus elementwise_where(int device, const cpu::ElementwiseArgs& args, unsigned host) {
  return visit_any_dtype(args.dtype, [&](auto t) -> KernelStatus {
    using T = decltype(t);
    return run<WhereF<T>, T>("where", device, args, source<bool>(args, 0, host), source<T>(args, 1, host),
                             source<T>(args, 2, host));
  });
}

KernelStatus elementwise_clamp(int device, const cpu::ElementwiseArgs& args, unsigned host) {
  return visit_any_dtype(args.dtype, [&](auto t) -> KernelStatus {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool>) {
      return KernelStatus::unsupported;
    } else {
      return run<ClampF<T>, T>("clamp", device, args, source<T>(args, 0, host), source<T>(args, 1, host),
                               source<T>(args, 2, host));
    }
  });
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
