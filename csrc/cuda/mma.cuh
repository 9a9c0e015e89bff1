// The tensor-core building blocks of the CUDA GEMM (matmul.cu) and 16-bit attention
// (attention_tc.cu): cp.async copies into shared memory, ldmatrix fragment loads and the
// mma.sync products, each with an emulated form (below sm_80 only the copies have one).
//
// Under the emulator (emu.h) a copy is a plain copy, ldmatrix and the mma exchange the warp's
// registers through shared memory and the product runs in float32: the emulated tests check
// the tiling and fragment indexing, not the tensor cores' TF32/16-bit arithmetic.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/half.h"
#include "cuda/launch.cuh"

namespace fibril::cuda::FIBRIL_CUDA_NS {

constexpr int kTMaxWarps = 8;  // warps per block the emulated fragment exchanges hold

// Elements per 32-bit fragment register.
template <typename E>
constexpr int kPerReg = 4 / int(sizeof(E));

template <int = 0>  // a template: unreferenced on GPUs before sm_80 without a warning
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, int src_bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
#else
  for (int j = 0; j < 16; ++j)
    static_cast<char*>(smem)[j] = j < src_bytes ? static_cast<const char*>(gmem)[j] : char(0);
#endif
}

// Four 8x8 matrices of 16-bit values from shared memory into r[0..3]: lanes 8j..8j+7 give the
// addresses of matrix j's rows (16 bytes each); .trans hands out each matrix transposed.
template <bool kTrans>
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* row) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(row));
  if constexpr (kTrans) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
  } else {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
  }
#elif !defined(__CUDA_ARCH__)
  // Each lane reads its part of the rows the other lanes point at.
  __shared__ const unsigned char* rows[kTMaxWarps][32];
  const int w = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32, g = lane / 4, t = lane % 4;
  rows[w][lane] = static_cast<const unsigned char*>(row);
  __syncwarp();
  for (int j = 0; j < 4; ++j) {
    uint16_t lo, hi;
    if constexpr (kTrans) {  // (row 2t, col g) and (row 2t + 1, col g)
      std::memcpy(&lo, rows[w][8 * j + 2 * t] + 2 * g, 2);
      std::memcpy(&hi, rows[w][8 * j + 2 * t + 1] + 2 * g, 2);
    } else {  // (row g, cols 2t and 2t + 1)
      std::memcpy(&lo, rows[w][8 * j + g] + 4 * t, 2);
      std::memcpy(&hi, rows[w][8 * j + g] + 4 * t + 2, 2);
    }
    r[j] = uint32_t(lo) | (uint32_t(hi) << 16);
  }
  __syncwarp();
#else
  (void)r, (void)row;
#endif
}

template <int = 0>  // a template: unreferenced on GPUs before sm_80 without a warning
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

// c += A(16 x K) · B(K x 8) for the warp, K = 8 (TF32) or 16 (16-bit E); per lane g = lane / 4,
// t = lane % 4 and q = kPerReg<E> elements per register: a = A[g][qt], A[g+8][qt],
// A[g][qt+4q], A[g+8][qt+4q]; b = B[qt][g], B[qt+4q][g] (a 16-bit register holds k and k + 1);
// c = C[g][2t], C[g][2t+1], C[g+8][2t], C[g+8][2t+1].
template <typename E>
__device__ __forceinline__ void mma_tc(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (std::is_same_v<E, float>) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else if constexpr (std::is_same_v<E, Half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
#elif !defined(__CUDA_ARCH__)
  // The same product in plain float32: the warp's fragments meet in shared memory.
  constexpr int q = kPerReg<E>, K = 8 * q;
  __shared__ float xa[kTMaxWarps][32][8];
  __shared__ float xb[kTMaxWarps][32][4];
  const int w = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32, g = lane / 4, t = lane % 4;
  const auto value = [](uint32_t r, int half) {
    if constexpr (sizeof(E) == 4) return __uint_as_float(r);
    else return float(E::from_bits(uint16_t(half ? r >> 16 : r & 0xffffu)));
  };
  for (int j = 0; j < 4; ++j)
    for (int h = 0; h < q; ++h) xa[w][lane][j * q + h] = value(a[j], h);
  for (int j = 0; j < 2; ++j)
    for (int h = 0; h < q; ++h) xb[w][lane][j * q + h] = value(b[j], h);
  __syncwarp();
  for (int kk = 0; kk < K; ++kk) {
    // A[g][kk] and A[g+8][kk] live in lane g * 4 + (kk % 4q) / q, registers 2 (kk / 4q) + {0, 1}
    const int src = g * 4 + (kk % (4 * q)) / q, hi = kk / (4 * q), h = kk % q;
    const float a_lo = xa[w][src][(hi * 2) * q + h], a_hi = xa[w][src][(hi * 2 + 1) * q + h];
    const int bsrc = (kk % (4 * q)) / q;
    const float b0 = xb[w][(2 * t) * 4 + bsrc][hi * q + h], b1 = xb[w][(2 * t + 1) * 4 + bsrc][hi * q + h];
    c[0] = fmaf(a_lo, b0, c[0]);
    c[1] = fmaf(a_lo, b1, c[1]);
    c[2] = fmaf(a_hi, b0, c[2]);
    c[3] = fmaf(a_hi, b1, c[3]);
  }
  __syncwarp();
#else
  (void)c, (void)a, (void)b;
#endif
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
