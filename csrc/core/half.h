// The two 16-bit float storage types: Half (IEEE binary16, 5-bit exponent) and BFloat16 (the
// top half of a float32, 8-bit exponent). They are storage only: kernels widen to float,
// compute there and round back to nearest even, as PyTorch does for its reduced-precision
// tensors. Conversions compile for the host, the CUDA emulator and the device (where they are
// one cvt instruction; bf16 rounding needs sm_80, below that it is the same integer rounding
// as the host's).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__CUDACC__)
#define FIBRIL_HOST_DEVICE __host__ __device__
#else
#define FIBRIL_HOST_DEVICE
#endif

namespace fibril {

namespace half_bits {

FIBRIL_HOST_DEVICE inline uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

FIBRIL_HOST_DEVICE inline float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// float -> binary16, round to nearest even; NaN stays a (quiet) NaN, overflow gives inf.
FIBRIL_HOST_DEVICE inline uint16_t from_float(float f) {
#if defined(__CUDA_ARCH__)
  unsigned short h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
#else
  uint32_t u = float_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  u &= 0x7fffffffu;
  if (u >= 0x47800000u) return uint16_t(sign | (u > 0x7f800000u ? 0x7e00u : 0x7c00u));  // >= 65536, inf, NaN
  if (u < 0x38800000u) {  // below 2^-14: a subnormal half. Adding 0.5 makes the FPU round at 2^-24.
    const float rounded = bits_float(u) + 0.5f;
    return uint16_t(sign | (float_bits(rounded) - 0x3f000000u));
  }
  const uint32_t odd = (u >> 13) & 1u;
  u += 0xc8000fffu + odd;  // rebias the exponent (127 -> 15) and round the 13 dropped bits to even
  return uint16_t(sign | (u >> 13));
#endif
}

FIBRIL_HOST_DEVICE inline float to_float(uint16_t h) {
#if defined(__CUDA_ARCH__)
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
#else
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
    const float magnitude = float(mantissa) * 5.9604644775390625e-8f;
    return bits_float(float_bits(magnitude) | sign);
  }
  if (exponent == 31) return bits_float(sign | 0x7f800000u | (mantissa << 13));
  return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
#endif
}

// float -> bfloat16, round to nearest even; NaN stays a quiet NaN.
FIBRIL_HOST_DEVICE inline uint16_t bf16_from_float(float f) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  unsigned short h;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
#else
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x0040u);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
#endif
}

FIBRIL_HOST_DEVICE inline float bf16_to_float(uint16_t h) { return bits_float(uint32_t(h) << 16); }

}  // namespace half_bits

struct alignas(2) Half {
  uint16_t bits;
  Half() = default;
  template <typename V, typename = std::enable_if_t<std::is_arithmetic_v<V>>>
  FIBRIL_HOST_DEVICE explicit Half(V v) : bits(half_bits::from_float(static_cast<float>(v))) {}
  FIBRIL_HOST_DEVICE operator float() const { return half_bits::to_float(bits); }
  FIBRIL_HOST_DEVICE static Half from_bits(uint16_t b) {
    Half h;
    h.bits = b;
    return h;
  }
};

struct alignas(2) BFloat16 {
  uint16_t bits;
  BFloat16() = default;
  template <typename V, typename = std::enable_if_t<std::is_arithmetic_v<V>>>
  FIBRIL_HOST_DEVICE explicit BFloat16(V v) : bits(half_bits::bf16_from_float(static_cast<float>(v))) {}
  FIBRIL_HOST_DEVICE operator float() const { return half_bits::bf16_to_float(bits); }
  FIBRIL_HOST_DEVICE static BFloat16 from_bits(uint16_t b) {
    BFloat16 h;
    h.bits = b;
    return h;
  }
};

template <typename T>
constexpr bool is_half_v = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

// The type a kernel computes in for storage type T: float for the 16-bit floats, T otherwise.
template <typename T>
using compute_t = std::conditional_t<is_half_v<T>, float, T>;

}  // namespace fibril
