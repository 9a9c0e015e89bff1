// The emulator's self-test kernels (emu_selftest.cpp).
#pragma once

#include <vector>

namespace fibril::cuda::emu {

// Per block of `block` threads: the sum of its x values (x.size() a multiple of block).
std::vector<float> selftest_block_sums(const std::vector<float>& x, unsigned block);
// Runs a kernel whose barriers can never be met: must raise RuntimeError.
void selftest_divergent_barrier();

}  // namespace fibril::cuda::emu
