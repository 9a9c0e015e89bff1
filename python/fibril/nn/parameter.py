"""Parameter: a Tensor that a Module registers as learnable (requires grad by default)."""

from .. import creation
from ..tensor import Tensor


class Parameter(Tensor):
    """Shares the memory of `data` (as torch.nn.Parameter); a leaf that requires grad."""

    _copies_grad = False

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = creation.empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter expects a Tensor, got {type(data).__name__}")
        param = cls._wrap(data._data)
        param.requires_grad_(requires_grad)
        return param

    def __init__(self, data=None, requires_grad=True):
        pass  # everything happens in __new__ (Tensor.__init__ refuses direct construction)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
