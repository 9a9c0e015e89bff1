// Hopper's warpgroup tensor-core products (wgmma, sm_90a) for the CUDA GEMM (matmul.cu):
// shared-memory matrix descriptors, the async fences, and D(64 x N, float32) += A(64 x k) B(k x N)
// with both operands in shared memory, k-major, in the 128-byte swizzled layout.
//
// The layout (what the descriptor below names): a tile of R rows of 128 bytes of k each, row r
// at byte 128 r, its 16-byte unit u stored at unit u ^ (r % 8); groups of 8 rows 1024 bytes
// apart, the tile 1024-byte aligned. One wgmma reads 32 bytes of k (k16 for 16-bit, k8 for
// TF32): the k steps of a 128-byte tile are the same descriptor with its start 32 bytes on.
//
// wgmma exists only in the sm_90a target: elsewhere (other architectures, the host pass, the
// emulator) these bodies are empty and matmul.cu never launches the kernel that calls them
// (FIBRIL_CUDA_WGMMA tells the host that the sm_90a code was built).
#pragma once

#include <cstdint>
#include <type_traits>

#include "core/half.h"
#include "cuda/launch.cuh"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define FIBRIL_HAS_WGMMA 1
#endif

namespace fibril::cuda::FIBRIL_CUDA_NS {

// The descriptor of a swizzled k-major tile at `smem` (shared address, 1024-byte aligned, or
// that plus a k step): start >> 4, leading byte offset 16 (unused by this layout), 1024 bytes
// between groups of 8 rows, swizzle mode 1 (128 bytes).
__device__ __forceinline__ uint64_t wgmma_descriptor(uint32_t smem) {
  return uint64_t((smem & 0x3FFFF) >> 4) | (uint64_t(16 >> 4) << 16) | (uint64_t(1024 >> 4) << 32) |
         (uint64_t(1) << 62);
}

// Orders the accumulator registers' earlier accesses before the next wgmma.
__device__ __forceinline__ void wgmma_fence() {
#ifdef FIBRIL_HAS_WGMMA
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void wgmma_commit() {
#ifdef FIBRIL_HAS_WGMMA
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}

// Waits until at most N committed wgmma groups of this warpgroup are pending.
template <int N>
__device__ __forceinline__ void wgmma_wait() {
#ifdef FIBRIL_HAS_WGMMA
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}

// Makes this thread's generic-proxy shared-memory writes (cp.async included) visible to the
// async proxy that wgmma reads through; before the barrier that publishes them.
__device__ __forceinline__ void fence_proxy_async() {
#ifdef FIBRIL_HAS_WGMMA
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// Keeps the compiler from moving accesses of an accumulator across the async wgmma window.
template <int R>
__device__ __forceinline__ void wgmma_pin(float (&d)[R]) {
#pragma unroll
  for (int i = 0; i < R; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// The accumulator operand lists, spelled out: inline asm takes literal strings.
#define FIBRIL_WGMMA_R64 \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define FIBRIL_WGMMA_R128 \
  FIBRIL_WGMMA_R64 ", " \
  "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
  "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, " \
  "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
  "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
#define FIBRIL_WGMMA_D64 \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
  "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
  "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
  "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
  "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
  "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
  "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
  "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
#define FIBRIL_WGMMA_D128 \
  FIBRIL_WGMMA_D64, \
  "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), \
  "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), \
  "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), \
  "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), \
  "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), \
  "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), \
  "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), \
  "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])

#define FIBRIL_WGMMA(SHAPE, TYPES, REGS, DESCS, SCALE, IMM, ...)                                          \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " SCALE ", 0;\nwgmma.mma_async.sync.aligned." SHAPE "." \
               TYPES " {" REGS "}, " DESCS ", p, " IMM ";\n}\n"                                          \
               : __VA_ARGS__                                                                              \
               : "l"(a), "l"(b), "r"(1))

// d(64 x N) += A(64 x k) B(k x N), A and B by descriptor; k = 16 for 16-bit E, 8 for float
// (TF32: the tensor cores read the float32 bits' TF32 part). Scales 1, no transposes.
template <typename E, int N>
__device__ __forceinline__ void wgmma_ss(float (&d)[N / 2], uint64_t a, uint64_t b) {
  static_assert(N == 128 || N == 256, "wgmma_ss is spelled out for N = 128 and 256");
#ifdef FIBRIL_HAS_WGMMA
  if constexpr (N == 128) {
    if constexpr (std::is_same_v<E, Half>)
      FIBRIL_WGMMA("m64n128k16.f32", "f16.f16", FIBRIL_WGMMA_R64, "%64, %65", "%66", "1, 1, 0, 0", FIBRIL_WGMMA_D64);
    else if constexpr (std::is_same_v<E, BFloat16>)
      FIBRIL_WGMMA("m64n128k16.f32", "bf16.bf16", FIBRIL_WGMMA_R64, "%64, %65", "%66", "1, 1, 0, 0", FIBRIL_WGMMA_D64);
    else
      FIBRIL_WGMMA("m64n128k8.f32", "tf32.tf32", FIBRIL_WGMMA_R64, "%64, %65", "%66", "1, 1", FIBRIL_WGMMA_D64);
  } else {
    if constexpr (std::is_same_v<E, Half>)
      FIBRIL_WGMMA("m64n256k16.f32", "f16.f16", FIBRIL_WGMMA_R128, "%128, %129", "%130", "1, 1, 0, 0",
                   FIBRIL_WGMMA_D128);
    else if constexpr (std::is_same_v<E, BFloat16>)
      FIBRIL_WGMMA("m64n256k16.f32", "bf16.bf16", FIBRIL_WGMMA_R128, "%128, %129", "%130", "1, 1, 0, 0",
                   FIBRIL_WGMMA_D128);
    else
      FIBRIL_WGMMA("m64n256k8.f32", "tf32.tf32", FIBRIL_WGMMA_R128, "%128, %129", "%130", "1, 1",
                   FIBRIL_WGMMA_D128);
  }
#else
  (void)d, (void)a, (void)b;
#endif
}

#undef FIBRIL_WGMMA

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
