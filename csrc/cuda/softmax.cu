// CUDA softmax family: softmax and log_softmax (forward and backward) over contiguous rows, and
// the fused class-index losses (cross_entropy from logits, nll_loss) with their backward; the
// same arguments and results as csrc/cpu/softmax.cpp.
//
// Design (llm.c's softmax and classifier kernels): a warp per row for rows of <= 1024 elements
// (8 rows per 256-thread block), a block per row above. Rows are read with 128-bit loads (a
// scalar head up to the first 16-byte boundary, so odd lengths such as 50257 classes
// vectorize too), in chunks: each thread issues the loads of several vectors before using
// the first (rows::load_chunk), which is what keeps enough bytes in flight for HBM. The
// statistics are the online max and sum (m, s: when the max grows, s is rescaled by
// e^(m_old - m_new), once per chunk), merged across lanes and warps the same way.
// Forward keeps the row in registers between the statistics and the write when 8 vectors
// per thread cover it (warp rows; block rows up to 512 threads, 16384 floats), so HBM sees
// one read and one write (streaming stores, __stcs); longer rows are read twice. Backward:
// one pass for the row's dot(g, y) or sum(g), one pass writing gx. Cross entropy: one online
// pass gives the loss and (max, log-sum) per row; label smoothing adds a pass for
// sum w_c (m - x_c). Its backward recomputes p = e^(x - m - lse) from those statistics in one
// read of x and one write of dlogits; the probabilities are never stored. exp and log are the
// accurate expf/logf, not the __expf intrinsics: (x - m) can be 1e4 and the tests compare
// with torch at 2e-6.
// float16/bfloat16 (S, the storage type) run natively, the math in float32 (T = compute_t<S>):
// rows are read as 16-byte packs of 8 (the same head/vectors/tail split) and every element is
// widened where it is used, results rounded to nearest even on the way out; the online max
// and sum, the reductions and the loss statistics stay float32 (stats is float32 for 16-bit
// logits; loss and row_weight are in the logits' dtype). Register budget: the packs stay in
// storage form until used, but ptxas gives each unpacked 16-bit value a register of its own,
// so a pack of 8 halves costs 8 registers loaded and 8 more widened (float's pack: 4): kChunk
// is 4 packs (32 elements, float's 64 bytes in flight) in the forward streams, kBackChunk 2
// in the backward passes (two operands widened), and kCachedChunk 4 (a warp keeps rows up to
// 1024 halves, a block of 512 up to 16384, 64 bytes loaded per thread; bfloat16 warp rows
// then run two blocks per SM instead of three); each 16-bit pack is written as soon as it is
// done. Checked with -Xptxas -warn-spills on sm_80 and sm_90: no spills. The float32/float64
// instantiations compile to the same PTX as before.
// H100 (`python -m bench.cuda`, bytes at 2 per element): softmax bf16 8192x4096 2.13 TB/s (71% of
// the copy bandwidth, 1.73x torch bf16). Same run, float32: softmax 8192x4096 2.76 TB/s (92%,
// 1.20x), cross_entropy 4096x50257 2.58 TB/s (86%, 3.35x; 76% before the target check overlapped).
//
// Out-of-range targets are found by a small kernel queued before the loss kernel; the host
// reads its flag back (one short wait per forward, overlapping the loss kernel), so the error
// is the CPU's IndexError rather than a device assert, and the GPU is not left idle.
//
// Figures (`python -m bench.cuda`, bytes = read + write once, % of a device copy in the same
// run, torch 2.11 beside). H200: softmax 32768x1024 3.84 TB/s (90%, 1.01x torch), 8192x4096
// 3.79 TB/s (89%, 1.59x), 1024x32768 3.21 TB/s (75%, 1.33x; 66% when those rows were kept in
// registers by 1024 threads); log_softmax 4096x4096 3.57 TB/s (84%, 1.37x); cross_entropy
// 4096x50257 forward (logits read once) 3.22 TB/s (76%, 3.06x torch). H100, before the target
// check overlapped the loss kernel: softmax 94% / 94% / 84%, log_softmax 90%, cross_entropy
// 2.28 TB/s (76%, 2.96x); one-vector-at-a-time loads had given 90% / 83% / 70%, 79%, 71%.
#include <cmath>

#include "cuda/launch.cuh"
#include "cuda/rows.cuh"
#include "cuda/softmax.h"

namespace fibril::cuda::FIBRIL_CUDA_NS {
namespace {

using cpu::ClassLossArgs;
using cpu::SoftmaxArgs;
using cpu::SoftmaxKind;
using rows::load;
using rows::load_last;
using rows::Pack;
using rows::store_stream;
using rows::dispatch;
using rows::row_group;
using rows::RowGroup;
using rows::shape;
using rows::Span;
using rows::load_chunk;
using rows::store_chunk;

// Vectors in flight per thread in the passes that stream a row (float64's accurate exp needs
// the registers); 16-bit rows keep float's 64 bytes in flight (4 packs of 8).
template <typename S>
constexpr int kChunk = sizeof(S) == 8 ? 1 : 4;
// The backward passes widen two operands per pack: 16-bit rows take 2 packs of 8 there, the
// registers of float's 4 packs of 4 (still 32 bytes per operand in flight per thread, 64 KiB
// per SM with two blocks of 512).
template <typename S>
constexpr int kBackChunk = sizeof(S) == 2 ? 2 : kChunk<S>;

// Block rows: at most 512 threads, two blocks per SM for float and the 16-bit types (64
// registers), one for float64 (its accurate exp needs 128).
constexpr int kMaxBlock = 512;
template <typename S>
constexpr int kBlocksPerSm = sizeof(S) == 8 ? 1 : 2;

// Warp rows: three blocks of 256 per SM (80 registers); a bfloat16 row kept in registers
// takes two (128 registers: its widening is a plain shift, which the compiler hoists for the
// whole chunk, and at 80 registers that spilled 28 bytes; still 32 KiB per SM in flight).
// float16 (an opaque cvt per element) fits in 80.
template <typename S, bool kCached>
constexpr int kWarpBlocksPerSm = kCached && std::is_same_v<S, BFloat16> ? 2 : 3;

// Folds the packs into the online max m and sum s of e^(x - m); -inf (the chunk fill) adds
// nothing. One rescale per chunk: the chunk's maximum first, then its exponentials.
template <typename S, int V, int U>
__device__ __forceinline__ void add_to_max_sum(const Pack<S, V> (&p)[U], compute_t<S>& m, compute_t<S>& s) {
  using T = compute_t<S>;
  T top = rows::minus_inf<T>();
#pragma unroll
  for (int u = 0; u < U; ++u)
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const T v = T(p[u].v[j]);
      top = v > top ? v : top;
    }
  if (top > m) {
    s = s * rows::exp_(m - top);
    m = top;
  }
  if (m > rows::minus_inf<T>()) {
#pragma unroll
    for (int u = 0; u < U; ++u)
#pragma unroll
      for (int j = 0; j < V; ++j) s += rows::exp_(T(p[u].v[j]) - m);
  }
}

template <typename S, int V>
__device__ __forceinline__ void add_scalars_to_max_sum(const S* xr, const Span& sp, int tid, int count,
                                                       compute_t<S>& m, compute_t<S>& s) {
  rows::visit_scalars<V>(sp, tid, count, [&](int64_t i) {
    const Pack<S, 1> q[1] = {{{xr[i]}}};
    add_to_max_sum(q, m, s);
  });
}

// Online max and sum over this thread's part of the row, U vectors in flight at a time.
template <typename S, int V, int U>
__device__ __forceinline__ void row_max_sum(const S* xr, const Span& sp, int tid, int count, compute_t<S>& m,
                                            compute_t<S>& s) {
  using T = compute_t<S>;
  m = rows::minus_inf<T>();
  s = T(0);
  add_scalars_to_max_sum<S, V>(xr, sp, tid, count, m, s);
  for (int64_t k0 = tid; k0 < sp.vectors; k0 += int64_t(U) * count) {
    Pack<S, V> p[U];
    load_chunk<S, V, U>(p, xr, sp, k0, count, rows::minus_inf<T>());
    add_to_max_sum(p, m, s);
  }
}

// Softmax or log-softmax of rows. kCached: the row's vectors fit in one chunk per thread
// (vectors <= U * count), which stays in registers from the statistics to the write, so the
// row is read from memory once; else a second read (usually from L2). 16-bit rows are kept
// as loaded (8 halves in 4 registers) and widened at each use.
template <typename S, int V, int U, bool kBlock, bool kCached, bool kLog>
__global__ void __launch_bounds__(kBlock ? kMaxBlock : 256, kBlock ? kBlocksPerSm<S> : kWarpBlocksPerSm<S, kCached>)
    softmax_forward_kernel(int64_t nrows, int64_t n, const S* x, S* out) {
  using T = compute_t<S>;
  __shared__ T red[64];
  const RowGroup grp = row_group<kBlock>();
  for (int64_t row = grp.row; row < nrows; row += grp.step) {
    const S* xr = x + row * n;
    S* o = out + row * n;
    const Span sp = rows::span<S, V>(xr, n);
    T m, s;
    Pack<S, V> p[U];
    if constexpr (kCached) {
      m = rows::minus_inf<T>();
      s = T(0);
      add_scalars_to_max_sum<S, V>(xr, sp, grp.tid, grp.count, m, s);
      load_chunk<S, V, U>(p, xr, sp, grp.tid, grp.count, rows::minus_inf<T>());
      add_to_max_sum(p, m, s);
    } else {
      row_max_sum<S, V, U>(xr, sp, grp.tid, grp.count, m, s);
    }
    rows::group_max_sum<kBlock>(m, s, red);
    const T inv = T(1) / s, lse = rows::log_(s);
    const auto value = [&](T v) { return S(kLog ? (v - m) - lse : rows::exp_(v - m) * inv); };
    rows::visit_scalars<V>(sp, grp.tid, grp.count, [&](int64_t i) { o[i] = value(T(xr[i])); });
    for (int64_t k0 = grp.tid; k0 < sp.vectors; k0 += int64_t(U) * grp.count) {
      if constexpr (!kCached) load_chunk<S, V, U, true>(p, xr, sp, k0, grp.count, T(0));
      if constexpr (is_half_v<S>) {  // each pack out as soon as it is done: fewer 16-bit values live
#pragma unroll
        for (int u = 0; u < U; ++u) {
#pragma unroll
          for (int j = 0; j < V; ++j) p[u].v[j] = value(T(p[u].v[j]));
          const int64_t k = k0 + int64_t(u) * grp.count;
          if (k < sp.vectors) rows::store_stream<S, V>(o + sp.head + k * V, p[u]);
        }
      } else {
#pragma unroll
        for (int u = 0; u < U; ++u)
#pragma unroll
          for (int j = 0; j < V; ++j) p[u].v[j] = value(T(p[u].v[j]));
        store_chunk<S, V, U>(o, p, sp, k0, grp.count);
      }
      if constexpr (kCached) break;
    }
  }
}

// softmax: gx = y (g - sum(g y)); log_softmax: gx = g - e^y sum(g). Two passes of U vectors
// in flight; the second reads g and y again (from L2 for rows up to a few MiB in flight).
template <typename S, int V, int U, bool kBlock, bool kLog>
__global__ void __launch_bounds__(kBlock ? kMaxBlock : 256, kBlock ? kBlocksPerSm<S> : 3)
    softmax_backward_kernel(int64_t nrows, int64_t n, const S* y, const S* g, S* out) {
  using T = compute_t<S>;
  __shared__ T red[64];
  const RowGroup grp = row_group<kBlock>();
  for (int64_t row = grp.row; row < nrows; row += grp.step) {
    const S* yr = y + row * n;
    const S* gr = g + row * n;
    S* o = out + row * n;
    const Span sp = rows::span<S, V>(yr, n);
    T acc = 0;
    rows::visit_scalars<V>(sp, grp.tid, grp.count,
                           [&](int64_t i) { acc += kLog ? T(gr[i]) : T(gr[i]) * T(yr[i]); });
    for (int64_t k0 = grp.tid; k0 < sp.vectors; k0 += int64_t(U) * grp.count) {
      Pack<S, V> pg[U], py[U];
      load_chunk<S, V, U>(pg, gr, sp, k0, grp.count, T(0));
      if constexpr (!kLog) load_chunk<S, V, U>(py, yr, sp, k0, grp.count, T(0));
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int j = 0; j < V; ++j) acc += kLog ? T(pg[u].v[j]) : T(pg[u].v[j]) * T(py[u].v[j]);
    }
    acc = rows::group_sum<kBlock>(acc, red);
    const auto grad = [&](T gv, T yv) { return S(kLog ? gv - rows::exp_(yv) * acc : yv * (gv - acc)); };
    rows::visit_scalars<V>(sp, grp.tid, grp.count, [&](int64_t i) { o[i] = grad(T(gr[i]), T(yr[i])); });
    for (int64_t k0 = grp.tid; k0 < sp.vectors; k0 += int64_t(U) * grp.count) {
      Pack<S, V> pg[U], py[U];
      load_chunk<S, V, U, true>(pg, gr, sp, k0, grp.count, T(0));
      load_chunk<S, V, U, true>(py, yr, sp, k0, grp.count, T(0));
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int j = 0; j < V; ++j) pg[u].v[j] = grad(T(pg[u].v[j]), T(py[u].v[j]));
      store_chunk<S, V, U>(o, pg, sp, k0, grp.count);
    }
  }
}

struct LossParams {
  int64_t ignore_index;
  double smoothing;
  bool logits;
};

// bad[0] = 1 when a target is neither ignore_index nor in [0, n).
__global__ void __launch_bounds__(256) target_check_kernel(int64_t nrows, int64_t n, const int64_t* target,
                                                           int64_t ignore_index, int* bad) {
  for (int64_t row = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; row < nrows;
       row += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = target[row];
    if (t != ignore_index && (t < 0 || t >= n)) *bad = 1;
  }
}

// Out-of-range targets (target_check_kernel has flagged them) count as ignored here. x, w,
// loss and row_weight are of the storage type S, the statistics of the compute type.
template <typename S, int V, bool kBlock>
__global__ void __launch_bounds__(kBlock ? 512 : 256, kBlock ? (sizeof(S) == 8 ? 1 : 2) : 3)
    class_loss_kernel(int64_t nrows, int64_t n, const S* x, const int64_t* target, const S* w, LossParams lp,
                      S* loss, S* row_weight, compute_t<S>* stats) {
  using T = compute_t<S>;
  __shared__ T red[64];
  const RowGroup grp = row_group<kBlock>();
  const T sm = T(lp.smoothing);
  for (int64_t row = grp.row; row < nrows; row += grp.step) {
    const int64_t t = target[row];
    const bool first = grp.tid == 0;
    if (t == lp.ignore_index || t < 0 || t >= n) {
      if (first) {
        loss[row] = row_weight[row] = S(T(0));
        if (lp.logits) stats[2 * row] = stats[2 * row + 1] = T(0);
      }
      continue;
    }
    const S* xr = x + row * n;
    const T wt = w ? T(w[t]) : T(1);
    if (!lp.logits) {
      if (first) {
        loss[row] = S(-wt * T(xr[t]));
        row_weight[row] = S(wt);
      }
      continue;
    }
    T m, s;
    row_max_sum<S, V, kChunk<S>>(xr, rows::span<S, V>(xr, n), grp.tid, grp.count, m, s);
    rows::group_max_sum<kBlock>(m, s, red);
    const T lse = rows::log_(s);
    T l = (1 - sm) * wt * ((m - T(xr[t])) + lse);
    if (sm != T(0)) {
      // sum_c w_c ((m - x_c) + lse) = sum_c w_c (m - x_c) + lse sum_c w_c
      T dev = 0, wsum = 0;
      rows::visit<S, V>(xr, n, grp.tid, grp.count, [&](int64_t i, auto width) {
        constexpr int K = decltype(width)::value;
        const Pack<S, K> p = load<S, K>(xr + i);
        if (w) {
          const Pack<S, K> pw = load<S, K>(w + i);
#pragma unroll
          for (int j = 0; j < K; ++j) {
            dev += T(pw.v[j]) * (m - T(p.v[j]));
            wsum += T(pw.v[j]);
          }
        } else {
#pragma unroll
          for (int j = 0; j < K; ++j) dev += m - T(p.v[j]);
        }
      });
      rows::group_sum2<kBlock>(dev, wsum, red);
      if (!w) wsum = T(n);
      l += sm / T(n) * (dev + lse * wsum);
    }
    if (first) {
      loss[row] = S(l);
      row_weight[row] = S(wt);
      stats[2 * row] = m;
      stats[2 * row + 1] = lse;
    }
  }
}

// total[0] = sum of w[0, n), in a fixed order (one block).
template <typename S>
__global__ void __launch_bounds__(256) weight_total_kernel(int64_t n, const S* w, compute_t<S>* total) {
  using T = compute_t<S>;
  __shared__ T red[64];
  T acc = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += T(w[i]);
  acc = rows::group_sum<true>(acc, red);
  if (threadIdx.x == 0) total[0] = acc;
}

// d/dx_j = g (p_j ((1 - s) w_t + s W / n) - (1 - s) w_t [j == t] - (s / n) w_j); nll: -g w_t [j == t].
template <typename S, int V, bool kBlock>
__global__ void __launch_bounds__(kBlock ? 512 : 256, kBlock ? (sizeof(S) == 8 ? 1 : 2) : 3)
    class_loss_backward_kernel(int64_t nrows, int64_t n, const S* x, const int64_t* target, const S* w,
                               const compute_t<S>* w_total, LossParams lp, const compute_t<S>* stats, const S* g,
                               int64_t g_stride, S* gx) {
  using T = compute_t<S>;
  const RowGroup grp = row_group<kBlock>();
  const T sm = T(lp.smoothing);
  for (int64_t row = grp.row; row < nrows; row += grp.step) {
    const int64_t t = target[row];
    const T gr = T(g[row * g_stride]);
    S* o = gx + row * n;
    const bool zero = t == lp.ignore_index || t < 0 || t >= n || gr == T(0);
    if (zero || !lp.logits) {
      const T at_t = zero ? T(0) : -gr * (w ? T(w[t]) : T(1));
      rows::visit<S, V>(o, n, grp.tid, grp.count, [&](int64_t i, auto width) {
        constexpr int K = decltype(width)::value;
        Pack<S, K> r;
#pragma unroll
        for (int j = 0; j < K; ++j) r.v[j] = S(i + j == t ? at_t : T(0));
        store_stream<S, K>(o + i, r);
      });
      continue;
    }
    const S* xr = x + row * n;
    const T wt = w ? T(w[t]) : T(1);
    const T total = w ? (sm != T(0) ? w_total[0] : T(0)) : T(n);
    const T p_scale = gr * ((1 - sm) * wt + sm * total / T(n));
    const T k = gr * sm / T(n);
    const T at_t = gr * (1 - sm) * wt;
    const T m = stats[2 * row], lse = stats[2 * row + 1];
    const auto grad = [&](T v, int64_t i) {
      T r = rows::exp_((v - m) - lse) * p_scale;
      if (sm != T(0)) r -= w ? k * T(w[i]) : k;
      return S(i == t ? r - at_t : r);
    };
    const Span sp = rows::span<S, V>(xr, n);
    rows::visit_scalars<V>(sp, grp.tid, grp.count, [&](int64_t i) { o[i] = grad(T(xr[i]), i); });
    for (int64_t k0 = grp.tid; k0 < sp.vectors; k0 += int64_t(kBackChunk<S>) * grp.count) {
      Pack<S, V> p[kBackChunk<S>];
      load_chunk<S, V, kBackChunk<S>, true>(p, xr, sp, k0, grp.count, T(0));
#pragma unroll
      for (int u = 0; u < kBackChunk<S>; ++u)
#pragma unroll
        for (int j = 0; j < V; ++j)
          p[u].v[j] = grad(T(p[u].v[j]), sp.head + (k0 + int64_t(u) * grp.count) * V + j);
      store_chunk<S, V, kBackChunk<S>>(o, p, sp, k0, grp.count);
    }
  }
}

// Forward: a row's vectors stay in registers (one read) when a chunk of kCachedChunk per
// thread covers them: warp rows always with 128-bit loads, block rows up to kMaxBlock
// threads (16384 floats, 2048 doubles, 32768 halves: 16-bit packs stay packed, so 8 of them
// take float's 32 registers); longer rows stream twice, kChunk at a time. (1024 threads
// caching 32768 floats ran slower on an H200, 66% of HBM against 75% streamed: one block per
// SM cannot overlap one row's write with the next row's read.)
template <typename S>
constexpr int kCachedChunk = sizeof(S) == 8 ? 2 : (sizeof(S) == 2 ? 4 : 8);

template <typename S, int V, bool kBlock, bool kLog>
void softmax_forward(int device, int64_t nrows, int64_t n, const S* x, S* out) {
  constexpr int C = kCachedChunk<S>;
  const int64_t vectors = (n + V - 1) / V;
  dim3 grid, block;
  shape<kBlock>(nrows, n, V, grid, block);
  if (kBlock && vectors <= int64_t(C) * kMaxBlock) {
    const int64_t warps = (vectors + C * 32 - 1) / (C * 32);
    block = dim3(unsigned(warps < 4 ? 128 : warps * 32));
  }
  if (vectors <= int64_t(C) * (kBlock ? block.x : 32))
    launch("softmax", softmax_forward_kernel<S, V, C, kBlock, true, kLog>, grid, block, 0, device, nrows, n, x, out);
  else
    launch("softmax", softmax_forward_kernel<S, V, kChunk<S>, kBlock, false, kLog>, grid, block, 0, device, nrows, n,
           x, out);
}

template <typename S>
void softmax_typed(int device, const SoftmaxArgs& a) {
  const S* x = reinterpret_cast<const S*>(a.x);
  const S* g = reinterpret_cast<const S*>(a.g);
  S* out = reinterpret_cast<S*>(a.out);
  const bool log = a.kind == SoftmaxKind::log_softmax || a.kind == SoftmaxKind::log_softmax_backward;
  const bool backward = a.kind == SoftmaxKind::softmax_backward || a.kind == SoftmaxKind::log_softmax_backward;
  dispatch<S>(a.n, {x, backward ? g : nullptr, out}, {}, [&](auto width, auto blk) {
    constexpr int V = decltype(width)::value;
    constexpr bool B = decltype(blk)::value;
    if (!backward) {
      if (log) softmax_forward<S, V, B, true>(device, a.rows, a.n, x, out);
      else softmax_forward<S, V, B, false>(device, a.rows, a.n, x, out);
      return;
    }
    dim3 grid, block;
    shape<B>(a.rows, a.n, V, grid, block);
    if (log)
      launch("softmax", softmax_backward_kernel<S, V, kBackChunk<S>, B, true>, grid, block, 0, device, a.rows, a.n,
             x, g, out);
    else
      launch("softmax", softmax_backward_kernel<S, V, kBackChunk<S>, B, false>, grid, block, 0, device, a.rows, a.n,
             x, g, out);
  });
}

// The targets are checked first, by a small kernel whose flag the host reads back while the
// loss kernel is already queued behind it: the one wait per call ends as soon as the check
// is done, and the GPU streams the logits meanwhile (out-of-range rows count as ignored).
template <typename S>
bool class_loss_typed(int device, const ClassLossArgs& a) {
  using T = compute_t<S>;
  const S* x = reinterpret_cast<const S*>(a.x);
  const S* w = reinterpret_cast<const S*>(a.weight);
  const LossParams lp{a.ignore_index, a.smoothing, a.logits};
  Scratch flag(sizeof(int), device);
  ::fibril::cuda::FIBRIL_CUDA_NS::fill(flag.as<int>(), DType::int32, 1, 0.0, device);
  launch("class_loss", target_check_kernel, grid_1d(a.rows, 256), 256, 0, device, a.rows, a.n, a.target,
         a.ignore_index, flag.as<int>());
  const auto queue_loss = [&] {
    dispatch<S>(a.n, {x}, {a.smoothing != 0 ? w : nullptr}, [&](auto width, auto blk) {
      constexpr int V = decltype(width)::value;
      constexpr bool B = decltype(blk)::value;
      dim3 grid, block;
      shape<B>(a.rows, a.n, V, grid, block);
      launch("class_loss", class_loss_kernel<S, V, B>, grid, block, 0, device, a.rows, a.n, x, a.target, w, lp,
             reinterpret_cast<S*>(a.loss), reinterpret_cast<S*>(a.row_weight), reinterpret_cast<T*>(a.stats));
    });
  };
  return ::fibril::cuda::FIBRIL_CUDA_NS::read_int_then(flag.as<int>(), device, queue_loss) == 0;
}

template <typename S>
void class_loss_backward_typed(int device, const ClassLossArgs& a) {
  using T = compute_t<S>;
  const S* x = reinterpret_cast<const S*>(a.x);
  const S* w = reinterpret_cast<const S*>(a.weight);
  S* gx = reinterpret_cast<S*>(a.gx);
  const LossParams lp{a.ignore_index, a.smoothing, a.logits};
  Scratch total(sizeof(T), device);
  if (w && a.smoothing != 0)
    launch("class_loss_backward", weight_total_kernel<S>, dim3(1), dim3(256), 0, device, a.n, w, total.as<T>());
  dispatch<S>(a.n, {x, gx}, {a.smoothing != 0 ? w : nullptr}, [&](auto width, auto blk) {
    constexpr int V = decltype(width)::value;
    constexpr bool B = decltype(blk)::value;
    dim3 grid, block;
    shape<B>(a.rows, a.n, V, grid, block);
    launch("class_loss_backward", class_loss_backward_kernel<S, V, B>, grid, block, 0, device, a.rows, a.n, x,
           a.target, w, static_cast<const T*>(total.as<T>()), lp, reinterpret_cast<const T*>(a.stats),
           reinterpret_cast<const S*>(a.g), a.g_stride, gx);
  });
}

}  // namespace

// float16 and bfloat16 come here unwidened (ops/softmax.cpp widens only on the CPU); their
// class-loss statistics are float32.
void softmax(int device, const SoftmaxArgs& a) {
  switch (a.dtype) {
    case DType::float32: return softmax_typed<float>(device, a);
    case DType::float64: return softmax_typed<double>(device, a);
    case DType::float16: return softmax_typed<Half>(device, a);
    case DType::bfloat16: return softmax_typed<BFloat16>(device, a);
    default: unsupported_dtype("softmax", a.dtype);
  }
}

bool class_loss(int device, const ClassLossArgs& a) {
  switch (a.dtype) {
    case DType::float32: return class_loss_typed<float>(device, a);
    case DType::float64: return class_loss_typed<double>(device, a);
    case DType::float16: return class_loss_typed<Half>(device, a);
    case DType::bfloat16: return class_loss_typed<BFloat16>(device, a);
    default: unsupported_dtype("class_loss", a.dtype);
  }
}

void class_loss_backward(int device, const ClassLossArgs& a) {
  switch (a.dtype) {
    case DType::float32: return class_loss_backward_typed<float>(device, a);
    case DType::float64: return class_loss_backward_typed<double>(device, a);
    case DType::float16: return class_loss_backward_typed<Half>(device, a);
    case DType::bfloat16: return class_loss_backward_typed<BFloat16>(device, a);
    default: unsupported_dtype("class_loss_backward", a.dtype);
  }
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
