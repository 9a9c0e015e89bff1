// The CUDA backend as the core sees it. device.cu implements it when fibril is built with
// CUDA; no_cuda.cpp otherwise, where every entry point but the queries raises RuntimeError.
// With CUDA built but no driver or device, device_count() is 0 and the rest raise too.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/allocator.h"
#include "core/dtype.h"

namespace fibril::cuda {

bool built_with_cuda();
int device_count();  // 0 when there is no driver or device; never throws

void* allocate(size_t nbytes, int device);  // from a cached pool; MemoryError when exhausted
void release(void* ptr, int device);

enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice };
void memcpy(void* dst, const void* src, size_t nbytes, CopyKind kind, int device);

// dst[i] = value (converted to dtype) for i < count, on `device`.
void fill(void* dst, DType dtype, int64_t count, double value, int device);

// dst (contiguous) = src viewed with (shape, strides, in elements), same dtype, on device.
void gather_strided(void* dst, const void* src, DType dtype, int ndim, const int64_t* shape,
                    const int64_t* strides, int device);

void synchronize(int device);  // device < 0: every device
MemoryStats memory_stats(int device);
void empty_cache();

}  // namespace fibril::cuda
