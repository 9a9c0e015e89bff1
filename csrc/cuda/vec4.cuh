// Four consecutive elements as 128-bit loads and stores (float: one float4; double: two
// double2), for the kernels that keep 4-element register tiles (attention.cu, optim.cu).
// The pointer must be 16-byte aligned. Include after launch.cuh.
#pragma once

#include "cuda/launch.cuh"

namespace fibril::cuda::FIBRIL_CUDA_NS {

__device__ __forceinline__ void ld4(const float* p, float (&r)[4]) {
  const float4 x = *reinterpret_cast<const float4*>(p);
  r[0] = x.x;
  r[1] = x.y;
  r[2] = x.z;
  r[3] = x.w;
}
__device__ __forceinline__ void ld4(const double* p, double (&r)[4]) {
  const double2 a = *reinterpret_cast<const double2*>(p), b = *reinterpret_cast<const double2*>(p + 2);
  r[0] = a.x;
  r[1] = a.y;
  r[2] = b.x;
  r[3] = b.y;
}
__device__ __forceinline__ void st4(float* p, const float (&r)[4]) {
  *reinterpret_cast<float4*>(p) = make_float4(r[0], r[1], r[2], r[3]);
}
__device__ __forceinline__ void st4(double* p, const double (&r)[4]) {
  *reinterpret_cast<double2*>(p) = make_double2(r[0], r[1]);
  *reinterpret_cast<double2*>(p + 2) = make_double2(r[2], r[3]);
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
