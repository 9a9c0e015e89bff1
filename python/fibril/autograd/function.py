"""Function (forward + backward of one op), its context, and the graph nodes it creates.

A Function subclass defines `forward(ctx, *args)` and `backward(ctx, *grad_outputs)` as
static methods, on fibril Tensors (forward may also return bare Arrays: apply wraps them).
`Function.apply(*args)` runs forward without recording, and, when grad mode is on and some
input requires grad, attaches a `Node` to the outputs:
the node holds the context and one edge per forward input (the producer's node and output
index, or None where no gradient flows).
"""

import sys
import weakref

from .. import _C

Tensor = None  # fibril.Tensor, set by tensor.py (which imports this module)



class FunctionCtx:
    """What forward leaves for backward: saved tensors (version-checked), plain attributes,
    and `needs_input_grad` (one bool per forward argument)."""

    _saved = ()
    _released = False
    _non_differentiable = ()
    _dirty = ()
    needs_input_grad = ()
    materialize_grads = True

    def save_for_backward(self, *tensors):
        self._saved = tuple(None if t is None else (t, t._version.value) for t in tensors)

    def mark_non_differentiable(self, *tensors):
        """These outputs are not differentiable: they get no history (their gradients in
        backward are zeros, or None without materialize_grads)."""
        self._non_differentiable = tuple(tensors)

    def mark_dirty(self, *tensors):
        """forward changed these inputs in place and returns them: they take the op's node as
        their history (refused for a leaf that requires grad). An input returned unmarked is
        returned as an alias, so its own history stays."""
        self._dirty = tuple(tensors)

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)

    @property
    def saved_tensors(self):
        if self._released:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved tensors "
                "after they have already been freed). Specify retain_graph=True on the first backward.")
        out = []
        for entry in self._saved:
            if entry is None:
                out.append(None)
                continue
            tensor, version = entry
            if tensor._version.value != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: [{tensor.dtype.name} {list(tensor.shape)}] is at version "
                    f"{tensor._version.value}; expected version {version} instead.")
            out.append(tensor)
        return tuple(out)

    def keep_values_of(self, tensor):
        """tensor, if saved, is about to be changed in place by the op saved for: save a copy
        of its current values instead (torch keeps the original self of an in-place op)."""
        if any(entry is not None and entry[0] is tensor for entry in self._saved):
            # recorded (the caller runs in grad mode): a second derivative reaches the old history
            copy = tensor.clone()
            self._saved = tuple((copy, copy._version.value) if entry is not None and entry[0] is tensor else entry
                                for entry in self._saved)

    def _release(self):
        self._saved = ()
        self._released = True


class Node:
    """A recorded op: calls the Function's backward and routes gradients along its edges."""

    # Made only by Function.apply (C++), which sets every slot: the Function class, its ctx,
    # the edges, the number of outputs, and pre_hooks = None ({output index: [hook]} once
    # Tensor.register_hook adds one).
    __slots__ = ("function", "ctx", "edges", "num_outputs", "pre_hooks", "__weakref__")

    def name(self):
        return f"{self.function.__name__}Backward0"

    def __repr__(self):
        return f"<{self.name()}>"

    def apply(self, grads):
        if self.ctx._released:
            self.ctx.saved_tensors  # raises the "backward twice" error
        out = self.function.backward(self.ctx, *grads)  # the engine runs with grad mode off
        if not isinstance(out, tuple):
            out = (out,)
        if len(out) < len(self.edges):
            raise RuntimeError(f"{self.function.__name__}.backward returned {len(out)} gradients, "
                               f"expected {len(self.edges)}")
        out = out[: len(self.edges)]
        return _validated(self, out) if self.function._validates_outputs else out

    def release(self):
        self.ctx._release()


def _validated(node, grads):
    """torch's checks of a user Function's gradients against its inputs: a gradient for a
    non-tensor input is an error; one of a shape the input broadcasts to is summed down to it,
    another shape is an error; the dtype is the input's; the device must be the input's."""
    name = node.name()
    meta = getattr(node.ctx, "_input_meta", None)
    if meta is None:  # forward wrapped by a subclass that does not call ours
        return grads
    out = []
    for i, g in enumerate(grads):
        if g is not None and i < len(meta) and meta[i] is None:
            raise RuntimeError(f"function {name} returned a gradient different than None at position {i + 1}, but "
                               "the corresponding forward input was not a Variable")
        if g is None or node.edges[i] is None:
            out.append(g)
            continue
        shape, dtype, device = meta[i]
        if tuple(g.shape) != tuple(shape):
            if not _broadcasts_to(shape, g.shape):
                raise RuntimeError(f"Function {name} returned an invalid gradient at index {i} - got "
                                   f"{list(g.shape)} but expected shape compatible with {list(shape)}")
            g = g.sum_to_size(*shape)
        if g.dtype != dtype:
            g = g.to(dtype)
        if g.device != device:
            raise RuntimeError(f"Function {name} returned an invalid gradient at index {i} - expected device "
                               f"{device} but got {g.device}")
        out.append(g)
    return tuple(out)


def _broadcasts_to(shape, target):
    if len(shape) > len(target):
        return False
    return all(s == 1 or s == t for s, t in zip(reversed(tuple(shape)), reversed(tuple(target))))


class AccumulateGrad:
    """The sink for a leaf tensor: adds the incoming gradient into `tensor.grad`. The leaf
    owns its accumulator and the accumulator refers back weakly, so no cycle keeps either
    alive; a leaf that is gone has no .grad left to fill."""

    __slots__ = ("_tensor", "__weakref__")
    edges = ()
    num_outputs = 1

    def __init__(self, tensor):
        self._tensor = weakref.ref(tensor)

    @property
    def tensor(self):
        return self._tensor()

    @property
    def pre_hooks(self):
        t = self._tensor()
        return t._leaf_hooks if t is not None else None

    def name(self):
        return "AccumulateGrad"

    def __repr__(self):
        return "<AccumulateGrad>"

    def accumulate(self, grad):
        # A leaf takes a gradient that only the engine holds (as PyTorch steals one), else a
        # copy: the same gradient object may reach several leaves (add's backward passes one
        # tensor to both inputs), or be the caller's. It accumulates out of place.
        t = self._tensor()
        if t is None:
            return
        if grad.shape != t.shape:
            raise RuntimeError(f"gradient of shape {list(grad.shape)} for a leaf of shape {list(t.shape)}")
        if t.grad is not None:
            t.grad = t.grad + grad.detach()
        else:
            t.grad = grad.detach() if _held_by_engine_only(grad) else _copy(grad)
        if t._post_accumulate_hooks:
            run_post_accumulate_hooks(t)

    def accumulate_with_graph(self, grad):
        """accumulate under create_graph: .grad keeps the gradient's graph (the sum is recorded)."""
        t = self._tensor()
        if t is None:
            return
        if grad.shape != t.shape:
            raise RuntimeError(f"gradient of shape {list(grad.shape)} for a leaf of shape {list(t.shape)}")
        t.grad = grad if t.grad is None else t.grad + grad
        if t._post_accumulate_hooks:
            run_post_accumulate_hooks(t)

    def release(self):
        pass


def run_post_accumulate_hooks(tensor):
    for hook in list(tensor._post_accumulate_hooks or ()):  # a hook may remove itself
        hook(tensor)


def _copy(grad):
    return Tensor._wrap(grad._data.clone())


def _held_by_engine_only(grad):
    """True when the references to `grad` are the engine's list of the node's gradients,
    accumulate's argument and this one (and getrefcount's own), its Array is referenced by grad
    alone, and that Array is the whole, dense, unshared storage (no view, numpy or DLPack
    export shares it)."""
    a = grad._data
    return (sys.getrefcount(grad) == 4 and sys.getrefcount(a) == 3 and a.offset == 0 and a.is_contiguous()
            and a.nbytes == a.storage_nbytes and a._storage_use_count() == 1)


class Function:
    """Base class of differentiable operations. Subclasses define static forward/backward.

    `once_differentiable = True` marks a backward that computes on raw arrays (records no
    graph): under create_graph=True its gradients then carry a node that raises when
    differentiated, as torch's @once_differentiable."""

    once_differentiable = False
    _validates_outputs = False  # fibril's own backwards return well-formed gradients

    def __init_subclass__(cls, **kwargs):
        """torch's two styles: forward(ctx, *args), or forward(*args) with a separate
        setup_context(ctx, inputs, output) that fills ctx. A Function defined outside fibril
        has its backward's gradients checked and conformed against its inputs (_validated)."""
        super().__init_subclass__(**kwargs)
        if "setup_context" in cls.__dict__ and "forward" in cls.__dict__:
            forward = cls.__dict__["forward"]
            forward = forward.__func__ if isinstance(forward, staticmethod) else forward

            def forward_then_setup_context(ctx, *args):
                output = forward(*args)
                cls.setup_context(ctx, args, output)
                return output

            cls.forward = staticmethod(forward_then_setup_context)
        if not cls.__module__.startswith("fibril.") and "forward" in cls.__dict__:
            cls._validates_outputs = True
            run = cls.__dict__["forward"]
            run = run.__func__ if isinstance(run, staticmethod) else run

            def forward_noting_inputs(ctx, *args, **kwargs):
                ctx._input_meta = tuple((a.shape, a.dtype, a.device) if hasattr(a, "_grad_edge") else None
                                        for a in args)
                return run(ctx, *args, **kwargs)

            cls.forward = staticmethod(forward_noting_inputs)

    @classmethod
    def double_backward_unsupported(cls, ctx):
        """The op's name when its backward (for this ctx) cannot be differentiated, else None."""
        once = cls.once_differentiable or getattr(cls.backward, "once_differentiable", False)
        return cls.__name__ if once else None

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    # Function.apply(*args) runs forward without recording, and, when grad mode is on and
    # some Tensor argument requires grad, attaches a Node to the floating-point outputs. It is
    # the per-call path of every op, so it lives in C++ (csrc/python/bind_autograd.cpp).
    apply = classmethod(_C.function_apply)


def once_differentiable(backward):
    """Decorates a Function's backward that computes on raw values, as torch's: its gradients
    raise when differentiated (create_graph=True)."""
    backward.once_differentiable = True
    return backward


class _NoDoubleBackward(Function):
    """Passes a gradient through, and raises when differentiated: the gradient of a backward
    that records no graph. Its inputs are the incoming gradients the backward read (so what
    they depend on is reached through it, and raises) and `anchor`, a leaf that requires grad,
    so the node is recorded whatever the gradients themselves require."""

    @staticmethod
    def forward(ctx, grad, name, anchor, *read):
        ctx.name = name
        return grad._data

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError(f"{ctx.name} does not support double backward (create_graph=True): its backward "
                           "is not differentiable")


_anchor = None


def no_double_backward(name, grad, read=()):
    """grad, as a tensor whose differentiation raises that `name` has no double backward;
    read: the tracked gradients it was computed from."""
    global _anchor
    if _anchor is None:
        _anchor = Tensor._wrap(_C.Array.full((), 0.0, _C.float32, "cpu"))
        _anchor.requires_grad_(True)
    return _NoDoubleBackward.apply(grad, name, _anchor, *read)
