#include "core/machine.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/errors.h"
#include "core/parallel.h"
#include "cpu/kernels.h"

namespace fibril {
namespace {

double fma_peak(int threads) {
  const auto probe = cpu::kernels().fma_gflops;
  constexpr int64_t kIterations = 20'000'000;
  probe(kIterations / 10);  // warm-up: clocks up, code in cache
  std::atomic<double> total{0};
  double best = 0;
  for (int repeat = 0; repeat < 3; ++repeat) {
    total = 0;
    parallel_for(0, threads, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t t = lo; t < hi; ++t) {
        double g = probe(kIterations);
        double cur = total.load();
        while (!total.compare_exchange_weak(cur, cur + g)) {
        }
      }
    });
    best = std::max(best, total.load());
  }
  return best;
}

double copy_peak(int threads) {
  constexpr size_t kBytes = size_t{256} << 20;
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> src(static_cast<char*>(std::aligned_alloc(64, kBytes)));
  std::unique_ptr<char, Free> dst(static_cast<char*>(std::aligned_alloc(64, kBytes)));
  FIBRIL_CHECK(src && dst, Memory, "[machine_peak] cannot allocate 2 x 256 MiB for the copy probe");
  std::memset(src.get(), 1, kBytes);
  std::memset(dst.get(), 0, kBytes);
  const int64_t chunks = 64;
  const size_t chunk = kBytes / chunks;
  double best = 1e30;
  for (int repeat = 0; repeat < 5; ++repeat) {
    auto start = std::chrono::steady_clock::now();
    parallel_for(0, chunks, std::max<int64_t>(1, chunks / threads), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) std::memcpy(dst.get() + i * chunk, src.get() + i * chunk, chunk);
    });
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return 2.0 * kBytes / best / 1e9;
}

}  // namespace

MachinePeak measure_machine_peak() {
  int threads = get_num_threads();
  return {fma_peak(threads), copy_peak(threads), threads};
}

}  // namespace fibril
