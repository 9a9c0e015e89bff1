// The GPU runtime: device probe, a caching device allocator, transfers, and the stream that
// every kernel of a device is queued on (one per device; every op is ordered on it).
//
// Allocator: cudaMallocAsync from each device's default memory pool with the release
// threshold at its maximum, so freed memory stays in the pool and is reused without a
// cudaMalloc or the implicit synchronization of cudaFree. On exhaustion the pool is
// trimmed once and the request retried before MemoryError.
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <mutex>
#include <vector>

#include "core/errors.h"
#include "cuda/backend.h"
#include "cuda/launch.cuh"

namespace fibril::cuda::gpu {
namespace {

#define FIBRIL_CUDA_CHECK(expr)                                                              \
  do {                                                                                       \
    cudaError_t err_ = (expr);                                                               \
    if (err_ != cudaSuccess) {                                                               \
      cudaGetLastError();                                                                    \
      FIBRIL_FAIL(Runtime, "[cuda] ", #expr, " failed: ", cudaGetErrorString(err_));         \
    }                                                                                        \
  } while (0)

struct DeviceState {
  cudaStream_t stream = nullptr;
  cudaMemPool_t pool = nullptr;
  int64_t hits = 0, misses = 0;  // misses: requests that grew the pool's reservation
};

std::mutex g_mutex;
std::vector<DeviceState> g_devices;

int probe_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    n = 0;
  }
  return n;
}

// Selects `device` on this thread and returns its state, creating stream and pool policy once.
DeviceState& use(int device) {
  const int count = device_count();
  FIBRIL_CHECK(count > 0, Runtime, "[cuda] no CUDA device is available (no driver or no GPU)");
  FIBRIL_CHECK(device >= 0 && device < count, Runtime, "[cuda] device ", device, " does not exist (",
               count, " device(s))");
  FIBRIL_CUDA_CHECK(cudaSetDevice(device));
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_devices.empty()) g_devices.resize(count);
  DeviceState& s = g_devices[device];
  if (!s.stream) {
    FIBRIL_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    FIBRIL_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&s.pool, device));
    uint64_t keep_all = std::numeric_limits<uint64_t>::max();
    FIBRIL_CUDA_CHECK(cudaMemPoolSetAttribute(s.pool, cudaMemPoolAttrReleaseThreshold, &keep_all));
  }
  return s;
}

uint64_t pool_attribute(cudaMemPool_t pool, cudaMemPoolAttr attr) {
  uint64_t value = 0;
  if (cudaMemPoolGetAttribute(pool, attr, &value) != cudaSuccess) cudaGetLastError();
  return value;
}

}  // namespace

cudaStream_t stream(int device) { return use(device).stream; }

void check_launch(const char* kernel) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) FIBRIL_FAIL(Runtime, "[cuda] launching ", kernel, " failed: ", cudaGetErrorString(err));
}

int device_count() {
  static const int count = probe_device_count();
  return count;
}

void* allocate(size_t nbytes, int device) {
  DeviceState& s = use(device);
  const uint64_t reserved_before = pool_attribute(s.pool, cudaMemPoolAttrReservedMemCurrent);
  void* p = nullptr;
  cudaError_t err = cudaMallocAsync(&p, nbytes > 0 ? nbytes : 1, s.stream);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    FIBRIL_CUDA_CHECK(cudaStreamSynchronize(s.stream));
    FIBRIL_CUDA_CHECK(cudaMemPoolTrimTo(s.pool, 0));
    err = cudaMallocAsync(&p, nbytes > 0 ? nbytes : 1, s.stream);
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    FIBRIL_FAIL(Memory, "[cuda] out of memory: failed to allocate ", nbytes, " bytes on cuda:", device, " (",
                cudaGetErrorString(err), ")");
  }
  std::lock_guard<std::mutex> lock(g_mutex);
  if (pool_attribute(s.pool, cudaMemPoolAttrReservedMemCurrent) > reserved_before) s.misses++;
  else s.hits++;
  return p;
}

void release(void* ptr, int device) {
  // Runs from destructors: never throws; errors during driver shutdown are ignored.
  if (!ptr || cudaSetDevice(device) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
  std::lock_guard<std::mutex> lock(g_mutex);
  cudaStream_t stream = device < static_cast<int>(g_devices.size()) ? g_devices[device].stream : nullptr;
  if (cudaFreeAsync(ptr, stream) != cudaSuccess) cudaGetLastError();
}

void memcpy(void* dst, const void* src, size_t nbytes, CopyKind kind, int device) {
  DeviceState& s = use(device);
  const cudaMemcpyKind k = kind == CopyKind::HostToDevice   ? cudaMemcpyHostToDevice
                           : kind == CopyKind::DeviceToHost ? cudaMemcpyDeviceToHost
                                                            : cudaMemcpyDeviceToDevice;
  FIBRIL_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, k, s.stream));
  // Host memory is pageable and may be freed or read as soon as we return.
  if (kind != CopyKind::DeviceToDevice) FIBRIL_CUDA_CHECK(cudaStreamSynchronize(s.stream));
}

// A pinned int and an event per thread and device: the copy lands without staging, and the
// event marks it done while later work is still queued.
struct Readback {
  int* host = nullptr;
  cudaEvent_t done = nullptr;
  ~Readback() {  // at thread exit; errors (a runtime already shut down) are ignored
    if (done) cudaEventDestroy(done);
    if (host) cudaFreeHost(host);
  }
};

int read_int_then(const int* value, int device, const std::function<void()>& then) {
  DeviceState& s = use(device);
  thread_local std::vector<Readback> per_device;
  if (per_device.size() <= size_t(device)) per_device.resize(size_t(device) + 1);
  Readback& r = per_device[size_t(device)];
  if (!r.host) {
    FIBRIL_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&r.host), sizeof(int), cudaHostAllocDefault));
    FIBRIL_CUDA_CHECK(cudaEventCreateWithFlags(&r.done, cudaEventDisableTiming));
  }
  FIBRIL_CUDA_CHECK(cudaMemcpyAsync(r.host, value, sizeof(int), cudaMemcpyDeviceToHost, s.stream));
  FIBRIL_CUDA_CHECK(cudaEventRecord(r.done, s.stream));
  then();
  FIBRIL_CUDA_CHECK(cudaEventSynchronize(r.done));
  return *r.host;
}

void synchronize(int device) {
  const int count = device_count();
  FIBRIL_CHECK(count > 0, Runtime, "[cuda] no CUDA device is available (no driver or no GPU)");
  for (int d = device < 0 ? 0 : device; d < (device < 0 ? count : device + 1); ++d) {
    use(d);
    FIBRIL_CUDA_CHECK(cudaDeviceSynchronize());
  }
}

MemoryStats memory_stats(int device) {
  MemoryStats m;
  if (device_count() == 0) return m;
  DeviceState& s = use(device);
  m.allocated = static_cast<int64_t>(pool_attribute(s.pool, cudaMemPoolAttrUsedMemCurrent));
  m.reserved = static_cast<int64_t>(pool_attribute(s.pool, cudaMemPoolAttrReservedMemCurrent));
  m.peak_allocated = static_cast<int64_t>(pool_attribute(s.pool, cudaMemPoolAttrUsedMemHigh));
  std::lock_guard<std::mutex> lock(g_mutex);
  m.hits = s.hits;
  m.misses = s.misses;
  return m;
}

void empty_cache() {
  for (int d = 0; d < device_count(); ++d) {
    DeviceState& s = use(d);
    FIBRIL_CUDA_CHECK(cudaStreamSynchronize(s.stream));
    FIBRIL_CUDA_CHECK(cudaMemPoolTrimTo(s.pool, 0));
  }
}

}  // namespace fibril::cuda::gpu
