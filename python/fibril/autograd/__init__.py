"""Reverse-mode automatic differentiation."""

from .. import _C
from . import function as _function
from .engine import run_backward
from .function import Function, FunctionCtx
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .inference_mode import inference_mode, is_inference_mode_enabled
from .anomaly_mode import detect_anomaly, set_detect_anomaly
from . import functional
from .gradcheck_second import gradgradcheck


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulates d(tensors)/d(leaves) into the leaves' .grad. create_graph: the gradients
    are recorded, so they can be differentiated again; retain_graph defaults to it. inputs:
    the tensors (leaves or not) to accumulate into instead of every leaf; the graph beyond them
    is not run, as torch's."""
    from ..tensor import Tensor

    tensors = (tensors,) if isinstance(tensors, Tensor) else tuple(tensors)
    if grad_tensors is None:
        grad_tensors = (None,) * len(tensors)
    elif isinstance(grad_tensors, Tensor):
        grad_tensors = (grad_tensors,)
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
        if not inputs:
            raise RuntimeError("'inputs' argument to backward() cannot be empty.")
        grads = grad(tensors, inputs, grad_tensors, retain_graph, create_graph, allow_unused=True)
        for t, g in zip(inputs, grads):
            if g is not None:
                t.grad = g if t.grad is None else t.grad + g
                if t._post_accumulate_hooks:
                    _function.run_post_accumulate_hooks(t)
        return
    run_backward([_root(t, g, create_graph) for t, g in zip(tensors, grad_tensors)], retain_graph=retain_graph,
                 create_graph=create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """d(outputs)/d(inputs), returned instead of accumulated into .grad. create_graph: the
    gradients are recorded, so they can be differentiated again; retain_graph defaults to it."""
    from ..tensor import Tensor

    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,)
    if retain_graph is None:
        retain_graph = create_graph
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    nodes = [t._grad_edge() for t in inputs]
    capture = {node: None for node, _ in nodes}
    non_leaf = [(node, i) for node, i in nodes if node.__class__ is not _function.AccumulateGrad]
    # A non-leaf input's gradient is the sum arriving at its node's output: capture it there.
    hooks = []
    for node, i in non_leaf:
        def keep(g, node=node):
            capture[node] = g
        hooks.append((node, i, keep))
        node.pre_hooks = node.pre_hooks or {}
        node.pre_hooks.setdefault(i, []).append(keep)
    try:
        run_backward([_root(t, g, create_graph) for t, g in zip(outputs, grad_outputs)],
                     retain_graph=retain_graph, capture=capture, create_graph=create_graph)
    finally:
        for node, i, keep in hooks:
            node.pre_hooks[i].remove(keep)
    result = tuple(capture[node] for node, _ in nodes)
    if not allow_unused and any(r is None for r in result):
        raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                           "Set allow_unused=True if this is the desired behavior.")
    return result


def gradcheck(*args, **kwargs):
    """torch.autograd.gradcheck's place for fibril.testing.gradcheck (which needs Tensor, so
    it is imported on call)."""
    from ..testing import gradcheck as check

    return check(*args, **kwargs)


def _ones_like(tensor):
    data = tensor._data
    return _function.Tensor._wrap(_C.Array.full(data.shape, 1, data.dtype, data.device))


def _root(tensor, gradient, create_graph=False):
    if not tensor.requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    if gradient is None:
        if tensor.numel() != 1:
            raise RuntimeError(f"grad can be implicitly created only for scalar outputs, got shape "
                               f"{list(tensor.shape)}")
        gradient = _ones_like(tensor)
    elif gradient.shape != tensor.shape:
        raise RuntimeError(f"Mismatch in shape: grad_output has shape {list(gradient.shape)} and "
                           f"output has shape {list(tensor.shape)}")
    node, index = tensor._grad_edge()
    # under create_graph a tracked gradient stays tracked (as torch: Hessian-vector products)
    return node, index, gradient if create_graph else gradient.detach()


__all__ = ["Function", "FunctionCtx", "backward", "detect_anomaly", "enable_grad", "functional", "grad", "gradcheck",
           "gradgradcheck", "inference_mode", "is_grad_enabled", "is_inference_mode_enabled", "no_grad",
           "set_detect_anomaly", "set_grad_enabled"]
