// CUDA scaled dot-product attention, forward and backward, for float16/bfloat16 on the tensor
// cores (FlashAttention-2 design, mma.sync m16n8k16, float32 accumulation and softmax; sm_80+).
//
// One block of 4 warps per (problem, tile of BQ queries), the costliest causal tiles first. The
// Q tile and two stages of K and V tiles (BK keys) sit in shared memory, filled by cp.async
// (the next K/V tile loads while the current one is multiplied); rows are padded by 16 bytes,
// so the ldmatrix reads of 8 consecutive rows hit distinct banks. A warp owns 16 kMT query
// rows (no cross-warp reduction):
// - S = Q K^T: Q fragments by ldmatrix, K rows by ldmatrix as the col-major B operand;
// - online softmax in base 2 on the S accumulators (a row's values sit in the 4 lanes of a
//   quad: two shuffles per maximum), O rescaled by alpha = 2^(m_old - m_new);
// - O += P V: the S accumulators of two key n8-tiles are exactly the A fragment of P for a
//   16-key step, so P is rounded to 16 bits in registers and never touches shared memory;
//   V rows by ldmatrix.trans as the B operand.
// O is scaled by 1/l once at the end and rounded to the input dtype; the log-sum-exp (natural
// log, float32) is saved for the backward, +inf for a row whose keys are all masked.
// Causal tiles wholly above the diagonal are never loaded; only tiles that cross it (or the
// sequence end) evaluate the mask.
//
// Backward (FA2): delta = rowsum(dO o O) first; then one block per (problem, 64 keys), 16 keys
// per warp, K and V in shared memory, dK and dV in registers, query tiles of Q and dO streamed
// through two cp.async stages. S^T = K Q^T and dP^T = V dO^T are tensor-core tiles, P^T and
// dS^T are computed in the accumulators and feed dV += P^T dO and dK += dS^T Q directly as A
// fragments; dS^T goes through shared memory for dQ += dS K (warps over dQ's columns), added to
// a float32 dQ with atomics and rounded to the dtype at the end.
//
// Masks and dropout as the SIMT kernels (attention.cu): boolean or additive (in the dtype) masks
// with any strides, evaluated per element on every tile when present; dropout drops the same
// elements as the CPU (Philox), after the row sums, before P V.
// Takes: head dims d and dv multiples of 8 up to 128 (padded to 64 or 128 with zeros), rows and
// problem offsets 16-byte aligned, a device of compute capability 8.0 or newer. Anything else
// returns false and the op layer runs the float32 kernels on widened copies
// (csrc/ops/attention.cpp).
//
// Tiles (ptxas, sm_90, no spills on sm_75..sm_90): forward 4 warps of 32 queries, 32 keys per
// tile: 163 registers for D 64 (three blocks per SM), 251 for D 128 (two). Backward: query tiles
// of 32 (D 64, 168 registers) or 16 (D 128, 225; 32 spilled). With a mask or dropout (their own
// instantiations, kExtras): D 128 forward warps of 16 queries, D 64 backward tiles of 16.
// Figures (no mask or dropout; H200, bfloat16; bench.cuda's interleaved medians as in
// `bench/cuda_attention_optim.py --dtype bfloat16`, torch 2.11 SDPA held to its flash backend in
// the same run; ratio = torch time / fibril time; float16 the same within 1%):
//   forward B8 H16 D64: T1024 169 TFLOP/s (0.63x), causal 142 (0.79x); T4096 191 (0.63x), causal
//   189 (0.68x). B4 H16 D128: T1024 185 (0.59x), causal 156 (0.85x); T4096 204 (0.58x), causal
//   201 (0.66x). Forward + backward: D64 0.49-0.71x, D128 0.40-0.63x (the widened float32
//   kernels: 0.05-0.14x).
// Tried and slower (same run): forward tiles of 64 keys (D64: 2 blocks per SM, 0.58-0.74x), one
// m16 tile per warp (D64 0.55-0.76x; D128 0.51-0.80x), Q fragments kept in registers (D64
// 0.54-0.68x, D128 0.45-0.70x: fewer blocks per SM), backward K/V fragments kept in registers
// (D64 0.46-0.65x), backward query tiles of 64 (D64, 255 registers: the same). The SFU exp2,
// the paired cvt and skipping O's rescale when no row maximum moved changed it by -2% to +3%.
#include <cmath>
#include <cstring>
#include <limits>

#include "core/half.h"
#include "cuda/attention.cuh"
#include "cuda/device_info.cuh"
#include "cuda/launch.cuh"
#include "cuda/math.cuh"
#include "cuda/mma.cuh"

namespace fibril::cuda::FIBRIL_CUDA_NS {
namespace {

constexpr int kWarps = 4, kThreads = 32 * kWarps;
constexpr double kLog2e = 1.4426950408889634;

struct TcParams : AttentionCommon {
  float scale2;        // softmax scale * log2(e)
  const float* lse2;   // backward: lse log2(e), per (problem, query)
  const float* delta;  // backward: rowsum(dO o O)
  float* gq;           // backward: dQ accumulated in float32, (bh, tq, d)
};

// The score x (base-2 units) of query i, key j under the masks: -inf past the keys, above
// the causal diagonal or where a boolean mask is false; plus the additive mask; mo is the
// problem's mask offset; no mask is read unless kExtras.
template <typename E, bool kExtras>
__device__ __forceinline__ float masked(const TcParams& p, float x, int64_t i, int64_t j, int64_t mo) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  if (j >= p.tk || (p.causal && j > i)) return -kInf;
  if (kExtras && p.mask_kind != 0 && i < p.tq) {
    const int64_t at = mo + i * p.mask_rs + j * p.mask_cs;
    if (p.mask_kind == 1) return static_cast<const uint8_t*>(p.mask)[at] ? x : -kInf;
    return x + float(static_cast<const E*>(p.mask)[at]) * float(kLog2e);
  }
  return x;
}

// Dropout's factor for element (b, i, j): 1 / (1 - p) where kept, else 0.
template <int = 0>  // a template: unreferenced before sm_80 (empty kernels) without a warning
__device__ __forceinline__ float dropout_factor(const TcParams& p, int64_t b, int64_t i, int64_t j) {
  return dropout_keeps(p.seed, p.offset, p.keep_below, p.tq, p.tk, b, i, j) ? float(p.keep_scale) : 0.0f;
}

// kD: the padded head dim; kMT: m16 tiles of queries per warp; BK: keys per tile.
template <int kD, int kMT, int kBK>
struct TcShape {
  static constexpr int BQ = 16 * kMT * kWarps, BK = kBK, kPitch = kD + 8;
  static constexpr size_t smem = 2 * size_t(kPitch) * (BQ + 4 * BK);  // Q, two stages of K and V
};

// Queues the cp.async copies of ROWS x kD 16-bit values (row stride rs) into s (row pitch
// kPitch); zeros past n_rows and cols (a multiple of 8).
template <typename E, int kD, int ROWS>
__device__ __forceinline__ void load_rows(E* s, const E* src, int64_t rs, int64_t n_rows, int64_t cols) {
  constexpr int kUnits = kD / 8, kPitch = kD + 8;
  static_assert(ROWS * kUnits % kThreads == 0, "whole copies per thread");
#pragma unroll
  for (int u = 0; u < ROWS * kUnits / kThreads; ++u) {
    const int i = u * kThreads + int(threadIdx.x), r = i / kUnits, c = (i % kUnits) * 8;
    const bool in = r < n_rows && c < cols;
    cp_async16(s + r * kPitch + c, in ? src + r * rs + c : src, in ? 16 : 0);
  }
}

// Two floats as one register of two 16-bit values (lo in the low half), rounded to nearest
// even: one cvt on sm_80+.
template <typename E>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t r;
  if constexpr (std::is_same_v<E, Half>) asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
  else asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
#else
  return uint32_t(E(lo).bits) | (uint32_t(E(hi).bits) << 16);
#endif
}

// 2^x by the special-function unit (relative error ~2^-22, far below the 16-bit rounding of P);
// 2^-inf = 0.
template <int = 0>  // a template: unreferenced before sm_80 (empty kernels) without a warning
__device__ __forceinline__ float exp2_fast(float x) {
#if defined(__CUDA_ARCH__)
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
#else
  return m_exp2(x);
#endif
}

template <typename E, int kD, int kMT, int kBK, bool kExtras>
__global__ void __launch_bounds__(kThreads) attention_tc_forward(TcParams p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  (void)p;  // the host launches it on sm_80 and newer only
#else
  using Shape = TcShape<kD, kMT, kBK>;
  constexpr int BQ = Shape::BQ, BK = Shape::BK, P = Shape::kPitch;
  constexpr int kDT = kD / 8, kKT = BK / 8;  // n8 tiles of output columns, of keys
  constexpr float kInf = std::numeric_limits<float>::infinity();
  static_assert(kWarps <= kTMaxWarps, "too many warps for the emulated mma");
  FIBRIL_DYNAMIC_SHARED(E, smem);
  E* qs = smem;
  E* ks = qs + BQ * P;  // stage st at ks + st * BK * P
  E* vs = ks + 2 * BK * P;
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5, g = lane >> 2, t = lane & 3;
  const int wrow = warp * 16 * kMT;  // the warp's first query in the tile
  const int64_t b = blockIdx.x;
  const int64_t q0 = int64_t(gridDim.y - 1 - blockIdx.y) * BQ;  // costliest causal tiles first
  int64_t off[4];
  problem_offsets(p.lead, b, off);
  const E* q = static_cast<const E*>(p.q) + off[0] + q0 * p.q_rs;
  const E* k = static_cast<const E*>(p.k) + off[1];
  const E* v = static_cast<const E*>(p.v) + off[2];
  const int64_t kend = p.causal && q0 + BQ < p.tk ? q0 + BQ : p.tk;
  const int64_t tiles = (kend + BK - 1) / BK;

  load_rows<E, kD, BQ>(qs, q, p.q_rs, p.tq - q0, p.d);
  load_rows<E, kD, BK>(ks, k, p.k_rs, p.tk, p.d);
  load_rows<E, kD, BK>(vs, v, p.v_rs, p.tk, p.dv);
  cp_async_commit();

  // ldmatrix row addresses of this lane (element offsets in a tile): the A operand's and the
  // transposed V's matrices are (rows lo, cols lo), (rows hi, cols lo), (rows lo, cols hi),
  // (rows hi, cols hi); K's (keys lo, k lo), (keys lo, k hi), (keys hi, k lo), (keys hi, k hi),
  // i.e. b0 and b1 of two key n8-tiles.
  const int a_lane = ((lane & 7) + ((lane >> 3) & 1) * 8) * P + (lane >> 4) * 8;
  const int k_lane = ((lane & 7) + (lane >> 4) * 8) * P + ((lane >> 3) & 1) * 8;

  float o[kMT][kDT][4], m[kMT][2], l[kMT][2];
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      m[mt][h] = -kInf;
      l[mt][h] = 0.0f;
    }
#pragma unroll
    for (int dt = 0; dt < kDT; ++dt)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[mt][dt][e] = 0.0f;
  }

  for (int64_t it = 0; it < tiles; ++it) {
    const int64_t k0 = it * BK;
    if (it + 1 < tiles) {
      const int st = int(it + 1) & 1;
      load_rows<E, kD, BK>(ks + st * BK * P, k + (k0 + BK) * p.k_rs, p.k_rs, p.tk - k0 - BK, p.d);
      load_rows<E, kD, BK>(vs + st * BK * P, v + (k0 + BK) * p.v_rs, p.v_rs, p.tk - k0 - BK, p.dv);
    }
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();  // tile it (and Q) is in
    const E* kt = ks + (int(it) & 1) * BK * P;
    const E* vt = vs + (int(it) & 1) * BK * P;

    float s[kMT][kKT][4];
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int nt = 0; nt < kKT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[mt][nt][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < kD; kk += 16) {
      if (kk >= p.d) break;  // zero padding beyond d
      uint32_t a[kMT][4];
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) ldmatrix_x4<false>(a[mt], qs + (wrow + mt * 16) * P + kk + a_lane);
#pragma unroll
      for (int nt = 0; nt < kKT; nt += 2) {
        uint32_t r[4];
        ldmatrix_x4<false>(r, kt + nt * 8 * P + kk + k_lane);
        const uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt) {
          mma_tc<E>(s[mt][nt], a[mt], b0);
          mma_tc<E>(s[mt][nt + 1], a[mt], b1);
        }
      }
    }

    // Scores in base-2 units; masked ones -inf. Element e of s[mt][nt] is query row
    // wrow + 16 mt + g + 8 (e / 2), key 8 nt + 2 t + e % 2.
    const bool edge = (kExtras && p.mask_kind != 0) || k0 + BK > p.tk || (p.causal && k0 + BK - 1 > q0);
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int nt = 0; nt < kKT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int64_t i = q0 + wrow + mt * 16 + g + (e >> 1) * 8, j = k0 + nt * 8 + 2 * t + (e & 1);
          const float x = s[mt][nt][e] * p.scale2;
          s[mt][nt][e] = edge ? masked<E, kExtras>(p, x, i, j, off[3]) : x;
        }
    // Online softmax per row (mt, h): the maximum over the quad's lanes.
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float mx = m[mt][h];
#pragma unroll
        for (int nt = 0; nt < kKT; ++nt) mx = fmaxf(mx, fmaxf(s[mt][nt][2 * h], s[mt][nt][2 * h + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float mu = mx == -kInf ? 0.0f : mx;  // all masked so far: 2^(-inf - 0) = 0
        const float alpha = exp2_fast(m[mt][h] - mu);
        m[mt][h] = mx;
        float sum = 0.0f;
#pragma unroll
        for (int nt = 0; nt < kKT; ++nt)
#pragma unroll
          for (int e = 2 * h; e < 2 * h + 2; ++e) {
            s[mt][nt][e] = exp2_fast(s[mt][nt][e] - mu);
            sum += s[mt][nt][e];
          }
        l[mt][h] = l[mt][h] * alpha + sum;
        if (__any_sync(0xffffffffu, alpha != 1.0f)) {  // once the maxima settle, O keeps its scale
#pragma unroll
          for (int dt = 0; dt < kDT; ++dt) {
            o[mt][dt][2 * h] *= alpha;
            o[mt][dt][2 * h + 1] *= alpha;
          }
        }
      }
    if (kExtras && p.dropout) {  // the row sums keep every probability; P V only the kept ones
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
        for (int nt = 0; nt < kKT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int64_t i = q0 + wrow + mt * 16 + g + (e >> 1) * 8, j = k0 + nt * 8 + 2 * t + (e & 1);
            if (i < p.tq && j < p.tk) s[mt][nt][e] *= dropout_factor(p, b, i, j);
          }
    }

    // O += P V, 16 keys per step: P's A fragment from the accumulators of key tiles 2j, 2j + 1.
#pragma unroll
    for (int j = 0; j < BK / 16; ++j) {
      if (k0 + 16 * j >= kend) break;  // keys past the end (or the diagonal) have P = 0
      uint32_t a[kMT][4];
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
        a[mt][0] = pack2<E>(s[mt][2 * j][0], s[mt][2 * j][1]);
        a[mt][1] = pack2<E>(s[mt][2 * j][2], s[mt][2 * j][3]);
        a[mt][2] = pack2<E>(s[mt][2 * j + 1][0], s[mt][2 * j + 1][1]);
        a[mt][3] = pack2<E>(s[mt][2 * j + 1][2], s[mt][2 * j + 1][3]);
      }
#pragma unroll
      for (int dt = 0; dt < kDT; dt += 2) {
        if (dt * 8 >= p.dv) break;  // zero padding beyond dv
        uint32_t r[4];
        ldmatrix_x4<true>(r, vt + j * 16 * P + dt * 8 + a_lane);
        const uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt) {
          mma_tc<E>(o[mt][dt], a[mt], b0);
          mma_tc<E>(o[mt][dt + 1], a[mt], b1);
        }
      }
    }
    __syncthreads();  // every warp is done with this stage before it is refilled
  }
  cp_async_wait<0>();

  E* out = static_cast<E*>(p.out) + b * p.tq * p.dv;
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float sum = l[mt][h];
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      const int64_t i = q0 + wrow + mt * 16 + g + h * 8;
      if (i >= p.tq) continue;
      const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
      E* row = out + i * p.dv;
#pragma unroll
      for (int dt = 0; dt < kDT; ++dt) {
        const int col = dt * 8 + 2 * t;
        if (col < p.dv)
          *reinterpret_cast<uint32_t*>(row + col) = pack2<E>(o[mt][dt][2 * h] * inv, o[mt][dt][2 * h + 1] * inv);
      }
      if (t == 0)
        static_cast<float*>(p.lse)[b * p.tq + i] = sum > 0.0f ? (m[mt][h] + m_log2(sum)) / float(kLog2e) : kInf;
    }
#endif
}

// ------------------------------------------------------------------------------ backward
// delta = rowsum(dO o O) and lse2 = lse log2(e), one warp per row of the (bh tq) rows; dv % 8 == 0.
template <typename E>
__global__ void __launch_bounds__(kThreads) attention_tc_delta(TcParams p, int64_t rows, float* delta, float* lse2) {
  const int lane = int(threadIdx.x) & 31;
  const E* g = static_cast<const E*>(p.g);
  const E* out = static_cast<const E*>(p.out);
  for (int64_t r = (int64_t(blockIdx.x) * kThreads + threadIdx.x) / 32; r < rows;
       r += int64_t(gridDim.x) * kThreads / 32) {
    float sum = 0.0f;
    for (int64_t c = lane * 8; c < p.dv; c += 32 * 8) {
      E gv[8], ov[8];
      std::memcpy(gv, g + r * p.dv + c, 16);
      std::memcpy(ov, out + r * p.dv + c, 16);
#pragma unroll
      for (int e = 0; e < 8; ++e) sum += float(gv[e]) * float(ov[e]);
    }
#pragma unroll
    for (int w = 16; w >= 1; w /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, w);
    if (lane == 0) {
      delta[r] = sum;
      lse2[r] = static_cast<const float*>(p.lse)[r] * float(kLog2e);
    }
  }
}

// acc (16 x 8 N, zeroed here) = A B^T over the first `depth` columns (rounded up to 16; at most
// kD): A's 16 rows at a, B's 8 N rows at b, both of row pitch P in shared memory, fragments by
// ldmatrix (a_lane, b_lane: this lane's row offsets, as in the kernels).
template <typename E, int kD, int P, int N>
__device__ __forceinline__ void rows_times_rows(float (&acc)[N][4], const E* a, const E* b, int64_t depth, int a_lane,
                                                int b_lane) {
#pragma unroll
  for (int nt = 0; nt < N; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[nt][e] = 0.0f;
#pragma unroll
  for (int kk = 0; kk < kD; kk += 16) {
    if (kk >= depth) break;  // zero padding beyond the head dim
    uint32_t fa[4];
    ldmatrix_x4<false>(fa, a + kk + a_lane);
#pragma unroll
    for (int nt = 0; nt < N; nt += 2) {
      uint32_t r[4];
      ldmatrix_x4<false>(r, b + nt * 8 * P + kk + b_lane);
      const uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
      mma_tc<E>(acc[nt], fa, b0);
      mma_tc<E>(acc[nt + 1], fa, b1);
    }
  }
}

// kD: the padded head dim; BQ queries per tile. A block owns 16 keys per warp (BK = 64) of one
// problem: K and V stay in shared memory, dK and dV in registers, and query tiles stream past
// (Q and dO in two cp.async stages).
template <int kD, int kBQ>
struct TcBwdShape {
  static constexpr int BK = 16 * kWarps, BQ = kBQ, kPitch = kD + 8, kPitchS = kBQ + 8;
  static constexpr size_t smem = 2 * (size_t(kPitch) * (2 * BK + 4 * BQ) + size_t(BK) * kPitchS) +
                                 4 * 4 * size_t(BQ);  // + lse2 and delta of two stages
};

// Per query tile, warps over keys (16 each), with the products as tensor-core tiles:
//   S^T = K Q^T and dP^T = V dO^T (A from K / V rows, B from Q / dO rows, by ldmatrix);
//   P^T = 2^(S^T scale2 - lse2), dS^T = P^T o (dP^T - delta) scale, in the accumulators;
//   dV += P^T dO and dK += dS^T Q (the accumulators are the A fragments; B by ldmatrix.trans);
//   dS^T goes to shared memory (16-bit), then, after a barrier, warps over columns:
//   dQ += dS K (A by ldmatrix.trans of dS^T, B of K rows by ldmatrix.trans), added to gq
//   with float32 atomics.
template <typename E, int kD, int kBQ, bool kExtras>
__global__ void __launch_bounds__(kThreads) attention_tc_backward(TcParams p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  (void)p;  // the host launches it on sm_80 and newer only
#else
  using Shape = TcBwdShape<kD, kBQ>;
  constexpr int BK = Shape::BK, BQ = Shape::BQ, P = Shape::kPitch, PS = Shape::kPitchS;
  constexpr int kDT = kD / 8, kQT = BQ / 8;  // n8 tiles of head columns, of queries
  constexpr int kCols = kD / kWarps;          // dQ columns per warp
  constexpr float kInf = std::numeric_limits<float>::infinity();
  static_assert(kCols % 16 == 0 && BQ % 16 == 0, "whole fragment tiles");
  FIBRIL_DYNAMIC_SHARED(E, smem);
  E* ks = smem;
  E* vs = ks + BK * P;
  E* qs = vs + BK * P;   // stage st at qs + st * BQ * P
  E* gs = qs + 2 * BQ * P;
  E* dss = gs + 2 * BQ * P;  // dS^T, [key][query]
  float* stats = reinterpret_cast<float*>(dss + BK * PS);  // stage st: lse2 at 2 st BQ, delta after it
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5, g = lane >> 2, t = lane & 3;
  const int wk = warp * 16;  // the warp's first key in the tile
  const int64_t b = blockIdx.x;
  const int64_t k0 = int64_t(blockIdx.y) * BK;
  int64_t off[4];
  problem_offsets(p.lead, b, off);
  const E* q = static_cast<const E*>(p.q) + off[0];
  const E* go = static_cast<const E*>(p.g) + b * p.tq * p.dv;
  const float* lse2 = p.lse2 + b * p.tq;
  const float* delta = p.delta + b * p.tq;
  const float scale = float(p.scale);
  const int64_t q_first = p.causal ? k0 / BQ * BQ : 0;  // causal: queries before the block's keys see none
  const int64_t tiles = q_first < p.tq ? (p.tq - q_first + BQ - 1) / BQ : 0;

  load_rows<E, kD, BK>(ks, static_cast<const E*>(p.k) + off[1] + k0 * p.k_rs, p.k_rs, p.tk - k0, p.d);
  load_rows<E, kD, BK>(vs, static_cast<const E*>(p.v) + off[2] + k0 * p.v_rs, p.v_rs, p.tk - k0, p.dv);
  const auto load_tile = [&](int64_t it) {
    const int st = int(it) & 1;
    const int64_t q0 = q_first + it * BQ;
    load_rows<E, kD, BQ>(qs + st * BQ * P, q + q0 * p.q_rs, p.q_rs, p.tq - q0, p.d);
    load_rows<E, kD, BQ>(gs + st * BQ * P, go + q0 * p.dv, p.dv, p.tq - q0, p.dv);
  };
  if (tiles > 0) load_tile(0);
  cp_async_commit();

  const int a_lane = ((lane & 7) + ((lane >> 3) & 1) * 8) * P + (lane >> 4) * 8;
  const int b_lane = ((lane & 7) + (lane >> 4) * 8) * P + ((lane >> 3) & 1) * 8;
  const int ds_lane = ((lane & 7) + (lane >> 4) * 8) * PS + ((lane >> 3) & 1) * 8;

  float dk[kDT][4], dv[kDT][4];
#pragma unroll
  for (int dt = 0; dt < kDT; ++dt)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[dt][e] = dv[dt][e] = 0.0f;

  for (int64_t it = 0; it < tiles; ++it) {
    const int64_t q0 = q_first + it * BQ;
    if (it + 1 < tiles) load_tile(it + 1);
    cp_async_commit();
    float* ls = stats + (int(it) & 1) * 2 * BQ;
    float* dl = ls + BQ;
    for (int i = int(threadIdx.x); i < BQ; i += kThreads) {
      ls[i] = q0 + i < p.tq ? lse2[q0 + i] : kInf;  // padding queries: P = 0
      dl[i] = q0 + i < p.tq ? delta[q0 + i] : 0.0f;
    }
    cp_async_wait<1>();
    __syncthreads();  // tile it (and K, V) is in
    const E* qt = qs + (int(it) & 1) * BQ * P;
    const E* gt = gs + (int(it) & 1) * BQ * P;

    // S^T and dP^T, this warp's 16 keys x BQ queries.
    float s[kQT][4], dp[kQT][4];
    rows_times_rows<E, kD, P>(s, ks + wk * P, qt, p.d, a_lane, b_lane);
    rows_times_rows<E, kD, P>(dp, vs + wk * P, gt, p.dv, a_lane, b_lane);
    // P^T into s, dS^T into dp. Element e of tile nt: key wk + g + 8 (e / 2), query 8 nt + 2 t + e % 2.
    // With dropout, dV takes the kept P^T and dS^T = P^T o (z dP^T - delta) scale (z the factor).
    const bool edge = (kExtras && p.mask_kind != 0) || k0 + BK > p.tk || (p.causal && q0 < k0 + BK - 1);
#pragma unroll
    for (int nt = 0; nt < kQT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int qi = nt * 8 + 2 * t + (e & 1);
        const int64_t j = k0 + wk + g + (e >> 1) * 8, i = q0 + qi;
        float x = s[nt][e] * p.scale2;
        if (edge) x = masked<E, kExtras>(p, x, i, j, off[3]);
        const float pr = exp2_fast(x - ls[qi]);
        const float z = kExtras && p.dropout && i < p.tq && j < p.tk ? dropout_factor(p, b, i, j) : 1.0f;
        s[nt][e] = pr * z;
        dp[nt][e] = pr * (dp[nt][e] * z - dl[qi]) * scale;
      }
    // dV += P^T dO, dK += dS^T Q: 16 queries per step.
#pragma unroll
    for (int j = 0; j < BQ / 16; ++j) {
      uint32_t pa[4], sa[4];
      pa[0] = pack2<E>(s[2 * j][0], s[2 * j][1]);
      pa[1] = pack2<E>(s[2 * j][2], s[2 * j][3]);
      pa[2] = pack2<E>(s[2 * j + 1][0], s[2 * j + 1][1]);
      pa[3] = pack2<E>(s[2 * j + 1][2], s[2 * j + 1][3]);
      sa[0] = pack2<E>(dp[2 * j][0], dp[2 * j][1]);
      sa[1] = pack2<E>(dp[2 * j][2], dp[2 * j][3]);
      sa[2] = pack2<E>(dp[2 * j + 1][0], dp[2 * j + 1][1]);
      sa[3] = pack2<E>(dp[2 * j + 1][2], dp[2 * j + 1][3]);
      // dS^T to shared memory for dQ: rows g and g + 8 of the warp's keys.
      *reinterpret_cast<uint32_t*>(dss + (wk + g) * PS + j * 16 + 2 * t) = sa[0];
      *reinterpret_cast<uint32_t*>(dss + (wk + g + 8) * PS + j * 16 + 2 * t) = sa[1];
      *reinterpret_cast<uint32_t*>(dss + (wk + g) * PS + j * 16 + 8 + 2 * t) = sa[2];
      *reinterpret_cast<uint32_t*>(dss + (wk + g + 8) * PS + j * 16 + 8 + 2 * t) = sa[3];
#pragma unroll
      for (int dt = 0; dt < kDT; dt += 2) {
        if (dt * 8 < p.dv) {
          uint32_t r[4];
          ldmatrix_x4<true>(r, gt + j * 16 * P + dt * 8 + a_lane);
          const uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
          mma_tc<E>(dv[dt], pa, b0);
          mma_tc<E>(dv[dt + 1], pa, b1);
        }
        if (dt * 8 < p.d) {
          uint32_t r[4];
          ldmatrix_x4<true>(r, qt + j * 16 * P + dt * 8 + a_lane);
          const uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
          mma_tc<E>(dk[dt], sa, b0);
          mma_tc<E>(dk[dt + 1], sa, b1);
        }
      }
    }
    __syncthreads();  // dS^T of every warp is in shared memory

    // dQ (BQ x kCols of this warp) += dS K over the block's keys.
    const int c0 = warp * kCols;
    if (c0 < p.d) {
      float acc[BQ / 16][kCols / 8][4];
#pragma unroll
      for (int mt = 0; mt < BQ / 16; ++mt)
#pragma unroll
        for (int nt = 0; nt < kCols / 8; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) acc[mt][nt][e] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < BK; kk += 16) {
#pragma unroll
        for (int mt = 0; mt < BQ / 16; ++mt) {
          uint32_t a[4];
          ldmatrix_x4<true>(a, dss + kk * PS + mt * 16 + ds_lane);
#pragma unroll
          for (int nt = 0; nt < kCols / 8; nt += 2) {
            uint32_t r[4];
            ldmatrix_x4<true>(r, ks + kk * P + c0 + nt * 8 + a_lane);
            const uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
            mma_tc<E>(acc[mt][nt], a, b0);
            mma_tc<E>(acc[mt][nt + 1], a, b1);
          }
        }
      }
      float* gq = p.gq + (b * p.tq + q0) * p.d;
#pragma unroll
      for (int mt = 0; mt < BQ / 16; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int row = mt * 16 + g + 8 * h;
          if (q0 + row >= p.tq) continue;
#pragma unroll
          for (int nt = 0; nt < kCols / 8; ++nt) {
            const int col = c0 + nt * 8 + 2 * t;
            if (col < p.d) {
              atomicAdd(gq + row * p.d + col, acc[mt][nt][2 * h]);
              atomicAdd(gq + row * p.d + col + 1, acc[mt][nt][2 * h + 1]);
            }
          }
        }
    }
  }
  cp_async_wait<0>();

  E* gk = static_cast<E*>(p.gk) + (b * p.tk + k0) * p.d;
  E* gv = static_cast<E*>(p.gv) + (b * p.tk + k0) * p.dv;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int row = wk + g + 8 * h;
    if (k0 + row >= p.tk) continue;
#pragma unroll
    for (int dt = 0; dt < kDT; ++dt) {
      const int col = dt * 8 + 2 * t;
      if (col < p.d) *reinterpret_cast<uint32_t*>(gk + row * p.d + col) = pack2<E>(dk[dt][2 * h], dk[dt][2 * h + 1]);
      if (col < p.dv)
        *reinterpret_cast<uint32_t*>(gv + row * p.dv + col) = pack2<E>(dv[dt][2 * h], dv[dt][2 * h + 1]);
    }
  }
#endif
}

// dQ from its float32 accumulator, rounded to E.
template <typename E>
__global__ void __launch_bounds__(256) attention_tc_round(const float* src, E* dst, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * 256 + threadIdx.x; i < n; i += int64_t(gridDim.x) * 256) dst[i] = E(src[i]);
}

template <typename E, int kD, int kMT, int kBK, bool kExtras>
void forward(int device, const TcParams& p, int64_t bh) {
  using Shape = TcShape<kD, kMT, kBK>;
  const dim3 grid(unsigned(bh), unsigned((p.tq + Shape::BQ - 1) / Shape::BQ));
  launch("attention_tc_forward", attention_tc_forward<E, kD, kMT, kBK, kExtras>, grid, dim3(kThreads), Shape::smem,
         device, p);
}

template <typename E, int kD, int kBQ, bool kExtras>
void backward(int device, const TcParams& p, int64_t bh) {
  using Shape = TcBwdShape<kD, kBQ>;
  const dim3 grid(unsigned(bh), unsigned((p.tk + Shape::BK - 1) / Shape::BK));
  launch("attention_tc_backward", attention_tc_backward<E, kD, kBQ, kExtras>, grid, dim3(kThreads), Shape::smem,
         device, p);
}

template <typename E>
void run_backward(int device, const cpu::AttentionArgs& a, TcParams& p) {
  const int64_t rows = a.bh * a.tq;
  Scratch buf((2 * size_t(rows) + size_t(rows * a.d)) * sizeof(float), device);
  float* delta = buf.as<float>();
  float* lse2 = delta + rows;
  p.gq = lse2 + rows;
  p.delta = delta;
  p.lse2 = lse2;
  launch("attention_tc_delta", attention_tc_delta<E>, grid_1d(rows * 32, kThreads), dim3(kThreads), 0, device, p,
         rows, delta, lse2);
  ::fibril::cuda::FIBRIL_CUDA_NS::fill(p.gq, DType::float32, rows * a.d, 0.0, device);
  const bool extras = p.mask_kind != 0 || p.dropout;
  if (std::max(a.d, a.dv) > 64) {
    if (extras) backward<E, 128, 16, true>(device, p, a.bh);
    else backward<E, 128, 16, false>(device, p, a.bh);
  } else {
    if (extras) backward<E, 64, 16, true>(device, p, a.bh);
    else backward<E, 64, 32, false>(device, p, a.bh);
  }
  launch("attention_tc_round", attention_tc_round<E>, grid_1d(rows * a.d, 256), dim3(256), 0, device, p.gq,
         reinterpret_cast<E*>(a.gq), rows * a.d);
}

template <typename E>
void run(int device, const cpu::AttentionArgs& a, const AttentionLead& lead) {
  TcParams p{};
  static_cast<AttentionCommon&>(p) = attention_common(a, lead);
  p.scale2 = float(a.scale * kLog2e);
  if (a.g) {
    run_backward<E>(device, a, p);
    return;
  }
  // A mask or dropout (kExtras) costs registers: D 128 then takes one m16 tile per warp.
  const bool extras = p.mask_kind != 0 || p.dropout;
  if (std::max(a.d, a.dv) > 64) {
    if (extras) forward<E, 128, 1, 32, true>(device, p, a.bh);
    else forward<E, 128, 2, 32, false>(device, p, a.bh);
  } else {
    if (extras) forward<E, 64, 2, 32, true>(device, p, a.bh);
    else forward<E, 64, 2, 32, false>(device, p, a.bh);
  }
}

bool aligned16(const void* base, int64_t rs, const int64_t* lead_strides, int ndim) {
  bool ok = reinterpret_cast<uintptr_t>(base) % 16 == 0 && rs % 8 == 0;
  for (int d = 0; d < ndim; ++d) ok = ok && lead_strides[d] % 8 == 0;
  return ok;
}

}  // namespace

bool attention_tc(int device, const cpu::AttentionArgs& a, const AttentionLead& lead) {
  const bool takes = (a.dtype == DType::float16 || a.dtype == DType::bfloat16) && a.d % 8 == 0 && a.dv % 8 == 0 &&
                     std::max(a.d, a.dv) <= 128 && aligned16(a.q, a.q_rs, lead.q, lead.ndim) &&
                     aligned16(a.k, a.k_rs, lead.k, lead.ndim) && aligned16(a.v, a.v_rs, lead.v, lead.ndim) &&
                     device_info(device).major >= 8;
  if (!takes) return false;
  if (a.dtype == DType::float16) run<Half>(device, a, lead);
  else run<BFloat16>(device, a, lead);
  return true;
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
