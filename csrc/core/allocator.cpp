#include "core/allocator.h"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/errors.h"

namespace fibril::cpu_allocator {
namespace {

constexpr size_t kAlignment = 64;
// Large blocks are 2 MiB aligned and advised as transparent huge pages: kernels that walk
// big arrays with strides (transposes, convolutions) miss the TLB far less.
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHugeThreshold = size_t{4} << 20;
// A single block larger than the machine's RAM is refused up front: with memory overcommit
// the system may hand out such a block and the process dies on first touch instead of
// raising (seen on a 128 GiB GPU host: a 10^15-byte request "succeeded").
size_t max_request() {
  static const size_t limit = [] {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : size_t{1} << 60;
  }();
  return limit;
}

struct Cache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // size class -> blocks
  MemoryStats stats;
};

// Leaked on purpose: blocks may be released by static destructors of other modules.
Cache* const g_cache = new Cache();

Cache& cache() { return *g_cache; }

// A fork while another thread holds the lock would leave the child's copy locked forever.
const int g_atfork_registered = pthread_atfork([] { g_cache->mutex.lock(); },
                                               [] { g_cache->mutex.unlock(); },
                                               [] { g_cache->mutex.unlock(); });

void release_cached_locked(Cache& c) {
  for (auto& [size, blocks] : c.free_blocks) {
    for (void* p : blocks) std::free(p);
    c.stats.reserved -= static_cast<int64_t>(size * blocks.size());
  }
  c.free_blocks.clear();
}

void* system_allocate(size_t size) {
  if (size < kHugeThreshold) return std::aligned_alloc(kAlignment, size);
  void* p = std::aligned_alloc(kHugePage, (size + kHugePage - 1) / kHugePage * kHugePage);
  if (p) madvise(p, size, MADV_HUGEPAGE);  // advice only: failure changes nothing
  return p;
}

}  // namespace

size_t size_class(size_t nbytes) {
  if (nbytes <= 512) return nbytes <= kAlignment ? kAlignment : (nbytes + kAlignment - 1) & ~(kAlignment - 1);
  size_t quarter = size_t{1} << (63 - __builtin_clzll(nbytes - 1) - 2);  // 2^(e-2), 2^e >= nbytes
  return (nbytes + quarter - 1) / quarter * quarter;
}

void* allocate(size_t nbytes) {
  FIBRIL_CHECK(nbytes <= max_request(), Memory, "[allocator] cannot allocate ", nbytes,
               " bytes: more than this machine's memory (", max_request(), " bytes)");
  size_t size = size_class(nbytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.stats.hits++;
      c.stats.allocations++;
      c.stats.allocated += static_cast<int64_t>(size);
      if (c.stats.allocated > c.stats.peak_allocated) c.stats.peak_allocated = c.stats.allocated;
      return p;
    }
  }
  void* p = system_allocate(size);
  std::lock_guard<std::mutex> lock(c.mutex);
  if (!p) {
    release_cached_locked(c);
    p = system_allocate(size);
  }
  FIBRIL_CHECK(p != nullptr, Memory, "[allocator] out of memory: failed to allocate ", nbytes,
               " bytes (", c.stats.allocated, " bytes in use by fibril)");
  c.stats.misses++;
  c.stats.allocations++;
  c.stats.allocated += static_cast<int64_t>(size);
  c.stats.reserved += static_cast<int64_t>(size);
  if (c.stats.allocated > c.stats.peak_allocated) c.stats.peak_allocated = c.stats.allocated;
  return p;
}

void release(void* ptr, size_t nbytes) {
  if (!ptr) return;
  size_t size = size_class(nbytes);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.free_blocks[size].push_back(ptr);
  c.stats.allocations--;
  c.stats.allocated -= static_cast<int64_t>(size);
}

MemoryStats stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.stats;
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  release_cached_locked(c);
}

void reset_peak() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.stats.peak_allocated = c.stats.allocated;
}

}  // namespace fibril::cpu_allocator
