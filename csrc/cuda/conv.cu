// CUDA convolution, two routes:
// - where one image's im2col matrix is under 4 kWorkspace: im2col into a workspace (a chunk of
//   images at a time, at most kWorkspace bytes), then the matmul family's GEMM (SIMT float32,
//   TF32 / wgmma where the float32 matmul precision allows, float64 tiles), one per (image,
//   group) through its batch offsets:
//     forward          Y[n, g] (Og x P)       = W[g] (Og x CgKK) . X_col[n, g]^T     (+ bias)
//     backward_input   G_col[n, g] (P x CgKK) = gY[n, g]^T . W[g], then col2im gathers gX
//     backward_weight  gW[g] (Og x CgKK)      = gY[g]^T (Og x nP) . X_col[g] (nP x CgKK),
//                                              chunks summed by beta
//   X_col[n] is (P x CKK) with the taps contiguous (group g: columns g CgKK on): k-major for
//   the GEMM's B, as its tensor-core tiles read in place.
// - otherwise: per-group implicit GEMMs, one tiled SIMT kernel whose operand loaders gather
//   the im2col matrix on the fly (nothing is materialized):
//     forward          Y[o, (n,p)]      = W[o, (c,kh,kw)]   . X_col[(c,kh,kw), (n,p)]  (+ bias)
//     backward_input   gX[c, (n,iy,ix)] = W^T[c, (o,kh,kw)] . gY gathered where (iy + pad - kh d)
//                                         is a multiple of the stride inside the output
//     backward_weight  gW[o, (c,kh,kw)] = gY[o, (n,p)]      . X_col^T[(n,p), (c,kh,kw)]
//   Tiles: 64x64 outputs per 256-thread block, 4x4 per thread, K in steps of 16 through shared
//   memory; backward_weight is split over grid.z, the splits' sums added atomically.
// H100 figures (`python -m bench.cuda`, float32, cuDNN with TF32 off), the implicit kernel for
// every conv: 32x64x56^2 3x3 -> 64 5.0 TFLOP/s (0.17x), 32x128x28^2 3x3/2 -> 256 0.15x, 1x1
// 256 -> 256 0.20x: the index math per element and 4x4 thread tiles capped it. The im2col
// route is tested on the emulator only: no GPU was left to time it (stop 29).
#include <algorithm>
#include <memory>
#include <type_traits>
#include <vector>

#include "cpu/kernels.h"
#include "cuda/conv.h"
#include "cuda/launch.cuh"
#include "cuda/matmul.h"

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

// ---- groups == 1: im2col + the matmul family's GEMM ----------------------------------------

// X_col rows of images [n0, n0 + count): row (n - n0) P + p, column (c, kh, kw); 0 in the padding.
template <typename T>
__global__ void __launch_bounds__(256) im2col_kernel(ConvGeometry g, const T* x, int64_t n0, int64_t count, T* col) {
  const int64_t kk = g.kernel_h * g.kernel_w, ckk = g.in_channels * kk, p = g.out_height * g.out_width;
  const int64_t total = count * p * ckk;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = i % ckk, row = i / ckk, n = n0 + row / p, q = row % p;
    const int64_t c = j / kk, kh = (j % kk) / g.kernel_w, kw = j % g.kernel_w;
    const Tap t = tap(g, q / g.out_width, q % g.out_width, kh, kw);
    const bool inside = t.iy >= 0 && t.iy < g.height && t.ix >= 0 && t.ix < g.width;
    col[i] = inside ? x[((n * g.in_channels + c) * g.height + t.iy) * g.width + t.ix] : T(0);
  }
}

// gX of images [n0, n0 + count): each element sums the G_col entries of the taps that read it.
template <typename T>
__global__ void __launch_bounds__(256) col2im_kernel(ConvGeometry g, const T* col, int64_t n0, int64_t count, T* gx) {
  const int64_t kk = g.kernel_h * g.kernel_w, ckk = g.in_channels * kk, p = g.out_height * g.out_width;
  const int64_t hw = g.height * g.width, total = count * g.in_channels * hw;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ix = i % g.width, iy = (i / g.width) % g.height, c = (i / hw) % g.in_channels;
    const T* rows = col + (i / (g.in_channels * hw)) * p * ckk + c * kk;
    T sum = T(0);
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      const int64_t ty = iy + g.pad_h - kh * g.dilation_h;
      if (ty < 0 || ty % g.stride_h || ty / g.stride_h >= g.out_height) continue;
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        const int64_t tx = ix + g.pad_w - kw * g.dilation_w;
        if (tx < 0 || tx % g.stride_w || tx / g.stride_w >= g.out_width) continue;
        sum += rows[((ty / g.stride_h) * g.out_width + tx / g.stride_w) * ckk + kh * g.kernel_w + kw];
      }
    }
    gx[n0 * g.in_channels * hw + i] = sum;
  }
}

// gY of images [n0, n0 + count) as one (O x count P) matrix: column (n - n0) P + p.
template <typename T>
__global__ void __launch_bounds__(256) gather_grad_kernel(ConvGeometry g, const T* gy, int64_t n0, int64_t count, T* out) {
  const int64_t p = g.out_height * g.out_width, total = count * g.out_channels * p;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t q = i % p, o = (i / p) % g.out_channels, n = i / (p * g.out_channels);
    out[(o * count + n) * p + q] = gy[n0 * g.out_channels * p + i];
  }
}

// Bytes of X_col / G_col per chunk of images; a few KB under the emulator, so that its small
// test shapes run several chunks.
#ifdef FIBRIL_CUDA_EMULATION
constexpr size_t kWorkspace = size_t(4) << 10;
#else
constexpr size_t kWorkspace = size_t(256) << 20;
#endif

// Batch offsets of the (image, group) GEMMs of a chunk, image-major.
std::vector<int64_t> offsets(int64_t images, int64_t groups, int64_t image_step, int64_t group_step) {
  std::vector<int64_t> v;
  v.reserve(static_cast<size_t>(images * groups));
  for (int64_t i = 0; i < images; ++i)
    for (int64_t grp = 0; grp < groups; ++grp) v.push_back(i * image_step + grp * group_step);
  return v;
}

template <typename T>
cpu::MatmulArgs gemm_args(int64_t batch, int64_t m, int64_t n, int64_t k) {
  cpu::MatmulArgs m_args{};
  m_args.dtype = std::is_same_v<T, double> ? DType::float64 : DType::float32;
  m_args.batch = batch, m_args.m = m, m_args.n = n, m_args.k = k;
  m_args.alpha = 1.0, m_args.beta = 0.0, m_args.act = cpu::Activation::none;
  return m_args;
}

// out[n, o, p] += bias[o] over `images` images: the grouped forward's bias, which the GEMM's
// epilogue cannot take (one bias row per group, while its batch offsets move A, B and C only).
template <typename T>
__global__ void __launch_bounds__(256) add_bias_kernel(T* out, const T* bias, int64_t channels, int64_t p, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
    out[i] += bias[(i / p) % channels];
}

// One GEMM per (image, group) of a chunk of images; the weight gradient sums the chunk's images
// in its k and the chunks by beta.
template <typename T>
void run_im2col(int device, const cpu::ConvArgs& a, bool tf32) {
  const ConvGeometry& g = a.geo;
  const int64_t kk = g.kernel_h * g.kernel_w, ckk = g.in_channels * kk, p = g.out_height * g.out_width;
  const int64_t o = g.out_channels, groups = g.groups, og = o / groups, gk = ckk / groups;
  const int64_t per_image = std::max<int64_t>(p * ckk, 1) * int64_t(sizeof(T));
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(g.batch, int64_t(kWorkspace) / per_image));
  Scratch col(size_t(chunk * p * ckk) * sizeof(T), device);
  std::unique_ptr<Scratch> grad_rows;
  if (a.pass == ConvPass::backward_weight) grad_rows = std::make_unique<Scratch>(size_t(chunk * o * p) * sizeof(T), device);
  const T* x = reinterpret_cast<const T*>(a.x);
  const T* gy = reinterpret_cast<const T*>(a.grad_out);
  T* out = reinterpret_cast<T*>(a.out);
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t count = std::min(chunk, g.batch - n0);
    if (a.pass != ConvPass::backward_input) {
      launch("conv_im2col", im2col_kernel<T>, grid_1d(count * p * ckk, 256), 256, 0, device, g, x, n0, count,
             col.as<T>());
    }
    if (a.pass == ConvPass::forward) {  // Y[n, group] = W[group] . X_col[n, group]^T (+ bias)
      const auto a_off = offsets(count, groups, 0, og * gk), b_off = offsets(count, groups, p * ckk, gk);
      const auto c_off = offsets(count, groups, o * p, og * p);
      cpu::MatmulArgs m = gemm_args<T>(count * groups, og, p, gk);
      m.a = a.weight, m.a_rs = gk, m.a_cs = 1, m.a_offsets = a_off.data();
      m.b = reinterpret_cast<const char*>(col.as<T>()), m.b_rs = 1, m.b_cs = ckk, m.b_offsets = b_off.data();
      m.c = reinterpret_cast<char*>(out + n0 * o * p), m.c_rs = p, m.c_offsets = c_off.data();
      if (groups == 1) m.bias = a.bias, m.bias_rs = 1, m.bias_cs = 0;
      matmul(device, m, tf32);
      if (groups > 1 && a.bias) {
        launch("conv_bias", add_bias_kernel<T>, grid_1d(count * o * p, 256), 256, 0, device, out + n0 * o * p,
               reinterpret_cast<const T*>(a.bias), o, p, count * o * p);
      }
    } else if (a.pass == ConvPass::backward_input) {  // G_col[n, group] = gY[n, group]^T . W[group]; col2im
      const auto a_off = offsets(count, groups, o * p, og * p), b_off = offsets(count, groups, 0, og * gk);
      const auto c_off = offsets(count, groups, p * ckk, gk);
      cpu::MatmulArgs m = gemm_args<T>(count * groups, p, gk, og);
      m.a = reinterpret_cast<const char*>(gy + n0 * o * p), m.a_rs = 1, m.a_cs = p, m.a_offsets = a_off.data();
      m.b = a.weight, m.b_rs = gk, m.b_cs = 1, m.b_offsets = b_off.data();
      m.c = reinterpret_cast<char*>(col.as<T>()), m.c_rs = ckk, m.c_offsets = c_off.data();
      matmul(device, m, tf32);
      launch("conv_col2im", col2im_kernel<T>, grid_1d(count * g.in_channels * g.height * g.width, 256), 256, 0,
             device, g, static_cast<const T*>(col.as<T>()), n0, count, out);
    } else {  // gW[group] (+)= gY[group]^T . X_col[group] over the chunk's count P rows
      launch("conv_gather_grad", gather_grad_kernel<T>, grid_1d(count * o * p, 256), 256, 0, device, g, gy, n0, count,
             grad_rows->as<T>());
      const auto a_off = offsets(1, groups, 0, og * count * p), b_off = offsets(1, groups, 0, gk);
      const auto c_off = offsets(1, groups, 0, og * gk);
      cpu::MatmulArgs m = gemm_args<T>(groups, og, gk, count * p);
      m.a = reinterpret_cast<const char*>(grad_rows->as<T>()), m.a_rs = count * p, m.a_cs = 1, m.a_offsets = a_off.data();
      m.b = reinterpret_cast<const char*>(col.as<T>()), m.b_rs = ckk, m.b_cs = 1, m.b_offsets = b_off.data();
      m.c = a.out, m.c_rs = gk, m.c_offsets = c_off.data();
      m.beta = n0 > 0 ? 1.0 : 0.0;
      matmul(device, m, tf32);
    }
  }
}

// im2col pays for its workspace where one image's X_col fits in a few chunks' worth.
bool im2col_fits(const ConvGeometry& g, size_t elem) {
  const double per_image = double(g.in_channels * g.kernel_h * g.kernel_w) * double(g.out_height * g.out_width);
  return per_image * double(elem) <= 4.0 * double(kWorkspace);
}

template <typename T>
void conv_typed(int device, const cpu::ConvArgs& a, bool tf32) {
  if (a.pass != ConvPass::backward_both && im2col_fits(a.geo, sizeof(T)))
    return run_im2col<T>(device, a, tf32);
  switch (a.pass) {
    case ConvPass::forward: return run<T, ConvPass::forward>(device, a);
    case ConvPass::backward_input: return run<T, ConvPass::backward_input>(device, a);
    case ConvPass::backward_weight: return run<T, ConvPass::backward_weight>(device, a);
    case ConvPass::backward_both: break;  // ops::conv_backward runs the two passes on CUDA
  }
  FIBRIL_FAIL(NotImplemented, "[conv] backward_both is not a CUDA pass");
}

}  // namespace

void conv(int device, const cpu::ConvArgs& args, bool tf32) {
  if (args.dtype == DType::float64) return conv_typed<double>(device, args, tf32);
  conv_typed<float>(device, args, tf32);
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
