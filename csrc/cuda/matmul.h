// The CUDA matmul family (csrc/cuda/matmul.cu): every GEMM of cpu::MatmulArgs on a device.
// `tf32` lets float32 products use the TF32 tensor cores (set_float32_matmul_precision
// "high"/"medium"); false keeps them exact float32 (the SIMT kernels).
#pragma once

#include "cpu/kernels.h"
#include "cuda/backend.h"

FIBRIL_CUDA_DECLARE(void matmul(int device, const ::fibril::cpu::MatmulArgs& args, bool tf32))
