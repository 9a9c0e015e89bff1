"""Activation checkpointing (torch.utils.checkpoint): a piece of the forward keeps its
inputs but not its activations, and backward runs it again to get them.

Both of torch's variants, with torch's defaults (use_reentrant=None warns and means True):

- reentrant: forward runs under no_grad; backward recomputes on detached copies of the
  inputs and calls autograd.backward on the result, which accumulates straight into the
  parameters' .grad. As torch's: only .backward() (not autograd.grad) reaches the
  parameters, and nothing does unless some input requires grad.
- non-reentrant: torch recomputes the tensors its graph saved; fibril's nodes keep their own,
  so the forward runs with grad mode on, on detached inputs, only to find the leaves its graph
  reaches (the parameters, closures included), and that graph is dropped at once. The outputs
  then hang from one node whose inputs are the argument tensors and those parameters; its
  backward recomputes and returns their gradients through autograd.grad, so .grad, hooks and
  autograd.grad see them as any other gradient. Peak memory is one segment's activations, in
  forward as in backward.

Differences from torch: the determinism check compares the outputs (shape, dtype, device),
not every saved tensor; debug=True adds no operator trace; early_stop has no effect. As
torch's, the non-reentrant variant differentiates twice (create_graph); the reentrant one
does not.
"""

import contextlib
import warnings

from .. import random as _random
from ..autograd import backward as _backward
from ..autograd import grad as _grad
from ..autograd.function import AccumulateGrad, Function
from ..autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from ..nn.containers import Sequential
from ..tensor import Tensor

__all__ = ["CheckpointError", "CheckpointFunction", "check_backward_validity", "checkpoint", "checkpoint_sequential",
           "detach_variable", "noop_context_fn"]

_DETERMINISM_CHECKS = ("default", "none")


class CheckpointError(RuntimeError):
    pass


def noop_context_fn():
    return contextlib.nullcontext(), contextlib.nullcontext()


def detach_variable(inputs):
    """Each tensor of the tuple detached, requiring grad as it did; other items as they are."""
    if not isinstance(inputs, tuple):
        raise RuntimeError(f"Only tuple of tensors is supported. Got Unsupported input type: {type(inputs).__name__}")
    return tuple(_detached(x) if isinstance(x, Tensor) else x for x in inputs)


def check_backward_validity(inputs):
    if not any(x.requires_grad for x in inputs if isinstance(x, Tensor)):
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", stacklevel=2)


def _detached(t):
    d = t.detach()
    d.requires_grad = t.requires_grad
    return d


@contextlib.contextmanager
def _rng_state(state):
    """Runs the block from the RNG state `state` (None: as it is), then puts back the state it
    found, so that a recomputation draws what the forward drew and the rest of the run does
    not see it happen. One generator serves every device in fibril."""
    if state is None:
        yield
        return
    outside = _random.get_rng_state()
    _random.set_rng_state(state)
    try:
        yield
    finally:
        _random.set_rng_state(outside)


def _map_tensors(fn, tree):
    """tree with fn applied to each tensor inside its tuples, lists and dicts."""
    if isinstance(tree, Tensor):
        return fn(tree)
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):  # a namedtuple
        return type(tree)(*(_map_tensors(fn, x) for x in tree))
    if isinstance(tree, (tuple, list)):
        return type(tree)(_map_tensors(fn, x) for x in tree)
    if isinstance(tree, dict):
        return type(tree)((k, _map_tensors(fn, v)) for k, v in tree.items())
    return tree


def _tensors_in(tree):
    found = []
    _map_tensors(found.append, tree)
    return found


# ------------------------------------------------------------------------------ reentrant
_TENSOR = object()  # where a tensor goes among arguments or outputs kept without their tensors


class CheckpointFunction(Function):
    """torch's reentrant checkpoint. Of a tuple output, forward returns the tensors only (a
    node's outputs are tensors here); checkpoint() puts the other items back."""

    once_differentiable = True

    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, *args):
        check_backward_validity(args)
        ctx.run_function = run_function
        ctx.rng_state = _random.get_rng_state() if preserve_rng_state else None
        ctx.inputs = [_TENSOR if isinstance(x, Tensor) else x for x in args]
        ctx.save_for_backward(*(x for x in args if isinstance(x, Tensor)))
        with no_grad():
            outputs = run_function(*args)
        return tuple(o for o in outputs if isinstance(o, Tensor)) if isinstance(outputs, tuple) else outputs

    @staticmethod
    def backward(ctx, *grads):
        tensors = iter(ctx.saved_tensors)
        inputs = detach_variable(tuple(next(tensors) if x is _TENSOR else x for x in ctx.inputs))
        with _rng_state(ctx.rng_state), enable_grad():
            outputs = ctx.run_function(*inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        # the gradients line up with the tensor items of the output, as forward returned them
        pairs = [(o, g) for o, g in zip((o for o in outputs if isinstance(o, Tensor)), grads) if o.requires_grad]
        if not pairs:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is not necessary")
        _backward([o for o, _ in pairs], [g for _, g in pairs])
        return (None, None) + tuple(x.grad if isinstance(x, Tensor) else None for x in inputs)


def _checkpoint_reentrant(function, preserve_rng_state, args):
    layouts = []

    def run(*inputs):
        outputs = function(*inputs)
        if not layouts and isinstance(outputs, tuple):
            layouts.append([_TENSOR if isinstance(o, Tensor) else o for o in outputs])
        return outputs

    out = CheckpointFunction.apply(run, preserve_rng_state, *args)
    if not layouts:
        return out
    tensors = iter(out)
    return tuple(next(tensors) if o is _TENSOR else o for o in layouts[0])


# ------------------------------------------------------------------------------ non-reentrant
class _Region:
    """A checkpointed call: the function, its arguments (the tensors among them are replaced
    by detached copies on each run), the RNG state it started from, and what its forward
    found: the parameters its graph reached and its tracked outputs' metadata."""

    def __init__(self, function, args, kwargs, rng_state, recompute_context, check):
        self.function, self.args, self.kwargs = function, args, kwargs
        self.rng_state, self.recompute_context, self.check = rng_state, recompute_context, check
        self.params, self.meta = [], []
        self.outputs = None  # the detached outputs, from checkpoint() to _CheckpointRegion.forward

    def run(self, inputs, context, attached=False):
        """function on detached copies of `inputs` (the argument tensors in order; the tensors
        themselves when `attached`) with grad mode on: (its output, the tensors it ran on)."""
        copies = list(inputs) if attached else [_detached(t) for t in inputs]
        replace = iter(copies)
        args, kwargs = _map_tensors(lambda _: next(replace), (self.args, self.kwargs))
        with enable_grad(), context:
            return self.function(*args, **kwargs), copies


def _leaves_reached(tensors, stop):
    """The tensors that require grad, other than those in `stop`, whose gradients the graph
    of `tensors` accumulates: the parameters a function used, closures included."""
    stop = {id(t) for t in stop}
    seen, leaves = set(), []
    stack = [t._grad_edge()[0] for t in tensors]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.__class__ is AccumulateGrad:
            leaf = node.tensor
            if leaf is not None and id(leaf) not in stop:
                leaves.append(leaf)
        else:
            stack.extend(edge[0] for edge in node.edges if edge is not None)
    return leaves


def _metadata(t):
    return {"shape": t.shape, "dtype": t.dtype, "device": t.device}


class _CheckpointRegion(Function):
    """The node of a non-reentrant checkpoint: inputs (region, *argument tensors, *params),
    outputs the region's tracked outputs. Under create_graph its backward recomputes on the
    argument tensors themselves, so the gradients it returns are recorded functions of them
    and of the parameters: a checkpointed region differentiates twice, as torch's."""

    @staticmethod
    def forward(ctx, region, *tensors):
        ctx.region = region
        ctx.save_for_backward(*tensors[:len(tensors) - len(region.params)])
        outputs, region.outputs = region.outputs, None
        return outputs

    @staticmethod
    def backward(ctx, *grads):
        region = ctx.region
        create_graph = is_grad_enabled()
        with _rng_state(region.rng_state):
            outputs, copies = region.run(ctx.saved_tensors, region.recompute_context, attached=create_graph)
        tracked = [o for o in _tensors_in(outputs) if o.requires_grad]
        if region.check:
            _check_recomputed(region.meta, tracked)
        wrt = [t for t in copies + region.params if t.requires_grad]
        roots = [(o, g) for o, g in zip(tracked, grads) if g is not None]
        found = dict(zip(map(id, wrt), _grad([o for o, _ in roots], wrt, [g for _, g in roots], retain_graph=True,
                                             create_graph=create_graph, allow_unused=True))) if roots and wrt else {}
        return (None,) + tuple(found.get(id(t)) for t in copies + region.params)


def _check_recomputed(meta, tracked):
    if len(meta) != len(tracked):
        raise CheckpointError("torch.utils.checkpoint: A different number of tensors was saved during the original "
                              f"forward and recomputation.\nNumber of tensors saved during forward: {len(meta)}\n"
                              f"Number of tensors saved during recomputation: {len(tracked)}.")
    different = [(i, m, _metadata(t)) for i, (m, t) in enumerate(zip(meta, tracked)) if m != _metadata(t)]
    if different:
        listed = "".join(f"tensor at position {i}:\nsaved metadata: {m}\nrecomputed metadata: {r}\n"
                         for i, m, r in different)
        raise CheckpointError("torch.utils.checkpoint: Recomputed values for the following tensors have different "
                              f"metadata than during the forward pass.\n{listed}.")


def _checkpoint_non_reentrant(function, preserve_rng_state, context_fn, determinism_check, args, kwargs):
    if not is_grad_enabled():
        return function(*args, **kwargs)
    forward_context, recompute_context = context_fn()
    region = _Region(function, args, kwargs, _random.get_rng_state() if preserve_rng_state else None,
                     recompute_context, determinism_check == "default")
    inputs = _tensors_in((args, kwargs))
    outputs, copies = region.run(inputs, forward_context)
    flat = _tensors_in(outputs)
    tracked = [t for t in flat if t.requires_grad]
    if not tracked:
        originals = {id(c): t for c, t in zip(copies, inputs)}
        return _map_tensors(lambda t: originals.get(id(t), t), outputs)
    region.params = _leaves_reached(tracked, copies)
    region.meta = [_metadata(t) for t in tracked]
    region.outputs = tuple(t.detach() for t in tracked)
    attached = iter(_CheckpointRegion.apply(region, *inputs, *region.params))
    originals = {id(c): t for c, t in zip(copies, inputs)}
    # the outputs' graph ends here: only the node's copies of the tracked ones leave
    return _map_tensors(lambda t: next(attached) if t.requires_grad else originals.get(id(t), t), outputs)


# ------------------------------------------------------------------------------ entry points
def checkpoint(function, *args, use_reentrant=None, context_fn=noop_context_fn, determinism_check="default",
               debug=False, early_stop=True, preserve_rng_state=True, **kwargs):
    """function(*args, **kwargs), without keeping its activations for backward (recomputed
    there, from the same RNG state when preserve_rng_state)."""
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. Starting in PyTorch "
            "2.9, calling checkpoint without use_reentrant will raise an exception. use_reentrant=False is "
            "recommended, but if you need to preserve the current default behavior, you can pass "
            "use_reentrant=True. Refer to docs for more details on the differences between the two variants.",
            stacklevel=2)
        use_reentrant = True
    if kwargs and use_reentrant:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    if use_reentrant:
        if context_fn is not noop_context_fn or debug is not False:
            raise ValueError("Passing `context_fn` or `debug` is only supported when use_reentrant=False.")
        return _checkpoint_reentrant(function, preserve_rng_state, args)
    if determinism_check not in _DETERMINISM_CHECKS:
        raise ValueError(f"determinism_check should be one of {list(_DETERMINISM_CHECKS)}, "
                         f"but got {determinism_check}")
    if debug and context_fn is not noop_context_fn:
        raise ValueError("debug=True is incompatible with non-default context_fn")
    return _checkpoint_non_reentrant(function, preserve_rng_state, context_fn, determinism_check, args, kwargs)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, preserve_rng_state=True, **kwargs):
    """functions (a Sequential or a list of callables) run in turn on input, split into
    `segments` pieces of which all but the last are checkpointed."""
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should be passed "
            "explicitly. In version 2.9 we will raise an exception if use_reentrant is not passed. "
            "use_reentrant=False is recommended, but if you need to preserve the current default behavior, you can "
            "pass use_reentrant=True. Refer to docs for more details on the differences between the two variants.",
            stacklevel=2)
        use_reentrant = True
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))

    def run(start, end):
        def forward(x):
            for j in range(start, end + 1):
                x = functions[j](x)
            return x

        return forward

    if isinstance(functions, Sequential):
        functions = list(functions.children())
    size = len(functions) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run(start, end), input, use_reentrant=use_reentrant, preserve_rng_state=preserve_rng_state)
    return run(end + 1, len(functions) - 1)(input)
