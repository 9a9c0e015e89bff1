// CUDA norm family: layer norm and rms norm over rows, batch norm over channels, forward and
// backward; the same arguments, statistics and results as csrc/cpu/norm.cpp.
//
// Rows (llm.c's layernorm kernels): forward takes a warp per row up to 1024 elements, a block
// above, 128-bit loads (rows::visit) and shuffle reductions; exact two-pass statistics (the
// mean, then the squared deviations) re-read the row from L1/L2, then y goes out with
// streaming stores: HBM sees one read of x and one write of y. Backward runs a block per row
// (rows strided over a grid of a few blocks per SM): one pass for sum(g w) and sum(g w xhat),
// one pass writing gx; the weight and bias gradients are accumulated per block, each thread in
// its own columns (no atomics), in shared memory (rows up to 96 KiB of partials, else the
// block's slot of global scratch), written as one partial row per block and summed over the
// blocks in a fixed order by a second small kernel: results do not depend on scheduling.
//
// Batch norm: statistics per channel over batch x spatial, split over C x splits blocks
// (about 8 blocks per SM in all): each block makes two passes over its chunk (mean, then the
// squared deviations) and the chunks merge in a fixed order by Chan's formula in double, with
// the running-stat update; then one elementwise pass applies the per-channel scale and shift.
// Backward: per-chunk sums of g and g (x - mean), merged per channel (weight and bias
// gradients), then one elementwise pass for gx. So forward reads x twice, backward reads x and
// g twice, as PyTorch's kernels do.
//
// float16/bfloat16 run natively (ops/norm.cpp widens only on the CPU): x, weight, bias, y, g,
// gx, the parameter gradients and batch norm's running statistics in the 16-bit dtype (16-byte
// packs of 8, widened per element, rounded to nearest even on the way out); mean/rstd, the
// reductions, batch norm's coefficients and the weight/bias partials in float32 (a 16-bit
// pack's partials are two 16-byte float packs). No spills on sm_80/sm_90 (-Xptxas
// -warn-spills); the float32/float64 instantiations compile to the same PTX as before.
// H100 (`python -m bench.cuda`, bytes at 2 per element): layer_norm bf16 8192x4096 2.20 TB/s (73%
// of the copy bandwidth, 1.06x torch bf16); float32 in the same run 2.56 TB/s (85%, 1.23x).
//
// H100 figures (`python -m bench.cuda`): layer_norm forward 32768x1024 2.75 TB/s (91% of the
// device-copy bandwidth, 1.13x torch), 8192x4096 2.57 TB/s (85%, 1.34x).
#include <algorithm>
#include <cmath>

#include "cuda/launch.cuh"
#include "cuda/norm.h"
#include "cuda/rows.cuh"

namespace fibril::cuda::FIBRIL_CUDA_NS {
namespace {

using cpu::BatchNormArgs;
using cpu::RowNormArgs;
using rows::load;
using rows::load_last;
using rows::Pack;
using rows::wide;
using rows::row_group;
using rows::RowGroup;
using rows::store_stream;

// x, w, b, y of the storage type S; mean, rstd and the arithmetic in compute_t<S>.
template <typename S, int V, bool kBlock>
__global__ void __launch_bounds__(kBlock ? 512 : 256, kBlock ? (sizeof(S) == 8 ? 1 : 2) : 3)
    row_norm_forward_kernel(bool rms, int64_t nrows, int64_t n, compute_t<S> eps, const S* x, const S* w, const S* b,
                            S* y, compute_t<S>* mean, compute_t<S>* rstd) {
  using T = compute_t<S>;
  __shared__ T red[64];
  const RowGroup grp = row_group<kBlock>();
  for (int64_t row = grp.row; row < nrows; row += grp.step) {
    const S* xr = x + row * n;
    S* yr = y + row * n;
    T m = 0;
    if (!rms) {
      T total = 0;
      rows::visit<S, V>(xr, n, grp.tid, grp.count, [&](int64_t i, auto width) {
        constexpr int K = decltype(width)::value;
        const Pack<S, K> p = load<S, K>(xr + i);
#pragma unroll
        for (int j = 0; j < K; ++j) total += T(p.v[j]);
      });
      m = rows::group_sum<kBlock>(total, red) / T(n);
    }
    T sq = 0, dev = 0;
    rows::visit<S, V>(xr, n, grp.tid, grp.count, [&](int64_t i, auto width) {
      constexpr int K = decltype(width)::value;
      const Pack<S, K> p = load<S, K>(xr + i);
#pragma unroll
      for (int j = 0; j < K; ++j) {
        const T d = T(p.v[j]) - m;
        dev += d;
        sq += d * d;
      }
    });
    rows::group_sum2<kBlock>(sq, dev, red);
    // The mean corrected by the mean deviation from it (exact for a constant row, where
    // sum / n may miss by an ulp that a near-zero spread magnifies), the squares alike.
    if (!rms) {
      m += dev / T(n);
      sq = sq > dev * dev / T(n) ? sq - dev * dev / T(n) : T(0);
    }
    const T s = T(1) / rows::sqrt_(sq / T(n) + eps);
    if (grp.tid == 0) {
      if (!rms) mean[row] = m;
      rstd[row] = s;
    }
    rows::visit<S, V>(xr, n, grp.tid, grp.count, [&](int64_t i, auto width) {
      constexpr int K = decltype(width)::value;
      Pack<T, K> p = wide(load_last<S, K>(xr + i));
#pragma unroll
      for (int j = 0; j < K; ++j) p.v[j] = (p.v[j] - m) * s;  // exact where the mean dwarfs the spread
      if (w) {
        const Pack<S, K> pw = load<S, K>(w + i);
#pragma unroll
        for (int j = 0; j < K; ++j) p.v[j] *= T(pw.v[j]);
      }
      if (b) {
        const Pack<S, K> pb = load<S, K>(b + i);
#pragma unroll
        for (int j = 0; j < K; ++j) p.v[j] += T(pb.v[j]);
      }
      store_stream<S, K>(yr + i, rows::narrow<S>(p));
    });
  }
}

// Where a block keeps its weight/bias gradient partials (of the compute type): slot elements,
// the weight's column j at pad + j, the bias's at pad + np + j (pad aligns the vector columns
// to 16 bytes).
struct PartialLayout {
  int64_t slot, pad, np;
};

// Updates the partials aw[0, K) and bw[0, K) by d(j, aw[j], bw[j]), as 16-byte packs of T
// (two of each per 16-bit vector of 8).
template <typename T, int K, typename F>
__device__ __forceinline__ void update_partials(T* aw, T* ab, F&& d) {
  constexpr int A = K < rows::kVec<T> ? K : rows::kVec<T>;
#pragma unroll
  for (int h = 0; h < K / A; ++h) {
    Pack<T, A> pw = load<T, A>(aw + h * A), pb = load<T, A>(ab + h * A);
#pragma unroll
    for (int j = 0; j < A; ++j) d(h * A + j, pw.v[j], pb.v[j]);
    *reinterpret_cast<Pack<T, A>*>(aw + h * A) = pw;
    *reinterpret_cast<Pack<T, A>*>(ab + h * A) = pb;
  }
}

template <typename S, int V>
__global__ void __launch_bounds__(512, 2)
    row_norm_backward_kernel(bool rms, int64_t nrows, int64_t n, const S* x, const S* w, const S* g,
                             const compute_t<S>* mean, const compute_t<S>* rstd, S* gx, compute_t<S>* part,
                             PartialLayout pl, bool shared_acc) {
  using T = compute_t<S>;
  __shared__ T red[64];
  FIBRIL_DYNAMIC_SHARED(T, dyn);
  T* acc = nullptr;
  if (part) {
    acc = shared_acc ? dyn : part + int64_t(blockIdx.x) * pl.slot;
    for (int64_t i = threadIdx.x; i < pl.slot; i += blockDim.x) acc[i] = T(0);
    __syncthreads();
  }
  T* acc_w = acc ? acc + pl.pad : nullptr;
  T* acc_b = acc ? acc + pl.pad + pl.np : nullptr;
  const int tid = int(threadIdx.x), count = int(blockDim.x);
  for (int64_t row = blockIdx.x; row < nrows; row += gridDim.x) {
    const S* xr = x + row * n;
    const S* gr = g + row * n;
    S* o = gx + row * n;
    const T m = rms ? T(0) : mean[row], s = rstd[row];
    T sum_gw = 0, sum_gw_xhat = 0;
    rows::visit<S, V>(xr, n, tid, count, [&](int64_t i, auto width) {
      constexpr int K = decltype(width)::value;
      const Pack<S, K> px = load<S, K>(xr + i);
      Pack<T, K> pg = wide(load<S, K>(gr + i));
      if (w) {
        const Pack<S, K> pw = load<S, K>(w + i);
#pragma unroll
        for (int j = 0; j < K; ++j) pg.v[j] *= T(pw.v[j]);
      }
#pragma unroll
      for (int j = 0; j < K; ++j) {
        sum_gw += pg.v[j];
        sum_gw_xhat += pg.v[j] * ((T(px.v[j]) - m) * s);
      }
    });
    rows::group_sum2<true>(sum_gw, sum_gw_xhat, red);
    const T c1 = rms ? T(0) : sum_gw / T(n), c2 = sum_gw_xhat / T(n);
    rows::visit<S, V>(xr, n, tid, count, [&](int64_t i, auto width) {
      constexpr int K = decltype(width)::value;
      const Pack<S, K> px = load_last<S, K>(xr + i), pg = load_last<S, K>(gr + i);
      Pack<S, K> pw{};
      if (w) pw = load<S, K>(w + i);
      Pack<T, K> r, xhat;
#pragma unroll
      for (int j = 0; j < K; ++j) {
        xhat.v[j] = (T(px.v[j]) - m) * s;
        const T gw = w ? T(pg.v[j]) * T(pw.v[j]) : T(pg.v[j]);
        r.v[j] = s * (gw - c1 - xhat.v[j] * c2);
      }
      store_stream<S, K>(o + i, rows::narrow<S>(r));
      if (acc) {
        update_partials<T, K>(acc_w + i, acc_b + i, [&](int j, T& aw, T& ab) {
          aw = rows::fma_(T(pg.v[j]), xhat.v[j], aw);
          ab += T(pg.v[j]);
        });
      }
    });
  }
  if (part && shared_acc) {
    __syncthreads();
    T* out = part + int64_t(blockIdx.x) * pl.slot;
    for (int64_t i = threadIdx.x; i < pl.slot; i += blockDim.x) out[i] = acc[i];
  }
}

// gw[j], gb[j] = the blocks' partials of column j. A block takes 32 columns (one coalesced
// 128-byte row segment per warp) and 8 groups of rows: group k adds partial rows k, k + 8, ...
// in order, then the 8 group sums are added in group order (the same order on every run).
constexpr unsigned kParamCols = 32, kParamGroups = 8;

template <typename S>
__global__ void __launch_bounds__(kParamCols * kParamGroups)
    param_grad_kernel(int64_t n, int64_t blocks, const compute_t<S>* part, PartialLayout pl, S* gw, S* gb) {
  using T = compute_t<S>;
  __shared__ T sums[2][kParamGroups][kParamCols];
  const unsigned col = threadIdx.x % kParamCols, group = threadIdx.x / kParamCols;
  const int64_t j = int64_t(blockIdx.x) * kParamCols + col;
  T sw = 0, sb = 0;
  if (j < n) {
    for (int64_t b = group; b < blocks; b += kParamGroups) {
      sw += part[b * pl.slot + pl.pad + j];
      sb += part[b * pl.slot + pl.pad + pl.np + j];
    }
  }
  sums[0][group][col] = sw;
  sums[1][group][col] = sb;
  __syncthreads();
  if (group == 0 && j < n) {
    for (unsigned k = 1; k < kParamGroups; ++k) {
      sw += sums[0][k][col];
      sb += sums[1][k][col];
    }
    if (gw) gw[j] = S(sw);
    if (gb) gb[j] = S(sb);
  }
}

template <typename S>
void row_norm_forward(int device, const RowNormArgs& a) {
  using T = compute_t<S>;
  const S* x = reinterpret_cast<const S*>(a.x);
  const S* w = reinterpret_cast<const S*>(a.weight);
  const S* b = reinterpret_cast<const S*>(a.bias);
  S* y = reinterpret_cast<S*>(a.y);
  rows::dispatch<S>(a.n, {x, y}, {w, b}, [&](auto width, auto blk) {
    constexpr int V = decltype(width)::value;
    constexpr bool B = decltype(blk)::value;
    dim3 grid, block;
    rows::shape<B>(a.rows, a.n, V, grid, block);
    launch("row_norm", row_norm_forward_kernel<S, V, B>, grid, block, 0, device, a.rms, a.rows, a.n, T(a.eps), x, w,
           b, y, reinterpret_cast<T*>(a.mean), reinterpret_cast<T*>(a.rstd));
  });
}

template <typename S>
void row_norm_backward(int device, const RowNormArgs& a) {
  using T = compute_t<S>;
  const S* x = reinterpret_cast<const S*>(a.x);
  const S* w = reinterpret_cast<const S*>(a.weight);
  const S* g = reinterpret_cast<const S*>(a.g);
  S* gx = reinterpret_cast<S*>(a.gx);
  const bool params = a.gw || a.gb;
  // Partials need each column in the same thread for every row: whole-vector rows (x itself
  // as a per-column operand) or scalar access.
  rows::dispatch<S>(a.n, {x, g, gx}, {w, params ? x : nullptr}, [&](auto width, auto) {
    constexpr int V = decltype(width)::value;
    const int64_t vectors = (a.n + V - 1) / V;
    const unsigned threads = unsigned(std::min<int64_t>(512, std::max<int64_t>(32, ((vectors + 1) / 2 + 31) / 32 * 32)));
    const int64_t per_sm = std::min<int64_t>(8, 2048 / threads);
    const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(a.rows, rows::sm_count(device) * per_sm));
    int64_t head = 0;
    if (V > 1) head = std::min<int64_t>(a.n, int64_t((16 - (reinterpret_cast<uintptr_t>(x) & 15)) & 15) / int64_t(sizeof(S)));
    PartialLayout pl{0, (V - head % V) % V, (a.n + V - 1) / V * V + V};
    pl.slot = 2 * pl.np;
    const size_t slot_bytes = size_t(pl.slot) * sizeof(T);
    const bool shared_acc = params && slot_bytes <= 96 * 1024;
    Scratch part(params ? size_t(blocks) * slot_bytes : 0, device);
    launch("row_norm_backward", row_norm_backward_kernel<S, V>, dim3(unsigned(blocks)), dim3(threads),
           shared_acc ? slot_bytes : 0, device, a.rms, a.rows, a.n, x, w, g, reinterpret_cast<const T*>(a.mean),
           reinterpret_cast<const T*>(a.rstd), gx, params ? part.as<T>() : static_cast<T*>(nullptr), pl, shared_acc);
    if (params)
      launch("row_norm_backward", param_grad_kernel<S>, dim3(unsigned((a.n + kParamCols - 1) / kParamCols)),
             dim3(kParamCols * kParamGroups), 0, device, a.n, blocks,
             static_cast<const T*>(part.as<T>()), pl, reinterpret_cast<S*>(a.gw), reinterpret_cast<S*>(a.gb));
  }, true);
}

// ---- batch norm -----------------------------------------------------------------------------

// Calls f(offset) for this thread's values e in [lo, hi) of channel c's batch x spatial values
// (e = b S + s at offset (b C + c) S + s), spread over the block.
template <typename F>
__device__ __forceinline__ void channel_visit(int64_t lo, int64_t hi, int64_t S, int64_t C, int64_t c, F&& f) {
  int64_t e = lo + threadIdx.x;
  if (e >= hi) return;
  int64_t b = e / S, s = e % S;
  const int64_t step = blockDim.x, db = step / S, ds = step % S;
  for (; e < hi; e += step) {
    f((b * C + c) * S + s);
    s += ds;
    b += db;
    if (s >= S) {
      s -= S;
      ++b;
    }
  }
}

struct Chunk {
  int64_t c, lo, hi;
};

// This block's channel and chunk: blocks c * splits + k.
__device__ __forceinline__ Chunk chunk_of(int64_t total, int64_t splits) {
  const int64_t c = blockIdx.x / splits, k = blockIdx.x % splits;
  const int64_t size = (total + splits - 1) / splits;
  const int64_t lo = k * size < total ? k * size : total;
  return Chunk{c, lo, lo + size < total ? lo + size : total};
}

// Batch-norm kernels: x, g, y, gx, weight, bias and the running statistics of the storage
// type X; mean, rstd, coef and the arithmetic in compute_t<X>.

// part[3 block] = (count, mean, sum of squared deviations) of the block's chunk.
template <typename X>
__global__ void __launch_bounds__(256)
    bn_stats_kernel(int64_t N, int64_t C, int64_t S, int64_t splits, const X* x, double* part) {
  using T = compute_t<X>;
  __shared__ T red[64];
  const Chunk ch = chunk_of(N * S, splits);
  T total = 0;
  channel_visit(ch.lo, ch.hi, S, C, ch.c, [&](int64_t off) { total += T(x[off]); });
  total = rows::group_sum<true>(total, red);
  const T m = ch.hi > ch.lo ? total / T(ch.hi - ch.lo) : T(0);
  T sq = 0, dev = 0;
  channel_visit(ch.lo, ch.hi, S, C, ch.c, [&](int64_t off) {
    const T d = T(x[off]) - m;
    dev += d;
    sq += d * d;
  });
  rows::group_sum2<true>(sq, dev, red);
  const T count = ch.hi > ch.lo ? T(ch.hi - ch.lo) : T(1);  // as the row kernel's correction
  const T mean_c = m + dev / count;
  sq = sq > dev * dev / count ? sq - dev * dev / count : T(0);
  if (threadIdx.x == 0) {
    part[3 * blockIdx.x] = double(ch.hi - ch.lo);
    part[3 * blockIdx.x + 1] = double(mean_c);
    part[3 * blockIdx.x + 2] = double(sq);
  }
}

// Per channel: the statistics (merged chunks in training, the running ones in eval), the
// running-stat update, and coef = (scale, shift) for y = (x - mean) scale + shift.
template <typename X>
__global__ void __launch_bounds__(256)
    bn_finish_kernel(int64_t C, int64_t splits, bool training, compute_t<X> momentum, compute_t<X> eps,
                     const double* part, X* rm, X* rv, const X* w, const X* b, compute_t<X>* mean,
                     compute_t<X>* rstd, compute_t<X>* coef) {
  using T = compute_t<X>;
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < C; c += int64_t(gridDim.x) * blockDim.x) {
    T m, s;
    if (training) {
      double count = 0, mu = 0, m2 = 0;
      for (int64_t k = 0; k < splits; ++k) {
        const double* p = part + 3 * (c * splits + k);
        if (p[0] == 0) continue;
        const double total = count + p[0], delta = p[1] - mu;
        mu += delta * p[0] / total;
        m2 += p[2] + delta * delta * count * p[0] / total;
        count = total;
      }
      m = T(mu);
      s = T(1) / rows::sqrt_(T(m2 / count) + eps);
      if (rm) rm[c] = X((1 - momentum) * T(rm[c]) + momentum * m);
      if (rv) rv[c] = X((1 - momentum) * T(rv[c]) + momentum * T(m2 / (count - 1)));
    } else {
      m = T(rm[c]);
      s = T(1) / rows::sqrt_(T(rv[c]) + eps);
    }
    mean[c] = m;
    rstd[c] = s;
    const T scale = w ? s * T(w[c]) : s;
    coef[2 * c] = scale;
    coef[2 * c + 1] = b ? T(b[c]) : T(0);
  }
}

// y = (x - mean_c) scale_c + shift_c; V > 1 only when S is whole vectors and x, y are 16-byte aligned.
template <typename X, int V>
__global__ void __launch_bounds__(256)
    bn_apply_kernel(int64_t total, int64_t C, int64_t S, const X* x, const compute_t<X>* mean,
                    const compute_t<X>* coef, X* y) {
  using T = compute_t<X>;
  for (int64_t v = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; v < total / V; v += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = v * V, c = (i / S) % C;
    const T m = mean[c], scale = coef[2 * c], shift = coef[2 * c + 1];
    Pack<T, V> p = wide(load_last<X, V>(x + i));
#pragma unroll
    for (int j = 0; j < V; ++j) p.v[j] = rows::fma_(p.v[j] - m, scale, shift);
    store_stream<X, V>(y + i, rows::narrow<X>(p));
  }
}

// part[2 block] = (sum g, sum g (x - mean)) over the block's chunk.
template <typename X>
__global__ void __launch_bounds__(256)
    bn_grad_sums_kernel(int64_t N, int64_t C, int64_t S, int64_t splits, const X* x, const X* g,
                        const compute_t<X>* mean, double* part) {
  using T = compute_t<X>;
  __shared__ T red[64];
  const Chunk ch = chunk_of(N * S, splits);
  const T m = mean[ch.c];
  T sg = 0, sgd = 0;
  channel_visit(ch.lo, ch.hi, S, C, ch.c, [&](int64_t off) {
    const T gv = T(g[off]);
    sg += gv;
    sgd += gv * (T(x[off]) - m);
  });
  rows::group_sum2<true>(sg, sgd, red);
  if (threadIdx.x == 0) {
    part[2 * blockIdx.x] = double(sg);
    part[2 * blockIdx.x + 1] = double(sgd);
  }
}

// Per channel: gw, gb and coef = (k, c1, c2) for gx = k (g - c1 - (x - m) c2).
template <typename X>
__global__ void __launch_bounds__(256)
    bn_grad_finish_kernel(int64_t C, int64_t splits, compute_t<X> count, bool training, const double* part,
                          const X* w, const compute_t<X>* rstd, X* gw, X* gb, compute_t<X>* coef) {
  using T = compute_t<X>;
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < C; c += int64_t(gridDim.x) * blockDim.x) {
    double sg = 0, sgd = 0;
    if (part) {
      for (int64_t k = 0; k < splits; ++k) {
        sg += part[2 * (c * splits + k)];
        sgd += part[2 * (c * splits + k) + 1];
      }
    }
    const T s = rstd[c], sum_g = T(sg), sum_g_dx = T(sgd);
    if (gw) gw[c] = X(sum_g_dx * s);
    if (gb) gb[c] = X(sum_g);
    coef[3 * c] = (w ? T(w[c]) : T(1)) * s;
    coef[3 * c + 1] = training ? sum_g / count : T(0);
    coef[3 * c + 2] = training ? s * s * sum_g_dx / count : T(0);
  }
}

template <typename X, int V>
__global__ void __launch_bounds__(256)
    bn_apply_grad_kernel(int64_t total, int64_t C, int64_t S, const X* x, const X* g, const compute_t<X>* mean,
                         const compute_t<X>* coef, X* gx) {
  using T = compute_t<X>;
  for (int64_t v = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; v < total / V; v += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = v * V, c = (i / S) % C;
    const T m = mean[c], k = coef[3 * c], c1 = coef[3 * c + 1], c2 = coef[3 * c + 2];
    const Pack<X, V> px = load_last<X, V>(x + i), pg = load_last<X, V>(g + i);
    Pack<T, V> r;
#pragma unroll
    for (int j = 0; j < V; ++j) r.v[j] = k * (T(pg.v[j]) - c1 - (T(px.v[j]) - m) * c2);
    store_stream<X, V>(gx + i, rows::narrow<X>(r));
  }
}

constexpr unsigned kBnThreads = 256;

int64_t bn_splits(const BatchNormArgs& a, int device) {
  const int64_t per_channel = a.batch * a.spatial;
  const int64_t target = rows::sm_count(device) * 8;
  const int64_t by_blocks = (target + a.channels - 1) / a.channels;
  const int64_t by_size = (per_channel + 2047) / 2048;
  return std::max<int64_t>(1, std::min(by_blocks, by_size));
}

bool aligned16(const void* p) { return !p || (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// Calls f(Width<V>) for the elementwise passes over (batch, channels, spatial).
template <typename T, typename F>
void bn_elementwise(int64_t spatial, std::initializer_list<const void*> ptrs, F&& f) {
  bool vec = spatial % rows::kVec<T> == 0;
  for (const void* p : ptrs) vec = vec && aligned16(p);
  if (vec) f(rows::Width<rows::kVec<T>>{});
  else f(rows::Width<1>{});
}

template <typename X>
void batch_norm_forward(int device, const BatchNormArgs& a) {
  using T = compute_t<X>;
  const int64_t C = a.channels, total = a.batch * a.channels * a.spatial;
  const X* x = reinterpret_cast<const X*>(a.x);
  X* y = reinterpret_cast<X*>(a.y);
  const int64_t splits = bn_splits(a, device);
  Scratch part(a.training ? size_t(C * splits * 3) * sizeof(double) : 0, device);
  Scratch coef(size_t(2 * C) * sizeof(T), device);
  if (a.training && total > 0)
    launch("batch_norm", bn_stats_kernel<X>, dim3(unsigned(C * splits)), dim3(kBnThreads), 0, device, a.batch, C,
           a.spatial, splits, x, part.as<double>());
  launch("batch_norm", bn_finish_kernel<X>, grid_1d(C, 256), dim3(256), 0, device, C, splits, a.training,
         T(a.momentum), T(a.eps), static_cast<const double*>(part.as<double>()), reinterpret_cast<X*>(a.running_mean),
         reinterpret_cast<X*>(a.running_var), reinterpret_cast<const X*>(a.weight), reinterpret_cast<const X*>(a.bias),
         reinterpret_cast<T*>(a.mean), reinterpret_cast<T*>(a.rstd), coef.as<T>());
  bn_elementwise<X>(a.spatial, {x, y}, [&](auto width) {
    constexpr int V = decltype(width)::value;
    launch("batch_norm", bn_apply_kernel<X, V>, grid_1d(total / V, kBnThreads), dim3(kBnThreads), 0, device, total,
           C, a.spatial, x, static_cast<const T*>(reinterpret_cast<T*>(a.mean)),
           static_cast<const T*>(coef.as<T>()), y);
  });
}

template <typename X>
void batch_norm_backward(int device, const BatchNormArgs& a) {
  using T = compute_t<X>;
  const int64_t C = a.channels, total = a.batch * a.channels * a.spatial;
  const X* x = reinterpret_cast<const X*>(a.x);
  const X* g = reinterpret_cast<const X*>(a.g);
  X* gx = reinterpret_cast<X*>(a.gx);
  const bool sums = a.training || a.gw || a.gb;
  const int64_t splits = bn_splits(a, device);
  Scratch part(sums ? size_t(C * splits * 2) * sizeof(double) : 0, device);
  Scratch coef(size_t(3 * C) * sizeof(T), device);
  const T* mean = reinterpret_cast<const T*>(a.mean);
  if (sums && total > 0)
    launch("batch_norm_backward", bn_grad_sums_kernel<X>, dim3(unsigned(C * splits)), dim3(kBnThreads), 0, device,
           a.batch, C, a.spatial, splits, x, g, mean, part.as<double>());
  launch("batch_norm_backward", bn_grad_finish_kernel<X>, grid_1d(C, 256), dim3(256), 0, device, C, splits,
         T(a.batch * a.spatial), a.training,
         sums && total > 0 ? static_cast<const double*>(part.as<double>()) : static_cast<const double*>(nullptr),
         reinterpret_cast<const X*>(a.weight), reinterpret_cast<const T*>(a.rstd), reinterpret_cast<X*>(a.gw),
         reinterpret_cast<X*>(a.gb), coef.as<T>());
  bn_elementwise<X>(a.spatial, {x, g, gx}, [&](auto width) {
    constexpr int V = decltype(width)::value;
    launch("batch_norm_backward", bn_apply_grad_kernel<X, V>, grid_1d(total / V, kBnThreads), dim3(kBnThreads), 0,
           device, total, C, a.spatial, x, g, mean, static_cast<const T*>(coef.as<T>()), gx);
  });
}

}  // namespace

// float16 and bfloat16 come here unwidened (ops/norm.cpp widens only on the CPU), with float32
// mean and rstd.
template <typename S>
void row_norm_typed(int device, const RowNormArgs& a) {
  if (a.g) row_norm_backward<S>(device, a);
  else row_norm_forward<S>(device, a);
}

void row_norm(int device, const RowNormArgs& a) {
  switch (a.dtype) {
    case DType::float32: return row_norm_typed<float>(device, a);
    case DType::float64: return row_norm_typed<double>(device, a);
    case DType::float16: return row_norm_typed<Half>(device, a);
    case DType::bfloat16: return row_norm_typed<BFloat16>(device, a);
    default: unsupported_dtype("row_norm", a.dtype);
  }
}

template <typename X>
void batch_norm_typed(int device, const BatchNormArgs& a) {
  if (a.g) batch_norm_backward<X>(device, a);
  else batch_norm_forward<X>(device, a);
}

void batch_norm(int device, const BatchNormArgs& a) {
  switch (a.dtype) {
    case DType::float32: return batch_norm_typed<float>(device, a);
    case DType::float64: return batch_norm_typed<double>(device, a);
    case DType::float16: return batch_norm_typed<Half>(device, a);
    case DType::bfloat16: return batch_norm_typed<BFloat16>(device, a);
    default: unsupported_dtype("batch_norm", a.dtype);
  }
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
