// Sorting and top-k along a dim. Each line (one (outer, inner) position) is copied into
// (value, index) pairs, ordered by std::sort (a full sort) or std::partial_sort (k < n), and
// written out. The order is PyTorch's: NaN above every number (last ascending, first
// descending), and equal values keep their input order in both directions (a stable sort),
// so a result never depends on the thread count or on k.
#include "cpu/sort.h"

#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/parallel.h"

namespace fibril::cpu {
namespace {

constexpr int64_t kGrainElements = 1 << 14;

template <typename T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

// Whether (a, ia) comes before (b, ib).
template <typename T>
bool before(const std::pair<T, int64_t>& a, const std::pair<T, int64_t>& b, bool descending) {
  const bool na = is_nan(a.first), nb = is_nan(b.first);
  if (na != nb) return descending ? na : nb;
  if (!na && a.first != b.first) return descending ? a.first > b.first : a.first < b.first;
  return a.second < b.second;
}

template <typename T>
void sort_typed(const SortArgs& a) {
  const T* in = reinterpret_cast<const T*>(a.in);
  T* values = reinterpret_cast<T*>(a.values);
  const int64_t n = a.n, k = a.k, inner = a.inner;
  parallel_for(0, a.outer * inner, std::max<int64_t>(1, kGrainElements / n), [&](int64_t lo, int64_t hi) {
    std::vector<std::pair<T, int64_t>> line(static_cast<size_t>(n));
    const auto cmp = [&](const std::pair<T, int64_t>& x, const std::pair<T, int64_t>& y) {
      return before(x, y, a.descending);
    };
    for (int64_t pos = lo; pos < hi; ++pos) {
      const int64_t o = pos / inner, c = pos % inner;
      const T* x = in + o * n * inner + c;
      for (int64_t i = 0; i < n; ++i) line[static_cast<size_t>(i)] = {x[i * inner], i};
      if (k < n) std::partial_sort(line.begin(), line.begin() + k, line.end(), cmp);
      else std::sort(line.begin(), line.end(), cmp);
      const int64_t out = o * k * inner + c;
      for (int64_t r = 0; r < k; ++r) {
        values[out + r * inner] = line[static_cast<size_t>(r)].first;
        a.indices[out + r * inner] = line[static_cast<size_t>(r)].second;
      }
    }
  });
}

}  // namespace

void sort(const SortArgs& args) {
  visit_dtype(args.dtype, [&](auto t) { sort_typed<decltype(t)>(args); }, "sort");
}

}  // namespace fibril::cpu
