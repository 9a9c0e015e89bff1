// The CUDA index family (index.cu): gather and scatter over cpu::GatherArgs / ScatterArgs
// (device pointers; the shape and stride arrays on the host), and the index checks.
#pragma once

#include "cpu/kernels.h"
#include "cuda/backend.h"

// Both return false when an index was outside [0, dim_size) (read back from a device flag).
FIBRIL_CUDA_DECLARE(bool gather(int device, const ::fibril::cpu::GatherArgs& args))
FIBRIL_CUDA_DECLARE(bool scatter(int device, const ::fibril::cpu::ScatterArgs& args))
// The position of the first of the n contiguous int64 indices outside [lo, size), or -1.
FIBRIL_CUDA_DECLARE(int64_t first_out_of_range(int device, const int64_t* index, int64_t n, int64_t lo, int64_t size))
// index[k] += size where index[k] < 0, in place (n contiguous int64).
FIBRIL_CUDA_DECLARE(void wrap_negative(int device, int64_t* index, int64_t n, int64_t size))
