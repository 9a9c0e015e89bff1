// CUDA elementwise family (elementwise.cu): the device side of ops/elementwise.cpp's unary,
// binary, where and clamp, over the CPU's ElementwiseArgs (all pointers device memory, except
// input k when bit k of host_scalars is set: then args.in[k] points to one host value of that
// input's dtype, passed to the kernel by value). Returns the CPU kernels' KernelStatus.
#pragma once

#include "cpu/kernels.h"
#include "cuda/backend.h"

FIBRIL_CUDA_DECLARE(::fibril::cpu::KernelStatus elementwise_unary(int device, ::fibril::UnaryOp op,
                                                                   const ::fibril::cpu::ElementwiseArgs& args,
                                                                   unsigned host_scalars))
FIBRIL_CUDA_DECLARE(::fibril::cpu::KernelStatus elementwise_binary(int device, ::fibril::BinaryOp op,
                                                                    const ::fibril::cpu::ElementwiseArgs& args,
                                                                    unsigned host_scalars))
FIBRIL_CUDA_DECLARE(::fibril::cpu::KernelStatus elementwise_where(int device,
                                                                   const ::fibril::cpu::ElementwiseArgs& args,
                                                                   unsigned host_scalars))
FIBRIL_CUDA_DECLARE(::fibril::cpu::KernelStatus elementwise_clamp(int device,
                                                                   const ::fibril::cpu::ElementwiseArgs& args,
                                                                   unsigned host_scalars))
