"""Tensor: a fibril Array plus what autograd needs (requires_grad, grad, grad_fn, version).

Ops live in ops/<family>.py as autograd Functions; this file holds the class, its
attributes, conversions and the methods that forward to those ops. Operator methods are
attached by the op modules (ops/elementwise.py, ...) so each family stays in one file.
"""

import copy
import warnings
import weakref

import numpy as np

from . import _C
from . import autograd as _autograd
from . import devices as _devices
from .autograd import function as _function


class Size(tuple):
    """A tensor's shape: a tuple that prints like PyTorch's."""

    def __repr__(self):
        return f"fibril.Size({list(self)})"

    def numel(self):
        n = 1
        for d in self:
            n *= d
        return n


# Per-tensor state that __deepcopy__ rebuilds rather than copies.
_TENSOR_STATE = frozenset({"_data", "_version", "_requires_grad", "grad", "grad_fn", "_output_nr", "_accumulator",
                           "_leaf_hooks", "_post_accumulate_hooks", "_shape", "_base", "_creation",
                           "_creation_if_recorded"})


class _Version:
    """Counts in-place changes; shared by a tensor and all its views."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


class _LazyVersion:
    """Tensor._version made on first use: most op outputs are never versioned (only saved,
    viewed or changed in place ones are), and creating the counter is a noticeable part of
    an op's per-call cost. A non-data descriptor, so once set the instance attribute wins."""

    def __get__(self, tensor, owner):
        if tensor is None:
            return self
        version = tensor._version = _Version()
        return version


class Tensor:
    # Defaults live on the class so that wrapping an Array sets one or two attributes only.
    _version = _LazyVersion()
    _requires_grad = False
    grad = None
    grad_fn = None
    _output_nr = 0
    _accumulator = None  # the leaf's AccumulateGrad node (which refers back weakly)
    _leaf_hooks = None
    _post_accumulate_hooks = None  # run with the leaf once its .grad is accumulated (see AccumulateGrad)
    _shape = None
    _base = None  # set on views: the tensor whose memory they share
    _creation = None  # on views: why autograd refuses to change them in place (see _View)
    _copies_grad = True  # deepcopy and pickle keep .grad (a Parameter's copies drop it, as torch)

    def __init__(self, *args, **kwargs):
        raise TypeError("create tensors with fibril.tensor(), fibril.zeros(), fibril.from_numpy(), ...")

    @classmethod
    def _wrap(cls, array, version=None):
        t = object.__new__(cls)
        t._data = array
        if version is not None:
            t._version = version
        return t

    # ------------------------------------------------------------------ attributes
    @property
    def shape(self):
        # Cached: the Array under a tensor never changes shape.
        shape = self._shape
        if shape is None:
            shape = self._shape = Size(self._data.shape)
        return shape

    def size(self, dim=None):
        return self.shape if dim is None else self._data.shape[_wrap_dim(dim, self.ndim)]

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def device(self):
        return _devices.of(self._data.device)

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    def numel(self):
        return self._data.numel()

    nelement = numel

    def ndimension(self):
        return self._data.ndim

    def element_size(self):
        return self._data.itemsize

    @property
    def itemsize(self):
        return self._data.itemsize

    @property
    def nbytes(self):
        return self.numel() * self._data.itemsize

    def stride(self, dim=None):
        s = self._data.strides
        return s if dim is None else s[_wrap_dim(dim, self.ndim)]

    def storage_offset(self):
        return self._data.offset

    def is_contiguous(self, memory_format=None):
        if memory_format is None:
            return self._data.is_contiguous()
        from . import memory_formats as formats

        return formats.is_contiguous_as(self, memory_format)

    @property
    def layout(self):
        from .memory_formats import strided

        return strided

    def get_device(self):
        """The CUDA device index, -1 on the CPU (torch's)."""
        return self.device.index if self.is_cuda else -1

    def data_ptr(self):
        return self._data.data_ptr()

    def is_floating_point(self):
        return self.dtype.is_floating_point

    def is_complex(self):
        return False  # fibril has no complex dtypes

    @property
    def is_cuda(self):
        return self.device.startswith("cuda")

    @property
    def is_cpu(self):
        return self.device == "cpu"

    @property
    def output_nr(self):
        """Which output of the op that made this tensor it is (0 for a leaf)."""
        return self._output_nr

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def requires_grad(self):
        return self._requires_grad or self.grad_fn is not None

    @requires_grad.setter
    def requires_grad(self, value):
        if self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        if value and not self.dtype.is_floating_point:
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients, got {self.dtype}")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def data(self):
        """The values without history, as detach(), but with a version counter of its own (as
        torch): in-place changes through .data are invisible to autograd's checks."""
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value):
        """As torch: this tensor takes value's memory (shape and dtype too), keeping its own
        identity, requires_grad, grad and history."""
        if not isinstance(value, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(value).__name__}")
        if self.requires_grad and not value.dtype.is_floating_point:
            raise RuntimeError("data set to a tensor that requires gradients must be floating point or complex dtype")
        self._data, self._shape = value._data, None

    @property
    def T(self):
        from .ops import index

        return index.permute(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self):
        """The transpose of the last two dims. As torch, the identity (a view) on a 0-D tensor,
        with its deprecation warning, and refused on a 1-D one."""
        if self.ndim == 0:
            warnings.warn("Tensor.mT is deprecated on 0-D tensors. This function is the identity in these cases.",
                          UserWarning, stacklevel=2)
            return self[...]
        if self.ndim == 1:
            raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.")
        return self.transpose(-2, -1)

    def t(self):
        """torch.Tensor.t: the transpose of a matrix; 0-D and 1-D tensors as they are."""
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.transpose(0, 1) if self.ndim == 2 else self

    def __deepcopy__(self, memo):
        """A new leaf with its own copy of the values, requires_grad and grad (as torch; the
        subclass, e.g. Parameter, is kept). Only leaves can be deep-copied, as in torch."""
        if self.grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                               "protocol at the moment")
        new = type(self)._wrap(self._data.clone())
        memo[id(self)] = new
        new._requires_grad = self._requires_grad
        if self.grad is not None and self._copies_grad:
            new.grad = copy.deepcopy(self.grad, memo)
        for name, value in self.__dict__.items():  # user attributes; the tensor's own state is set above
            if name not in _TENSOR_STATE:
                setattr(new, name, copy.deepcopy(value, memo))
        return new

    def __reduce_ex__(self, protocol):
        """Pickling (multiprocessing, caches, torch.save-style code): the values through numpy
        on the host (16-bit floats as float32, exact), then dtype, device, requires_grad and
        grad; the subclass (Parameter) is kept. Only leaves, as deepcopy."""
        if self.grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) can be pickled; "
                               "detach() the tensor first")
        host = self.detach().cpu()
        wide = host.float() if host.dtype in (_C.float16, _C.bfloat16) else host
        extras = {name: value for name, value in self.__dict__.items() if name not in _TENSOR_STATE}
        return _rebuild, (type(self), wide.numpy().copy(), host.dtype.name, str(self.device), self._requires_grad,
                          self.grad if self._copies_grad else None, extras)

    # ------------------------------------------------------------------ autograd plumbing
    def _grad_edge(self):
        if self.grad_fn is not None:
            return self.grad_fn, self._output_nr
        return self._accumulator or self._make_accumulator(), 0

    def _make_accumulator(self):
        acc = self._accumulator = _function.AccumulateGrad(self)
        return acc

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        _autograd.backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)

    def register_hook(self, hook):
        """Calls hook(grad) when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            self._leaf_hooks = self._leaf_hooks or {}
            hooks = self._leaf_hooks.setdefault(0, [])
        else:
            self.grad_fn.pre_hooks = self.grad_fn.pre_hooks or {}
            hooks = self.grad_fn.pre_hooks.setdefault(self._output_nr, [])
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Calls hook(self) after backward has accumulated a gradient into this leaf's .grad
        (not for autograd.grad, which accumulates nothing, as torch)."""
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = []
        self._post_accumulate_hooks.append(hook)
        return _HookHandle(self._post_accumulate_hooks, hook)

    def detach(self):
        return Tensor._wrap(self._data, self._version)

    def detach_(self):
        if self._base is not None:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self):
        """Keeps this non-leaf's gradient in .grad, as its other hooks leave it (the engine runs
        this hook last, as torch); once, however often called."""
        if self.is_leaf or self.retains_grad:
            return
        def keep(g, ref=weakref.ref(self)):
            t = ref()
            if t is not None:
                t.grad = g.detach().clone() if t.grad is None else t.grad + g.detach()
        keep.retains_grad = True
        self.register_hook(keep)

    @property
    def retains_grad(self):
        hooks = (self.grad_fn.pre_hooks or {}) if self.grad_fn is not None else {}
        return any(getattr(h, "retains_grad", False) for h in hooks.get(self._output_nr, ()))

    # ------------------------------------------------------------------ conversions
    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if not self.device == "cpu":
            raise TypeError(f"can't convert {self.device} tensor to numpy; use .cpu() first")
        if self.dtype == _C.bfloat16:
            raise TypeError("Got unsupported ScalarType BFloat16: numpy has no bfloat16; use .float() first")
        return np.asarray(self._data)

    def share_memory_(self):
        """self. fibril's storage cannot be moved into memory shared between processes (a tensor
        crosses a process boundary by value), so is_shared() stays False: code relying on
        Hogwild-style sharing is not silently given copies it believes are shared."""
        return self

    def is_shared(self):
        return False

    def pin_memory(self, device=None):
        """torch's page-locked copy of a CPU tensor. fibril allocates no page-locked memory, so
        it is an ordinary copy (is_pinned() stays False); refused without a GPU, as torch."""
        from . import cuda

        if not cuda.is_available():
            raise RuntimeError("Cannot access accelerator device when none is available.")
        if not self.is_cpu:
            raise RuntimeError(f"cannot pin '{self.type()}' only dense CPU tensors can be pinned")
        return self.clone()

    def is_pinned(self, device=None):
        return False

    def __array__(self, dtype=None, copy=None):
        arr = np.asarray(self._data)
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def type(self, dtype=None, non_blocking=False):
        """type(): the type name, e.g. 'fibril.FloatTensor'; type(dtype or such a name): self
        converted to that dtype (self when it has it)."""
        if dtype is None:
            return "fibril." + _TYPE_NAMES[self.dtype.name]
        if isinstance(dtype, str):
            names = {f"{module}.{name}": d for d, name in _TYPE_NAMES.items() for module in ("fibril", "torch")}
            if dtype not in names:
                raise ValueError(f"invalid type: '{dtype}'")
            dtype = getattr(_C, names[dtype])
        return self.to(dtype)

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return _host_values(self._data).reshape(()).item()

    def tolist(self):
        return _host_values(self._data).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __index__(self):
        if self.dtype.is_floating_point or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __dlpack__(self, **kwargs):
        return self._data.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def __repr__(self):
        return _format(self)

    def __format__(self, format_spec):
        """As torch: a 0-d tensor formats as its value (f"{loss:.4f}"); others only with an empty spec."""
        if self.ndim == 0:
            return format(self.item(), format_spec)
        return object.__format__(self, format_spec)

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ new_* factories (self's dtype and device)
    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        from .creation import tensor

        return tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        from .creation import full

        return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        from .creation import empty

        return empty(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        from .creation import zeros

        return zeros(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        from .creation import ones

        return ones(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new(self, *args, device=None):
        """The legacy constructor, as torch's Tensor.new: self's dtype, on self's device unless
        given. new() is empty; new(*sizes) or new(Size) uninitialised; new(tensor) an alias of
        tensor (of self's dtype); new(data) a copy of a (nested) sequence's values."""
        from .creation import empty, tensor

        device = device or self.device
        if not args:
            return empty(0, dtype=self.dtype, device=device)
        if len(args) == 1 and isinstance(args[0], Tensor):
            other = args[0]
            if other.dtype != self.dtype:
                raise TypeError(f"expected {self.type()} (got {other.type()})")
            return other.view(other.shape)
        if isinstance(args[0], Size) or all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            return empty(*args, dtype=self.dtype, device=device)
        if len(args) == 1:
            return tensor(args[0], dtype=self.dtype, device=device)
        raise TypeError("new() expects sizes, a Size, a tensor or a sequence of values")

    # ------------------------------------------------------------------ Python callables, element by element
    def apply_(self, callable):
        """Replaces each element x by callable(x), on the host (CPU tensors only, as torch; slow)."""
        self._check_host_callable("apply_")
        mine = _host_values(self._data)
        return self._write_host_values([callable(x) for x in mine.reshape(-1).tolist()], mine.dtype)

    def map_(self, tensor, callable):
        """Replaces each element x by callable(x, y), y the element of `tensor` (broadcast to self's
        shape, of self's dtype) at the same place (CPU tensors only, as torch; slow)."""
        self._check_host_callable("map_")
        if tensor.dtype != self.dtype:
            raise TypeError(f"map_: expected {self.type()} for 'other' (got {tensor.type()})")
        mine = _host_values(self._data)
        others = _host_values(tensor.detach().expand(self.shape)._data).reshape(-1).tolist()
        return self._write_host_values([callable(x, y) for x, y in zip(mine.reshape(-1).tolist(), others)],
                                       mine.dtype)

    def _check_host_callable(self, name):
        if not self.is_cpu:
            raise TypeError(f"{name} is only implemented on CPU tensors")
        if self.requires_grad:
            raise RuntimeError(f"Can't call {name}() on Variable that requires grad. Use var.detach().{name}() "
                               "instead.")

    def _write_host_values(self, values, host_dtype):
        """Writes the callable's results into self, cast as torch casts them (ints truncated)."""
        from .creation import tensor

        self.copy_(tensor(np.array(values).astype(host_dtype), dtype=self.dtype).reshape(self.shape))
        return self

    # ------------------------------------------------------------------ methods of other families
    def relu(self):
        from .ops.activation import relu

        return relu(self)

    def relu_(self):
        from .ops.activation import relu

        return relu(self, inplace=True)

    def char(self):
        raise TypeError("char(): fibril has no int8 dtype")

    def short(self):
        raise TypeError("short(): fibril has no int16 dtype")

    def as_strided(self, size, stride, storage_offset=None):
        """A view of self's memory with the given sizes, strides and storage offset (self's
        own offset when None)."""
        from .ops.index import AsStrided

        offset = self.storage_offset() if storage_offset is None else storage_offset
        return AsStrided.apply(self, self._data.as_strided(tuple(size), tuple(stride), offset))

    def ravel(self):
        """A contiguous flattened tensor: a view of a contiguous tensor, else a copy (as torch's,
        even where a strided view could flatten it)."""
        return self.contiguous().view(-1)

    def select(self, dim, index):
        return self[(slice(None),) * _wrap_dim(dim, self.ndim) + (index,)]

    def _restride_(self, view):
        """self takes the geometry of `view`, one of its views (squeeze_ & co.). Not recorded by
        autograd, so refused where a graph would need it."""
        if self.grad_fn is not None or self._requires_grad and _autograd.is_grad_enabled():
            raise RuntimeError("in-place view ops (squeeze_, unsqueeze_, t_, transpose_) are not supported on a "
                               "tensor that requires grad; use the out-of-place op")
        self._data, self._shape = view._data, None
        return self

    def squeeze_(self, dim=None):
        return self._restride_(self.squeeze(dim))

    def unsqueeze_(self, dim):
        return self._restride_(self.unsqueeze(dim))

    def t_(self):
        return self._restride_(self.t())

    def transpose_(self, dim0, dim1):
        return self._restride_(self.transpose(dim0, dim1))

    def softmax(self, dim, dtype=None):
        from .ops.softmax import softmax

        return softmax(self, dim, dtype=dtype)

    def log_softmax(self, dim, dtype=None):
        from .ops.softmax import log_softmax

        return log_softmax(self, dim, dtype=dtype)


_function.Tensor = Tensor


def _rebuild(cls, values, dtype, device, requires_grad, grad, extras):
    """A pickled tensor back (see Tensor.__reduce_ex__)."""
    from .creation import tensor

    new = cls._wrap(tensor(values, dtype=getattr(_C, dtype), device=device)._data)
    new._requires_grad = requires_grad
    new.grad = grad
    new.__dict__.update(extras)
    return new
_C.autograd_setup(Tensor, _function.FunctionCtx, _function.Node)


# Why autograd refuses in-place changes of a view (torch's CreationMeta; None: it does not):
# NO_GRAD_VIEW, made under no_grad, or (function, output), an output of a function that returns
# several views (split, chunk, unbind). Views of such a view inherit the mark.
NO_GRAD_VIEW = "no_grad"


class _View(Tensor):
    """The output of a view op: it shares the memory and version counter of `_base`, a tensor
    that is no view itself. An in-place change made through the base or any of its views
    rewrites the base's history (ops/index.py, apply_inplace); a view rebuilds its own from
    the base's the next time it is read after such a change (the version counter tells), as
    torch does. Under autograd, as in torch, both are refused for a view marked in `_creation`:
    the history rebuilt would not be the one meant."""

    _grad_fn = None
    _seen_version = 0
    _creation_if_recorded = None

    @property
    def grad_fn(self):
        if self._version.value != self._seen_version:
            self._refresh()
        return self._grad_fn

    @grad_fn.setter
    def grad_fn(self, node):
        # Function.apply records the op that made this view: grad mode was on, though off while
        # the op ran, when _view_of (ops/index.py) marked the view NO_GRAD_VIEW
        # provisionally. (A view that an op returns as it is keeps its mark.)
        self._grad_fn = node
        self._seen_version = self._version.value
        if self._creation is NO_GRAD_VIEW:
            self._creation = self._creation_if_recorded

    @property
    def requires_grad(self):
        if self._creation is not None and self._version.value != self._seen_version:
            # as torch: without rebuilding the history first, which this view refuses
            return self._requires_grad or self._grad_fn is not None or self._base.requires_grad
        return self._requires_grad or self.grad_fn is not None

    @requires_grad.setter
    def requires_grad(self, value):
        Tensor.requires_grad.fset(self, value)

    def _refresh(self):
        base = self._base
        if self._creation is not None and (self._grad_fn is not None or base.requires_grad):
            if not _autograd.is_grad_enabled():
                return  # ops under no_grad need no history (torch's do not read it); checked once grad mode is on
            raise self.refusal(indirect=True)
        self._seen_version = self._version.value
        if not base.requires_grad:
            self._grad_fn = None
            return
        from .autograd.grad_mode import enable_grad
        from .ops.index import AsStrided

        with enable_grad():
            fresh = AsStrided.apply(base, self._data)
        self._grad_fn, self._output_nr = fresh._grad_fn, 0

    def refusal(self, indirect=False):
        """The error for an in-place change under autograd of this marked view, or (indirect)
        of its base or another view of its base."""
        if self._creation is NO_GRAD_VIEW:
            change = ("is used with grad mode enabled after its base or another view of its base was modified in "
                      "place" if indirect else "is being modified in place with grad mode enabled")
            return RuntimeError(f"a view created in no_grad mode {change}; create and modify it both inside no_grad "
                                "or both outside")
        function, output = self._creation
        change = "its base or another view of its base has been modified" if indirect else "is being modified"
        return RuntimeError(f"Output {output} of {function} is a view and {change} in place. This view is the output "
                            "of a function that returns multiple views. Such functions do not allow the output views "
                            "to be modified inplace. You should replace the inplace operation by an out-of-place one.")


class _HookHandle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _wrap_dim(dim, ndim):
    lo, hi = (-ndim, ndim - 1) if ndim else (-1, 0)
    if not lo <= dim <= hi:
        raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})")
    return dim % max(ndim, 1)


_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "bfloat16": "BFloat16Tensor", "int64": "LongTensor", "int32": "IntTensor", "uint8": "ByteTensor",
               "bool": "BoolTensor"}


def _host_values(array):
    """A numpy copy or view of the array's values on the host; bfloat16 (which numpy lacks)
    comes as float32, which holds every bfloat16 value exactly."""
    array = array.to("cpu")
    if array.dtype == _C.bfloat16:
        array = array.astype(_C.float32)
    return np.asarray(array)


def _format(t):
    from .printing import tensor_repr

    return tensor_repr(t, _host_values(t._data))
