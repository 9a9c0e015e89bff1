// CUDA copy family: fill (the device side of Array::fill) and the converting strided copy
// copy_cast (Array::copy_from between CUDA arrays: astype, .to(dtype), contiguous(), copy_
// into strided views). copy_cast runs on elementwise_loop.cuh: a flat
// kernel with 128-bit loads/stores for contiguous operands, else the strided kernel with
// 32-bit index math where it fits.
//
// H100 figures (bench/cuda_elementwise.py, 16M float32, vs torch 2.11): astype to float64
// 2.77 TB/s 1.17x, to int32 2.71 TB/s 1.22x; contiguous() of a (4096,4096) transpose 0.94 TB/s
// 0.99x (both libraries are bound by the uncoalesced side).
#include "cuda/copy.h"

#include <limits>
#include <type_traits>

#include "cuda/elementwise_loop.cuh"
#include "cuda/launch.cuh"

namespace fibril::cuda::FIBRIL_CUDA_NS {
namespace {

template <typename T>
__global__ void fill_kernel(T* dst, int64_t n, T value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = value;
}

constexpr unsigned kBlock = 256;

// The CPU's convert (cpu/copy.cpp) as a one-input elementwise functor.
template <typename D, typename S>
struct Convert {
  static constexpr int nin = 1;
  static constexpr bool kCheckZero = false;
  __device__ __forceinline__ static D apply(S v, S, S) {
    if constexpr (is_half_v<S>) {
      return Convert<D, float>::apply(static_cast<float>(v), 0.0f, 0.0f);
    } else if constexpr (is_half_v<D>) {
      return D(static_cast<float>(v));
    } else if constexpr (std::is_same_v<D, bool>) {
      return v != S(0);
    } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<S>) {
      if (v != v) return D(0);
      if (v >= S(9.2233720368547758e18)) return static_cast<D>(std::numeric_limits<int64_t>::max());
      if (v <= S(-9.2233720368547758e18)) return static_cast<D>(std::numeric_limits<int64_t>::min());
      return static_cast<D>(static_cast<int64_t>(v));
    } else {
      return static_cast<D>(v);
    }
  }
};

}  // namespace

void copy_cast(int device, const cpu::CopyArgs& args) {
  const int64_t* strides[2] = {args.dst_strides, args.src_strides};
  visit_any_dtype(args.dst_dtype, [&](auto d) {
    using D = decltype(d);
    visit_any_dtype(args.src_dtype, [&](auto s) {
      using S = decltype(s);
      const Src<S> src{reinterpret_cast<const S*>(args.src), S(), 0};
      const Src<S> none{nullptr, S(), 2};
      run_elementwise<Convert<D, S>, D>("copy_cast", device, args.ndim, args.shape, strides,
                                        reinterpret_cast<D*>(args.dst), src, none, none, static_cast<int*>(nullptr));
    });
  });
}

void fill(void* dst, DType dtype, int64_t count, double value, int device) {
  visit_any_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    launch("fill", fill_kernel<T>, grid_1d(count, kBlock), kBlock, 0, device, static_cast<T*>(dst), count,
           static_cast<T>(value));
  });
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
