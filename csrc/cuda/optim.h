// The CUDA optim family (csrc/cuda/optim.cu): the multi-tensor optimizer steps over the CPU's
// OptimArgs (its pointer lists host arrays, the tensors on the device).
#pragma once

#include "cpu/kernels.h"
#include "cuda/backend.h"

FIBRIL_CUDA_DECLARE(void optim_step(int device, const ::fibril::cpu::OptimArgs& args))
