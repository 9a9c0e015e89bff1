// The CUDA convolution entry point: cpu::ConvArgs with device pointers (see cuda/conv.cu).
#pragma once

#include "cpu/kernels.h"
#include "cuda/backend.h"

FIBRIL_CUDA_DECLARE(void conv(int device, const ::fibril::cpu::ConvArgs& args))
