// What the host side of a family asks of a device before it picks kernels: its SM count,
// compute capability and shared memory limits (cached per device). Under the emulator, a
// small sm_90: few SMs, so the emulated tests reach the small-grid paths.
#pragma once

#include "cuda/launch.cuh"

namespace fibril::cuda::FIBRIL_CUDA_NS {

struct DeviceInfo {
  int sms = 0, major = 0;
  int smem_block = 0, smem_sm = 0;  // bytes: the opt-in limit per block, the total per SM
  int minor = 0;
};

inline DeviceInfo device_info(int device) {
#ifdef FIBRIL_CUDA_EMULATION
  (void)device;
  return DeviceInfo{4, 9, 227 << 10, 228 << 10};  // few SMs: the emulated tests reach the small-tile paths
#else
  static DeviceInfo cache[64];
  if (device < 0 || device >= 64) return DeviceInfo{};
  DeviceInfo& d = cache[device];
  if (d.sms == 0) {
    stream(device);  // selects the device
    DeviceInfo q;
    if (cudaDeviceGetAttribute(&q.sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&q.major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&q.minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&q.smem_block, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&q.smem_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device) != cudaSuccess) {
      cudaGetLastError();
      return DeviceInfo{1, 0, 0, 0};
    }
    d = q;
  }
  return d;
#endif
}

}  // namespace fibril::cuda::FIBRIL_CUDA_NS
