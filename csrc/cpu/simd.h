// Portable SIMD vectors for the kernels that are written once for every ISA build: GCC vector
// types of the build's register width (AVX-512: 64 bytes, AVX2: 32, else 16), with unaligned loads and
// stores. Only included from per-ISA translation units.
#pragma once

#include <cstring>

#include "cpu/kernels.h"

namespace fibril::cpu::FIBRIL_ISA {

#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX2__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;
#endif

template <typename T>
struct VecOf {
  typedef T type __attribute__((vector_size(kVecBytes)));
};
template <typename T>
using Vec = typename VecOf<T>::type;

template <typename T>
constexpr int kLanesOf = kVecBytes / sizeof(T);

template <typename T>
inline Vec<T> loadu(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
inline void storeu(T* p, Vec<T> v) {
  std::memcpy(p, &v, sizeof v);
}

}  // namespace fibril::cpu::FIBRIL_ISA
