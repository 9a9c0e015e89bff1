// CUDA copy family, beyond backend.h's fill: the converting strided copy.
#pragma once

#include "cpu/kernels.h"
#include "cuda/backend.h"

// dst[i] = cast(src[i]) as cpu::CopyArgs (both device memory, strides in elements, src
// strides may be 0), with the CPU's conversions (float to integer: NaN -> 0, saturating to
// int64 then wrapping; to bool: != 0).
FIBRIL_CUDA_DECLARE(void copy_cast(int device, const ::fibril::cpu::CopyArgs& args))
