// The float/double math of the CUDA families: m_exp(x) and the like, one overload per type,
// so float stays float (no promotion to double) and each call is the CUDA math library's
// accurate function (expf, erff...: 1-2 ulp), not a fast intrinsic. Include after launch.cuh.
#pragma once

#include <cmath>

#include "cuda/launch.cuh"

namespace fibril::cuda::FIBRIL_CUDA_NS {

#define FIBRIL_CUDA_MATH1(name, fname, dname)                              \
  __device__ __forceinline__ float name(float x) { return ::fname(x); }   \
  __device__ __forceinline__ double name(double x) { return ::dname(x); }
FIBRIL_CUDA_MATH1(m_exp, expf, exp)
FIBRIL_CUDA_MATH1(m_exp2, exp2f, exp2)
FIBRIL_CUDA_MATH1(m_expm1, expm1f, expm1)
FIBRIL_CUDA_MATH1(m_log, logf, log)
FIBRIL_CUDA_MATH1(m_log2, log2f, log2)
FIBRIL_CUDA_MATH1(m_log1p, log1pf, log1p)
FIBRIL_CUDA_MATH1(m_tanh, tanhf, tanh)
FIBRIL_CUDA_MATH1(m_erf, erff, erf)
FIBRIL_CUDA_MATH1(m_erfc, erfcf, erfc)
FIBRIL_CUDA_MATH1(m_sqrt, sqrtf, sqrt)
FIBRIL_CUDA_MATH1(m_sin, sinf, sin)
FIBRIL_CUDA_MATH1(m_cos, cosf, cos)
FIBRIL_CUDA_MATH1(m_floor, floorf, floor)
FIBRIL_CUDA_MATH1(m_ceil, ceilf, ceil)
FIBRIL_CUDA_MATH1(m_trunc, truncf, trunc)
FIBRIL_CUDA_MATH1(m_rint, rintf, rint)
FIBRIL_CUDA_MATH1(m_fabs, fabsf, fabs)
#undef FIBRIL_CUDA_MATH1

#define FIBRIL_CUDA_MATH2(name, fname, dname)                                          \
  __device__ __forceinline__ float name(float x, float y) { return ::fname(x, y); }   \
  __device__ __forceinline__ double name(double x, double y) { return ::dname(x, y); }
FIBRIL_CUDA_MATH2(m_fmod, fmodf, fmod)
FIBRIL_CUDA_MATH2(m_pow, powf, pow)
FIBRIL_CUDA_MATH2(m_atan2, atan2f, atan2)
FIBRIL_CUDA_MATH2(m_copysign, copysignf, copysign)
#undef FIBRIL_CUDA_MATH2

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
