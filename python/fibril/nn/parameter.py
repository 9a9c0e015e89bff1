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


class _BufferMeta(type):
    def __instancecheck__(cls, instance):
        # A Buffer is a plain Tensor marked by Buffer(): so is any tensor a module holds as one.
        if cls is Buffer and isinstance(instance, Tensor) and getattr(instance, "_is_buffer", False):
            return True
        return super().__instancecheck__(instance)


class Buffer(Tensor, metaclass=_BufferMeta):
    """A tensor that, assigned as a Module attribute, registers as a buffer (persistent: in
    state_dict), as torch.nn.Buffer: Buffer(t) is t detached (sharing its memory), marked."""

    def __new__(cls, data=None, *, persistent=True):
        if data is None:
            data = creation.empty(0)
        buffer = data.detach().requires_grad_(data.requires_grad)
        buffer.persistent, buffer._is_buffer = persistent, True
        return buffer


_UNINITIALIZED_USE = ("Attempted to use an uninitialized parameter or buffer. This error happens when you are using "
                      "a `LazyModule` or explicitly manipulating `fibril.nn.UninitializedParameter` objects. When "
                      "using LazyModules Call `forward` with a dummy batch to initialize the parameters before "
                      "calling fibril functions")


class _UninitializedTensor:
    """A parameter or buffer whose shape a lazy module learns at its first forward: it holds a
    dtype and device only (which Module.to changes) until materialize() gives it values and
    makes it a `cls_to_become`. Ops read a tensor's `_data`, which refuses here, as torch's."""

    cls_to_become = None

    def __init__(self, *args, **kwargs):
        pass  # everything happens in __new__ (Tensor.__init__ refuses direct construction)

    def _init_empty(self, requires_grad, device, dtype):
        self._empty = creation.empty(0, device=device, dtype=dtype)  # what materialize takes dtype and device from
        self.requires_grad_(requires_grad)

    @property
    def _data(self):
        raise ValueError(_UNINITIALIZED_USE)

    @property
    def dtype(self):
        return self._empty.dtype

    @property
    def device(self):
        return self._empty.device

    @property
    def shape(self):
        raise RuntimeError("Can't access the shape of an uninitialized parameter or buffer. This error usually "
                           "happens in `load_state_dict` when trying to load an uninitialized parameter into an "
                           "initialized one. Call `forward` to initialize the parameters before accessing their "
                           "attributes.")

    def materialize(self, shape, device=None, dtype=None):
        """Becomes a `cls_to_become` of `shape` (uninitialized values), with this one's dtype
        and device unless given."""
        values = creation.empty(tuple(shape), device=self.device if device is None else device,
                                dtype=self.dtype if dtype is None else dtype)
        del self._empty
        self.__class__ = self.cls_to_become
        self._data = values._data

    def share_memory_(self):
        raise RuntimeError("Can't share memory on an uninitialized parameter or buffer. Call `forward` to initialize "
                           "the parameters before calling `module.share_memory()`.")

    def __repr__(self):
        return f"<{type(self).__name__}>"

    def __deepcopy__(self, memo):
        # It holds no values: requires_grad, dtype, device (and a buffer's marks) are all to copy.
        new = memo[id(self)] = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __reduce_ex__(self, protocol):
        return type(self), (self.requires_grad,)


def is_lazy(tensor):
    """Whether `tensor` is an UninitializedParameter or UninitializedBuffer."""
    return isinstance(tensor, _UninitializedTensor)


class UninitializedParameter(_UninitializedTensor, Parameter):
    """A Parameter of a lazy module before its first forward (see _UninitializedTensor)."""

    cls_to_become = Parameter

    def __new__(cls, requires_grad=True, device=None, dtype=None):
        param = object.__new__(cls)
        param._init_empty(requires_grad, device, dtype)
        return param


class UninitializedBuffer(_UninitializedTensor, Tensor):
    """A buffer of a lazy module before its first forward (see _UninitializedTensor); a Buffer,
    so assigning it to a Module attribute registers it."""

    cls_to_become = Tensor

    def __new__(cls, requires_grad=False, device=None, dtype=None, persistent=True):
        buffer = object.__new__(cls)
        buffer._init_empty(requires_grad, device, dtype)
        buffer.persistent, buffer._is_buffer = persistent, True
        return buffer
