// The emulator's runtime: one device whose memory is host memory. Allocations are filled
// with 0xff bytes (NaN as floats), so a kernel that reads what it never wrote shows it.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "core/errors.h"
#include "cuda/backend.h"

namespace fibril::cuda::emu {
namespace {

std::mutex g_mutex;
std::unordered_map<void*, size_t> g_sizes;
MemoryStats g_stats;

void check_device(int device) {
  FIBRIL_CHECK(device == 0, Runtime, "[cuda emulator] device ", device, " does not exist (1 device)");
}

}  // namespace

int device_count() { return 1; }

void* allocate(size_t nbytes, int device) {
  check_device(device);
  void* p = std::aligned_alloc(256, (nbytes + 255) / 256 * 256 + 256);
  FIBRIL_CHECK(p, Memory, "[cuda emulator] out of memory: failed to allocate ", nbytes, " bytes");
  std::memset(p, 0xff, nbytes);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_sizes[p] = nbytes;
  g_stats.allocated += int64_t(nbytes);
  g_stats.reserved = g_stats.allocated;
  g_stats.peak_allocated = std::max(g_stats.peak_allocated, g_stats.allocated);
  g_stats.misses++;
  g_stats.allocations++;
  return p;
}

void release(void* ptr, int) {
  if (!ptr) return;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_sizes.find(ptr);
    if (it == g_sizes.end()) return;
    g_stats.allocated -= int64_t(it->second);
    g_stats.reserved = g_stats.allocated;
    g_stats.allocations--;
    g_sizes.erase(it);
  }
  std::free(ptr);
}

void memcpy(void* dst, const void* src, size_t nbytes, CopyKind, int device) {
  check_device(device);
  if (nbytes) std::memcpy(dst, src, nbytes);
}

int read_int_then(const int* value, int device, const std::function<void()>& then) {
  int v = 0;
  emu::memcpy(&v, value, sizeof(int), CopyKind::DeviceToHost, device);
  then();
  return v;
}

void synchronize(int device) {
  if (device >= 0) check_device(device);
}

MemoryStats memory_stats(int device) {
  check_device(device);
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_stats;
}

void empty_cache() {}

}  // namespace fibril::cuda::emu
