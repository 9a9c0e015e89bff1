// The CUDA reduce family (reduce.cu: reductions and scans; arg_reduce.cu: argmax/argmin).
// The arguments are the CPU kernels' (cpu/kernels.h); the semantics are theirs.
#pragma once

#include "cpu/kernels.h"
#include "cuda/backend.h"

FIBRIL_CUDA_DECLARE(void reduce(int device, const ::fibril::cpu::ReduceArgs& args))
FIBRIL_CUDA_DECLARE(void scan(int device, const ::fibril::cpu::ScanArgs& args))
FIBRIL_CUDA_DECLARE(void arg_reduce(int device, const ::fibril::cpu::ArgReduceArgs& args))
