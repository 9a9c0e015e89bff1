// One table per ISA build of the kernel sources; see kernels.h.
#include "cpu/kernels.h"

namespace fibril::cpu::FIBRIL_ISA {

void copy(const CopyArgs& args);
KernelStatus unary(UnaryOp op, const ElementwiseArgs& args);
KernelStatus binary(BinaryOp op, const ElementwiseArgs& args);
KernelStatus where(const ElementwiseArgs& args);
KernelStatus clamp(const ElementwiseArgs& args);
void reduce(const ReduceArgs& args);
void arg_reduce(const ArgReduceArgs& args);
void scan(const ScanArgs& args);
void random(const RandomArgs& args);
bool gather(const GatherArgs& args);
bool scatter(const ScatterArgs& args);
void matmul(const MatmulArgs& args);
void softmax(const SoftmaxArgs& args);
bool class_loss(const ClassLossArgs& args);
void class_loss_backward(const ClassLossArgs& args);
void activation(const ActivationArgs& args);
void optim_step(const OptimArgs& args);
void multi_norm(const MultiNormArgs& args);
void multi_scale(const MultiScaleArgs& args);
void row_norm(const RowNormArgs& args);
void batch_norm(const BatchNormArgs& args);
void conv(const ConvArgs& args);
void pool(const PoolArgs& args);
void attention(const AttentionArgs& args);
void rnn_cell(const RnnCellArgs& args);
void rnn_cell_backward(const RnnCellArgs& args);
double fma_gflops(int64_t iterations);
int64_t matmul_packed_b_bytes(DType dtype, int64_t k, int64_t n);
void matmul_pack_b(const MatmulArgs& args, char* dst);

#define FIBRIL_STR2(x) #x
#define FIBRIL_STR(x) FIBRIL_STR2(x)

const KernelTable& table() {
  static const KernelTable t{FIBRIL_STR(FIBRIL_ISA), copy, unary, binary, where, clamp, reduce, arg_reduce, scan,
                             random, gather, scatter, matmul, optim_step, multi_norm, multi_scale,
                             fma_gflops, softmax, class_loss, class_loss_backward, activation, row_norm,
                             batch_norm, conv, pool, attention, rnn_cell, rnn_cell_backward,
                             matmul_packed_b_bytes, matmul_pack_b};
  return t;
}

}  // namespace fibril::cpu::FIBRIL_ISA
