"""fibril.func: torch.func's function transforms -- grad, grad_and_value, vjp, jvp, jacrev,
jacfwd, hessian, vmap -- and functional_call.

They run on fibril's reverse-mode autograd and compose (grad(grad(f)), vmap(grad(f)),
jacfwd(jacrev(f))). fibril has neither forward-mode AD nor batching rules: jvp and jacfwd are
computed in reverse mode (same values), and vmap calls func once per batch entry."""

import collections

from ..nn.utils.stateless import _functional_call
from ._transforms import grad, grad_and_value, hessian, jacfwd, jacrev, jvp, vjp
from ._vmap import vmap

__all__ = ["functional_call", "grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "vmap"]


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True, strict=False):
    """module(*args, **kwargs) with the tensors of parameter_and_buffer_dicts (by dotted name)
    in place of its own parameters and buffers, which are restored after; see
    fibril.nn.utils.stateless.functional_call for tie_weights and strict. A tuple or list of
    dicts is merged; a name in more than one of them is an error. args: a tuple, or one
    argument."""
    if isinstance(parameter_and_buffer_dicts, dict):
        parameters_and_buffers = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, (tuple, list)):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError("Expected all elements of parameter_and_buffer_dicts to be dictionaries")
        counts = collections.Counter(name for d in parameter_and_buffer_dicts for name in d)
        repeated = [name for name, count in counts.items() if count > 1]
        if repeated:
            raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of functional call is ambiguous")
        parameters_and_buffers = {name: t for d in parameter_and_buffer_dicts for name, t in d.items()}
    else:
        raise ValueError("Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but got "
                         f"{type(parameter_and_buffer_dicts)}")
    return _functional_call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict)
