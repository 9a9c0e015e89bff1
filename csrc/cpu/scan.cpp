// Inclusive scans (cumsum, cumprod) along the middle dim of contiguous (outer, n, inner)
// arrays. Floats accumulate in double and round once per output, as PyTorch's CPU kernel
// does; integers and bool in int64, wrapping. A scan is sequential along n, so threads
// share the lines: rows of n (inner == 1), or tiles of kTileCols columns, vectorized
// across the columns, that run down n together.
#include <algorithm>
#include <memory>
#include <type_traits>

#include "core/parallel.h"
#include "cpu/kernels.h"

namespace fibril::cpu::FIBRIL_ISA {
namespace {

constexpr int64_t kTileCols = 512;
constexpr int64_t kGrainElements = 1 << 15;

template <bool kProd, typename A>
A step(A acc, A x) {
  if constexpr (std::is_integral_v<A>) {
    const uint64_t a = static_cast<uint64_t>(acc), b = static_cast<uint64_t>(x);
    return static_cast<A>(kProd ? a * b : a + b);
  } else {
    return kProd ? acc * x : acc + x;
  }
}

template <bool kProd, typename T, typename Out>
void scan_typed(const ScanArgs& a) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
  const T* in = reinterpret_cast<const T*>(a.in);
  Out* out = reinterpret_cast<Out*>(a.out);
  const int64_t n = a.n, cols = a.inner;
  if (cols == 1) {  // rows: one running value each
    parallel_for(0, a.outer, std::max<int64_t>(1, kGrainElements / n), [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o) {
        const T* x = in + o * n;
        Out* y = out + o * n;
        Acc acc = static_cast<Acc>(x[0]);
        y[0] = static_cast<Out>(acc);
        for (int64_t i = 1; i < n; ++i) {
          acc = step<kProd>(acc, static_cast<Acc>(x[i]));
          y[i] = static_cast<Out>(acc);
        }
      }
    });
    return;
  }
  const int64_t width = std::min(cols, kTileCols), tiles = (cols + width - 1) / width;
  parallel_for(0, a.outer * tiles, std::max<int64_t>(1, kGrainElements / (n * width)), [&](int64_t lo, int64_t hi) {
    std::unique_ptr<Acc[]> acc(new Acc[static_cast<size_t>(width)]);
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t o = item / tiles, c0 = item % tiles * width, w = std::min(width, cols - c0);
      const T* x = in + o * n * cols + c0;
      Out* y = out + o * n * cols + c0;
      for (int64_t j = 0; j < w; ++j) {
        acc[j] = static_cast<Acc>(x[j]);
        y[j] = static_cast<Out>(acc[j]);
      }
      for (int64_t r = 1; r < n; ++r) {
        const T* xr = x + r * cols;
        Out* yr = y + r * cols;
        for (int64_t j = 0; j < w; ++j) {
          acc[j] = step<kProd>(acc[j], static_cast<Acc>(xr[j]));
          yr[j] = static_cast<Out>(acc[j]);
        }
      }
    }
  });
}

template <bool kProd>
void run(const ScanArgs& a) {
  visit_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_floating_point_v<T>) scan_typed<kProd, T, T>(a);
    else scan_typed<kProd, T, int64_t>(a);
  });
}

}  // namespace

void scan(const ScanArgs& a) {
  if (a.outer == 0 || a.n == 0 || a.inner == 0) return;
  if (a.is_prod) run<true>(a);
  else run<false>(a);
}

}  // namespace fibril::cpu::FIBRIL_ISA
