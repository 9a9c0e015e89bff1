"""Sequential, ModuleList, ModuleDict and ParameterList: modules that hold modules (or
parameters) under their position or key, as torch.nn's (and the deprecated Container). Sequential runs a Linear followed by
ReLU (or GELU, without autograd) as one GEMM with the activation fused in its epilogue, and a
ReLU followed by a max pool as the pool then the ReLU (the same values and gradients, on a
fraction of the elements)."""

import collections
import collections.abc
import operator
import warnings

from ..autograd import is_grad_enabled
from ..ops.matmul import linear
from ..tensor import Tensor
from .activation import GELU, ReLU
from .linear import Linear
from .module import Module, _has_call_hooks
from .parameter import Parameter
from .pooling import MaxPool1d, MaxPool2d


def _fused_activation(module, following, x):
    """The matmul epilogue that computes `following` after the Linear `module`, or None. Only
    plain modules (no hooks, not subclassed) fuse; gelu only when no gradient is recorded (its
    fused form has no backward)."""
    if type(module) is not Linear or _has_call_hooks(module) or _has_call_hooks(following):
        return None
    if type(following) is ReLU:
        return "relu"
    if type(following) is GELU:
        recording = is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in module.parameters()))
        if not recording:
            return "gelu" if following.approximate == "none" else "gelu_tanh"
    return None


def _pools_first(module, following):
    """Whether the ReLU `module` and the max pool `following` may run as the pool, then the
    ReLU: relu is monotonic, so max(relu(x)) = relu(max(x)) exactly (NaN too), and where a
    window's maximum is not positive both orders pass no gradient. The ReLU then touches 1/k of
    the elements, forward and backward (a 2x2 pool: a quarter; CNN 28x28 step: 8.9 -> 6.9 ms).
    Only plain modules (no hooks, not subclassed), a pool that returns no indices."""
    if type(module) is not ReLU or type(following) not in (MaxPool1d, MaxPool2d) or following.return_indices:
        return False
    return not (_has_call_hooks(module) or _has_call_hooks(following))


def _index(i, n, kind):
    i = operator.index(i)
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of range for a {kind} of length {n}")
    return i % n


class Sequential(Module):
    """Sequential(m0, m1, ...) or Sequential(OrderedDict(name=m)): calls each in turn."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], collections.OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def forward(self, x):
        modules = list(self._modules.values())
        i = 0
        while i < len(modules):
            act = _fused_activation(modules[i], modules[i + 1], x) if i + 1 < len(modules) else None
            if act is not None:  # Linear then its activation: one GEMM with the activation in its epilogue
                x = linear(x, modules[i].weight, modules[i].bias, act)
                i += 2
            elif i + 1 < len(modules) and _pools_first(modules[i], modules[i + 1]):
                x = modules[i](modules[i + 1](x))
                i += 2
            else:
                x = modules[i](x)
                i += 1
        return x

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(collections.OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[_index(idx, len(self), "Sequential")]

    def __setitem__(self, idx, module):
        key = list(self._modules)[_index(idx, len(self), "Sequential")]
        self.add_module(key, module)

    def __delitem__(self, idx):
        keys = list(self._modules)
        for key in keys[idx] if isinstance(idx, slice) else [keys[_index(idx, len(self), "Sequential")]]:
            del self._modules[key]
        self._renumber()

    def _renumber(self):
        """Keys 0, 1, ... again (named ones too, as torch after a deletion)."""
        modules = list(self._modules.values())
        self._modules.clear()
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def pop(self, idx):
        module = self[idx]
        del self[idx]
        return module

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index, module):
        if not -len(self) <= index <= len(self):
            raise IndexError(f"Index out of range: {index}")
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        return self.extend(modules)

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def __add__(self, other):
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        return Sequential(*self, *other)

    def __iadd__(self, other):
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        return self.extend(list(other))


class ModuleList(Module):
    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[str(_index(idx, len(self), "ModuleList"))]

    def __setitem__(self, idx, module):
        self.add_module(str(_index(idx, len(self), "ModuleList")), module)

    def __delitem__(self, idx):
        modules = list(self._modules.values())
        del modules[idx if isinstance(idx, slice) else _index(idx, len(self), "ModuleList")]
        self._modules.clear()
        self.extend(modules)

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        self.extend(modules)

    def pop(self, idx):
        module = self[idx]
        del self[idx]
        return module

    def __add__(self, other):
        return ModuleList([*self, *other])

    def __iadd__(self, other):
        return self.extend(other)

    def __repr__(self):
        """As torch: a run of equal entries is one line, "(0-2): 3 x Linear(...)"."""
        runs = []  # [first index, last index, repr]
        for i, module in enumerate(self):
            text = repr(module)
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        name = type(self).__name__
        if not runs:
            return f"{name}()"
        lines = [(f"({a}): " if a == b else f"({a}-{b}): {b - a + 1} x ") + text.replace("\n", "\n  ")
                 for a, b, text in runs]
        return f"{name}(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key):
        return self._modules.pop(key)

    def clear(self):
        self._modules.clear()

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for key, module in items:
            self[key] = module


def _type_name(tensor):
    """torch.typename's form: fibril.FloatTensor, fibril.cuda.FloatTensor."""
    name = tensor.type()
    return name.replace("fibril.", "fibril.cuda.", 1) if tensor.is_cuda else name


def _entry_line(key, value, dtype_name):
    """One entry of ParameterList's or ParameterDict's repr, as torch's."""
    if not isinstance(value, Tensor):
        return f"  ({key}): Object of type: {type(value).__name__}"
    size = "x".join(str(d) for d in value.shape)
    device = "" if value.device == "cpu" else f" ({value.device})"
    kind = "Parameter" if isinstance(value, Parameter) else "Tensor"
    return f"  ({key}): {kind} containing: [{dtype_name(value)} of size {size}{device}]"


class ParameterList(Module):
    """Values in a list, as torch's (since 1.12): a tensor is wrapped as a Parameter and
    registered (state_dict names "0", "1", ...), a module becomes a submodule, any other object
    is kept as it is (an attribute named by its index)."""

    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def __len__(self):
        return self._size

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList(list(self)[idx])
        return getattr(self, str(_index(idx, len(self), "ParameterList")))

    def __setitem__(self, idx, value):
        self._set(str(_index(idx, len(self), "ParameterList")), value)

    def _set(self, name, value):
        if isinstance(value, Tensor) and not isinstance(value, Parameter):
            value = Parameter(value)
        setattr(self, name, value)

    def append(self, value):
        self._set(str(len(self)), value)
        self._size += 1
        return self

    def extend(self, values):
        if isinstance(values, Tensor) or not isinstance(values, collections.abc.Iterable):
            raise TypeError(f"ParameterList.extend should be called with an iterable, but got {type(values).__name__}")
        for value in values:
            self.append(value)
        return self

    def __iadd__(self, values):
        return self.extend(values)

    def extra_repr(self):
        return "\n".join(_entry_line(i, value, lambda t: t.dtype) for i, value in enumerate(self))


class ParameterDict(Module):
    """Values under string keys, in insertion order. Tensors are wrapped as Parameters and
    registered as this module's parameters (state_dict names "key", or "prefix.key" in a
    parent), modules become submodules; other values are kept as they are, as torch does. A
    plain dict given to update (or the constructor) is added in sorted key order, as torch does."""

    def __init__(self, parameters=None):
        super().__init__()
        object.__setattr__(self, "_entries", {})  # every value, parameters included, in key order
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        return self._entries[key]

    def __setitem__(self, key, value):
        if isinstance(value, Tensor) and not isinstance(value, Parameter):
            value = Parameter(value)
        if value is None or isinstance(value, Parameter):
            self._modules.pop(key, None)
            self.register_parameter(key, value)
        elif isinstance(value, Module):
            self._parameters.pop(key, None)
            self.add_module(key, value)
        else:
            self._check_name(key, "parameter")
            self._parameters.pop(key, None)
            self._modules.pop(key, None)
        self._entries[key] = value

    def __delitem__(self, key):
        del self._entries[key]
        self._parameters.pop(key, None)
        self._modules.pop(key, None)

    def __len__(self):
        return len(self._entries)

    def __iter__(self):
        return iter(self._entries)

    def __reversed__(self):
        return reversed(self._entries)

    def __contains__(self, key):
        return key in self._entries

    def keys(self):
        return self._entries.keys()

    def values(self):
        return self._entries.values()

    def items(self):
        return self._entries.items()

    def get(self, key, default=None):
        return self._entries.get(key, default)

    def pop(self, key):
        value = self[key]
        del self[key]
        return value

    def popitem(self):
        key = next(reversed(self._entries))
        return key, self.pop(key)

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self):
        self._entries.clear()
        self._parameters.clear()
        self._modules.clear()

    def copy(self):
        return ParameterDict(collections.OrderedDict(self.items()))

    def fromkeys(self, keys, default=None):
        return ParameterDict((k, default) for k in keys)

    def __or__(self, other):
        merged = self.copy()
        merged.update(other)
        return merged

    def update(self, parameters):
        if isinstance(parameters, (collections.OrderedDict, ParameterDict)):
            items = parameters.items()
        elif isinstance(parameters, collections.abc.Mapping):
            items = sorted(parameters.items())
        elif isinstance(parameters, collections.abc.Iterable):
            items = parameters
        else:
            raise TypeError(f"ParameterDict.update should be called with an iterable of key/value pairs, but got "
                            f"{type(parameters).__name__}")
        for j, pair in enumerate(items):
            if len(pair) != 2:
                raise ValueError(f"ParameterDict update sequence element #{j} has length {len(pair)}; 2 is required")
            self[pair[0]] = pair[1]

    def extra_repr(self):
        return "\n".join(_entry_line(key, value, _type_name) for key, value in self.items())


class Container(Module):
    """Deprecated, as torch.nn.Container: a Module whose children are given as keyword arguments."""

    def __init__(self, **kwargs):
        warnings.warn("`nn.Container` is deprecated. All of its functionality is now implemented in `nn.Module`. "
                      "Subclass that instead.", FutureWarning, stacklevel=2)
        super().__init__()
        for key, value in kwargs.items():
            self.add_module(key, value)
