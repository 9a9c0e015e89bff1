// The CUDA recurrent cells: cpu::RnnCellArgs with device pointers (see cuda/rnn.cu).
#pragma once

#include "cpu/kernels.h"
#include "cuda/backend.h"

FIBRIL_CUDA_DECLARE(void rnn_cell(int device, const ::fibril::cpu::RnnCellArgs& args))
FIBRIL_CUDA_DECLARE(void rnn_cell_backward(int device, const ::fibril::cpu::RnnCellArgs& args))
