// The CPU kernel table. Every file listed in FIBRIL_ISA_SOURCES (CMakeLists.txt) is compiled
// once per instruction set into namespace fibril::cpu::<isa> (avx512: only the compute-bound
// FIBRIL_WIDE_SOURCES, the rest taken from avx2); kernel_table.cpp of each build fills a
// KernelTable, and kernels() returns the one CPUID (or FIBRIL_CPU_ISA) chose.
// The kernels see plain pointers and strides only, never Array, so that no inline code of
// the core is compiled with AVX2 flags (it could be picked by the linker for generic use).
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/elementwise_op.h"

#ifndef FIBRIL_ISA
#define FIBRIL_ISA generic
#endif

namespace fibril::cpu {

// dst[i] = cast(src[i]) over an n-d index space; strides in elements, src strides may be 0.
struct CopyArgs {
  int ndim;
  const int64_t* shape;
  char* dst;
  DType dst_dtype;
  const int64_t* dst_strides;
  const char* src;
  DType src_dtype;
  const int64_t* src_strides;
};

// out = f(in[0], ..., in[k-1]) over an n-d index space; strides in elements, input strides
// may be 0 (broadcast). The inputs already have the op's compute dtype `dtype` (where: in[0]
// is bool, in[1] and in[2] are `dtype`); out has the op's result dtype (bool for comparisons
// and logical ops, else `dtype`). out may alias an input exactly, never partially.
struct ElementwiseArgs {
  int ndim;
  const int64_t* shape;
  char* out;
  const int64_t* out_strides;
  const char* in[3];
  const int64_t* in_strides[3];
  DType dtype;
};

// What an elementwise kernel reports; the op layer turns the failures into errors.
enum class KernelStatus { ok, zero_division, unsupported };
// out[o] = finish(reduce over the reduced index space) for every output o. The output is
// contiguous over the kept dims, in their order; kept and reduced dims are given with their
// input strides (in elements). Output dtype: `dtype`, except sum/prod of integers and bool
// (int64) and any/all (bool). See cpu/reduce.cpp for the blocking and the accuracy.
enum class ReduceKind : uint8_t {
  sum, prod, max, min, any, all,
  sum_exp,     // logsumexp: log(sum(exp(x - m))) + m, m = aux (the amax)
  sum_sq_dev,  // var/std: sum((x - aux)^2) / divisor, sqrt when `root`; aux = the mean
  norm_0, norm_1, norm_2, norm_inf, norm_neginf, norm_p,
};

struct ReduceArgs {
  ReduceKind kind;
  DType dtype;  // of the input
  const char* in;
  int kept_ndim;
  const int64_t* kept_shape;
  const int64_t* kept_strides;
  int red_ndim;
  const int64_t* red_shape;
  const int64_t* red_strides;
  char* out;
  const void* aux;  // per output, contiguous, the input's dtype (floats only); null if unused
  double divisor;   // sum and sum_sq_dev divide by it when != 1 (mean, var)
  double p;         // norm_p's exponent
  bool root;        // sum_sq_dev: take the square root (std)
};

// Arg-reductions along the middle dim of a contiguous (outer, n, inner) input, n >= 1:
// indices[o, i] = index of the first max (min) along n, NaN counting as the largest (and the
// smallest); values, when not null, receives the element there.
struct ArgReduceArgs {
  bool is_max;
  DType dtype;
  const char* in;
  int64_t outer, n, inner;
  char* values;
  int64_t* indices;
};

// Inclusive scans along the middle dim of contiguous (outer, n, inner) in and out. Floats
// accumulate in double (as PyTorch), integers and bool in int64 (out is int64 then).
struct ScanArgs {
  bool is_prod;
  DType dtype;  // of the input
  const char* in;
  char* out;
  int64_t outer, n, inner;
};

// Fills the contiguous out[0, n) from Philox: element i reads only the words of counter block
// `offset + i / 4`, lane i % 4, of stream 0 (and of stream 1 when it needs 64 bits), so the
// values never depend on threads or chunking. See cpu/random.cpp for each distribution.
enum class RandomKind : uint8_t {
  uniform,    // float32/float64 in [a, b)
  normal,     // float32/float64, mean a, standard deviation b (Box-Muller)
  bernoulli,  // any dtype: 1 with probability a, or p[i] when p is given
  randint,    // int64 in [low, low + range), range >= 1 (0 means 2^64)
  dropout,    // float32/float64: mask[i] = 1/(1-a) with probability 1-a, else 0; out = x * mask
};

struct RandomArgs {
  RandomKind kind;
  DType dtype;  // of out (and of x, mask for dropout)
  char* out;
  int64_t n;
  uint64_t seed, offset;
  double a, b;
  int64_t low;
  uint64_t range;
  const double* p;  // bernoulli: per-element probabilities in [0, 1], contiguous; or null
  const char* x;  // dropout input, contiguous
  char* mask;     // dropout mask, contiguous
};

// Gather and scatter along `dim` over the n-d index space `shape` (the index's shape, or the
// index broadcast over the other dims: index strides may be 0). Strides in elements; the
// index is int64. gather: out[p] = x[p with p[dim] = index[p]]. scatter: out[p with p[dim] =
// index[p]] = src[p] (add: +=), each out element taking its updates in ascending p[dim]
// order. Both return false when an index is outside [0, dim_size); what was written then
// is unspecified.
struct GatherArgs {
  DType dtype;
  int ndim;
  const int64_t* shape;
  int dim;
  int64_t dim_size;  // of x along dim
  char* out;
  const int64_t* out_strides;
  const char* x;
  const int64_t* x_strides;  // used for every dim but `dim`, whose stride multiplies the index
  const int64_t* index;
  const int64_t* index_strides;
};

struct ScatterArgs {
  DType dtype;
  bool add;
  int ndim;
  const int64_t* shape;
  int dim;
  int64_t dim_size;  // of out along dim
  char* out;
  const int64_t* out_strides;
  const char* src;
  const int64_t* src_strides;
  const int64_t* index;
  const int64_t* index_strides;
};

// C = act(alpha * A·B + beta * C + bias) for `batch` GEMMs of shapes (m, k)·(k, n) -> (m, n).
// Strides in elements, any sign or zero (transposed, stepped and expanded operands are read
// in place by the packing); C's columns are contiguous and C overlaps neither A, B nor bias.
// beta == 0 never reads C. bias(i, j) = bias[i * bias_rs + j * bias_cs] (per-column bias:
// rs 0, cs 1), added before the activation, only when not null. Offsets (elements) select
// each GEMM's operands; null means 0 for all. See cpu/matmul.cpp for the blocking.
enum class Activation : uint8_t { none, relu, gelu, gelu_tanh };

// A B operand that is not a strided matrix (a convolution's implicit im2col): the GEMM asks it
// for panels instead of reading B. pack writes B[p0 : p0+kc, j0 : j0+nr] step-major into dst,
// nr_full values per step (columns nr..nr_full-1 zero); b is the GEMM's B pointer after its
// batch offset (b_rs and b_cs are unused).
struct BPacker {
  void (*pack)(const void* ctx, const char* b, int64_t p0, int64_t kc, int64_t j0, int nr, int nr_full, char* dst);
  const void* ctx;
};

struct MatmulArgs {
  DType dtype;  // of A, B, C and bias; not bool
  int64_t batch, m, n, k;
  const char* a;
  int64_t a_rs, a_cs;
  const int64_t* a_offsets;
  const char* b;
  int64_t b_rs, b_cs;
  const int64_t* b_offsets;
  char* c;
  int64_t c_rs;
  const int64_t* c_offsets;
  double alpha, beta;
  const char* bias;
  int64_t bias_rs, bias_cs;
  Activation act;
  const BPacker* b_packer;  // null: B is the strided matrix above
  // Not null: B as matmul_pack_b wrote it for this dtype, k and n, the same for every GEMM of
  // the batch (b, b_rs, b_cs, b_offsets and b_packer are not read). For a B that many GEMMs
  // share (an RNN's recurrent weight at every step), which then is packed once.
  const char* b_prepacked;
};

// Softmax family over the contiguous rows of a (rows, n) array, n >= 1; see cpu/softmax.cpp.
// Forward: out = softmax(x) or log_softmax(x) per row. Backward, from the forward's result y
// (in x) and the gradient g: softmax gx = y (g - sum(g y)); log_softmax gx = g - e^y sum(g).
enum class SoftmaxKind : uint8_t { softmax, log_softmax, softmax_backward, log_softmax_backward };

struct SoftmaxArgs {
  SoftmaxKind kind;
  DType dtype;  // float32 or float64
  int64_t rows, n;
  const char* x;
  const char* g;  // backward only
  char* out;
};

// Class-index losses over (rows, n) contiguous x (logits for cross_entropy, log-probabilities
// for nll_loss) and int64 targets: loss[r] = (1 - s) w[t] (lse - x[t]) + (s / n) sum_c w[c]
// (lse - x[c]) (nll: lse = 0, s = 0), 0 where t == ignore_index. weight may be null (all 1).
// Forward writes loss[r], row_weight[r] (w[t], 0 if ignored) and, for logits, stats[2r, 2r+1]
// = (max, log sum exp(x - max)); it returns false, writing nothing reliable, when a target is
// outside [0, n) and not ignore_index. Backward writes gx = g[r * g_stride] * dloss[r]/dx (g_stride 0: one g for all rows).
struct ClassLossArgs {
  DType dtype;  // of x, weight, loss, stats, g, gx
  bool logits;
  int64_t rows, n;
  const char* x;
  const int64_t* target;
  const char* weight;
  int64_t ignore_index;
  double smoothing;
  char* loss;
  char* row_weight;
  char* stats;
  const char* g;  // backward
  int64_t g_stride;
  char* gx;
};

// Activations over n contiguous elements; see cpu/activation.cpp. Forward: out = f(x). Backward
// (g not null): out = g * f'(x), from the forward's input x. Parameters per kind: leaky_relu
// a = slope; elu y = b x (x > 0) else b a expm1(c x) (elu: b = c = 1, selu, celu: c = 1/a);
// softplus a = beta, b = threshold; hardtanh [a, b].
enum class ActivationKind : uint8_t {
  relu, leaky_relu, elu, gelu, gelu_tanh, silu, mish, sigmoid, tanh, softplus, softsign, hardtanh,
  hardsigmoid, hardswish,
};

struct ActivationArgs {
  ActivationKind kind;
  DType dtype;  // float32 or float64
  int64_t n;
  const char* x;
  const char* g;  // backward only
  char* out;
  double a, b, c;
};

// One optimizer step over `count` tensors of one dtype (float32 or float64): tensor t has
// numel[t] contiguous elements in param[t], grad[t] and its state buffers. The arithmetic
// follows torch.optim's single-tensor formulas, operation by operation, in the param dtype
// (see cpu/optim.cpp). Per-tensor scalars come from the op layer (they depend on each
// tensor's step count).
enum class OptimKind : uint8_t { sgd, adam, rmsprop, adagrad };

struct OptimArgs {
  OptimKind kind;
  DType dtype;
  int64_t count;
  const int64_t* numel;
  char* const* param;
  const char* const* grad;
  // sgd: momentum_buffer; adam: exp_avg; rmsprop: square_avg; adagrad: sum
  char* const* state0;
  // adam: exp_avg_sq; rmsprop: momentum_buffer (momentum > 0)
  char* const* state1;
  // adam: max_exp_avg_sq (amsgrad); rmsprop: grad_avg (centered)
  char* const* state2;
  const uint8_t* fresh;      // sgd: the momentum buffer is new and takes the gradient
  const double* step_size;   // adam: lr / (1 - beta1^step); adagrad: lr / (1 + (step - 1) lr_decay)
  const double* bc2_sqrt;    // adam: (1 - beta2^step)^0.5
  double lr, weight_decay, momentum, dampening, beta1, beta2, alpha, eps;
  bool nesterov, maximize, amsgrad, decoupled_weight_decay, centered;
};

// Per tensor of a list of contiguous float32/float64 tensors: sum |x|^p, or max |x| when p
// is inf, accumulated in double in a fixed order (independent of the thread count).
struct MultiNormArgs {
  DType dtype;
  int64_t count;
  const int64_t* numel;
  const char* const* data;
  double p;  // > 0 or inf
  double* out;
};

// x *= factor (rounded to the dtype first) over a list of contiguous tensors of one dtype.
struct MultiScaleArgs {
  DType dtype;
  int64_t count;
  const int64_t* numel;
  char* const* data;
  double factor;
};

// Row normalization over the contiguous rows of (rows, n), n >= 1: layer norm y = (x - mean)
// rstd w + b, rms norm y = x rstd w (rstd = 1/sqrt(var + eps), var the biased variance, or
// the mean square for rms); w, b per position, null when absent. Forward writes y, mean (layer
// only) and rstd per row. Backward (g not null) writes gx and, when not null, gw = sum over
// rows of g xhat and gb = sum of g, through `scratch`: 2 n ceil(rows / kNormRowBlock) elements.
// See cpu/norm.cpp.
constexpr int64_t kNormRowBlock = 64;

struct RowNormArgs {
  bool rms;
  DType dtype;  // of every array
  int64_t rows, n;
  double eps;
  const char* x;
  const char* weight;
  const char* bias;
  char* y;
  char* mean;
  char* rstd;
  const char* g;
  char* gx;
  char* gw;
  char* gb;
  char* scratch;
};

// Batch norm over contiguous (batch, channels, spatial) x, statistics per channel over
// batch x spatial. Forward in training computes mean and rstd into `mean`, `rstd` and updates
// running_mean/var (when not null) with `momentum` and the unbiased variance; in eval it copies
// the running mean and 1/sqrt(running_var + eps) there instead. y = (x - mean) rstd w + b.
// Backward (g not null) from those saved statistics writes gx and, when not null, gw and gb.
struct BatchNormArgs {
  DType dtype;
  int64_t batch, channels, spatial;
  bool training;
  double momentum, eps;
  const char* x;
  const char* weight;
  const char* bias;
  char* running_mean;
  char* running_var;
  char* y;
  char* mean;
  char* rstd;
  const char* g;
  char* gx;
  char* gw;
  char* gb;
};

// 2-D convolution over NCHW (1-D: height 1 and kernel height 1), contiguous operands; weight
// (out_channels, in_channels / groups, kernel_h, kernel_w). pad_h/pad_w are the padding before
// the input; the output size is given (padding after may differ, as for 'same'). Passes:
// forward y = conv(x, weight) + bias (bias may be null); backward_input gx from grad_out and
// weight; backward_weight gw from x and grad_out. `out` is overwritten. See cpu/conv.cpp.
struct ConvGeometry {
  int64_t batch, groups;
  int64_t in_channels, height, width;
  int64_t out_channels, out_height, out_width;
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};
// backward_both: the input gradient into out and the weight gradient into out_weight (one
// pass over grad_out where the direct form allows; CPU only).
enum class ConvPass : uint8_t { forward, backward_input, backward_weight, backward_both };

struct ConvArgs {
  ConvPass pass;
  DType dtype;  // float32 or float64
  ConvGeometry geo;
  const char* x;
  const char* weight;
  const char* bias;
  const char* grad_out;
  char* out;
  char* out_weight;  // backward_both only
};

// Pooling over `planes` contiguous (height, width) planes (1-D: height 1). Output (oy, ox)
// reads the input rows start_h[oy] + t * step_h, t < count_h[oy], and likewise the columns
// (windows already clipped to the input, never empty). avg divides by div_h[oy] * div_w[ox],
// or by divisor when it is > 0. max writes the argmax's flat index in its plane (iy * width
// + ix; the first maximum, NaN winning) to indices; max_backward reads them back. Backward
// passes overwrite `out` (the input's gradient) from g (the output's). See cpu/pool.cpp.
enum class PoolKind : uint8_t { max, avg, max_backward, avg_backward };

struct PoolArgs {
  PoolKind kind;
  DType dtype;  // float32 or float64
  int64_t planes, height, width, out_height, out_width;
  const int64_t *start_h, *count_h, *start_w, *count_w;
  int64_t step_h, step_w;
  const double *div_h, *div_w;
  double divisor;
  const char* x;
  const char* g;
  char* out;
  int64_t* indices;
};

// Scaled dot-product attention over bh = batch*heads independent problems; see cpu/attention.cpp.
// Operand x of problem b starts at x + x_offsets[b] (elements) with rows x_rs apart and
// contiguous columns: q (tq, d), k (tk, d), v (tk, dv). The mask (boolean uint8, 1 = attend,
// or additive of the dtype) reads mask[mask_offsets[b] + i mask_rs + j mask_cs]; causal keeps
// j <= i. Forward (g null) writes the contiguous out (bh, tq, dv) and lse (bh, tq). Backward
// reads out, lse and the contiguous g (bh, tq, dv) and writes contiguous gq, gk, gv. Dropout
// (dropout_p > 0) keeps Philox word e = (b tq + i) tk + j of (seed, offset, stream 0).
enum class AttentionMask : uint8_t { none, boolean, additive };

struct AttentionArgs {
  DType dtype;  // float32 or float64
  int64_t bh, tq, tk, d, dv;
  const char* q;
  const int64_t* q_offsets;
  int64_t q_rs;
  const char* k;
  const int64_t* k_offsets;
  int64_t k_rs;
  const char* v;
  const int64_t* v_offsets;
  int64_t v_rs;
  AttentionMask mask_kind;
  const char* mask;
  const int64_t* mask_offsets;
  int64_t mask_rs, mask_cs;
  bool causal;
  double scale, dropout_p;
  uint64_t seed, offset;
  char* out;
  char* lse;
  const char* g;
  char* gq;
  char* gk;
  char* gv;
};

// Pointwise parts of one time step of a recurrent layer over `batch` rows (see cpu/rnn.cpp);
// the GEMMs around them go through matmul. H = hidden, P = state (proj_size, else H). Row b
// is active at step t when lengths is null or t < lengths[b]; an inactive row keeps its state
// (h = h_prev, c = c_prev), outputs y = 0 and passes the state gradient through unchanged.
// Forward reads the pre-activations in `gates` (row stride gates_rs; LSTM i, f, g, o and
// RNN already hold x W_ih^T + b_ih + h W_hh^T + b_hh; GRU r, z, n hold x W_ih^T + b_ih and
// `hg` (batch, 3H) h W_hh^T + b_hh) and overwrites them with what backward needs: the
// activations (GRU: r, z, n, then hg's n part in columns 3H..4H). It writes h (batch, P)
// or, for LSTM with a projection (proj), m = o tanh(c) (batch, H) with 0 in inactive rows;
// c (LSTM), and y (row stride y_rs) unless y is null.
// mode rnn_emit (the step after a projection): h (batch, P) holds m W_hr^T; inactive rows
// take h_prev, and y gets h (active) or 0.
// Backward (from the saved activations, h_prev, c_prev and c) reads dh (batch, P), the
// gradient of the state after the step, plus dy (row stride dy_rs) in active rows, or dm
// (batch, H) instead of both when proj; dc (batch, H) goes from after the step to before it
// in place; it writes the pre-activation gradients to dgates (row stride dgates_rs; GRU: 6H,
// the input side r, z, n then the hidden side r, z, n) and dh_prev (batch, P): dh in inactive
// rows, else GRU dh z, else 0 (the caller adds dgates W_hh).
enum class RnnMode : uint8_t { rnn_tanh, rnn_relu, lstm, gru, rnn_emit };

struct RnnCellArgs {
  RnnMode mode;
  DType dtype;  // float32 or float64
  int64_t batch, hidden, state;
  const int64_t* lengths;
  int64_t t;
  bool proj;
  char* gates;
  int64_t gates_rs;
  const char* hg;
  const char* h_prev;
  const char* c_prev;
  char* h;
  char* c;
  char* y;
  int64_t y_rs;
  const char* dh;
  const char* dy;
  int64_t dy_rs;
  const char* dm;
  char* dc;
  char* dgates;
  int64_t dgates_rs;
  char* dh_prev;
};

struct KernelTable {
  const char* isa;
  void (*copy)(const CopyArgs& args);
  KernelStatus (*unary)(UnaryOp op, const ElementwiseArgs& args);
  KernelStatus (*binary)(BinaryOp op, const ElementwiseArgs& args);
  KernelStatus (*where)(const ElementwiseArgs& args);  // in: cond, a, b
  KernelStatus (*clamp)(const ElementwiseArgs& args);  // in: x, lo, hi
  void (*reduce)(const ReduceArgs& args);
  void (*arg_reduce)(const ArgReduceArgs& args);
  void (*scan)(const ScanArgs& args);
  void (*random)(const RandomArgs& args);
  bool (*gather)(const GatherArgs& args);
  bool (*scatter)(const ScatterArgs& args);
  void (*matmul)(const MatmulArgs& args);
  void (*optim_step)(const OptimArgs& args);
  void (*multi_norm)(const MultiNormArgs& args);
  void (*multi_scale)(const MultiScaleArgs& args);
  // Single-thread fp32 multiply-add throughput over `iterations` rounds, in GFLOP/s.
  double (*fma_gflops)(int64_t iterations);
  void (*softmax)(const SoftmaxArgs& args);
  bool (*class_loss)(const ClassLossArgs& args);
  void (*class_loss_backward)(const ClassLossArgs& args);
  void (*activation)(const ActivationArgs& args);
  void (*row_norm)(const RowNormArgs& args);
  void (*batch_norm)(const BatchNormArgs& args);
  void (*conv)(const ConvArgs& args);
  void (*pool)(const PoolArgs& args);
  void (*attention)(const AttentionArgs& args);
  void (*rnn_cell)(const RnnCellArgs& args);
  void (*rnn_cell_backward)(const RnnCellArgs& args);
  // The size in bytes of a prepacked B of (k, n) in `dtype`, and the packing of the strided B
  // of args (its dtype, k, n, b, b_rs, b_cs) into dst, 64-byte aligned; see MatmulArgs.
  int64_t (*matmul_packed_b_bytes)(DType dtype, int64_t k, int64_t n);
  void (*matmul_pack_b)(const MatmulArgs& args, char* dst);
};

#define FIBRIL_DECLARE_ISA(isa) \
  namespace isa {               \
  const KernelTable& table();   \
  }
FIBRIL_DECLARE_ISA(generic)
FIBRIL_DECLARE_ISA(avx2)
FIBRIL_DECLARE_ISA(avx512)
#undef FIBRIL_DECLARE_ISA

const KernelTable& kernels();

}  // namespace fibril::cpu
