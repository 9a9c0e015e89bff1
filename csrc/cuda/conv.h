// The CUDA convolution entry point: cpu::ConvArgs with device pointers (see cuda/conv.cu);
// tf32: float32 products may run on TF32 tensor cores (the float32 matmul precision).
#pragma once

#include "cpu/kernels.h"
#include "cuda/backend.h"

FIBRIL_CUDA_DECLARE(void conv(int device, const ::fibril::cpu::ConvArgs& args, bool tf32))
