"""parameters_to_vector and vector_to_parameters, as torch.nn.utils: a model's parameters as one
flat vector (for second-order methods, evolution strategies, ...) and back."""

from ...ops.join import cat
from ...tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_param_device(param, device):
    """param's device, which must be `device` (that of the parameters before) when given."""
    if device is not None and param.device != device:
        raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return param.device


def parameters_to_vector(parameters):
    """The parameters flattened and concatenated, in order (differentiable)."""
    device = None
    vec = []
    for param in parameters:
        device = _check_param_device(param, device)
        vec.append(param.view(-1))
    return cat(vec)


def vector_to_parameters(vec, parameters):
    """Each parameter takes the next numel() values of vec (a view of vec's memory, as torch's
    param.data = ...), in order."""
    if not isinstance(vec, Tensor):
        module = type(vec).__module__
        name = type(vec).__name__ if module == "builtins" else f"{module}.{type(vec).__name__}"
        raise TypeError(f"expected fibril.Tensor, but got: {name}")
    device = None
    pointer = 0
    for param in parameters:
        device = _check_param_device(param, device)
        num_param = param.numel()
        param.data = vec[pointer:pointer + num_param].view_as(param).data
        pointer += num_param
