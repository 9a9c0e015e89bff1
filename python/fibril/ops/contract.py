"""Contraction family, tensor contractions and diagonals: einsum, tensordot, outer/ger, inner,
kron, cross, cdist; diagonal, diag, diag_embed, trace. Composed from matmul, views,
elementwise ops and reductions, so autograd derives every gradient; only diagonal, a strided
view like Slice, has a backward of its own, beside its forward."""

import math
import numbers

from .. import _C
from ..amp.policy import autocast_inputs, autocast_op, active as _autocast_active
from ..autograd import Function
from ..tensor import Tensor, _wrap_dim
from . import elementwise as ew
from . import index
from .gather import IndexSelect
from .join import pad
from .matmul import dot, matmul
from .reduce import norm, sum


# ------------------------------------------------------------------------------ diagonals
def _diagonal_view(array, offset, dim1, dim2):
    """array's diagonal over dim1, dim2 as a strided view: both dims dropped, the diagonal last."""
    shape, strides = array.shape, array.strides
    length = max(0, min(shape[dim1] + min(offset, 0), shape[dim2] - max(offset, 0)))
    start = array.offset + (offset * strides[dim2] if offset >= 0 else -offset * strides[dim1])
    keep = [d for d in range(len(shape)) if d not in (dim1, dim2)]
    return array.as_strided(tuple(shape[d] for d in keep) + (length,),
                            tuple(strides[d] for d in keep) + (strides[dim1] + strides[dim2],), start)


class Diagonal(Function):

    @staticmethod
    def forward(ctx, x, offset, dim1, dim2):
        ctx.in_shape, ctx.args = x.shape, (offset, dim1, dim2)
        return index._view_of(x, _diagonal_view(x._data, offset, dim1, dim2))

    @staticmethod
    def backward(ctx, g):
        grad = index.embed(g, ctx.in_shape, lambda a: _diagonal_view(a, *ctx.args))
        return grad, None, None, None


def _two_dims(dim1, dim2, ndim):
    d1, d2 = _wrap_dim(dim1, ndim), _wrap_dim(dim2, ndim)
    if d1 == d2:
        raise ValueError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return d1, d2


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal over dim1, dim2 as the last dim of a view (writes reach input, as torch)."""
    return Diagonal.apply(input, offset, *_two_dims(dim1, dim2, input.ndim))


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """input's last dim placed on the offset diagonal of new dims dim1, dim2 (zeros elsewhere)."""
    from ..creation import arange

    ndim = input.ndim + 1
    d1, d2 = _two_dims(dim1, dim2, ndim)
    n = input.shape[-1] + abs(offset)
    # Row i reads entry i (offset >= 0) or column j reads entry j: pad so that both run to n.
    values = pad(input, (0, abs(offset)))
    values = index.unsqueeze(values, -1 if offset >= 0 else -2)
    steps = arange(n, device=input.device)
    on_diagonal = ew.eq(ew.sub(index.unsqueeze(steps, 0), index.unsqueeze(steps, 1)), offset)
    zero = Tensor._wrap(_C.Array.full((), 0, input.dtype, input.device))  # a 0 of input's dtype (bool stays bool)
    square = ew.where(on_diagonal, values, zero)  # where, not a product: inf and nan stay on the diagonal
    rest = iter(range(ndim - 2))
    order = [ndim - 2 if d == d1 else ndim - 1 if d == d2 else next(rest) for d in range(ndim)]
    return index.permute(square, tuple(order))


def diag(input, diagonal=0):
    """1-D: the square matrix with input on the given diagonal; 2-D: that diagonal (a copy)."""
    if input.ndim == 1:
        return diag_embed(input, diagonal)
    if input.ndim == 2:
        return Diagonal.apply(input, diagonal, 0, 1).clone()
    raise ValueError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D (shape {list(input.shape)})")


def trace(input):
    if _autocast_active.on:
        (input,) = autocast_inputs("fp32_cpu", input)
    if input.ndim != 2:
        raise ValueError(f"trace: expected a matrix, but got tensor with dim {input.ndim} "
                         f"(shape {list(input.shape)})")
    return sum(Diagonal.apply(input, 0, 0, 1))


# ------------------------------------------------------------------------------ einsum
class _Equation:
    """A parsed einsum equation. Labels are ints: a letter its code point; the dims an
    ellipsis covers -k..-1, numbered from the right so that they line up across operands
    (and sort before the letters, where the implicit output puts them)."""

    def __init__(self, equation, operands):
        self.text, self.shapes = equation, [list(t.shape) for t in operands]
        spec = equation.replace(" ", "")
        lhs, arrow, rhs = spec.partition("->")
        terms = [self._parse(term, "operand") for term in lhs.split(",")]
        if len(terms) != len(operands):
            self.fail(f"the equation has {len(terms)} operand(s) but {len(operands)} were given")
        self.inputs = [self._labels(term, len(shape), k) for k, (term, shape) in enumerate(zip(terms, self.shapes))]
        self.sizes = self._sizes()
        ellipsis = list(range(-max((-min(ls, default=0) for ls in self.inputs), default=0), 0))
        if arrow:
            output = self._parse(rhs, "output")
            self.output = [lab for item in output for lab in (ellipsis if item is Ellipsis else [ord(item)])]
            for lab in self.output:
                if lab not in self.sizes:
                    self.fail(f"output subscript {chr(lab)} does not appear in any input operand")
                if self.output.count(lab) > 1:
                    self.fail(f"output subscript {chr(lab)} appears more than once in the output")
        else:
            letters = [lab for ls in self.inputs for lab in ls if lab >= 0]
            self.output = ellipsis + sorted(lab for lab in set(letters) if letters.count(lab) == 1)

    def fail(self, problem):
        raise ValueError(f"einsum(): {problem} (equation {self.text!r}, operand shapes {self.shapes})")

    def _parse(self, term, where):
        """'a...b' -> ['a', Ellipsis, 'b']."""
        items, i = [], 0
        while i < len(term):
            if term.startswith("...", i):
                if Ellipsis in items:
                    self.fail(f"more than one ellipsis in the {where} term {term!r}")
                items.append(Ellipsis)
                i += 3
                continue
            c = term[i]
            if c == ".":
                self.fail(f"'.' in the {where} term {term!r} is not part of an ellipsis")
            if not (c.isascii() and c.isalpha()):
                self.fail(f"invalid subscript {c!r}: subscripts must be in [a-zA-Z]")
            items.append(c)
            i += 1
        return items

    def _labels(self, term, ndim, k):
        letters = len(term) - (Ellipsis in term)
        if ndim < letters or (Ellipsis not in term and ndim != letters):
            self.fail(f"operand {k} has {ndim} dim(s) but its term has {letters} subscript(s)"
                      f"{'' if Ellipsis in term else ' and no ellipsis'}")
        return [lab for item in term for lab in (range(letters - ndim, 0) if item is Ellipsis else [ord(item)])]

    def _sizes(self):
        """Each label's size, size-1 dims broadcasting; a label repeated in an operand must
        have one size there."""
        sizes = {}
        for k, (labels, shape) in enumerate(zip(self.inputs, self.shapes)):
            seen = {}
            for lab, n in zip(labels, shape):
                name = "ellipsis dim" if lab < 0 else f"subscript {chr(lab)}"
                if seen.setdefault(lab, n) != n:
                    self.fail(f"{name} is repeated in operand {k} with sizes {seen[lab]} and {n}")
                known = sizes.setdefault(lab, n)
                if n != known and 1 not in (n, known):
                    self.fail(f"{name} has size {n} in operand {k}, which does not broadcast with size {known}")
                sizes[lab] = n if known == 1 else known
        return sizes


def _reduce_alone(x, labels, keep):
    """x with each repeated label reduced to its diagonal and the labels outside `keep`
    summed out: (tensor, its labels)."""
    labels = list(labels)
    for lab in dict.fromkeys(labels):
        while labels.count(lab) > 1:
            i = labels.index(lab)
            j = labels.index(lab, i + 1)
            x = Diagonal.apply(x, 0, i, j)
            labels = [m for d, m in enumerate(labels) if d not in (i, j)] + [lab]
    summed = [d for d, lab in enumerate(labels) if lab not in keep]
    if summed:
        x = sum(x, summed)
        labels = [lab for lab in labels if lab in keep]
    return x, labels


def _contract(a, la, b, lb, keep):
    """a and b multiplied over their shared labels, summing those outside `keep`, as one
    batched matmul [batch, left, summed] @ [batch, summed, right]. Size-1 dims broadcast."""
    sizes = dict(zip(la, a.shape))
    for lab, n in zip(lb, b.shape):
        if sizes.get(lab, 1) == 1:
            sizes[lab] = n
    batch = [lab for lab in la if lab in lb and lab in keep]
    summed = [lab for lab in la if lab in lb and lab not in keep]
    left = [lab for lab in la if lab not in lb]
    right = [lab for lab in lb if lab not in la]

    def grouped(x, labels, groups):
        order = [lab for group in groups for lab in group]
        x = index.permute(x, tuple(labels.index(lab) for lab in order))
        shape = tuple(sizes[lab] for lab in order)
        x = x if x.shape == shape else index.expand(x, shape)
        return index.reshape(x, tuple(math.prod(sizes[lab] for lab in group) for group in groups))

    out = matmul(grouped(a, la, (batch, left, summed)), grouped(b, lb, (batch, summed, right)))
    labels = batch + left + right
    return index.reshape(out, tuple(sizes[lab] for lab in labels)), labels


def einsum(equation, *operands):
    """torch.einsum: explicit ('ij,jk->ik') or implicit output, '...' broadcasting, repeated
    labels (diagonals), any number of operands contracted left to right."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for t in operands:
        if not isinstance(t, Tensor):
            raise TypeError(f"einsum(): expected Tensor operands, got {type(t).__name__}")
    eq = _Equation(equation, operands)
    later = [set(eq.output)]  # later[k]: the labels still needed after operand k
    for labels in reversed(eq.inputs[1:]):
        later.insert(0, later[0] | set(labels))
    x, labels = _reduce_alone(operands[0], eq.inputs[0], later[0])
    for k in range(1, len(operands)):
        y, ly = _reduce_alone(operands[k], eq.inputs[k], later[k] | set(labels))
        x, labels = _contract(x, labels, y, ly, later[k])
    return index.permute(x, tuple(labels.index(lab) for lab in eq.output))


# ------------------------------------------------------------------------------ products
def tensordot(a, b, dims=2):
    """dims=n contracts a's last n dims with b's first n; dims=(dims_a, dims_b) pairs them up.
    The result has a's free dims, then b's."""
    if isinstance(dims, numbers.Integral):
        if not 0 <= dims <= min(a.ndim, b.ndim):
            raise ValueError(f"tensordot expects 0 <= dims <= min(a.ndim, b.ndim), got dims={dims} for shapes "
                             f"{list(a.shape)} and {list(b.shape)}")
        dims_a, dims_b = range(a.ndim - dims, a.ndim), range(dims)
    elif len(dims) == 2:
        dims_a, dims_b = ([d] if isinstance(d, numbers.Integral) else list(d) for d in dims)
    else:
        raise ValueError(f"tensordot expects dims to be an int or two lists of dims, got dims={dims}")
    if len(dims_a) != len(dims_b):
        raise ValueError(f"tensordot: both dimension lists should have same length, got {list(dims_a)} and "
                         f"{list(dims_b)}")
    dims_a, dims_b = [_wrap_dim(d, a.ndim) for d in dims_a], [_wrap_dim(d, b.ndim) for d in dims_b]
    for ds in (dims_a, dims_b):
        if len(set(ds)) != len(ds):
            raise ValueError(f"tensordot: a dim appears multiple times in the list of dims {ds}")
    for da, db in zip(dims_a, dims_b):
        na, nb = a.shape[da], b.shape[db]
        if na != nb and 1 not in (na, nb):
            raise ValueError(f"tensordot: contracted dimensions need to match, but first has size {na} in dim {da} "
                             f"and second has size {nb} in dim {db}")
    la = list(range(a.ndim))
    lb = [dims_a[dims_b.index(d)] if d in dims_b else a.ndim + d for d in range(b.ndim)]
    return _contract(a, la, b, lb, keep=set())[0]


def outer(input, vec2):
    for name, t in (("self", input), ("vec2", vec2)):
        if t.ndim != 1:
            raise ValueError(f"outer: Expected 1-D argument {name}, but got {t.ndim}-D")
    return ew.mul(index.unsqueeze(input, 1), index.unsqueeze(vec2, 0))


ger = outer


def inner(input, other):
    """Sum of products over the last dims: shape input.shape[:-1] + other.shape[:-1]."""
    if input.ndim == 0 or other.ndim == 0:
        return ew.mul(input, other)
    if input.ndim == 1 and other.ndim == 1:  # torch's dot (autocast leaves it alone), not its tensordot
        return dot(input, other)
    if input.shape[-1] != other.shape[-1]:
        raise ValueError(f"inner() the last dimension must match on both input tensors but got shapes "
                         f"{list(input.shape)} and {list(other.shape)}")
    return tensordot(input, other, ([-1], [-1]))


def kron(input, other):
    """Kronecker product: a block per element of input, that element times other (shapes
    padded with leading 1s to the same ndim)."""
    ndim = max(input.ndim, other.ndim)
    sa = (1,) * (ndim - input.ndim) + tuple(input.shape)
    sb = (1,) * (ndim - other.ndim) + tuple(other.shape)
    # input's dims interleaved with other's: each adjacent pair of the product merges into one dim.
    a = index.reshape(input, tuple(x for n in sa for x in (n, 1)))
    b = index.reshape(other, tuple(x for n in sb for x in (1, n)))
    return index.reshape(ew.mul(a, b), tuple(m * n for m, n in zip(sa, sb)))


def cross(input, other, dim=None):
    """Cross product of 3-vectors along dim, inputs broadcasting: torch.linalg.cross. dim=None
    means -1 here, where the deprecated torch.cross default picks the first dim of size 3."""
    from ..creation import tensor

    if input.ndim != other.ndim:
        raise ValueError(f"linalg.cross: inputs must have the same number of dimensions, got shapes "
                         f"{list(input.shape)} and {list(other.shape)}")
    d = _wrap_dim(-1 if dim is None else dim, input.ndim)
    if input.ndim == 0 or input.shape[d] != 3 or other.shape[d] != 3:
        raise ValueError(f"linalg.cross: inputs dimension {d} must have length 3, got shapes {list(input.shape)} "
                         f"and {list(other.shape)}")

    def rotated(x, shift):  # entry i reads entry (i + shift) % 3
        return IndexSelect.apply(x, d, tensor([(i + shift) % 3 for i in range(3)], device=x.device))

    return ew.sub(ew.mul(rotated(input, 1), rotated(other, 2)), ew.mul(rotated(input, 2), rotated(other, 1)))


_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


@autocast_op("fp32")  # float32 on both devices, its matmul too
def cdist(x1, x2, p=2.0, compute_mode=_CDIST_MODES[0]):
    """p-norm distances between the rows of x1 [..., P, M] and x2 [..., R, M]: [..., P, R], the
    batch dims broadcasting. As torch, p = 2 goes through a matmul, ||a||^2 + ||b||^2 - 2 a.b,
    when P or R exceeds 25 (always with "use_mm_for_euclid_dist"): no [..., P, R, M]
    differences in memory, less exact near zero distances. Either way the gradient at a zero
    distance is 0, as torch's."""
    if x1.ndim < 2 or x2.ndim < 2:
        raise ValueError(f"cdist only supports at least 2D tensors, got shapes {list(x1.shape)} and {list(x2.shape)}")
    if x1.shape[-1] != x2.shape[-1]:
        raise ValueError(f"cdist: X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} "
                         f"X2: {x2.shape[-1]}")
    if p < 0:
        raise ValueError(f"cdist only supports non-negative p values, got {p}")
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"cdist: {compute_mode!r} is not a valid value for compute_mode, expected one of "
                         f"{_CDIST_MODES}")
    large = max(x1.shape[-2], x2.shape[-2]) > 25
    if p == 2 and (compute_mode == _CDIST_MODES[1] or compute_mode == _CDIST_MODES[0] and large):
        squares = ew.sub(ew.add(sum(ew.mul(x1, x1), -1, keepdim=True), index.unsqueeze(sum(ew.mul(x2, x2), -1), -2)),
                         ew.mul(matmul(x1, x2.mT), 2))
        positive = ew.gt(squares, 0)  # rounding may leave tiny negatives; sqrt's slope at 0 is infinite
        return ew.where(positive, ew.sqrt(ew.where(positive, squares, 1)), 0)
    differences = ew.sub(index.unsqueeze(x1, -2), index.unsqueeze(x2, -3))
    # Every norm of an empty vector is 0, but the max (p = inf) of none has no identity to reduce from.
    return norm(differences, p if x1.shape[-1] else 2, dim=-1)


def vdot(input, other):
    """The dot product of two 1-D tensors (the first conjugated: a no-op on real tensors)."""
    from .matmul import dot

    if input.ndim != 1 or other.ndim != 1:
        raise ValueError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    return dot(input, other)


def _attach():
    for fn in (diagonal, diag, diag_embed, trace, outer, inner, kron, cross, vdot):
        setattr(Tensor, fn.__name__, fn)
    Tensor.ger = outer


_attach()
