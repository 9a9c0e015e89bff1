// Tree reductions: sum, prod, max, min, any, all, and the fused forms behind mean, var/std,
// logsumexp and the vector norms (see ReduceKind in kernels.h).
//
// The order of every operation is fixed by the shape and strides, never by the thread
// count, so results are bit-identical on any number of threads:
//  - dims: size-1 dims dropped; reduced dims sorted by stride (largest first), and kept or
//    reduced neighbours merged where contiguous.
//  - row path (the smallest reduced stride is the innermost; stride 1 for row reductions, any
//    stride for the strided general case): each output's reduced extent is a sequence of
//    segments along the innermost reduced dim, cut into leaf blocks of at most kBlock
//    elements. A leaf spreads its elements round-robin over kLanes accumulators (8-wide SIMD
//    x 4 after auto-vectorization), then adds the lanes as a binary tree.
//  - column path (the innermost kept dim is contiguous: a column reduction): tiles of up to
//    kTileBytes of accumulators; per column, leaves of kRowBlock rows added in sequence, vectorized
//    across the columns.
//  - leaves (and, when the extent is split, the partial results of split pieces) are combined
//    pairwise by a binary counter (Pairwise): a balanced tree over every power-of-two run.
//  - parallel_for only distributes work items: outputs (or column tiles), times a split of
//    the reduced extent into powers of two of leaves when there are too few outputs to keep
//    the threads busy (units_per_item: again a function of the shape alone).
//
// Accuracy: float32 accumulates in float32, so a sum of n elements has an error of about
// (kBlock / kLanes + log2 n) ulps (row path) or (kRowBlock + log2 n) ulps (column path) of
// the sum of magnitudes, instead of ~n for a running sum: 2^24 + 2^20 float32 ones plus small
// values sum to within 1e-6 relative (a running float32 sum stalls at 2^24). Float64
// accumulates in float64, integers and bool in int64 (wrapping), as PyTorch.
//
// Measured: `python -m bench --family reduce` under /tmp/quiet.sh, 4096x4096 float32, AMD
// EPYC (Zen 1) 2 cores, 2 threads, other work on the machine (noisy); time, ratio = torch 2.13
// time / ours:  sum rows 2.82 ms (1.03x; before: 3.00 ms, 0.90x)   mean rows 2.72 ms (1.06x)
//   sum all 3.20 ms (0.93x, noise: 2.67 ms = torch in a quieter run)   var rows 5.2 ms (12x)
//   amax cols 3.32 ms (3.6x torch, 1.7x numpy; before 15.4 ms)   arg-reductions
//   (arg_reduce.cpp): max rows 3.81 ms (1.48x numpy), argmax rows 3.99 ms (1.41x numpy).
//   sum cols 6.5 ms (1.14x torch) before its explicit AVX2 loop (GCC had run the scalar one),
//   which perf shows vectorized now; not yet timed on a quiet machine.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "core/parallel.h"
#include "cpu/kernels.h"

namespace fibril::cpu::FIBRIL_ISA {
namespace {

constexpr int kLanes = 32;
constexpr int64_t kBlock = 4096;            // row leaf: 32 lanes x 128 sequential steps
constexpr int64_t kRowBlock = 128;          // column leaf: 128 rows in sequence per column
constexpr int64_t kTileBytes = 16384;       // column accumulators: half of L1
constexpr int64_t kMinItems = 16;           // split the extent until there are this many items...
constexpr int64_t kMinItemElements = 1 << 15;  // ...but no smaller than this
constexpr int64_t kGrainElements = 1 << 15;    // below this per thread, waking a worker costs more

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ------------------------------------------------------------------------ the operations
// Each op: load(x, c) maps an element (c: the per-output context, e.g. the mean for var),
// combine(a, b) is the associative step, finish(acc, c) the final value. The result dtype is
// Acc. Integer accumulation wraps like PyTorch's (done in uint64_t: no signed overflow).

template <typename T>
using SumAcc = std::conditional_t<std::is_floating_point_v<T>, T, int64_t>;

template <typename A>
A wrap_add(A a, A b) {
  if constexpr (std::is_integral_v<A>) return static_cast<A>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  else return a + b;
}

template <typename A>
A wrap_mul(A a, A b) {
  if constexpr (std::is_integral_v<A>) return static_cast<A>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  else return a * b;
}

template <typename T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

// Fields shared by the ops: the per-output context and the finishing parameters.
template <typename In_, typename Acc_>
struct OpBase {
  using In = In_;
  using Acc = Acc_;
  static constexpr bool kContext = false;  // whether load() uses the per-output context
  const Acc* aux = nullptr;
  double divisor = 1;
  double p = 1;
  bool root = false;
  Acc context(int64_t) const { return Acc(0); }
  Acc finish(Acc acc, Acc) const { return acc; }
};

template <typename T>
struct Sum : OpBase<T, SumAcc<T>> {
  using Acc = SumAcc<T>;
  Acc load(T x, Acc) const { return Acc(x); }
  Acc combine(Acc a, Acc b) const { return wrap_add(a, b); }
  Acc finish(Acc acc, Acc) const {
    if constexpr (std::is_floating_point_v<Acc>) return this->divisor == 1 ? acc : acc / Acc(this->divisor);
    else return acc;
  }
};

template <typename T>
struct Prod : OpBase<T, SumAcc<T>> {
  using Acc = SumAcc<T>;
  Acc load(T x, Acc) const { return Acc(x); }
  Acc combine(Acc a, Acc b) const { return wrap_mul(a, b); }
};

// NaN wins (propagates); otherwise the larger (smaller). `|`, not `||`: no branch, so the
// column loop vectorizes to compare + blend.
template <typename T>
struct Max : OpBase<T, T> {
  T load(T x, T) const { return x; }
  T combine(T a, T b) const { return ((b > a) | is_nan(b)) ? b : a; }
};

template <typename T>
struct Min : OpBase<T, T> {
  T load(T x, T) const { return x; }
  T combine(T a, T b) const { return ((b < a) | is_nan(b)) ? b : a; }
};

template <typename T>
struct Any : OpBase<T, bool> {
  bool load(T x, bool) const { return x != T(0); }
  bool combine(bool a, bool b) const { return a || b; }
};

template <typename T>
struct All : OpBase<T, bool> {
  bool load(T x, bool) const { return x != T(0); }
  bool combine(bool a, bool b) const { return a && b; }
};

// log(sum(exp(x - m))) + m with m the max; an infinite max shifts by 0 instead, so that
// all -inf gives -inf and any +inf gives +inf (PyTorch's rule), never inf - inf.
template <typename T>
struct SumExp : OpBase<T, T> {
  static constexpr bool kContext = true;
  T context(int64_t o) const { return std::isinf(this->aux[o]) ? T(0) : this->aux[o]; }
  T load(T x, T m) const { return std::exp(x - m); }
  T combine(T a, T b) const { return a + b; }
  T finish(T acc, T m) const { return std::log(acc) + m; }
};

template <typename T>
struct SumSqDev : OpBase<T, T> {
  static constexpr bool kContext = true;
  T context(int64_t o) const { return this->aux[o]; }
  T load(T x, T mean) const { return (x - mean) * (x - mean); }
  T combine(T a, T b) const { return a + b; }
  T finish(T acc, T) const {
    T v = acc / T(this->divisor);
    return this->root ? std::sqrt(v) : v;
  }
};

template <typename T>
struct Norm0 : Sum<T> {
  T load(T x, T) const { return x != T(0) ? T(1) : T(0); }
  T finish(T acc, T) const { return acc; }
};

template <typename T>
struct Norm1 : Sum<T> {
  T load(T x, T) const { return std::abs(x); }
  T finish(T acc, T) const { return acc; }
};

template <typename T>
struct Norm2 : Sum<T> {
  T load(T x, T) const { return x * x; }
  T finish(T acc, T) const { return std::sqrt(acc); }
};

template <typename T>
struct NormP : Sum<T> {
  T load(T x, T) const { return std::pow(std::abs(x), T(this->p)); }
  T finish(T acc, T) const { return std::pow(acc, T(1 / this->p)); }
};

template <typename T>
struct NormInf : Max<T> {
  T load(T x, T) const { return std::abs(x); }
};

template <typename T>
struct NormNegInf : Min<T> {
  T load(T x, T) const { return std::abs(x); }
};

// Ops whose column loop combine_arrays spells out in AVX2 (load() is the identity for them).
template <class Op>
constexpr bool kExplicitColumns =
    std::is_same_v<Op, Sum<float>> || std::is_same_v<Op, Max<float>> || std::is_same_v<Op, Min<float>>;

// out[j] = op.combine(a[j], b[j]) for j < w (out may be a or b): the column path's inner loop.
// For float32 sum, max and min it is spelled out in AVX2: GCC keeps a branchy scalar loop for
// max/min and, for the sum, runs its scalar fallback. max/min are maxps/minps then a blend
// where b is NaN: the same bits as combine(), since `b > a ? b : a` is exactly maxps(b, a).
template <class Op>
void combine_arrays(const Op& op, const typename Op::Acc* a, const typename Op::Acc* b, typename Op::Acc* out,
                    int64_t w) {
  int64_t j = 0;
#ifdef __AVX2__
  if constexpr (kExplicitColumns<Op>) {
    constexpr bool kSum = std::is_same_v<Op, Sum<float>>, kMax = std::is_same_v<Op, Max<float>>;
    for (; j + 8 <= w; j += 8) {
      const __m256 x = _mm256_loadu_ps(a + j), y = _mm256_loadu_ps(b + j);
      if constexpr (kSum) {
        _mm256_storeu_ps(out + j, _mm256_add_ps(x, y));
      } else {
        const __m256 m = kMax ? _mm256_max_ps(y, x) : _mm256_min_ps(y, x);
        _mm256_storeu_ps(out + j, _mm256_blendv_ps(m, y, _mm256_cmp_ps(y, y, _CMP_UNORD_Q)));
      }
    }
  }
#endif
  for (; j < w; ++j) out[j] = op.combine(a[j], b[j]);
}

// --------------------------------------------------------------------- pairwise combining

// Combines values pushed in order as a binary counter does: level k holds the combination of
// 2^k consecutive values, so every aligned power-of-two run is a balanced tree. result()
// folds the leftover levels from the lowest up. Needs at least one push.
template <class Op>
class Pairwise {
 public:
  using Acc = typename Op::Acc;
  explicit Pairwise(const Op& op) : op_(op) {}

  void push(Acc v) {
    int k = 0;
    for (uint64_t c = count_++; c & 1; c >>= 1, ++k) v = op_.combine(level_[k], v);
    level_[k] = v;
  }

// GCC cannot see that level_[k] is read only when bit k of count_ is set, i.e. after
// push() wrote it; zero-initializing 64 accumulators per reduction would cost real time.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
  Acc result() const {  // count_ > 0
    int k = __builtin_ctzll(count_);
    Acc acc = level_[k];
    for (++k; k < 64; ++k)
      if (count_ >> k & 1) acc = op_.combine(level_[k], acc);
    return acc;
  }
#pragma GCC diagnostic pop

 private:
  const Op& op_;
  Acc level_[64];
  uint64_t count_ = 0;
};

// The same over vectors of `width` columns (the column path): the element-wise twin of
// Pairwise, with the levels in one buffer.
template <class Op>
class PairwiseColumns {
 public:
  using Acc = typename Op::Acc;
  PairwiseColumns(const Op& op, int64_t width, int64_t max_pushes) : op_(op), width_(width) {
    int levels = 1;
    while ((int64_t{1} << (levels - 1)) < max_pushes) ++levels;
    levels_.reset(new Acc[static_cast<size_t>(levels * width)]);
  }

  void reset() { count_ = 0; }

  void push(Acc* v) {  // v is clobbered
    int k = 0;
    for (uint64_t c = count_++; c & 1; c >>= 1, ++k) combine_arrays(op_, level(k), v, v, width_);
    std::copy(v, v + width_, level(k));
  }

  void result(Acc* out) const {
    int k = __builtin_ctzll(count_);
    std::copy(level(k), level(k) + width_, out);
    for (++k; k < 64; ++k) {
      if (count_ >> k & 1) combine_arrays(op_, level(k), out, out, width_);
    }
  }

 private:
  Acc* level(int k) const { return levels_.get() + k * width_; }
  const Op& op_;
  int64_t width_;
  std::unique_ptr<Acc[]> levels_;
  uint64_t count_ = 0;
};

// ------------------------------------------------------------------------------ geometry

struct Dim {
  int64_t size, stride;
};

struct Geometry {
  Dim kept[64], red[64];
  int nk = 0, nr = 0;
  int64_t outputs = 1, count = 1;  // output elements; reduced elements per output
};

void append_merged(Dim* dims, int* n, Dim d) {
  if (*n > 0 && dims[*n - 1].stride == d.stride * d.size) {
    dims[*n - 1] = {dims[*n - 1].size * d.size, d.stride};
  } else {
    dims[(*n)++] = d;
  }
}

Geometry make_geometry(const ReduceArgs& a) {
  Geometry g;
  for (int i = 0; i < a.kept_ndim; ++i) {
    g.outputs *= a.kept_shape[i];
    if (a.kept_shape[i] != 1) append_merged(g.kept, &g.nk, {a.kept_shape[i], a.kept_strides[i]});
  }
  Dim red[64];
  int nr = 0;
  for (int i = 0; i < a.red_ndim; ++i) {
    g.count *= a.red_shape[i];
    if (a.red_shape[i] != 1) red[nr++] = {a.red_shape[i], a.red_strides[i]};
  }
  std::stable_sort(red, red + nr, [](const Dim& x, const Dim& y) { return x.stride > y.stride; });
  for (int i = 0; i < nr; ++i) append_merged(g.red, &g.nr, red[i]);
  if (g.nr == 0) g.red[g.nr++] = {1, 1};  // one element per output
  return g;
}

// The offset of flat index `i` (row-major) in dims[0..n).
int64_t offset_of(const Dim* dims, int n, int64_t i) {
  int64_t off = 0;
  for (int d = n - 1; d >= 0 && i > 0; --d) {
    off += (i % dims[d].size) * dims[d].stride;
    i /= dims[d].size;
  }
  return off;
}

// Units (leaves) of the reduced extent per work item: all of them when there are enough
// outputs to keep the threads busy, else the largest power of two that makes kMinItems
// items, without going below kMinItemElements elements. A function of the shape only.
int64_t units_per_item(int64_t outputs, int64_t units, int64_t unit_elements) {
  if (outputs >= kMinItems) return units;
  int64_t per = 1;
  while (per < units) per *= 2;
  while (per > 1 && outputs * ceil_div(units, per) < kMinItems && (per / 2) * unit_elements >= kMinItemElements)
    per /= 2;
  return per;
}

// --------------------------------------------------------------------------- row path

// K leaves, each of n elements at stride s (x[k], context c[k]), round-robin over kLanes
// accumulators, then a tree: out[k]. The K leaves are computed together, their loads
// interleaved: K streams read memory faster than one; each result is the same as alone.
template <int K, class Op>
void leaves(const Op& op, const typename Op::In* const* x, int64_t n, int64_t s, const typename Op::Acc* c,
            typename Op::Acc* out) {
  using Acc = typename Op::Acc;
  if (n < kLanes) {
    for (int k = 0; k < K; ++k) {
      Acc acc = op.load(x[k][0], c[k]);
      for (int64_t i = 1; i < n; ++i) acc = op.combine(acc, op.load(x[k][i * s], c[k]));
      out[k] = acc;
    }
    return;
  }
  Acc lane[K][kLanes];
  for (int k = 0; k < K; ++k)
    for (int l = 0; l < kLanes; ++l) lane[k][l] = op.load(x[k][l * s], c[k]);
  int64_t i = kLanes;
  if (s == 1) {
    for (; i + kLanes <= n; i += kLanes)
      for (int k = 0; k < K; ++k)
        for (int l = 0; l < kLanes; ++l) lane[k][l] = op.combine(lane[k][l], op.load(x[k][i + l], c[k]));
  } else {
    for (; i + kLanes <= n; i += kLanes)
      for (int k = 0; k < K; ++k)
        for (int l = 0; l < kLanes; ++l) lane[k][l] = op.combine(lane[k][l], op.load(x[k][(i + l) * s], c[k]));
  }
  for (int k = 0; k < K; ++k) {
    for (int64_t j = i, l = 0; j < n; ++j, ++l) lane[k][l] = op.combine(lane[k][l], op.load(x[k][j * s], c[k]));
    for (int w = kLanes / 2; w > 0; w /= 2)
      for (int l = 0; l < w; ++l) lane[k][l] = op.combine(lane[k][l], lane[k][l + w]);
    out[k] = lane[k][0];
  }
}

template <class Op>
void reduce_rows(const ReduceArgs& a, const Op& op, const Geometry& g) {
  using In = typename Op::In;
  using Acc = typename Op::Acc;
  const In* in = reinterpret_cast<const In*>(a.in);
  Acc* out = reinterpret_cast<Acc*>(a.out);
  const Dim inner = g.red[g.nr - 1];
  const int64_t per_segment = ceil_div(inner.size, kBlock), leaf_size = std::min(inner.size, kBlock);
  const int64_t leaves_per_output = g.count / inner.size * per_segment;
  const int64_t per_item = units_per_item(g.outputs, leaves_per_output, leaf_size);
  const int64_t pieces = ceil_div(leaves_per_output, per_item);
  std::unique_ptr<Acc[]> partial(pieces > 1 ? new Acc[static_cast<size_t>(g.outputs * pieces)] : nullptr);

  const int64_t grain = std::max<int64_t>(1, kGrainElements / (per_item * leaf_size));
  parallel_for(0, g.outputs * pieces, grain, [&](int64_t lo, int64_t hi) {
    if (leaves_per_output == 1) {  // one leaf per output: two outputs at a time
      for (int64_t o = lo; o < hi; o += 2) {
        const int m = o + 1 < hi ? 2 : 1;
        const In* x[2];
        Acc c[2], r[2];
        for (int k = 0; k < m; ++k) {
          x[k] = in + offset_of(g.kept, g.nk, o + k);
          c[k] = Op::kContext ? op.context(o + k) : Acc(0);
        }
        if (m == 2) leaves<2>(op, x, inner.size, inner.stride, c, r);
        else leaves<1>(op, x, inner.size, inner.stride, c, r);
        for (int k = 0; k < m; ++k) out[o + k] = op.finish(r[k], c[k]);
      }
      return;
    }
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t o = item / pieces, piece = item % pieces;
      const In* base = in + offset_of(g.kept, g.nk, o);
      const Acc c = Op::kContext ? op.context(o) : Acc(0);
      Pairwise<Op> sum(op);
      for (int64_t k = piece * per_item, end = std::min(leaves_per_output, k + per_item); k < end; ++k) {
        const int64_t segment = k / per_segment, first = (k % per_segment) * kBlock;
        const In* x = base + offset_of(g.red, g.nr - 1, segment) + first * inner.stride;
        Acc v;
        leaves<1>(op, &x, std::min(kBlock, inner.size - first), inner.stride, &c, &v);
        sum.push(v);
      }
      if (pieces == 1) out[o] = op.finish(sum.result(), c);
      else partial[item] = sum.result();
    }
  });
  if (pieces == 1) return;
  parallel_for(0, g.outputs, std::max<int64_t>(1, kGrainElements / pieces), [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o) {
      Pairwise<Op> sum(op);
      for (int64_t piece = 0; piece < pieces; ++piece) sum.push(partial[o * pieces + piece]);
      out[o] = op.finish(sum.result(), op.context(o));
    }
  });
}

// ------------------------------------------------------------------------- column path

// One column leaf: rows[0, n) point at the tile's first column; acc[j] = the rows combined in
// sequence, per column. Whole rows of the tile are read in order (long streams for the
// prefetchers) into accumulators that stay in L1.
template <class Op>
void column_leaf(const Op& op, const typename Op::In* const* rows, int64_t n, int64_t w,
                 const typename Op::Acc* __restrict ctx, typename Op::Acc* __restrict acc) {
  using Acc = typename Op::Acc;
  const typename Op::In* x = rows[0];
  for (int64_t j = 0; j < w; ++j) acc[j] = op.load(x[j], Op::kContext ? ctx[j] : Acc(0));
  if constexpr (kExplicitColumns<Op>) {
    for (int64_t r = 1; r < n; ++r) combine_arrays(op, acc, rows[r], acc, w);
  } else {
    for (int64_t r = 1; r < n; ++r) {
      x = rows[r];
      for (int64_t j = 0; j < w; ++j) acc[j] = op.combine(acc[j], op.load(x[j], Op::kContext ? ctx[j] : Acc(0)));
    }
  }
}

template <class Op>
void reduce_columns(const ReduceArgs& a, const Op& op, const Geometry& g) {
  using In = typename Op::In;
  using Acc = typename Op::Acc;
  const In* in = reinterpret_cast<const In*>(a.in);
  Acc* out = reinterpret_cast<Acc*>(a.out);
  const int64_t cols = g.kept[g.nk - 1].size, outer = g.outputs / cols;
  const int64_t width = std::min<int64_t>(cols, kTileBytes / sizeof(Acc)), tiles = ceil_div(cols, width);
  const int64_t rows = g.count, leaves = ceil_div(rows, kRowBlock);
  const int64_t per_item = units_per_item(outer * tiles, leaves, kRowBlock * width);
  const int64_t pieces = ceil_div(leaves, per_item);
  std::unique_ptr<Acc[]> partial(pieces > 1 ? new Acc[static_cast<size_t>(g.outputs * pieces)] : nullptr);

  const int64_t grain = std::max<int64_t>(1, kGrainElements / (per_item * kRowBlock * width));
  parallel_for(0, outer * tiles * pieces, grain, [&](int64_t lo, int64_t hi) {
    PairwiseColumns<Op> sum(op, width, per_item);
    std::unique_ptr<Acc[]> buffers(new Acc[static_cast<size_t>(2 * width)]);
    Acc* acc = buffers.get();
    Acc* ctx = acc + width;
    const In* row[kRowBlock];
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t piece = item % pieces, tile = item / pieces % tiles, o = item / pieces / tiles;
      const int64_t c0 = tile * width, w = std::min(width, cols - c0);
      const int64_t first_out = o * cols + c0;
      const In* base = in + offset_of(g.kept, g.nk - 1, o) + c0;
      if constexpr (Op::kContext)
        for (int64_t j = 0; j < w; ++j) ctx[j] = op.context(first_out + j);
      sum.reset();
      for (int64_t k = piece * per_item, end = std::min(leaves, k + per_item); k < end; ++k) {
        const int64_t r0 = k * kRowBlock, n = std::min(rows - r0, kRowBlock);
        for (int64_t r = 0; r < n; ++r) row[r] = base + offset_of(g.red, g.nr, r0 + r);
        column_leaf(op, row, n, w, ctx, acc);
        sum.push(acc);
      }
      sum.result(acc);
      if (pieces == 1) {
        for (int64_t j = 0; j < w; ++j) out[first_out + j] = op.finish(acc[j], Op::kContext ? ctx[j] : Acc(0));
      } else {
        std::copy(acc, acc + w, partial.get() + (o * pieces + piece) * cols + c0);
      }
    }
  });
  if (pieces == 1) return;
  parallel_for(0, g.outputs, std::max<int64_t>(1, kGrainElements / pieces), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t o = i / cols, j = i % cols;
      Pairwise<Op> sum(op);
      for (int64_t piece = 0; piece < pieces; ++piece) sum.push(partial[(o * pieces + piece) * cols + j]);
      out[i] = op.finish(sum.result(), op.context(i));
    }
  });
}

template <class Op>
void run(const ReduceArgs& a, Op op) {
  op.aux = static_cast<const typename Op::Acc*>(a.aux);
  op.divisor = a.divisor;
  op.p = a.p;
  op.root = a.root;
  const Geometry g = make_geometry(a);
  const bool columns = g.nk > 0 && g.kept[g.nk - 1].stride == 1 && g.red[g.nr - 1].stride != 1 && g.count > 1;
  if (columns) reduce_columns(a, op, g);
  else reduce_rows(a, op, g);
}

template <template <typename> class Op>
void run_any_dtype(const ReduceArgs& a) {
  visit_dtype(a.dtype, [&](auto t) { run(a, Op<decltype(t)>{}); });
}

template <template <typename> class Op>
void run_float(const ReduceArgs& a) {
  if (a.dtype == DType::float64) run(a, Op<double>{});
  else run(a, Op<float>{});
}

}  // namespace

void reduce(const ReduceArgs& a) {
  switch (a.kind) {
    case ReduceKind::sum: return run_any_dtype<Sum>(a);
    case ReduceKind::prod: return run_any_dtype<Prod>(a);
    case ReduceKind::max: return run_any_dtype<Max>(a);
    case ReduceKind::min: return run_any_dtype<Min>(a);
    case ReduceKind::any: return run_any_dtype<Any>(a);
    case ReduceKind::all: return run_any_dtype<All>(a);
    case ReduceKind::sum_exp: return run_float<SumExp>(a);
    case ReduceKind::sum_sq_dev: return run_float<SumSqDev>(a);
    case ReduceKind::norm_0: return run_float<Norm0>(a);
    case ReduceKind::norm_1: return run_float<Norm1>(a);
    case ReduceKind::norm_2: return run_float<Norm2>(a);
    case ReduceKind::norm_inf: return run_float<NormInf>(a);
    case ReduceKind::norm_neginf: return run_float<NormNegInf>(a);
    case ReduceKind::norm_p: return run_float<NormP>(a);
  }
}

}  // namespace fibril::cpu::FIBRIL_ISA
