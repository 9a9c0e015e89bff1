"""Double backward for fused ops by recomputation: under create_graph, a fused op's backward
recomputes its forward from differentiable ops on the same inputs and returns that
composition's recorded gradients, so they can be differentiated again. The plain backward
(grad mode off) keeps the fused kernel."""

from . import grad


def composed_gradients(compose, inputs, needs_input_grad, grad_output):
    """The gradients of compose(*inputs) against grad_output, recorded, for every input whose
    needs_input_grad is set (None for the others). compose must compute the op's forward from
    differentiable ops."""
    wrt = [t for t, need in zip(inputs, needs_input_grad) if need]
    grads = iter(grad(compose(*inputs), wrt, grad_output, create_graph=True, allow_unused=True)) if wrt else None
    return tuple(next(grads) if need else None for need in needs_input_grad[:len(inputs)])
