// Caching CPU allocator. Blocks are 64-byte aligned and rounded up to a size class
// (multiples of 64 B up to 512 B, then four classes per power of two, so at most 25%
// slack). A freed block goes to its class's free list and is handed out again without a
// system call; memory goes back to the system only on empty_cache() or when a system
// allocation fails (then the cache is emptied and the allocation retried once).
#pragma once

#include <cstddef>
#include <cstdint>

namespace fibril {

struct MemoryStats {
  int64_t allocated = 0;       // bytes in blocks handed out now
  int64_t reserved = 0;        // bytes held from the system (handed out + cached)
  int64_t peak_allocated = 0;  // high-water mark of `allocated`
  int64_t hits = 0;            // requests served from the cache
  int64_t misses = 0;          // requests that went to the system
  int64_t allocations = 0;     // blocks handed out now
};

namespace cpu_allocator {

size_t size_class(size_t nbytes);  // the block size a request of nbytes gets
void* allocate(size_t nbytes);     // throws MemoryError naming the size; never returns null
void release(void* ptr, size_t nbytes);  // nbytes: the size passed to allocate()
MemoryStats stats();
void empty_cache();
void reset_peak();

}  // namespace cpu_allocator
}  // namespace fibril
