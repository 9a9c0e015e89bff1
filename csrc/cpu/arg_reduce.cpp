// Arg-reductions (argmax, argmin; max and min along a dim with their indices) over the middle
// dim of a contiguous (outer, n, inner) input. The first index of the extreme wins ties, and
// NaN beats every number (the first NaN wins), as in PyTorch.
//  - inner == 1 (rows): each row in chunks of kChunk elements; per chunk, the extreme by a
//    NaN-propagating max over kLanes accumulators (vectorized), and only when it beats the
//    best so far, a scan of the chunk (still in L1) for its first position. Few long rows are
//    also cut into pieces of kPiece elements, so that the threads share one row.
//  - inner > 1 (columns): a running best and index per column, vectorized across columns.
// No rounding anywhere, so the answer is exact whatever the split.
#include <algorithm>
#include <memory>
#include <type_traits>
#include <utility>

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

// The extreme of x[0, n), n >= 1, NaN propagating.
template <bool kMax, typename T>
T extreme(const T* x, int64_t n) {
  auto pick = [](T a, T b) { return better<kMax>(b, a) ? b : a; };
  T best = x[0];
  int64_t i = 1;
  if (n >= kLanes) {
    T lane[kLanes];
    std::copy(x, x + kLanes, lane);
    for (i = kLanes; i + kLanes <= n; i += kLanes)
      for (int l = 0; l < kLanes; ++l) lane[l] = pick(lane[l], x[i + l]);
    best = lane[0];
    for (int l = 1; l < kLanes; ++l) best = pick(best, lane[l]);
  }
  for (; i < n; ++i) best = pick(best, x[i]);
  return best;
}

template <typename T>
int64_t first_index_of(const T* x, int64_t n, T v) {
  for (int64_t i = 0; i < n; ++i)
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
      best = m;
      index = c + first_index_of(x + c, n, m);
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
