// Kernel scratch memory: a block of the caching allocator, returned on scope exit.
#pragma once

#include <cstddef>

#include "core/allocator.h"
#include "cpu/kernels.h"

namespace fibril::cpu::FIBRIL_ISA {

class Scratch {
 public:
  explicit Scratch(size_t bytes) : bytes_(bytes), ptr_(bytes ? cpu_allocator::allocate(bytes) : nullptr) {}
  ~Scratch() {
    if (ptr_) cpu_allocator::release(ptr_, bytes_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  size_t bytes_;
  void* ptr_;
};

}  // namespace fibril::cpu::FIBRIL_ISA
