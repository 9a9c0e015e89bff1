"""Matmul family: matmul (torch.matmul semantics), mm, bmm, mv, dot, addmm, and linear with
the bias and activation fused into the GEMM. Forward is one _C call; backward runs the same
GEMM on transposed views (the kernel's packing absorbs the transposes, nothing is copied) and
sums the gradient over broadcast batch dims."""

import numpy as np

from .. import _C
from ..amp.policy import autocast_inputs, active as _autocast_active
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from . import elementwise as ew
from . import index
from .reduce import sum_to_shape

_FUSED_ACTIVATIONS = ("none", "relu", "gelu", "gelu_tanh")


def _check_ndim(name, a, b, a_ndims, b_ndims):
    if a.ndim not in a_ndims or b.ndim not in b_ndims:
        raise ValueError(f"{name}: unexpected operand dims, got {list(a.shape)} ({a.ndim}-D) and "
                         f"{list(b.shape)} ({b.ndim}-D)")


class Matmul(Function):
    @staticmethod
    def forward(ctx, a, b):
        # Only what the wanted gradients read, as torch: x @ W with W constant keeps W, not x
        # (an in-place change of x afterwards is then no error).
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        ctx.shapes = (a.shape, b.shape)
        return Tensor._wrap(_C.matmul(a._data, b._data))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a_shape, b_shape = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        if len(a_shape) == 1 and len(b_shape) == 1:
            return ew.mul(g, b) if need_a else None, ew.mul(g, a) if need_b else None
        # Work on matrices: a 1-D operand is a row (left) or a column (right) again.
        a2_shape = (1, *a_shape) if len(a_shape) == 1 else tuple(a_shape)
        b2_shape = (*b_shape, 1) if len(b_shape) == 1 else tuple(b_shape)
        g2 = index.unsqueeze(g, -2) if len(a_shape) == 1 else g
        g2 = index.unsqueeze(g2, -1) if len(b_shape) == 1 else g2
        ga = gb = None
        if need_a:
            b2 = index.unsqueeze(b, -1) if len(b_shape) == 1 else b
            ga = index.reshape(sum_to_shape(matmul(g2, b2.mT), a2_shape), a_shape)
        if need_b:
            a2 = index.unsqueeze(a, 0) if len(a_shape) == 1 else a
            if len(b2_shape) == 2 and len(a2_shape) > 2:
                # Every batch entry shared b: one GEMM over all rows instead of a batch and a sum.
                k, n = b2_shape
                gb = matmul(index.reshape(a2, (-1, k)).mT, index.reshape(g2, (-1, n)))
            else:
                gb = sum_to_shape(matmul(a2.mT, g2), b2_shape)
            gb = index.reshape(gb, b_shape)
        return ga, gb


def matmul(a, b):
    """torch.matmul: dot, matrix-vector, matrix and broadcast batched products."""
    if _autocast_active.on:
        a, b = autocast_inputs("lower", a, b)
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"matmul: expected two Tensors, got {type(a).__name__} and {type(b).__name__}")
    if (a.grad_fn is None and b.grad_fn is None and not a._requires_grad and not b._requires_grad) \
            or not is_grad_enabled():
        return Tensor._wrap(_C.matmul(a._data, b._data))  # nothing to record: skip the Function machinery
    return Matmul.apply(a, b)


def mm(a, b):
    _check_ndim("mm", a, b, (2,), (2,))
    return matmul(a, b)


def bmm(a, b):
    _check_ndim("bmm", a, b, (3,), (3,))
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"bmm: batch sizes differ, got {list(a.shape)} and {list(b.shape)}")
    return matmul(a, b)


def mv(a, v):
    _check_ndim("mv", a, v, (2,), (1,))
    if _autocast_active.on:  # lower precision on CUDA only: torch's CPU autocast leaves mv alone
        return Matmul.apply(*autocast_inputs("lower_cuda", a, v))
    return matmul(a, v)


def dot(a, b):
    _check_ndim("dot", a, b, (1,), (1,))
    if _autocast_active.on:  # autocast leaves dot alone (torch: untouched on CPU, promote on CUDA)
        return Matmul.apply(a, b)
    return matmul(a, b)


class Addmm(Function):
    @staticmethod
    def forward(ctx, c, a, b, beta, alpha):
        ctx.save_for_backward(a, b)
        ctx.c_shape, ctx.beta, ctx.alpha = c.shape, beta, alpha
        return Tensor._wrap(_C.addmm(c._data, a._data, b._data, beta, alpha))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        gc = sum_to_shape(ew.mul(g, ctx.beta), ctx.c_shape) if need[0] else None
        ga = ew.mul(matmul(g, b.mT), ctx.alpha) if need[1] else None
        gb = ew.mul(matmul(a.mT, g), ctx.alpha) if need[2] else None
        return gc, ga, gb, None, None


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2); input broadcasts to the product's shape."""
    _check_ndim("addmm", mat1, mat2, (2,), (2,))
    if _autocast_active.on:
        input, mat1, mat2 = autocast_inputs("lower", input, mat1, mat2)
    return Addmm.apply(input, mat1, mat2, beta, alpha)


def _scaled_sum(name, input, product, beta, alpha):
    """beta * input + alpha * product, input broadcast to the product's shape; beta == 0
    ignores input (NaN and inf in it do not propagate), as torch."""
    try:
        fits = np.broadcast_shapes(tuple(input.shape), tuple(product.shape)) == tuple(product.shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name}: input of shape {list(input.shape)} does not broadcast to the product's shape "
                         f"{list(product.shape)}")
    out = product if alpha == 1 else ew.mul(product, alpha)
    if beta == 0:
        return out
    return ew.add(out, input if beta == 1 else ew.mul(input, beta))


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * bmm(batch1, batch2)."""
    if _autocast_active.on:
        input, batch1, batch2 = autocast_inputs("lower", input, batch1, batch2)
    return _scaled_sum("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * (the sum of batch1[i] @ batch2[i] over i), as one GEMM over the
    batch laid out along the inner dim."""
    if _autocast_active.on:
        input, batch1, batch2 = autocast_inputs("lower", input, batch1, batch2)
    _check_ndim("addbmm", batch1, batch2, (3,), (3,))
    (b, n, k), (b2, k2, m) = batch1.shape, batch2.shape
    if b != b2 or k != k2:
        raise ValueError(f"addbmm: incompatible batches, got {list(batch1.shape)} and {list(batch2.shape)}")
    product = matmul(index.reshape(index.permute(batch1, (1, 0, 2)), (n, b * k)), index.reshape(batch2, (b * k, m)))
    return _scaled_sum("addbmm", input, product, beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    """beta * input + alpha * mv(mat, vec)."""
    if _autocast_active.on:
        input, mat, vec = autocast_inputs("lower_cuda", input, mat, vec)
    return _scaled_sum("addmv", input, mv(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """beta * input + alpha * outer(vec1, vec2)."""
    if _autocast_active.on:
        input, vec1, vec2 = autocast_inputs("lower_cuda", input, vec1, vec2)
    _check_ndim("addr", vec1, vec2, (1,), (1,))
    return _scaled_sum("addr", input, ew.mul(index.unsqueeze(vec1, 1), vec2), beta, alpha)


def chain_matmul(*matrices):
    """The product of 2-D matrices, left to right."""
    if not matrices:
        raise ValueError("chain_matmul: expected one or more matrices, got none")
    out = matrices[0]
    if out.ndim != 2:
        raise ValueError(f"chain_matmul: expected 2-D matrices, got shape {list(out.shape)}")
    for m in matrices[1:]:
        out = mm(out, m)
    return out


class Linear(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, activation):
        out = Tensor._wrap(_C.linear(x._data, weight._data, None if bias is None else bias._data, activation))
        ctx.save_for_backward(x, weight, out if activation == "relu" else None)
        return out

    @staticmethod
    def backward(ctx, g):
        # On the arrays themselves: backward runs with grad mode off, so no op here records, and
        # a small layer's step spends much of its time in Python (MLP 28x28 step: ~950 -> ~910 us).
        x, weight, out = ctx.saved_tensors
        need = ctx.needs_input_grad
        if is_grad_enabled():  # create_graph: the same products as ops, so they are recorded
            return _linear_backward_recorded(g, x, weight, out, need)
        ga, wa = g._data, weight._data
        if out is not None:  # relu: the gradient passes where the output (so the input) is positive
            ga = _C.activation_backward(_C.ActivationKind.relu, out._data, ga, 0.0, 0.0, 0.0)
        gx = Tensor._wrap(_C.matmul(ga, wa)) if need[0] else None
        gw = gb = None
        if need[1] or need[2]:
            out_features, in_features = wa.shape
            g2 = ga if len(ga.shape) == 2 else ga.reshape([-1, out_features])
            if need[1]:
                xa = x._data if len(x._data.shape) == 2 else x._data.reshape([-1, in_features])
                gw = Tensor._wrap(_C.matmul(g2.transpose(0, 1), xa))
            if need[2]:
                if g2.device == "cpu":
                    gb = Tensor._wrap(_C.reduce(_C.ReduceOp.sum, g2, [0], False, None))
                else:  # the column sums as a matrix-vector product: stays one GEMV on the device
                    ones = _C.Array.full((g2.shape[0],), 1.0, g2.dtype, g2.device)
                    gb = Tensor._wrap(_C.matmul(ones, g2))
        return gx, gw, gb, None


def _linear_backward_recorded(g, x, weight, out, need):
    if out is not None:
        g = ew.where(ew.gt(out, 0), g, 0.0)
    gx = matmul(g, weight) if need[0] else None
    gw = gb = None
    if need[1] or need[2]:
        out_features, in_features = weight.shape
        g2 = g if g.ndim == 2 else index.reshape(g, (-1, out_features))
        if need[1]:
            x2 = x if x.ndim == 2 else index.reshape(x, (-1, in_features))
            gw = matmul(g2.mT, x2)
        if need[2]:
            gb = g2.sum(0)
    return gx, gw, gb, None


def linear(input, weight, bias=None, activation="none"):
    """activation(input @ weight.T + bias), the bias and activation applied inside the GEMM.
    activation: "none", "relu" (differentiable), "gelu" or "gelu_tanh" (forward only, for
    inference: their gradients belong to the activation family)."""
    if _autocast_active.on:
        input, weight, bias = autocast_inputs("lower", input, weight, bias)
    if activation not in _FUSED_ACTIVATIONS:
        raise ValueError(f"linear: activation must be one of {_FUSED_ACTIVATIONS}, got {activation!r}")
    tracked = any(t is not None and t.requires_grad for t in (input, weight, bias))
    if activation in ("gelu", "gelu_tanh") and tracked and is_grad_enabled():
        raise NotImplementedError(f"linear: the fused {activation} epilogue has no backward yet; "
                                  "apply the activation separately when gradients are needed")
    if input.ndim == 0 or weight.ndim != 2:
        return _linear_other_ranks(input, weight, bias, activation)
    return Linear.apply(input, weight, bias, activation)


def _linear_other_ranks(input, weight, bias, activation):
    """torch's errors for a 0-d operand or a weight of more than 2 dims. A weight
    (in_features,) is one output feature whose dim the result drops, as torch's; torch takes a
    bias then only when it is 0-d and the input is not 2-D (its fused addmm path wants a matrix
    weight)."""
    if input.ndim == 0 or weight.ndim == 0:
        raise RuntimeError(f"both arguments to linear need to be at least 1D, but they are {input.ndim}D and "
                           f"{weight.ndim}D")
    if weight.ndim > 2:
        raise RuntimeError(f"linear: weight must be 1-D or 2-D (torch: t() expects a tensor with <= 2 dimensions), "
                           f"got shape {list(weight.shape)}")
    if input.shape[-1] != weight.shape[0]:
        raise RuntimeError(f"linear: size mismatch, got input {list(input.shape)} and 1-D weight "
                           f"{list(weight.shape)}")
    if bias is not None and (bias.ndim != 0 or input.ndim == 2):
        raise RuntimeError(f"linear: with a 1-D weight the bias must be 0-d and the input not 2-D, as torch's "
                           f"(mat2 must be a matrix, got 1-D tensor); got input {list(input.shape)}, weight "
                           f"{list(weight.shape)}, bias {list(bias.shape)}")
    row = index.unsqueeze(weight, 0)
    out = Linear.apply(input, row, None if bias is None else index.reshape(bias, (1,)), activation)
    return index.squeeze(out, -1)


def set_float32_matmul_precision(precision):
    """torch.set_float32_matmul_precision: "highest" (default: exact float32), "high" or
    "medium" (float32 products on CUDA may use TF32 tensor cores: 10-bit mantissa inputs,
    float32 accumulation). The CPU kernels ignore it."""
    if not isinstance(precision, str):
        raise TypeError(f"set_float32_matmul_precision: expected a str, got {type(precision).__name__}")
    _C.set_float32_matmul_precision(precision)


def get_float32_matmul_precision():
    """The current float32 matmul precision: "highest", "high" or "medium"."""
    return _C.get_float32_matmul_precision()


def _attach():
    Tensor.__matmul__ = matmul
    Tensor.__rmatmul__ = lambda self, other: matmul(other, self)
    for name in ["matmul", "mm", "bmm", "mv", "dot"]:
        setattr(Tensor, name, globals()[name])
    Tensor.addmm = lambda self, mat1, mat2, *, beta=1, alpha=1: addmm(self, mat1, mat2, beta=beta, alpha=alpha)
    for name in ["baddbmm", "addbmm", "addmv", "addr"]:
        setattr(Tensor, name, globals()[name])
    from .elementwise_math import _inplace

    for name in ["addmm", "baddbmm", "addbmm", "addmv", "addr"]:
        setattr(Tensor, name + "_", _inplace(globals()[name]))


_attach()
