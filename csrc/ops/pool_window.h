// One pooling window along one axis, from the axis's rule: the op layer builds the CPU kernels'
// window tables with it and the CUDA kernels call it per output (the same arithmetic on both).
#pragma once

#include <cstdint>

#if defined(__CUDACC__) || defined(FIBRIL_CUDA_EMULATION)
#define FIBRIL_HOST_DEVICE __host__ __device__
#else
#define FIBRIL_HOST_DEVICE
#endif

namespace fibril::ops {

// Sliding windows: output i covers i * stride - pad + t * dilation, t < kernel, clipped to the
// input. Adaptive windows: output i covers [floor(i * size / out), ceil((i + 1) * size / out)).
struct PoolAxisRule {
  int64_t size = 1, out = 1, kernel = 1, stride = 1, pad = 0, dilation = 1;
  bool adaptive = false;
  bool include_pad = true;  // avg: the divisor counts the padding the window covers
};

struct PoolWindow {
  int64_t start, count;  // the first input index read and how many (dilation apart)
  double div;            // the average's divisor share
};

FIBRIL_HOST_DEVICE inline PoolWindow pool_window(const PoolAxisRule& r, int64_t i) {
  if (r.adaptive) {
    const int64_t start = i * r.size / r.out;
    const int64_t count = ((i + 1) * r.size + r.out - 1) / r.out - start;
    return {start, count, double(count)};
  }
  const int64_t s0 = i * r.stride - r.pad;
  const int64_t lo = s0 >= 0 ? 0 : (-s0 + r.dilation - 1) / r.dilation;
  const int64_t hi0 = (r.size - 1 - s0) / r.dilation + 1;
  const int64_t hi = s0 >= r.size ? 0 : (hi0 < r.kernel ? hi0 : r.kernel);
  const int64_t count = hi - lo > 0 ? hi - lo : 0;
  const int64_t end = s0 + r.kernel < r.size + r.pad ? s0 + r.kernel : r.size + r.pad;
  return {s0 + lo * r.dilation, count, double(r.include_pad ? end - s0 : count)};
}

}  // namespace fibril::ops
