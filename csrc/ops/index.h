// The index family's gather-type ops, device-independent: argument checks, result shapes,
// then the backend's kernels. PyTorch semantics (torch.gather, scatter, scatter_add,
// index_select, index_add, index_put_ along one dim, nonzero).
//
// Indices are int64 (index_select, index_add and index_put_ also take int32); anything else
// is a TypeError. An index outside [0, size) is an IndexError naming it, the dim and the
// size; only wrap_index accepts negative indices (advanced indexing wraps them, as PyTorch).
#pragma once

#include "core/array.h"

namespace fibril::ops {

// out[i][j] = x[index[i][j]][j] (dim 0), ...: out has index's shape and x's dtype.
Array gather(const Array& x, int64_t dim, const Array& index);

// A copy of x with out[index[i][j]][j] = src[i][j] (dim 0), ... (add: +=, in ascending
// order of the index position along dim, whatever the thread count).
Array scatter(const Array& x, int64_t dim, const Array& index, const Array& src, bool add);

// The slices of x at `index` (0-d or 1-d) along dim.
Array index_select(const Array& x, int64_t dim, const Array& index);

// In place: x's slice index[k] along dim = (accumulate: +=) src's slice k; src broadcasts to
// x's shape with dim's size replaced by index's length. Indices are all checked first.
void index_put_(Array& x, int64_t dim, const Array& index, const Array& src, bool accumulate);

// int64 [n, x.ndim]: the coordinates of the non-zero elements of x, in row-major order.
Array nonzero(const Array& x);

// A contiguous int64 copy of index with negative entries wrapped by `size`; an IndexError
// names the first entry outside [-size, size) and the dim.
Array wrap_index(const Array& index, int64_t size, int64_t dim);

}  // namespace fibril::ops
