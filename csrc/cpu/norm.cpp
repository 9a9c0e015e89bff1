// Normalization kernels: layer norm and rms norm over rows, batch norm over channels, forward
// and backward, each with exact two-pass statistics (the mean first, then the squared
// deviations) made while the data sits in cache, so memory sees one read of x and one write of
// y (forward) or reads of x and g and one write of gx (backward).
//
// Rows: one row (16 KiB for 4096 floats) at a time per thread. The weight and bias gradients
// are column sums over rows: each block of kNormRowBlock rows adds into its own partial row of
// `scratch`, then the partials are added in block order, so the result does not depend on the
// thread count. Batch norm: one channel at a time per thread; a channel of a 32x64x56x56 float32
// input is 392 KiB and stays in L2 across its passes. Outputs past the caches
// (cpu/streaming.h) go out with streaming stores, which skip the read of each output line.
//
// Measured with `python -m bench --family norm`, two runs (AMD EPYC Zen 1 (KVM), 2 threads,
// avx2; the 2 cores shared with three other engineers' builds and benchmarks, load average
// 5-9, copy probe 10.6 / 5.9 GB/s); bytes as in bench/bench_norm.py (fwd 8, fwd+bwd 20
// B/element), ratio = torch 2.13 time / ours:
//   layer_norm fwd 8192x4096         22 /  51 ms, 113% /  88% of copy,  4.79x / 4.54x torch
//   layer_norm fwd+bwd (w, b grads)  76 / 152 ms,  84% /  74%,          3.28x / 3.33x torch
//   rms_norm fwd                     21 /  38 ms, 119% / 117%,         13.4x / 16.3x torch
//   rms_norm fwd+bwd                158 / 140 ms,  40% /  81%,         14.8x / 14.7x torch
//   batch_norm fwd 32x64x56x56      8.8 / 9.7 ms, 55% /  89%,          8.64x / 7.13x torch
//   batch_norm fwd+bwd               21 /  24 ms, 57% /  91%,          5.25x / 4.36x torch
// (before: 59-65% of copy forward, 36-62% fwd+bwd, 2.1-10x torch.) Over 100%: the probe is
// memcpy, timed at its best of 5 while the load moves; fwd+bwd rows gain from the leaf taking
// the backward's gradient without a copy.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/parallel.h"
#include "cpu/kernels.h"
#include "cpu/lanes.h"

namespace fibril::cpu::FIBRIL_ISA {
namespace {

using vm::cst;
using vm::load;

constexpr int64_t kGrainElements = 32768;
constexpr int64_t kSub = 8;     // rows whose columns are swept together in backward
constexpr int64_t kTile = 512;  // columns per sweep: 2 partial rows of 2 KiB stay in L1

template <typename T>
T row_sum(const T* x, int64_t n) {
  return vm::sum<T>(n, [&](auto v, int64_t i) { return load<decltype(v)>(x + i); });
}

// sum (x - m)
template <typename T>
T row_dev(const T* x, int64_t n, T m) {
  return vm::sum<T>(n, [&](auto v, int64_t i) { return load<decltype(v)>(x + i) - cst<decltype(v)>(m); });
}

// sum (x - m)^2
template <typename T>
T row_sq_dev(const T* x, int64_t n, T m) {
  return vm::sum<T>(n, [&](auto v, int64_t i) {
    using V = decltype(v);
    V d = load<V>(x + i) - cst<V>(m);
    return d * d;
  });
}

// The mean of x: the rounded sum / n, corrected by the mean deviation from it. A constant row
// then gets its value exactly, where sum / n may miss it by an ulp that normalizing (by a
// near-zero spread) would magnify to percents; as torch's Welford means.
template <typename T>
T row_mean(const T* x, int64_t n) {
  const T m = row_sum(x, n) / T(n);
  return m + row_dev(x, n, m) / T(n);
}

// y = (x - mean) scale + shift, or ((x - mean) scale + shift) w + b per position when w, b are given.
// Subtracting the mean first keeps rows whose mean dwarfs their spread exact (x scale - mean
// scale would cancel two large, separately rounded products).
template <typename T>
void affine_row(const T* x, T* y, int64_t n, T mean, T scale, T shift, const T* w, const T* b, bool stream) {
  vm::put(y, n, stream, [&](auto v, int64_t i) {
    using V = decltype(v);
    V r = vm::fmadd(load<V>(x + i) - cst<V>(mean), cst<V>(scale), cst<V>(shift));
    if (w) r = r * load<V>(w + i);
    if (b) r = r + load<V>(b + i);
    return r;
  });
}

template <typename T>
bool streams(int64_t elements) {
  return elements * static_cast<int64_t>(sizeof(T)) >= vm::kStreamBytes;
}

template <typename T>
void row_norm_forward(const RowNormArgs& a) {
  const int64_t n = a.n;
  const T* x = reinterpret_cast<const T*>(a.x);
  const T* w = reinterpret_cast<const T*>(a.weight);
  const T* b = reinterpret_cast<const T*>(a.bias);
  T* y = reinterpret_cast<T*>(a.y);
  T* mean = reinterpret_cast<T*>(a.mean);
  T* rstd = reinterpret_cast<T*>(a.rstd);
  const bool stream = streams<T>(a.rows * n);
  parallel_for(0, a.rows, std::max<int64_t>(1, kGrainElements / n), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * n;
      const T m = a.rms ? T(0) : row_mean(xr, n);
      const T s = T(1) / std::sqrt(row_sq_dev(xr, n, m) / T(n) + T(a.eps));
      if (!a.rms) mean[r] = m;
      rstd[r] = s;
      affine_row(xr, y + r * n, n, m, s, T(0), w, b, stream);
    }
    vm::stream_fence();
  });
}

template <typename T>
void row_norm_backward(const RowNormArgs& a) {
  const int64_t n = a.n, rows = a.rows;
  const T* x = reinterpret_cast<const T*>(a.x);
  const T* w = reinterpret_cast<const T*>(a.weight);
  const T* g = reinterpret_cast<const T*>(a.g);
  const T* mean = reinterpret_cast<const T*>(a.mean);
  const T* rstd = reinterpret_cast<const T*>(a.rstd);
  T* gx = reinterpret_cast<T*>(a.gx);
  T* part_w = reinterpret_cast<T*>(a.scratch);
  const int64_t blocks = (rows + kNormRowBlock - 1) / kNormRowBlock;
  T* part_b = part_w + blocks * n;
  const bool params = a.gw || a.gb;
  const bool stream = streams<T>(rows * n);
  parallel_for(0, blocks, std::max<int64_t>(1, kGrainElements / (n * kNormRowBlock)), [&](int64_t lo, int64_t hi) {
    for (int64_t blk = lo; blk < hi; ++blk) {
      T* pw = part_w + blk * n;
      T* pb = part_b + blk * n;
      if (params) {
        std::fill(pw, pw + n, T(0));
        std::fill(pb, pb + n, T(0));
      }
      // Sub-blocks of kSub rows: their statistics first, then column tiles across them, so the
      // partial sums of a tile stay in L1 while the sub-block's rows are read from L2.
      const int64_t blk_end = std::min(rows, (blk + 1) * kNormRowBlock);
      for (int64_t sb = blk * kNormRowBlock; sb < blk_end; sb += kSub) {
        const int64_t sub = std::min(kSub, blk_end - sb);
        T c1[kSub], c2[kSub];
        for (int64_t k = 0; k < sub; ++k) {
          const T* xr = x + (sb + k) * n;
          const T* gr = g + (sb + k) * n;
          const T m = a.rms ? T(0) : mean[sb + k], s = rstd[sb + k];
          T sum_gw = 0;  // sum g w; layer norm only
          if (!a.rms) {
            sum_gw = vm::sum<T>(n, [&](auto v, int64_t i) {
              using V = decltype(v);
              return w ? load<V>(gr + i) * load<V>(w + i) : load<V>(gr + i);
            });
          }
          const T sum_gw_xhat = vm::sum<T>(n, [&](auto v, int64_t i) {
            using V = decltype(v);
            V gw = w ? load<V>(gr + i) * load<V>(w + i) : load<V>(gr + i);
            return gw * ((load<V>(xr + i) - cst<V>(m)) * cst<V>(s));
          });
          c1[k] = sum_gw / T(n);
          c2[k] = sum_gw_xhat / T(n);
        }
        for (int64_t j0 = 0; j0 < n; j0 += kTile) {
          const int64_t len = std::min(kTile, n - j0);
          for (int64_t k = 0; k < sub; ++k) {
            const int64_t off = (sb + k) * n + j0;
            const T m = a.rms ? T(0) : mean[sb + k], s = rstd[sb + k];
            const T* wj = w ? w + j0 : nullptr;
            vm::put(gx + off, len, stream, [&](auto v, int64_t i) {
              using V = decltype(v);
              V gv = load<V>(g + off + i);
              V xhat = (load<V>(x + off + i) - cst<V>(m)) * cst<V>(s);
              V gw = wj ? gv * load<V>(wj + i) : gv;
              if (params) {
                vm::store(pw + j0 + i, vm::fmadd(gv, xhat, load<V>(pw + j0 + i)));
                vm::store(pb + j0 + i, load<V>(pb + j0 + i) + gv);
              }
              return cst<V>(s) * (gw - cst<V>(c1[k]) - xhat * cst<V>(c2[k]));
            });
          }
        }
      }
    }
    vm::stream_fence();
  });
  if (!params) return;
  T* gw_out = reinterpret_cast<T*>(a.gw);
  T* gb_out = reinterpret_cast<T*>(a.gb);
  // Column sums of the partial rows, block by block (contiguous rows, in block order).
  parallel_for(0, n, std::max<int64_t>(1, kGrainElements / blocks), [&](int64_t lo, int64_t hi) {
    for (T* part : {part_w, part_b}) {
      T* acc = part;  // block 0's row collects the sum
      for (int64_t blk = 1; blk < blocks; ++blk) {
        const T* row = part + blk * n;
        vm::each<T>(hi - lo, [&](auto v, int64_t i) {
          using V = decltype(v);
          vm::store(acc + lo + i, load<V>(acc + lo + i) + load<V>(row + lo + i));
        });
      }
    }
    if (gw_out) std::copy(part_w + lo, part_w + hi, gw_out + lo);
    if (gb_out) std::copy(part_b + lo, part_b + hi, gb_out + lo);
  });
}

// Batch norm: x[b, c, :] is the contiguous run of channel c in batch entry b.
template <typename T>
void batch_norm_forward(const BatchNormArgs& a) {
  const int64_t S = a.spatial, C = a.channels, N = a.batch;
  const T count = T(N * S);
  const T* x = reinterpret_cast<const T*>(a.x);
  const T* w = reinterpret_cast<const T*>(a.weight);
  const T* bias = reinterpret_cast<const T*>(a.bias);
  T* rm = reinterpret_cast<T*>(a.running_mean);
  T* rv = reinterpret_cast<T*>(a.running_var);
  T* y = reinterpret_cast<T*>(a.y);
  T* mean = reinterpret_cast<T*>(a.mean);
  T* rstd = reinterpret_cast<T*>(a.rstd);
  const bool stream = streams<T>(N * C * S);
  parallel_for(0, C, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(1, N * S)), [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      T m, s;
      if (a.training) {
        T total = 0, dev = 0;
        for (int64_t b = 0; b < N; ++b) total += row_sum(x + (b * C + c) * S, S);
        m = total / count;
        for (int64_t b = 0; b < N; ++b) dev += row_dev(x + (b * C + c) * S, S, m);
        m += dev / count;  // as row_mean
        T sq = 0;
        for (int64_t b = 0; b < N; ++b) sq += row_sq_dev(x + (b * C + c) * S, S, m);
        s = T(1) / std::sqrt(sq / count + T(a.eps));
        const T mom = T(a.momentum);
        if (rm) rm[c] = (1 - mom) * rm[c] + mom * m;
        if (rv) rv[c] = (1 - mom) * rv[c] + mom * sq / (count - 1);
      } else {
        m = rm[c];
        s = T(1) / std::sqrt(rv[c] + T(a.eps));
      }
      mean[c] = m;
      rstd[c] = s;
      const T scale = w ? s * w[c] : s;
      const T shift = bias ? bias[c] : T(0);
      for (int64_t b = 0; b < N; ++b) {
        const int64_t off = (b * C + c) * S;
        affine_row<T>(x + off, y + off, S, m, scale, shift, nullptr, nullptr, stream);
      }
    }
    vm::stream_fence();
  });
}

template <typename T>
void batch_norm_backward(const BatchNormArgs& a) {
  const int64_t S = a.spatial, C = a.channels, N = a.batch;
  const T count = T(N * S);
  const T* x = reinterpret_cast<const T*>(a.x);
  const T* w = reinterpret_cast<const T*>(a.weight);
  const T* g = reinterpret_cast<const T*>(a.g);
  const T* mean = reinterpret_cast<const T*>(a.mean);
  const T* rstd = reinterpret_cast<const T*>(a.rstd);
  T* gx = reinterpret_cast<T*>(a.gx);
  T* gw = reinterpret_cast<T*>(a.gw);
  T* gb = reinterpret_cast<T*>(a.gb);
  const bool stream = streams<T>(N * C * S);
  parallel_for(0, C, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(1, N * S)), [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      const T m = mean[c], s = rstd[c], wc = w ? w[c] : T(1);
      T sum_g = 0, sum_g_dx = 0;  // sum g, sum g (x - m)
      for (int64_t b = 0; b < N; ++b) {
        const int64_t off = (b * C + c) * S;
        sum_g += row_sum(g + off, S);
        sum_g_dx += vm::sum<T>(S, [&](auto v, int64_t i) {
          using V = decltype(v);
          return load<V>(g + off + i) * (load<V>(x + off + i) - cst<V>(m));
        });
      }
      if (gw) gw[c] = sum_g_dx * s;
      if (gb) gb[c] = sum_g;
      // training: gx = w s (g - sum_g / M - (x - m) s^2 sum_g_dx / M); eval: gx = w s g
      const T k = wc * s;
      const T c1 = a.training ? sum_g / count : T(0);
      const T c2 = a.training ? s * s * sum_g_dx / count : T(0);
      for (int64_t b = 0; b < N; ++b) {
        const int64_t off = (b * C + c) * S;
        vm::put(gx + off, S, stream, [&](auto v, int64_t i) {
          using V = decltype(v);
          V dx = load<V>(x + off + i) - cst<V>(m);
          return cst<V>(k) * (load<V>(g + off + i) - cst<V>(c1) - dx * cst<V>(c2));
        });
      }
    }
    vm::stream_fence();
  });
}

}  // namespace

void row_norm(const RowNormArgs& a) {
  const bool f32 = a.dtype == DType::float32;
  if (a.g) f32 ? row_norm_backward<float>(a) : row_norm_backward<double>(a);
  else f32 ? row_norm_forward<float>(a) : row_norm_forward<double>(a);
}

void batch_norm(const BatchNormArgs& a) {
  const bool f32 = a.dtype == DType::float32;
  if (a.g) f32 ? batch_norm_backward<float>(a) : batch_norm_backward<double>(a);
  else f32 ? batch_norm_forward<float>(a) : batch_norm_forward<double>(a);
}

}  // namespace fibril::cpu::FIBRIL_ISA
