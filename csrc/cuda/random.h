// The CUDA random family (random.cu): cpu::RandomArgs over device pointers, the CPU's values.
#pragma once

#include "cpu/kernels.h"
#include "cuda/backend.h"

FIBRIL_CUDA_DECLARE(void random(int device, const ::fibril::cpu::RandomArgs& args))
