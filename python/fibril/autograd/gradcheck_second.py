"""gradgradcheck: second derivatives checked as torch's, by running fibril.testing.gradcheck
on the function that returns func's gradients (with their graph) for given grad_outputs."""


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True):
    """Compares numerical and analytical derivatives of d(func)/d(inputs) . grad_outputs with
    respect to the inputs and the grad_outputs (float64, central differences). grad_outputs
    defaults to random values in [-1, 1), one per output that requires grad, requiring grad
    themselves; gen_non_contig_grad_outputs makes those non-contiguous. Returns True, or False
    (raise_exception=False) or raises AssertionError on a mismatch."""
    from .. import autograd
    from ..testing import gradcheck

    inputs = _as_tuple(inputs)
    if grad_outputs is None:
        grad_outputs = tuple(_random_like(out, gen_non_contig_grad_outputs)
                             for out in _differentiable_outputs(func(*inputs)))
    else:
        grad_outputs = _as_tuple(grad_outputs)
    n_inputs = len(inputs)
    diff_indices = [i for i, t in enumerate(inputs) if _requires_grad(t)]

    def gradients(*args):
        with autograd.enable_grad():  # gradcheck takes its finite differences under no_grad
            outputs = _differentiable_outputs(func(*args[:n_inputs]))
            grads = autograd.grad(outputs, tuple(args[i] for i in diff_indices), args[n_inputs:],
                                  create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(gradients, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)


def _as_tuple(value):
    if isinstance(value, tuple):
        return value
    return tuple(value) if isinstance(value, list) else (value,)


def _requires_grad(value):
    from ..tensor import Tensor

    return isinstance(value, Tensor) and value.requires_grad


def _differentiable_outputs(outputs):
    return tuple(o for o in _as_tuple(outputs) if _requires_grad(o))


def _random_like(out, non_contiguous):
    """Uniform in [-1, 1), out's shape and float dtype (float64 for any other), requiring grad;
    non-contiguous (every other element of a wider tensor) when asked and out has 2+ elements,
    as torch.testing.make_tensor."""
    from .. import float64, rand

    dtype = out.dtype if out.dtype.is_floating_point else float64
    shape = tuple(out.shape)
    if non_contiguous and out.numel() > 1:
        wide = rand(*shape[:-1], 2 * shape[-1], dtype=dtype, device=out.device) * 2 - 1
        return wide[..., ::2].requires_grad_(True)
    return (rand(*shape, dtype=dtype, device=out.device) * 2 - 1).requires_grad_(True)
