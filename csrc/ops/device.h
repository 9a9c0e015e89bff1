// The device an op runs on, and the message when its operands disagree (as PyTorch's
// "Expected all tensors to be on the same device").
#pragma once

#include <initializer_list>

#include "core/array.h"
#include "core/errors.h"

namespace fibril {

// The one device of the arrays (null entries skipped); RuntimeError naming two that differ.
inline Device common_device(const char* op, std::initializer_list<const Array*> arrays) {
  const Array* first = nullptr;
  for (const Array* a : arrays) {
    if (!a) continue;
    if (!first) {
      first = a;
      continue;
    }
    FIBRIL_CHECK(a->device() == first->device(), Runtime, "[", op, "] expected all arrays on the same device, got ",
                 first->describe(), " and ", a->describe());
  }
  return first ? first->device() : Device{};
}

}  // namespace fibril
