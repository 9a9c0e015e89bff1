// PyTorch's type promotion over fibril's dtypes (bool < uint8 < int32 < int64 < float32 <
// float64). An operand's priority comes from its kind: arrays with dims > 0-d arrays >
// wrapped Python numbers. A lower-priority operand changes the result only when its category
// (bool < integral < floating) is higher: then a wrapped float counts as float32 (the default
// dtype), a wrapped int as int64, a 0-d array as its own dtype.
#pragma once

#include <initializer_list>

#include "core/array.h"

namespace fibril {

// An elementwise operand; `wrapped` marks a 0-d array made from a Python number.
struct Operand {
  const Array* array;
  bool wrapped = false;
};

DType promote_types(DType a, DType b);  // the smallest dtype both convert to
DType result_type(std::initializer_list<Operand> operands);

// torch.can_cast: no floating -> integral, nothing but bool -> bool.
bool can_cast(DType from, DType to);

// PyTorch's names ("Float", "Long", ...), for messages that read like PyTorch's.
const char* torch_type_name(DType dt);

}  // namespace fibril
