// What every CUDA family file (csrc/cuda/<family>.cu) includes first. A family file is
// compiled twice: by nvcc into namespace fibril::cuda::gpu (the real kernels, when fibril is
// built with CUDA) and by the C++ compiler under the emulator (emu.h) into
// fibril::cuda::emu, always. Write the entry points inside
// `namespace fibril::cuda::FIBRIL_CUDA_NS { ... }` and start kernels with launch().
//
// Dynamic shared memory: FIBRIL_DYNAMIC_SHARED(float, tile) declares `float* tile`.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/errors.h"
#include "cuda/backend.h"

#ifdef FIBRIL_CUDA_EMULATION
#include "cuda/emu.h"
#define FIBRIL_CUDA_NS emu
#define FIBRIL_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(::fibril::cuda::emu::dynamic_shared_memory())
#else
#include <cuda_runtime.h>
#define FIBRIL_CUDA_NS gpu
#define FIBRIL_DYNAMIC_SHARED(type, name) \
  extern __shared__ __align__(16) unsigned char fibril_dynamic_shared_[]; \
  type* name = reinterpret_cast<type*>(fibril_dynamic_shared_)
#endif

namespace fibril::cuda::FIBRIL_CUDA_NS {

#ifndef FIBRIL_CUDA_EMULATION
cudaStream_t stream(int device);  // device.cu: selects `device` on this thread, returns its stream
void check_launch(const char* kernel);  // raises RuntimeError naming the kernel on a launch error
#endif

// kernel<<<grid, block, smem_bytes, the device's stream>>>(args...); nothing for an empty grid.
template <typename... Params, typename... Args>
void launch(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem_bytes, int device,
            Args... args) {
  if (uint64_t(grid.x) * grid.y * grid.z == 0) return;
#ifdef FIBRIL_CUDA_EMULATION
  (void)device;
  run_grid(name, grid, block, smem_bytes, [&] { kernel(static_cast<Params>(args)...); });
#else
  cudaStream_t s = stream(device);
  if (smem_bytes > 48 * 1024) {
    cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), cudaFuncAttributeMaxDynamicSharedMemorySize,
                         int(smem_bytes));
  }
  kernel<<<grid, block, smem_bytes, s>>>(static_cast<Params>(args)...);
  check_launch(name);
#endif
}

// 1-D grid covering n items with `block` threads each (grid-stride loops take the rest).
inline dim3 grid_1d(int64_t n, unsigned block) {
  const int64_t blocks = (n + block - 1) / block;
  return dim3(unsigned(blocks < 65536 * 16 ? blocks : 65536 * 16));
}

// Device scratch for the length of one entry point; freed in stream order, so the kernels
// queued before the free still see it.
class Scratch {
 public:
  Scratch(size_t nbytes, int device) : ptr_(allocate(nbytes, device)), device_(device) {}
  ~Scratch() { release(ptr_, device_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }

 private:
  void* ptr_;
  int device_;
};

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
