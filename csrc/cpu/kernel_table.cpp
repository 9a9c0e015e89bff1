// One table per ISA build of the kernel sources; see kernels.h.
#include "cpu/kernels.h"

// The kernels every build compiles (FIBRIL_ISA_SOURCES) ...
#define FIBRIL_DECLARE_BASE_KERNELS                              \
  void copy(const CopyArgs& args);                               \
  KernelStatus unary(UnaryOp op, const ElementwiseArgs& args);   \
  KernelStatus binary(BinaryOp op, const ElementwiseArgs& args); \
  KernelStatus where(const ElementwiseArgs& args);               \
  KernelStatus clamp(const ElementwiseArgs& args);               \
  void reduce(const ReduceArgs& args);                           \
  void arg_reduce(const ArgReduceArgs& args);                    \
  void scan(const ScanArgs& args);                               \
  void random(const RandomArgs& args);                           \
  bool gather(const GatherArgs& args);                           \
  bool scatter(const ScatterArgs& args);                         \
  void softmax(const SoftmaxArgs& args);                         \
  bool class_loss(const ClassLossArgs& args);                    \
  void class_loss_backward(const ClassLossArgs& args);           \
  void activation(const ActivationArgs& args);                   \
  void optim_step(const OptimArgs& args);                        \
  void multi_norm(const MultiNormArgs& args);                    \
  void multi_scale(const MultiScaleArgs& args);                  \
  void row_norm(const RowNormArgs& args);                        \
  void batch_norm(const BatchNormArgs& args);                    \
  void pool(const PoolArgs& args);

// ... and the compute-bound ones, which the wide builds compile too (FIBRIL_WIDE_SOURCES).
#define FIBRIL_DECLARE_WIDE_KERNELS                                  \
  void matmul(const MatmulArgs& args);                               \
  void conv(const ConvArgs& args);                                   \
  void attention(const AttentionArgs& args);                         \
  void rnn_cell(const RnnCellArgs& args);                            \
  void rnn_cell_backward(const RnnCellArgs& args);                   \
  double fma_gflops(int64_t iterations);                             \
  int64_t matmul_packed_b_bytes(DType dtype, int64_t k, int64_t n);  \
  void matmul_pack_b(const MatmulArgs& args, char* dst);

// A wide build (FIBRIL_ISA_BASE set) takes the base kernels from the build it names.
#ifndef FIBRIL_ISA_BASE
#define FIBRIL_ISA_BASE FIBRIL_ISA
#endif

namespace fibril::cpu {
namespace FIBRIL_ISA_BASE {
FIBRIL_DECLARE_BASE_KERNELS
}
namespace FIBRIL_ISA {
FIBRIL_DECLARE_WIDE_KERNELS

#define FIBRIL_STR2(x) #x
#define FIBRIL_STR(x) FIBRIL_STR2(x)

const KernelTable& table() {
  namespace base = ::fibril::cpu::FIBRIL_ISA_BASE;
  static const KernelTable t{FIBRIL_STR(FIBRIL_ISA), base::copy, base::unary, base::binary, base::where,
                             base::clamp, base::reduce, base::arg_reduce, base::scan, base::random, base::gather,
                             base::scatter, matmul, base::optim_step, base::multi_norm, base::multi_scale,
                             fma_gflops, base::softmax, base::class_loss, base::class_loss_backward,
                             base::activation, base::row_norm, base::batch_norm, conv, base::pool, attention,
                             rnn_cell, rnn_cell_backward, matmul_packed_b_bytes, matmul_pack_b};
  return t;
}

}  // namespace FIBRIL_ISA
}  // namespace fibril::cpu
