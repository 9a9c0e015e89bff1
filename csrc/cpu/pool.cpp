// Pooling, forward and backward, over contiguous (height, width) planes (1-D: height 1): max
// (with argmax indices), average, and their adaptive forms, all one loop over per-axis window
// tables that the op layer builds (ops/pool.cpp). Planes are independent, so each task owns
// whole planes of the output and of the input's gradient: no races, no thread-count effects.
// Bound by memory traffic; the window loops are short and the compiler keeps them scalar.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/parallel.h"
#include "cpu/kernels.h"

namespace fibril::cpu::FIBRIL_ISA {
namespace {

int64_t grain_for(const PoolArgs& a) {
  const int64_t work = std::max<int64_t>(1, std::max(a.out_height * a.out_width, a.height * a.width));
  return std::max<int64_t>(1, 16384 / work);
}

template <typename T>
void max_forward(const PoolArgs& a) {
  const int64_t in_plane = a.height * a.width, out_plane = a.out_height * a.out_width;
  parallel_for(0, a.planes, grain_for(a), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      const T* x = reinterpret_cast<const T*>(a.x) + pl * in_plane;
      T* y = reinterpret_cast<T*>(a.out) + pl * out_plane;
      int64_t* idx = a.indices + pl * out_plane;
      for (int64_t oy = 0; oy < a.out_height; ++oy) {
        for (int64_t ox = 0; ox < a.out_width; ++ox) {
          T best = -std::numeric_limits<T>::infinity();
          int64_t best_at = a.start_h[oy] * a.width + a.start_w[ox];
          for (int64_t th = 0; th < a.count_h[oy]; ++th) {
            const int64_t row = (a.start_h[oy] + th * a.step_h) * a.width;
            for (int64_t tw = 0; tw < a.count_w[ox]; ++tw) {
              const int64_t at = row + a.start_w[ox] + tw * a.step_w;
              const T v = x[at];
              if (v > best || std::isnan(v)) {  // NaN propagates, as in PyTorch
                best = v;
                best_at = at;
              }
            }
          }
          y[oy * a.out_width + ox] = best;
          idx[oy * a.out_width + ox] = best_at;
        }
      }
    }
  });
}

template <typename T>
void max_backward(const PoolArgs& a) {
  const int64_t in_plane = a.height * a.width, out_plane = a.out_height * a.out_width;
  parallel_for(0, a.planes, grain_for(a), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      const T* g = reinterpret_cast<const T*>(a.g) + pl * out_plane;
      const int64_t* idx = a.indices + pl * out_plane;
      T* gx = reinterpret_cast<T*>(a.out) + pl * in_plane;
      std::fill(gx, gx + in_plane, T(0));
      for (int64_t o = 0; o < out_plane; ++o) gx[idx[o]] += g[o];
    }
  });
}

template <typename T>
T divisor(const PoolArgs& a, int64_t oy, int64_t ox) {
  return static_cast<T>(a.divisor > 0 ? a.divisor : a.div_h[oy] * a.div_w[ox]);
}

template <typename T>
void avg_forward(const PoolArgs& a) {
  const int64_t in_plane = a.height * a.width, out_plane = a.out_height * a.out_width;
  parallel_for(0, a.planes, grain_for(a), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      const T* x = reinterpret_cast<const T*>(a.x) + pl * in_plane;
      T* y = reinterpret_cast<T*>(a.out) + pl * out_plane;
      for (int64_t oy = 0; oy < a.out_height; ++oy) {
        for (int64_t ox = 0; ox < a.out_width; ++ox) {
          T sum = 0;
          for (int64_t th = 0; th < a.count_h[oy]; ++th) {
            const T* row = x + (a.start_h[oy] + th * a.step_h) * a.width + a.start_w[ox];
            for (int64_t tw = 0; tw < a.count_w[ox]; ++tw) sum += row[tw * a.step_w];
          }
          y[oy * a.out_width + ox] = sum / divisor<T>(a, oy, ox);
        }
      }
    }
  });
}

template <typename T>
void avg_backward(const PoolArgs& a) {
  const int64_t in_plane = a.height * a.width, out_plane = a.out_height * a.out_width;
  parallel_for(0, a.planes, grain_for(a), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      const T* g = reinterpret_cast<const T*>(a.g) + pl * out_plane;
      T* gx = reinterpret_cast<T*>(a.out) + pl * in_plane;
      std::fill(gx, gx + in_plane, T(0));
      for (int64_t oy = 0; oy < a.out_height; ++oy) {
        for (int64_t ox = 0; ox < a.out_width; ++ox) {
          const T share = g[oy * a.out_width + ox] / divisor<T>(a, oy, ox);
          for (int64_t th = 0; th < a.count_h[oy]; ++th) {
            T* row = gx + (a.start_h[oy] + th * a.step_h) * a.width + a.start_w[ox];
            for (int64_t tw = 0; tw < a.count_w[ox]; ++tw) row[tw * a.step_w] += share;
          }
        }
      }
    }
  });
}

template <typename T>
void pool_typed(const PoolArgs& a) {
  switch (a.kind) {
    case PoolKind::max: return max_forward<T>(a);
    case PoolKind::avg: return avg_forward<T>(a);
    case PoolKind::max_backward: return max_backward<T>(a);
    case PoolKind::avg_backward: return avg_backward<T>(a);
  }
}

}  // namespace

void pool(const PoolArgs& args) {
  if (args.dtype == DType::float32) pool_typed<float>(args);
  else pool_typed<double>(args);
}

}  // namespace fibril::cpu::FIBRIL_ISA
