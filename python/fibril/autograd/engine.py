"""Reverse-mode execution: from root gradients, run every reachable node once, in an order
where a node runs only after every consumer of its outputs has sent its gradient.
Iterative (no recursion), so a 10,000-step chain works."""

from collections import deque

from . import anomaly_mode
from .function import AccumulateGrad, _NoDoubleBackward, no_double_backward
from .grad_mode import _set_enabled, is_grad_enabled


def _children(node, wanted):
    """The nodes node's gradients flow to (one per edge), those in `wanted` only unless it is None."""
    return [e[0] for e in node.edges if e is not None and (wanted is None or e[0] in wanted)]


def _dependencies(roots, wanted=None):
    """How many gradient messages each node will receive from nodes reachable from roots
    (counting only the edges into `wanted` nodes when given)."""
    deps = {}
    seen = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for edge in node.edges:  # inline, not _children: this runs for every node of every backward
            if edge is None or (wanted is not None and edge[0] not in wanted):
                continue
            child = edge[0]
            deps[child] = deps.get(child, 0) + 1
            stack.append(child)
    return deps


def _leading_to(roots, targets):
    """The nodes reachable from roots through which some target is reached, targets included:
    autograd.grad runs only these, as torch, so the graph beyond its inputs is neither computed
    nor released."""
    post_order, seen = [], set()
    stack = [(root, False) for root in roots]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            post_order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node, None) if child not in seen)
    wanted = set()
    for node in post_order:  # a graph is acyclic: children come first
        # a gradient's refusal to be differentiated runs (and raises) wherever it is reached
        if (node in targets or getattr(node, "function", None) is _NoDoubleBackward
                or any(child in wanted for child in _children(node, None))):
            wanted.add(node)
    return wanted


def _run_pre_hooks(node, index, grad):
    # retain_grad's hook runs last, whenever it was registered (as torch)
    for hook in sorted(node.pre_hooks.get(index, ()), key=lambda h: getattr(h, "retains_grad", False)):
        result = hook(grad)
        if result is not None:
            grad = result
    return grad


def run_backward(roots, retain_graph=False, capture=None, create_graph=False):
    """roots: [(node, output index, gradient)]. When `capture` (a dict node -> None) is
    given (autograd.grad), leaves accumulate nothing and the gradients reaching the leaf
    nodes in `capture` are stored there; otherwise leaves accumulate into .grad.
    create_graph: backward functions and hooks run with grad mode on, so the gradients have
    a graph of their own (higher-order gradients)."""
    # Grad mode is set once here: off, unless the gradient computations are to be recorded.
    enabled = is_grad_enabled()
    _set_enabled(create_graph)
    try:
        _run(roots, retain_graph, capture, create_graph)
    finally:
        _set_enabled(enabled)


def _run(roots, retain_graph, capture, create_graph):
    wanted = None if capture is None else _leading_to([n for n, _, _ in roots], capture)
    buffers = {}  # node -> list of summed gradients, one per output
    for node, index, grad in roots:
        if wanted is None or node in wanted:
            _add(buffers, node, index, grad)
    deps = _dependencies(list(buffers), wanted)
    capture_only = () if wanted is None else {n for n in capture if not _children(n, wanted)}
    ready = deque(n for n in buffers if deps.get(n, 0) == 0)
    executed = []
    while ready:
        node = ready.popleft()
        grads = buffers.pop(node)
        if node.pre_hooks:
            grads = [g if g is None else _run_pre_hooks(node, i, g) for i, g in enumerate(grads)]
        if node.__class__ is AccumulateGrad:
            if capture is not None:
                if node in capture:
                    capture[node] = grads[0]
            elif grads[0] is not None:
                if create_graph:
                    node.accumulate_with_graph(grads[0])
                else:
                    node.accumulate(grads[0])
            continue
        if node in capture_only:
            continue  # a non-leaf input of autograd.grad: its pre-hook captured the gradient
        if not node.ctx.materialize_grads or all(g is not None for g in grads):
            inputs = grads
        else:
            inputs = [g if g is not None else _zeros_for(node, i) for i, g in enumerate(grads)]
        if anomaly_mode._enabled:
            outs = _apply_detecting_anomalies(node, inputs, create_graph)
        else:
            outs = _apply_with_graph(node, inputs) if create_graph else node.apply(inputs)
        executed.append(node)
        for edge, g in zip(node.edges, outs):
            if edge is None or (wanted is not None and edge[0] not in wanted):
                continue
            child, index = edge
            if g is not None:
                _add(buffers, child, index, g)
            deps[child] -= 1
            if deps[child] == 0:
                if child in buffers:
                    ready.append(child)
                else:
                    _skip(child, deps, buffers, ready, wanted)
        inputs = outs = g = None  # only the buffers hold the gradients now, so a leaf may take one
    if not retain_graph:
        for node in executed:
            node.release()


def _apply_detecting_anomalies(node, grads, create_graph):
    """node's backward under anomaly mode: an error it raises, or a NaN it returns (with
    check_nan), comes with a warning that shows the forward call which recorded the node."""
    try:
        outs = _apply_with_graph(node, grads) if create_graph else node.apply(grads)
        if anomaly_mode._check_nan:
            anomaly_mode.check_nan(node, outs)
    except Exception:
        anomaly_mode.warn_error_in(node)
        raise
    return outs


def _apply_with_graph(node, grads):
    """node.apply with grad mode on. Where the backward records no graph although its result
    may depend on tracked tensors, the gradients it returns raise when differentiated: never a
    gradient silently missing part of its graph. A once-differentiable op's gradients always
    do: what its backward read (a saved intermediate, the inputs' values) is not visible here."""
    outs = node.apply(grads)
    name = node.function.double_backward_unsupported(node.ctx)
    read = [g for g in grads if g is not None and g.requires_grad]
    if name is None:
        # A differentiable backward is linear in the incoming gradient: from a tracked one it
        # returns tracked gradients. An untracked result there was computed on raw arrays.
        if not read or all(g is None or g.requires_grad for g in outs):
            return outs
        name = node.function.__name__
        return tuple(g if g is None or edge is None or g.requires_grad else no_double_backward(name, g, read)
                     for g, edge in zip(outs, node.edges))
    # tracked or not, what a once-differentiable backward returns misses part of its graph
    return tuple(g if g is None or edge is None else no_double_backward(name, g, read)
                 for g, edge in zip(outs, node.edges))


def _skip(node, deps, buffers, ready, wanted):
    """A node that received no gradient at all still releases its consumers' counts."""
    stack = [node]
    while stack:
        n = stack.pop()
        for child in _children(n, wanted):
            deps[child] -= 1
            if deps[child] == 0:
                (ready.append(child) if child in buffers else stack.append(child))


def _add(buffers, node, index, grad):
    slots = buffers.get(node)
    if slots is None:
        slots = buffers[node] = [None] * node.num_outputs
    slots[index] = grad if slots[index] is None else slots[index] + grad


def _zeros_for(node, index):
    from ..creation import zeros

    shape, dtype, device = node.ctx._output_meta[index]
    return zeros(shape, dtype=dtype, device=device)
