#include "core/parallel.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
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

// How long an idle worker spins before it sleeps. Long enough to bridge the Python between
// the kernels of a training step: with 300 us, a small MLP's step after an idle moment ran
// 1.5x slower (each kernel woke a sleeping worker, ~200 us on a virtual machine) and never
// recovered within 20 steps; libgomp, torch's pool, spins for milliseconds too.
constexpr std::chrono::microseconds kSpin{2000};

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

constexpr int kMaxThreads = 1024;

int default_num_threads() {
  if (const char* env = std::getenv("FIBRIL_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return std::min(n, kMaxThreads);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::clamp(CPU_COUNT(&set), 1, kMaxThreads);
  return std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, kMaxThreads);
}

// Chunks are claimed dynamically from one atomic word, (generation | chunk count | next
// chunk), by the caller and the workers alike. Chunk bounds depend only on the chunk count,
// so results never depend on which thread ran a chunk; and when a worker is descheduled (a
// loaded machine) the caller takes its chunks instead of waiting for it to wake. A worker
// that wakes late finds the generation moved on, or nothing left to claim. Workers spin
// briefly after a task (kernels come in bursts), then sleep on a condition variable.
class ThreadPool {
 public:
  explicit ThreadPool(int num_workers) {
    for (int i = 0; i < num_workers; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_.store(true, std::memory_order_relaxed);
      claims_.fetch_add(kGenerationOne, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  void run(int64_t begin, int64_t end, int num_chunks, RangeFn fn, bool flush) {  // num_chunks < 2^16
    begin_ = begin;
    end_ = end;
    fn_ = &fn;
    flush_ = flush;
    error_ = nullptr;
    done_.store(0, std::memory_order_relaxed);
    const uint64_t generation = (claims_.load(std::memory_order_relaxed) >> 32) + 1;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      claims_.store(generation << 32 | uint64_t(num_chunks) << 16, std::memory_order_release);
    }
    wake_.notify_all();
    t_in_pool_task = true;
    work_on(generation);
    t_in_pool_task = false;
    for (int spins = 0; done_.load(std::memory_order_acquire) != num_chunks; ++spins) {
      if (spins < 100000) cpu_relax();
      else std::this_thread::yield();
    }
    if (error_) std::rethrow_exception(error_);
  }

 private:
  static constexpr uint64_t kGenerationOne = uint64_t{1} << 32;

  // Claims and runs chunks of `generation` until none is left.
  void work_on(uint64_t generation) {
    uint64_t word = claims_.load(std::memory_order_acquire);
    for (;;) {
      const uint64_t total = (word >> 16) & 0xFFFF, next = word & 0xFFFF;
      if ((word >> 32) != generation || next >= total) return;
      if (!claims_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel)) continue;
      // The claimed chunk keeps this task's fields stable until it is counted done.
      DenormalMode mode(flush_);
      try {
        const int64_t n = end_ - begin_;
        const int64_t lo = begin_ + n * int64_t(next) / int64_t(total);
        const int64_t hi = begin_ + n * int64_t(next + 1) / int64_t(total);
        if (lo < hi) (*fn_)(lo, hi);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      done_.fetch_add(1, std::memory_order_acq_rel);
      word = claims_.load(std::memory_order_acquire);
    }
  }

  void worker_loop() {
    t_in_pool_task = true;
    uint64_t seen = 0;
    for (;;) {
      uint64_t generation = claims_.load(std::memory_order_acquire) >> 32;
      // Spin for a while by the clock, not by a count (a pause lasts 3 to 140 cycles by CPU):
      // a kernel's parallel steps come microseconds apart, and waking a sleeping thread costs
      // tens to hundreds of microseconds on a virtual machine.
      const auto spin_until = std::chrono::steady_clock::now() + kSpin;
      for (int spins = 0; generation == seen; ++spins) {
        cpu_relax();
        generation = claims_.load(std::memory_order_acquire) >> 32;
        if (spins % 64 == 63 && std::chrono::steady_clock::now() > spin_until) break;
      }
      if (generation == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return (claims_.load(std::memory_order_acquire) >> 32) != seen; });
        generation = claims_.load(std::memory_order_acquire) >> 32;
      }
      seen = generation;
      if (stop_.load(std::memory_order_relaxed)) return;
      work_on(generation);
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> claims_{0};  // generation << 32 | chunk count << 16 | next chunk
  std::atomic<int> done_{0};
  std::atomic<bool> stop_{false};
  // The task; written by the caller before claims_ is published, read after a claim.
  int64_t begin_ = 0, end_ = 0;
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
  FIBRIL_CHECK(n >= 1 && n <= kMaxThreads, Value, "[set_num_threads] number of threads must be in [1, ",
               kMaxThreads, "], got ", n);
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
