// CUDA convolution: the three passes as implicit GEMMs, one tiled SIMT kernel whose operand
// loaders gather the im2col matrix on the fly (nothing is materialized). Per group:
//   forward          Y[o, (n,p)]      = W[o, (c,kh,kw)]   . X_col[(c,kh,kw), (n,p)]  (+ bias)
//   backward_input   gX[c, (n,iy,ix)] = W^T[c, (o,kh,kw)] . gY gathered where (iy + pad - kh d)
//                                       is a multiple of the stride inside the output
//   backward_weight  gW[o, (c,kh,kw)] = gY[o, (n,p)]      . X_col^T[(n,p), (c,kh,kw)]
// Tiles: 64x64 outputs per 256-thread block, 4x4 per thread, K in steps of 16 through shared
// memory. backward_weight reduces over batch x output pixels, usually long next to its small
// M x N: it is split over grid.z and the splits' sums are added into the zeroed gW atomically.
// H100 figures (`python -m bench.cuda`, float32, cuDNN with TF32 off): 32x64x56^2 3x3 -> 64
// 5.0 TFLOP/s (0.17x), 32x128x28^2 3x3/2 -> 256 0.15x, 1x1 256 -> 256 0.20x. The index math per
// element and 4x4 thread tiles cap it; next: im2col tiles fed to the matmul family's SIMT kernel.
#include "cpu/kernels.h"
#include "cuda/conv.h"
#include "cuda/launch.cuh"

namespace fibril::cuda::FIBRIL_CUDA_NS {
namespace {

using cpu::ConvGeometry;
using cpu::ConvPass;

constexpr int kBM = 64, kBN = 64, kBK = 16, kThreads = 256;

// The input pixel (iy, ix) that output (oy, ox) reads through tap (kh, kw); may lie in the padding.
struct Tap {
  int64_t iy, ix;
};
__device__ __forceinline__ Tap tap(const ConvGeometry& g, int64_t oy, int64_t ox, int64_t kh, int64_t kw) {
  return {oy * g.stride_h - g.pad_h + kh * g.dilation_h, ox * g.stride_w - g.pad_w + kw * g.dilation_w};
}

template <typename T, ConvPass kPass>
struct Operands {
  ConvGeometry g;
  const T* x;       // forward, backward_weight
  const T* weight;  // forward, backward_input
  const T* grad;    // backward_*: grad of the output

  __host__ __device__ int64_t cg() const { return g.in_channels / g.groups; }
  __host__ __device__ int64_t og() const { return g.out_channels / g.groups; }

  __device__ T input_at(int64_t n, int64_t c, int64_t oy, int64_t ox, int64_t kh, int64_t kw) const {
    const Tap t = tap(g, oy, ox, kh, kw);
    if (t.iy < 0 || t.iy >= g.height || t.ix < 0 || t.ix >= g.width) return T(0);
    return x[((n * g.in_channels + c) * g.height + t.iy) * g.width + t.ix];
  }

  __device__ T a(int64_t group, int64_t m, int64_t k) const {
    const int64_t kk = g.kernel_h * g.kernel_w;
    if (kPass == ConvPass::forward) return weight[(group * og() + m) * cg() * kk + k];
    if (kPass == ConvPass::backward_input) {
      const int64_t o = group * og() + k / kk;
      return weight[(o * cg() + m) * kk + k % kk];
    }
    const int64_t p = g.out_height * g.out_width, n = k / p, q = k % p;  // backward_weight: gY[o, (n, p)]
    return grad[(n * g.out_channels + group * og() + m) * p + q];
  }

  __device__ T b(int64_t group, int64_t k, int64_t col) const {
    const int64_t kk = g.kernel_h * g.kernel_w, p = g.out_height * g.out_width;
    if (kPass == ConvPass::forward) {
      const int64_t n = col / p, q = col % p, c = group * cg() + k / kk;
      return input_at(n, c, q / g.out_width, q % g.out_width, (k % kk) / g.kernel_w, k % g.kernel_w);
    }
    if (kPass == ConvPass::backward_input) {
      const int64_t hw = g.height * g.width, n = col / hw, iy = (col % hw) / g.width, ix = col % g.width;
      const int64_t o = group * og() + k / kk, kh = (k % kk) / g.kernel_w, kw = k % g.kernel_w;
      const int64_t ty = iy + g.pad_h - kh * g.dilation_h, tx = ix + g.pad_w - kw * g.dilation_w;
      if (ty < 0 || tx < 0 || ty % g.stride_h || tx % g.stride_w) return T(0);
      const int64_t oy = ty / g.stride_h, ox = tx / g.stride_w;
      if (oy >= g.out_height || ox >= g.out_width) return T(0);
      return grad[((n * g.out_channels + o) * g.out_height + oy) * g.out_width + ox];
    }
    const int64_t n = k / p, q = k % p, c = group * cg() + col / kk;  // backward_weight: X_col^T
    return input_at(n, c, q / g.out_width, q % g.out_width, (col % kk) / g.kernel_w, col % g.kernel_w);
  }
};

// out(m, col) for the pass: Y / gX in NCHW, gW in (O, Cg, KH, KW).
template <ConvPass kPass>
__device__ __forceinline__ int64_t out_index(const ConvGeometry& g, int64_t group, int64_t m, int64_t col) {
  if (kPass == ConvPass::forward) {
    const int64_t p = g.out_height * g.out_width;
    return ((col / p) * g.out_channels + group * (g.out_channels / g.groups) + m) * p + col % p;
  }
  if (kPass == ConvPass::backward_input) {
    const int64_t hw = g.height * g.width;
    return ((col / hw) * g.in_channels + group * (g.in_channels / g.groups) + m) * hw + col % hw;
  }
  return (group * (g.out_channels / g.groups) + m) * (g.in_channels / g.groups * g.kernel_h * g.kernel_w) + col;
}

template <typename T, ConvPass kPass>
__global__ void __launch_bounds__(kThreads, 2) conv_gemm_kernel(Operands<T, kPass> op, T* out, const T* bias,
                                                              int64_t M, int64_t N, int64_t K, int64_t k_split) {
  __shared__ T As[kBK][kBM];
  __shared__ T Bs[kBK][kBN];
  const int64_t group = blockIdx.z % op.g.groups;
  const int64_t k_begin = (blockIdx.z / op.g.groups) * k_split;
  const int64_t k_end = k_begin + k_split < K ? k_begin + k_split : K;
  const int64_t m0 = int64_t(blockIdx.y) * kBM, n0 = int64_t(blockIdx.x) * kBN;
  const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
  T acc[4][4] = {};
  for (int64_t k0 = k_begin; k0 < k_end; k0 += kBK) {
    for (int e = tid; e < kBM * kBK; e += kThreads) {  // A: consecutive threads along k
      const int mm = e / kBK, kk = e % kBK;
      const int64_t m = m0 + mm, k = k0 + kk;
      As[kk][mm] = m < M && k < k_end ? op.a(group, m, k) : T(0);
    }
    for (int e = tid; e < kBK * kBN; e += kThreads) {  // B: consecutive threads along n
      const int kk = e / kBN, nn = e % kBN;
      const int64_t k = k0 + kk, n = n0 + nn;
      Bs[kk][nn] = n < N && k < k_end ? op.b(group, k, n) : T(0);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      T av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();
  }
  const bool split = k_split < K;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t m = m0 + ty + 16 * i;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + tx + 16 * j;
      if (m >= M || n >= N) continue;
      const int64_t at = out_index<kPass>(op.g, group, m, n);
      if (split) {
        atomicAdd(out + at, acc[i][j]);
      } else {
        out[at] = kPass == ConvPass::forward && bias ? acc[i][j] + bias[group * op.og() + m] : acc[i][j];
      }
    }
  }
}

template <typename T, ConvPass kPass>
void run(int device, const cpu::ConvArgs& a) {
  const ConvGeometry& g = a.geo;
  const int64_t cg = g.in_channels / g.groups, og = g.out_channels / g.groups, kk = g.kernel_h * g.kernel_w;
  const int64_t p = g.out_height * g.out_width;
  int64_t M, N, K;
  if (kPass == ConvPass::forward) M = og, N = g.batch * p, K = cg * kk;
  else if (kPass == ConvPass::backward_input) M = cg, N = g.batch * g.height * g.width, K = og * kk;
  else M = og, N = cg * kk, K = g.batch * p;
  Operands<T, kPass> op{g, reinterpret_cast<const T*>(a.x), reinterpret_cast<const T*>(a.weight),
                        reinterpret_cast<const T*>(a.grad_out)};
  T* out = reinterpret_cast<T*>(a.out);
  const int64_t tiles = ((M + kBM - 1) / kBM) * ((N + kBN - 1) / kBN) * g.groups;
  int64_t splits = 1;
  if (kPass == ConvPass::backward_weight) {  // enough blocks for the SMs, each with >= 8 K-steps
    const int64_t wanted = (512 + tiles - 1) / tiles, most = (K + 8 * kBK - 1) / (8 * kBK);
    splits = wanted < most ? wanted : most;
    splits = splits < 1 ? 1 : (splits > 65535 / g.groups ? 65535 / g.groups : splits);
  }
  const int64_t k_split = splits == 1 ? K : ((K + splits - 1) / splits + kBK - 1) / kBK * kBK;
  splits = (K + k_split - 1) / k_split;
  if (splits > 1) fill(a.out, a.dtype, M * N * g.groups, 0.0, device);
  const dim3 grid(unsigned((N + kBN - 1) / kBN), unsigned((M + kBM - 1) / kBM), unsigned(g.groups * splits));
  launch("conv", conv_gemm_kernel<T, kPass>, grid, kThreads, 0, device, op, out,
         reinterpret_cast<const T*>(a.bias), M, N, K, k_split);
}

template <typename T>
void conv_typed(int device, const cpu::ConvArgs& a) {
  switch (a.pass) {
    case ConvPass::forward: return run<T, ConvPass::forward>(device, a);
    case ConvPass::backward_input: return run<T, ConvPass::backward_input>(device, a);
    case ConvPass::backward_weight: return run<T, ConvPass::backward_weight>(device, a);
    case ConvPass::backward_both: break;  // ops::conv_backward runs the two passes on CUDA
  }
  FIBRIL_FAIL(NotImplemented, "[conv] backward_both is not a CUDA pass");
}

}  // namespace

void conv(int device, const cpu::ConvArgs& args) {
  if (args.dtype == DType::float64) return conv_typed<double>(device, args);
  conv_typed<float>(device, args);
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
