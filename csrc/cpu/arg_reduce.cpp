// Arg-reductions (argmax, argmin; max and min along a dim with their indices) over the middle
// dim of a contiguous (outer, n, inner) input. The first index of the extreme wins ties, and
// NaN beats every number (the first NaN wins), as in PyTorch.
//  - inner == 1 (rows): each row in chunks of kChunk elements; per chunk, the extreme by a
//    NaN-propagating max over kLanes accumulators (vectorized; float32 in explicit AVX2), and
//    only when it beats the best so far, a scan of the chunk (still in L1, 8-wide compares for
//    float32 in AVX2) for its first position; the value reported is the element there. Few
//    long rows are also cut into pieces of kPiece elements, so that the threads share one row.
//  - inner > 1 (columns): a running best and index per column, vectorized across columns.
// No rounding anywhere, so the answer is exact whatever the split.
#include <algorithm>
#include <limits>
#include <memory>
#include <type_traits>
#include <utility>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "core/parallel.h"
#include "cpu/kernels.h"

namespace fibril::cpu::FIBRIL_ISA {
namespace {

constexpr int kLanes = 32;
constexpr int64_t kChunk = 1024;
constexpr int64_t kPiece = 1 << 16;
constexpr int64_t kMinItems = 16;
constexpr int64_t kTileCols = 512;
constexpr int64_t kGrainElements = 1 << 15;

template <typename T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

// Whether v replaces `best` (strictly better; NaN beats numbers).
template <bool kMax, typename T>
bool better(T v, T best) {
  const bool nan_first = is_nan(v) && !is_nan(best);
  if constexpr (kMax) return v > best || nan_first;
  else return v < best || nan_first;
}

template <bool kMax, typename T>
T pick(T a, T b) {
  return better<kMax>(b, a) ? b : a;
}

// The extreme of x[0, *end), n >= kLanes, over kLanes accumulators; *end: where it stopped.
template <bool kMax, typename T>
T extreme_lanes(const T* x, int64_t n, int64_t* end) {
  T lane[kLanes];
  std::copy(x, x + kLanes, lane);
  int64_t i = kLanes;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] = pick<kMax>(lane[l], x[i + l]);
  *end = i;
  T best = lane[0];
  for (int l = 1; l < kLanes; ++l) best = pick<kMax>(best, lane[l]);
  return best;
}

#ifdef __AVX2__
// float32: maxps (minps) keeps no NaN, so NaNs are tracked apart; which of equal values (+-0)
// comes out does not matter, scan_row reports the element at the first index.
template <bool kMax>
float extreme_lanes(const float* x, int64_t n, int64_t* end) {
  static_assert(kLanes == 32);
  auto step = [](__m256 a, __m256 b) { return kMax ? _mm256_max_ps(a, b) : _mm256_min_ps(a, b); };
  __m256 m[4], nan = _mm256_setzero_ps();
  for (int k = 0; k < 4; ++k) {
    m[k] = _mm256_loadu_ps(x + 8 * k);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(m[k], m[k], _CMP_UNORD_Q));
  }
  int64_t i = kLanes;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < 4; ++k) {
      const __m256 v = _mm256_loadu_ps(x + i + 8 * k);
      nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
      m[k] = step(m[k], v);
    }
  *end = i;
  if (_mm256_movemask_ps(nan)) return std::numeric_limits<float>::quiet_NaN();
  __m256 v = step(step(m[0], m[1]), step(m[2], m[3]));
  __m128 h = kMax ? _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1))
                  : _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  float lane[4];
  _mm_storeu_ps(lane, h);
  float best = lane[0];
  for (int l = 1; l < 4; ++l) best = pick<kMax>(best, lane[l]);
  return best;
}
#endif

// The extreme of x[0, n), n >= 1, NaN propagating.
template <bool kMax, typename T>
T extreme(const T* x, int64_t n) {
  T best = x[0];
  int64_t i = 1;
  if (n >= kLanes) best = extreme_lanes<kMax>(x, n, &i);
  for (; i < n; ++i) best = pick<kMax>(best, x[i]);
  return best;
}

template <typename T>
int64_t first_index_of(const T* x, int64_t n, T v) {
  int64_t i = 0;
#ifdef __AVX2__
  if constexpr (std::is_same_v<T, float>) {
    const __m256 target = _mm256_set1_ps(v);
    for (; i + 8 <= n; i += 8) {
      const __m256 y = _mm256_loadu_ps(x + i);
      const int hits = _mm256_movemask_ps(is_nan(v) ? _mm256_cmp_ps(y, y, _CMP_UNORD_Q)
                                                     : _mm256_cmp_ps(y, target, _CMP_EQ_OQ));
      if (hits) return i + __builtin_ctz(static_cast<unsigned>(hits));
    }
  }
#endif
  for (; i < n; ++i)
    if (x[i] == v || (is_nan(v) && is_nan(x[i]))) return i;
  return 0;  // unreachable: v came from x
}

// Scans x[lo, hi) of one row; (value, index) of its first extreme.
template <bool kMax, typename T>
std::pair<T, int64_t> scan_row(const T* x, int64_t lo, int64_t hi) {
  T best = x[lo];
  int64_t index = lo;
  for (int64_t c = lo; c < hi; c += kChunk) {
    const int64_t n = std::min(kChunk, hi - c);
    const T m = extreme<kMax>(x + c, n);
    if (better<kMax>(m, best)) {
      index = c + first_index_of(x + c, n, m);
      best = x[index];
    }
  }
  return {best, index};
}

template <bool kMax, typename T>
void arg_rows(const ArgReduceArgs& a) {
  const T* in = reinterpret_cast<const T*>(a.in);
  T* values = reinterpret_cast<T*>(a.values);
  const int64_t rows = a.outer, n = a.n;
  const int64_t piece_len = rows >= kMinItems ? n : std::min(n, kPiece);
  const int64_t pieces = (n + piece_len - 1) / piece_len;
  std::unique_ptr<std::pair<T, int64_t>[]> partial(new std::pair<T, int64_t>[static_cast<size_t>(rows * pieces)]);
  parallel_for(0, rows * pieces, std::max<int64_t>(1, kGrainElements / piece_len), [&](int64_t lo, int64_t hi) {
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t row = item / pieces, first = item % pieces * piece_len;
      partial[item] = scan_row<kMax>(in + row * n, first, std::min(n, first + piece_len));
    }
  });
  for (int64_t row = 0; row < rows; ++row) {
    auto best = partial[row * pieces];
    for (int64_t p = 1; p < pieces; ++p)
      if (better<kMax>(partial[row * pieces + p].first, best.first)) best = partial[row * pieces + p];
    a.indices[row] = best.second;
    if (values) values[row] = best.first;
  }
}

template <bool kMax, typename T>
void arg_columns(const ArgReduceArgs& a) {
  const T* in = reinterpret_cast<const T*>(a.in);
  T* values = reinterpret_cast<T*>(a.values);
  const int64_t n = a.n, cols = a.inner;
  const int64_t width = std::min(cols, kTileCols), tiles = (cols + width - 1) / width;
  parallel_for(0, a.outer * tiles, std::max<int64_t>(1, kGrainElements / (n * width)), [&](int64_t lo, int64_t hi) {
    std::unique_ptr<T[]> best(new T[static_cast<size_t>(width)]);
    std::unique_ptr<int64_t[]> index(new int64_t[static_cast<size_t>(width)]);
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t o = item / tiles, c0 = item % tiles * width, w = std::min(width, cols - c0);
      const T* x = in + o * n * cols + c0;
      std::copy(x, x + w, best.get());
      std::fill(index.get(), index.get() + w, 0);
      for (int64_t r = 1; r < n; ++r) {
        const T* row = x + r * cols;
        for (int64_t j = 0; j < w; ++j) {
          const bool b = better<kMax>(row[j], best[j]);
          best[j] = b ? row[j] : best[j];
          index[j] = b ? r : index[j];
        }
      }
      std::copy(index.get(), index.get() + w, a.indices + o * cols + c0);
      if (values) std::copy(best.get(), best.get() + w, values + o * cols + c0);
    }
  });
}

template <bool kMax>
void run(const ArgReduceArgs& a) {
  visit_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    if (a.inner == 1) arg_rows<kMax, T>(a);
    else arg_columns<kMax, T>(a);
  });
}

}  // namespace

void arg_reduce(const ArgReduceArgs& a) {
  if (a.outer == 0 || a.inner == 0) return;
  if (a.is_max) run<true>(a);
  else run<false>(a);
}

}  // namespace fibril::cpu::FIBRIL_ISA
