// CUDA matmul family: C = act(alpha * A·B + beta * C + bias) for every GEMM of a
// cpu::MatmulArgs batch (the op layer builds the same args as for the CPU kernel).
//
// Operands are read in place with their own strides: the loads absorb transposes, steps and
// broadcast batches. Per operand the host picks a layout, by which of its two strides is 1:
// "k" (A row-major, B column-major: k is contiguous) or "mn" (A column-major, B row-major),
// and whether 128-bit loads are allowed (stride 1, the other stride, the base and every
// batch offset a multiple of 4 floats). Tiles that stick out of the matrix (M, N or K not a
// multiple of the tile) and operands without 128-bit loads take scalar, bounds-checked loads
// into the same registers; the choice is uniform per block, so full tiles keep the fast path.
// Batch entries are blockIdx.z (grid-stride); their offsets are i * stride when uniform (the
// usual case, no transfer), else a table uploaded to the device.
//
// Kernels:
// - sgemm (float32, exact): siboehm's warptiling design. 128x128 block tiles, BK 16, 256
//   threads = 8 warps of 64x32 warp tiles; each thread an 8x8 register tile made of 2x2 4x4
//   sub-tiles (conflict-free float4 reads of the fragments). A is stored transposed in
//   shared memory (As[k][m]), B as Bs[k][n]; double buffered: the next tile's global loads
//   are in registers while the current one is multiplied, one __syncthreads per k tile.
//   64x64 tiles (2 warps) when the 128-tile grid would leave most SMs idle. Grid: a 1-D
//   swizzled tile order (groups of 8 row tiles) for L2 reuse.
// - tf32 (float32 with set_float32_matmul_precision("high"|"medium")): mma.sync m16n8k8
//   TF32 tensor cores (sm_80+). 128x128x32 block tiles, 8 warps of 64x32 (4x4 mma tiles), two
//   blocks per SM (128 registers, no spills); 64x64 tiles (2 warps, 4 blocks per SM) when the
//   128-tile grid would leave most SMs idle. 3-stage cp.async pipeline (zero-filling cp.async
//   for the edges; one running address per operand and thread), padded shared memory (row
//   pitch +4/+8 floats: fragment reads conflict-free for both layouts), fragments double
//   buffered across the 4 k-steps of a tile. The float32 bits go to the mma unrounded (the
//   tensor cores truncate to TF32). Used when both operands allow 128-bit loads; else the
//   exact sgemm. Without sm_80 (and under the emulator) the mma is a plain float32 product of
//   the same fragments, so the emulated tests check the tiling, pipeline and fragment
//   indexing, not the TF32 arithmetic.
// - float16 / bfloat16: the same tensor-core kernel with mma.sync m16n8k16 (float32
//   accumulation, the result rounded to nearest even): a stage holds 64 k of 16-bit values
//   (the same 128 bytes per row as TF32's 32 floats), fragments by ldmatrix (.trans for the mn
//   layout; TF32 uses it in the k layout too). An operand that is not 16-byte loadable in place
//   (no unit stride, rows off 16-byte boundaries) is first packed into aligned k-contiguous rows
//   (pack_operand). sm_80 or newer (no SIMT 16-bit path: it spilled on sm_80).
// - wgmma (TF32 / float16 / bfloat16 on compute 9.0, built as sm_90a): Hopper's warpgroup
//   tensor cores. 128 x 256 block tiles (128 x 128 where those leave SMs idle), two warpgroups
//   of 64 x BN, each k stage a chain of wgmma m64nBNk16 (k8 for TF32) reading both operands
//   from shared memory by descriptor, in the 128-byte swizzled k-major layout (wgmma.cuh) that
//   a 16-byte cp.async per thread and row writes directly. Stages are filled two k tiles ahead
//   of the one multiplied, so one tile's wgmmas run while the next is issued (wait_group 1);
//   one barrier per k tile. Operands must be k-major and 16-byte aligned: a TF32 operand that
//   is not is packed first (a coalesced transposing copy) where the product is large enough
//   to pay for it; a 16-bit one goes to mma.sync instead, which reads it in place. Registers
//   (sm_90a): 128 x 128 tile 234; 128 x 256 tile 255 and a 96-byte spill, which the epilogue's
//   bias/beta/relu reads cause (254 registers and no spill with plain stores).
// - split-K (float32 or TF32): when even 64-tiles leave most SMs idle and k is long (weight
//   gradients, short-and-wide products), grid row y multiplies k slice y into a workspace and
//   a second pass sums the slices in order (deterministic) with the epilogue.
// - gemv (M = 1 or N = 1, any dtype): a warp per output when the reduction is contiguous
//   (coalesced loads, shuffle reduction), else 32 outputs x 8 reduction slices per block.
// - dgemm (float64): a plain 64x64x16 shared-memory tiled kernel, 4x4 per thread.
//
// Registers (ptxas, sm_90; no spills on sm_75..sm_90): sgemm 128-tile 183-191 (one block of 8
// warps per SM; two blocks, at 128 registers, spill 56-84 bytes and ran 2-5% slower), 64-tile
// 201-229, tensor-core (TF32 and 16-bit alike) 128-tile 126-128 (two blocks of 8 warps, 2 x 110
// KB of stages), 64-tile 242-249, dgemm 168, gemv 40-64.
// Figures (bench/cuda_matmul.py and a CUDA-event timing of the same products, torch 2.11
// cuBLAS in the same run; ratio = torch time / fibril time). H200 (final code):
//   float32 SIMT: 1024^3 28.6 TFLOP/s (0.76x), 2048^3 40.2 (0.80x), 4096^3 41.1 (0.81x), 4096^3
//   with B = W.T 0.80x, bmm 32 x 512^3 0.79x, 8192x64x8192 0.72x, 128x4096x4096 0.38x; split-K:
//   64x8192x64 3.15 (0.74-0.93x; 0.04x before), 512x8192x512 21.9 (0.50x), 256x16384x256 0.56x.
//   TF32: 4096^3 127-139 TFLOP/s (0.35-0.37x cuBLAS TF32), 2048^3 110-128 (0.36-0.40x), 1024^3
//   51-58 (0.44x, 64-tiles; 0.20x on the sgemm before), bmm 32 x 512^3 0.47x, 8192x64x8192
//   0.62x, 512x8192x512 0.39x (split-K), 64x8192x64 0.85-1.00x. GEMV 1x4096x4096 0.31x,
//   4096x4096x1 0.97x.
//   H100, 16-bit and TF32 with ldmatrix fragments (cuBLAS uses wgmma here): bf16 4096^3 267
//   TFLOP/s (0.38x cuBLAS bf16; 212, 0.29x, with per-register fragment loads), 2048^3 0.37x,
//   1024^3 0.54x, 1000^3 0.59x, 8192x4096x4096 with B = W.T 278 (0.39x), bmm 32 x 512^3 0.44x;
//   fp16 the same within 5%. TF32 4096^3 133 (0.37x), with B = W.T 143 (0.41x), 2048^3 0.44x.
//   Warp tiles of 64x64 (bf16, H100, 4096^3) ran slower: 128x128 blocks of 4 warps, two per SM,
//   222 TFLOP/s; 128x256 of 8 warps with 3 or 4 stages 200-204; 128x128 one per SM 140.
//   The TF32 steps, H100/H200 at 4096^3: 90 TFLOP/s (one block per SM, cvt.rna, single
//   fragments) -> 105 (fragments double buffered) -> 113 (no cvt) -> 139 (two blocks per SM).
//   Warp tiles of 64x64 and block tiles of 128x256 / 256x128 spilled and ran no faster. The
//   target (0.6x cuBLAS, which uses wgmma on sm_90) needs wgmma (sm_90a) or larger warp tiles.
//   wgmma (stop 29, H100, torch 2.11 cuBLAS in the same run, two runs): TF32 4096^3 172-188
//   TFLOP/s (0.46-0.51x; 133, 0.37x on mma.sync), with B = W.T 201-203 (0.53x; 0.41x), 2048^3
//   127-150 (0.40-0.45x); bf16/fp16 8192x4096x4096 with B = W.T 287-313 (0.40-0.43x; 278,
//   0.39x on mma.sync); A @ B with B row-major through the packing copy 256-262 at 4096^3,
//   221-226 at 2048^3 (0.33-0.36x: mma.sync's 0.37-0.38x without the copy, which such 16-bit
//   products keep). What holds wgmma near 300 TFLOP/s (~40% of the tensor cores' peak): every
//   thread both copies and multiplies, one barrier per k tile, loads two tiles ahead at most;
//   the next step is warp specialization (a producer warpgroup, TMA, mbarrier stages).
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "core/errors.h"
#include "cpu/kernels.h"
#include "cuda/launch.cuh"
#include "cuda/device_info.cuh"
#include "cuda/matmul.h"
#include "cuda/mma.cuh"
#include "cuda/wgmma.cuh"

namespace fibril::cuda::FIBRIL_CUDA_NS {
namespace {

using cpu::Activation;

// ---- parameters and the epilogue ---------------------------------------------------------

template <typename T>
struct GemmParams {
  int64_t m, n, k, batch;
  const T* a;
  int64_t a_rs, a_cs, a_bs;
  const int64_t* a_off;  // not null: batch offsets (elements), else i * a_bs
  const T* b;
  int64_t b_rs, b_cs, b_bs;
  const int64_t* b_off;
  T* c;
  int64_t c_rs, c_bs;
  const int64_t* c_off;
  compute_t<T> alpha, beta;
  const T* bias;
  int64_t bias_rs, bias_cs;
  Activation act;
  int64_t k_slice;  // sgemm: k per grid row y (split-K; p.k when gridDim.y is 1)
  int64_t c_slice;  // sgemm: elements between the slices' partial products in c
};

__device__ __forceinline__ int64_t batch_offset(const int64_t* off, int64_t stride, int64_t i) {
  return off ? off[i] : i * stride;
}

template <typename T>
__device__ __forceinline__ T activate(T v, Activation act) {
  switch (act) {
    case Activation::none: return v;
    case Activation::relu: return v < T(0) ? T(0) : v;  // keeps NaN
    case Activation::gelu: return T(0.5) * v * erfc(-v * T(0.70710678118654752440));
    case Activation::gelu_tanh:
      return v / (T(1) + exp(-T(1.5957691216057307117) * (v + T(0.044715) * v * v * v)));
  }
  return v;
}

// The final value of C(row, col) from the product `acc`; `c` points at it (read only when
// beta != 0, so a NaN-filled C with beta 0 stays unread). Only none and relu here: the gelus
// (erfc/exp, inlined up to 64 times per thread or called through the ABI) would spill, so
// the host applies them in a second pass over C (activate_kernel).
// In T's compute type (float for the 16-bit floats), which the caller rounds to T.
template <typename T>
__device__ __forceinline__ compute_t<T> finish(const GemmParams<T>& p, compute_t<T> acc, const T* c, int64_t row,
                                               int64_t col) {
  using C = compute_t<T>;
  C v = p.alpha * acc;
  if (p.beta != C(0)) v += p.beta * C(*c);
  if (p.bias) v += C(p.bias[row * p.bias_rs + col * p.bias_cs]);
  return p.act == Activation::relu && v < C(0) ? C(0) : v;  // keeps NaN
}

// Calls f(cp, row, col, i) for each element i (row-major, batch entry after batch entry) of the
// batch of m x n outputs, cp pointing at it in C; a grid-stride loop over the whole batch.
template <typename T, typename F>
__device__ __forceinline__ void for_each_output(const GemmParams<T>& p, F&& f) {
  const int64_t per = p.m * p.n, total = per * p.batch;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t bi = i / per, r = (i % per) / p.n, col = i % p.n;
    f(p.c + batch_offset(p.c_off, p.c_bs, bi) + r * p.c_rs + col, r, col, i);
  }
}

// C = act(C) over a batch of m x n matrices (the gelu epilogues of the float32 tile kernels).
template <typename T>
__global__ void __launch_bounds__(256) activate_kernel(GemmParams<T> p, Activation act) {
  for_each_output(p, [&](T* cp, int64_t, int64_t, int64_t) { *cp = T(activate(compute_t<T>(*cp), act)); });
}

// C = finish(sum of the split-K partial products) over a batch of m x n matrices; partial
// holds `slices` contiguous batch x m x n blocks, summed in slice order (deterministic).
template <typename T>
__global__ void __launch_bounds__(256) split_k_reduce_kernel(GemmParams<T> p, const T* partial, int slices) {
  const int64_t total = p.m * p.n * p.batch;
  for_each_output(p, [&](T* cp, int64_t r, int64_t col, int64_t i) {
    T sum = partial[i];
    for (int s = 1; s < slices; ++s) sum += partial[s * total + i];
    *cp = finish(p, sum, cp, r, col);
  });
}

// Swizzled tile order: groups of 8 row tiles walk the column tiles together (L2 reuse).
__device__ __forceinline__ void tile_coords(int64_t pid, int64_t tiles_m, int64_t tiles_n, int64_t& tm,
                                            int64_t& tn) {
  constexpr int64_t kGroup = 8;
  const int64_t per_group = kGroup * tiles_n;
  const int64_t first_m = (pid / per_group) * kGroup;
  const int64_t rows = tiles_m - first_m < kGroup ? tiles_m - first_m : kGroup;
  const int64_t in_group = pid % per_group;
  tm = first_m + in_group % rows;
  tn = in_group / rows;
}

constexpr int kLayoutK = 0;   // k contiguous: A(m, k) with a_cs 1, B(k, n) with b_rs 1
constexpr int kLayoutMN = 1;  // m or n contiguous: A with a_rs 1, B with b_cs 1

// Hides v's value from the optimizer: a running address advanced by an opaque step is not
// turned into one precomputed address per unit, all live across the k loop.
__device__ __forceinline__ void opaque(int64_t& v) {
#ifdef __CUDA_ARCH__
  asm volatile("" : "+l"(v));
#else
  (void)v;
#endif
}

// ---- float32 SIMT GEMM (warptiling) ---------------------------------------------------------

constexpr int kSPad = 4;  // shared row padding (floats); keeps float4 alignment

// Loads of one operand tile (ROWS of the m or n dim x BK) from global memory into
// registers, 4 values per unit; `L` decides whether a unit runs along k or along m/n.
// base: the operand at the tile's corner for this batch entry; rs: stride along m/n,
// ks: stride along k; rows_left/k_left: how much of the tile is inside the matrix.
template <int ROWS, int BK, int THREADS, int L>
struct TileLoader {
  static constexpr int kUnits = ROWS * BK / 4;
  static constexpr int kPerThread = kUnits / THREADS;
  static_assert(kUnits % THREADS == 0, "tile units must split evenly over the threads");

  // Unit u's first element: (row, kk) in the tile.
  __device__ __forceinline__ static void unit(int u, int& row, int& kk) {
    if (L == kLayoutK) {
      row = u / (BK / 4);
      kk = (u % (BK / 4)) * 4;
    } else {
      kk = u / (ROWS / 4);
      row = (u % (ROWS / 4)) * 4;
    }
  }

  // A thread's units lie kStride rows (k layout) or k steps (mn layout) apart at one offset
  // along the other dim: one running source pointer (see opaque).
  static constexpr int kStride = THREADS / (L == kLayoutK ? BK / 4 : ROWS / 4);
  static_assert(THREADS % (L == kLayoutK ? BK / 4 : ROWS / 4) == 0, "a thread's units must share their offset");

  __device__ __forceinline__ static void load(float (&r)[kPerThread][4], const float* base, int64_t rs, int64_t ks,
                                              int rows_left, int k_left, bool vec) {
    const bool full = vec && rows_left >= ROWS && k_left >= BK;
    int row, kk;
    unit(int(threadIdx.x), row, kk);
    int64_t step = kStride * (L == kLayoutK ? rs : ks);
    const int64_t along = L == kLayoutK ? ks : rs;  // between a unit's 4 values
    const float* src = base + row * rs + kk * ks;
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      if (full) {  // vec: along == 1
        const float4 v = *reinterpret_cast<const float4*>(src);
        r[i][0] = v.x;
        r[i][1] = v.y;
        r[i][2] = v.z;
        r[i][3] = v.w;
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const int rr = L == kLayoutK ? row : row + j, kj = L == kLayoutK ? kk + j : kk;
          r[i][j] = rr < rows_left && kj < k_left ? src[j * along] : 0.0f;
        }
      }
      opaque(step);
      src += step;
      (L == kLayoutK ? row : kk) += kStride;
    }
  }

  // Into the shared tile s[k][row] (pitch ROWS + kSPad).
  __device__ __forceinline__ static void store(float* s, const float (&r)[kPerThread][4]) {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      int row, kk;
      unit(int(threadIdx.x) + i * THREADS, row, kk);
      if (L == kLayoutK) {
#pragma unroll
        for (int j = 0; j < 4; ++j) s[(kk + j) * (ROWS + kSPad) + row] = r[i][j];
      } else {
        *reinterpret_cast<float4*>(s + kk * (ROWS + kSPad) + row) = make_float4(r[i][0], r[i][1], r[i][2], r[i][3]);
      }
    }
  }
};

// Block tile BM x BN from warps of 64 x 32; each lane an 8x8 tile of 2x2 4x4 sub-tiles:
// rows wm0 + {0, 32} + ty*4 + i, cols wn0 + {0, 16} + tx*4 + j (ty = lane / 4, tx = lane % 4).
template <int BM, int BN, int BK, int MINB, int AL, int BL>
__global__ void __launch_bounds__((BM / 64) * (BN / 32) * 32, MINB)
    sgemm_kernel(GemmParams<float> p, int64_t tiles_m, int64_t tiles_n, int a_vec, int b_vec, int c_vec) {
  constexpr int kWarpsN = BN / 32;
  constexpr int kThreads = (BM / 64) * kWarpsN * 32;
  constexpr int kAPitch = BM + kSPad, kBPitch = BN + kSPad;
  using LoadA = TileLoader<BM, BK, kThreads, AL>;
  using LoadB = TileLoader<BN, BK, kThreads, BL>;
  __align__(16) __shared__ float As[2][BK * kAPitch];
  __align__(16) __shared__ float Bs[2][BK * kBPitch];

  int64_t tm, tn;
  tile_coords(blockIdx.x, tiles_m, tiles_n, tm, tn);
  const int64_t m0 = tm * BM, n0 = tn * BN;
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int wm0 = (warp / kWarpsN) * 64, wn0 = (warp % kWarpsN) * 32;
  const int ty = lane / 4, tx = lane % 4;
  // Operand strides along (m or n, k).
  const int64_t a_ms = p.a_rs, a_ks = p.a_cs, b_ns = p.b_cs, b_ks = p.b_rs;
  // Split-K: grid row y multiplies k slice y into its own partial C.
  const int64_t k_begin = int64_t(blockIdx.y) * p.k_slice;
  const int64_t k_len = p.k - k_begin < p.k_slice ? p.k - k_begin : p.k_slice;
  const int k_tiles = int((k_len + BK - 1) / BK);

  for (int64_t bi = blockIdx.z; bi < p.batch; bi += gridDim.z) {
    const float* a = p.a + batch_offset(p.a_off, p.a_bs, bi) + m0 * a_ms + k_begin * a_ks;
    const float* b = p.b + batch_offset(p.b_off, p.b_bs, bi) + n0 * b_ns + k_begin * b_ks;
    float* c = p.c + batch_offset(p.c_off, p.c_bs, bi) + blockIdx.y * p.c_slice;

    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

    float ra[LoadA::kPerThread][4], rb[LoadB::kPerThread][4];
    // How much of the tile lies inside the matrix, clamped to the tile (32-bit).
    const int a_rows = int(p.m - m0 < BM ? p.m - m0 : BM), b_rows = int(p.n - n0 < BN ? p.n - n0 : BN);
    const auto k_left = [&](int t) { return int(k_len - int64_t(t) * BK < BK ? k_len - int64_t(t) * BK : BK); };
    if (k_tiles > 0) {
      LoadA::load(ra, a, a_ms, a_ks, a_rows, k_left(0), a_vec);
      LoadB::load(rb, b, b_ns, b_ks, b_rows, k_left(0), b_vec);
      LoadA::store(As[0], ra);
      LoadB::store(Bs[0], rb);
    }
    __syncthreads();
    for (int t = 0; t < k_tiles; ++t) {
      const int buf = t & 1;
      const bool more = t + 1 < k_tiles;
      if (more) {  // the next tile's loads are in flight while this one is multiplied
        const int64_t k0 = int64_t(t + 1) * BK;
        LoadA::load(ra, a + k0 * a_ks, a_ms, a_ks, a_rows, k_left(t + 1), a_vec);
        LoadB::load(rb, b + k0 * b_ks, b_ns, b_ks, b_rows, k_left(t + 1), b_vec);
      }
      const float* as = As[buf];
      const float* bs = Bs[buf];
#pragma unroll
      for (int kk = 0; kk < BK; ++kk) {
        float fa[8], fb[8];
        const float4 a0 = *reinterpret_cast<const float4*>(as + kk * kAPitch + wm0 + ty * 4);
        const float4 a1 = *reinterpret_cast<const float4*>(as + kk * kAPitch + wm0 + 32 + ty * 4);
        const float4 b0 = *reinterpret_cast<const float4*>(bs + kk * kBPitch + wn0 + tx * 4);
        const float4 b1 = *reinterpret_cast<const float4*>(bs + kk * kBPitch + wn0 + 16 + tx * 4);
        fa[0] = a0.x; fa[1] = a0.y; fa[2] = a0.z; fa[3] = a0.w;
        fa[4] = a1.x; fa[5] = a1.y; fa[6] = a1.z; fa[7] = a1.w;
        fb[0] = b0.x; fb[1] = b0.y; fb[2] = b0.z; fb[3] = b0.w;
        fb[4] = b1.x; fb[5] = b1.y; fb[6] = b1.z; fb[7] = b1.w;
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(fa[i], fb[j], acc[i][j]);
      }
      if (more) {
        LoadA::store(As[buf ^ 1], ra);
        LoadB::store(Bs[buf ^ 1], rb);
      }
      __syncthreads();
    }

    // Epilogue: 4 consecutive columns per store where C allows it.
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int64_t row = m0 + wm0 + (i / 4) * 32 + ty * 4 + (i % 4);
      if (row >= p.m) continue;
#pragma unroll
      for (int jj = 0; jj < 2; ++jj) {
        const int64_t col = n0 + wn0 + jj * 16 + tx * 4;
        float* cp = c + row * p.c_rs + col;
        if (c_vec && col + 3 < p.n) {
          float4 v;
          v.x = finish(p, acc[i][jj * 4 + 0], cp + 0, row, col + 0);
          v.y = finish(p, acc[i][jj * 4 + 1], cp + 1, row, col + 1);
          v.z = finish(p, acc[i][jj * 4 + 2], cp + 2, row, col + 2);
          v.w = finish(p, acc[i][jj * 4 + 3], cp + 3, row, col + 3);
          *reinterpret_cast<float4*>(cp) = v;
        } else {
#pragma unroll
          for (int j = 0; j < 4; ++j)
            if (col + j < p.n) cp[j] = finish(p, acc[i][jj * 4 + j], cp + j, row, col + j);
        }
      }
    }
  }
}

// ---- tensor-core GEMM: float32 as TF32 (mma.sync m16n8k8), float16/bfloat16 (m16n8k16) -----

// One stage holds 128 bytes of k per row: kBK = 32 floats or 64 16-bit values.
template <typename E>
constexpr int kBK = 128 / int(sizeof(E));
// Elements per 16-byte cp.async unit, and per 32-bit fragment register.
template <typename E>
constexpr int kVec = 16 / int(sizeof(E));

// ldmatrix loads the fragments where a row of 8 16-bit values is 16 contiguous bytes: 16-bit E
// in either layout (.trans for mn), float32 in the k layout (a float is a pair of halves).
template <typename E, int L>
constexpr bool kLdmatrix = sizeof(E) == 2 || L == kLayoutK;

// Shared layouts of one stage: k layout [rows][kBK + 16 bytes], mn layout [kBK][rows + 8];
// the pads keep the 16-byte cp.async rows aligned and make the fragment reads conflict-free.
template <typename E, int L, int ROWS, int THREADS>
struct TcTile {
  static constexpr int kPitch = L == kLayoutK ? kBK<E> + kVec<E> : ROWS + 8;
  static constexpr int kElems = L == kLayoutK ? ROWS * kPitch : kBK<E> * kPitch;
  __device__ __forceinline__ static int at(int row, int kk) { return L == kLayoutK ? row * kPitch + kk : kk * kPitch + row; }
  // Issues this thread's 16-byte copies of the tile at (r0, k0) into s; zero fill outside.
  __device__ __forceinline__ static void load(E* s, const E* base, int64_t rs, int64_t ks, int64_t rows_left,
                                              int64_t k_left);
  // The element offset of the row this lane gives ldmatrix.x4 for matrix j = lane / 8 of a
  // fragment block: A (kA) m16 x 2 k-halves, matrices (m lo, k lo) (m hi, k lo) (m lo, k hi)
  // (m hi, k hi) = registers a0..a3; B two n8 tiles, matrices (n lo, k lo) (n lo, k hi)
  // (n hi, k lo) (n hi, k hi) = b0, b1 of the first tile, then of the second.
  template <bool kA>
  __device__ __forceinline__ static int lane_offset(int lane) {
    const int j = lane / 8, i = lane % 8, half_k = 4 * kPerReg<E>;
    const int row = kA ? (j % 2) * 8 : (j / 2) * 8, kk = kA ? (j / 2) * half_k : (j % 2) * half_k;
    return L == kLayoutK ? at(row + i, kk) : at(row, kk + i);
  }
  // The fragment register holding (row, kk) and, for 16-bit E, (row, kk + 1) in its high half.
  __device__ __forceinline__ static uint32_t reg(const E* s, int row, int kk) {
    if constexpr (sizeof(E) == 4) {
      return __float_as_uint(s[at(row, kk)]);
    } else if constexpr (L == kLayoutK) {
      return *reinterpret_cast<const uint32_t*>(s + at(row, kk));
    } else {
      return uint32_t(s[at(row, kk)].bits) | (uint32_t(s[at(row, kk + 1)].bits) << 16);
    }
  }
};

// A thread's units share one k offset (k layout) or one row (mn layout) and lie a fixed number
// of rows (k layout) or k steps (mn layout) apart: one running source and destination, so
// no per-unit address stays live across the k loop (those held the registers that spilled).
template <typename E, int L, int ROWS, int THREADS>
__device__ __forceinline__ void TcTile<E, L, ROWS, THREADS>::load(E* s, const E* base, int64_t rs, int64_t ks,
                                                                  int64_t rows_left, int64_t k_left) {
  constexpr int V = kVec<E>;
  constexpr int kPerRow = L == kLayoutK ? kBK<E> / V : ROWS / V;  // units along the contiguous dim
  static_assert(THREADS % kPerRow == 0, "a thread's units must share their contiguous offset");
  constexpr int kStride = THREADS / kPerRow;  // rows (k layout) or k (mn layout) between units
  constexpr int kUnits = ROWS * kBK<E> / V;
  const int lead = int(threadIdx.x) / kPerRow, fixed = (int(threadIdx.x) % kPerRow) * V;
  const int row = L == kLayoutK ? lead : fixed, kk = L == kLayoutK ? fixed : lead;
  int64_t fixed_left = (L == kLayoutK ? k_left : rows_left) - fixed;
  fixed_left = fixed_left < 0 ? 0 : (fixed_left > V ? V : fixed_left);
  int64_t lead_left = (L == kLayoutK ? rows_left : k_left) - lead;
  int64_t step = kStride * (L == kLayoutK ? rs : ks);
  const E* src = base + row * rs + kk * ks;
  E* dst = s + at(row, kk);
#pragma unroll
  for (int i = 0; i < kUnits / THREADS; ++i) {
    const int valid = lead_left > 0 ? int(fixed_left) : 0;
    cp_async16(dst, valid > 0 ? src : base, valid * int(sizeof(E)));
    opaque(step);
    src += step;
    dst += kStride * kPitch;
    lead_left -= kStride;
  }
}

// Stores C(row, col) and C(row, col + 1) (where inside the matrix) as T; vec2: one 2-wide store.
template <typename T>
__device__ __forceinline__ void store_pair(const GemmParams<T>& p, T* cp, float v0, float v1, int64_t row,
                                           int64_t col, bool vec2) {
  if (vec2 && col + 1 < p.n) {
    const T x0 = T(finish(p, v0, cp, row, col)), x1 = T(finish(p, v1, cp + 1, row, col + 1));
    if constexpr (sizeof(T) == 4) *reinterpret_cast<float2*>(cp) = make_float2(x0, x1);
    else *reinterpret_cast<uint32_t*>(cp) = uint32_t(x0.bits) | (uint32_t(x1.bits) << 16);
  } else {
    if (col < p.n) cp[0] = T(finish(p, v0, cp, row, col));
    if (col + 1 < p.n) cp[1] = T(finish(p, v1, cp + 1, row, col + 1));
  }
}

// Block tile BM x BN of warps 64 x WN (4 m16 tiles x WN / 8 n8 tiles), STAGES cp.async
// stages, MINB blocks per SM (MINB 2 caps the 128-tile at 128 registers, no spills on sm_90).
// E = float: the operands' float32 bits go to the mma as they are: the tensor cores read the
// TF32 part (truncation, not cvt.rna rounding: 8-35% faster on the H100, max error ~8e-4 of
// the largest output instead of ~3e-4). E = Half/BFloat16: float32 accumulation.
template <typename E, int BM, int BN, int WN, int STAGES, int MINB, int AL, int BL>
__global__ void __launch_bounds__((BM / 64) * (BN / WN) * 32, MINB)
    tc_gemm_kernel(GemmParams<E> p, int64_t tiles_m, int64_t tiles_n, int c_vec2) {
  // The host never launches it before sm_80, nor two blocks per SM before sm_90 (compiled
  // for sm_80, the 128-register cap spills): those builds get an empty kernel.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
  constexpr bool kBuilt = __CUDA_ARCH__ >= 800 && MINB == 1;
#else
  constexpr bool kBuilt = true;
#endif
  if constexpr (!kBuilt) {
    (void)p, (void)tiles_m, (void)tiles_n, (void)c_vec2;
  } else {
    constexpr int kWarpsN = BN / WN, kThreads = (BM / 64) * kWarpsN * 32, kNT = WN / 8;
    constexpr int q = kPerReg<E>, kStep = 8 * q;  // k per mma
    static_assert(kThreads / 32 <= kTMaxWarps, "too many warps for the emulated mma");
    using TA = TcTile<E, AL, BM, kThreads>;
    using TB = TcTile<E, BL, BN, kThreads>;
    constexpr int kStage = TA::kElems + TB::kElems;
    static_assert(kNT % 2 == 0, "B fragments load two n8 tiles at a time");
    constexpr bool kLdA = kLdmatrix<E, AL>, kLdB = kLdmatrix<E, BL>;
    FIBRIL_DYNAMIC_SHARED(float, smem_floats);
    E* smem = reinterpret_cast<E*>(smem_floats);

    int64_t tm, tn;
    tile_coords(blockIdx.x, tiles_m, tiles_n, tm, tn);
    const int64_t m0 = tm * BM, n0 = tn * BN;
    const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
    const int wm0 = (warp / kWarpsN) * 64, wn0 = (warp % kWarpsN) * WN;
    const int g = lane / 4, t = lane % 4;
    const int a_lane = kLdA ? TA::template lane_offset<true>(lane) : 0;
    const int b_lane = kLdB ? TB::template lane_offset<false>(lane) : 0;
    const int64_t a_ms = p.a_rs, a_ks = p.a_cs, b_ns = p.b_cs, b_ks = p.b_rs;
    // Split-K: grid row y multiplies k slice y into its own partial C.
    const int64_t k_begin = int64_t(blockIdx.y) * p.k_slice;
    const int64_t k_len = p.k - k_begin < p.k_slice ? p.k - k_begin : p.k_slice;
    const int64_t k_tiles = (k_len + kBK<E> - 1) / kBK<E>;

    for (int64_t bi = blockIdx.z; bi < p.batch; bi += gridDim.z) {
      const E* a = p.a + batch_offset(p.a_off, p.a_bs, bi) + m0 * a_ms + k_begin * a_ks;
      const E* b = p.b + batch_offset(p.b_off, p.b_bs, bi) + n0 * b_ns + k_begin * b_ks;
      E* c = p.c + batch_offset(p.c_off, p.c_bs, bi) + blockIdx.y * p.c_slice;

      float acc[4][kNT][4];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < kNT; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

      const auto load_stage = [&](int stage, int64_t kt) {
        E* s = smem + stage * kStage;
        const int64_t k0 = kt * kBK<E>;
        TA::load(s, a + k0 * a_ks, a_ms, a_ks, p.m - m0, k_len - k0);
        TB::load(s + TA::kElems, b + k0 * b_ks, b_ns, b_ks, p.n - n0, k_len - k0);
      };
#pragma unroll
      for (int s = 0; s < STAGES - 1; ++s) {
        if (s < k_tiles) load_stage(s, s);
        cp_async_commit();
      }
      for (int64_t kt = 0; kt < k_tiles; ++kt) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();  // tile kt is in; every warp is done with the stage refilled next
        const int64_t next = kt + STAGES - 1;
        if (next < k_tiles) load_stage(int(next % STAGES), next);
        cp_async_commit();

        const E* as = smem + int(kt % STAGES) * kStage;
        const E* bs = as + TA::kElems;
        // Fragments double-buffered: step s + 1's shared loads are issued before step s's mmas.
        // ldmatrix where the layout allows (one instruction per 4 registers), else per register.
        uint32_t fa[2][4][4], fb[2][kNT][2];
        const auto load_fragments = [&](uint32_t(&xa)[4][4], uint32_t(&xb)[kNT][2], int kk) {
#pragma unroll
          for (int mi = 0; mi < 4; ++mi) {
            if constexpr (kLdA) {
              ldmatrix_x4<AL == kLayoutMN>(xa[mi], as + TA::at(wm0 + mi * 16, kk) + a_lane);
            } else {
              const int r = wm0 + mi * 16 + g;
              xa[mi][0] = TA::reg(as, r, kk + q * t);
              xa[mi][1] = TA::reg(as, r + 8, kk + q * t);
              xa[mi][2] = TA::reg(as, r, kk + q * t + 4 * q);
              xa[mi][3] = TA::reg(as, r + 8, kk + q * t + 4 * q);
            }
          }
#pragma unroll
          for (int ni = 0; ni < kNT; ni += 2) {
            if constexpr (kLdB) {
              uint32_t r[4];
              ldmatrix_x4<BL == kLayoutMN>(r, bs + TB::at(wn0 + ni * 8, kk) + b_lane);
              xb[ni][0] = r[0], xb[ni][1] = r[1], xb[ni + 1][0] = r[2], xb[ni + 1][1] = r[3];
            } else {
#pragma unroll
              for (int nj = ni; nj < ni + 2; ++nj) {
                const int col = wn0 + nj * 8 + g;
                xb[nj][0] = TB::reg(bs, col, kk + q * t);
                xb[nj][1] = TB::reg(bs, col, kk + q * t + 4 * q);
              }
            }
          }
        };
        load_fragments(fa[0], fb[0], 0);
#pragma unroll
        for (int step = 0; step < kBK<E> / kStep; ++step) {
          const int cur = step & 1;
          if (step + 1 < kBK<E> / kStep) load_fragments(fa[cur ^ 1], fb[cur ^ 1], (step + 1) * kStep);
#pragma unroll
          for (int mi = 0; mi < 4; ++mi)
#pragma unroll
            for (int ni = 0; ni < kNT; ++ni) mma_tc<E>(acc[mi][ni], fa[cur][mi], fb[cur][ni]);
        }
      }
      cp_async_wait<0>();
      __syncthreads();  // the next batch entry refills stage 0

#pragma unroll
      for (int mi = 0; mi < 4; ++mi) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int64_t row = m0 + wm0 + mi * 16 + g + h * 8;
          if (row >= p.m) continue;
#pragma unroll
          for (int ni = 0; ni < kNT; ++ni) {
            const int64_t col = n0 + wn0 + ni * 8 + 2 * t;
            store_pair(p, c + row * p.c_rs + col, acc[mi][ni][h * 2], acc[mi][ni][h * 2 + 1], row, col, c_vec2);
          }
        }
      }
    }
  }
}

// ---- Hopper: warpgroup tensor cores (wgmma, sm_90a) -------------------------------------------

// One operand tile of ROWS rows x 128 bytes of k into the swizzled layout of wgmma.cuh, by 256
// threads of 16-byte cp.async (zero fill outside the matrix). Thread t copies unit t % 8 of rows
// t / 8 + 32 i: one running source and destination, and one swizzled unit for all its rows.
template <typename E, int ROWS>
__device__ __forceinline__ void load_swizzled(char* s, const E* base, int64_t rs, int64_t rows_left, int64_t k_left) {
  constexpr int V = kVec<E>;
  const int unit = int(threadIdx.x) % 8, row = int(threadIdx.x) / 8;
  int64_t k_valid = k_left - unit * V;
  k_valid = k_valid < 0 ? 0 : (k_valid > V ? V : k_valid);
  const int bytes = int(k_valid) * int(sizeof(E));
  int64_t left = rows_left - row, step = 32 * rs;
  const E* src = base + row * rs + unit * V;
  char* dst = s + row * 128 + ((unit ^ (row % 8)) << 4);
#pragma unroll
  for (int i = 0; i < ROWS / 32; ++i) {
    const int valid = left > 0 ? bytes : 0;
    cp_async16(dst, valid > 0 ? src : base, valid);
    opaque(step);
    src += step;
    dst += 32 * 128;
    left -= 32;
  }
}

// Block tile 128 x BN: two warpgroups of 64 x BN, each a chain of wgmma m64nBNk16 (k8 for TF32)
// on k-major operands (A row-major, B as Linear's W: the host packs any other layout). STAGES
// stages of 128 bytes of k per row by cp.async, filled two tiles ahead: the stage refilled in
// iteration kt held tile kt - 2, whose wgmmas every warpgroup has waited for before the barrier
// of iteration kt, while tile kt - 1's may still run as tile kt's are issued.
template <typename E, int BN, int STAGES>
__global__ void __launch_bounds__(256, 1) wgmma_gemm_kernel(GemmParams<E> p, int64_t tiles_m, int64_t tiles_n, int c_vec2) {
#ifdef FIBRIL_HAS_WGMMA
  constexpr int BM = 128, kABytes = BM * 128, kStage = kABytes + BN * 128;
  constexpr int kK = kBK<E>, kStepBytes = 32;  // k per stage; bytes of k per wgmma
  static_assert(STAGES >= 3, "tiles are filled two ahead of the one multiplied");
  FIBRIL_DYNAMIC_SHARED(float, smem_floats);
  // The swizzle is a function of the address: stages start on 1024-byte boundaries.
  char* smem = reinterpret_cast<char*>(smem_floats);
  smem += (1024 - reinterpret_cast<uintptr_t>(smem) % 1024) % 1024;
  const uint32_t smem_addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));

  int64_t tm, tn;
  tile_coords(blockIdx.x, tiles_m, tiles_n, tm, tn);
  const int64_t m0 = tm * BM, n0 = tn * BN;
  const int wg = int(threadIdx.x) / 128, warp = (int(threadIdx.x) / 32) % 4, lane = int(threadIdx.x) % 32;
  const int64_t k_tiles = (p.k + kK - 1) / kK;

  for (int64_t bi = blockIdx.z; bi < p.batch; bi += gridDim.z) {
    const E* a = p.a + batch_offset(p.a_off, p.a_bs, bi) + m0 * p.a_rs;
    const E* b = p.b + batch_offset(p.b_off, p.b_bs, bi) + n0 * p.b_cs;
    E* c = p.c + batch_offset(p.c_off, p.c_bs, bi);

    float acc[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) acc[i] = 0.0f;

    const auto load_stage = [&](int64_t kt) {
      char* s = smem + int(kt % STAGES) * kStage;
      const int64_t k0 = kt * kK;
      load_swizzled<E, BM>(s, a + k0, p.a_rs, p.m - m0, p.k - k0);
      load_swizzled<E, BN>(s + kABytes, b + k0, p.b_cs, p.n - n0, p.k - k0);
    };
#pragma unroll
    for (int s = 0; s < STAGES - 2; ++s) {
      if (s < k_tiles) load_stage(s);
      cp_async_commit();
    }
    for (int64_t kt = 0; kt < k_tiles; ++kt) {
      cp_async_wait<STAGES - 3>();
      fence_proxy_async();
      __syncthreads();  // tile kt is in for all; tile kt - 2's wgmmas are done in every warpgroup
      if (kt + STAGES - 2 < k_tiles) load_stage(kt + STAGES - 2);
      cp_async_commit();

      const uint32_t stage = smem_addr + uint32_t(kt % STAGES) * kStage;
      const uint64_t da = wgmma_descriptor(stage + wg * 64 * 128), db = wgmma_descriptor(stage + kABytes);
      wgmma_fence();
      wgmma_pin(acc);
#pragma unroll
      for (int j = 0; j < 128 / kStepBytes; ++j) wgmma_ss<E, BN>(acc, da + j * (kStepBytes >> 4), db + j * (kStepBytes >> 4));
      wgmma_commit();
      wgmma_pin(acc);
      wgmma_wait<1>();
    }
    wgmma_wait<0>();
    wgmma_pin(acc);
    cp_async_wait<0>();
    __syncthreads();  // the next batch entry refills the stages

    // Accumulator i of this thread: row 16 warp + lane / 4 + 8 ((i / 2) % 2), column 8 (i / 4) +
    // 2 (lane % 4) + i % 2 of the warpgroup's 64 x BN (mma.sync's C fragment per n8 tile).
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t row = m0 + wg * 64 + warp * 16 + lane / 4 + h * 8;
      if (row >= p.m) continue;
#pragma unroll
      for (int j = 0; j < BN / 8; ++j) {
        const int64_t col = n0 + j * 8 + 2 * (lane % 4);
        store_pair(p, c + row * p.c_rs + col, acc[4 * j + 2 * h], acc[4 * j + 2 * h + 1], row, col, c_vec2);
      }
    }
  }
#else
  (void)p, (void)tiles_m, (void)tiles_n, (void)c_vec2;
#ifdef __CUDA_ARCH__
  __trap();  // no wgmma in this architecture's code: the host never launches it there
#endif
#endif
}

// ---- plain tiled GEMM (float64) ---------------------------------------------------------------

constexpr int kDB = 64, kDBK = 16, kDThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kDThreads) tiled_gemm_kernel(GemmParams<T> p, int64_t tiles_m, int64_t tiles_n) {
  using C = compute_t<T>;
  __shared__ C As[kDBK][kDB + 1];
  __shared__ C Bs[kDBK][kDB + 1];
  int64_t tm, tn;
  tile_coords(blockIdx.x, tiles_m, tiles_n, tm, tn);
  const int64_t m0 = tm * kDB, n0 = tn * kDB;
  const int tx = int(threadIdx.x) % 16, ty = int(threadIdx.x) / 16;
  // Coalesced loads: consecutive threads walk the operand's contiguous dim.
  const bool a_k_fast = p.a_cs == 1, b_k_fast = p.b_rs == 1;
  for (int64_t bi = blockIdx.z; bi < p.batch; bi += gridDim.z) {
    const T* a = p.a + batch_offset(p.a_off, p.a_bs, bi);
    const T* b = p.b + batch_offset(p.b_off, p.b_bs, bi);
    T* c = p.c + batch_offset(p.c_off, p.c_bs, bi);
    C acc[4][4] = {};
    for (int64_t k0 = 0; k0 < p.k; k0 += kDBK) {
      for (int e = int(threadIdx.x); e < kDB * kDBK; e += kDThreads) {
        const int r = a_k_fast ? e / kDBK : e % kDB, kk = a_k_fast ? e % kDBK : e / kDB;
        const int64_t gr = m0 + r, gk = k0 + kk;
        As[kk][r] = gr < p.m && gk < p.k ? C(a[gr * p.a_rs + gk * p.a_cs]) : C(0);
        const int cc = b_k_fast ? e / kDBK : e % kDB, kb = b_k_fast ? e % kDBK : e / kDB;
        const int64_t gc = n0 + cc, gkb = k0 + kb;
        Bs[kb][cc] = gc < p.n && gkb < p.k ? C(b[gkb * p.b_rs + gc * p.b_cs]) : C(0);
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < kDBK; ++kk) {
        C fa[4], fb[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) fa[i] = As[kk][ty + 16 * i];
#pragma unroll
        for (int j = 0; j < 4; ++j) fb[j] = Bs[kk][tx + 16 * j];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j) acc[i][j] = fma(fa[i], fb[j], acc[i][j]);
      }
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t row = m0 + ty + 16 * i;
      if (row >= p.m) continue;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int64_t col = n0 + tx + 16 * j;
        if (col < p.n) {
          T* cp = c + row * p.c_rs + col;
          *cp = T(finish(p, acc[i][j], cp, row, col));
        }
      }
    }
  }
}

// ---- matrix-vector products (M == 1 or N == 1) -----------------------------------------------
// out(j) = sum_p v(p) * mat(j, p) for j < len, with mat(j, p) = mat[j * sj + p * sp]; out(j)
// is C at (row, col) = (0, j) when M == 1, (j, 0) when N == 1.

template <typename T>
struct GemvParams {
  GemmParams<T> g;  // the GEMM: its epilogue, C and batch
  int64_t len;
  const T* v;
  int64_t vs, v_bs;
  const int64_t* v_off;
  const T* mat;
  int64_t sj, sp, mat_bs;
  const int64_t* mat_off;
  bool out_is_row;  // M == 1: out(j) = C(0, j)
};

template <typename T>
__device__ __forceinline__ void gemv_store(const GemvParams<T>& q, T* c, int64_t j, compute_t<T> sum) {
  const int64_t row = q.out_is_row ? 0 : j, col = q.out_is_row ? j : 0;
  T* cp = c + row * q.g.c_rs + col;
  *cp = T(finish(q.g, sum, cp, row, col));
}

// A warp per output; lanes stride over the contiguous reduction: every load of the warp is
// 32 consecutive values (coalesced), 4 independent sums in flight.
template <typename T>
__global__ void __launch_bounds__(256) gemv_dot_kernel(GemvParams<T> q) {
  const int lane = int(threadIdx.x) % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  const int64_t k = q.g.k;
  for (int64_t bi = blockIdx.z; bi < q.g.batch; bi += gridDim.z) {
    const T* v = q.v + batch_offset(q.v_off, q.v_bs, bi);
    const T* mat = q.mat + batch_offset(q.mat_off, q.mat_bs, bi);
    T* c = q.g.c + batch_offset(q.g.c_off, q.g.c_bs, bi);
    for (int64_t j = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32; j < q.len; j += warps) {
      using C = compute_t<T>;
      const T* row = mat + j * q.sj;
      C s0 = C(0), s1 = C(0), s2 = C(0), s3 = C(0);
      int64_t pp = lane;
      for (; pp + 96 < k; pp += 128) {
        s0 = fma(C(row[pp * q.sp]), C(v[pp * q.vs]), s0);
        s1 = fma(C(row[(pp + 32) * q.sp]), C(v[(pp + 32) * q.vs]), s1);
        s2 = fma(C(row[(pp + 64) * q.sp]), C(v[(pp + 64) * q.vs]), s2);
        s3 = fma(C(row[(pp + 96) * q.sp]), C(v[(pp + 96) * q.vs]), s3);
      }
      for (; pp < k; pp += 32) s0 = fma(C(row[pp * q.sp]), C(v[pp * q.vs]), s0);
      C sum = (s0 + s1) + (s2 + s3);
#pragma unroll
      for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
      if (lane == 0) gemv_store(q, c, j, sum);
    }
  }
}

// 32 consecutive outputs x 8 reduction slices per block (mat's outputs contiguous: sj == 1).
template <typename T>
__global__ void __launch_bounds__(256) gemv_axpy_kernel(GemvParams<T> q) {
  using C = compute_t<T>;
  __shared__ C part[8][33];
  const int tx = int(threadIdx.x) % 32, ty = int(threadIdx.x) / 32;
  const int64_t k = q.g.k;
  for (int64_t bi = blockIdx.z; bi < q.g.batch; bi += gridDim.z) {
    const T* v = q.v + batch_offset(q.v_off, q.v_bs, bi);
    const T* mat = q.mat + batch_offset(q.mat_off, q.mat_bs, bi);
    T* c = q.g.c + batch_offset(q.g.c_off, q.g.c_bs, bi);
    for (int64_t j0 = blockIdx.x * int64_t(32); j0 < q.len; j0 += int64_t(gridDim.x) * 32) {
      const int64_t j = j0 + tx;
      C sum = C(0);
      if (j < q.len)
        for (int64_t pp = ty; pp < k; pp += 8) sum = fma(C(mat[j * q.sj + pp * q.sp]), C(v[pp * q.vs]), sum);
      part[ty][tx] = sum;
      __syncthreads();
      if (ty == 0 && j < q.len) {
        C total = part[0][tx];
        for (int s = 1; s < 8; ++s) total += part[s][tx];
        gemv_store(q, c, j, total);
      }
      __syncthreads();
    }
  }
}

// ---- host side -----------------------------------------------------------------------------

// One operand's batch offsets on the device: a uniform step (no transfer) or a table.
struct BatchOffsets {
  int64_t stride = 0;
  const int64_t* table = nullptr;  // on the device, when the steps are not uniform
  std::vector<int64_t> host;       // the table's values (alignment checks, upload)
  bool all_multiple_of(int64_t q) const {
    if (stride % q != 0) return false;
    for (int64_t o : host)
      if (o % q != 0) return false;
    return true;
  }
};

BatchOffsets batch_offsets(const int64_t* offsets, int64_t batch) {
  BatchOffsets out;
  if (!offsets || batch <= 1) return out;
  const int64_t step = offsets[1] - offsets[0];
  bool uniform = offsets[0] == 0;
  for (int64_t i = 1; uniform && i < batch; ++i) uniform = offsets[i] - offsets[i - 1] == step;
  if (uniform) out.stride = step;
  else out.host.assign(offsets, offsets + batch);
  return out;
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// The vector-load layout of one operand with strides (ms along m/n, ks along k).
struct OperandLayout {
  int layout;
  bool vec;
};

// vec: 16-byte loads of `per_vec` elements.
OperandLayout operand_layout(const void* base, int64_t ms, int64_t ks, const BatchOffsets& off, int64_t rows,
                             int64_t k, int64_t per_vec = 4) {
  const bool k_fast = ks == 1 || (k == 1 && ms != 1);
  const int layout = k_fast ? kLayoutK : (ms == 1 || rows == 1 ? kLayoutMN : kLayoutK);
  const int64_t unit = layout == kLayoutK ? ks : ms, other = layout == kLayoutK ? ms : ks;
  const bool vec = unit == 1 && other % per_vec == 0 && aligned(base, 16) && off.all_multiple_of(per_vec);
  return {layout, vec};
}

// Tiles along x, batch entries along z (the kernels stride over the rest of the batch).
dim3 batch_grid(int64_t tiles, int64_t batch) {
  return dim3(unsigned(tiles), 1, unsigned(batch < 65535 ? batch : 65535));
}

template <int BM, int BN, int BK, int MINB>
void launch_sgemm(int device, const GemmParams<float>& p, const OperandLayout& la, const OperandLayout& lb,
                  bool c_vec, unsigned slices = 1) {
  const int64_t tiles_m = (p.m + BM - 1) / BM, tiles_n = (p.n + BN - 1) / BN;
  dim3 grid = batch_grid(tiles_m * tiles_n, p.batch);
  grid.y = slices;
  const unsigned threads = (BM / 64) * (BN / 32) * 32;
  const int av = la.vec, bv = lb.vec, cv = c_vec;
  auto kernel = sgemm_kernel<BM, BN, BK, MINB, kLayoutMN, kLayoutMN>;
  if (la.layout == kLayoutK && lb.layout == kLayoutK) kernel = sgemm_kernel<BM, BN, BK, MINB, kLayoutK, kLayoutK>;
  else if (la.layout == kLayoutK) kernel = sgemm_kernel<BM, BN, BK, MINB, kLayoutK, kLayoutMN>;
  else if (lb.layout == kLayoutK) kernel = sgemm_kernel<BM, BN, BK, MINB, kLayoutMN, kLayoutK>;
  launch("sgemm", kernel, grid, threads, 0, device, p, tiles_m, tiles_n, av, bv, cv);
}

// Dynamic shared memory of a tensor-core launch for the operands' layouts.
template <typename E, int BM, int BN, int STAGES>
size_t tc_smem(const OperandLayout& la, const OperandLayout& lb) {
  constexpr int kThreads = 256;  // the tile's size does not depend on the thread count
  const size_t a = la.layout == kLayoutK ? TcTile<E, kLayoutK, BM, kThreads>::kElems
                                         : TcTile<E, kLayoutMN, BM, kThreads>::kElems;
  const size_t b = lb.layout == kLayoutK ? TcTile<E, kLayoutK, BN, kThreads>::kElems
                                         : TcTile<E, kLayoutMN, BN, kThreads>::kElems;
  return size_t(STAGES) * (a + b) * sizeof(E);
}

template <typename E, int BM, int BN, int WN, int STAGES, int MINB>
void launch_tc(int device, const GemmParams<E>& p, const OperandLayout& la, const OperandLayout& lb, bool c_vec2,
               unsigned slices = 1) {
  constexpr int kThreads = (BM / 64) * (BN / WN) * 32;
  const int64_t tiles_m = (p.m + BM - 1) / BM, tiles_n = (p.n + BN - 1) / BN;
  dim3 grid = batch_grid(tiles_m * tiles_n, p.batch);
  grid.y = slices;
  const int cv = c_vec2;
  const auto go = [&](auto al, auto bl) {
    constexpr int AL = decltype(al)::value, BL = decltype(bl)::value;
    constexpr size_t kSmem =
        size_t(STAGES) * (TcTile<E, AL, BM, kThreads>::kElems + TcTile<E, BL, BN, kThreads>::kElems) * sizeof(E);
    launch(sizeof(E) == 4 ? "tf32_gemm" : "half_gemm", tc_gemm_kernel<E, BM, BN, WN, STAGES, MINB, AL, BL>, grid,
           kThreads, kSmem, device, p, tiles_m, tiles_n, cv);
  };
  using K = std::integral_constant<int, kLayoutK>;
  using MN = std::integral_constant<int, kLayoutMN>;
  if (la.layout == kLayoutK && lb.layout == kLayoutK) go(K{}, K{});
  else if (la.layout == kLayoutK) go(K{}, MN{});
  else if (lb.layout == kLayoutK) go(MN{}, K{});
  else go(MN{}, MN{});
}

// Split-K for grids that even 64-tiles leave mostly idle while k is long: the k range cut into
// slices of at least kMinSlice (one per grid row), partial products in a workspace, then one
// pass summing them with the epilogue.
constexpr int64_t kMinSlice = 128;

void run_split_k(int device, const GemmParams<float>& p, const OperandLayout& la, const OperandLayout& lb,
                 int64_t slices, bool tensor_cores) {
  const int64_t k_slice = ((p.k + slices - 1) / slices + 31) / 32 * 32;  // whole k tiles (16 or 32 deep)
  slices = (p.k + k_slice - 1) / k_slice;
  const int64_t total = p.batch * p.m * p.n;
  Scratch partial(size_t(slices * total) * sizeof(float), device);
  GemmParams<float> q = p;
  q.c = partial.as<float>(), q.c_rs = p.n, q.c_bs = p.m * p.n, q.c_off = nullptr;
  q.alpha = 1.0f, q.beta = 0.0f, q.bias = nullptr, q.act = Activation::none;
  q.k_slice = k_slice, q.c_slice = total;
  if (tensor_cores) launch_tc<float, 64, 64, 32, 3, 4>(device, q, la, lb, p.n % 2 == 0, unsigned(slices));
  else launch_sgemm<64, 64, 16, 4>(device, q, la, lb, p.n % 4 == 0, unsigned(slices));
  launch("matmul_split_k", split_k_reduce_kernel<float>, grid_1d(total, 256), 256, 0, device, p,
         static_cast<const float*>(partial.as<float>()), int(slices));
}

// The tensor-core tiles for a grid that fills at least half the SMs: 128-tiles with 3 stages,
// two blocks per SM where shared memory holds them (sm_90), one block (sm_80), 2 stages where
// a block gets under 110 KB (sm_86, sm_89); else 64-tiles. False: the grid is too small.
template <typename E>
bool run_tc(int device, const DeviceInfo& info, const GemmParams<E>& p, const OperandLayout& la,
            const OperandLayout& lb, bool c_vec2, int64_t tiles128, int64_t tiles64) {
  const size_t smem3 = tc_smem<E, 128, 128, 3>(la, lb), smem2 = tc_smem<E, 128, 128, 2>(la, lb);
  if (size_t(info.smem_block) >= smem2 && tiles128 >= info.sms / 2) {
    if (info.major >= 9 && size_t(info.smem_sm) >= 2 * (smem3 + 1024))
      launch_tc<E, 128, 128, 32, 3, 2>(device, p, la, lb, c_vec2);
    else if (size_t(info.smem_block) >= smem3) launch_tc<E, 128, 128, 32, 3, 1>(device, p, la, lb, c_vec2);
    else launch_tc<E, 128, 128, 32, 2, 1>(device, p, la, lb, c_vec2);
    return true;
  }
  if (tiles64 >= info.sms / 2) {
    launch_tc<E, 64, 64, 32, 3, 4>(device, p, la, lb, c_vec2);
    return true;
  }
  return false;
}

// The wgmma kernel was built (sm_90a code, FIBRIL_CUDA_WGMMA from CMake) and this device runs
// it (compute capability 9.0 exactly: sm_90a code runs nowhere else).
bool wgmma_ready(const DeviceInfo& info) {
#if defined(FIBRIL_CUDA_WGMMA) && !defined(FIBRIL_CUDA_EMULATION)
  return info.major == 9 && info.minor == 0;
#else
  (void)info;
  return false;
#endif
}

template <typename E, int BN, int STAGES>
void launch_wgmma(int device, const GemmParams<E>& p, bool c_vec2) {
  const int64_t tiles_m = (p.m + 127) / 128, tiles_n = (p.n + BN - 1) / BN;
  const size_t smem = size_t(STAGES) * (128 + BN) * 128 + 1024;  // + the 1024-byte alignment
  launch("wgmma_gemm", wgmma_gemm_kernel<E, BN, STAGES>, batch_grid(tiles_m * tiles_n, p.batch), 256, smem, device, p,
         tiles_m, tiles_n, int(c_vec2));
}

template <typename T>
std::unique_ptr<Scratch> pack_operand(int device, const T*& ptr, int64_t rows, int64_t k, int64_t& rs, int64_t& ks,
                                      int64_t& bs, const int64_t*& off, int64_t batch, OperandLayout& layout);

constexpr int64_t kMinPackedSide = 2048;

// Hopper's wgmma tiles for grids that fill the SMs (128 x 256 tiles, else 128 x 128 where those
// fill half of them), with the operands k-major and 16-byte aligned: one that is not is
// first packed (TF32 only), where the product's other side is at least kMinPackedSide long
// (bmm 32 x 512^3 with B row-major: 0.24x cuBLAS with the copy, 0.62x on mma.sync without it).
// False: not this device or build, the grid is too small, or a copy would not pay.
template <typename E>
bool run_wgmma(int device, const DeviceInfo& info, GemmParams<E> p, OperandLayout la, OperandLayout lb, bool c_vec2) {
  if (!wgmma_ready(info) || p.k == 0) return false;
  const int64_t tiles256 = ((p.m + 127) / 128) * ((p.n + 255) / 256) * p.batch;
  const int64_t tiles128 = ((p.m + 127) / 128) * ((p.n + 127) / 128) * p.batch;
  if (tiles128 < info.sms / 2) return false;
  // A copy costs about as much as the product it saves time on when the other side is short.
  // 16-bit operands are never copied for it: mma.sync reads them in place (ldmatrix.trans) and
  // ran as fast as wgmma after the copy (4096^3 A @ B: 267 vs 256-262 TFLOP/s on the H100).
  const bool pack_a = la.layout != kLayoutK || !la.vec, pack_b = lb.layout != kLayoutK || !lb.vec;
  const int64_t min_side = sizeof(E) == 2 ? INT64_MAX : kMinPackedSide;
  if ((pack_a && p.n < min_side) || (pack_b && p.m < min_side)) return false;
  std::unique_ptr<Scratch> a_packed, b_packed;
  if (pack_a) a_packed = pack_operand(device, p.a, p.m, p.k, p.a_rs, p.a_cs, p.a_bs, p.a_off, p.batch, la);
  if (pack_b) b_packed = pack_operand(device, p.b, p.n, p.k, p.b_cs, p.b_rs, p.b_bs, p.b_off, p.batch, lb);
  if (tiles256 >= info.sms) launch_wgmma<E, 256, 4>(device, p, c_vec2);
  else launch_wgmma<E, 128, 6>(device, p, c_vec2);
  return true;
}

template <typename T>
void run_tiled(int device, const GemmParams<T>& p);

// dst[(b * rows + r) * pitch + kk] = src(b, r, kk): an operand copied k-contiguous.
template <typename T>
__global__ void __launch_bounds__(256) pack_rows_kernel(const T* src, int64_t rows, int64_t k, int64_t rs, int64_t ks,
                                                        int64_t bs, const int64_t* off, int64_t batch, T* dst,
                                                        int64_t pitch) {
  const int64_t total = batch * rows * k;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / (rows * k), r = (i / k) % rows, kk = i % k;
    dst[(b * rows + r) * pitch + kk] = src[batch_offset(off, bs, b) + r * rs + kk * ks];
  }
}

// The same copy for a source whose rows are its unit-stride dim (rs == 1): 32 x 32 tiles
// through shared memory, so that both the reads (along the rows) and the writes (along k) are
// coalesced; blockIdx.x/y tile the rows and k, z strides over the batch.
template <typename T>
__global__ void __launch_bounds__(256) pack_transposed_kernel(const T* src, int64_t rows, int64_t k, int64_t ks,
                                                              int64_t bs, const int64_t* off, int64_t batch, T* dst,
                                                              int64_t pitch) {
  __shared__ T tile[32][33];
  const int64_t r0 = int64_t(blockIdx.x) * 32, k0 = int64_t(blockIdx.y) * 32;
  const int tx = int(threadIdx.x) % 32, ty = int(threadIdx.x) / 32;
  for (int64_t b = blockIdx.z; b < batch; b += gridDim.z) {
    const T* s = src + batch_offset(off, bs, b);
    for (int i = ty; i < 32; i += 8)
      if (r0 + tx < rows && k0 + i < k) tile[i][tx] = s[r0 + tx + (k0 + i) * ks];
    __syncthreads();
    T* d = dst + b * rows * pitch;
    for (int i = ty; i < 32; i += 8)
      if (r0 + i < rows && k0 + tx < k) d[(r0 + i) * pitch + k0 + tx] = tile[tx][i];
    __syncthreads();
  }
}

// A 16-bit operand the tensor-core loads cannot read in place (no unit stride, rows not on
// 16-byte boundaries) copied into k-contiguous rows of a pitch of whole 16-byte units; the
// operand's pointer, strides (rs along its rows, ks along k), batch step and layout then
// describe the copy, which lives as long as the returned scratch (freed in stream order).
template <typename T>
std::unique_ptr<Scratch> pack_operand(int device, const T*& ptr, int64_t rows, int64_t k, int64_t& rs, int64_t& ks,
                                      int64_t& bs, const int64_t*& off, int64_t batch, OperandLayout& layout) {
  const int64_t pitch = (k + 7) / 8 * 8;
  auto packed = std::make_unique<Scratch>(size_t(batch * rows * pitch) * sizeof(T), device);
  const int64_t row_tiles = (rows + 31) / 32, k_tiles = (k + 31) / 32;
  if (rs == 1 && k_tiles < 65536) {
    const dim3 grid(unsigned(row_tiles), unsigned(k_tiles), unsigned(batch < 65535 ? batch : 65535));
    launch("matmul_pack", pack_transposed_kernel<T>, grid, 256, 0, device, ptr, rows, k, ks, bs, off, batch,
           packed->as<T>(), pitch);
  } else {
    launch("matmul_pack", pack_rows_kernel<T>, grid_1d(batch * rows * k, 256), 256, 0, device, ptr, rows, k, rs, ks,
           bs, off, batch, packed->as<T>(), pitch);
  }
  ptr = packed->as<T>(), rs = pitch, ks = 1, bs = rows * pitch, off = nullptr;
  layout = OperandLayout{kLayoutK, true};
  return packed;
}

template <typename T>
void run_gemv(int device, const GemmParams<T>& p) {
  GemvParams<T> q{};
  q.g = p;
  q.out_is_row = p.m == 1;
  if (q.out_is_row) {  // C(0, j) = sum_p A(0, p) B(p, j)
    q.len = p.n;
    q.v = p.a, q.vs = p.a_cs, q.v_bs = p.a_bs, q.v_off = p.a_off;
    q.mat = p.b, q.sj = p.b_cs, q.sp = p.b_rs, q.mat_bs = p.b_bs, q.mat_off = p.b_off;
  } else {  // C(i, 0) = sum_p A(i, p) B(p, 0)
    q.len = p.m;
    q.v = p.b, q.vs = p.b_rs, q.v_bs = p.b_bs, q.v_off = p.b_off;
    q.mat = p.a, q.sj = p.a_rs, q.sp = p.a_cs, q.mat_bs = p.a_bs, q.mat_off = p.a_off;
  }
  const unsigned zb = unsigned(p.batch < 65535 ? p.batch : 65535);
  if (q.sp != 1 && q.sj == 1 && p.k > 1) {
    const int64_t blocks = (q.len + 31) / 32;
    launch("gemv_axpy", gemv_axpy_kernel<T>, dim3(unsigned(blocks < 65535 ? blocks : 65535), 1, zb), 256, 0, device,
           q);
    return;
  }
  const int64_t blocks = (q.len + 7) / 8;
  launch("gemv_dot", gemv_dot_kernel<T>, dim3(unsigned(blocks < 65535 ? blocks : 65535), 1, zb), 256, 0, device, q);
}

template <typename T>
void run(int device, const cpu::MatmulArgs& args, bool tf32) {
  FIBRIL_CHECK(!args.b_packer && !args.b_prepacked, NotImplemented,
               "[matmul] packed B operands are not supported on CUDA");
  GemmParams<T> p{};
  p.m = args.m, p.n = args.n, p.k = args.k, p.batch = args.batch;
  p.a = reinterpret_cast<const T*>(args.a), p.a_rs = args.a_rs, p.a_cs = args.a_cs;
  p.b = reinterpret_cast<const T*>(args.b), p.b_rs = args.b_rs, p.b_cs = args.b_cs;
  p.c = reinterpret_cast<T*>(args.c), p.c_rs = args.c_rs;
  p.alpha = static_cast<compute_t<T>>(args.alpha), p.beta = static_cast<compute_t<T>>(args.beta);
  p.bias = reinterpret_cast<const T*>(args.bias), p.bias_rs = args.bias_rs, p.bias_cs = args.bias_cs;
  p.act = args.act;
  p.k_slice = p.k, p.c_slice = 0;

  // Batch offsets: uniform steps stay scalars; the rest go up as one table.
  BatchOffsets ao = batch_offsets(args.a_offsets, p.batch);
  BatchOffsets bo = batch_offsets(args.b_offsets, p.batch);
  BatchOffsets co = batch_offsets(args.c_offsets, p.batch);
  std::unique_ptr<Scratch> tables;  // freed in stream order, after the GEMM that reads it
  if (!ao.host.empty() || !bo.host.empty() || !co.host.empty()) {
    std::vector<int64_t> packed;
    for (const BatchOffsets* o : {&ao, &bo, &co}) packed.insert(packed.end(), o->host.begin(), o->host.end());
    tables = std::make_unique<Scratch>(packed.size() * sizeof(int64_t), device);
    ::fibril::cuda::FIBRIL_CUDA_NS::memcpy(tables->as<void>(), packed.data(), packed.size() * sizeof(int64_t),
                                           CopyKind::HostToDevice, device);
    const int64_t* base = tables->as<int64_t>();
    int64_t at = 0;
    for (BatchOffsets* o : {&ao, &bo, &co}) {
      if (!o->host.empty()) {
        o->table = base + at;
        at += int64_t(o->host.size());
      }
    }
  }
  p.a_bs = ao.stride, p.a_off = ao.table;
  p.b_bs = bo.stride, p.b_off = bo.table;
  p.c_bs = co.stride, p.c_off = co.table;

  const Activation act = p.act;
  const bool second_pass = act != Activation::none && act != Activation::relu;
  if (second_pass) p.act = Activation::none;  // the gelus: one pass over C after the GEMM

  if ((p.m == 1 || p.n == 1) && p.k > 0) {
    run_gemv(device, p);
  } else if constexpr (std::is_same_v<T, float>) {
    const DeviceInfo info = device_info(device);
    const OperandLayout la = operand_layout(p.a, p.a_rs, p.a_cs, ao, p.m, p.k);
    const OperandLayout lb = operand_layout(p.b, p.b_cs, p.b_rs, bo, p.n, p.k);
    const bool c_vec = p.c_rs % 4 == 0 && aligned(p.c, 16) && co.all_multiple_of(4);
    const int64_t tiles128 = ((p.m + 127) / 128) * ((p.n + 127) / 128) * p.batch;
    const int64_t tiles64 = ((p.m + 63) / 64) * ((p.n + 63) / 64) * p.batch;
    const bool c_vec2 = p.c_rs % 2 == 0 && aligned(p.c, 8) && co.all_multiple_of(2);
    const bool tensor_cores = tf32 && info.major >= 8 && la.vec && lb.vec && p.k > 0;
    // 128-tiles: 3 stages, two blocks per SM where shared memory holds them (sm_90), one
    // block (sm_80), 2 stages where a block gets under 110 KB (sm_86, sm_89).
    if (tf32 && run_wgmma(device, info, p, la, lb, c_vec2)) {
      // done
    } else if (tensor_cores && run_tc(device, info, p, la, lb, c_vec2, tiles128, tiles64)) {
      // done
    } else if (tiles64 < info.sms / 2 && p.k >= 2 * kMinSlice) {
      const int64_t by_sms = (info.sms + tiles64 - 1) / tiles64, by_k = p.k / kMinSlice;
      run_split_k(device, p, la, lb, by_sms < by_k ? by_sms : by_k, tensor_cores);
    } else if (tiles128 >= info.sms) {
      launch_sgemm<128, 128, 16, 1>(device, p, la, lb, c_vec);
    } else {
      launch_sgemm<64, 64, 16, 4>(device, p, la, lb, c_vec);
    }
  } else if constexpr (is_half_v<T>) {
    // Tensor cores (sm_80+); an operand they cannot read in place is packed first.
    const DeviceInfo info = device_info(device);
    FIBRIL_CHECK(info.major >= 8, NotImplemented, "[matmul] ", dtype_name(args.dtype),
                 " products on CUDA need tensor cores of sm_80 or newer; convert the operands with .float()");
    OperandLayout la = operand_layout(p.a, p.a_rs, p.a_cs, ao, p.m, p.k, 8);
    OperandLayout lb = operand_layout(p.b, p.b_cs, p.b_rs, bo, p.n, p.k, 8);
    const bool c_vec2 = p.c_rs % 2 == 0 && aligned(p.c, 4) && co.all_multiple_of(2);
    if (!run_wgmma(device, info, p, la, lb, c_vec2)) {  // mma.sync
      std::unique_ptr<Scratch> a_packed, b_packed;
      if (p.k == 0) {  // no loads: C = beta C + bias
        la = lb = OperandLayout{kLayoutK, true};
      } else {
        if (!la.vec) a_packed = pack_operand(device, p.a, p.m, p.k, p.a_rs, p.a_cs, p.a_bs, p.a_off, p.batch, la);
        if (!lb.vec) b_packed = pack_operand(device, p.b, p.n, p.k, p.b_cs, p.b_rs, p.b_bs, p.b_off, p.batch, lb);
      }
      const int64_t tiles128 = ((p.m + 127) / 128) * ((p.n + 127) / 128) * p.batch;
      const int64_t tiles64 = ((p.m + 63) / 64) * ((p.n + 63) / 64) * p.batch;
      if (!run_tc(device, info, p, la, lb, c_vec2, tiles128, tiles64)) launch_tc<T, 64, 64, 32, 3, 4>(device, p, la, lb, c_vec2);
    }
  } else {
    (void)tf32;
    run_tiled(device, p);
  }
  if (second_pass) {
    launch("matmul_activation", activate_kernel<T>, grid_1d(p.m * p.n * p.batch, 256), 256, 0, device, p, act);
  }
}

template <typename T>
void run_tiled(int device, const GemmParams<T>& p) {
  {
    const int64_t tiles_m = (p.m + kDB - 1) / kDB, tiles_n = (p.n + kDB - 1) / kDB;
    launch(sizeof(T) == 8 ? "dgemm" : "tiled_gemm", tiled_gemm_kernel<T>, batch_grid(tiles_m * tiles_n, p.batch),
           kDThreads, 0, device, p, tiles_m, tiles_n);
  }
}

}  // namespace

void matmul(int device, const cpu::MatmulArgs& args, bool tf32) {
  if (args.batch <= 0 || args.m <= 0 || args.n <= 0) return;
  switch (args.dtype) {
    case DType::float32: return run<float>(device, args, tf32);
    case DType::float64: return run<double>(device, args, tf32);
    case DType::float16: return run<Half>(device, args, tf32);
    case DType::bfloat16: return run<BFloat16>(device, args, tf32);
    default:
      FIBRIL_FAIL(NotImplemented, "[matmul] CUDA supports floating-point operands, got ", dtype_name(args.dtype));
  }
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
