// Peak-throughput probe: ten independent multiply-add chains per thread, enough to cover
// the FMA latency x throughput product of current x86 cores. It issues the build's widest
// FMAs (AVX-512: 16 floats, AVX2: 8); the generic build lets the compiler use what baseline
// SSE2 offers (mul + add).
#include <chrono>

#include "cpu/kernels.h"

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace fibril::cpu::FIBRIL_ISA {

double fma_gflops(int64_t iterations) {
  constexpr int kChains = 10;
  auto start = std::chrono::steady_clock::now();
#if defined(__AVX512F__)
  __m512 acc[kChains];
  const __m512 b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], b, c);
  float sink = 0;
  for (int i = 0; i < kChains; ++i) sink += _mm512_cvtss_f32(acc[i]);
  constexpr double kFlopsPerIteration = kChains * 16 * 2;
#elif defined(__AVX2__)
  __m256 acc[kChains];
  const __m256 b = _mm256_set1_ps(1.0000001f), c = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], b, c);
  float sink = 0;
  for (int i = 0; i < kChains; ++i) sink += _mm256_cvtss_f32(acc[i]);
  constexpr double kFlopsPerIteration = kChains * 8 * 2;
#else
  constexpr int kLanes = 4;
  float acc[kChains][kLanes];
  for (int i = 0; i < kChains; ++i)
    for (int l = 0; l < kLanes; ++l) acc[i][l] = static_cast<float>(i + l);
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains; ++i)
      for (int l = 0; l < kLanes; ++l) acc[i][l] = acc[i][l] * 1.0000001f + 1e-7f;
  float sink = 0;
  for (int i = 0; i < kChains; ++i) sink += acc[i][0];
  constexpr double kFlopsPerIteration = kChains * kLanes * 2;
#endif
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Keeps the chains alive without a visible effect (sink is never exactly this value).
  if (sink == 1234.5f) seconds += 1e-9;
  return kFlopsPerIteration * static_cast<double>(iterations) / seconds / 1e9;
}

}  // namespace fibril::cpu::FIBRIL_ISA
