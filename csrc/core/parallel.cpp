#include "core/parallel.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FIBRIL_X86 1
#endif

#include "core/errors.h"

namespace fibril {
namespace {

thread_local bool t_in_pool_task = false;

inline void cpu_relax() {
#ifdef FIBRIL_X86
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

#ifdef FIBRIL_X86
constexpr unsigned kFtzDaz = 0x8040;  // MXCSR flush-to-zero | denormals-are-zero
#endif

// Restores the caller's floating-point mode when a parallel_for ends.
class DenormalMode {
 public:
  explicit DenormalMode(bool flush) {
#ifdef FIBRIL_X86
    saved_ = _mm_getcsr();
    _mm_setcsr(flush ? (saved_ | kFtzDaz) : (saved_ & ~kFtzDaz));
#else
    (void)flush;
#endif
  }
  ~DenormalMode() {
#ifdef FIBRIL_X86
    _mm_setcsr(saved_);
#endif
  }

 private:
  unsigned saved_ = 0;
};

int default_num_threads() {
  if (const char* env = std::getenv("FIBRIL_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// Workers spin briefly after a task (kernels come in bursts), then sleep on a condition.
class ThreadPool {
 public:
  explicit ThreadPool(int num_workers) {
    for (int i = 0; i < num_workers; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
  }

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  int num_workers() const { return static_cast<int>(workers_.size()); }

  // Runs chunk 0 on the caller and chunks 1..n-1 on workers 0..n-2.
  void run(int64_t begin, int64_t end, int num_chunks, RangeFn fn, bool flush) {
    begin_ = begin;
    end_ = end;
    num_chunks_ = num_chunks;
    fn_ = &fn;
    flush_ = flush;
    error_ = nullptr;
    pending_.store(num_workers(), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();

    std::exception_ptr caller_error;
    {
      DenormalMode mode(flush);
      t_in_pool_task = true;
      try {
        run_chunk(0);
      } catch (...) {
        caller_error = std::current_exception();
      }
      t_in_pool_task = false;
    }
    for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
      if (spins < 100000) cpu_relax();
      else std::this_thread::yield();
    }
    if (caller_error) std::rethrow_exception(caller_error);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void run_chunk(int chunk) {
    int64_t n = end_ - begin_;
    int64_t lo = begin_ + n * chunk / num_chunks_;
    int64_t hi = begin_ + n * (chunk + 1) / num_chunks_;
    if (lo < hi) (*fn_)(lo, hi);
  }

  void worker_loop(int index) {
    t_in_pool_task = true;
    uint64_t seen = 0;
    for (;;) {
      uint64_t gen = generation_.load(std::memory_order_acquire);
      for (int spins = 0; gen == seen && spins < 20000; ++spins) {
        cpu_relax();
        gen = generation_.load(std::memory_order_acquire);
      }
      if (gen == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        gen = generation_.load(std::memory_order_acquire);
      }
      seen = gen;
      if (stop_) return;
      if (index + 1 < num_chunks_) {
        DenormalMode mode(flush_);
        try {
          run_chunk(index + 1);
        } catch (...) {
          std::lock_guard<std::mutex> lock(mutex_);
          if (!error_) error_ = std::current_exception();
        }
      }
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  bool stop_ = false;
  // The task; written by the caller before generation_ is bumped, read by workers after.
  int64_t begin_ = 0, end_ = 0;
  int num_chunks_ = 0;
  const RangeFn* fn_ = nullptr;
  bool flush_ = true;
  std::exception_ptr error_;
};

// Guards the pool pointer and serializes its use. Leaked so that no destructor joins
// threads during interpreter shutdown.
struct PoolState {
  std::mutex owner;
  ThreadPool* pool = nullptr;
  int num_threads = default_num_threads();
  bool flush_denormal = true;
};
PoolState* g_state = new PoolState();

void after_fork_in_child() {
  // The workers do not exist in the child: forget (leak) the pool and start afresh with
  // the parent's settings. The old state's mutex stays locked with it.
  PoolState* fresh = new PoolState();
  fresh->num_threads = g_state->num_threads;
  fresh->flush_denormal = g_state->flush_denormal;
  g_state = fresh;
}

const int g_atfork_registered = pthread_atfork([] { g_state->owner.lock(); },
                                               [] { g_state->owner.unlock(); },
                                               after_fork_in_child);

}  // namespace

int get_num_threads() {
  std::lock_guard<std::mutex> lock(g_state->owner);
  return g_state->num_threads;
}

void set_num_threads(int n) {
  FIBRIL_CHECK(n >= 1, Value, "[set_num_threads] number of threads must be >= 1, got ", n);
  std::lock_guard<std::mutex> lock(g_state->owner);
  if (n == g_state->num_threads) return;
  delete g_state->pool;
  g_state->pool = nullptr;
  g_state->num_threads = n;
}

bool get_flush_denormal() { return g_state->flush_denormal; }
void set_flush_denormal(bool on) { g_state->flush_denormal = on; }

bool in_parallel_region() { return t_in_pool_task; }

void parallel_for(int64_t begin, int64_t end, int64_t grain, RangeFn fn) {
  if (begin >= end) return;
  PoolState& state = *g_state;
  bool flush = state.flush_denormal;
  grain = std::max<int64_t>(grain, 1);
  int64_t max_chunks = (end - begin + grain - 1) / grain;
  if (max_chunks > 1 && !t_in_pool_task) {
    std::unique_lock<std::mutex> lock(state.owner, std::try_to_lock);
    int chunks = static_cast<int>(std::min<int64_t>(max_chunks, state.num_threads));
    if (lock.owns_lock() && chunks > 1) {
      if (!state.pool) state.pool = new ThreadPool(state.num_threads - 1);
      state.pool->run(begin, end, chunks, fn, flush);
      return;
    }
  }
  DenormalMode mode(flush);
  fn(begin, end);
}

}  // namespace fibril
