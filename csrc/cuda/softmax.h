// The CUDA softmax family (softmax.cu): the CPU kernels' argument structs, on device memory.
#pragma once

#include "cpu/kernels.h"
#include "cuda/backend.h"

FIBRIL_CUDA_DECLARE(void softmax(int device, const ::fibril::cpu::SoftmaxArgs& args))
// false when a target is outside [0, n) and not ignore_index (the call waits for the device).
FIBRIL_CUDA_DECLARE(bool class_loss(int device, const ::fibril::cpu::ClassLossArgs& args))
FIBRIL_CUDA_DECLARE(void class_loss_backward(int device, const ::fibril::cpu::ClassLossArgs& args))
