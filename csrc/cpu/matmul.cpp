// GEMM, BLIS style: C = act(alpha * A·B + beta * C + bias).
//
// Loops, outermost first: jc over NC columns of B (a KC x NC block of B stays in L3),
// pc over KC of the inner dimension (B's block is packed once into NR-wide panels, shared by
// the threads), ic over MC rows of A (each thread packs its A block into MR-high panels, kept
// in its L2), jr over the NR-wide B panels (one KC x NR panel, 16 or 32 KiB, in L1; the
// first tile on a panel prefetches the next one), ir over the MR-high A panels; the
// microkernel keeps an MR x NR tile of C in registers for the whole KC loop. Edge tiles run the same microkernel:
// the last A panel is R < MR rows high (a kernel instantiated for R rows, so no FLOP is spent
// on padding) and the last B panel is zero-padded to NR columns, its tile written through a
// small buffer. Transposes, steps and broadcasts are absorbed by the packing (AVX2 8x8
// transposes for row-major A and column-major B). With at most 32 rows of A, B is read in
// place (KC 64, software prefetch 4 panels ahead: no packing pass over B); a small row-major
// A under at most 8 B panels, or column-major under 32, is read in place too (kDirectAMaxBytes);
// on one thread with one A block, each B panel is packed just before its tiles, in L1; one row or one
// column of C is a matrix-vector product (axpy or dot form, bound by reading the matrix once).
// A B shared by many GEMMs (an RNN's recurrent weight) can be packed once (matmul_pack_b) and
// passed prepacked: the GEMMs then read its panels in place of packing B each time.
//
// The microkernel is written once with GCC vector types: 16 floats (AVX-512, 14x32 tile: 28
// accumulators, 2 B vectors, 1 broadcast = 31 of 32 zmm registers), 8 floats (AVX2 + FMA,
// 6x16 tile: 15 of 16 ymm registers) or 4 floats (generic SSE2, 6x8); its k loop is unrolled
// by 4. Blocking for float32: AVX-512 MR 14, NR 32, KC 256, MC 252, NC 4096 (48 KiB L1d, 2 MiB
// L2: chosen among KC 192-384 and A blocks of 256 KiB-1 MiB by measurement); AVX2 MR 6, NR 16,
// KC 256, MC 144, NC 4096 (Zen: 32 KiB L1d, 512 KiB L2, 8 MiB shared L3). Other dtypes
// (float64, int32, int64, uint8) use the same code with their own lane counts. The avx512
// build hands a B at most one vector wide (n <= 16 floats) to the avx2 build's narrower tile.
//
// MC is the rows of a 256 KiB (AVX2: 144 KiB) A block at KC; a shorter k block takes more
// rows, and the rows split into equal blocks (a_block_rows).
//
// Threads: a short or small A (fewer than four row panels per thread, or at most 512 KiB),
// or a B wide enough that packing A on every thread costs little (see splits_by_columns),
// splits B's columns, each thread running its slice's whole GEMM alone (packing all of A):
// one parallel region, no shared B panels. Otherwise each (jc, pc) step packs B in parallel,
// then splits the C block by rows when A has at least two row panels per thread (B's block
// is shared, A's rows are private), else by columns.
// Small GEMMs run on one thread; a batch of small GEMMs is split by GEMM. Every C element is
// computed by one thread in a fixed order, so results do not depend on the thread count.
//
// Measured on AVX-512 (Intel Xeon VM, 2 cores, avx512 build; FMA peak ~470 GFLOP/s on 2
// threads, 238 on one), `python -m bench --family matmul`, float32, 2 threads, vs numpy
// (OpenBLAS) and torch 2.13 (both with AVX-512 kernels), two runs (the second after A read in
// place also column-major): N = 1024 on one thread 182 GFLOP/s (76% of the core's peak; torch
// 175-202; the microkernel alone on hot panels 214-230, 90-97%). Square 64/128/256/512/1024/
// 2048/4096: 76-132/168-237/334-342/341-357/298-352/343-367/329-335 GFLOP/s = 0.75-0.81/
// 1.18-1.42/1.20-1.24/1.06-1.09/0.86-0.98/0.99-1.04/0.92-0.94x numpy and 1.01-1.24/0.86-1.01/
// 0.90-0.91/0.87-0.88/0.79-0.86/0.90-0.92/0.88x torch. Skinny M x 4096 x 4096, M = 1/4/16/32:
// 29-30/54-70/179-203/231-236 GFLOP/s = 1.03-1.04/2.07-2.52/1.96-1.98/1.66-1.68x numpy,
// 1.05/1.14-1.47/1.27-1.41/1.13-1.16x torch. Linear 64x784x256 253-258 GFLOP/s (1.47-1.52x
// numpy, 0.96-0.99x torch), 512x768x3072 350-356 (1.22-1.27x, 0.97-1.05x), 512x3072x768
// 324-327 (1.05x, 0.90x); batched 64 x 128x64x128 250-270 (2.17-2.40x numpy, 0.75-0.78x
// torch). The avx2 build on the same machine: 203-212 GFLOP/s at N >= 1024, 0.52-0.55x torch.
// The machine is noisy: the same call's time moves up to 20% between runs.
//
// Measured on AVX2 (AMD EPYC Zen1 VM, 2 cores; FMA peak 80 GFLOP/s on 2 threads, 42 on one;
// the host is noisy, +-15% between runs): `python -m bench --family matmul`, float32, 2 threads:
//   isolated microkernel 39.4 GFLOP/s on one core (93%); N = 1024 on one thread 35.8-36.3
//   (85% of the single-core probe, = numpy's OpenBLAS). Square, 2 threads: N = 64 27 GFLOP/s
//   (1.7x numpy, = torch), 128 58 (1.2x numpy, 0.96x torch), 256 68 (85% of peak, 1.25x
//   numpy, = torch), 512 69 (1.07x numpy, 1.03x torch), 1024-4096 59-74 (0.85-1.03x numpy,
//   1.03-1.06x torch, noisy). Skinny M x 4096 x 4096: M = 1 12.8 GFLOP/s (= numpy, 1.4x
//   torch), 4: 31 (1.8x numpy, 3x torch), 16: 43-46 (0.9-1.1x numpy, 2x torch), 32: 46
//   (0.77x numpy, 1.2-1.5x torch). Linear + relu 512x768x3072: 70 GFLOP/s (1.07x numpy,
//   1.11x torch); 64x784x256: 46 (0.8x both). Batched 64 x 128x64x128: 55 GFLOP/s in a
//   steady loop, 32 in the interleaved harness (0.6x torch).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>

#include "core/allocator.h"
#include "core/parallel.h"
#include "cpu/kernels.h"
#include "cpu/scratch.h"
#include "cpu/simd.h"
#include "cpu/vec.h"
#include "cpu/vec_math.h"

#ifdef FIBRIL_ISA_BASE
namespace fibril::cpu::FIBRIL_ISA_BASE {
void matmul(const MatmulArgs& args);
}
#endif

namespace fibril::cpu::FIBRIL_ISA {
namespace {

// The tile is MR x (2 vectors). AVX-512 has 32 registers: 14 rows (28 accumulators, 2 B
// vectors, 1 broadcast); blocks for Ice Lake / Sapphire Rapids cores (48 KiB L1d, >= 1.25 MiB
// L2; Skylake-SP's 32 KiB L1d would want a shorter KC). With 16 registers (AVX2, SSE2): 6
// rows, and Zen's 32 KiB L1d and 512 KiB L2.
template <typename T>
struct Blocking {
  static constexpr bool kWide = kVecBytes == 64;
  static constexpr int kLanes = kVecBytes / sizeof(T);
  static constexpr int MR = kWide ? 14 : 6;
  static constexpr int NR = 2 * kLanes;
  static constexpr int64_t kPanelBytes = kWide ? 32768 : 16384;  // a KC x NR panel of B: L1
  static constexpr int64_t kBlockBytes = kWide ? 262144 : 147456;  // an MC x KC block of A: L2
  static constexpr int64_t KC = kPanelBytes / (NR * sizeof(T));
  static constexpr int64_t NC = (4 << 20) / (KC * sizeof(T)) / NR * NR;  // a B block of 4 MiB: L3
};

// Below this many multiply-adds a GEMM runs on one thread: waking the pool costs more. The
// 512-bit tile does a small GEMM in half the time, so the pool pays off later (measured on a
// 2-core AVX-512 VM: two threads win from N = 112 on).
constexpr double kParallelMinFlops = kVecBytes == 64 ? 2.0 * 100 * 100 * 100 : 2.0 * 64 * 64 * 64;
// A row- or column-major A is read in place rather than packed when it is at most this large
// and at most this many B panels use it: the tiles read it 3% slower than packed panels, which
// a few panels do not repay (measured, 2 threads: 64^3 5.9 -> 4.9 us, 128^3 25.7 -> 19.2,
// 256^3 120 -> 110, Linear 64x784x256 113 -> 92; column-major, as a weight gradient's g^T:
// 128^3 28.9 -> 18.6, 256x128x256 71.5 -> 60.1; at 16 panels and more packing wins).
constexpr int64_t kDirectAMaxBytes = 512 << 10;
constexpr int64_t kDirectAMaxPanels = 8;
// A column-major A, whose tile reads R contiguous values per step, stays in place under more
// panels (2 threads: 128x256x1024 202 -> 188 us; at 64 panels packing wins, 512x256x2048
// 1588 vs 1699 us).
constexpr int64_t kDirectColumnAMaxPanels = 32;
// Up to this many rows of A, B is read in place rather than packed.
constexpr int64_t kDirectBMaxRows = 32;
// ... and its tiles prefetch the panel this many panels to their right.
constexpr int64_t kDirectBPrefetchPanels = 4;
// ... and they run KC steps this short, so that the rows of B in flight stay few.
constexpr int64_t kDirectKC = 64;

template <typename T>
struct Gemm {
  int64_t m, n, k;
  const T* a;
  int64_t a_rs, a_cs;
  const T* b;
  int64_t b_rs, b_cs;
  T* c;
  int64_t c_rs;
  T alpha, beta;
  const T* bias;
  int64_t bias_rs, bias_cs;
  Activation act;
  const BPacker* packer;  // when set, B's panels come from it (b is its base pointer)
  const T* prepacked;     // when set, B's panels as pack_b_all laid them out
  // A column slice of a larger GEMM (see gemm_by_columns): its first column there, and that
  // GEMM's n rounded up to whole panels (the prepacked layout's row length).
  int64_t col0, n_pad;
};

// What a tile does with its sums at one pc step.
struct TileStep {
  bool first;  // C = alpha*sum + beta*C; later steps: C += alpha*sum
  bool last;   // then add the bias and apply the activation
};

template <typename T>
inline T activate_scalar(T v, Activation act) {
  if constexpr (std::is_floating_point_v<T>) {
    switch (act) {
      case Activation::none: return v;
      case Activation::relu: return v < T(0) ? T(0) : v;
      case Activation::gelu:
        if constexpr (std::is_same_v<T, float>) return vm::gelu(v);  // the vector lanes' twin
        else return T(0.5) * v * std::erfc(-v * T(0.70710678118654752440));
      case Activation::gelu_tanh:
        if constexpr (std::is_same_v<T, float>) return vm::gelu_tanh(v);
        else return v / (T(1) + std::exp(-T(1.5957691216057307117) * (v + T(0.044715) * v * v * v)));
    }
    return v;
  } else {
    return act == Activation::relu && v < T(0) ? T(0) : v;
  }
}

// One element of C: step(alpha * sum, C), then the bias and the activation on the last step.
template <typename T>
inline T finish_value(const Gemm<T>& g, TileStep st, T sum, const T* c, int64_t row, int64_t col) {
  T v = g.alpha * sum;
  if (!st.first) v += *c;
  else if (g.beta != T(0)) v += g.beta * *c;
  if (st.last) {
    if (g.bias) v += g.bias[row * g.bias_rs + col * g.bias_cs];
    v = activate_scalar(v, g.act);
  }
  return v;
}

template <typename T>
inline void finish_row_scalar(const Gemm<T>& g, TileStep st, const T* s, T* c, int64_t row, int64_t col, int nr) {
  for (int j = 0; j < nr; ++j) c[j] = finish_value(g, st, s[j], c + j, row, col + j);
}

// Whether finish_row_vector applies `act` in registers (else the tile goes the scalar way).
template <typename T>
constexpr bool vector_activation(Activation act) {
#ifdef __AVX2__
  if (std::is_same_v<T, float>) return true;
#endif
  return act == Activation::none || act == Activation::relu;
}

#ifdef __AVX2__
// f (vec_math's 8-float functions) on each 8 floats of v.
template <typename V, typename F>
inline V by_halves(V v, F f) {
  if constexpr (sizeof(V) == sizeof(__m256)) {
    return f(static_cast<__m256>(v));
  } else {
    __m256 h[sizeof(V) / sizeof(__m256)];
    std::memcpy(h, &v, sizeof v);
    for (__m256& x : h) x = f(x);
    std::memcpy(&v, h, sizeof v);
    return v;
  }
}
#endif

// Finishes one full row of a tile (2 vectors) in registers: as finish_row_scalar, for the
// epilogues that vectorize (see vector_activation; a bias contiguous along the row, one value
// for the whole row (bias_cs 0: a convolution's per-channel bias), or none).
template <typename T>
inline void finish_row_vector(const Gemm<T>& g, TileStep st, Vec<T> v0, Vec<T> v1, T* c, const T* bias) {
  constexpr int L = Blocking<T>::kLanes;
  v0 *= g.alpha;
  v1 *= g.alpha;
  if (!st.first) {
    v0 += loadu(c);
    v1 += loadu(c + L);
  } else if (g.beta != T(0)) {
    v0 += g.beta * loadu(c);
    v1 += g.beta * loadu(c + L);
  }
  if (st.last) {
    if (bias && g.bias_cs == 0) {
      v0 += *bias;
      v1 += *bias;
    } else if (bias) {
      v0 += loadu(bias);
      v1 += loadu(bias + L);
    }
    if (g.act == Activation::relu) {
      const Vec<T> zero{};
      v0 = v0 < zero ? zero : v0;  // NaN stays NaN, as torch.relu
      v1 = v1 < zero ? zero : v1;
    }
#ifdef __AVX2__
    if constexpr (std::is_same_v<T, float>) {
      if (g.act == Activation::gelu) {
        v0 = by_halves(v0, [](__m256 h) { return vm::gelu(h); });
        v1 = by_halves(v1, [](__m256 h) { return vm::gelu(h); });
      } else if (g.act == Activation::gelu_tanh) {
        v0 = by_halves(v0, [](__m256 h) { return vm::gelu_tanh(h); });
        v1 = by_halves(v1, [](__m256 h) { return vm::gelu_tanh(h); });
      }
    }
#endif
  }
  storeu(c, v0);
  storeu(c + L, v1);
}

// NR values of B per step: step p's at data + p * step (step NR when packed, B's row stride
// when read in place). The tile prefetches data + p * step + ahead as it goes: B read in place
// is a stream per row that no hardware prefetcher follows, so the tile fetches the segments
// of a panel further right; packed panels point it at the next panel.
template <typename T>
struct Panel {
  const T* data;
  int64_t step, ahead;
};

// The microkernel's k loop: sums an R x NR tile over kc steps into s0 (columns 0..L-1) and
// s1 (L..2L-1). a: packed, R values per step. It is a function of its own, never inlined:
// inside tile, GCC kept one of the 28 accumulators of the 14x32 AVX-512 tile on the stack,
// a load and a store per step (the epilogue's values held registers across the loop); alone,
// every accumulator stays in a register (one thread, N = 1024: 177 -> 182 GFLOP/s).
// A's R values of step p: a[p * a_step + i] (UnitRows: packed panels, a_step R, or A itself
// column-major) or a[p + i * a_rs] (A itself, row-major).
template <typename T, int R, bool UnitRows>
__attribute__((noinline)) void tile_sums(int64_t kc, const T* __restrict a, int64_t a_rs, int64_t a_step,
                                         Panel<T> panel, const T* c, int64_t c_rs, Vec<T>* __restrict s0,
                                         Vec<T>* __restrict s1) {
  const T* __restrict b = panel.data;
  const int64_t ldb = panel.step;
  constexpr int L = Blocking<T>::kLanes;
  Vec<T> t0[R], t1[R];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    t0[i] = t1[i] = Vec<T>{};
    // C's tile is read after the loop: start fetching it now (it is rarely in cache).
    __builtin_prefetch(c + i * c_rs, 1);
    __builtin_prefetch(c + i * c_rs + 2 * L - 1, 1);
  }
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; ++p) {
    const Vec<T> b0 = loadu(b), b1 = loadu(b + L);
    __builtin_prefetch(b + panel.ahead, 0, 2);  // to L2: many rows are in flight
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      const T ai = UnitRows ? a[i] : a[i * a_rs];
      t0[i] += ai * b0;
      t1[i] += ai * b1;
    }
    a += UnitRows ? a_step : 1;
    b += ldb;
  }
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    s0[i] = t0[i];
    s1[i] = t1[i];
  }
}

// The microkernel: an R x NR tile, R <= MR, over kc steps (tile_sums), then its epilogue.
// a: element (i, p) of the tile's rows at a[i * a_rs + p * a_step] (packed: a_rs 1, a_step R).
// Writes nr <= NR columns of C at c (row stride c_rs); (row, col) is the tile's corner in C,
// for the bias. A partial tile leaves through a buffer on its own path.
template <typename T, int R>
void tile(const Gemm<T>& g, TileStep st, int64_t kc, const T* __restrict a, int64_t a_rs, int64_t a_step,
          Panel<T> panel, T* c, int64_t row, int64_t col, int nr) {
  constexpr int L = Blocking<T>::kLanes;
  Vec<T> s0[R], s1[R];
  if (a_rs == 1) tile_sums<T, R, true>(kc, a, 1, a_step, panel, c, g.c_rs, s0, s1);
  else tile_sums<T, R, false>(kc, a, a_rs, 1, panel, c, g.c_rs, s0, s1);
  const bool vector_epilogue = (!g.bias || g.bias_cs == 0 || g.bias_cs == 1) && (!st.last || vector_activation<T>(g.act));
  if (nr == 2 * L && vector_epilogue) {
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i)
      finish_row_vector(g, st, s0[i], s1[i], c + i * g.c_rs,
                        g.bias ? g.bias + (row + i) * g.bias_rs + col * g.bias_cs : nullptr);
    return;
  }
  alignas(64) T sums[R][2 * L];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    storeu(sums[i], s0[i]);
    storeu(sums[i] + L, s1[i]);
  }
  for (int i = 0; i < R; ++i) finish_row_scalar(g, st, sums[i], c + i * g.c_rs, row + i, col, nr);
}

template <typename T>
using TileFn = void (*)(const Gemm<T>&, TileStep, int64_t, const T*, int64_t, int64_t, Panel<T>, T*, int64_t, int64_t,
                        int);

template <typename T, int... R>
constexpr std::array<TileFn<T>, sizeof...(R)> tiles_of(std::integer_sequence<int, R...>) {
  return {tile<T, R + 1>...};
}

template <typename T>
TileFn<T> tile_for_rows(int rows) {
  static constexpr auto fns = tiles_of<T>(std::make_integer_sequence<int, Blocking<T>::MR>{});
  return fns[rows - 1];
}

#ifdef __AVX2__
// Row-major float A, a full panel of MR rows: 8 steps at a time, through one 8x8 transpose per
// 8 rows (the last group zero-padded to 8). A padded group's 8-float store spills into the
// next step's slot, which that step then overwrites; the last one lands in the slack past the
// panel.
template <int MR>
inline int64_t pack_a_rows_avx2(const float* src, int64_t lda, int64_t kc, float* dst) {
  int64_t p = 0;
  for (; p + 8 <= kc; p += 8) {
    __m256 r[(MR + 7) / 8][8];
    for (int i = 0; i < (MR + 7) / 8 * 8; ++i)
      r[i / 8][i % 8] = i < MR ? _mm256_loadu_ps(src + i * lda + p) : _mm256_setzero_ps();
    for (auto& group : r) transpose8x8(group);
    for (int q = 0; q < 8; ++q)
      for (int h = 0; h < (MR + 7) / 8; ++h) _mm256_storeu_ps(dst + (p + q) * MR + 8 * h, r[h][q]);
  }
  return p;
}

// Column-major float B (rows of Bᵀ contiguous, as a Linear layer's weight), a full panel of
// NR columns: NR / 8 8x8 transposes per 8 steps.
template <int NR>
inline int64_t pack_b_cols_avx2(const float* src, int64_t ldb, int64_t kc, float* dst) {
  int64_t p = 0;
  for (; p + 8 <= kc; p += 8) {
    for (int part = 0; part < NR / 8; ++part) {
      __m256 r[8];
      for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(src + (part * 8 + j) * ldb + p);
      transpose8x8(r);
      for (int q = 0; q < 8; ++q) _mm256_storeu_ps(dst + (p + q) * NR + part * 8, r[q]);
    }
  }
  return p;
}
#endif

// Packs A[i0 : i0+mc, p0 : p0+kc] into panels of MR rows (the last one R rows high), each
// panel step-major: element (i, p) of a panel of R rows at p * R + i. The destination has
// room for 8 values past its end.
template <typename T>
void pack_a(const Gemm<T>& g, int64_t i0, int64_t mc, int64_t p0, int64_t kc, T* dst) {
  constexpr int MR = Blocking<T>::MR;
  if (g.a_rs == 1 && g.a_cs != 1) {
    // Column-major (a weight gradient's g^T): each step's column is contiguous. Walk the steps
    // outermost, each column feeding every panel, so that the walk meets each of A's pages
    // once, not once per panel (1024x8192 g^T times 8192x128: 11.1 -> 8.7 ms, x256:
    // 21.8 -> 14.8).
    for (int64_t p = 0; p < kc; ++p) {
      const T* col = g.a + i0 + (p0 + p) * g.a_cs;
      T* d = dst;
      for (int64_t ir = 0; ir < mc; ir += MR) {
        const int rows = static_cast<int>(std::min<int64_t>(MR, mc - ir));
        std::memcpy(d + p * rows, col + ir, sizeof(T) * static_cast<size_t>(rows));
        d += rows * kc;
      }
    }
    return;
  }
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, mc - ir));
    const T* src = g.a + (i0 + ir) * g.a_rs + p0 * g.a_cs;
    if (g.a_cs == 1) {
      int64_t done = 0;
#ifdef __AVX2__
      if constexpr (std::is_same_v<T, float>)
        if (rows == MR) done = pack_a_rows_avx2<MR>(src, g.a_rs, kc, dst);
#endif
      for (int i = 0; i < rows; ++i) {
        const T* s = src + i * g.a_rs;
        for (int64_t p = done; p < kc; ++p) dst[p * rows + i] = s[p];
      }
    } else {
      for (int64_t p = 0; p < kc; ++p)
        for (int i = 0; i < rows; ++i) dst[p * rows + i] = src[i * g.a_rs + p * g.a_cs];
    }
    dst += rows * kc;
  }
}

// Packs one NR-wide panel B[p0 : p0+kc, j0 : j0+nr] step-major, zero-padded to NR columns.
template <typename T>
void pack_b_panel(const Gemm<T>& g, int64_t p0, int64_t kc, int64_t j0, int nr, T* dst) {
  constexpr int NR = Blocking<T>::NR;
  if (g.packer) {
    g.packer->pack(g.packer->ctx, reinterpret_cast<const char*>(g.b), p0, kc, g.col0 + j0, nr, NR,
                   reinterpret_cast<char*>(dst));
    return;
  }
  const T* src = g.b + p0 * g.b_rs + j0 * g.b_cs;
  if (g.b_cs == 1 && nr == NR) {
    // Panels are packed left to right: fetch this row's segment of a later panel meanwhile.
    for (int64_t p = 0; p < kc; ++p) {
      __builtin_prefetch(src + p * g.b_rs + kDirectBPrefetchPanels * NR);
      std::memcpy(dst + p * NR, src + p * g.b_rs, NR * sizeof(T));
    }
    return;
  }
  if (nr < NR)
    for (int64_t p = 0; p < kc; ++p) std::fill(dst + p * NR + nr, dst + (p + 1) * NR, T(0));
  if (g.b_rs == 1) {  // columns contiguous: read down each column
    int64_t done = 0;
#ifdef __AVX2__
    if constexpr (std::is_same_v<T, float>)
      if (nr == NR) done = pack_b_cols_avx2<NR>(src, g.b_cs, kc, dst);
#endif
    for (int j = 0; j < nr; ++j) {
      const T* s = src + j * g.b_cs;
      for (int64_t p = done; p < kc; ++p) dst[p * NR + j] = s[p];
    }
  } else {
    for (int64_t p = 0; p < kc; ++p)
      for (int j = 0; j < nr; ++j) dst[p * NR + j] = src[p * g.b_rs + j * g.b_cs];
  }
}

// The length of the k blocks: k in equal blocks of at most `limit`, so that no short last
// block re-reads C for a few steps.
inline int64_t k_block(int64_t k, int64_t limit) {
  const int64_t blocks = (k + limit - 1) / limit;
  return (k + blocks - 1) / blocks;
}

// The rows of each A block for `rows` rows of A at k block length kc: as many as fill the L2
// share kBlockBytes (more when kc is short), split evenly, in whole panels (256 rows at
// kc = 128 were blocks of 252 and 4 rows at the fixed MC: dW1 of a 784-256 MLP, one thread,
// 310 -> 276 us).
template <typename T>
int64_t a_block_rows(int64_t rows, int64_t kc) {
  constexpr int MR = Blocking<T>::MR;
  const int64_t limit = std::max<int64_t>(MR, Blocking<T>::kBlockBytes / (kc * int64_t(sizeof(T))) / MR * MR);
  const int64_t blocks = (rows + limit - 1) / limit;
  const int64_t per_block = (rows + blocks - 1) / blocks;
  return (per_block + MR - 1) / MR * MR;
}

// n rounded up to whole B panels.
template <typename T>
int64_t padded_columns(int64_t n) {
  constexpr int NR = Blocking<T>::NR;
  return (n + NR - 1) / NR * NR;
}

// k == 0: C = act(beta * C + bias).
template <typename T>
void scale_only(const Gemm<T>& g) {
  constexpr int NR = Blocking<T>::NR;
  alignas(64) T zeros[NR] = {};
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.n; j += NR)
      finish_row_scalar(g, TileStep{true, true}, zeros, g.c + i * g.c_rs + j, i, j,
                        static_cast<int>(std::min<int64_t>(NR, g.n - j)));
}

// The rows [r0, r1) and columns [q0, q1) of the current (jc, pc) block one thread computes.
struct Rect {
  int64_t r0, r1, q0, q1;
};

template <typename T>
Rect thread_rect(int64_t m, int64_t nc, int slot, int threads) {
  constexpr int MR = Blocking<T>::MR, NR = Blocking<T>::NR;
  const int64_t row_panels = (m + MR - 1) / MR, col_panels = (nc + NR - 1) / NR;
  if (row_panels >= 2 * threads) {
    const int64_t p0 = row_panels * slot / threads, p1 = row_panels * (slot + 1) / threads;
    return {p0 * MR, std::min(m, p1 * MR), 0, nc};
  }
  const int64_t p0 = col_panels * slot / threads, p1 = col_panels * (slot + 1) / threads;
  return {0, m, p0 * NR, std::min(nc, p1 * NR)};
}

// ---- matrix-vector products (m == 1 or n == 1) -------------------------------------------
// out[j] = sum_p v[p] * M(p, j), j < len: the one row (m == 1) or column (n == 1) of C. Two
// forms by M's layout: `axpy` when M(p, j) = mat[p * ld + j] (rows contiguous: each thread
// streams whole rows of its columns into an L1-resident block of sums), `dot` when M(p, j) =
// mat[j * ld + p] (each output a dot product of contiguous vectors, 4 at a time). Both are
// bound by reading M once.
template <typename T>
struct Gemv {
  const T* v;  // k values, contiguous
  const T* mat;
  int64_t ld;
  bool axpy;
  int64_t len, k;
  T* out;
  int64_t out_stride;
  bool out_is_row;  // C(0, j) (m == 1) or C(j, 0) (n == 1), for the bias
};

constexpr int64_t kGemvBlock = 2048;  // columns of sums an axpy thread keeps in L1

template <typename T>
void gemv_axpy(const Gemm<T>& g, const Gemv<T>& mv, int64_t j0, int64_t j1) {
  constexpr int L = Blocking<T>::kLanes;
  alignas(64) T sums[kGemvBlock];
  for (int64_t jb = j0; jb < j1; jb += kGemvBlock) {
    const int64_t w = std::min(kGemvBlock, j1 - jb), wv = w / L * L;
    std::fill(sums, sums + w, T(0));
    int64_t p = 0;
    for (; p + 4 <= mv.k; p += 4) {
      const T x0 = mv.v[p], x1 = mv.v[p + 1], x2 = mv.v[p + 2], x3 = mv.v[p + 3];
      const T* r0 = mv.mat + p * mv.ld + jb;
      const T *r1 = r0 + mv.ld, *r2 = r1 + mv.ld, *r3 = r2 + mv.ld;
      for (int64_t j = 0; j < wv; j += L)
        storeu(sums + j, loadu(sums + j) + x0 * loadu(r0 + j) + x1 * loadu(r1 + j) + x2 * loadu(r2 + j) +
                             x3 * loadu(r3 + j));
      for (int64_t j = wv; j < w; ++j) sums[j] += x0 * r0[j] + x1 * r1[j] + x2 * r2[j] + x3 * r3[j];
    }
    for (; p < mv.k; ++p) {
      const T x = mv.v[p];
      const T* r = mv.mat + p * mv.ld + jb;
      for (int64_t j = 0; j < w; ++j) sums[j] += x * r[j];
    }
    for (int64_t j = 0; j < w; ++j) {
      T* c = mv.out + (jb + j) * mv.out_stride;
      *c = finish_value(g, TileStep{true, true}, sums[j], c, mv.out_is_row ? 0 : jb + j, mv.out_is_row ? jb + j : 0);
    }
  }
}

template <typename T>
T horizontal_sum(Vec<T> v) {
  constexpr int L = Blocking<T>::kLanes;
  T lanes[L];
  storeu(lanes, v);
  T total = 0;
  for (int i = 0; i < L; ++i) total += lanes[i];
  return total;
}

template <typename T>
void gemv_dot(const Gemm<T>& g, const Gemv<T>& mv, int64_t j0, int64_t j1) {
  constexpr int L = Blocking<T>::kLanes, kRows = 4;
  const int64_t kv = mv.k / L * L;
  for (int64_t j = j0; j < j1; j += kRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kRows, j1 - j));
    const T* r[kRows];
    for (int i = 0; i < kRows; ++i) r[i] = mv.mat + (j + std::min(i, rows - 1)) * mv.ld;
    Vec<T> s[kRows] = {};
    for (int64_t p = 0; p < kv; p += L) {
      const Vec<T> x = loadu(mv.v + p);
#pragma GCC unroll 4
      for (int i = 0; i < kRows; ++i) s[i] += loadu(r[i] + p) * x;
    }
    for (int i = 0; i < rows; ++i) {
      T sum = horizontal_sum<T>(s[i]);
      for (int64_t p = kv; p < mv.k; ++p) sum += r[i][p] * mv.v[p];
      T* c = mv.out + (j + i) * mv.out_stride;
      *c = finish_value(g, TileStep{true, true}, sum, c, mv.out_is_row ? 0 : j + i, mv.out_is_row ? j + i : 0);
    }
  }
}

// Runs a GEMM of one row or one column as a matrix-vector product when an operand's layout
// allows one; false otherwise.
template <typename T>
bool try_gemv(const Gemm<T>& g, int threads) {
  Gemv<T> mv{};
  const T* v;
  int64_t v_stride;
  if (g.m == 1 && (g.b_cs == 1 || g.b_rs == 1)) {
    v = g.a;
    v_stride = g.a_cs;
    mv.axpy = g.b_cs == 1;
    mv.mat = g.b;
    mv.ld = mv.axpy ? g.b_rs : g.b_cs;
    mv.len = g.n;
    mv.out_stride = 1;
    mv.out_is_row = true;
  } else if (g.n == 1 && (g.a_cs == 1 || g.a_rs == 1)) {
    v = g.b;
    v_stride = g.b_rs;
    mv.axpy = g.a_cs != 1;
    mv.mat = g.a;
    mv.ld = mv.axpy ? g.a_cs : g.a_rs;
    mv.len = g.m;
    mv.out_stride = g.c_rs;
    mv.out_is_row = false;
  } else {
    return false;
  }
  mv.k = g.k;
  mv.out = g.c;
  Scratch packed_v(v_stride == 1 ? 0 : sizeof(T) * g.k);
  if (v_stride != 1) {
    for (int64_t p = 0; p < g.k; ++p) packed_v.as<T>()[p] = v[p * v_stride];
    v = packed_v.as<T>();
  }
  mv.v = v;
  const int64_t min_chunk = mv.axpy ? 256 : 16;
  const int64_t grain = threads == 1 ? mv.len : std::max(min_chunk, (1 << 16) / std::max<int64_t>(1, g.k));
  parallel_for(0, mv.len, grain, [&](int64_t lo, int64_t hi) {
    if (mv.axpy) gemv_axpy(g, mv, lo, hi);
    else gemv_dot(g, mv, lo, hi);
  });
  return true;
}

// ---- narrow products (n <= kNarrowColumns, B's columns contiguous) -------------------------
// x (m x k) times W^T for a W of a few rows (a classifier head, n = 10) would run the tile's
// 16- or 32-wide panels on n columns. Here each output is a dot product of two contiguous
// rows: kNarrowRows rows of A by up to kNarrowCols of W at a time, summed in vector lanes
// along k (R + NC loads per R NC multiply-adds), the lanes folded into one sum per output by
// a shuffle tree (fold_lanes), the last k % L steps added in scalars. Measured (x @ W.T from
// Python, 2 threads, the tile / this form): 512x512x10 82 / 33 us, 1024x256x5 68 / 29,
// 256x1024x16 99 / 48, 128x256x10 15.3 / 12.3, 64x784x10 22.3 / 19.0.
constexpr int kNarrowRows = kVecBytes == 64 ? 3 : 2;
constexpr int kNarrowCols = kVecBytes == 64 ? 8 : 4;
constexpr int64_t kNarrowColumns = 16;

// Two vectors of accumulators' partial sums, G lanes each (L / G accumulators per vector),
// into one of G / 2 lanes each: lanes [0, G/2) of each group, x's groups then y's, plus lanes
// [G/2, G) likewise. Output lane o is group o / (G/2), lane o % (G/2) of it.
template <typename T, int G, size_t... I>
inline Vec<T> fold_pair(Vec<T> x, Vec<T> y, std::index_sequence<I...>) {
  constexpr int L = kLanesOf<T>, H = G / 2, groups = L / G;
  return __builtin_shufflevector(x, y, (I / H < groups ? I / H * G : L + (I / H - groups) * G) + I % H...) +
         __builtin_shufflevector(x, y, (I / H < groups ? I / H * G : L + (I / H - groups) * G) + H + I % H...);
}

// The lane sums of v[0 .. Count), in order, into sums (whole vectors: room for Count rounded
// up to a multiple of L). v is overwritten; all in registers once inlined.
template <typename T, int G, int Count>
__attribute__((always_inline)) inline void fold_lanes(Vec<T>* v, T* sums) {
  if constexpr (G == 1) {
    for (int i = 0; i < Count; ++i) storeu(sums + i * kLanesOf<T>, v[i]);
  } else {
    constexpr int half = (Count + 1) / 2;
    for (int i = 0; i < half; ++i)
      v[i] = fold_pair<T, G>(v[2 * i], 2 * i + 1 < Count ? v[2 * i + 1] : Vec<T>{},
                             std::make_index_sequence<kLanesOf<T>>{});
    fold_lanes<T, G / 2, half>(v, sums);
  }
}

// C[i0 .. i0+R, j0 .. j0+NC) as R NC dot products.
template <typename T, int R, int NC>
void narrow_block(const Gemm<T>& g, int64_t i0, int64_t j0) {
  constexpr int L = kLanesOf<T>;
  const int64_t kv = g.k / L * L;
  const T* a[R];
  const T* b[NC];
  for (int r = 0; r < R; ++r) a[r] = g.a + (i0 + r) * g.a_rs;
  for (int j = 0; j < NC; ++j) b[j] = g.b + (j0 + j) * g.b_cs;
  Vec<T> acc[R * NC] = {};
  for (int64_t p = 0; p < kv; p += L) {
    Vec<T> av[R];
    for (int r = 0; r < R; ++r) av[r] = loadu(a[r] + p);
    for (int j = 0; j < NC; ++j) {
      const Vec<T> bv = loadu(b[j] + p);
      for (int r = 0; r < R; ++r) acc[r * NC + j] += av[r] * bv;
    }
  }
  // The common epilogue (C = sum + bias) inline; the rest through finish_value.
  const bool plain = g.alpha == T(1) && g.beta == T(0) && g.act == Activation::none;
  for (int r = 0; r < R; ++r) {
    T sums[NC + L];
    fold_lanes<T, L, NC>(acc + r * NC, sums);
    for (int64_t p = kv; p < g.k; ++p)
      for (int j = 0; j < NC; ++j) sums[j] += a[r][p] * b[j][p];
    T* c = g.c + (i0 + r) * g.c_rs + j0;
    const T* bias = g.bias ? g.bias + (i0 + r) * g.bias_rs + j0 * g.bias_cs : nullptr;
    for (int j = 0; j < NC; ++j) {
      if (plain) c[j] = bias ? sums[j] + bias[j * g.bias_cs] : sums[j];
      else c[j] = finish_value(g, TileStep{true, true}, sums[j], c + j, i0 + r, j0 + j);
    }
  }
}

template <typename T>
using NarrowFn = void (*)(const Gemm<T>&, int64_t, int64_t);

template <typename T, int R, int... NC>
constexpr std::array<NarrowFn<T>, sizeof...(NC)> narrow_row_of(std::integer_sequence<int, NC...>) {
  return {narrow_block<T, R, NC + 1>...};
}

template <typename T, int... R>
constexpr std::array<std::array<NarrowFn<T>, kNarrowCols>, sizeof...(R)> narrow_table(std::integer_sequence<int, R...>) {
  return {narrow_row_of<T, R + 1>(std::make_integer_sequence<int, kNarrowCols>{})...};
}

// Whether a GEMM takes the narrow form: a few columns of a B whose columns are contiguous, an
// A whose rows are, at least a vector of k.
inline bool narrow_form(int64_t m, int64_t n, int64_t k, int64_t a_cs, int64_t b_rs, int lanes) {
  return n <= kNarrowColumns && m >= 2 && k >= lanes && a_cs == 1 && b_rs == 1;
}

template <typename T>
bool try_narrow(const Gemm<T>& g, int threads) {
  if (g.packer || g.prepacked || !narrow_form(g.m, g.n, g.k, g.a_cs, g.b_rs, kLanesOf<T>)) return false;
  static constexpr auto table = narrow_table<T>(std::make_integer_sequence<int, kNarrowRows>{});
  const int64_t blocks = (g.m + kNarrowRows - 1) / kNarrowRows;
  parallel_for(0, blocks, threads == 1 ? blocks : (blocks + 4 * threads - 1) / (4 * threads), [&](int64_t lo, int64_t hi) {
    for (int64_t blk = lo; blk < hi; ++blk) {
      const int64_t i0 = blk * kNarrowRows;
      const int rows = static_cast<int>(std::min<int64_t>(kNarrowRows, g.m - i0));
      // Columns in chunks of even width (10 as 5 + 5, not 8 + 2: a 2-wide chunk reads A for
      // a third of the multiply-adds).
      const int64_t chunks = (g.n + kNarrowCols - 1) / kNarrowCols;
      for (int64_t q = 0, j0 = 0; q < chunks; ++q) {
        const int64_t cols = g.n / chunks + (q < g.n % chunks);
        table[rows - 1][cols - 1](g, i0, j0);
        j0 += cols;
      }
    }
  });
  return true;
}

template <typename T>
void gemm(const Gemm<T>& g, int threads);

// Whether a GEMM of m rows splits across threads by columns, each thread running the whole
// GEMM of its column slice alone (gemm_by_columns): one parallel region per GEMM, none per k
// block, no B panels shared between threads and no uneven row panels, but every thread packs
// all of A. So when A is short or small, or B wide enough that the t - 1 extra packings of A
// stay small beside each thread's 2 m n k / t flops: t (t - 1) 256 <= n, or t (t - 1) 128 <= n
// with A in cache (at most 4 MiB). Measured on 2 cores, 2 threads: 128x2048x256 635 -> 483 us,
// 2048^3 353 -> 363 GFLOP/s; at n = 128 the split by rows still wins (2048x256x128 413 vs
// 495 us), and at n = 256 with an A from memory too (1024x8192x256 g^T: 16.6 vs 15.1 ms).
// And B wide enough for every thread.
template <typename T>
bool splits_by_columns(const Gemm<T>& g, int threads) {
  constexpr int MR = Blocking<T>::MR, NR = Blocking<T>::NR;
  const bool short_a = (g.m + MR - 1) / MR < 4 * threads || g.m * g.k * int64_t(sizeof(T)) <= (512 << 10);
  const int64_t pairs = int64_t(threads) * (threads - 1);
  const bool wide_b = pairs * 256 <= g.n || (pairs * 128 <= g.n && g.m * g.k * int64_t(sizeof(T)) <= (4 << 20));
  return (short_a || wide_b) && (g.n + NR - 1) / NR >= 2 * threads;
}

template <typename T>
void gemm_by_columns(const Gemm<T>& g, int threads) {
  constexpr int NR = Blocking<T>::NR;
  const int64_t panels = (g.n + NR - 1) / NR;
  parallel_for(0, threads, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t slot = lo; slot < hi; ++slot) {
      const int64_t q0 = panels * slot / threads * NR, q1 = std::min(g.n, panels * (slot + 1) / threads * NR);
      if (q0 >= q1) continue;
      Gemm<T> part = g;
      part.n = q1 - q0;
      part.c += q0;
      if (part.bias) part.bias += q0 * g.bias_cs;
      if (g.packer || g.prepacked) part.col0 += q0;  // B's panels are found by column index
      else part.b += q0 * g.b_cs;
      gemm(part, 1);
    }
  });
}

// One GEMM on `threads` threads (1: the caller's thread alone).
template <typename T>
void gemm(const Gemm<T>& g, int threads) {
  using B = Blocking<T>;
  constexpr int MR = B::MR, NR = B::NR;
  if (g.m == 0 || g.n == 0) return;
  if (g.k == 0) return scale_only(g);
  if (!g.packer && !g.prepacked && try_gemv(g, threads)) return;
  if (try_narrow(g, threads)) return;
  if (threads > 1 && splits_by_columns(g, threads)) return gemm_by_columns(g, threads);
  const bool direct_b = !g.packer && !g.prepacked && g.b_cs == 1 && g.m <= kDirectBMaxRows;
  const int64_t kc_block = k_block(g.k, direct_b ? kDirectKC : B::KC);
  const int64_t kc_max = std::min(kc_block, g.k), nc_max = std::min(B::NC, g.n);
  const bool pack_b = !direct_b && !g.prepacked;
  const int64_t b_panels = (g.n + NR - 1) / NR;
  const bool direct_a = g.m * g.k * int64_t(sizeof(T)) <= kDirectAMaxBytes &&
                        ((g.a_cs == 1 && g.a_rs > 0 && b_panels <= kDirectAMaxPanels) ||
                         (g.a_rs == 1 && g.a_cs > 0 && b_panels <= kDirectColumnAMaxPanels));
  // One thread and one A block: each B panel is packed just before its tiles, into a buffer
  // that stays in L1 (packing the whole block first writes it out to L2; the same sums).
  const bool panel_at_a_time = pack_b && threads == 1 && a_block_rows<T>(g.m, kc_max) >= g.m;
  Scratch packed_b(pack_b && !panel_at_a_time ? sizeof(T) * kc_max * ((nc_max + NR - 1) / NR * NR) : 0);
  for (int64_t jc = 0; jc < g.n; jc += B::NC) {
    const int64_t nc = std::min(B::NC, g.n - jc), panels = (nc + NR - 1) / NR;
    for (int64_t pc = 0; pc < g.k; pc += kc_block) {
      const int64_t kc = std::min(kc_block, g.k - pc);
      const TileStep st{pc == 0, pc + kc == g.k};
      const T* const bp = g.prepacked ? g.prepacked + pc * g.n_pad + (g.col0 + jc) * kc : packed_b.as<T>();
      if (pack_b && !panel_at_a_time) {
        const int64_t grain = (panels + threads - 1) / threads;  // every thread packs a share
        parallel_for(0, panels, grain, [&](int64_t lo, int64_t hi) {
          for (int64_t q = lo; q < hi; ++q)
            pack_b_panel(g, pc, kc, jc + q * NR, static_cast<int>(std::min<int64_t>(NR, nc - q * NR)),
                         packed_b.as<T>() + q * NR * kc);
        });
      }
      const auto run_slot = [&](int slot) {
        const Rect r = thread_rect<T>(g.m, nc, slot, threads);
        if (r.r0 >= r.r1 || r.q0 >= r.q1) return;
        const int64_t mc_block = a_block_rows<T>(r.r1 - r.r0, kc_max);
        Scratch packed_a(direct_a ? 0 : sizeof(T) * (mc_block + MR) * kc_max);
        Scratch edge_b(direct_b || panel_at_a_time ? sizeof(T) * NR * kc_max : 0);
        T* ap = packed_a.as<T>();
        for (int64_t ic = r.r0; ic < r.r1; ic += mc_block) {
          const int64_t mc = std::min(mc_block, r.r1 - ic);
          if (!direct_a) pack_a(g, ic, mc, pc, kc, ap);
          for (int64_t jr = r.q0; jr < r.q1; jr += NR) {
            const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
            Panel<T> panel{bp + jr * kc, NR, NR * kc};
            if (direct_b && nr == NR) {
              panel = Panel<T>{g.b + pc * g.b_rs + jc + jr, g.b_rs, kDirectBPrefetchPanels * NR};
            } else if (direct_b || panel_at_a_time) {
              pack_b_panel(g, pc, kc, jc + jr, nr, edge_b.as<T>());
              panel = Panel<T>{edge_b.as<T>(), NR, 0};
            }
            for (int64_t ir = 0; ir < mc; ir += MR) {
              const int rows = static_cast<int>(std::min<int64_t>(MR, mc - ir));
              const T* a_tile = direct_a ? g.a + (ic + ir) * g.a_rs + pc * g.a_cs : ap + ir * kc;
              tile_for_rows<T>(rows)(g, st, kc, a_tile, direct_a ? g.a_rs : 1, direct_a ? g.a_cs : rows, panel,
                                     g.c + (ic + ir) * g.c_rs + jc + jr, ic + ir, jc + jr, nr);
              if (!direct_b) panel.ahead = 0;  // the first tile fetched the next panel
            }
          }
        }
      };
      if (threads == 1) {
        run_slot(0);
      } else {
        parallel_for(0, threads, 1, [&](int64_t lo, int64_t hi) {
          for (int64_t s = lo; s < hi; ++s) run_slot(static_cast<int>(s));
        });
      }
    }
  }
}

template <typename T>
Gemm<T> gemm_of(const MatmulArgs& args) {
  return Gemm<T>{args.m,
               args.n,
               args.k,
               reinterpret_cast<const T*>(args.a),
               args.a_rs,
               args.a_cs,
               reinterpret_cast<const T*>(args.b),
               args.b_rs,
               args.b_cs,
               reinterpret_cast<T*>(args.c),
               args.c_rs,
               static_cast<T>(args.alpha),
               static_cast<T>(args.beta),
               reinterpret_cast<const T*>(args.bias),
               args.bias_rs,
               args.bias_cs,
               args.act,
               args.b_packer,
               reinterpret_cast<const T*>(args.b_prepacked),
               0,
               padded_columns<T>(args.n)};
}

template <typename T>
void matmul_typed(const MatmulArgs& args) {
  const Gemm<T> base = gemm_of<T>(args);
  const auto at = [&](int64_t index) {
    Gemm<T> g = base;
    if (args.a_offsets) g.a += args.a_offsets[index];
    if (args.b_offsets) g.b += args.b_offsets[index];
    if (args.c_offsets) g.c += args.c_offsets[index];
    return g;
  };
  const double flops = 2.0 * static_cast<double>(args.m) * static_cast<double>(args.n) * static_cast<double>(args.k);
  const int threads = in_parallel_region() ? 1 : get_num_threads();
  if (threads == 1 || flops * static_cast<double>(args.batch) < kParallelMinFlops) {
    for (int64_t i = 0; i < args.batch; ++i) gemm(at(i), 1);
    return;
  }
  // A batch of GEMMs too small to split well: one GEMM per thread at a time.
  if (args.batch >= threads && flops < 32 * kParallelMinFlops) {
    parallel_for(0, args.batch, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) gemm(at(i), 1);
    });
    return;
  }
  // B one panel wide (but not a matrix-vector product): the threads can only split A's rows,
  // each packing its rows for a few multiply-adds per element; on two threads that loses below
  // 256 rows (64x4096x8: 127 us on one thread, 221 on two; 512x256x10: 57 and 43).
  const bool narrow = args.n > 1 && args.n <= Blocking<T>::NR && args.m < 128 * threads;
  for (int64_t i = 0; i < args.batch; ++i) gemm(at(i), flops < kParallelMinFlops || narrow ? 1 : threads);
}

// A prepacked B: for each k block (k_block of KC, as gemm cuts it), the NR-wide panels of
// all n columns (zero-padded to n_pad), each kc steps of NR values; block pc starts at
// pc * n_pad, its panel at column j at j * kc from there.
template <typename T>
void pack_b_all(const MatmulArgs& args, T* dst) {
  constexpr int NR = Blocking<T>::NR;
  const Gemm<T> g = gemm_of<T>(args);
  if (g.k == 0 || g.n == 0) return;
  const int64_t kc_block = k_block(g.k, Blocking<T>::KC), n_pad = padded_columns<T>(g.n), panels = n_pad / NR;
  const int64_t blocks = (g.k + kc_block - 1) / kc_block;
  parallel_for(0, blocks * panels, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t pc = i / panels * kc_block, j = i % panels * NR, kc = std::min(kc_block, g.k - pc);
      pack_b_panel(g, pc, kc, j, static_cast<int>(std::min<int64_t>(NR, g.n - j)), dst + pc * n_pad + j * kc);
    }
  });
}

}  // namespace

void matmul(const MatmulArgs& args) {
#ifdef FIBRIL_ISA_BASE
  // A B at most one vector wide would leave most of the wide tile's lanes idle (and end every
  // tile through the scalar epilogue): the base build's half-width tile runs it faster (n = 16:
  // 1.8x). A prepacked B is laid out for this build's panels, so it stays here.
  const int lanes = kVecBytes / static_cast<int>(itemsize(args.dtype));
  if (args.n * static_cast<int64_t>(itemsize(args.dtype)) <= kVecBytes && !args.b_prepacked &&
      (args.b_packer || !narrow_form(args.m, args.n, args.k, args.a_cs, args.b_rs, lanes)))
    return FIBRIL_ISA_BASE::matmul(args);
#endif
  visit_dtype(args.dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (!std::is_same_v<T, bool>) matmul_typed<T>(args);
  });
}

int64_t matmul_packed_b_bytes(DType dtype, int64_t k, int64_t n) {
  int64_t bytes = 0;
  visit_dtype(dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (!std::is_same_v<T, bool>) bytes = static_cast<int64_t>(sizeof(T)) * k * padded_columns<T>(n);
  });
  return bytes;
}

void matmul_pack_b(const MatmulArgs& args, char* dst) {
  visit_dtype(args.dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (!std::is_same_v<T, bool>) pack_b_all<T>(args, reinterpret_cast<T*>(dst));
  });
}

}  // namespace fibril::cpu::FIBRIL_ISA
