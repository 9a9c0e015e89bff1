// Sorting along the middle dim of contiguous (outer, n, inner) arrays: the first k elements in
// order (k = n: a full sort), values and int64 indices into (outer, k, inner) arrays.
// Scalar code, built once: comparisons gain nothing from the ISA builds' wider lanes.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace fibril::cpu {

struct SortArgs {
  DType dtype;  // float32, float64, int64, int32, uint8 or bool
  const char* in;
  int64_t outer, n, inner, k;
  bool descending;
  char* values;
  int64_t* indices;
};

void sort(const SortArgs& args);

}  // namespace fibril::cpu
