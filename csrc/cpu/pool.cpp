// Pooling, forward and backward, over contiguous (height, width) planes (1-D: height 1): max
// (with argmax indices), average, and their adaptive forms, all one loop over per-axis window
// tables that the op layer builds (ops/pool.cpp). Planes are independent, so each task owns
// whole planes of the output and of the input's gradient: no races, no thread-count effects.
// Max pooling runs L = 16 / sizeof(T) outputs of a row at once where the windows are regular
// (full, stride 1 or 2): the same row-major scan as the scalar window, with selects instead of
// branches (a data-dependent branch mispredicts on every other tap of real activations).
// Float 2x2 windows at stride 2 (most CNNs' pooling) take an 8-lane AVX2 path instead, max
// and average: four deinterleaved loads per 8 outputs, masked at a row's end.
// Measured (quiet, 2 threads, float32, kernel 2; Zen 1): 128x16x28x28 6.9 -> 1.35 ms (torch
// 7.8 ms), 128x32x14x14 3.2 -> 0.91 ms (torch 4.1 ms). The 2x2 path (Xeon VM, AVX-512
// machine, forward): 128x16x28x28 829 -> 284 us (28 GB/s; torch 3.7 ms), 128x32x14x14 567 ->
// 181 us, 32x64x56x56 2.25 -> 0.93 ms; average 32x64x56x56 4.1-4.8 -> 0.59 ms (torch 5.5),
// forward+backward 9.8-11.3 -> 1.39 ms (torch 13.5).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <immintrin.h>
#include <type_traits>
#include <limits>

#include "core/parallel.h"
#include "cpu/kernels.h"

namespace fibril::cpu::FIBRIL_ISA {
namespace {

int64_t grain_for(const PoolArgs& a) {
  const int64_t work = std::max<int64_t>(1, std::max(a.out_height * a.out_width, a.height * a.width));
  return std::max<int64_t>(1, 16384 / work);
}

// The scalar max window at (oy, ox): scans the taps in row-major order; a strictly larger
// value or a NaN takes over (NaN propagates, as torch, and the last NaN wins). Selects, not
// branches: on real activations the comparison is a coin toss.
template <typename T>
void max_window(const PoolArgs& a, const T* x, int64_t oy, int64_t ox, T* y, int64_t* idx) {
  T best = -std::numeric_limits<T>::infinity();
  int64_t best_at = a.start_h[oy] * a.width + a.start_w[ox];
  for (int64_t th = 0; th < a.count_h[oy]; ++th) {
    const int64_t row = (a.start_h[oy] + th * a.step_h) * a.width;
    for (int64_t tw = 0; tw < a.count_w[ox]; ++tw) {
      const int64_t at = row + a.start_w[ox] + tw * a.step_w;
      const T v = x[at];
      const bool take = (v > best) | (v != v);
      best = take ? v : best;
      best_at = take ? at : best_at;
    }
  }
  *y = best;
  *idx = best_at;
}

// Output columns [begin, end) whose windows are all full and `stride` (1 or 2) apart and
// whose vector loads stay inside the row: there L lanes run max_window's scan at once. Empty
// when the columns are irregular (adaptive pooling) or a plane is too large for int32 lanes.
struct RegularColumns {
  int64_t begin = 0, end = 0, stride = 0;
};

RegularColumns regular_columns(const PoolArgs& a) {
  RegularColumns r;
  if (a.out_width < 2 || a.height * a.width >= (int64_t{1} << 31)) return r;
  int64_t full = 0;
  for (int64_t ox = 0; ox < a.out_width; ++ox) full = std::max(full, a.count_w[ox]);
  r.stride = a.start_w[1] - a.start_w[0];
  if (r.stride != 1 && r.stride != 2) return r;
  while (r.begin < a.out_width && a.count_w[r.begin] != full) ++r.begin;
  // A block of L lanes whose last lane is column c reads up to start_w[c] + (full - 1) step_w
  // + stride - 1 (stride 2 loads the odd element after the last tap too).
  r.end = r.begin;
  while (r.end < a.out_width && a.count_w[r.end] == full &&
         a.start_w[r.end] == a.start_w[r.begin] + (r.end - r.begin) * r.stride &&
         a.start_w[r.end] + (full - 1) * a.step_w + r.stride - 1 < a.width)
    ++r.end;
  return r;
}

// 16-byte vectors (4 floats, 2 doubles) in every ISA build: feature maps are narrow (a 2x2
// pool of a 14-wide map has 7 outputs per row), so wider vectors would leave most rows scalar.
template <typename T>
struct LanesOf {
  typedef T type __attribute__((vector_size(16)));
};
template <typename T>
using Lanes = typename LanesOf<T>::type;
template <typename T>
using IndexOf = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;  // a lane's index, as wide as T
template <typename T>
using IndexLanes = Lanes<IndexOf<T>>;

// Lanes 0, 2, 4, ... of the concatenation (a, b): the taps of outputs two input columns apart.
template <typename T>
Lanes<T> even_lanes(Lanes<T> a, Lanes<T> b) {
  if constexpr (sizeof(T) == 4) return __builtin_shuffle(a, b, IndexLanes<T>{0, 2, 4, 6});
  else return __builtin_shuffle(a, b, IndexLanes<T>{0, 2});
}

template <typename T>
Lanes<T> load_lanes(const T* p) {
  Lanes<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

#ifdef __AVX2__
// Whether every window is the full 2x2 block at (2 oy, 2 ox): kernel 2, stride 2, no padding
// or dilation, the pooling of most CNNs, which max_2x2_row runs 8 outputs at a time.
bool windows_2x2(const PoolArgs& a) {
  if (a.step_h != 1 || a.step_w != 1 || a.height * a.width >= (int64_t{1} << 31)) return false;
  for (int64_t oy = 0; oy < a.out_height; ++oy)
    if (a.start_h[oy] != 2 * oy || a.count_h[oy] != 2) return false;
  for (int64_t ox = 0; ox < a.out_width; ++ox)
    if (a.start_w[ox] != 2 * ox || a.count_w[ox] != 2) return false;
  return true;
}

// Whether every window's divisor is that of output (oy, 0), for each row oy.
bool row_divisors(const PoolArgs& a) {
  if (a.divisor > 0) return true;
  for (int64_t ox = 1; ox < a.out_width; ++ox)
    if (a.div_w[ox] != a.div_w[0]) return false;
  return true;
}

// Lanes [0, count) set: the mask of a row's last, partial block.
inline __m256i first_lanes(int64_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Lanes 0, 2, .. 14 (odd: 1, 3, .. 15) of the 16 floats at p, in order; only the first
// `count` floats are read when count < 16 (the others are 0).
inline __m256 even_floats(const float* p, bool odd, int count = 16) {
  __m256 a, b;
  if (count >= 16) {
    a = _mm256_loadu_ps(p);
    b = _mm256_loadu_ps(p + 8);
  } else {
    a = _mm256_maskload_ps(p, first_lanes(count));
    b = _mm256_maskload_ps(p + 8, first_lanes(count - 8));
  }
  const __m256 picked = odd ? _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)) : _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(picked), _MM_SHUFFLE(3, 1, 2, 0)));
}

// The 2x2 windows of one output row, from input row `row` (flat index `at` in its plane) and
// the row below, 8 outputs per step as max_window scans them (a larger value or a NaN takes
// over, in row-major order). The last block is moved back to end at n, recomputing a few
// outputs; a row of fewer than 8 outputs is one block of masked loads and stores.
void max_2x2_row(const float* row, int64_t width, int64_t at, int64_t n, float* y, int64_t* idx) {
  const __m256i lanes = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  const int w = static_cast<int>(width);
  const int count = static_cast<int>(std::min<int64_t>(16, 2 * n));  // inputs per row and block
  for (int64_t block = 0; block < n; block += 8) {
    const int64_t ox = std::max<int64_t>(0, std::min(block, n - 8));
    const float* p = row + 2 * ox;
    __m256 best = even_floats(p, false, count);
    __m256i offset = _mm256_setzero_si256();
    const auto take = [&](__m256 v, int tap_offset) {
      const __m256 more = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
      best = _mm256_blendv_ps(best, v, more);
      offset = _mm256_castps_si256(
          _mm256_blendv_ps(_mm256_castsi256_ps(offset), _mm256_castsi256_ps(_mm256_set1_epi32(tap_offset)), more));
    };
    take(even_floats(p, true, count), 1);
    take(even_floats(p + width, false, count), w);
    take(even_floats(p + width, true, count), w + 1);
    const __m256i flat = _mm256_add_epi32(_mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(at + 2 * ox)), lanes), offset);
    const __m256i low = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(flat)),
                  high = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(flat, 1));
    if (n >= 8) {
      _mm256_storeu_ps(y + ox, best);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + ox), low);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + ox + 4), high);
      continue;
    }
    const __m256i keep = first_lanes(n);
    _mm256_maskstore_ps(y, keep, best);
    _mm256_maskstore_epi64(reinterpret_cast<long long*>(idx), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(keep)), low);
    _mm256_maskstore_epi64(reinterpret_cast<long long*>(idx + 4), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(keep, 1)),
                           high);
  }
}

// The 2x2 windows' averages of one output row (as max_2x2_row): ((a + b) + c) + d divided by
// the divisor, the scalar window's sum and rounding.
void avg_2x2_row(const float* row, int64_t width, int64_t n, float divisor, float* y) {
  const int count = static_cast<int>(std::min<int64_t>(16, 2 * n));
  const __m256 d = _mm256_set1_ps(divisor);
  for (int64_t block = 0; block < n; block += 8) {
    const int64_t ox = std::max<int64_t>(0, std::min(block, n - 8));
    const float* p = row + 2 * ox;
    __m256 sum = _mm256_add_ps(even_floats(p, false, count), even_floats(p, true, count));
    sum = _mm256_add_ps(_mm256_add_ps(sum, even_floats(p + width, false, count)), even_floats(p + width, true, count));
    const __m256 avg = _mm256_div_ps(sum, d);
    if (n >= 8) _mm256_storeu_ps(y + ox, avg);
    else _mm256_maskstore_ps(y, first_lanes(n), avg);
  }
}

// Its backward: each output's share g / divisor into its four inputs (the windows tile the
// rows they cover, so every such input gets exactly one share).
void avg_2x2_backward_row(const float* g, int64_t n, float divisor, int64_t width, float* gx) {
  const __m256 d = _mm256_set1_ps(divisor);
  for (int64_t block = 0; block < n; block += 8) {
    const int64_t ox = std::max<int64_t>(0, std::min(block, n - 8));
    const __m256 share = _mm256_div_ps(n >= 8 ? _mm256_loadu_ps(g + ox) : _mm256_maskload_ps(g, first_lanes(n)), d);
    const __m256 lo = _mm256_unpacklo_ps(share, share), hi = _mm256_unpackhi_ps(share, share);
    const __m256 first = _mm256_permute2f128_ps(lo, hi, 0x20), second = _mm256_permute2f128_ps(lo, hi, 0x31);
    for (float* out : {gx + 2 * ox, gx + width + 2 * ox}) {
      if (n >= 8) {
        _mm256_storeu_ps(out, first);
        _mm256_storeu_ps(out + 8, second);
      } else {
        _mm256_maskstore_ps(out, first_lanes(2 * n), first);
        _mm256_maskstore_ps(out + 8, first_lanes(2 * n - 8), second);
      }
    }
  }
}
#endif

template <typename T>
void max_forward(const PoolArgs& a) {
  using V = Lanes<T>;
  using VI = IndexLanes<T>;
  using Index = IndexOf<T>;
  constexpr int L = 16 / sizeof(T);
  const int64_t in_plane = a.height * a.width, out_plane = a.out_height * a.out_width;
  const RegularColumns cols = regular_columns(a);
  VI lane_offsets;
  for (int l = 0; l < L; ++l) lane_offsets[l] = static_cast<Index>(l * cols.stride);
#ifdef __AVX2__
  const bool by_2x2 = std::is_same_v<T, float> && windows_2x2(a);
#endif
  parallel_for(0, a.planes, grain_for(a), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      const T* x = reinterpret_cast<const T*>(a.x) + pl * in_plane;
      T* y = reinterpret_cast<T*>(a.out) + pl * out_plane;
      int64_t* idx = a.indices + pl * out_plane;
#ifdef __AVX2__
      if constexpr (std::is_same_v<T, float>) {
        if (by_2x2) {
          for (int64_t oy = 0; oy < a.out_height; ++oy) {
            const int64_t at = 2 * oy * a.width;
            max_2x2_row(x + at, a.width, at, a.out_width, y + oy * a.out_width, idx + oy * a.out_width);
          }
          continue;
        }
      }
#endif
      for (int64_t oy = 0; oy < a.out_height; ++oy) {
        T* yr = y + oy * a.out_width;
        int64_t* ir = idx + oy * a.out_width;
        int64_t ox = 0, vector_end = cols.begin;
        for (; ox < cols.begin; ++ox) max_window(a, x, oy, ox, yr + ox, ir + ox);
        // Blocks of L outputs; the last block is moved back to end at cols.end, recomputing a
        // few outputs rather than leaving them to the scalar loop.
        for (int64_t block = cols.begin; cols.end - cols.begin >= L && block < cols.end; block += L) {
          ox = std::min(block, cols.end - L);
          V best = V{} - std::numeric_limits<T>::infinity();
          VI best_at = lane_offsets + static_cast<Index>(a.start_h[oy] * a.width + a.start_w[ox]);
          for (int64_t th = 0; th < a.count_h[oy]; ++th) {
            const int64_t row = (a.start_h[oy] + th * a.step_h) * a.width;
            for (int64_t tw = 0; tw < a.count_w[ox]; ++tw) {
              const int64_t at = row + a.start_w[ox] + tw * a.step_w;
              const V v = cols.stride == 1 ? load_lanes(x + at) : even_lanes<T>(load_lanes(x + at), load_lanes(x + at + L));
              const VI take = (v > best) | (v != v);
              best = take ? v : best;
              best_at = take ? lane_offsets + static_cast<Index>(at) : best_at;
            }
          }
          std::memcpy(yr + ox, &best, sizeof best);
          for (int l = 0; l < L; ++l) ir[ox + l] = best_at[l];
          vector_end = ox + L;
        }
        for (ox = vector_end; ox < a.out_width; ++ox) max_window(a, x, oy, ox, yr + ox, ir + ox);
      }
    }
  });
}

template <typename T>
void max_backward(const PoolArgs& a) {
  const int64_t in_plane = a.height * a.width, out_plane = a.out_height * a.out_width;
  parallel_for(0, a.planes, grain_for(a), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      const T* g = reinterpret_cast<const T*>(a.g) + pl * out_plane;
      const int64_t* idx = a.indices + pl * out_plane;
      T* gx = reinterpret_cast<T*>(a.out) + pl * in_plane;
      std::fill(gx, gx + in_plane, T(0));
      // A window wholly in the padding (dilation can leave one there) is -inf with an index
      // outside the plane, as in PyTorch; it passes no gradient.
      for (int64_t o = 0; o < out_plane; ++o) {
        if (idx[o] >= 0 && idx[o] < in_plane) gx[idx[o]] += g[o];
      }
    }
  });
}

template <typename T>
T divisor(const PoolArgs& a, int64_t oy, int64_t ox) {
  return static_cast<T>(a.divisor > 0 ? a.divisor : a.div_h[oy] * a.div_w[ox]);
}

template <typename T>
void avg_forward(const PoolArgs& a) {
  const int64_t in_plane = a.height * a.width, out_plane = a.out_height * a.out_width;
#ifdef __AVX2__
  const bool by_2x2 = std::is_same_v<T, float> && windows_2x2(a) && row_divisors(a);
#endif
  parallel_for(0, a.planes, grain_for(a), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      const T* x = reinterpret_cast<const T*>(a.x) + pl * in_plane;
      T* y = reinterpret_cast<T*>(a.out) + pl * out_plane;
#ifdef __AVX2__
      if constexpr (std::is_same_v<T, float>) {
        if (by_2x2) {
          for (int64_t oy = 0; oy < a.out_height; ++oy)
            avg_2x2_row(x + 2 * oy * a.width, a.width, a.out_width, divisor<T>(a, oy, 0), y + oy * a.out_width);
          continue;
        }
      }
#endif
      for (int64_t oy = 0; oy < a.out_height; ++oy) {
        for (int64_t ox = 0; ox < a.out_width; ++ox) {
          T sum = 0;
          for (int64_t th = 0; th < a.count_h[oy]; ++th) {
            const T* row = x + (a.start_h[oy] + th * a.step_h) * a.width + a.start_w[ox];
            for (int64_t tw = 0; tw < a.count_w[ox]; ++tw) sum += row[tw * a.step_w];
          }
          y[oy * a.out_width + ox] = sum / divisor<T>(a, oy, ox);
        }
      }
    }
  });
}

template <typename T>
void avg_backward(const PoolArgs& a) {
  const int64_t in_plane = a.height * a.width, out_plane = a.out_height * a.out_width;
#ifdef __AVX2__
  const bool by_2x2 = std::is_same_v<T, float> && windows_2x2(a) && row_divisors(a);
#endif
  parallel_for(0, a.planes, grain_for(a), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      const T* g = reinterpret_cast<const T*>(a.g) + pl * out_plane;
      T* gx = reinterpret_cast<T*>(a.out) + pl * in_plane;
#ifdef __AVX2__
      if constexpr (std::is_same_v<T, float>) {
        if (by_2x2) {  // inputs past the last window (an odd row or column) get no gradient
          for (int64_t oy = 0; oy < a.out_height; ++oy) {
            T* rows = gx + 2 * oy * a.width;
            avg_2x2_backward_row(g + oy * a.out_width, a.out_width, divisor<T>(a, oy, 0), a.width, rows);
            for (int64_t ix = 2 * a.out_width; ix < a.width; ++ix) rows[ix] = rows[a.width + ix] = T(0);
          }
          std::fill(gx + 2 * a.out_height * a.width, gx + in_plane, T(0));
          continue;
        }
      }
#endif
      std::fill(gx, gx + in_plane, T(0));
      for (int64_t oy = 0; oy < a.out_height; ++oy) {
        for (int64_t ox = 0; ox < a.out_width; ++ox) {
          const T share = g[oy * a.out_width + ox] / divisor<T>(a, oy, ox);
          for (int64_t th = 0; th < a.count_h[oy]; ++th) {
            T* row = gx + (a.start_h[oy] + th * a.step_h) * a.width + a.start_w[ox];
            for (int64_t tw = 0; tw < a.count_w[ox]; ++tw) row[tw * a.step_w] += share;
          }
        }
      }
    }
  });
}

template <typename T>
void pool_typed(const PoolArgs& a) {
  switch (a.kind) {
    case PoolKind::max: return max_forward<T>(a);
    case PoolKind::avg: return avg_forward<T>(a);
    case PoolKind::max_backward: return max_backward<T>(a);
    case PoolKind::avg_backward: return avg_backward<T>(a);
  }
}

}  // namespace

void pool(const PoolArgs& args) {
  if (args.dtype == DType::float32) pool_typed<float>(args);
  else pool_typed<double>(args);
}

}  // namespace fibril::cpu::FIBRIL_ISA
