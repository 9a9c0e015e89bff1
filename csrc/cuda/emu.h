// The CUDA dialect for the C++ compiler: with this header a family's .cu file compiles with
// g++ and its kernels run on the host, so CI (no GPU) runs every kernel against the CPU ones.
//
// A launch runs the grid's blocks one after another; a block's threads are fibers on the
// calling thread (emu.cpp), switched only at barriers: __syncthreads() waits for every live
// (not yet exited) thread of the block, __syncwarp() and the shuffles for every live lane of
// the warp (32 consecutive linear thread ids). Barriers that can never be met (a lane waiting
// for the block while its warp waits for it) raise RuntimeError naming the kernel instead of
// hanging. Since only one fiber runs at a
// time, __shared__ is `static` and atomics are plain read-modify-writes.
//
// Not emulated: inline PTX (mma.sync, cp.async, ldmatrix). Code that uses it keeps a plain
// C++ path under `#ifndef __CUDA_ARCH__`, which is what runs here.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __constant__ static
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

namespace fibril::cuda::emu {

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
  unsigned x, y, z;
};

// The running fiber's coordinates; set by the scheduler at every switch.
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
constexpr int warpSize = 32;

// Runs body for every thread of every block of the grid; smem_bytes of dynamic shared memory.
void run_grid(const char* kernel, dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body);
void* dynamic_shared_memory();
void syncthreads();
void syncwarp();
unsigned lane();
uint64_t exchange(uint64_t value, unsigned src_lane);  // the value src_lane offered at the same call

}  // namespace fibril::cuda::emu

namespace fibril::cuda::emu {

inline void __syncthreads() { syncthreads(); }
inline void __syncwarp(unsigned = 0xffffffffu) { syncwarp(); }
inline unsigned __activemask() { return 0xffffffffu; }

template <typename T>
T shuffle_from(T value, unsigned src_lane) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffles move at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = exchange(bits, src_lane);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}
template <typename T>
T __shfl_sync(unsigned, T v, int src, int width = 32) {
  const unsigned base = lane() & ~unsigned(width - 1);
  return shuffle_from(v, base + (unsigned(src) & unsigned(width - 1)));
}
template <typename T>
T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
  const unsigned l = lane(), src = l ^ unsigned(mask);
  return shuffle_from(v, (src & ~unsigned(width - 1)) == (l & ~unsigned(width - 1)) ? src : l);
}
template <typename T>
T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  const unsigned l = lane(), w = unsigned(width);
  return shuffle_from(v, (l % w) + delta < w ? l + delta : l);
}
template <typename T>
T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
  const unsigned l = lane(), w = unsigned(width);
  return shuffle_from(v, (l % w) >= delta ? l - delta : l);
}
inline unsigned __ballot_sync(unsigned, int predicate) {
  unsigned bits = 0;
  const uint64_t mine = predicate ? 1 : 0;
  const unsigned base = lane() & ~31u;
  for (unsigned i = 0; i < 32; ++i) bits |= unsigned(exchange(mine, base + i)) << i;
  return bits;
}
inline int __any_sync(unsigned mask, int p) { return __ballot_sync(mask, p) != 0; }
inline int __all_sync(unsigned mask, int p) { return __ballot_sync(mask, !p) == 0; }

// Atomics: one fiber runs at a time, so a plain update is atomic.
template <typename T>
T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
template <typename T>
T atomicMax(T* p, T v) { T old = *p; *p = old < v ? v : old; return old; }
template <typename T>
T atomicMin(T* p, T v) { T old = *p; *p = v < old ? v : old; return old; }
template <typename T>
T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
template <typename T>
T atomicCAS(T* p, T compare, T v) { T old = *p; if (old == compare) *p = v; return old; }

// Cache-hinted loads and stores.
template <typename T> T __ldg(const T* p) { return *p; }
template <typename T> T __ldcs(const T* p) { return *p; }
template <typename T> T __ldcg(const T* p) { return *p; }
template <typename T> void __stcs(T* p, T v) { *p = v; }
template <typename T> void __stcg(T* p, T v) { *p = v; }

// Vector types with CUDA's alignment.
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline double2 make_double2(double x, double y) { return {x, y}; }

// Math intrinsics (the fast variants are exact here, which the tolerances cover).
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __exp2f(float x) { return std::exp2(x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanhf(float x) { return std::tanh(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline unsigned __float_as_uint(float x) { unsigned i; std::memcpy(&i, &x, 4); return i; }
inline float __int_as_float(int i) { float x; std::memcpy(&x, &i, 4); return x; }
inline float __uint_as_float(unsigned i) { float x; std::memcpy(&x, &i, 4); return x; }
inline long long __double_as_longlong(double x) { long long i; std::memcpy(&i, &x, 8); return i; }
inline double __longlong_as_double(long long i) { double x; std::memcpy(&x, &i, 8); return x; }
inline int __float2int_rn(float x) { return int(std::nearbyint(x)); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(unsigned(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned __umulhi(unsigned a, unsigned b) { return unsigned((uint64_t(a) * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return static_cast<unsigned long long>((static_cast<unsigned __int128>(a) * b) >> 64);
}
template <typename T> T max(T a, T b) { return a < b ? b : a; }
template <typename T> T min(T a, T b) { return b < a ? b : a; }
// The float functions (expf, fmaxf, ...) resolve to the C library's; these overload by type.
using std::abs; using std::floor; using std::ceil; using std::round;
using std::exp; using std::log; using std::sqrt; using std::fabs; using std::fma; using std::fmax; using std::fmin;
using std::tanh; using std::erf; using std::erfc; using std::log1p; using std::expm1; using std::pow;
using std::isnan; using std::isinf; using std::isfinite; using std::signbit;

}  // namespace fibril::cuda::emu
