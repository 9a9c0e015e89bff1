"""Function (forward + backward of one op), its context, and the graph nodes it creates.

A Function subclass defines `forward(ctx, *args)` and `backward(ctx, *grad_outputs)` as
static methods, on fibril Tensors. `Function.apply(*args)` runs forward without recording,
and, when grad mode is on and some input requires grad, attaches a `Node` to the outputs:
the node holds the context and one edge per forward input (the producer's node and output
index, or None where no gradient flows).
"""

import sys
import weakref

from .grad_mode import _state as _grad_state
from .grad_mode import no_grad

Tensor = None  # fibril.Tensor, set by tensor.py (which imports this module)


class FunctionCtx:
    """What forward leaves for backward: saved tensors (version-checked), plain attributes,
    and `needs_input_grad` (one bool per forward argument)."""

    _saved = ()
    _released = False
    needs_input_grad = ()
    materialize_grads = True

    def save_for_backward(self, *tensors):
        self._saved = tuple(None if t is None else (t, t._version.value) for t in tensors)

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
            copy = Tensor._wrap(tensor._data.clone())
            self._saved = tuple((copy, 0) if entry is not None and entry[0] is tensor else entry
                                for entry in self._saved)

    def _release(self):
        self._saved = ()
        self._released = True


class Node:
    """A recorded op: calls the Function's backward and routes gradients along its edges."""

    __slots__ = ("function", "ctx", "edges", "num_outputs", "pre_hooks", "__weakref__")

    def __init__(self, function, ctx, edges, num_outputs):
        self.function = function
        self.ctx = ctx
        self.edges = edges
        self.num_outputs = num_outputs
        self.pre_hooks = None  # {output index: [hook]}, from Tensor.register_hook

    def name(self):
        return f"{self.function.__name__}Backward0"

    def __repr__(self):
        return f"<{self.name()}>"

    def apply(self, grads):
        if self.ctx._released:
            self.ctx.saved_tensors  # raises the "backward twice" error
        with no_grad():
            out = self.function.backward(self.ctx, *grads)
        if not isinstance(out, tuple):
            out = (out,)
        if len(out) < len(self.edges):
            raise RuntimeError(f"{self.function.__name__}.backward returned {len(out)} gradients, "
                               f"expected {len(self.edges)}")
        return out[: len(self.edges)]

    def release(self):
        self.ctx._release()


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
            t.grad = grad.detach() if _held_by_engine_only(grad) else grad.detach().clone()

    def release(self):
        pass


def _held_by_engine_only(grad):
    """True when the references to `grad` are the engine's list of the node's gradients,
    accumulate's argument and this one (and getrefcount's own), its Array is referenced by grad
    alone, and that Array is the whole, dense, unshared storage (no view, numpy or DLPack
    export shares it)."""
    a = grad._data
    return (sys.getrefcount(grad) == 4 and sys.getrefcount(a) == 3 and a.offset == 0 and a.is_contiguous()
            and a.nbytes == a.storage_nbytes and a._storage_use_count() == 1)


class Function:
    """Base class of differentiable operations. Subclasses define static forward/backward."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        # The per-call path of every op: kept to plain attribute reads, no helper calls.
        ctx = FunctionCtx()
        needs = tuple([isinstance(a, Tensor) and (a._requires_grad or a.grad_fn is not None) for a in args])
        ctx.needs_input_grad = needs
        state = _grad_state
        if not state.enabled or True not in needs:
            # Nothing to record: forward's own ops see no input that requires grad either.
            return cls.forward(ctx, *args)
        state.enabled = False
        try:
            out = cls.forward(ctx, *args)
        finally:
            state.enabled = True
        outputs = out if isinstance(out, tuple) else (out,)
        edges = tuple([a._grad_edge() if n else None for a, n in zip(args, needs)])
        node = Node(cls, ctx, edges, len(outputs))
        if len(outputs) > 1:
            ctx._output_meta = tuple((o.shape, o.dtype, o.device) for o in outputs)
        for i, o in enumerate(outputs):
            if isinstance(o, Tensor) and o._data.dtype.is_floating_point:
                o.grad_fn = node
                o._output_nr = i
        return out
