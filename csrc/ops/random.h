// The random family's op layer, device-independent: argument checks ("[op]"-prefixed,
// PyTorch's exception types), contiguous staging, then the backend's Philox kernels.
//
// Every op draws from (seed, offset): offset is the first Philox counter block it may use,
// and an op on n random elements uses blocks [offset, offset + ceil(n / 4)) (see
// cpu/random.cpp). The Python Generator owns (seed, offset) and advances it; this layer
// keeps no state. The fills write every element of `out` (any layout) in row-major order.
#pragma once

#include <cstdint>
#include <utility>

#include "core/array.h"

namespace fibril::ops {

struct PhiloxState {
  uint64_t seed;
  uint64_t offset;  // in 4-element counter blocks
};

// Floating out only; from <= to, both finite (ValueError / RuntimeError as torch.uniform_).
void uniform_(Array& out, double from, double to, PhiloxState rng);
// Floating out only; std >= 0.
void normal_(Array& out, double mean, double std, PhiloxState rng);
// 0/1 in out's dtype with probability p in [0, 1] (ValueError otherwise).
void bernoulli_(Array& out, double p, PhiloxState rng);
// Per-element probabilities p (floating, broadcast to out; each in [0, 1], RuntimeError).
void bernoulli_(Array& out, const Array& p, PhiloxState rng);
// Integers in [low, high), low < high (RuntimeError otherwise); any out dtype but bool.
void randint_(Array& out, int64_t low, int64_t high, PhiloxState rng);

// (x * mask, mask) with mask = 1/(1-p) with probability 1-p, else 0; floating x, p in [0, 1].
std::pair<Array, Array> dropout(const Array& x, double p, PhiloxState rng);

// A random permutation of 0..n-1 (int64): the indices sorted by random 64-bit keys (ties,
// vanishingly rare, by index). Uses ceil(n / 4) blocks.
Array randperm(int64_t n, PhiloxState rng);

// int64 [num_samples] (or [rows, num_samples]) category indices drawn from the rows of
// probs (1-D or 2-D, floating, non-negative, finite, a positive sum per row). With
// replacement, sample s of row r reads element r * num_samples + s; without, element
// r * categories + c keys category c (exponential race: the num_samples smallest
// -ln(u) / p_c, in that order). multinomial_elements says how many elements it reads.
Array multinomial(const Array& probs, int64_t num_samples, bool replacement, PhiloxState rng);
int64_t multinomial_elements(const Array& probs, int64_t num_samples, bool replacement);

}  // namespace fibril::ops
