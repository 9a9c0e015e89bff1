// The one size above which CPU kernels write their outputs with streaming (non-temporal)
// stores: such outputs outgrow the caches, and a streaming store skips the read of each line
// that a plain store makes first (4 of the 12 bytes a plain float copy moves). Used by the
// elementwise, copy, activation, softmax and norm families. At 8 MiB instead, relu and
// layer_norm with 6.4 MB outputs ran 1.5-2x slower (plain stores evicting their inputs).
#pragma once

#include <cstdint>

namespace fibril::cpu {

constexpr int64_t kStreamBytes = int64_t{4} << 20;

}  // namespace fibril::cpu
