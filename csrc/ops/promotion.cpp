#include "ops/promotion.h"

namespace fibril {
namespace {

// Rank in the promotion lattice: promotion is the higher rank, except that float16 and
// bfloat16 (same rank, neither holds the other) meet at float32.
int rank(DType dt) {
  switch (dt) {
    case DType::bool_: return 0;
    case DType::uint8: return 1;
    case DType::int32: return 2;
    case DType::int64: return 3;
    case DType::float16: return 4;
    case DType::bfloat16: return 4;
    case DType::float32: return 5;
    case DType::float64: return 6;
  }
  return 0;
}

enum class Category { bool_, integral, floating };

Category category(DType dt) {
  if (dt == DType::bool_) return Category::bool_;
  return is_floating_point(dt) ? Category::floating : Category::integral;
}

struct Slot {  // one priority class's promoted dtype so far
  bool set = false;
  DType dtype = DType::bool_;
  void add(DType dt) {
    dtype = set ? promote_types(dtype, dt) : dt;
    set = true;
  }
};

// PyTorch's combine_categories: `lower` counts only where its category is higher.
Slot combine(Slot higher, Slot lower) {
  if (!higher.set) return lower;
  if (!lower.set || category(lower.dtype) <= category(higher.dtype)) return higher;
  higher.add(lower.dtype);
  return higher;
}

}  // namespace

DType promote_types(DType a, DType b) {
  if (a != b && rank(a) == rank(b)) return DType::float32;
  return rank(a) >= rank(b) ? a : b;
}

DType result_type(std::initializer_list<Operand> operands) {
  Slot dim, zero_dim, wrapped;
  for (const Operand& op : operands) {
    DType dt = op.array->dtype();
    if (op.wrapped) {
      wrapped.add(dt == DType::float64 ? DType::float32 : dt);
    } else if (op.array->ndim() > 0) {
      dim.add(dt);
    } else {
      zero_dim.add(dt);
    }
  }
  return combine(dim, combine(zero_dim, wrapped)).dtype;
}

bool can_cast(DType from, DType to) {
  if (is_floating_point(from) && !is_floating_point(to)) return false;
  return from == DType::bool_ || to != DType::bool_;
}

const char* torch_type_name(DType dt) {
  switch (dt) {
    case DType::float32: return "Float";
    case DType::float64: return "Double";
    case DType::int64: return "Long";
    case DType::int32: return "Int";
    case DType::uint8: return "Byte";
    case DType::bool_: return "Bool";
    case DType::float16: return "Half";
    case DType::bfloat16: return "BFloat16";
  }
  return "?";
}

}  // namespace fibril
