// The CUDA emulator's scheduler (see emu.h). Each thread of a block is a ucontext fiber on the
// launching thread; a fiber runs until it finishes or waits at a barrier, then the next one
// runs. When every fiber waits, the barriers whose members have all arrived are released; if
// none can be, the kernel is deadlocked (a barrier some live thread never reaches) and the
// launch raises. Launches are serialized by a mutex, so the coordinates can be globals.
#include "cuda/emu.h"

#include <ucontext.h>

#include <memory>
#include <mutex>
#include <vector>

#include "core/errors.h"

namespace fibril::cuda::emu {

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace {

enum class State : uint8_t { runnable, at_block_barrier, at_warp_barrier, done };

constexpr size_t kStackBytes = 256 * 1024;  // kernels keep register tiles in locals
constexpr unsigned kMaxThreads = 1024;
constexpr size_t kMaxSharedBytes = 227 * 1024;  // the H100's per-block maximum

struct Fiber {
  ucontext_t context;
  State state = State::done;
  std::unique_ptr<char[]> stack;
};

struct Scheduler {
  ucontext_t main;
  std::vector<Fiber> fibers;
  std::vector<uint64_t> offered;  // per thread: the value of its last exchange()
  std::vector<unsigned char> shared;
  unsigned current = 0;
  const std::function<void()>* body = nullptr;
};

Scheduler g;
std::mutex g_launch;

void fiber_main() {
  (*g.body)();
  g.fibers[g.current].state = State::done;  // returning resumes `main` (uc_link)
}

void wait_at(State barrier) {
  Fiber& f = g.fibers[g.current];
  f.state = barrier;
  swapcontext(&f.context, &g.main);
}

void set_coordinates(unsigned linear) {
  threadIdx.x = linear % blockDim.x;
  threadIdx.y = (linear / blockDim.x) % blockDim.y;
  threadIdx.z = linear / (blockDim.x * blockDim.y);
}

// Releases the barriers that every live member has reached; false when none can be.
bool release_barriers(unsigned n) {
  bool released = false;
  unsigned live = 0, at_block = 0;
  for (unsigned w = 0; w < n; w += 32) {
    unsigned live_lanes = 0, waiting = 0;
    for (unsigned t = w; t < n && t < w + 32; ++t) {
      live_lanes += g.fibers[t].state != State::done;
      waiting += g.fibers[t].state == State::at_warp_barrier;
      at_block += g.fibers[t].state == State::at_block_barrier;
    }
    live += live_lanes;
    if (waiting > 0 && waiting == live_lanes) {
      for (unsigned t = w; t < n && t < w + 32; ++t) g.fibers[t].state = State::runnable;
      released = true;
    }
  }
  if (!released && live > 0 && at_block == live) {
    for (unsigned t = 0; t < n; ++t) {
      if (g.fibers[t].state == State::at_block_barrier) g.fibers[t].state = State::runnable;
    }
    released = true;
  }
  return released;
}

void run_block(const char* kernel, unsigned n) {
  for (unsigned t = 0; t < n; ++t) {
    Fiber& f = g.fibers[t];
    getcontext(&f.context);  // afresh: a used context holds a stale floating-point environment
    f.context.uc_stack.ss_sp = f.stack.get();
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = &g.main;
    makecontext(&f.context, fiber_main, 0);
    f.state = State::runnable;
  }
  for (;;) {
    bool any_live = false;
    for (unsigned t = 0; t < n; ++t) {
      if (g.fibers[t].state != State::runnable) continue;
      g.current = t;
      set_coordinates(t);
      swapcontext(&g.main, &g.fibers[t].context);
    }
    for (unsigned t = 0; t < n && !any_live; ++t) any_live = g.fibers[t].state != State::done;
    if (!any_live) return;
    FIBRIL_CHECK(release_barriers(n), Runtime, "[cuda emulator] kernel ", kernel, " deadlocked in block (",
                 blockIdx.x, ", ", blockIdx.y, ", ", blockIdx.z, "): a __syncthreads or warp barrier that some "
                 "live thread never reaches");
  }
}

}  // namespace

void run_grid(const char* kernel, dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body) {
  const uint64_t n = uint64_t(block.x) * block.y * block.z;
  FIBRIL_CHECK(n >= 1 && n <= kMaxThreads, Runtime, "[cuda emulator] kernel ", kernel, ": ", n,
               " threads per block (1 to ", kMaxThreads, " allowed)");
  FIBRIL_CHECK(smem_bytes <= kMaxSharedBytes, Runtime, "[cuda emulator] kernel ", kernel, ": ", smem_bytes,
               " bytes of dynamic shared memory (at most ", kMaxSharedBytes, ")");
  if (uint64_t(grid.x) * grid.y * grid.z == 0) return;
  std::lock_guard<std::mutex> lock(g_launch);
  while (g.fibers.size() < n) {
    g.fibers.emplace_back();
    g.fibers.back().stack.reset(new char[kStackBytes]);
  }
  g.offered.assign(n, 0);
  g.shared.assign(smem_bytes, 0xff);  // NaN-filled, like uninitialized memory should look
  g.body = &body;
  blockDim = block;
  gridDim = grid;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        blockIdx = {x, y, z};
        run_block(kernel, unsigned(n));
      }
  g.body = nullptr;
}

void* dynamic_shared_memory() { return g.shared.data(); }

void syncthreads() { wait_at(State::at_block_barrier); }
void syncwarp() { wait_at(State::at_warp_barrier); }
unsigned lane() { return g.current % 32; }

uint64_t exchange(uint64_t value, unsigned src_lane) {
  const unsigned warp_base = g.current & ~31u;
  g.offered[g.current] = value;
  syncwarp();  // every live lane has offered
  const unsigned src = warp_base + src_lane;
  const uint64_t got = src < g.offered.size() ? g.offered[src] : value;
  syncwarp();  // every lane has read before the next exchange overwrites
  return got;
}

}  // namespace fibril::cuda::emu
