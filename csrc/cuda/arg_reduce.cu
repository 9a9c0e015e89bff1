// CUDA arg-reductions (argmax, argmin; max/min along a dim with indices) over the middle dim
// of a contiguous (outer, n, inner) input, with the CPU's rule (cpu/arg_reduce.cpp): the
// first index of the extreme wins, and NaN beats every number (the first NaN wins).
//  - inner == 1 (rows): a group per row - a warp (8 rows per 256-thread block) for n <= 1024,
//    else the block, and rows longer than kPiece in pieces of kPiece (a block each) whose
//    (value, index) results a second pass folds, a warp per row. Thread t scans t, t + group,
//    ... keeping the first best it sees; the pairs fold by warp shuffles (ties to the lower
//    index) and, for a block, a shared-memory pass over the 8 warps. Exact: no rounding.
//  - inner > 1 (columns): a thread per (outer, column) running down n, coalesced across the
//    columns.
//
// H100: passes `pytest -m cuda` on the device; not timed yet (argmax / max(dim) over rows and columns of 4096x4096 float32;
// compare torch.cuda's argmax and max(dim)).
#include <cstdint>
#include <type_traits>

#include "cuda/launch.cuh"
#include "cuda/reduce.h"

namespace fibril::cuda::FIBRIL_CUDA_NS {
namespace {

using ::fibril::cpu::ArgReduceArgs;

constexpr unsigned kThreads = 256;
constexpr unsigned kFull = 0xffffffffu;
constexpr int64_t kPiece = 8192;  // elements per block of a long row

template <typename T>
__device__ __forceinline__ T shfl_xor(T v, int mask) {
  if constexpr (sizeof(T) < 4) return static_cast<T>(__shfl_xor_sync(kFull, static_cast<int>(v), mask));
  else return __shfl_xor_sync(kFull, v, mask);
}

template <typename T>
__device__ __forceinline__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

// Whether v strictly beats best (NaN beats numbers).
template <bool kMax, typename T>
__device__ __forceinline__ bool better(T v, T best) {
  const bool nan_first = is_nan(v) && !is_nan(best);
  if constexpr (kMax) return (v > best) || nan_first;
  else return (v < best) || nan_first;
}

// (v, i) replaces (best, bi) when better, or as good (neither beats the other) and earlier.
// i < 0 marks "no element yet".
template <bool kMax, typename T>
__device__ __forceinline__ void take(T& best, int64_t& bi, T v, int64_t i) {
  if (i < 0) return;
  if (bi < 0 || better<kMax>(v, best) || (!better<kMax>(best, v) && i < bi)) {
    best = v;
    bi = i;
  }
}

// Folds (best, bi) over a group: warp shuffles, then (a block) shared memory over 8 warps;
// the result is valid in the group's first thread.
template <bool kMax, unsigned kGroup, typename T>
__device__ __forceinline__ void fold(T& best, int64_t& bi, T* shared_v, int64_t* shared_i) {
  for (int m = 16; m > 0; m /= 2) {
    const T v = shfl_xor(best, m);
    const int64_t i = shfl_xor(bi, m);
    take<kMax>(best, bi, v, i);
  }
  if constexpr (kGroup > 32) {
    const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) {
      shared_v[warp] = best;
      shared_i[warp] = bi;
    }
    __syncthreads();
    if (warp == 0) {
      best = lane < kGroup / 32 ? shared_v[lane] : T(0);
      bi = lane < kGroup / 32 ? shared_i[lane] : -1;
      for (int m = 4; m > 0; m /= 2) {
        const T v = shfl_xor(best, m);
        const int64_t i = shfl_xor(bi, m);
        take<kMax>(best, bi, v, i);
      }
    }
  }
}

// Item = (row, piece) over elements [piece * per_piece, ...) of the row; writes the item's
// best value (when values is not null) and its index in the row.
template <bool kMax, typename T, unsigned kGroup>
__global__ void __launch_bounds__(kThreads) arg_rows_kernel(const T* in, int64_t items, int64_t n, int64_t pieces,
                                                             int64_t per_piece, T* values, int64_t* indices) {
  __shared__ T shared_v[kThreads / 32];
  __shared__ int64_t shared_i[kThreads / 32];
  constexpr unsigned kGroups = kThreads / kGroup;
  const int64_t item = int64_t(blockIdx.x) * kGroups + threadIdx.x / kGroup;
  const unsigned t = threadIdx.x % kGroup;
  T best = T(0);
  int64_t bi = -1;
  if (item < items) {
    const int64_t row = item / pieces, r0 = item % pieces * per_piece;
    const int64_t r1 = r0 + per_piece < n ? r0 + per_piece : n;
    const T* x = in + row * n;
    for (int64_t i = r0 + t; i < r1; i += kGroup) take<kMax>(best, bi, x[i], i);
  }
  fold<kMax, kGroup>(best, bi, shared_v, shared_i);
  if (item < items && t == 0) {
    indices[item] = bi;
    if (values) values[item] = best;
  }
}

// Pass 2 of a split row: a warp per row folds its pieces' (value, index) pairs.
template <bool kMax, typename T>
__global__ void __launch_bounds__(kThreads) arg_merge_kernel(const T* part_v, const int64_t* part_i, int64_t rows,
                                                              int64_t pieces, T* values, int64_t* indices) {
  const int64_t row = int64_t(blockIdx.x) * (kThreads / 32) + threadIdx.x / 32;
  const unsigned lane = threadIdx.x % 32;
  T best = T(0);
  int64_t bi = -1;
  if (row < rows) {
    for (int64_t k = lane; k < pieces; k += 32) take<kMax>(best, bi, part_v[row * pieces + k], part_i[row * pieces + k]);
  }
  fold<kMax, 32>(best, bi, static_cast<T*>(nullptr), static_cast<int64_t*>(nullptr));
  if (row < rows && lane == 0) {
    indices[row] = bi;
    if (values) values[row] = best;
  }
}

template <bool kMax, typename T>
__global__ void arg_columns_kernel(const T* in, int64_t outer, int64_t n, int64_t inner, T* values,
                                   int64_t* indices) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < outer * inner;
       k += int64_t(gridDim.x) * blockDim.x) {
    const T* x = in + k / inner * n * inner + k % inner;
    T best = x[0];
    int64_t bi = 0;
    for (int64_t r = 1; r < n; ++r) {
      const T v = x[r * inner];
      if (better<kMax>(v, best)) {
        best = v;
        bi = r;
      }
    }
    indices[k] = bi;
    if (values) values[k] = best;
  }
}

template <bool kMax, typename T>
void run(int device, const ArgReduceArgs& a) {
  const T* in = reinterpret_cast<const T*>(a.in);
  T* values = reinterpret_cast<T*>(a.values);
  if (a.inner == 1) {
    if (a.n <= 1024) {
      launch("arg_rows_warp", arg_rows_kernel<kMax, T, 32>, dim3(unsigned((a.outer + 7) / 8)), dim3(kThreads), 0,
             device, in, a.outer, a.n, int64_t{1}, a.n, values, a.indices);
      return;
    }
    // Long rows are split into pieces of kPiece elements (enough blocks to fill the GPU even
    // for one row), then merged by a second pass.
    const int64_t pieces = (a.n + kPiece - 1) / kPiece;
    if (pieces == 1) {
      launch("arg_rows_block", arg_rows_kernel<kMax, T, kThreads>, dim3(unsigned(a.outer)), dim3(kThreads), 0, device,
             in, a.outer, a.n, int64_t{1}, a.n, values, a.indices);
      return;
    }
    const int64_t items = a.outer * pieces;
    Scratch part_v(size_t(items) * sizeof(T), device), part_i(size_t(items) * sizeof(int64_t), device);
    launch("arg_rows_block", arg_rows_kernel<kMax, T, kThreads>, dim3(unsigned(items)), dim3(kThreads), 0, device, in,
           items, a.n, pieces, kPiece, part_v.as<T>(), part_i.as<int64_t>());
    launch("arg_merge", arg_merge_kernel<kMax, T>, dim3(unsigned((a.outer + 7) / 8)), dim3(kThreads), 0, device,
           part_v.as<T>(), part_i.as<int64_t>(), a.outer, pieces, values, a.indices);
  } else {
    launch("arg_columns", arg_columns_kernel<kMax, T>, grid_1d(a.outer * a.inner, kThreads), dim3(kThreads), 0, device,
           in, a.outer, a.n, a.inner, values, a.indices);
  }
}

}  // namespace

void arg_reduce(int device, const ArgReduceArgs& a) {
  if (a.outer == 0 || a.inner == 0 || a.n == 0) return;
  visit_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    if (a.is_max) run<true, T>(device, a);
    else run<false, T>(device, a);
  });
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
