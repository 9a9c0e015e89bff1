// The CUDA backend as the core sees it. Every entry point exists twice: in fibril::cuda::gpu
// (device.cu and the family .cu files compiled by nvcc; no_cuda.cpp's stubs in a build
// without CUDA) and in fibril::cuda::emu (the same family files compiled under the emulator,
// emu.h, and emu_device.cpp). The functions here pick one: the emulator when the process
// started with FIBRIL_CUDA_EMULATOR=1 (one device, "cuda:0", whose memory is host memory),
// else the GPU. With CUDA built but no driver or device, device_count() is 0 and the rest
// raise RuntimeError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "core/allocator.h"
#include "core/dtype.h"

// Declares an entry point in both namespaces: FIBRIL_CUDA_DECLARE(void f(int device, ...)).
#define FIBRIL_CUDA_DECLARE(...)    \
  namespace fibril::cuda::gpu {     \
  __VA_ARGS__;                      \
  }                                 \
  namespace fibril::cuda::emu {     \
  __VA_ARGS__;                      \
  }

// Calls a family entry point on the backend in use: FIBRIL_CUDA_CALL(softmax, device, args).
// Without CUDA built, a CUDA array can only exist under the emulator.
#ifdef FIBRIL_WITH_CUDA
#define FIBRIL_CUDA_CALL(fn, ...)                                                          \
  (::fibril::cuda::emulating() ? ::fibril::cuda::emu::fn(__VA_ARGS__) \
                               : ::fibril::cuda::gpu::fn(__VA_ARGS__))
#else
#define FIBRIL_CUDA_CALL(fn, ...) ::fibril::cuda::emu::fn(__VA_ARGS__)
#endif

namespace fibril::cuda {

bool built_with_cuda();
bool emulating();   // FIBRIL_CUDA_EMULATOR=1 in the environment at the first query
int device_count();  // 0 when there is no driver or device; never throws

void* allocate(size_t nbytes, int device);  // from a cached pool; MemoryError when exhausted
void release(void* ptr, int device);

enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice };
void memcpy(void* dst, const void* src, size_t nbytes, CopyKind kind, int device);

// dst[i] = value (converted to dtype) for i < count, on `device`.
void fill(void* dst, DType dtype, int64_t count, double value, int device);

void synchronize(int device);  // device < 0: every device
MemoryStats memory_stats(int device);
void empty_cache();

}  // namespace fibril::cuda

// The runtime, per backend (the functions above dispatch to these).
FIBRIL_CUDA_DECLARE(int device_count())
FIBRIL_CUDA_DECLARE(void* allocate(size_t nbytes, int device))
FIBRIL_CUDA_DECLARE(void release(void* ptr, int device))
FIBRIL_CUDA_DECLARE(void memcpy(void* dst, const void* src, size_t nbytes, ::fibril::cuda::CopyKind kind,
                                int device))
FIBRIL_CUDA_DECLARE(void synchronize(int device))
// The int at `value` (device memory) as the work queued before the call leaves it, while `then`
// queues more work: the wait ends with the read, not with the work `then` queued.
FIBRIL_CUDA_DECLARE(int read_int_then(const int* value, int device, const std::function<void()>& then))
FIBRIL_CUDA_DECLARE(::fibril::MemoryStats memory_stats(int device))
FIBRIL_CUDA_DECLARE(void empty_cache())
// copy.cu
FIBRIL_CUDA_DECLARE(void fill(void* dst, ::fibril::DType dtype, int64_t count, double value, int device))
