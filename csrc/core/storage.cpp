#include "core/storage.h"

#include "core/allocator.h"
#include "core/errors.h"
#include "cuda/backend.h"

namespace fibril {

Device parse_device(const std::string& spec) {
  if (spec == "cpu") return {DeviceType::cpu, 0};
  if (spec == "cuda") return {DeviceType::cuda, 0};
  if (spec.rfind("cuda:", 0) == 0 && spec.size() > 5 && spec.size() < 9 &&
      spec.find_first_not_of("0123456789", 5) == std::string::npos) {
    return {DeviceType::cuda, std::stoi(spec.substr(5))};
  }
  FIBRIL_FAIL(Value, "invalid device '", spec, "' (expected 'cpu', 'cuda' or 'cuda:N')");
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  if (device.is_cpu()) {
    void* p = cpu_allocator::allocate(nbytes);
    return std::make_shared<Storage>(p, nbytes, device,
                                     [nbytes](void* q) { cpu_allocator::release(q, nbytes); });
  }
  int index = device.index;
  void* p = cuda::allocate(nbytes, index);
  return std::make_shared<Storage>(p, nbytes, device, [index](void* q) { cuda::release(q, index); });
}

}  // namespace fibril
