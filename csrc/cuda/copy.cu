// CUDA copy family: fill and strided gather (the device side of Array::fill and contiguous()).
#include "core/shape.h"
#include "cuda/launch.cuh"

namespace fibril::cuda::FIBRIL_CUDA_NS {
namespace {

template <typename T>
__global__ void fill_kernel(T* dst, int64_t n, T value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = value;
}

struct StridedLayout {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t strides[kMaxDims];
};

template <typename T>
__global__ void gather_kernel(T* dst, const T* src, int64_t n, StridedLayout layout) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rest = i, offset = 0;
    for (int d = layout.ndim - 1; d >= 0; --d) {
      offset += (rest % layout.shape[d]) * layout.strides[d];
      rest /= layout.shape[d];
    }
    dst[i] = src[offset];
  }
}

constexpr unsigned kBlock = 256;

}  // namespace

void fill(void* dst, DType dtype, int64_t count, double value, int device) {
  visit_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    launch("fill", fill_kernel<T>, grid_1d(count, kBlock), kBlock, 0, device, static_cast<T*>(dst), count,
           static_cast<T>(value));
  });
}

void gather_strided(void* dst, const void* src, DType dtype, int ndim, const int64_t* shape,
                    const int64_t* strides, int device) {
  StridedLayout layout{};
  layout.ndim = ndim;
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) {
    layout.shape[d] = shape[d];
    layout.strides[d] = strides[d];
    n *= shape[d];
  }
  visit_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    launch("gather_strided", gather_kernel<T>, grid_1d(n, kBlock), kBlock, 0, device, static_cast<T*>(dst),
           static_cast<const T*>(src), n, layout);
  });
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
