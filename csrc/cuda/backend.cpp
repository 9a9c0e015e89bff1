// Picks the backend for each runtime call: the emulator or the GPU (see backend.h).
#include "cuda/backend.h"

#include <cstdlib>
#include <cstring>

namespace fibril::cuda {

#ifdef FIBRIL_WITH_CUDA
bool built_with_cuda() { return true; }
#else
bool built_with_cuda() { return false; }
#endif

bool emulating() {
  static const bool on = [] {
    const char* v = std::getenv("FIBRIL_CUDA_EMULATOR");
    return v && std::strcmp(v, "1") == 0;
  }();
  return on;
}

int device_count() { return emulating() ? emu::device_count() : gpu::device_count(); }
void* allocate(size_t nbytes, int device) {
  return emulating() ? emu::allocate(nbytes, device) : gpu::allocate(nbytes, device);
}
void release(void* ptr, int device) { emulating() ? emu::release(ptr, device) : gpu::release(ptr, device); }
void memcpy(void* dst, const void* src, size_t nbytes, CopyKind kind, int device) {
  emulating() ? emu::memcpy(dst, src, nbytes, kind, device) : gpu::memcpy(dst, src, nbytes, kind, device);
}
void synchronize(int device) { emulating() ? emu::synchronize(device) : gpu::synchronize(device); }
MemoryStats memory_stats(int device) { return emulating() ? emu::memory_stats(device) : gpu::memory_stats(device); }
void empty_cache() { emulating() ? emu::empty_cache() : gpu::empty_cache(); }

void fill(void* dst, DType dtype, int64_t count, double value, int device) {
  FIBRIL_CUDA_CALL(fill, dst, dtype, count, value, device);
}

}  // namespace fibril::cuda
