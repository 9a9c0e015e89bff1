// A block of memory on one device, shared by every Array that views it. Memory comes
// either from fibril's allocators or from a foreign owner (numpy, DLPack) whose release
// function runs when the last view dies.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "core/device.h"

namespace fibril {

class Storage {
 public:
  using Release = std::function<void(void*)>;

  Storage(void* data, size_t nbytes, Device device, Release release)
      : data_(data), nbytes_(nbytes), device_(device), release_(std::move(release)) {}
  ~Storage() {
    if (release_) release_(data_);
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  // Fresh memory from the CPU caching allocator or the device allocator.
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device);

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  Release release_;
};

}  // namespace fibril
