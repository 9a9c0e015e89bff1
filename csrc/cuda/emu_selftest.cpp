// Kernels that check the emulator itself (barriers, shuffles, deadlock detection), run by
// tests/test_runtime.py through _C.cuda._emulator_selftest. They need no emulated device.
#include <vector>

#include "cuda/emu_selftest.h"
#include "cuda/emu.h"

namespace fibril::cuda::emu {
namespace {

// Block sum: warp shuffles, then one warp combines the warps' partials from shared memory.
__global__ void block_sum_kernel(const float* x, float* out) {
  __shared__ float partial[32];
  float v = x[blockIdx.x * blockDim.x + threadIdx.x];
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    v = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.0f;
    for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
    if (threadIdx.x == 0) out[blockIdx.x] = v;
  }
}

// Lane 0 waits for the block while the rest of its warp waits for lane 0: never met.
__global__ void divergent_barrier_kernel(int* flag) {
  if (threadIdx.x == 0) __syncthreads();
  else __syncwarp();
  *flag = 1;
}

}  // namespace

std::vector<float> selftest_block_sums(const std::vector<float>& x, unsigned block) {
  std::vector<float> out(x.size() / block);
  run_grid("block_sum", dim3(unsigned(out.size())), dim3(block), 0, [&] { block_sum_kernel(x.data(), out.data()); });
  return out;
}

void selftest_divergent_barrier() {
  int flag = 0;
  run_grid("divergent_barrier", dim3(1), dim3(64), 0, [&] { divergent_barrier_kernel(&flag); });
}

}  // namespace fibril::cuda::emu
