// CUDA scaled dot-product attention, FlashAttention-2 style, SIMT FMA (float32 storage and
// accumulation; float64 through the same templates). The (Tq x Tk) score matrix is never formed.
// float16/bfloat16 run on the tensor cores (attention_tc.cu) where that kernel takes the call,
// else here on widened copies.
//
// Forward: one block of 128 threads (4 warps) per (problem, tile of BQ queries), blocks of a
// causal problem's last (costliest) query tiles first. The Q tile, pre-scaled by scale*log2(e),
// sits in shared memory; K and V tiles of BK keys stream through shared memory. Warps split the
// queries (FA2: no cross-warp reduction): a warp owns 4*RM query rows, its lane (rg, cg) = (lane/8,
// lane%8) the RM rows rg*RM.. and the CN keys cg, cg+8, ... of each tile, so S = Q K^T is a
// register tile of RM x CN accumulators fed by 128-bit shared loads (Q rows broadcast within a
// quarter warp; K rows cg+8e of stride D+4 hit distinct banks). Online softmax in base 2: row
// maxima reduced over the 8 lanes of a row group by shuffles, O (RM x D/8 registers per lane,
// columns cg*4+32c) rescaled by alpha = 2^(m_old - m_new); the row sums stay per lane until the
// end. P goes through the warp's own rows of shared memory (a __syncwarp, no block barrier) into
// O += P V. O is scaled by 1/l once at the end; the log-sum-exp (natural log) is saved, +inf for a
// row whose keys are all masked (its output is 0, as the CPU kernel). Causal tiles wholly above the
// diagonal are never loaded; only tiles that cross it (or the sequence end, or an explicit mask)
// evaluate masks.
//
// Backward: D = rowsum(dO o O) and the lse in base 2 first (one warp per row). Then one block per
// (problem, tile of BK keys), warps split over keys: K and V stay in shared memory, dK and dV in
// registers; for each query tile (causal: from the diagonal on), S^T and dP^T = V dO^T are
// recomputed as register tiles, P^T = 2^(S^T - lse), dS^T = P^T (dP^T - D) scale; P^T and dS^T go
// to shared memory for dV += P^T dO and dK += dS^T Q (own rows), then, after a block barrier, the
// block's dQ contribution dS K (lanes over queries) is added to gq with atomics (float4 vector
// atomics on sm_90).
//
// Dropout keeps element (b, i, j) when Philox word e = (b Tq + i) Tk + j of (seed, offset, stream 0)
// is below (1 - p) 2^32, as the CPU kernel, so CPU and CUDA drop the same elements.
//
// Head dims: max(D, Dv) is padded to 64, 128 or 256 (float32; float64 forward 64 or 128, backward
// 128), the register tiles sized for it; any Tq, Tk (tiles at the ends are padded and masked).
// Operands need contiguous rows only (any row and batch/head strides); 128-bit global loads when
// rows and bases are 16-byte aligned, scalar loads otherwise. Shared memory per block: 68 KiB
// (float32, D <= 64, forward) to 171 KiB (D 256): sized for sm_80/sm_90's opt-in shared memory;
// on sm_75/86/89 (64/99 KiB) the larger configurations fail to launch with a RuntimeError.
//
// H100 figures (bench/cuda_attention_optim.py, float32, vs torch SDPA float32 in the same run):
//   B8 H16 D64: T1024 fwd 0.75x (24.5 TFLOP/s), fwd+bwd 0.69x; causal fwd 0.96x, fwd+bwd 0.87x;
//   T4096 fwd 0.80x, fwd+bwd 0.72x; causal fwd 0.87x (28.9 TFLOP/s), fwd+bwd 0.77x.
//   D128 (B4 H16 T1024): fwd 0.29x, causal 0.35x: the D128 tiles need retuning.
#include <cmath>
#include <limits>

#include "cuda/attention.cuh"
#include "cuda/launch.cuh"
#include "cuda/math.cuh"
#include "cuda/vec4.cuh"

namespace fibril::cuda::FIBRIL_CUDA_NS {
namespace {

constexpr int kThreads = 128;
constexpr double kLog2e = 1.4426950408889634;

struct Params : AttentionCommon {
  const void* lse2;   // backward: lse in base 2, per (problem, query)
  const void* delta;  // backward: rowsum(dO o O)
  void* gq;
  bool vec_q, vec_k, vec_v, vec_g;
};

template <typename T>
struct Tile {
  static constexpr T kInf = std::numeric_limits<T>::infinity();
};

// rows x kD tile (row stride ld) <- rows r0.. of src (row stride rs, `cols` valid columns),
// times mul; zeros past n_rows and cols. vec: rows and base 16-byte aligned, cols % 4 == 0.
template <typename T, int kD>
__device__ __forceinline__ void load_tile(T* dst, int ld, int rows, const T* src, int64_t rs, int64_t n_rows,
                                          int64_t cols, bool vec, T mul) {
  constexpr int kC4 = kD / 4;
  for (int idx = threadIdx.x; idx < rows * kC4; idx += kThreads) {
    const int r = idx / kC4, c = (idx % kC4) * 4;
    T x[4] = {T(0), T(0), T(0), T(0)};
    if (r < n_rows && c < cols) {
      const T* p = src + r * rs + c;
      if (vec) {
        ld4(p, x);
      } else {
#pragma unroll
        for (int e = 0; e < 4; ++e) x[e] = c + e < cols ? p[e] : T(0);
      }
#pragma unroll
      for (int e = 0; e < 4; ++e) x[e] *= mul;
    }
    st4(dst + r * ld + c, x);
  }
}

// acc[i][e] = sum over d < depth of a[row0 + i][d] * b[cg + 8e][d], a and b shared tiles of
// row pitch LD, depth a multiple of 4: the register-tile products S = Q K^T (forward), S^T =
// K Q^T and dP^T = V dO^T (backward).
template <int LD, typename T, int RM, int CN>
__device__ __forceinline__ void tile_products(T (&acc)[RM][CN], const T* a, const T* b, int row0, int cg,
                                              int64_t depth) {
#pragma unroll
  for (int i = 0; i < RM; ++i)
#pragma unroll
    for (int e = 0; e < CN; ++e) acc[i][e] = T(0);
  for (int64_t d = 0; d < depth; d += 4) {
    T av[RM][4];
#pragma unroll
    for (int i = 0; i < RM; ++i) ld4(a + (row0 + i) * LD + d, av[i]);
#pragma unroll
    for (int e = 0; e < CN; ++e) {
      T bv[4];
      ld4(b + (cg + 8 * e) * LD + d, bv);
#pragma unroll
      for (int i = 0; i < RM; ++i)
#pragma unroll
        for (int x = 0; x < 4; ++x) acc[i][e] = fma(av[i][x], bv[x], acc[i][e]);
    }
  }
}

__device__ __forceinline__ bool keep(const Params& p, int64_t b, int64_t i, int64_t j) {
  return dropout_keeps(p.seed, p.offset, p.keep_below, p.tq, p.tk, b, i, j);
}

// The masks on a score s (base 2 units) of query i, key j of problem b (mask offset mo).
template <typename T>
__device__ __forceinline__ T masked(const Params& p, T s, int64_t i, int64_t j, int64_t mo) {
  if (j >= p.tk || (p.causal && j > i)) return -Tile<T>::kInf;
  if (p.mask_kind != 0 && i < p.tq) {
    const int64_t at = mo + i * p.mask_rs + j * p.mask_cs;
    if (p.mask_kind == 1) return static_cast<const uint8_t*>(p.mask)[at] ? s : -Tile<T>::kInf;
    return s + static_cast<const T*>(p.mask)[at] * T(kLog2e);
  }
  return s;
}

// ------------------------------------------------------------------------------- forward
// RM query rows x CN keys per lane: BQ = 16 RM queries, BK = 8 CN keys per tile.
template <typename T, int kD, int RM, int CN>
struct Fwd {
  static constexpr int BQ = 16 * RM, BK = 8 * CN, LD = kD + 4, LDP = BK + 4, CD = kD / 32;
  static constexpr size_t smem = sizeof(T) * (size_t(BQ) * LD + 2 * size_t(BK) * LD + size_t(BQ) * LDP);
};

template <typename T, int kD, int RM, int CN>
__global__ void __launch_bounds__(kThreads) attention_forward(Params p) {
  using F = Fwd<T, kD, RM, CN>;
  constexpr int BQ = F::BQ, BK = F::BK, LD = F::LD, LDP = F::LDP, CD = F::CD;
  FIBRIL_DYNAMIC_SHARED(T, smem);
  T* qs = smem;
  T* ks = qs + BQ * LD;
  T* vs = ks + BK * LD;
  T* ps = vs + BK * LD;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, rg = lane >> 3, cg = lane & 7;
  const int row0 = warp * 4 * RM + rg * RM;
  const int64_t b = blockIdx.x;
  const int64_t q0 = int64_t(gridDim.y - 1 - blockIdx.y) * BQ;  // costliest causal tiles first
  int64_t off[4];
  problem_offsets(p.lead, b, off);
  const T* q = static_cast<const T*>(p.q) + off[0];
  const T* k = static_cast<const T*>(p.k) + off[1];
  const T* v = static_cast<const T*>(p.v) + off[2];
  const int64_t dpad = (p.d + 3) / 4 * 4;

  load_tile<T, kD>(qs, LD, BQ, q + q0 * p.q_rs, p.q_rs, p.tq - q0, p.d, p.vec_q, T(p.scale * kLog2e));

  T o[RM][CD * 4], m[RM], l[RM];
#pragma unroll
  for (int i = 0; i < RM; ++i) {
    m[i] = -Tile<T>::kInf;
    l[i] = T(0);
#pragma unroll
    for (int c = 0; c < CD * 4; ++c) o[i][c] = T(0);
  }
  const int64_t kend = p.causal ? (p.tk < q0 + BQ ? p.tk : q0 + BQ) : p.tk;
  for (int64_t k0 = 0; k0 < kend; k0 += BK) {
    __syncthreads();  // the previous tile is consumed
    load_tile<T, kD>(ks, LD, BK, k + k0 * p.k_rs, p.k_rs, p.tk - k0, p.d, p.vec_k, T(1));
    load_tile<T, kD>(vs, LD, BK, v + k0 * p.v_rs, p.v_rs, p.tk - k0, p.dv, p.vec_v, T(1));
    __syncthreads();

    T s[RM][CN];
    tile_products<LD>(s, qs, ks, row0, cg, dpad);
    if (p.mask_kind != 0 || k0 + BK > p.tk || (p.causal && k0 + BK - 1 > q0)) {
#pragma unroll
      for (int i = 0; i < RM; ++i)
#pragma unroll
        for (int e = 0; e < CN; ++e) s[i][e] = masked(p, s[i][e], q0 + row0 + i, k0 + cg + 8 * e, off[3]);
    }
    // Online softmax: the row maximum over the 8 lanes of the row group.
#pragma unroll
    for (int i = 0; i < RM; ++i) {
      T mx = m[i];
#pragma unroll
      for (int e = 0; e < CN; ++e) mx = s[i][e] > mx ? s[i][e] : mx;
#pragma unroll
      for (int w = 1; w < 8; w *= 2) {
        const T other = __shfl_xor_sync(0xffffffffu, mx, w);
        mx = other > mx ? other : mx;
      }
      const T mu = mx == -Tile<T>::kInf ? T(0) : mx;  // all masked so far: 2^(-inf - 0) = 0
      const T alpha = m_exp2(m[i] - mu);
      m[i] = mx;
      T sum = T(0);
#pragma unroll
      for (int e = 0; e < CN; ++e) {
        s[i][e] = m_exp2(s[i][e] - mu);
        sum += s[i][e];
      }
      l[i] = l[i] * alpha + sum;
#pragma unroll
      for (int c = 0; c < CD * 4; ++c) o[i][c] *= alpha;
    }
    if (p.dropout) {
#pragma unroll
      for (int i = 0; i < RM; ++i)
#pragma unroll
        for (int e = 0; e < CN; ++e) {
          const int64_t qi = q0 + row0 + i, kj = k0 + cg + 8 * e;
          if (qi < p.tq && kj < p.tk) s[i][e] *= keep(p, b, qi, kj) ? T(p.keep_scale) : T(0);
        }
    }
#pragma unroll
    for (int i = 0; i < RM; ++i)
#pragma unroll
      for (int e = 0; e < CN; ++e) ps[(row0 + i) * LDP + cg + 8 * e] = s[i][e];
    __syncwarp();
    const int64_t kvis = (kend - k0 < BK ? kend - k0 : BK);
    for (int j = 0; j < kvis; j += 4) {
      T pv[RM][4];
#pragma unroll
      for (int i = 0; i < RM; ++i) ld4(ps + (row0 + i) * LDP + j, pv[i]);
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
#pragma unroll
        for (int c = 0; c < CD; ++c) {
          T vv[4];
          ld4(vs + (j + jj) * LD + cg * 4 + 32 * c, vv);
#pragma unroll
          for (int i = 0; i < RM; ++i)
#pragma unroll
            for (int x = 0; x < 4; ++x) o[i][c * 4 + x] = fma(pv[i][jj], vv[x], o[i][c * 4 + x]);
        }
      }
    }
  }
  T* out = static_cast<T*>(p.out);
  T* lse = static_cast<T*>(p.lse);
#pragma unroll
  for (int i = 0; i < RM; ++i) {
    T sum = l[i];
#pragma unroll
    for (int w = 1; w < 8; w *= 2) sum += __shfl_xor_sync(0xffffffffu, sum, w);
    const int64_t qi = q0 + row0 + i;
    if (qi >= p.tq) continue;
    const T inv = sum > T(0) ? T(1) / sum : T(0);
    T* row = out + (b * p.tq + qi) * p.dv;
#pragma unroll
    for (int c = 0; c < CD; ++c) {
      const int col = cg * 4 + 32 * c;
      if (col >= p.dv) continue;
      T x[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) x[e] = o[i][c * 4 + e] * inv;
      if (p.dv % 4 == 0) {
        st4(row + col, x);
      } else {
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (col + e < p.dv) row[col + e] = x[e];
      }
    }
    if (cg == 0) lse[b * p.tq + qi] = sum > T(0) ? (m[i] + m_log2(sum)) / T(kLog2e) : Tile<T>::kInf;
  }
}

// ------------------------------------------------------------------------------ backward
// delta = rowsum(g o out) and lse2 = lse log2(e), one warp per row of (bh Tq) rows.
template <typename T>
__global__ void __launch_bounds__(kThreads) attention_delta(Params p, int64_t rows, T* delta, T* lse2) {
  const int lane = threadIdx.x & 31;
  const T* g = static_cast<const T*>(p.g);
  const T* out = static_cast<const T*>(p.out);
  const T* lse = static_cast<const T*>(p.lse);
  for (int64_t r = (int64_t(blockIdx.x) * kThreads + threadIdx.x) / 32; r < rows;
       r += int64_t(gridDim.x) * kThreads / 32) {
    T s = T(0);
    for (int64_t c = lane; c < p.dv; c += 32) s += g[r * p.dv + c] * out[r * p.dv + c];
#pragma unroll
    for (int w = 16; w >= 1; w /= 2) s += __shfl_xor_sync(0xffffffffu, s, w);
    if (lane == 0) {
      delta[r] = s;
      lse2[r] = lse[r] * T(kLog2e);
    }
  }
}

// RM keys x CN queries per lane: BK = 16 RM keys per block, BQ = 8 CN queries per tile.
template <typename T, int kD, int RM, int CN>
struct Bwd {
  static constexpr int BK = 16 * RM, BQ = 8 * CN, LD = kD + 4, LDP = BQ + 4, CD = kD / 32, RQ = BQ / 16;
  static constexpr size_t smem =
      sizeof(T) * (2 * size_t(BK) * LD + 2 * size_t(BQ) * LD + 2 * size_t(BK) * LDP + 2 * size_t(BQ));
};

__device__ __forceinline__ void add4(float* p, const float (&x)[4], bool vec) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if (vec) {
    atomicAdd(reinterpret_cast<float4*>(p), make_float4(x[0], x[1], x[2], x[3]));
    return;
  }
#endif
  (void)vec;
#pragma unroll
  for (int e = 0; e < 4; ++e) atomicAdd(p + e, x[e]);
}
__device__ __forceinline__ void add4(double* p, const double (&x)[4], bool) {
#pragma unroll
  for (int e = 0; e < 4; ++e) atomicAdd(p + e, x[e]);
}

template <typename T, int kD, int RM, int CN>
__global__ void __launch_bounds__(kThreads) attention_backward(Params p) {
  using B = Bwd<T, kD, RM, CN>;
  constexpr int BK = B::BK, BQ = B::BQ, LD = B::LD, LDP = B::LDP, CD = B::CD, RQ = B::RQ;
  FIBRIL_DYNAMIC_SHARED(T, smem);
  T* ks = smem;
  T* vs = ks + BK * LD;
  T* qs = vs + BK * LD;
  T* gs = qs + BQ * LD;
  T* ps = gs + BQ * LD;
  T* dss = ps + BK * LDP;
  T* lse_s = dss + BK * LDP;
  T* delta_s = lse_s + BQ;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, rg = lane >> 3, cg = lane & 7;
  const int row0 = warp * 4 * RM + rg * RM;  // this lane's keys in the block
  const int qrow0 = warp * 4 * RQ + rg * RQ;  // its queries in the dQ product
  const int64_t b = blockIdx.x;
  const int64_t k0 = int64_t(blockIdx.y) * BK;
  int64_t off[4];
  problem_offsets(p.lead, b, off);
  const T* q = static_cast<const T*>(p.q) + off[0];
  const T* k = static_cast<const T*>(p.k) + off[1];
  const T* v = static_cast<const T*>(p.v) + off[2];
  const T* g = static_cast<const T*>(p.g) + b * p.tq * p.dv;
  const T* lse2 = static_cast<const T*>(p.lse2) + b * p.tq;
  const T* delta = static_cast<const T*>(p.delta) + b * p.tq;
  const T scale2 = T(p.scale * kLog2e), scale = T(p.scale);
  const int64_t dpad = (p.d + 3) / 4 * 4, dvpad = (p.dv + 3) / 4 * 4;

  load_tile<T, kD>(ks, LD, BK, k + k0 * p.k_rs, p.k_rs, p.tk - k0, p.d, p.vec_k, T(1));
  load_tile<T, kD>(vs, LD, BK, v + k0 * p.v_rs, p.v_rs, p.tk - k0, p.dv, p.vec_v, T(1));

  T dk[RM][CD * 4], dv[RM][CD * 4];
#pragma unroll
  for (int i = 0; i < RM; ++i)
#pragma unroll
    for (int c = 0; c < CD * 4; ++c) dk[i][c] = dv[i][c] = T(0);

  for (int64_t q0 = p.causal ? k0 / BQ * BQ : 0; q0 < p.tq; q0 += BQ) {
    __syncthreads();  // the previous query tile is consumed
    load_tile<T, kD>(qs, LD, BQ, q + q0 * p.q_rs, p.q_rs, p.tq - q0, p.d, p.vec_q, T(1));
    load_tile<T, kD>(gs, LD, BQ, g + q0 * p.dv, p.dv, p.tq - q0, p.dv, p.vec_g, T(1));
    for (int i = threadIdx.x; i < BQ; i += kThreads) {
      lse_s[i] = q0 + i < p.tq ? lse2[q0 + i] : Tile<T>::kInf;
      delta_s[i] = q0 + i < p.tq ? delta[q0 + i] : T(0);
    }
    __syncthreads();

    // S^T (keys x queries) and dP^T = V dO^T as register tiles.
    T s[RM][CN], dp[RM][CN];
    tile_products<LD>(s, ks, qs, row0, cg, dpad);
    tile_products<LD>(dp, vs, gs, row0, cg, dvpad);
    const bool need_mask = p.mask_kind != 0 || k0 + BK > p.tk || (p.causal && k0 + BK - 1 > q0);
#pragma unroll
    for (int i = 0; i < RM; ++i) {
#pragma unroll
      for (int e = 0; e < CN; ++e) {
        const int64_t kj = k0 + row0 + i, qi = q0 + cg + 8 * e;
        T x = s[i][e] * scale2;
        if (need_mask) x = masked(p, x, qi, kj, off[3]);
        const T pr = m_exp2(x - lse_s[cg + 8 * e]);  // 0 for masked keys and padding queries
        T pd = pr, dpe = dp[i][e];
        if (p.dropout && qi < p.tq && kj < p.tk) {
          const T z = keep(p, b, qi, kj) ? T(p.keep_scale) : T(0);
          pd *= z;
          dpe *= z;
        }
        ps[(row0 + i) * LDP + cg + 8 * e] = pd;
        dss[(row0 + i) * LDP + cg + 8 * e] = pr * (dpe - delta_s[cg + 8 * e]) * scale;
      }
    }
    __syncwarp();
    // dV += P^T dO and dK += dS^T Q over this lane's keys.
    const int64_t qvis = p.tq - q0 < BQ ? p.tq - q0 : BQ;
    for (int j = 0; j < qvis; j += 4) {
      T pv[RM][4], sv[RM][4];
#pragma unroll
      for (int i = 0; i < RM; ++i) {
        ld4(ps + (row0 + i) * LDP + j, pv[i]);
        ld4(dss + (row0 + i) * LDP + j, sv[i]);
      }
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
#pragma unroll
        for (int c = 0; c < CD; ++c) {
          T gv[4], qv[4];
          ld4(gs + (j + jj) * LD + cg * 4 + 32 * c, gv);
          ld4(qs + (j + jj) * LD + cg * 4 + 32 * c, qv);
#pragma unroll
          for (int i = 0; i < RM; ++i)
#pragma unroll
            for (int x = 0; x < 4; ++x) {
              dv[i][c * 4 + x] = fma(pv[i][jj], gv[x], dv[i][c * 4 + x]);
              dk[i][c * 4 + x] = fma(sv[i][jj], qv[x], dk[i][c * 4 + x]);
            }
        }
      }
    }
    __syncthreads();  // dS^T of every warp is in shared memory
    // dQ (this tile's queries) += dS K over the block's keys; lanes over queries.
    T acc[RQ][CD * 4];
#pragma unroll
    for (int i = 0; i < RQ; ++i)
#pragma unroll
      for (int c = 0; c < CD * 4; ++c) acc[i][c] = T(0);
    const int64_t kvis = p.tk - k0 < BK ? p.tk - k0 : BK;
    for (int j = 0; j < kvis; ++j) {
      T sv[RQ];
#pragma unroll
      for (int i = 0; i < RQ; ++i) sv[i] = dss[j * LDP + qrow0 + i];
#pragma unroll
      for (int c = 0; c < CD; ++c) {
        T kv[4];
        ld4(ks + j * LD + cg * 4 + 32 * c, kv);
#pragma unroll
        for (int i = 0; i < RQ; ++i)
#pragma unroll
          for (int x = 0; x < 4; ++x) acc[i][c * 4 + x] = fma(sv[i], kv[x], acc[i][c * 4 + x]);
      }
    }
    T* gq = static_cast<T*>(p.gq) + (b * p.tq + q0) * p.d;
#pragma unroll
    for (int i = 0; i < RQ; ++i) {
      if (q0 + qrow0 + i >= p.tq) continue;
#pragma unroll
      for (int c = 0; c < CD; ++c) {
        const int col = cg * 4 + 32 * c;
        if (col >= p.d) continue;
        T x[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) x[e] = acc[i][c * 4 + e];
        if (p.d % 4 == 0) {
          add4(gq + (qrow0 + i) * p.d + col, x, true);
        } else {
#pragma unroll
          for (int e = 0; e < 4; ++e)
            if (col + e < p.d) atomicAdd(gq + (qrow0 + i) * p.d + col + e, x[e]);
        }
      }
    }
  }
  T* gk = static_cast<T*>(p.gk);
  T* gvo = static_cast<T*>(p.gv);
#pragma unroll
  for (int i = 0; i < RM; ++i) {
    const int64_t kj = k0 + row0 + i;
    if (kj >= p.tk) continue;
#pragma unroll
    for (int c = 0; c < CD; ++c) {
      const int col = cg * 4 + 32 * c;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        if (col + e < p.d) gk[(b * p.tk + kj) * p.d + col + e] = dk[i][c * 4 + e];
        if (col + e < p.dv) gvo[(b * p.tk + kj) * p.dv + col + e] = dv[i][c * 4 + e];
      }
    }
  }
}

template <typename T, int kD, int RM, int CN>
void forward(int device, const Params& p, int64_t bh) {
  using F = Fwd<T, kD, RM, CN>;
  const dim3 grid(unsigned(bh), unsigned((p.tq + F::BQ - 1) / F::BQ));
  launch("attention_forward", attention_forward<T, kD, RM, CN>, grid, dim3(kThreads), F::smem, device, p);
}

template <typename T, int kD, int RM, int CN>
void backward(int device, const Params& p, int64_t bh) {
  using B = Bwd<T, kD, RM, CN>;
  const dim3 grid(unsigned(bh), unsigned((p.tk + B::BK - 1) / B::BK));
  launch("attention_backward", attention_backward<T, kD, RM, CN>, grid, dim3(kThreads), B::smem, device, p);
}

bool aligned16(const void* base, int64_t rs, int64_t cols, size_t item) {
  return cols % 4 == 0 && (rs * int64_t(item)) % 16 == 0 && reinterpret_cast<uintptr_t>(base) % 16 == 0;
}

template <typename T>
void run(int device, const cpu::AttentionArgs& a, const AttentionLead& lead) {
  Params p{};
  static_cast<AttentionCommon&>(p) = attention_common(a, lead);
  p.gq = a.gq;
  // Every problem's operand is 16-byte aligned when the base and the leading strides are.
  bool lead_ok[3] = {true, true, true};
  for (int d = 0; d < lead.ndim; ++d) {
    lead_ok[0] &= (lead.q[d] * int64_t(sizeof(T))) % 16 == 0;
    lead_ok[1] &= (lead.k[d] * int64_t(sizeof(T))) % 16 == 0;
    lead_ok[2] &= (lead.v[d] * int64_t(sizeof(T))) % 16 == 0;
  }
  p.vec_q = lead_ok[0] && aligned16(a.q, a.q_rs, a.d, sizeof(T));
  p.vec_k = lead_ok[1] && aligned16(a.k, a.k_rs, a.d, sizeof(T));
  p.vec_v = lead_ok[2] && aligned16(a.v, a.v_rs, a.dv, sizeof(T));
  p.vec_g = aligned16(a.g, a.dv, a.dv, sizeof(T));
  const int64_t width = a.d > a.dv ? a.d : a.dv;
  FIBRIL_CHECK(width <= (sizeof(T) == 4 ? 256 : 128), NotImplemented, "[scaled_dot_product_attention] head dims up to ",
               sizeof(T) == 4 ? 256 : 128, " on CUDA for ", sizeof(T) == 4 ? "float32" : "float64", ", got ", a.d,
               " and ", a.dv);
  if (!a.g) {
    if constexpr (sizeof(T) == 4) {
      if (width <= 64) forward<T, 64, 4, 8>(device, p, a.bh);
      else if (width <= 128) forward<T, 128, 4, 8>(device, p, a.bh);
      else forward<T, 256, 2, 8>(device, p, a.bh);
    } else {
      if (width <= 64) forward<T, 64, 2, 8>(device, p, a.bh);
      else forward<T, 128, 2, 4>(device, p, a.bh);
    }
    return;
  }
  const int64_t rows = a.bh * a.tq;
  Scratch buf(2 * size_t(rows) * sizeof(T), device);
  T* delta = buf.as<T>();
  T* lse2 = delta + rows;
  p.delta = delta;
  p.lse2 = lse2;
  launch("attention_delta", attention_delta<T>, grid_1d(rows * 32, kThreads), dim3(kThreads), 0, device, p, rows,
         delta, lse2);
  ::fibril::cuda::FIBRIL_CUDA_NS::fill(a.gq, sizeof(T) == 4 ? DType::float32 : DType::float64, rows * a.d, 0.0, device);
  if constexpr (sizeof(T) == 4) {
    if (width <= 64) backward<T, 64, 4, 8>(device, p, a.bh);
    else if (width <= 128) backward<T, 128, 2, 8>(device, p, a.bh);
    else backward<T, 256, 1, 4>(device, p, a.bh);
  } else {
    backward<T, 128, 1, 4>(device, p, a.bh);  // one float64 configuration: smaller ones spill on some archs
  }
}

}  // namespace

void attention(int device, const cpu::AttentionArgs& args, const AttentionLead& lead) {
  if (args.dtype == DType::float32) run<float>(device, args, lead);
  else run<double>(device, args, lead);
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
