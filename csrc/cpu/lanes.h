// Lane-generic loops for the row kernels (softmax, norm, activation): one body, written as a
// template over the lane type V, runs on __m256 (8 floats, AVX2 build) or __m512 (16 floats,
// the AVX-512 build's kernels: rnn) along a row and on the scalar T for the tail; float64 runs
// on double lanes with libm. The lane types give the same bits. Only included from per-ISA
// translation units.
//
// Adds to vm:: what vec_math.h has for float only: double lanes (the lane primitives and libm
// math as plain overloads, preferred to the float templates), cst<V>(c) constants that stay
// exact for double, loads, stores and horizontal maxima.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "cpu/streaming.h"
#include "cpu/vec_math.h"

namespace fibril::cpu::FIBRIL_ISA::vm {

template <typename T>
struct Pack {
  using V = T;
  static constexpr int width = 1;
};
#if defined(__AVX512F__)
template <>
struct Pack<float> {
  using V = __m512;
  static constexpr int width = 16;
};
#elif defined(__AVX2__)
template <>
struct Pack<float> {
  using V = __m256;
  static constexpr int width = 8;
};
#endif

template <typename V>
inline V cst(double c) {
  if constexpr (std::is_same_v<V, double>) return c;
  else return splat<V>(static_cast<float>(c));
}

// ---- double lanes ---------------------------------------------------------------------
inline double fmadd(double a, double b, double c) { return a * b + c; }
inline bool lt(double a, double b) { return a < b; }
inline bool gt(double a, double b) { return a > b; }
inline bool ge(double a, double b) { return a >= b; }
inline bool eq(double a, double b) { return a == b; }
inline bool isnan_(double a) { return a != a; }
inline double select(bool m, double a, double b) { return m ? a : b; }
inline double vmin(double a, double b) { return a < b ? a : b; }
inline double vmax(double a, double b) { return a > b ? a : b; }
inline double vabs(double a) { return std::fabs(a); }
inline double exp(double x) { return std::exp(x); }
inline double expm1(double x) { return std::expm1(x); }
inline double log(double x) { return std::log(x); }
inline double log1p(double x) { return std::log1p(x); }
inline double tanh(double x) { return std::tanh(x); }
inline double erf(double x) { return std::erf(x); }
inline double sigmoid(double x) {
  const double e = std::exp(-std::fabs(x));
  return (x >= 0 ? 1.0 : e) / (1.0 + e);
}

// ---- memory and horizontal reductions -------------------------------------------------
template <typename V, typename T>
inline V load(const T* p) {
  if constexpr (std::is_same_v<V, T>) return *p;
#ifdef __AVX512F__
  else if constexpr (std::is_same_v<V, __m512>) return _mm512_loadu_ps(p);
#endif
#ifdef __AVX2__
  else return _mm256_loadu_ps(p);
#endif
}
template <typename T>
inline void store(T* p, T v) { *p = v; }
inline float hmax(float v) { return v; }
inline double hmax(double v) { return v; }
#ifdef __AVX512F__
inline void store(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
#endif
#ifdef __AVX2__
inline void store(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}
#endif

// ---- loops ----------------------------------------------------------------------------

using cpu::kStreamBytes;

// f(V{}, i) for i = 0, w, 2w, ... while a full pack fits, then f(T{}, i) for the tail.
template <typename T, typename F>
inline void each(int64_t n, F&& f) {
  using V = typename Pack<T>::V;
  int64_t i = 0;
  if constexpr (Pack<T>::width > 1) {
    for (; i + Pack<T>::width <= n; i += Pack<T>::width) f(V{}, i);
  }
  for (; i < n; ++i) f(T{}, i);
}

// o[i] = f(V{}, i) for i < n, as each() does; with `stream` (float lanes of 8 only) the full
// packs from o's first 32-byte boundary on are streaming stores. The lane types give the same
// bits, so the result does not depend on o's alignment. Callers end with stream_fence().
template <typename T, typename F>
inline void put(T* o, int64_t n, bool stream, F&& f) {
#ifdef __AVX2__
  if constexpr (Pack<T>::width == 8) {
    if (stream) {
      const int64_t head = std::min<int64_t>(n, (32 - reinterpret_cast<uintptr_t>(o) % 32) % 32 / sizeof(T));
      int64_t i = 0;
      for (; i < head; ++i) store(o + i, f(T{}, i));
      for (; i + 8 <= n; i += 8) _mm256_stream_ps(o + i, f(__m256{}, i));
      for (; i < n; ++i) store(o + i, f(T{}, i));
      return;
    }
  }
#endif
  each<T>(n, [&](auto v, int64_t i) { store(o + i, f(v, i)); });
}

// Fetches the input a page (4 KiB) ahead of p. Hardware prefetchers stop at page boundaries:
// a loop that spends many cycles per element (gelu, silu) waits for memory at every new page,
// which a DRAM-sized input makes the bottleneck (gelu on 16M floats, Xeon VM: 1.24 -> 0.38
// ns per element). Called once per pack; a line is fetched 16 times, which costs little.
template <typename T>
inline void prefetch_next_page(const T* p) {
  __builtin_prefetch(p + 4096 / sizeof(T));
}

// Orders a thread's streaming stores before whatever it does next (the pool's hand-back).
inline void stream_fence() {
#ifdef __AVX2__
  _mm_sfence();
#endif
}

// The sum of f(V{}, i) over the row in a fixed order that depends on n only: with 8-float packs,
// four running packs over each 32 elements (so the adds do not wait on each other), the packs
// left added to the first, the four added pairwise; else 8 running scalars. Then the tail,
// then the 8 lanes added as a tree. The partial sums keep the float32 error near (n/32) ulps
// where one running sum would give n.
template <typename T, typename F>
inline T sum(int64_t n, F&& f) {
  using V = typename Pack<T>::V;
  static_assert(Pack<T>::width != 16, "sum's order is written for 8-float lanes");
  T part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  if constexpr (Pack<T>::width == 8) {
    V acc[4] = {cst<V>(0.0), cst<V>(0.0), cst<V>(0.0), cst<V>(0.0)};
    for (; i + 32 <= n; i += 32)
      for (int k = 0; k < 4; ++k) acc[k] = acc[k] + f(V{}, i + 8 * k);
    for (; i + 8 <= n; i += 8) acc[0] = acc[0] + f(V{}, i);
    store(part, (acc[0] + acc[1]) + (acc[2] + acc[3]));
  } else {
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; ++k) part[k] += f(T{}, i + k);
  }
  for (int k = 0; i < n; ++i, ++k) part[k] += f(T{}, i);
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

// max over the row of x; NaN may be dropped (callers propagate it through exp(x - max)).
template <typename T>
inline T max(const T* x, int64_t n) {
  using V = typename Pack<T>::V;
  static_assert(Pack<T>::width != 16, "hmax is written for 8-float lanes");
  V acc = cst<V>(-INFINITY);
  T tail = -INFINITY;
  int64_t i = 0;
  if constexpr (Pack<T>::width > 1) {
    for (; i + Pack<T>::width <= n; i += Pack<T>::width) acc = vmax(acc, load<V>(x + i));
  }
  for (; i < n; ++i) tail = vmax(tail, x[i]);
  return vmax(hmax(acc), tail);
}

}  // namespace fibril::cpu::FIBRIL_ISA::vm
