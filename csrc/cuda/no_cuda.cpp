// The GPU runtime of a build without CUDA: queries answer "none", the rest raise. (The
// emulator, FIBRIL_CUDA_EMULATOR=1, still works in such a build.)
#include "core/errors.h"
#include "cuda/backend.h"

namespace fibril::cuda::gpu {
namespace {
[[noreturn]] void unavailable() {
  FIBRIL_FAIL(Runtime, "fibril was built without CUDA support (rebuild with nvcc on PATH or FIBRIL_CUDA=ON)");
}
}  // namespace

int device_count() { return 0; }
void* allocate(size_t, int) { unavailable(); }
void release(void*, int) {}
void memcpy(void*, const void*, size_t, CopyKind, int) { unavailable(); }
void synchronize(int) {}
int read_int_then(const int*, int, const std::function<void()>&) { unavailable(); }
MemoryStats memory_stats(int) { return {}; }
void empty_cache() {}

}  // namespace fibril::cuda::gpu
