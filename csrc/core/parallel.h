// fibril's own thread pool. No OpenMP runtime: GNU OpenMP is not fork-safe, and a
// process that forks after running kernels (DataLoader workers, multiprocessing) would
// deadlock in the child. The pool re-creates itself lazily in a forked child.
//
// parallel_for(begin, end, grain, fn) splits [begin, end) into at most num_threads()
// contiguous chunks of at least `grain` items and calls fn(chunk_begin, chunk_end) once per
// chunk; the calling thread runs the first chunk. It runs inline (one chunk) when the range
// is small, when called from inside a pool task, or while another thread owns the pool,
// so it never oversubscribes. The first exception a chunk throws is rethrown to the caller.
// Chunk bounds depend on the thread count: kernels whose result must not (reductions) fix
// their own blocking and use parallel_for only to distribute blocks.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

namespace fibril {

int get_num_threads();
void set_num_threads(int n);  // ValueError when n < 1

// While true (the default), every parallel_for runs with FTZ/DAZ (denormals flushed) on
// all its threads, the caller included, so results never depend on which thread ran a chunk.
bool get_flush_denormal();
void set_flush_denormal(bool on);

// A non-owning callable reference: no allocation per parallel_for call.
class RangeFn {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, RangeFn>>>
  RangeFn(F&& f)  // NOLINT: implicit on purpose
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, int64_t b, int64_t e) { (*static_cast<std::remove_reference_t<F>*>(o))(b, e); }) {}
  void operator()(int64_t b, int64_t e) const { call_(obj_, b, e); }

 private:
  void* obj_;
  void (*call_)(void*, int64_t, int64_t);
};

void parallel_for(int64_t begin, int64_t end, int64_t grain, RangeFn fn);

bool in_parallel_region();  // true inside a pool task (callers may choose serial inner loops)

}  // namespace fibril
