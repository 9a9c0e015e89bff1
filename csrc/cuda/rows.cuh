// Row kernels' common parts (softmax.cu, norm.cu): a row is done by a warp (short rows, several
// rows per block) or by a whole block (long rows); rows are read with 128-bit loads after a
// scalar head that brings the row to a 16-byte boundary, and a scalar tail; group reductions
// are warp shuffles, then (block rows) one shared-memory step that every warp finishes itself.
// Arrays are of a storage type S (float, double, Half, BFloat16; a 16-byte pack is 4, 2 or 8
// elements); the arithmetic is in compute_t<S> (float for the 16-bit types): wide() after a
// load, narrow() (round to nearest even) before a store, both the identity for float/double.
// Include after launch.cuh.
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <type_traits>

#include "cuda/launch.cuh"

namespace fibril::cuda::FIBRIL_CUDA_NS {
namespace rows {

// V elements of T as one aligned load/store (V * sizeof(T) == 16 gives LDG.128/STG.128).
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <int K>
using Width = std::integral_constant<int, K>;

template <typename T, int K>
__device__ __forceinline__ Pack<T, K> load(const T* p) {
  return *reinterpret_cast<const Pack<T, K>*>(p);
}

// A 16-byte pack of 16-bit floats as one int4 (the cache-hinted loads and stores take no
// user types).
template <typename T, int K>
__device__ __forceinline__ Pack<T, K> from_int4(const int4& q) {
  static_assert(sizeof(Pack<T, K>) == sizeof(int4), "a 16-byte pack");
  Pack<T, K> r;
  ::memcpy(&r, &q, sizeof(r));
  return r;
}

template <typename T, int K>
__device__ __forceinline__ int4 to_int4(const Pack<T, K>& p) {
  static_assert(sizeof(Pack<T, K>) == sizeof(int4), "a 16-byte pack");
  int4 q;
  ::memcpy(&q, &p, sizeof(q));
  return q;
}

// Last use of the data: evict-first hint on the GPU.
template <typename T, int K>
__device__ __forceinline__ Pack<T, K> load_last(const T* p) {
  if constexpr (K == 1 && is_half_v<T>) {
    return Pack<T, 1>{{T::from_bits(__ldcs(reinterpret_cast<const unsigned short*>(p)))}};
  } else if constexpr (K == 1) {
    return Pack<T, 1>{{__ldcs(p)}};
  } else if constexpr (is_half_v<T> && K == 8) {
    return from_int4<T, K>(__ldcs(reinterpret_cast<const int4*>(p)));
  } else if constexpr (std::is_same_v<T, float> && K == 4) {
    const float4 q = __ldcs(reinterpret_cast<const float4*>(p));
    return Pack<T, K>{{q.x, q.y, q.z, q.w}};
  } else if constexpr (std::is_same_v<T, double> && K == 2) {
    const double2 q = __ldcs(reinterpret_cast<const double2*>(p));
    return Pack<T, K>{{q.x, q.y}};
  } else {
    return load<T, K>(p);
  }
}

// Streaming store: outputs are not read again by this kernel.
template <typename T, int K>
__device__ __forceinline__ void store_stream(T* p, const Pack<T, K>& v) {
  if constexpr (K == 1 && is_half_v<T>) {
    __stcs(reinterpret_cast<unsigned short*>(p), static_cast<unsigned short>(v.v[0].bits));
  } else if constexpr (K == 1) {
    __stcs(p, v.v[0]);
  } else if constexpr (is_half_v<T> && K == 8) {
    __stcs(reinterpret_cast<int4*>(p), to_int4<T, K>(v));
  } else if constexpr (std::is_same_v<T, float> && K == 4) {
    __stcs(reinterpret_cast<float4*>(p), make_float4(v.v[0], v.v[1], v.v[2], v.v[3]));
  } else if constexpr (std::is_same_v<T, double> && K == 2) {
    __stcs(reinterpret_cast<double2*>(p), make_double2(v.v[0], v.v[1]));
  } else {
    *reinterpret_cast<Pack<T, K>*>(p) = v;
  }
}

// Storage to compute type, and back with round to nearest even (one cvt each on the device;
// the identity for float and double).
template <typename S, int K>
__device__ __forceinline__ Pack<compute_t<S>, K> wide(const Pack<S, K>& p) {
  if constexpr (std::is_same_v<S, compute_t<S>>) {
    return p;
  } else {
    Pack<compute_t<S>, K> r;
#pragma unroll
    for (int j = 0; j < K; ++j) r.v[j] = compute_t<S>(p.v[j]);
    return r;
  }
}

template <typename S, int K>
__device__ __forceinline__ Pack<S, K> narrow(const Pack<compute_t<S>, K>& p) {
  if constexpr (std::is_same_v<S, compute_t<S>>) {
    return p;
  } else {
    Pack<S, K> r;
#pragma unroll
    for (int j = 0; j < K; ++j) r.v[j] = S(p.v[j]);
    return r;
  }
}

// Elements of T per 16 bytes.
template <typename T>
constexpr int kVec = int(16 / sizeof(T));

// True when arrays a and b (not null) sit at the same offset from a 16-byte boundary, so one
// head split serves both.
inline bool congruent(const void* a, const void* b) {
  return !a || !b || (reinterpret_cast<uintptr_t>(a) & 15) == (reinterpret_cast<uintptr_t>(b) & 15);
}

// A row split for 128-bit access: `head` scalars up to the row's first 16-byte boundary,
// `vectors` packs of V, then the scalar tail [head + vectors * V, n).
struct Span {
  int64_t head, vectors, n;
};

template <typename T, int V>
__device__ __forceinline__ Span span(const T* row, int64_t n) {
  int64_t head = 0;
  if constexpr (V > 1) {
    head = int64_t((16 - (reinterpret_cast<uintptr_t>(row) & 15)) & 15) / int64_t(sizeof(T));
    if (head > n) head = n;
  }
  return Span{head, (n - head) / V, n};
}

// Calls f(i) for this thread's share of the span's scalars (head and tail).
template <int V, typename F>
__device__ __forceinline__ void visit_scalars(const Span& s, int tid, int count, F&& f) {
  for (int64_t i = tid; i < s.head; i += count) f(i);
  for (int64_t i = s.head + s.vectors * V + tid; i < s.n; i += count) f(i);
}

// A thread's chunk: the span's packs k0 + u * count for u < U, loaded together so that U
// loads are in flight before the first use (a row's vectors are visited with k0 = tid,
// tid + U * count, ...). Packs past the end read as `fill` (a compute-type value). The packs
// stay in storage form: callers widen each element where they use it.
template <typename T, int V, int U, bool kLast = false>
__device__ __forceinline__ void load_chunk(Pack<T, V> (&p)[U], const T* row, const Span& s, int64_t k0, int count,
                                           compute_t<T> fill) {
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int64_t k = k0 + int64_t(u) * count;
    if (k < s.vectors) {
      p[u] = kLast ? load_last<T, V>(row + s.head + k * V) : load<T, V>(row + s.head + k * V);
    } else {
#pragma unroll
      for (int j = 0; j < V; ++j) p[u].v[j] = T(fill);
    }
  }
}

template <typename T, int V, int U>
__device__ __forceinline__ void store_chunk(T* row, const Pack<T, V> (&p)[U], const Span& s, int64_t k0, int count) {
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int64_t k = k0 + int64_t(u) * count;
    if (k < s.vectors) store_stream<T, V>(row + s.head + k * V, p[u]);
  }
}

// Calls f(i, Width<K>{}) for the row's elements [0, n) in pieces of K = 1 or V, the pieces
// spread over `count` threads of which this is `tid`: a scalar head up to the first 16-byte
// boundary of `row` (V > 1), vectors, a scalar tail.
template <typename T, int V, typename F>
__device__ __forceinline__ void visit(const T* row, int64_t n, int tid, int count, F&& f) {
  const Span s = span<T, V>(row, n);
  for (int64_t i = tid; i < s.head; i += count) f(i, Width<1>{});
  for (int64_t k = tid; k < s.vectors; k += count) f(s.head + k * V, Width<V>{});
  for (int64_t i = s.head + s.vectors * V + tid; i < n; i += count) f(i, Width<1>{});
}

// The float functions for float, the double ones for double (never a silent promotion).
__device__ __forceinline__ float exp_(float x) { return expf(x); }
__device__ __forceinline__ double exp_(double x) { return exp(x); }
__device__ __forceinline__ float log_(float x) { return logf(x); }
__device__ __forceinline__ double log_(double x) { return log(x); }
__device__ __forceinline__ float sqrt_(float x) { return sqrtf(x); }
__device__ __forceinline__ double sqrt_(double x) { return sqrt(x); }
__device__ __forceinline__ float fma_(float a, float b, float c) { return fmaf(a, b, c); }
__device__ __forceinline__ double fma_(double a, double b, double c) { return fma(a, b, c); }

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <typename T>
__device__ __forceinline__ T warp_max(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const T u = __shfl_xor_sync(0xffffffffu, v, o);
    v = u > v ? u : v;
  }
  return v;
}

// The sum over the group: the warp (kBlock false) or the block. Every thread of the group
// must call it; every thread gets the result. `red` is __shared__ T[32] of the caller.
template <bool kBlock, typename T>
__device__ __forceinline__ T group_sum(T v, T* red) {
  v = warp_sum(v);
  if constexpr (kBlock) {
    const unsigned warps = (blockDim.x + 31) / 32, lane = threadIdx.x % 32;
    if (lane == 0) red[threadIdx.x / 32] = v;
    __syncthreads();
    v = lane < warps ? red[lane] : T(0);
    v = warp_sum(v);
    __syncthreads();  // red is free again
  }
  return v;
}

// Two sums at once (one barrier pair for both).
template <bool kBlock, typename T>
__device__ __forceinline__ void group_sum2(T& a, T& b, T* red) {
  a = warp_sum(a);
  b = warp_sum(b);
  if constexpr (kBlock) {
    const unsigned warps = (blockDim.x + 31) / 32, lane = threadIdx.x % 32;
    if (lane == 0) {
      red[threadIdx.x / 32] = a;
      red[32 + threadIdx.x / 32] = b;
    }
    __syncthreads();
    a = warp_sum(lane < warps ? red[lane] : T(0));
    b = warp_sum(lane < warps ? red[32 + lane] : T(0));
    __syncthreads();
  }
}

template <typename T>
__device__ __forceinline__ T minus_inf() {
  return -T(INFINITY);
}

// Online softmax statistics (max m, sum s of e^(x - m)); an empty or all -inf part has
// m = -inf, s = 0.
template <typename T>
__device__ __forceinline__ void merge_max_sum(T& m, T& s, T m2, T s2) {
  const T M = m2 > m ? m2 : m;
  if (!(M > minus_inf<T>())) return;  // both empty (or NaN: s already carries it)
  s = (m == M ? s : s * exp_(m - M)) + (m2 == M ? s2 : s2 * exp_(m2 - M));
  m = M;
}

template <bool kBlock, typename T>
__device__ __forceinline__ void group_max_sum(T& m, T& s, T* red) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const T m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
    merge_max_sum(m, s, m2, s2);
  }
  if constexpr (kBlock) {
    const unsigned warps = (blockDim.x + 31) / 32, lane = threadIdx.x % 32;
    if (lane == 0) {
      red[threadIdx.x / 32] = m;
      red[32 + threadIdx.x / 32] = s;
    }
    __syncthreads();
    m = lane < warps ? red[lane] : minus_inf<T>();
    s = lane < warps ? red[32 + lane] : T(0);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const T m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
      merge_max_sum(m, s, m2, s2);
    }
    __syncthreads();
  }
}

// A row's group: the warp (rows <= kWarpRow elements) or the block.
constexpr int64_t kWarpRow = 1024;
constexpr unsigned kWarpBlock = 256;  // threads per block when a warp does a row

// Threads per block for block rows of n elements.
inline unsigned block_threads(int64_t n, int vec) {
  const int64_t vectors = (n + vec - 1) / vec;
  if (vectors <= 1024) return 128;
  if (vectors <= 4096) return 256;
  return 512;  // kernels are bounded to 512 threads: more would cap them at 32 registers
}

inline unsigned capped_grid(int64_t blocks) {
  return unsigned(blocks < 65536 * 16 ? blocks : 65536 * 16);
}

// Streaming multiprocessors of the device (a small number under the emulator).
inline int sm_count(int device) {
#ifdef FIBRIL_CUDA_EMULATION
  (void)device;
  return 2;
#else
  static int cached[64] = {};
  if (device >= 0 && device < 64 && cached[device]) return cached[device];
  int count = 0;
  if (cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || count <= 0) {
    cudaGetLastError();
    count = 108;
  }
  if (device >= 0 && device < 64) cached[device] = count;
  return count;
#endif
}

// This thread's place in the group doing a row, the group's first row and the row step.
struct RowGroup {
  int tid, count;
  int64_t row, step;
};

template <bool kBlock>
__device__ __forceinline__ RowGroup row_group() {
  if constexpr (kBlock) {
    return RowGroup{int(threadIdx.x), int(blockDim.x), int64_t(blockIdx.x), int64_t(gridDim.x)};
  } else {
    const int warps = int(blockDim.x / 32);
    return RowGroup{int(threadIdx.x % 32), 32, int64_t(blockIdx.x) * warps + threadIdx.x / 32,
                    int64_t(gridDim.x) * warps};
  }
}

// Calls f(Width<V>, bool_constant<block>) for the row length and operand alignment: vectors
// when every operand row starts at the same offset from a 16-byte boundary and, with
// per-column operands (length n, the same for every row), rows are whole vectors; a warp per
// row up to kWarpRow elements, a block above (or always, with force_block).
template <typename T, typename F>
void dispatch(int64_t n, std::initializer_list<const void*> rows_of, std::initializer_list<const void*> per_column,
              F&& f, bool force_block = false) {
  bool vec = true;
  const void* first = *rows_of.begin();
  for (const void* p : rows_of) vec = vec && congruent(first, p);
  for (const void* p : per_column)
    if (p) vec = vec && n % kVec<T> == 0 && congruent(first, p);
  const bool block = force_block || n > kWarpRow;
  auto go = [&](auto width) {
    if (block) f(width, std::true_type{});
    else f(width, std::false_type{});
  };
  if (vec) go(Width<kVec<T>>{});
  else go(Width<1>{});
}

// Grid and block for nrows rows of n elements.
template <bool kBlock>
void shape(int64_t nrows, int64_t n, int vec, dim3& grid, dim3& block) {
  if (kBlock) {
    block = dim3(rows::block_threads(n, vec));
    grid = dim3(rows::capped_grid(nrows));
  } else {
    block = dim3(rows::kWarpBlock);
    grid = dim3(rows::capped_grid((nrows + rows::kWarpBlock / 32 - 1) / (rows::kWarpBlock / 32)));
  }
}

}  // namespace rows
}  // namespace fibril::cuda::FIBRIL_CUDA_NS
