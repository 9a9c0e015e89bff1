// The elementwise iteration shared by the CUDA families that map up to three inputs onto one
// output element by element (elementwise.cu, the casts in copy.cu; the CPU twin is
// cpu/elementwise_loop.h). Include after cuda/launch.cuh; everything lands in the family's
// FIBRIL_CUDA_NS, in an anonymous namespace.
//
// The host side (run_elementwise) drops size-1 dims and merges dims that are contiguous in
// every operand (innermost first), then picks one of two kernels:
//  - flat_kernel: every operand contiguous over one merged dim, or a scalar (a host value
//    passed by value, or a device 0-d/broadcast operand read once per thread): N elements a
//    thread per step as one 128-bit load/store per operand (N = 16 bytes / the widest element
//    size), grid-stride, with the last n % N elements done by the first threads.
//  - strided_kernel: any n-d layout (up to kDims merged dims per launch; more loop on the
//    host), broadcast strides 0. The linear index is split into coordinates innermost first
//    in 32-bit, each division a multiply-high by a magic number (Divider); a launch whose
//    element count or extent would pass 2^31 is split on the host (launch_split), so there
//    is no 64-bit variant to compile.
// An op is a functor type F: `static constexpr int nin` (1..3 inputs), `static R apply(A, B, C)`
// (unused inputs are passed but ignored) and `static constexpr bool kCheckZero` (integer
// division: a zero second input sets *flag and gives 0).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include "core/shape.h"
#include "cuda/launch.cuh"

namespace fibril::cuda::FIBRIL_CUDA_NS {
namespace {

constexpr unsigned kEwBlock = 256;
constexpr int kDims = 6;  // merged dims one launch handles

// An input: contiguous (mode 0), a device scalar read once (mode 1, flat kernel only), or a
// host value passed by value (mode 2). In the strided kernel modes 0 and 1 read p[offset].
template <typename T>
struct Src {
  const T* p;
  T value;
  int mode;
};

template <typename T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

// n / d for n < 2^31 as ((umulhi(n, m) + n) >> s) (Granlund-Montgomery; PyTorch's IntDivider).
struct Divider {
  uint32_t d, m, s;
  __device__ __forceinline__ uint32_t div(uint32_t n) const { return (__umulhi(n, m) + n) >> s; }
};

inline Divider make_divider(uint32_t d) {
  uint32_t s = 0;
  while (s < 32 && (uint64_t(1) << s) < d) ++s;
  const uint64_t m = ((uint64_t(1) << 32) * ((uint64_t(1) << s) - d)) / d + 1;
  return Divider{d, uint32_t(m), s};
}

// Dims innermost first; stride[0] is the output's, stride[1 + k] input k's (in elements).
template <typename I>
struct Layout {
  int ndim;
  I size[kDims];
  Divider div[kDims];
  std::make_signed_t<I> stride[4][kDims];
};

template <typename T>
__device__ __forceinline__ T scalar_of(const Src<T>& s) {
  return s.mode == 1 ? s.p[0] : s.value;
}

template <int N, typename T>
__device__ __forceinline__ Pack<T, N> load_pack(const Src<T>& s, T scalar, int64_t v) {
  Pack<T, N> out;
  if (s.mode == 0) {
    out = reinterpret_cast<const Pack<T, N>*>(s.p)[v];
  } else {
#pragma unroll
    for (int j = 0; j < N; ++j) out.v[j] = scalar;
  }
  return out;
}

template <typename F, typename B>
__device__ __forceinline__ bool zero_divisor(B b) {
  if constexpr (F::kCheckZero) return b == B(0);
  else return false;
}

template <int N, typename F, typename R, typename A, typename B, typename C>
__global__ void __launch_bounds__(kEwBlock, 1) flat_kernel(int64_t n, R* out, Src<A> a, Src<B> b, Src<C> c, int* flag) {
  const A sa = scalar_of(a);
  const B sb = F::nin >= 2 ? scalar_of(b) : B();
  const C sc = F::nin >= 3 ? scalar_of(c) : C();
  const int64_t tid = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  const int64_t nvec = n / N;
  bool bad = false;
  for (int64_t v = tid; v < nvec; v += step) {
    const Pack<A, N> pa = load_pack<N>(a, sa, v);
    Pack<B, N> pb;
    Pack<C, N> pc;
    if constexpr (F::nin >= 2) pb = load_pack<N>(b, sb, v);
    if constexpr (F::nin >= 3) pc = load_pack<N>(c, sc, v);
    Pack<R, N> po;
#pragma unroll
    for (int j = 0; j < N; ++j) {
      if constexpr (F::kCheckZero) {
        if (zero_divisor<F>(pb.v[j])) {
          bad = true;
          po.v[j] = R(0);
          continue;
        }
      }
      po.v[j] = F::apply(pa.v[j], F::nin >= 2 ? pb.v[j] : B(), F::nin >= 3 ? pc.v[j] : C());
    }
    reinterpret_cast<Pack<R, N>*>(out)[v] = po;
  }
  const int64_t t = nvec * N + tid;
  if (t < n) {
    const A x = a.mode == 0 ? a.p[t] : sa;
    const B y = F::nin >= 2 ? (b.mode == 0 ? b.p[t] : sb) : B();
    const C z = F::nin >= 3 ? (c.mode == 0 ? c.p[t] : sc) : C();
    if (zero_divisor<F>(y)) {
      bad = true;
      out[t] = R(0);
    } else {
      out[t] = F::apply(x, y, z);
    }
  }
  if constexpr (F::kCheckZero) {
    if (bad) *flag = 1;
  }
}

template <typename T, typename O>
__device__ __forceinline__ T load_at(const Src<T>& s, O offset) {
  return s.mode == 2 ? s.value : s.p[offset];
}

template <typename I, typename F, typename R, typename A, typename B, typename C>
__global__ void __launch_bounds__(kEwBlock) strided_kernel(I n, Layout<I> L, R* out, Src<A> a, Src<B> b, Src<C> c,
                                                            int* flag) {
  using S = std::make_signed_t<I>;
  const I step = I(gridDim.x) * blockDim.x;
  bool bad = false;
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < n; i += step) {
    I rest = i;
    S off[4] = {0, 0, 0, 0};
#pragma unroll
    for (int d = 0; d < kDims; ++d) {
      if (d == L.ndim - 1) {
#pragma unroll
        for (int k = 0; k <= F::nin; ++k) off[k] += S(rest) * L.stride[k][d];
        break;
      }
      I q;
      if constexpr (sizeof(I) == 4) q = L.div[d].div(rest);
      else q = rest / L.size[d];
      const S r = S(rest - q * L.size[d]);
#pragma unroll
      for (int k = 0; k <= F::nin; ++k) off[k] += r * L.stride[k][d];
      rest = q;
    }
    const A x = load_at(a, off[1]);
    const B y = F::nin >= 2 ? load_at(b, off[2]) : B();
    const C z = F::nin >= 3 ? load_at(c, off[3]) : C();
    if (zero_divisor<F>(y)) {
      bad = true;
      out[off[0]] = R(0);
    } else {
      out[off[0]] = F::apply(x, y, z);
    }
  }
  if constexpr (F::kCheckZero) {
    if (bad) *flag = 1;
  }
}

// The host side: an n-d index space with the output's and up to 3 inputs' strides (in
// elements; inputs may have 0 strides) and base pointers. Host scalars (mode 2) ignore strides.
struct EwProblem {
  int ndim;
  int64_t size[kMaxDims];
  int64_t stride[4][kMaxDims];
};

// Drops size-1 dims, merges dims contiguous in every operand; result innermost first.
inline EwProblem coalesce(int ndim, const int64_t* shape, const int64_t* const* strides, int nops) {
  EwProblem p{};
  p.ndim = 0;
  for (int d = ndim - 1; d >= 0; --d) {  // innermost first
    if (shape[d] == 1) continue;
    if (p.ndim > 0) {
      const int j = p.ndim - 1;
      bool merge = true;
      for (int k = 0; k < nops; ++k) merge = merge && strides[k][d] == p.stride[k][j] * p.size[j];
      if (merge) {
        p.size[j] *= shape[d];
        continue;
      }
    }
    p.size[p.ndim] = shape[d];
    for (int k = 0; k < nops; ++k) p.stride[k][p.ndim] = strides[k][d];
    ++p.ndim;
  }
  if (p.ndim == 0) {  // one element
    p.ndim = 1;
    p.size[0] = 1;
    for (int k = 0; k < nops; ++k) p.stride[k][0] = 1;
  }
  return p;
}

constexpr size_t widest(size_t a, size_t b, size_t c, size_t d) {
  const size_t ab = a > b ? a : b, cd = c > d ? c : d;
  return ab > cd ? ab : cd;
}

template <typename T>
bool aligned_for(const void* p, int n) {
  return reinterpret_cast<uintptr_t>(p) % (sizeof(T) * n) == 0;
}

template <typename T>
Src<T> offset_src(Src<T> s, int64_t offset) {
  if (s.mode != 2) s.p += offset;
  return s;
}

template <typename I, typename F, typename R, typename A, typename B, typename C>
void launch_strided(const char* name, int device, const EwProblem& p, int d0, int nd, R* out, Src<A> a, Src<B> b,
                    Src<C> c, int* flag) {
  Layout<I> L{};
  L.ndim = nd;
  int64_t n = 1;
  for (int d = 0; d < nd; ++d) {
    L.size[d] = I(p.size[d0 + d]);
    L.div[d] = make_divider(uint32_t(sizeof(I) == 4 ? p.size[d0 + d] : 1));
    for (int k = 0; k <= F::nin; ++k) L.stride[k][d] = std::make_signed_t<I>(p.stride[k][d0 + d]);
    n *= p.size[d0 + d];
  }
  launch(name, strided_kernel<I, F, R, A, B, C>, grid_1d(n, kEwBlock), kEwBlock, 0, device, I(n), L, out, a, b, c,
         flag);
}

// 2^31, or FIBRIL_CUDA_INDEX32_LIMIT (at least 2) from the environment: the tests lower it
// to run the splitting below on small arrays.
inline int64_t index32_limit() {
  static const int64_t limit = [] {
    const char* env = std::getenv("FIBRIL_CUDA_INDEX32_LIMIT");
    const int64_t v = env ? std::atoll(env) : 0;
    return v >= 2 ? v : int64_t(1) << 31;
  }();
  return limit;
}

// Launches dims [0, nd) of p at these base pointers with 32-bit index math: a range whose
// element count or any operand's extent reaches the limit is halved along its outermost
// dim larger than 1, each half launched on its own (only for tensors past 2^31 elements or
// extents, so the few extra launches cost nothing next to the work).
template <typename F, typename R, typename A, typename B, typename C>
void launch_split(const char* name, int device, const EwProblem& p, int nd, R* out, Src<A> a, Src<B> b, Src<C> c,
                  int* flag) {
  const int64_t limit = index32_limit();
  int64_t inner = 1;
  for (int d = 0; d < nd; ++d) inner *= p.size[d];
  bool fits = inner < limit;
  for (int k = 0; k <= F::nin && fits; ++k) {
    int64_t extent = 0;
    for (int d = 0; d < nd; ++d) extent += (p.size[d] - 1) * (p.stride[k][d] < 0 ? -p.stride[k][d] : p.stride[k][d]);
    fits = extent < limit;
  }
  if (fits) return launch_strided<uint32_t, F>(name, device, p, 0, nd, out, a, b, c, flag);
  int d = nd - 1;
  while (p.size[d] == 1) --d;
  const int64_t half = p.size[d] / 2;
  EwProblem q = p;
  q.size[d] = half;
  launch_split<F>(name, device, q, nd, out, a, b, c, flag);
  q.size[d] = p.size[d] - half;
  int64_t off[4] = {0, 0, 0, 0};
  for (int k = 0; k <= F::nin; ++k) off[k] = half * p.stride[k][d];
  launch_split<F>(name, device, q, nd, out + off[0], offset_src(a, off[1]), F::nin >= 2 ? offset_src(b, off[2]) : b,
                  F::nin >= 3 ? offset_src(c, off[3]) : c, flag);
}

// Runs F over the index space. a, b, c: Src with the base pointer (strides in `strides`,
// output first; an unused input: {nullptr, {}, 2}). With F::kCheckZero a zero divisor sets
// *flag (device memory).
template <typename F, typename R, typename A, typename B, typename C>
void run_elementwise(const char* name, int device, int ndim, const int64_t* shape, const int64_t* const* strides,
                     R* out, Src<A> a, Src<B> b, Src<C> c, int* flag) {
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= shape[d];
  if (n == 0) return;
  const EwProblem p = coalesce(ndim, shape, strides, F::nin + 1);
  // flat: one merged dim, output and every non-host input contiguous or broadcast
  if (p.ndim == 1 && p.stride[0][0] == 1) {
    bool flat = true;
    Src<A> fa = a;
    Src<B> fb = b;
    Src<C> fc = c;
    auto classify = [&](auto& s, int k) {
      if (s.mode == 2) return;
      if (p.stride[k][0] == 1) s.mode = 0;
      else if (p.stride[k][0] == 0) s.mode = 1;
      else flat = false;
    };
    classify(fa, 1);
    if (F::nin >= 2) classify(fb, 2);
    if (F::nin >= 3) classify(fc, 3);
    constexpr size_t kWidest = widest(sizeof(R), sizeof(A), F::nin >= 2 ? sizeof(B) : 1, F::nin >= 3 ? sizeof(C) : 1);
    constexpr int N = int(16 / kWidest);
    bool aligned = aligned_for<R>(out, N);
    if (fa.mode == 0) aligned = aligned && aligned_for<A>(fa.p, N);
    if (F::nin >= 2 && fb.mode == 0) aligned = aligned && aligned_for<B>(fb.p, N);
    if (F::nin >= 3 && fc.mode == 0) aligned = aligned && aligned_for<C>(fc.p, N);
    if (flat && aligned) {
      const int64_t threads = (n + N - 1) / N;
      launch(name, flat_kernel<N, F, R, A, B, C>, grid_1d(threads, kEwBlock), kEwBlock, 0, device, n, out, fa, fb, fc,
             flag);
      return;
    }
  }
  // strided: launches of at most kDims merged dims; outer dims loop here
  const int nd = p.ndim < kDims ? p.ndim : kDims;
  int64_t outer = 1;
  for (int d = nd; d < p.ndim; ++d) outer *= p.size[d];
  for (int64_t o = 0; o < outer; ++o) {
    int64_t rest = o, off[4] = {0, 0, 0, 0};
    for (int d = nd; d < p.ndim; ++d) {
      const int64_t r = rest % p.size[d];
      rest /= p.size[d];
      for (int k = 0; k <= F::nin; ++k) off[k] += r * p.stride[k][d];
    }
    launch_split<F>(name, device, p, nd, out + off[0], offset_src(a, off[1]),
                    F::nin >= 2 ? offset_src(b, off[2]) : b, F::nin >= 3 ? offset_src(c, off[3]) : c, flag);
  }
}

}  // namespace
}  // namespace fibril::cuda::FIBRIL_CUDA_NS
