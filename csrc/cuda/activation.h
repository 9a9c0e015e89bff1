// CUDA activation family (activation.cu): cpu::ActivationArgs over device memory (x, g, out
// contiguous; forward when g is null, else the backward g * f'(x)).
#pragma once

#include "cpu/kernels.h"
#include "cuda/backend.h"

FIBRIL_CUDA_DECLARE(void activation(int device, const ::fibril::cpu::ActivationArgs& args))
