// CUDA pooling, forward and backward (max with argmax indices, average, adaptive forms), with
// the CPU kernels' semantics (cpu/pool.cpp): windows scanned row-major, a strictly larger value
// or a NaN takes over (the last NaN wins), the average divided by the window's divisor share.
// Forward: one thread per output, windows computed from the axis rules. Backward: a block per
// plane clears the plane's gradient, then scatters each output's gradient into its window with
// atomicAdd (windows overlap when stride < kernel), as PyTorch's CUDA pooling does.
// H100 figures (`python -m bench.cuda`): max_pool2d 3x3/2 of 64x64x112^2 float32 281 us, 0.91 TB/s
// (30% of the device copy), 0.73x torch.
#include "cuda/launch.cuh"
#include "cuda/pool.h"

namespace fibril::cuda::FIBRIL_CUDA_NS {
namespace {

using ops::PoolAxisRule;
using ops::PoolWindow;
using ops::pool_window;

template <typename T>
__device__ T divisor_of(double divisor, const PoolWindow& wh, const PoolWindow& ww) {
  return T(divisor > 0 ? divisor : wh.div * ww.div);
}

template <typename T, bool kMax>
__global__ void pool_forward_kernel(const T* x, T* y, int64_t* indices, int64_t planes, PoolAxisRule h,
                                    PoolAxisRule w, double divisor) {
  const int64_t out_plane = h.out * w.out, total = planes * out_plane;
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < total; o += int64_t(gridDim.x) * blockDim.x) {
    const int64_t plane = o / out_plane, oy = (o % out_plane) / w.out, ox = o % w.out;
    const PoolWindow wh = pool_window(h, oy), ww = pool_window(w, ox);
    const T* xp = x + plane * h.size * w.size;
    const int64_t step_h = h.adaptive ? 1 : h.dilation, step_w = w.adaptive ? 1 : w.dilation;
    if (kMax) {
      T best = -INFINITY;
      int64_t best_at = wh.start * w.size + ww.start;
      for (int64_t th = 0; th < wh.count; ++th) {
        const int64_t row = (wh.start + th * step_h) * w.size;
        for (int64_t tw = 0; tw < ww.count; ++tw) {
          const int64_t at = row + ww.start + tw * step_w;
          const T v = xp[at];
          if (v > best || v != v) {
            best = v;
            best_at = at;
          }
        }
      }
      y[o] = best;
      indices[o] = best_at;
    } else {
      T sum = 0;
      for (int64_t th = 0; th < wh.count; ++th) {
        const T* row = xp + (wh.start + th * step_h) * w.size + ww.start;
        for (int64_t tw = 0; tw < ww.count; ++tw) sum += row[tw * step_w];
      }
      y[o] = sum / divisor_of<T>(divisor, wh, ww);
    }
  }
}

template <typename T, bool kMax>
__global__ void pool_backward_kernel(const T* g, const int64_t* indices, T* gx, int64_t planes, PoolAxisRule h,
                                     PoolAxisRule w, double divisor) {
  const int64_t in_plane = h.size * w.size, out_plane = h.out * w.out;
  const int64_t step_h = h.adaptive ? 1 : h.dilation, step_w = w.adaptive ? 1 : w.dilation;
  for (int64_t plane = blockIdx.x; plane < planes; plane += gridDim.x) {
    T* gp = gx + plane * in_plane;
    for (int64_t i = threadIdx.x; i < in_plane; i += blockDim.x) gp[i] = T(0);
    __syncthreads();
    for (int64_t o = threadIdx.x; o < out_plane; o += blockDim.x) {
      const T go = g[plane * out_plane + o];
      if (kMax) {  // a window wholly in the padding has no input to credit (see cpu/pool.cpp)
        const int64_t at = indices[plane * out_plane + o];
        if (at >= 0 && at < in_plane) atomicAdd(gp + at, go);
        continue;
      }
      const PoolWindow wh = pool_window(h, o / w.out), ww = pool_window(w, o % w.out);
      const T share = go / divisor_of<T>(divisor, wh, ww);
      for (int64_t th = 0; th < wh.count; ++th) {
        T* row = gp + (wh.start + th * step_h) * w.size + ww.start;
        for (int64_t tw = 0; tw < ww.count; ++tw) atomicAdd(row + tw * step_w, share);
      }
    }
    __syncthreads();  // the next plane's clearing must not race this plane's adds (same threads, other data)
  }
}

constexpr unsigned kBlock = 256;

template <typename T>
void pool_typed(int device, const PoolArgs& a) {
  const T* x = reinterpret_cast<const T*>(a.x);
  const T* g = reinterpret_cast<const T*>(a.g);
  T* out = reinterpret_cast<T*>(a.out);
  const dim3 planes_grid(unsigned(a.planes < 65535 * 8 ? a.planes : 65535 * 8));
  switch (a.kind) {
    case cpu::PoolKind::max:
      return launch("max_pool", pool_forward_kernel<T, true>, grid_1d(a.planes * a.h.out * a.w.out, kBlock), kBlock,
                    0, device, x, out, a.indices, a.planes, a.h, a.w, a.divisor);
    case cpu::PoolKind::avg:
      return launch("avg_pool", pool_forward_kernel<T, false>, grid_1d(a.planes * a.h.out * a.w.out, kBlock),
                    kBlock, 0, device, x, out, a.indices, a.planes, a.h, a.w, a.divisor);
    case cpu::PoolKind::max_backward:
      return launch("max_pool_backward", pool_backward_kernel<T, true>, planes_grid, kBlock, 0, device, g,
                    static_cast<const int64_t*>(a.indices), out, a.planes, a.h, a.w, a.divisor);
    case cpu::PoolKind::avg_backward:
      return launch("avg_pool_backward", pool_backward_kernel<T, false>, planes_grid, kBlock, 0, device, g,
                    static_cast<const int64_t*>(a.indices), out, a.planes, a.h, a.w, a.divisor);
  }
}

}  // namespace

void pool(int device, const PoolArgs& args) {
  if (args.dtype == DType::float64) return pool_typed<double>(device, args);
  pool_typed<float>(device, args);
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
