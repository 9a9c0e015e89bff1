// CUDA reductions (every cpu::ReduceKind over cpu::ReduceArgs) and scans (cumsum, cumprod).
//
// Geometry as on the CPU (cpu/reduce.cpp): size-1 dims dropped, reduced dims sorted by
// stride (largest first), neighbours merged where contiguous. Then one of two paths:
//  - rows (the innermost reduced dim is the fastest, stride 1 for the usual row reduction):
//    a group of kGroup threads per (output, piece) - a warp (kGroup 32, 8 outputs per block)
//    when the extent is at most 1024, else the whole 256-thread block. Thread t of a group
//    reads elements t, t + kGroup, ... (coalesced along the row; 128-bit loads for float32
//    rows whose base is 16-byte aligned), combining them in sequence, then the group folds
//    its partials by warp shuffles (xor butterfly) and, for a block, a shared-memory tree
//    over its 8 warps.
//  - columns (the innermost kept dim has stride 1 and the reduced ones do not: sum over
//    dim 0 of a matrix): a 32 x 8 block per 32 adjacent outputs; the 32 lanes of a warp read
//    32 adjacent outputs' elements of one reduced row (one 128-byte line), the 8 warps take
//    every 8th row, and a shared-memory tree folds the 8 partials per output.
// Accuracy (sum, mean, var, norms): float32 accumulates in float32 like the CPU, but never
// in long running sums: a piece spans at most 32 elements per thread (rows: kGroup x 32
// elements; columns: 256 rows), and when an output's extent has several pieces, their
// partials (in global scratch) go through the same row kernel again (pass 2, finishing
// there). So a sum of n elements errs by about (32 + log2 n) ulps of the sum of magnitudes,
// like the CPU's blocked tree, and the order is a function of the shape alone: results are
// deterministic (no atomics), though not bit-identical to the CPU's different tree.
// float16/bfloat16 (sum, mean, max, min; the op layer widens the rest): read as stored (eight
// per 128-bit load on rows), accumulated in float32, written as float32 and rounded by the op
// layer. Max/min propagate NaN; var/std and logsumexp take the mean / amax per output in `aux`
// (the op layer's first pass), as on the CPU.
//
// Scans: inner == 1 (rows): a 256-thread block per row, 256 elements at a time scanned by
// warp shuffles plus a shared-memory pass over the 8 warp totals, carried along the row; few
// long rows are cut into 4096-element chunks instead (a block each), whose totals are
// scanned first to give each chunk its carry (three launches). inner > 1: a thread per
// column running down n (coalesced across the columns). Floats accumulate in double,
// integers in int64 (wrapping), as the CPU.
//
// H100 figures (`python -m bench.cuda`): sum over rows of 8192x8192 float32 89.5 us = 3.0 TB/s,
// 100% of the device-copy bandwidth, 1.06x torch. Not timed yet: columns, var, the 2^24-element
// sum, cumsum rows.
#include <cstdint>
#include <type_traits>

#include "core/shape.h"
#include "cuda/launch.cuh"
#include "cuda/reduce.h"

namespace fibril::cuda::FIBRIL_CUDA_NS {
namespace {

using ::fibril::cpu::ReduceArgs;
using ::fibril::cpu::ReduceKind;
using ::fibril::cpu::ScanArgs;

constexpr unsigned kThreads = 256;
constexpr int kPerThread = 32;  // sequential elements per thread per piece
constexpr unsigned kFull = 0xffffffffu;

// ------------------------------------------------------------------- warp helpers

template <typename T>
__device__ __forceinline__ T shfl_xor(T v, int mask) {
  if constexpr (sizeof(T) < 4) return static_cast<T>(__shfl_xor_sync(kFull, static_cast<int>(v), mask));
  else return __shfl_xor_sync(kFull, v, mask);
}

template <typename T>
__device__ __forceinline__ T shfl_up(T v, unsigned delta) {
  if constexpr (sizeof(T) < 4) return static_cast<T>(__shfl_up_sync(kFull, static_cast<int>(v), delta));
  else return __shfl_up_sync(kFull, v, delta);
}

template <typename T>
__device__ __forceinline__ T lowest() {
  if constexpr (std::is_floating_point_v<T>) return -static_cast<T>(INFINITY);
  else if constexpr (std::is_same_v<T, bool>) return false;
  else if constexpr (std::is_signed_v<T>) return static_cast<T>(uint64_t{1} << (8 * sizeof(T) - 1));
  else return T(0);
}

template <typename T>
__device__ __forceinline__ T highest() {
  if constexpr (std::is_floating_point_v<T>) return static_cast<T>(INFINITY);
  else if constexpr (std::is_same_v<T, bool>) return true;
  else if constexpr (std::is_signed_v<T>) return static_cast<T>((uint64_t{1} << (8 * sizeof(T) - 1)) - 1);
  else return static_cast<T>(~T(0));
}

template <typename T>
__device__ __forceinline__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

// ------------------------------------------------------------------------ the operations
// As on the CPU: load(x, c) maps an element (c: the per-output context), combine is the
// associative step, finish the final value; identity() is combine's neutral element.

struct Params {
  const void* aux;
  double divisor, p;
  bool root;
};

// Floats accumulate in their compute type (float for the 16-bit floats), integers in int64.
template <typename T>
using SumAcc = std::conditional_t<std::is_floating_point_v<compute_t<T>>, compute_t<T>, int64_t>;

template <typename In_, typename Acc_>
struct OpBase {
  using In = In_;
  using Acc = Acc_;
  static constexpr bool kContext = false;
  __device__ static Acc context(const Params&, int64_t) { return Acc(0); }
  __device__ static Acc finish(Acc acc, Acc, const Params&) { return acc; }
};

template <typename T>
struct Sum : OpBase<T, SumAcc<T>> {
  using Acc = SumAcc<T>;
  __device__ static Acc identity() { return Acc(0); }
  __device__ static Acc load(T x, Acc, const Params&) { return Acc(x); }
  __device__ static Acc combine(Acc a, Acc b) {
    if constexpr (std::is_integral_v<Acc>) return static_cast<Acc>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
    else return a + b;
  }
  __device__ static Acc finish(Acc acc, Acc, const Params& q) {
    if constexpr (std::is_floating_point_v<Acc>) return q.divisor == 1 ? acc : acc / Acc(q.divisor);
    else return acc;
  }
};

template <typename T>
struct Prod : OpBase<T, SumAcc<T>> {
  using Acc = SumAcc<T>;
  __device__ static Acc identity() { return Acc(1); }
  __device__ static Acc load(T x, Acc, const Params&) { return Acc(x); }
  __device__ static Acc combine(Acc a, Acc b) {
    if constexpr (std::is_integral_v<Acc>) return static_cast<Acc>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
    else return a * b;
  }
};

template <typename T>
struct Max : OpBase<T, compute_t<T>> {
  using A = compute_t<T>;
  __device__ static A identity() { return lowest<A>(); }
  __device__ static A load(T x, A, const Params&) { return A(x); }
  __device__ static A combine(A a, A b) { return ((b > a) | is_nan(b)) ? b : a; }
};

template <typename T>
struct Min : OpBase<T, compute_t<T>> {
  using A = compute_t<T>;
  __device__ static A identity() { return highest<A>(); }
  __device__ static A load(T x, A, const Params&) { return A(x); }
  __device__ static A combine(A a, A b) { return ((b < a) | is_nan(b)) ? b : a; }
};

template <typename T>
struct Any : OpBase<T, bool> {
  __device__ static bool identity() { return false; }
  __device__ static bool load(T x, bool, const Params&) { return compute_t<T>(x) != compute_t<T>(0); }
  __device__ static bool combine(bool a, bool b) { return a || b; }
};

template <typename T>
struct All : OpBase<T, bool> {
  __device__ static bool identity() { return true; }
  __device__ static bool load(T x, bool, const Params&) { return compute_t<T>(x) != compute_t<T>(0); }
  __device__ static bool combine(bool a, bool b) { return a && b; }
};

template <typename T>
struct FloatSum : OpBase<T, T> {
  __device__ static T identity() { return T(0); }
  __device__ static T combine(T a, T b) { return a + b; }
};

// An infinite max shifts by 0 (PyTorch's rule: never inf - inf).
template <typename T>
struct SumExp : FloatSum<T> {
  static constexpr bool kContext = true;
  __device__ static T context(const Params& q, int64_t o) {
    const T m = static_cast<const T*>(q.aux)[o];
    return isinf(m) ? T(0) : m;
  }
  __device__ static T load(T x, T m, const Params&) { return exp(x - m); }
  __device__ static T finish(T acc, T m, const Params&) { return log(acc) + m; }
};

template <typename T>
struct SumSqDev : FloatSum<T> {
  static constexpr bool kContext = true;
  __device__ static T context(const Params& q, int64_t o) { return static_cast<const T*>(q.aux)[o]; }
  __device__ static T load(T x, T mean, const Params&) { return (x - mean) * (x - mean); }
  __device__ static T finish(T acc, T, const Params& q) {
    const T v = acc / T(q.divisor);
    return q.root ? sqrt(v) : v;
  }
};

template <typename T>
struct Norm0 : FloatSum<T> {
  __device__ static T load(T x, T, const Params&) { return x != T(0) ? T(1) : T(0); }
};

template <typename T>
struct Norm1 : FloatSum<T> {
  __device__ static T load(T x, T, const Params&) { return fabs(x); }
};

template <typename T>
struct Norm2 : FloatSum<T> {
  __device__ static T load(T x, T, const Params&) { return x * x; }
  __device__ static T finish(T acc, T, const Params&) { return sqrt(acc); }
};

template <typename T>
struct NormP : FloatSum<T> {
  __device__ static T load(T x, T, const Params& q) { return pow(fabs(x), T(q.p)); }
  __device__ static T finish(T acc, T, const Params& q) { return pow(acc, T(1 / q.p)); }
};

template <typename T>
struct NormInf : Max<T> {
  __device__ static T load(T x, T, const Params&) { return fabs(x); }
};

template <typename T>
struct NormNegInf : Min<T> {
  __device__ static T load(T x, T, const Params&) { return fabs(x); }
};

// ------------------------------------------------------------------------------ geometry

struct Dims {
  int n;
  int64_t size[kMaxDims], stride[kMaxDims];
};

struct Geometry {
  Dims kept, red;
  int64_t outputs, count;
};

void append_merged(Dims& d, int64_t size, int64_t stride) {
  if (d.n > 0 && d.stride[d.n - 1] == stride * size) {
    d.size[d.n - 1] *= size;
    d.stride[d.n - 1] = stride;
  } else {
    d.size[d.n] = size;
    d.stride[d.n] = stride;
    ++d.n;
  }
}

Geometry make_geometry(const ReduceArgs& a) {
  Geometry g{};
  g.outputs = 1;
  g.count = 1;
  for (int i = 0; i < a.kept_ndim; ++i) {
    g.outputs *= a.kept_shape[i];
    if (a.kept_shape[i] != 1) append_merged(g.kept, a.kept_shape[i], a.kept_strides[i]);
  }
  int order[kMaxDims], nr = 0;
  for (int i = 0; i < a.red_ndim; ++i) {
    g.count *= a.red_shape[i];
    if (a.red_shape[i] != 1) order[nr++] = i;
  }
  for (int i = 1; i < nr; ++i) {  // stable insertion sort, largest stride first
    const int v = order[i];
    int j = i;
    for (; j > 0 && a.red_strides[order[j - 1]] < a.red_strides[v]; --j) order[j] = order[j - 1];
    order[j] = v;
  }
  for (int i = 0; i < nr; ++i) append_merged(g.red, a.red_shape[order[i]], a.red_strides[order[i]]);
  if (g.red.n == 0) append_merged(g.red, 1, 1);
  return g;
}

__device__ __forceinline__ int64_t offset_of(const Dims& d, int n, int64_t i) {
  int64_t off = 0;
  for (int k = n - 1; k >= 0 && i > 0; --k) {
    off += (i % d.size[k]) * d.stride[k];
    i /= d.size[k];
  }
  return off;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ------------------------------------------------------------------------------ row path

// Folds v over the kGroup threads of a group (kGroup 32: a warp; 256: the block, through
// `shared`, which holds 8 Acc); the result is valid in the group's first thread.
template <class Op, unsigned kGroup>
__device__ __forceinline__ typename Op::Acc group_fold(typename Op::Acc v, typename Op::Acc* shared) {
  for (int m = 16; m > 0; m /= 2) v = Op::combine(v, shfl_xor(v, m));
  if constexpr (kGroup > 32) {
    const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
      v = lane < kGroup / 32 ? shared[lane] : Op::identity();
      for (int m = 4; m > 0; m /= 2) v = Op::combine(v, shfl_xor(v, m));
    }
  }
  return v;
}

// Item = (output o, piece); its elements [piece * per_piece, min(count, ...)) of o's extent.
// kPartial: the input is pass 1's partials (Acc, rows of `count` contiguous), loaded as is.
template <class Op, bool kPartial, unsigned kGroup>
__global__ void __launch_bounds__(kThreads, 1) reduce_rows_kernel(
    const std::conditional_t<kPartial, typename Op::Acc, typename Op::In>* in, Geometry g, int64_t pieces,
    int64_t per_piece, typename Op::Acc* out, bool finish, Params q) {
  using Acc = typename Op::Acc;
  __shared__ Acc shared[kThreads / 32];
  constexpr unsigned kGroups = kThreads / kGroup;
  const int64_t item = int64_t(blockIdx.x) * kGroups + threadIdx.x / kGroup;
  const unsigned t = threadIdx.x % kGroup;
  const bool live = item < g.outputs * pieces;
  const int64_t o = live ? item / pieces : 0, piece = live ? item % pieces : 0;
  const Acc c = Op::kContext && live ? Op::context(q, o) : Acc(0);
  Acc acc = Op::identity();
  if (live) {
    using In = std::conditional_t<kPartial, Acc, typename Op::In>;
    const In* base = in + offset_of(g.kept, g.kept.n, o);
    const int64_t r0 = piece * per_piece, r1 = r0 + per_piece < g.count ? r0 + per_piece : g.count;
    auto load = [&](auto x) {
      if constexpr (kPartial) return x;
      else return Op::load(x, c, q);
    };
    if (g.red.n == 1 && g.red.stride[0] == 1) {
      int64_t r = r0 + t;
      if constexpr (std::is_same_v<In, float>) {
        // 128-bit loads: four consecutive elements per thread and step, when aligned.
        if ((reinterpret_cast<uintptr_t>(base + r0) & 15) == 0) {
          const float4* v4 = reinterpret_cast<const float4*>(base + r0);
          const int64_t quads = (r1 - r0) / 4;
#pragma unroll 4
          for (int64_t k = t; k < quads; k += kGroup) {
            const float4 v = v4[k];
            acc = Op::combine(acc, load(v.x));
            acc = Op::combine(acc, load(v.y));
            acc = Op::combine(acc, load(v.z));
            acc = Op::combine(acc, load(v.w));
          }
          r = r0 + quads * 4 + t;
        }
      } else if constexpr (is_half_v<In>) {
        // 128-bit loads: eight consecutive elements per thread and step, when aligned.
        if ((reinterpret_cast<uintptr_t>(base + r0) & 15) == 0) {
          struct alignas(16) Eight {
            In v[8];
          };
          const Eight* v8 = reinterpret_cast<const Eight*>(base + r0);
          const int64_t octets = (r1 - r0) / 8;
#pragma unroll 2
          for (int64_t k = t; k < octets; k += kGroup) {
            const Eight v = v8[k];
#pragma unroll
            for (int j = 0; j < 8; ++j) acc = Op::combine(acc, load(v.v[j]));
          }
          r = r0 + octets * 8 + t;
        }
      }
#pragma unroll 4
      for (; r < r1; r += kGroup) acc = Op::combine(acc, load(base[r]));
    } else if (g.red.n == 1) {
      const int64_t s = g.red.stride[0];
      for (int64_t r = r0 + t; r < r1; r += kGroup) acc = Op::combine(acc, load(base[r * s]));
    } else {
      for (int64_t r = r0 + t; r < r1; r += kGroup) acc = Op::combine(acc, load(base[offset_of(g.red, g.red.n, r)]));
    }
  }
  acc = group_fold<Op, kGroup>(acc, shared);
  if (live && t == 0) out[item] = finish ? Op::finish(acc, c, q) : acc;
}

template <class Op, bool kPartial>
void launch_rows(int device, const void* in, const Geometry& g, typename Op::Acc* out, bool finish, const Params& q) {
  using In = std::conditional_t<kPartial, typename Op::Acc, typename Op::In>;
  const In* x = static_cast<const In*>(in);
  if (g.count <= 32 * kPerThread) {
    const int64_t items = g.outputs;
    launch("reduce_rows_warp", reduce_rows_kernel<Op, kPartial, 32>, dim3(unsigned(ceil_div(items, kThreads / 32))),
           dim3(kThreads), 0, device, x, g, int64_t{1}, g.count, out, finish, q);
    return;
  }
  const int64_t per_piece = int64_t{kThreads} * kPerThread, pieces = ceil_div(g.count, per_piece);
  if (pieces == 1) {
    launch("reduce_rows_block", reduce_rows_kernel<Op, kPartial, kThreads>, dim3(unsigned(g.outputs)),
           dim3(kThreads), 0, device, x, g, int64_t{1}, per_piece, out, finish, q);
    return;
  }
  // Pass 1 into (outputs, pieces) partials, pass 2 over them.
  using Acc = typename Op::Acc;
  Scratch partial(size_t(g.outputs * pieces) * sizeof(Acc), device);
  launch("reduce_rows_block", reduce_rows_kernel<Op, kPartial, kThreads>, dim3(unsigned(g.outputs * pieces)),
         dim3(kThreads), 0, device, x, g, pieces, per_piece, partial.as<Acc>(), false, q);
  Geometry g2{};
  g2.outputs = g.outputs;
  g2.count = pieces;
  append_merged(g2.kept, g.outputs, pieces);
  append_merged(g2.red, pieces, 1);
  launch_rows<Op, true>(device, partial.as<Acc>(), g2, out, finish, q);
}

// --------------------------------------------------------------------------- column path

constexpr unsigned kColWarps = 8;
constexpr int64_t kColRows = kColWarps * kPerThread;  // reduced rows per piece

template <class Op>
__global__ void __launch_bounds__(kThreads) reduce_columns_kernel(const typename Op::In* in, Geometry g,
                                                                   int64_t cols, int64_t tiles, int64_t pieces,
                                                                   typename Op::Acc* out, bool finish, Params q) {
  using Acc = typename Op::Acc;
  __shared__ Acc shared[kColWarps][32];
  const int64_t item = blockIdx.x;
  const int64_t piece = item % pieces, tile = item / pieces % tiles, outer = item / pieces / tiles;
  const int64_t col = tile * 32 + threadIdx.x;
  const bool live = col < cols;
  const int64_t o = outer * cols + col;
  const Acc c = Op::kContext && live ? Op::context(q, o) : Acc(0);
  Acc acc = Op::identity();
  if (live) {
    const typename Op::In* base = in + offset_of(g.kept, g.kept.n - 1, outer) + col;
    const int64_t r0 = piece * kColRows, r1 = r0 + kColRows < g.count ? r0 + kColRows : g.count;
    if (g.red.n == 1) {
      const int64_t s = g.red.stride[0];
#pragma unroll 4
      for (int64_t r = r0 + threadIdx.y; r < r1; r += kColWarps) acc = Op::combine(acc, Op::load(base[r * s], c, q));
    } else {
      for (int64_t r = r0 + threadIdx.y; r < r1; r += kColWarps)
        acc = Op::combine(acc, Op::load(base[offset_of(g.red, g.red.n, r)], c, q));
    }
  }
  shared[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  for (unsigned w = kColWarps / 2; w > 0; w /= 2) {
    if (threadIdx.y < w) shared[threadIdx.y][threadIdx.x] = Op::combine(shared[threadIdx.y][threadIdx.x],
                                                                        shared[threadIdx.y + w][threadIdx.x]);
    __syncthreads();
  }
  if (threadIdx.y == 0 && live) {
    acc = shared[0][threadIdx.x];
    if (pieces == 1) out[o] = finish ? Op::finish(acc, c, q) : acc;
    else out[o * pieces + piece] = acc;
  }
}

template <class Op>
void launch_columns(int device, const void* in, const Geometry& g, typename Op::Acc* out, const Params& q) {
  using Acc = typename Op::Acc;
  const int64_t cols = g.kept.size[g.kept.n - 1], outer = g.outputs / cols, tiles = ceil_div(cols, 32);
  const int64_t pieces = ceil_div(g.count, kColRows);
  const auto* x = static_cast<const typename Op::In*>(in);
  const dim3 grid(unsigned(outer * tiles * pieces)), block(32, kColWarps);
  if (pieces == 1) {
    launch("reduce_columns", reduce_columns_kernel<Op>, grid, block, 0, device, x, g, cols, tiles, pieces, out, true,
           q);
    return;
  }
  Scratch partial(size_t(g.outputs * pieces) * sizeof(Acc), device);
  launch("reduce_columns", reduce_columns_kernel<Op>, grid, block, 0, device, x, g, cols, tiles, pieces,
         partial.as<Acc>(), false, q);
  Geometry g2{};
  g2.outputs = g.outputs;
  g2.count = pieces;
  append_merged(g2.kept, g.outputs, pieces);
  append_merged(g2.red, pieces, 1);
  launch_rows<Op, true>(device, partial.as<Acc>(), g2, out, true, q);
}

template <class Op>
void run(int device, const ReduceArgs& a) {
  const Params q{a.aux, a.divisor, a.p, a.root};
  const Geometry g = make_geometry(a);
  if (g.outputs == 0) return;
  auto* out = reinterpret_cast<typename Op::Acc*>(a.out);
  const bool columns = g.kept.n > 0 && g.kept.stride[g.kept.n - 1] == 1 && g.red.stride[g.red.n - 1] != 1 && g.count > 1;
  if (columns) launch_columns<Op>(device, a.in, g, out, q);
  else launch_rows<Op, false>(device, a.in, g, out, true, q);
}

// The 16-bit floats too (sum, prod, max, min, any, all): they accumulate in float32 and the
// result is written as float32 (the op layer rounds it to the input's dtype).
template <template <typename> class Op>
void run_any_dtype(int device, const ReduceArgs& a) {
  visit_any_dtype(a.dtype, [&](auto t) { run<Op<decltype(t)>>(device, a); });
}

template <template <typename> class Op>
void run_float(int device, const ReduceArgs& a) {
  if (a.dtype == DType::float64) run<Op<double>>(device, a);
  else if (a.dtype == DType::float32) run<Op<float>>(device, a);
  else unsupported_dtype("reduce", a.dtype);
}

// -------------------------------------------------------------------------------- scans

constexpr int64_t kScanChunk = 4096;      // elements per block when long rows are split
constexpr int64_t kScanRowsEnough = 256;  // rows that keep the GPU busy one block each

template <bool kProd, typename A>
__device__ __forceinline__ A scan_step(A acc, A x) {
  if constexpr (std::is_integral_v<A>) {
    const uint64_t a = static_cast<uint64_t>(acc), b = static_cast<uint64_t>(x);
    return static_cast<A>(kProd ? a * b : a + b);
  } else {
    return kProd ? acc * x : acc + x;
  }
}

template <typename T>
using ScanAcc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// Block b scans chunk b % chunks (kChunk elements, or the whole row when chunks == 1) of row
// b / chunks: kThreads elements at a time by a block-wide inclusive scan (warp shuffles, then
// the 8 warp totals from shared memory), carried between steps; it starts from carries[b - 1]
// (the scanned chunk totals of the row), or the identity for the row's first chunk.
template <bool kProd, typename T, typename Out>
__global__ void __launch_bounds__(kThreads) scan_rows_kernel(const T* in, Out* out, int64_t n, int64_t chunk,
                                                              int64_t chunks, const ScanAcc<T>* carries) {
  using Acc = ScanAcc<T>;
  __shared__ Acc warp_total[kThreads / 32];
  const int64_t row = blockIdx.x / chunks, c = blockIdx.x % chunks;
  const int64_t first = c * chunk, last = first + chunk < n ? first + chunk : n;
  const T* x = in + row * n;
  Out* y = out + row * n;
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const Acc one = kProd ? Acc(1) : Acc(0);
  Acc carry = carries && c > 0 ? carries[blockIdx.x - 1] : one;
  for (int64_t c0 = first; c0 < last; c0 += kThreads) {
    const int64_t i = c0 + threadIdx.x;
    Acc v = i < last ? static_cast<Acc>(x[i]) : one;
    for (unsigned d = 1; d < 32; d *= 2) {
      const Acc u = shfl_up(v, d);
      if (lane >= d) v = scan_step<kProd>(u, v);
    }
    if (lane == 31) warp_total[warp] = v;
    __syncthreads();
    Acc before = carry;
    for (unsigned w = 0; w < warp; ++w) before = scan_step<kProd>(before, warp_total[w]);
    if (i < last) y[i] = static_cast<Out>(scan_step<kProd>(before, v));
    for (unsigned w = 0; w < kThreads / 32; ++w) carry = scan_step<kProd>(carry, warp_total[w]);
    __syncthreads();
  }
}

// totals[b] = the sum (product) of chunk b % chunks of row b / chunks, in the scan's Acc.
template <bool kProd, typename T>
__global__ void __launch_bounds__(kThreads) scan_chunk_totals_kernel(const T* in, int64_t n, int64_t chunk,
                                                                      int64_t chunks, ScanAcc<T>* totals) {
  using Acc = ScanAcc<T>;
  __shared__ Acc warp_total[kThreads / 32];
  const int64_t row = blockIdx.x / chunks, c = blockIdx.x % chunks;
  const int64_t first = c * chunk, last = first + chunk < n ? first + chunk : n;
  const T* x = in + row * n;
  const Acc one = kProd ? Acc(1) : Acc(0);
  Acc v = one;
  for (int64_t i = first + threadIdx.x; i < last; i += kThreads) v = scan_step<kProd>(v, static_cast<Acc>(x[i]));
  for (int m = 16; m > 0; m /= 2) v = scan_step<kProd>(v, shfl_xor(v, m));
  if (threadIdx.x % 32 == 0) warp_total[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    Acc t = warp_total[0];
    for (unsigned w = 1; w < kThreads / 32; ++w) t = scan_step<kProd>(t, warp_total[w]);
    totals[blockIdx.x] = t;
  }
}

// A thread per (outer, column), running down n.
template <bool kProd, typename T, typename Out>
__global__ void scan_columns_kernel(const T* in, Out* out, int64_t outer, int64_t n, int64_t inner) {
  using Acc = ScanAcc<T>;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < outer * inner;
       k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = k / inner * n * inner + k % inner;
    Acc acc = static_cast<Acc>(in[base]);
    out[base] = static_cast<Out>(acc);
    for (int64_t r = 1; r < n; ++r) {
      acc = scan_step<kProd>(acc, static_cast<Acc>(in[base + r * inner]));
      out[base + r * inner] = static_cast<Out>(acc);
    }
  }
}

template <bool kProd>
void run_scan(int device, const ScanArgs& a) {
  visit_dtype(a.dtype, [&](auto t) {
    using T = decltype(t);
    using Out = std::conditional_t<std::is_floating_point_v<T>, T, int64_t>;
    const T* in = reinterpret_cast<const T*>(a.in);
    Out* out = reinterpret_cast<Out*>(a.out);
    if (a.inner == 1 && (a.outer >= kScanRowsEnough || a.n <= 2 * kScanChunk)) {
      launch("scan_rows", scan_rows_kernel<kProd, T, Out>, dim3(unsigned(a.outer)), dim3(kThreads), 0, device, in, out,
             a.n, a.n, int64_t{1}, static_cast<const ScanAcc<T>*>(nullptr));
    } else if (a.inner == 1) {
      // Few long rows: chunk totals, their scan per row, then every chunk from its carry.
      using Acc = ScanAcc<T>;
      const int64_t chunks = ceil_div(a.n, kScanChunk), blocks = a.outer * chunks;
      Scratch totals(size_t(blocks) * sizeof(Acc), device), carries(size_t(blocks) * sizeof(Acc), device);
      launch("scan_chunk_totals", scan_chunk_totals_kernel<kProd, T>, dim3(unsigned(blocks)), dim3(kThreads), 0, device,
             in, a.n, kScanChunk, chunks, totals.as<Acc>());
      launch("scan_rows", scan_rows_kernel<kProd, Acc, Acc>, dim3(unsigned(a.outer)), dim3(kThreads), 0, device,
             totals.as<Acc>(), carries.as<Acc>(), chunks, chunks, int64_t{1}, static_cast<const Acc*>(nullptr));
      launch("scan_rows", scan_rows_kernel<kProd, T, Out>, dim3(unsigned(blocks)), dim3(kThreads), 0, device, in, out,
             a.n, kScanChunk, chunks, static_cast<const Acc*>(carries.as<Acc>()));
    } else {
      launch("scan_columns", scan_columns_kernel<kProd, T, Out>, grid_1d(a.outer * a.inner, kThreads), dim3(kThreads),
             0, device, in, out, a.outer, a.n, a.inner);
    }
  });
}

}  // namespace

void reduce(int device, const ReduceArgs& a) {
  switch (a.kind) {
    case ReduceKind::sum: return run_any_dtype<Sum>(device, a);
    case ReduceKind::prod: return run_any_dtype<Prod>(device, a);
    case ReduceKind::max: return run_any_dtype<Max>(device, a);
    case ReduceKind::min: return run_any_dtype<Min>(device, a);
    case ReduceKind::any: return run_any_dtype<Any>(device, a);
    case ReduceKind::all: return run_any_dtype<All>(device, a);
    case ReduceKind::sum_exp: return run_float<SumExp>(device, a);
    case ReduceKind::sum_sq_dev: return run_float<SumSqDev>(device, a);
    case ReduceKind::norm_0: return run_float<Norm0>(device, a);
    case ReduceKind::norm_1: return run_float<Norm1>(device, a);
    case ReduceKind::norm_2: return run_float<Norm2>(device, a);
    case ReduceKind::norm_inf: return run_float<NormInf>(device, a);
    case ReduceKind::norm_neginf: return run_float<NormNegInf>(device, a);
    case ReduceKind::norm_p: return run_float<NormP>(device, a);
  }
}

void scan(int device, const ScanArgs& a) {
  if (a.outer == 0 || a.n == 0 || a.inner == 0) return;
  if (a.is_prod) run_scan<true>(device, a);
  else run_scan<false>(device, a);
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
