// Scaled dot-product attention, flash style: the (Tq x Tk) score matrix is never formed.
//
// Forward, one task per (batch*head, block of kBQ queries); a head's query blocks are taken
// in the order 0, n-1, 1, n-2, ... so that the threads' contiguous chunks of tasks cost alike
// under causal masking. The block's queries, scaled by scale * log2(e), are packed transposed
// (D x kBQ); for each block of kBK keys the tile S^T = K_blk Q^T (keys in rows, queries in
// lanes, scores in log2 units) is one small GEMM per strip of kNR queries (a causal strip
// stops at its last query's key), masked (causal, boolean, additive), then folded into the
// running maxima and sums (online softmax in base 2, per lane: no horizontal reductions, four
// vectors of queries at a time with their maxima and sums in registers), and
// O^T = alpha O^T + V_blk^T P^T is the second GEMM, whose prologue applies the rescaling alpha.
// The log-sum-exp of each row (natural log) is saved for backward (+inf for a row with every
// key masked, whose output is 0, as PyTorch's CPU kernels give).
//
// Backward, one task per (batch*head), key blocks outermost: for each (key block, query block)
// P^T is recomputed from S^T and the saved log-sum-exp, then dV += P^T dO, dP^T = V dO^T,
// dS^T = P^T (dP^T - rowsum(dO O)), dK += dS^T Q, dQ += dS K: five GEMMs on tiles, causal
// strips and rows skipping the keys their queries do not see. Q^T and dO^T are packed in
// panels of kBQ queries, so a tile's rows lie 576 B apart (Tq floats apart, 4 KiB at T 1024,
// all rows would share one set of L1; 512 B, a quarter of them). dQ sums in the task's own
// buffer in a fixed order, so no result depends on the thread count.
//
// The tile GEMMs run one register-blocked microkernel written with GCC vector types (6 rows x
// 2 vectors: 12 accumulators), fed from packed or strided operands. Dropout keeps element
// (bh, i, j) when Philox word e = (bh Tq + i) Tk + j of (seed, offset) passes, the
// convention of the dropout kernel (cpu/random.cpp), so the mask is reproducible.
//
// Measured with `python -m bench --family attention --threads 2` (AMD EPYC Zen 1 VM, avx2, float32,
// D 64; the 2 cores shared with 3 other engineers' builds, so the machine's probe read 75 and
// 27 GFLOP/s in the two runs): ratio = torch 2.13 SDPA time / ours, interleaved medians.
//   B8 H8 T1024 causal   fwd 18.9 / 21.8 GFLOP/s, 1.62x / 1.75x torch; fwd+bwd 11.6 / 14.1, 1.44x / 1.51x
//   B8 H8 T1024          fwd 14.2 / 19.2 GFLOP/s, 1.20x / 1.18x torch; fwd+bwd 14.8 / 14.5, 1.15x / 1.15x
//   B1 H8 T4096 causal   fwd 30.2 / 14.9 GFLOP/s, 1.27x / 1.32x torch; fwd+bwd 30.5 / 14.5, 1.27x / 1.19x
// (GFLOP/s count 4 T^2 D forward, 14 T^2 D forward+backward, halved when causal.) In CPU time
// on one thread, which the other builds disturb less: forward 29.6 GFLOP/s causal T1024 (torch
// 17.8, 1.66x), 30.5 non-causal (26.8, 1.14x), 30.6 causal T4096 (24.5, 1.25x). The tile
// microkernels take ~86% of the forward's time at ~36 GFLOP/s, about what they reach alone on
// hot caches (37-44), the online softmax ~12%: torch's long causal rows (T4096) come within
// 1.3x of that ceiling. Peak memory, causal forward+backward B1 H8 T4096 (inputs 32 MiB; a
// T x T float32 matrix per head would be 512 MiB): fibril's allocator +56 MiB (gradients 24,
// output 8, ~6 per thread of backward scratch), peak RSS +69 MiB; torch +82 MiB RSS. Memory is
// O(T D) per thread. Backward runs one task per (batch, head), so B*H below the thread count
// leaves threads idle.
//
// Measured on AVX-512 (Intel Xeon VM, 2 cores, FMA peak ~470 GFLOP/s, 12-row tiles), same
// bench: B8 H8 T1024 causal fwd 31.0 ms 277 GFLOP/s (1.52x torch), fwd+bwd 120 ms 250 (1.51x);
// non-causal fwd 59.7 ms 288 (1.02x), fwd+bwd 191 ms 315 (1.14x); B1 H8 T4096 causal fwd
// 52.1 ms 330 (1.28x), fwd+bwd 188 ms 320 (1.24x). The forward's tiles take ~78% of its time
// (K = D = 64 steps per tile), the online softmax and masks ~12%. With the tile buffers' rows
// kLd apart (576 B, not 512) and unit-row A at constant offsets (stop 24, same bench): causal
// T1024 fwd 31.9 ms 269 GFLOP/s (1.54x), fwd+bwd 108 ms 277 (1.65x); non-causal fwd 56.7 ms
// 303 (1.08x), fwd+bwd 180 ms 334 (1.25x); T4096 causal fwd 50.6 ms 339 (1.31x), fwd+bwd 188 ms
// 320 (1.30x). One thread, CPU time: T1024 non-causal forward 14.8 -> 13.7 ms, forward+backward
// 53.2 -> 48.1. Measured and dropped: K blocks packed into 12-row panels (4% slower), the
// backward's padded copies one line past 256 B apart (no change), kBK 72 or 144, kBQ 64.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>

#include "core/allocator.h"
#include "core/parallel.h"
#include "core/philox.h"
#include "cpu/kernels.h"
#include "cpu/simd.h"

namespace fibril::cpu::FIBRIL_ISA {
namespace {

template <typename T>
constexpr int kNR = 2 * kLanesOf<T>;
// Tile rows: 12 x 2 vectors on AVX-512 (24 of 32 registers), 6 x 2 on AVX2 (12 of 16).
constexpr int kMR = kVecBytes == 64 ? 12 : 6;
constexpr int64_t kBQ = 128;  // queries per block: a multiple of every kNR and of 4 vectors
// Row stride of the tiles' query-major buffers (Q^T, S^T, O^T, ...): one cache line past kBQ,
// so that consecutive rows fall in different L1 sets (at 512 B apart, a strip's 64 rows of
// Q^T and 96 of S^T would share 16 of the 64 sets).
template <typename T>
constexpr int64_t kLd = kBQ + 64 / sizeof(T);
constexpr int64_t kBK = 96;  // keys per block: a multiple of kMR
constexpr double kLog2e = 1.4426950408889634;

enum class Init { zero, load, scaled };  // C starts at 0, at C, or at C times a factor per column

// kUnitRows: A's rows are adjacent (a_rs == 1), so the row offsets are constants, not R
// index registers (12 of them spill on x86-64).
template <typename T, int R, bool kUnitRows>
void tile(int64_t K, const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t ldb, T* c, int64_t ldc, Init init,
          const T* col_scale) {
  constexpr int L = kLanesOf<T>;
  if constexpr (kUnitRows) a_rs = 1;
  Vec<T> c0[R], c1[R];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
    c0[r] = init == Init::zero ? Vec<T>{} : loadu(c + r * ldc);
    c1[r] = init == Init::zero ? Vec<T>{} : loadu(c + r * ldc + L);
  }
  if (init == Init::scaled) {
    const Vec<T> s0 = loadu(col_scale), s1 = loadu(col_scale + L);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      c0[r] *= s0;
      c1[r] *= s1;
    }
  }
  for (int64_t k = 0; k < K; ++k) {
    const Vec<T> b0 = loadu(b + k * ldb), b1 = loadu(b + k * ldb + L);
    const T* ak = a + k * a_cs;
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      c0[r] += ak[r * a_rs] * b0;  // scalar * vector: one broadcast load
      c1[r] += ak[r * a_rs] * b1;
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
    storeu(c + r * ldc, c0[r]);
    storeu(c + r * ldc + L, c1[r]);
  }
}

template <typename T, bool kUnitRows, int... R>
constexpr std::array<void (*)(int64_t, const T*, int64_t, int64_t, const T*, int64_t, T*, int64_t, Init, const T*),
                     sizeof...(R)>
tiles_of(std::integer_sequence<int, R...>) {
  return {tile<T, R + 1, kUnitRows>...};
}

// C (M x N, N a multiple of kNR) = A (M x K, strided) B (K x N, row stride ldb) + C as `init`
// says (col_scale: N factors, for Init::scaled).
template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t ldb, T* c,
          int64_t ldc, Init init, const T* col_scale = nullptr) {
  static constexpr auto strided = tiles_of<T, false>(std::make_integer_sequence<int, kMR>{});
  static constexpr auto unit = tiles_of<T, true>(std::make_integer_sequence<int, kMR>{});
  const auto& fns = a_rs == 1 ? unit : strided;
  for (int64_t j = 0; j < N; j += kNR<T>) {
    for (int64_t i = 0; i < M; i += kMR) {
      const int r = static_cast<int>(std::min<int64_t>(kMR, M - i));
      fns[r - 1](K, a + i * a_rs, a_rs, a_cs, b + j, ldb, c + i * ldc + j, ldc, init,
                 col_scale ? col_scale + j : nullptr);
    }
  }
}

// 2^x for the x <= 0 of the softmax (log2-scaled scores minus their maximum or log-sum-exp).
// Float lanes: x = n + f with n = round(x) (the 1.5 * 2^23 trick; its low bits, biased by
// 127, shifted into the exponent field give 2^n) and 2^f of |f| <= 1/2 by a degree-5
// minimax polynomial: relative error 1.6e-7 (about 1.3 ulp; test_probabilities_accuracy).
// x is clamped at -127, whose 2^n is 0 (the subnormal results would be flushed anyway); -inf
// gives 0, NaN stays NaN. Float64 lanes use libm.
template <typename T>
inline Vec<T> exp2_nonpositive(Vec<T> x) {
  if constexpr (std::is_same_v<T, double>) {
    for (int i = 0; i < kLanesOf<T>; ++i) x[i] = std::exp2(x[i]);
    return x;
  } else {
    using Bits = Vec<int32_t>;
    const Vec<T> lo = Vec<T>{} - 127.0f, magic = Vec<T>{} + (12582912.0f + 127.0f);
    x = lo > x ? lo : x;  // vmaxps(lo, x), which keeps a NaN x
    const Vec<T> t = x + magic;
    const Vec<T> f = x - (t - magic);
    Vec<T> p = 1.326472731307149e-3f * f + 9.671512991189957e-3f;
    p = p * f + 5.550733581185341e-2f;
    p = p * f + 2.4022242426872253e-1f;
    p = p * f + 6.931470036506653e-1f;
    p = p * f + 1.0f;
    return p * reinterpret_cast<Vec<T>>(reinterpret_cast<Bits>(t) << 23);
  }
}

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Scratch of n elements from fibril's allocator (counted in memory_stats).
template <typename T>
class Scratch {
 public:
  explicit Scratch(int64_t n) : bytes_(std::max<int64_t>(1, n) * sizeof(T)) {
    p_ = static_cast<T*>(cpu_allocator::allocate(bytes_));
  }
  ~Scratch() { cpu_allocator::release(p_, bytes_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return p_; }

 private:
  size_t bytes_;
  T* p_;
};

template <typename T>
struct Problem {
  const AttentionArgs& a;
  const T* q;
  const T* k;
  const T* v;
  double keep_threshold;  // dropout keeps a Philox word below it
  T keep_scale;

  explicit Problem(const AttentionArgs& args)
      : a(args), q(reinterpret_cast<const T*>(args.q)), k(reinterpret_cast<const T*>(args.k)),
        v(reinterpret_cast<const T*>(args.v)), keep_threshold((1.0 - args.dropout_p) * 4294967296.0),
        keep_scale(args.dropout_p < 1 ? static_cast<T>(1.0 / (1.0 - args.dropout_p)) : T(0)) {}

  // Keys of the block k0.. (bk of them) that some query of the strip q0..q0+width-1 attends.
  int64_t visible(int64_t q0, int64_t k0, int64_t bk, int64_t width = kNR<T>) const {
    return a.causal ? std::clamp<int64_t>(q0 + width - k0, 0, bk) : bk;
  }

  bool needs_mask(int64_t q0, int64_t k0, int64_t bk) const {
    return a.mask_kind != AttentionMask::none || (a.causal && k0 + bk - 1 > q0);
  }

  // Causal and explicit masks on the tile st (bk x kBQ) of keys k0.., queries q0.. (the
  // padding queries too, so rows a strip's GEMM skipped hold -inf); additive ones in log2 units.
  void mask(T* st, int64_t bh, int64_t q0, int64_t bq, int64_t k0, int64_t bk) const {
    constexpr T kNegInf = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; a.causal && j < bk; ++j) {  // key k0 + j is masked for queries before it
      std::fill(st + j * kLd<T>, st + j * kLd<T> + std::clamp<int64_t>(k0 + j - q0, 0, kBQ), kNegInf);
    }
    if (a.mask_kind == AttentionMask::none) return;
    const int64_t mo = a.mask_offsets[bh];
    for (int64_t j = 0; j < bk; ++j) {
      T* row = st + j * kLd<T>;
      const int64_t off = mo + (k0 + j) * a.mask_cs + q0 * a.mask_rs;
      if (a.mask_kind == AttentionMask::boolean) {
        const uint8_t* m = reinterpret_cast<const uint8_t*>(a.mask) + off;
        for (int64_t i = 0; i < bq; ++i) row[i] = m[i * a.mask_rs] ? row[i] : kNegInf;
      } else {
        const T* m = reinterpret_cast<const T*>(a.mask) + off;
        for (int64_t i = 0; i < bq; ++i) row[i] += m[i * a.mask_rs] * static_cast<T>(kLog2e);
      }
    }
  }

  // Dropout on the tile st: kept elements times 1/(1-p), the rest 0; dp (when given) alike.
  void drop(T* st, T* dp, int64_t bh, int64_t q0, int64_t bq, int64_t k0, int64_t bk) const {
    for (int64_t i = 0; i < bq; ++i) {
      const uint64_t base = (static_cast<uint64_t>(bh) * a.tq + q0 + i) * a.tk + k0;
      uint64_t block = ~uint64_t{0};
      Philox4x32 words{};
      for (int64_t j = 0; j < bk; ++j) {
        const uint64_t e = base + j;
        if (e / 4 != block) {
          block = e / 4;
          words = philox_block(a.seed, 0, a.offset + block);
        }
        const T s = words.v[e % 4] < keep_threshold ? keep_scale : T(0);
        st[j * kLd<T> + i] *= s;
        if (dp) dp[j * kLd<T> + i] *= s;
      }
    }
  }
};

// Online softmax of one key block in place: st (bk x kBQ, log2-scaled scores, queries in
// lanes) becomes 2^(s - mu) with mu the new running maximum (0 while every key so far is
// masked, so that 2^(-inf) gives 0, not NaN); m, l (the running sum) and alpha = 2^(m_old - mu),
// the factor that rescales what was summed before, are updated per query. Four vectors of
// queries at a time, so the maxima and sums are independent chains kept in registers; a causal
// block's rows past the last key those queries see are left alone.
template <typename T>
void online_softmax(const Problem<T>& pr, T* st, int64_t q0, int64_t k0, int64_t bk, T* m, T* l, T* alpha) {
  constexpr int L = kLanesOf<T>, G = 4;
  const Vec<T> neg_inf = Vec<T>{} - std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < kBQ; i += G * L) {
    const int64_t rows = pr.visible(q0 + i, k0, bk, G * L);  // the rest: masked, unread
    Vec<T> mx[G], mu[G], sum[G];
    for (int g = 0; g < G; ++g) mx[g] = loadu(m + i + g * L);
    for (int64_t j = 0; j < rows; ++j) {
      for (int g = 0; g < G; ++g) {
        const Vec<T> s = loadu(st + j * kLd<T> + i + g * L);
        mx[g] = s > mx[g] ? s : mx[g];
      }
    }
    for (int g = 0; g < G; ++g) {
      mu[g] = mx[g] == neg_inf ? Vec<T>{} : mx[g];
      storeu(alpha + i + g * L, exp2_nonpositive<T>(loadu(m + i + g * L) - mu[g]));
      storeu(m + i + g * L, mx[g]);
      sum[g] = Vec<T>{};
    }
    for (int64_t j = 0; j < rows; ++j) {
      for (int g = 0; g < G; ++g) {
        T* row = st + j * kLd<T> + i + g * L;
        const Vec<T> p = exp2_nonpositive<T>(loadu(row) - mu[g]);
        storeu(row, p);
        sum[g] += p;
      }
    }
    for (int g = 0; g < G; ++g) storeu(l + i + g * L, loadu(l + i + g * L) * loadu(alpha + i + g * L) + sum[g]);
  }
}

// Query block b of n in an order where any run of consecutive positions mixes cheap and
// costly causal blocks (0, n-1, 1, n-2, ...), so the threads' contiguous chunks cost alike.
int64_t interleaved(int64_t pos, int64_t n) { return pos % 2 == 0 ? pos / 2 : n - 1 - pos / 2; }

template <typename T>
void forward(const AttentionArgs& args) {
  const Problem<T> pr(args);
  const int64_t D = args.d, Dv = args.dv, Tq = args.tq, Tk = args.tk;
  const int64_t nqb = (Tq + kBQ - 1) / kBQ;
  T* out = reinterpret_cast<T*>(args.out);
  T* lse = reinterpret_cast<T*>(args.lse);
  const T scale = static_cast<T>(args.scale * kLog2e);
  parallel_for(0, args.bh * nqb, 1, [&](int64_t lo, int64_t hi) {
    constexpr int64_t ld = kLd<T>;
    Scratch<T> buf((D + kBK + Dv) * ld + 3 * kBQ);
    T* qt = buf.get();
    T* st = qt + D * ld;
    T* ot = st + kBK * ld;
    T* m = ot + Dv * ld;
    T* l = m + kBQ;
    T* alpha = l + kBQ;
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t bh = task / nqb, q0 = interleaved(task % nqb, nqb) * kBQ, bq = std::min(kBQ, Tq - q0);
      const T* qb = pr.q + args.q_offsets[bh] + q0 * args.q_rs;
      const T* kb = pr.k + args.k_offsets[bh];
      const T* vb = pr.v + args.v_offsets[bh];
      for (int64_t d = 0; d < D; ++d) {
        for (int64_t i = 0; i < kBQ; ++i) qt[d * ld + i] = i < bq ? qb[i * args.q_rs + d] * scale : T(0);
      }
      std::fill(m, m + kBQ, -std::numeric_limits<T>::infinity());
      std::fill(l, l + kBQ, T(0));
      const int64_t kend = args.causal ? std::min(Tk, q0 + bq) : Tk;
      for (int64_t k0 = 0; k0 < kend; k0 += kBK) {
        const int64_t bk = std::min(kBK, kend - k0);
        for (int64_t j = 0; j < kBQ; j += kNR<T>) {
          gemm<T>(pr.visible(q0 + j, k0, bk), kNR<T>, D, kb + k0 * args.k_rs, args.k_rs, 1, qt + j, ld, st + j, ld,
                  Init::zero);
        }
        if (pr.needs_mask(q0, k0, bk)) pr.mask(st, bh, q0, bq, k0, bk);
        online_softmax(pr, st, q0, k0, bk, m, l, alpha);
        if (args.dropout_p > 0) pr.drop(st, nullptr, bh, q0, bq, k0, bk);
        for (int64_t j = 0; j < kBQ; j += kNR<T>) {
          gemm<T>(Dv, kNR<T>, pr.visible(q0 + j, k0, bk), vb + k0 * args.v_rs, 1, args.v_rs, st + j, ld, ot + j, ld,
                  k0 == 0 ? Init::zero : Init::scaled, alpha + j);
        }
      }
      T* ob = out + (bh * Tq + q0) * Dv;
      for (int64_t i = 0; i < bq; ++i) {
        const T inv = l[i] > 0 ? T(1) / l[i] : T(0);
        for (int64_t d = 0; d < Dv; ++d) ob[i * Dv + d] = ot[d * ld + i] * inv;
        lse[bh * Tq + q0 + i] = l[i] > 0 ? static_cast<T>((m[i] + std::log2(l[i])) / kLog2e)
                                         : std::numeric_limits<T>::infinity();
      }
    }
  });
}

template <typename T>
void backward(const AttentionArgs& args) {
  const Problem<T> pr(args);
  const int64_t D = args.d, Dv = args.dv, Tq = args.tq, Tk = args.tk;
  constexpr int64_t ld = kLd<T>;
  const int64_t nqb = (Tq + kBQ - 1) / kBQ, Tqp = nqb * kBQ, Dp = round_up(D, kNR<T>), Dvp = round_up(Dv, kNR<T>);
  const T scale = static_cast<T>(args.scale), scale2 = static_cast<T>(args.scale * kLog2e);
  const T* out = reinterpret_cast<const T*>(args.out);
  const T* g = reinterpret_cast<const T*>(args.g);
  const T* lse_in = reinterpret_cast<const T*>(args.lse);
  T* gq = reinterpret_cast<T*>(args.gq);
  T* gk = reinterpret_cast<T*>(args.gk);
  T* gv = reinterpret_cast<T*>(args.gv);
  parallel_for(0, args.bh, 1, [&](int64_t lo, int64_t hi) {
    const int64_t sizes[] = {nqb * D * ld, Tq * Dp, nqb * Dv * ld, Tq * Dvp, Tk * Dp, Tq * Dp, Tqp, Tqp,
                             3 * kBK * ld, kBK * Dp, kBK * Dvp};
    int64_t total = 0;
    for (int64_t s : sizes) total += s;
    Scratch<T> buf(total);
    T* parts[11];
    T* p = buf.get();
    for (int n = 0; n < 11; ++n) {
      parts[n] = p;
      p += sizes[n];
    }
    T *qt = parts[0], *qpad = parts[1], *gt = parts[2], *gpad = parts[3], *kpad = parts[4], *dq = parts[5];
    T *lse = parts[6], *delta = parts[7], *st = parts[8], *dk = parts[9], *dv = parts[10];
    T* dpt = st + kBK * ld;
    T* pdt = dpt + kBK * ld;
    for (int64_t bh = lo; bh < hi; ++bh) {
      const T* qb = pr.q + args.q_offsets[bh];
      const T* kb = pr.k + args.k_offsets[bh];
      const T* vb = pr.v + args.v_offsets[bh];
      const T* ob = out + bh * Tq * Dv;
      const T* gb = g + bh * Tq * Dv;
      std::fill(qt, qt + nqb * D * ld, T(0));
      std::fill(qpad, qpad + Tq * Dp, T(0));
      std::fill(gt, gt + nqb * Dv * ld, T(0));
      std::fill(gpad, gpad + Tq * Dvp, T(0));
      std::fill(kpad, kpad + Tk * Dp, T(0));
      std::fill(dq, dq + Tq * Dp, T(0));
      for (int64_t i = 0; i < Tq; ++i) {
        for (int64_t d = 0; d < D; ++d) {
          const T x = qb[i * args.q_rs + d];
          qt[i / kBQ * D * ld + d * ld + i % kBQ] = x * scale2;
          qpad[i * Dp + d] = x;
        }
        T s = 0;
        for (int64_t d = 0; d < Dv; ++d) {
          const T x = gb[i * Dv + d];
          gt[i / kBQ * Dv * ld + d * ld + i % kBQ] = x;
          gpad[i * Dvp + d] = x;
          s += x * ob[i * Dv + d];
        }
        delta[i] = s;
        lse[i] = lse_in[bh * Tq + i] * static_cast<T>(kLog2e);
      }
      for (int64_t i = Tq; i < Tqp; ++i) {
        delta[i] = 0;
        lse[i] = std::numeric_limits<T>::infinity();
      }
      for (int64_t j = 0; j < Tk; ++j) std::copy(kb + j * args.k_rs, kb + j * args.k_rs + D, kpad + j * Dp);
      for (int64_t k0 = 0; k0 < Tk; k0 += kBK) {
        const int64_t bk = std::min(kBK, Tk - k0);
        std::fill(dk, dk + kBK * Dp, T(0));
        std::fill(dv, dv + kBK * Dvp, T(0));
        for (int64_t q0 = args.causal ? k0 / kBQ * kBQ : 0; q0 < Tq; q0 += kBQ) {
          const int64_t bq = std::min(kBQ, Tq - q0);
          for (int64_t j = 0; j < kBQ; j += kNR<T>) {
            gemm<T>(pr.visible(q0 + j, k0, bk), kNR<T>, D, kb + k0 * args.k_rs, args.k_rs, 1, qt + q0 / kBQ * D * ld + j, ld,
                    st + j, ld, Init::zero);
          }
          if (pr.needs_mask(q0, k0, bk)) pr.mask(st, bh, q0, bq, k0, bk);
          for (int64_t j = 0; j < bk; ++j) {
            for (int64_t i = 0; i < kBQ; i += kLanesOf<T>) {
              T* s = st + j * ld + i;
              storeu(s, exp2_nonpositive<T>(loadu(s) - loadu(lse + q0 + i)));
            }
          }
          for (int64_t j = 0; j < kBQ; j += kNR<T>) {
            gemm<T>(pr.visible(q0 + j, k0, bk), kNR<T>, Dv, vb + k0 * args.v_rs, args.v_rs, 1, gt + q0 / kBQ * Dv * ld + j, ld,
                    dpt + j, ld, Init::zero);
          }
          const T* pd = st;  // the dropped-out P that multiplied V
          if (args.dropout_p > 0) {
            std::copy(st, st + bk * ld, pdt);
            pr.drop(pdt, dpt, bh, q0, bq, k0, bk);
            pd = pdt;
          }
          gemm<T>(bk, Dvp, bq, pd, ld, 1, gpad + q0 * Dvp, Dvp, dv, Dvp, Init::load);
          for (int64_t i = 0; i < kBQ; i += kLanesOf<T>) {  // dS; 0 on the rows dP's GEMM skipped
            const int64_t vis = pr.visible(q0 + i / kNR<T> * kNR<T>, k0, bk);
            for (int64_t j = 0; j < bk; ++j) {
              T* ds = dpt + j * ld + i;
              storeu(ds, j < vis ? loadu(st + j * ld + i) * (loadu(ds) - loadu(delta + q0 + i)) : Vec<T>{});
            }
          }
          gemm<T>(bk, Dp, bq, dpt, ld, 1, qpad + q0 * Dp, Dp, dk, Dp, Init::load);
          for (int64_t i = 0; i < bq; i += kMR) {  // causal rows skip the keys after their query
            const int64_t keys = args.causal ? std::clamp<int64_t>(q0 + i + kMR - k0, 0, bk) : bk;
            gemm<T>(std::min<int64_t>(kMR, bq - i), Dp, keys, dpt + i, 1, ld, kpad + k0 * Dp, Dp,
                    dq + (q0 + i) * Dp, Dp, Init::load);
          }
        }
        for (int64_t j = 0; j < bk; ++j) {
          T* gkr = gk + (bh * Tk + k0 + j) * D;
          T* gvr = gv + (bh * Tk + k0 + j) * Dv;
          for (int64_t d = 0; d < D; ++d) gkr[d] = dk[j * Dp + d] * scale;
          std::copy(dv + j * Dvp, dv + j * Dvp + Dv, gvr);
        }
      }
      for (int64_t i = 0; i < Tq; ++i) {
        for (int64_t d = 0; d < D; ++d) gq[(bh * Tq + i) * D + d] = dq[i * Dp + d] * scale;
      }
    }
  });
}

}  // namespace

void attention(const AttentionArgs& a) {
  if (a.dtype == DType::float32) a.g ? backward<float>(a) : forward<float>(a);
  else a.g ? backward<double>(a) : forward<double>(a);
}

}  // namespace fibril::cpu::FIBRIL_ISA
