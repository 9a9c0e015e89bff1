// CUDA random fills: the same values as the CPU (cpu/random.cpp) for the same seed and
// offset, bit for bit. Element i reads lane i % 4 of Philox block `offset + i / 4` of
// stream 0 (and stream 1 when it needs 64 bits), so one thread computes one block (core/
// philox.h, the same function as the CPU's) and writes its four elements; a grid-stride loop
// covers the rest. The distributions repeat the CPU's arithmetic operation by operation with
// round-to-nearest intrinsics (__fmul_rn, __fadd_rn, ...), which nvcc never contracts into
// FMAs, and the CPU's float32 log and sincos polynomials; sqrt is correctly rounded on both.
// The one exception: float64 normal uses CUDA's log/sin/cos, within 1-2 ulp of libm's
// (so equal to rounding, not necessarily bit for bit).
//
// H100: passes `pytest -m cuda` on the device; not timed yet (rand / randn / dropout of 2^24 float32; compare
// torch.rand, torch.randn, torch.nn.functional.dropout on cuda; GB/s written).
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "core/philox.h"
#include "cuda/launch.cuh"
#include "cuda/random.h"

namespace fibril::cuda::FIBRIL_CUDA_NS {
namespace {

using ::fibril::cpu::RandomArgs;
using ::fibril::cpu::RandomKind;

constexpr unsigned kThreads = 256;
constexpr double kTwo32 = 4294967296.0;

// Uncontracted arithmetic (the emulator's g++ build does not contract either).
#ifdef FIBRIL_CUDA_EMULATION
inline float fmul(float a, float b) { return a * b; }
inline float fadd(float a, float b) { return a + b; }
inline float fsub(float a, float b) { return a - b; }
inline double dmul(double a, double b) { return a * b; }
inline double dadd(double a, double b) { return a + b; }
inline float fsqrt(float a) { return std::sqrt(a); }
#else
__device__ __forceinline__ float fmul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float fadd(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float fsub(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ double dmul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double dadd(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float fsqrt(float a) { return __fsqrt_rn(a); }
#endif

struct Words {
  uint32_t w0[4], w1[4];
};

__device__ __forceinline__ Words block_words(uint64_t seed, uint64_t block, bool wide) {
  Words w{};
  const Philox4x32 a = philox_block(seed, 0, block);
  for (int k = 0; k < 4; ++k) w.w0[k] = a.v[k];
  if (wide) {
    const Philox4x32 b = philox_block(seed, 1, block);
    for (int k = 0; k < 4; ++k) w.w1[k] = b.v[k];
  }
  return w;
}

__device__ __forceinline__ uint64_t bits64(const Words& w, int k) { return uint64_t{w.w1[k]} << 32 | w.w0[k]; }

template <typename T>
__device__ __forceinline__ T unit(const Words& w, int k) {
  if constexpr (std::is_same_v<T, float>) return static_cast<float>(w.w0[k] >> 8) * (1.0f / 16777216.0f);
  else return static_cast<double>(bits64(w, k) >> 11) * (1.0 / 9007199254740992.0);
}

// ln(j 2^-24) for an integer j in [1, 2^24]: the CPU's log_unit, operation by operation.
__device__ __forceinline__ float log_unit(uint32_t j) {
  const float x = static_cast<float>(j);
  const int32_t bits = __float_as_int(x);
  const int32_t mant = (bits & 0x007FFFFF) | 0x3F000000;
  float m = __int_as_float(mant);
  const int32_t low = mant < 0x3F3504F3;
  const float e = static_cast<float>((bits >> 23) - 126 - 24 - low);
  m = fsub(fmul(m, static_cast<float>(1 + low)), 1.0f);
  const float z = fmul(m, m);
  float y = 7.0376836292e-2f;
  y = fsub(fmul(y, m), 1.1514610310e-1f);
  y = fadd(fmul(y, m), 1.1676998740e-1f);
  y = fsub(fmul(y, m), 1.2420140846e-1f);
  y = fadd(fmul(y, m), 1.4249322787e-1f);
  y = fsub(fmul(y, m), 1.6668057665e-1f);
  y = fadd(fmul(y, m), 2.0000714765e-1f);
  y = fsub(fmul(y, m), 2.4999993993e-1f);
  y = fadd(fmul(y, m), 3.3333331174e-1f);
  y = fsub(fsub(fmul(fmul(y, m), z), fmul(2.12194440e-4f, e)), fmul(0.5f, z));
  return fadd(fadd(m, y), fmul(0.693359375f, e));
}

// sin and cos of 2 pi i / 2^24: the CPU's sincos_turns.
__device__ __forceinline__ void sincos_turns(uint32_t i, float& s, float& c) {
  const uint32_t q = (i + (1u << 21)) >> 22;
  const float x = fmul(static_cast<float>(static_cast<int32_t>(i - (q << 22))), 1.57079632679f / 4194304.0f);
  const float z = fmul(x, x);
  const float sn =
      fadd(fmul(fmul(fsub(fmul(fadd(fmul(-1.9515295891e-4f, z), 8.3321608736e-3f), z), 1.6666654611e-1f), z), x), x);
  const float cs = fadd(
      fsub(fmul(fmul(fadd(fmul(fsub(fmul(2.443315711809948e-5f, z), 1.388731625493765e-3f), z), 4.166664568298827e-2f),
                     z),
                z),
           fmul(0.5f, z)),
      1.0f);
  const float swap = static_cast<float>(q & 1), keep = fsub(1.0f, swap);
  const float sign_s = static_cast<float>(1 - static_cast<int32_t>(q & 2));
  const float sign_c = static_cast<float>(1 - static_cast<int32_t>((q + 1) & 2));
  s = fmul(sign_s, fadd(fmul(keep, sn), fmul(swap, cs)));
  c = fmul(sign_c, fadd(fmul(keep, cs), fmul(swap, sn)));
}

struct Fill {
  RandomKind kind;
  char* out;
  int64_t n;
  uint64_t seed, offset;
  double a, b;  // uniform: low, width; normal: mean, std
  double below_high;
  double threshold;  // bernoulli, dropout: keep when the word is below it
  double scale;      // dropout
  uint64_t low, range;
  const double* p;
  const char* x;
  char* mask;
};

// k = 0..3 while k < count, unrolled: the word arrays stay in registers (a loop bounded by
// count alone indexes them dynamically, from a stack frame).
#define FOR_LANES(k) _Pragma("unroll") for (int k = 0; k < 4; ++k) if (k < count)

template <typename T>
__device__ __forceinline__ void write_block(const Fill& f, int64_t e0, int count, const Words& w) {
  T* out = reinterpret_cast<T*>(f.out);
  switch (f.kind) {
    case RandomKind::uniform:
      if constexpr (std::is_floating_point_v<T>) {
        const T low = static_cast<T>(f.a), width = static_cast<T>(f.b), below = static_cast<T>(f.below_high);
        FOR_LANES(k) {
          T v;
          if constexpr (std::is_same_v<T, float>) v = fadd(low, fmul(unit<T>(w, k), width));
          else v = dadd(low, dmul(unit<T>(w, k), width));
          out[e0 + k] = below < v ? below : v;
        }
      }
      break;
    case RandomKind::normal:
      if constexpr (std::is_same_v<T, float>) {
        const float mean = static_cast<float>(f.a), stddev = static_cast<float>(f.b);
        float z[4];
        for (int k = 0; k < 4; k += 2) {
          const float r = fsqrt(fmul(-2.0f, log_unit((1u << 24) - (w.w0[k] >> 8))));
          float s, c;
          sincos_turns(w.w0[k + 1] >> 8, s, c);
          z[k] = fmul(r, c);
          z[k + 1] = fmul(r, s);
        }
        FOR_LANES(k) out[e0 + k] = fadd(mean, fmul(stddev, z[k]));
      } else if constexpr (std::is_same_v<T, double>) {
        const double two_pi = 6.283185307179586;
#pragma unroll
        for (int k = 0; k < 4; k += 2) {
          if (k >= count) break;
          const double u1 = 1 - unit<double>(w, k), u2 = unit<double>(w, k + 1);
          const double r = dmul(sqrt(dmul(-2, log(u1))), f.b), theta = dmul(two_pi, u2);
          out[e0 + k] = dadd(f.a, dmul(r, cos(theta)));
          if (k + 1 < count) out[e0 + k + 1] = dadd(f.a, dmul(r, sin(theta)));
        }
      }
      break;
    case RandomKind::bernoulli:
      FOR_LANES(k) {
        const double threshold = f.p ? f.p[e0 + k] * kTwo32 : f.threshold;
        out[e0 + k] = static_cast<T>(static_cast<double>(w.w0[k]) < threshold);
      }
      break;
    case RandomKind::randint:
      if constexpr (std::is_same_v<T, int64_t>) {
        FOR_LANES(k) {
          const uint64_t bits = bits64(w, k);
          const uint64_t v = f.range ? static_cast<uint64_t>(__umul64hi(bits, f.range)) : bits;
          out[e0 + k] = static_cast<int64_t>(f.low + v);
        }
      }
      break;
    case RandomKind::dropout:
      if constexpr (std::is_floating_point_v<T>) {
        const T* x = reinterpret_cast<const T*>(f.x);
        T* mask = reinterpret_cast<T*>(f.mask);
        const T scale = static_cast<T>(f.scale);
        FOR_LANES(k) {
          const T m = static_cast<double>(w.w0[k]) < f.threshold ? scale : T(0);
          mask[e0 + k] = m;
          out[e0 + k] = x[e0 + k] * m;
        }
      }
      break;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) random_kernel(Fill f, bool wide) {
  const int64_t blocks = (f.n + 3) / 4;
  for (int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; b < blocks; b += int64_t(gridDim.x) * blockDim.x) {
    const Words w = block_words(f.seed, f.offset + static_cast<uint64_t>(b), wide);
    const int64_t e0 = 4 * b;
    const int count = f.n - e0 < 4 ? static_cast<int>(f.n - e0) : 4;
    write_block<T>(f, e0, count, w);
  }
}

}  // namespace

void random(int device, const RandomArgs& a) {
  if (a.n == 0) return;
  Fill f{};
  f.kind = a.kind;
  f.out = a.out;
  f.n = a.n;
  f.seed = a.seed;
  f.offset = a.offset;
  f.p = a.p;
  f.x = a.x;
  f.mask = a.mask;
  bool wide = false;
  switch (a.kind) {
    case RandomKind::uniform:
      f.a = a.a;
      f.b = a.b - a.a;
      wide = a.dtype == DType::float64;
      break;
    case RandomKind::normal:
      f.a = a.a;
      f.b = a.b;
      wide = a.dtype == DType::float64;
      break;
    case RandomKind::bernoulli:
      f.threshold = a.a * kTwo32;
      break;
    case RandomKind::randint:
      f.low = static_cast<uint64_t>(a.low);
      f.range = a.range;
      wide = true;
      break;
    case RandomKind::dropout: {
      const double keep = 1.0 - a.a;
      f.threshold = keep * kTwo32;
      f.scale = keep > 0 ? 1.0 / keep : 0.0;
      break;
    }
  }
  visit_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_floating_point_v<T>) {
      // The CPU's cap below `high`, computed in the dtype (the width too, as there).
      const T low = static_cast<T>(a.a);
      f.below_high = static_cast<double>(std::nextafter(static_cast<T>(a.b), low));
      f.b = a.kind == RandomKind::uniform ? static_cast<double>(static_cast<T>(a.b - a.a)) : f.b;
    }
    launch("random", random_kernel<T>, grid_1d((a.n + 3) / 4, kThreads), dim3(kThreads), 0, device, f, wide);
  });
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
