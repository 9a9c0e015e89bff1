// The CUDA backend of a build without CUDA: queries answer "none", the rest raise.
#include "core/errors.h"
#include "cuda/backend.h"

namespace fibril::cuda {
namespace {
[[noreturn]] void unavailable() {
  FIBRIL_FAIL(Runtime, "fibril was built without CUDA support (rebuild with nvcc on PATH or FIBRIL_CUDA=ON)");
}
}  // namespace

bool built_with_cuda() { return false; }
int device_count() { return 0; }
void* allocate(size_t, int) { unavailable(); }
void release(void*, int) {}
void memcpy(void*, const void*, size_t, CopyKind, int) { unavailable(); }
void fill(void*, DType, int64_t, double, int) { unavailable(); }
void gather_strided(void*, const void*, DType, int, const int64_t*, const int64_t*, int) { unavailable(); }
void synchronize(int) {}
MemoryStats memory_stats(int) { return {}; }
void empty_cache() {}

}  // namespace fibril::cuda
