// Peak-throughput probe: ten independent multiply-add chains per thread, enough to cover
// the FMA latency x throughput product of current x86 cores. It issues the build's widest
// FMAs (AVX-512: 16 floats, AVX2: 8); the generic build lets the compiler use what baseline
// SSE2 offers (mul + add).
#include <chrono>

#include "cpu/kernels.h"
#include "cpu/simd.h"

namespace fibril::cpu::FIBRIL_ISA {

double fma_gflops(int64_t iterations) {
  constexpr int kChains = 10;
  auto start = std::chrono::steady_clock::now();
  // The build's vector width (simd.h); GCC fuses a * b + c where the build has FMA.
  using V = Vec<float>;
  V acc[kChains];
  const V b = V{} + 1.0000001f, c = V{} + 1e-7f;
  for (int i = 0; i < kChains; ++i) acc[i] = V{} + static_cast<float>(i);
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * b + c;
  float sink = 0;
  for (int i = 0; i < kChains; ++i) sink += acc[i][0];
  constexpr double kFlopsPerIteration = kChains * kLanesOf<float> * 2;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Keeps the chains alive without a visible effect (sink is never exactly this value).
  if (sink == 1234.5f) seconds += 1e-9;
  return kFlopsPerIteration * static_cast<double>(iterations) / seconds / 1e9;
}

}  // namespace fibril::cpu::FIBRIL_ISA
