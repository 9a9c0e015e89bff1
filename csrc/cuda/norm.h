// The CUDA norm family (norm.cu): the CPU kernels' argument structs, on device memory. The
// CPU's `scratch` of RowNormArgs is not used (the kernels take their own).
#pragma once

#include "cpu/kernels.h"
#include "cuda/backend.h"

FIBRIL_CUDA_DECLARE(void row_norm(int device, const ::fibril::cpu::RowNormArgs& args))
FIBRIL_CUDA_DECLARE(void batch_norm(int device, const ::fibril::cpu::BatchNormArgs& args))
