"""Module: the base of every layer, with PyTorch's semantics — parameters, buffers and
submodules registered by attribute assignment, recursive traversal, train/eval, state_dict
with strict loading (and extra state), dtype/device conversion in place, forward, backward
and state_dict hooks and a PyTorch repr."""

import collections
import collections.abc
import itertools
import warnings

from .. import creation
from ..autograd import Function, is_grad_enabled, no_grad
from ..ops.index import _view_of
from ..tensor import Tensor
from .parameter import Buffer, Parameter, is_lazy

_EXTRA_STATE_KEY = "_extra_state"

# Every hook registry of a Module: id -> entry, in call order.
_HOOK_REGISTRIES = ("_forward_pre_hooks", "_forward_hooks", "_backward_pre_hooks", "_backward_hooks",
                    "_state_dict_pre_hooks", "_state_dict_hooks", "_load_state_dict_pre_hooks",
                    "_load_state_dict_post_hooks")

# Backward hooks of every module (register_module_full_backward_*hook), run before the module's own.
_global_backward_pre_hooks = {}
_global_backward_hooks = {}


class IncompatibleKeys(collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """load_state_dict's result, printed as torch's (whose class is named _IncompatibleKeys)."""

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys!r}, unexpected_keys={self.unexpected_keys!r})"

    __str__ = __repr__


class RemovableHandle:
    """What register_*_hook returns: remove() takes the hook out again."""

    _ids = itertools.count()

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = next(self._ids)

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _add_hook(hooks, entry, prepend):
    """Registers entry in hooks (id -> entry, in call order), first when prepend."""
    handle = RemovableHandle(hooks)
    hooks[handle.id] = entry
    if prepend:
        for key in [k for k in hooks if k != handle.id]:
            hooks[key] = hooks.pop(key)
    return handle


def register_module_full_backward_pre_hook(hook):
    """A backward pre-hook of every module (see Module.register_full_backward_pre_hook), run
    before the module's own; for debugging and profiling, as torch's."""
    return _add_hook(_global_backward_pre_hooks, hook, False)


def register_module_full_backward_hook(hook):
    """A full backward hook of every module (see Module.register_full_backward_hook), run
    before the module's own; for debugging and profiling, as torch's."""
    return _add_hook(_global_backward_hooks, hook, False)


def _has_call_hooks(module):
    """Whether calling `module` runs a hook (Module.__call__ makes the same test inline): a
    container that would fuse it with its neighbour must call it on its own then."""
    return bool(module._forward_pre_hooks or module._forward_hooks or module._backward_pre_hooks
                or module._backward_hooks or _global_backward_pre_hooks or _global_backward_hooks)


def _overrides(module, method):
    """Whether the module's class defines its own `method` (get_extra_state, set_extra_state)."""
    return getattr(type(module), method) is not getattr(Module, method)


def _hook_alias(t, output):
    """t as a view that autograd refuses to change in place, as torch's outputs of its
    BackwardHookFunction (an input returned as it is by a custom Function): an in-place change
    would either bypass the hooks' node or rewrite t's history behind it, so wrong gradients
    either way. The mark takes effect once Function.apply records the node (see tensor._View)."""
    alias = _view_of(t, t._data.as_strided(t._data.shape, t._data.strides))
    alias._creation_if_recorded = ("BackwardHookFunction", output)
    return alias


class BackwardHookFunction(Function):
    """The identity on the tensors a hooked module takes or returns, recorded in the graph so
    that its backward sees their gradients all at once: there `hooks` (a _BackwardHooks) runs
    the module's backward hooks, as torch's function of the same name."""

    @staticmethod
    def forward(ctx, hooks, on_outputs, *tensors):
        ctx.hooks, ctx.on_outputs = hooks, on_outputs
        # As torch: an output that received no gradient passes None on (the pre-hooks see None);
        # an input that received none, while others did, gets zeros.
        if on_outputs:
            ctx.set_materialize_grads(False)
        return tuple(_hook_alias(t, i) for i, t in enumerate(tensors))

    @staticmethod
    def backward(ctx, *grads):
        hooks = ctx.hooks
        return (None, None, *(hooks.output_grads(grads) if ctx.on_outputs else hooks.input_grads(grads)))


def _scatter(index, values, size):
    """A tuple of `size` Nones with values[k] at index[k]."""
    out = [None] * size
    for i, value in zip(index, values):
        out[i] = value
    return tuple(out)


class _BackwardHooks:
    """One call of a module with backward hooks: wraps the positional tensor arguments and the
    outputs (a tensor or a tuple) that require grad in BackwardHookFunction, then in backward
    runs the pre-hooks on the gradients w.r.t. the outputs and the full hooks once those w.r.t.
    the inputs are known. Entries of grad_input / grad_output are None for arguments and
    outputs that are no tensors or require no grad, except a tensor input that requires no
    grad, which gets zeros in grad_input, as torch's."""

    def __init__(self, module, hooks, pre_hooks):
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.n_inputs = self.n_outputs = 0
        self.input_index = self.output_index = None  # positions wrapped, None: none
        self.input_meta = self.output_meta = ()  # (shape, dtype, device) of each wrapped tensor
        self.input_zeros = ()  # (position, shape, dtype, device) of the tensors that require no grad
        self.grad_outputs = None  # set in backward by the outputs' node, taken by the inputs'

    def _wrap(self, values, on_outputs):
        """values with each tensor that requires grad replaced by its BackwardHookFunction alias,
        the positions replaced (None when none) and their (shape, dtype, device)."""
        index = [i for i, v in enumerate(values) if isinstance(v, Tensor) and v.requires_grad]
        if not index or not is_grad_enabled():
            return values, None, ()
        aliases = BackwardHookFunction.apply(self, on_outputs, *(values[i] for i in index))
        new = list(values)
        for i, alias in zip(index, aliases):
            new[i] = alias
        meta = tuple((a.shape, a.dtype, a.device) for a in aliases)
        return (tuple(new) if type(values) is tuple else type(values)(*new)), index, meta

    def wrap_inputs(self, args):
        """The inputs' aliases, with pre-hooks only too (as torch): forward may then change none
        of them in place either."""
        self.n_inputs = len(args)
        args, self.input_index, self.input_meta = self._wrap(args, False)
        if self.input_index is not None:
            # tensors that require no grad get zeros in grad_input, as torch's (which wraps them too)
            self.input_zeros = [(i, a.shape, a.dtype, a.device) for i, a in enumerate(args)
                                if isinstance(a, Tensor) and not a.requires_grad]
        return args

    def wrap_outputs(self, result):
        if not isinstance(result, (Tensor, tuple)):
            warnings.warn("For backward hooks to be called, module output should be a Tensor or a tuple of Tensors "
                          f"but received {type(result)}", stacklevel=3)
            return result
        single = isinstance(result, Tensor)
        values = (result,) if single else result
        self.n_outputs = len(values)
        values, self.output_index, self.output_meta = self._wrap(values, True)
        return values[0] if single else values

    def output_grads(self, grads):
        """Runs the pre-hooks on the gradients w.r.t. the outputs; returns those to pass on."""
        grad_outputs = _scatter(self.output_index, grads, self.n_outputs)
        for hook in self.pre_hooks:
            result = hook(self.module, grad_outputs)
            if result is not None:
                grad_outputs = self._checked(result, grad_outputs, "Backward pre hook", "grad_output")
        if self.input_index is None:
            self._run_hooks_without_inputs(grad_outputs)
        elif self.hooks:
            self.grad_outputs = grad_outputs
        return self._check_shapes([grad_outputs[i] for i in self.output_index], self.output_meta, self.output_index,
                                  "output")

    def _run_hooks_without_inputs(self, grad_outputs):
        """No input requires grad: the full hooks run now, with grad_input all None (as torch)."""
        if not self.hooks:
            return
        warnings.warn("Full backward hook is firing when gradients are computed with respect to module outputs "
                      "since no inputs require gradients.", stacklevel=2)
        grad_inputs = (None,) * self.n_inputs
        for hook in self.hooks:
            result = hook(self.module, grad_inputs, grad_outputs)
            if result is not None and not all(g is None for g in result):
                raise RuntimeError("Backward hook for Modules where no input requires gradient should always return "
                                   "None or None for all gradients.")

    def input_grads(self, grads):
        """Runs the full hooks on the gradients w.r.t. the inputs; returns those to pass on."""
        if self.grad_outputs is None:  # reached the inputs without passing the outputs: no hook, as torch
            return grads
        grad_inputs = list(_scatter(self.input_index, grads, self.n_inputs))
        for i, shape, dtype, device in self.input_zeros:
            grad_inputs[i] = creation.zeros(shape, dtype=dtype, device=device)
        grad_inputs = tuple(grad_inputs)
        for hook in self.hooks:
            result = hook(self.module, grad_inputs, self.grad_outputs)
            if result is not None:
                grad_inputs = self._checked(result, grad_inputs, "Backward hook", "grad_input")
        self.grad_outputs = None
        return self._check_shapes([grad_inputs[i] for i in self.input_index], self.input_meta, self.input_index,
                                  "input")

    @staticmethod
    def _checked(result, previous, what, name):
        if not isinstance(result, (tuple, list)) or len(result) != len(previous):
            got = len(result) if isinstance(result, (tuple, list)) else type(result).__name__
            raise RuntimeError(f"{what} returned an invalid number of {name}, got {got}, but expected "
                               f"{len(previous)} (a tuple, None where there is no gradient)")
        return tuple(result)

    @staticmethod
    def _check_shapes(grads, meta, index, kind):
        for g, (shape, _, _), position in zip(grads, meta, index):
            if g is not None and tuple(g.shape) != tuple(shape):
                raise RuntimeError(f"a backward hook gave a gradient of shape {list(g.shape)} for {kind} {position}, "
                                   f"which has shape {list(shape)}")
        return grads


class Module:
    training = True

    def __init__(self):
        # Set through object.__setattr__: our __setattr__ needs these dicts to exist.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})
        for registry in _HOOK_REGISTRIES:
            object.__setattr__(self, registry, {})

    def __setstate__(self, state):
        # A module pickled before some hook registry existed gets it empty.
        self.__dict__.update(state)
        for registry in _HOOK_REGISTRIES:
            self.__dict__.setdefault(registry, {})

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"Module [{type(self).__name__}] is missing the required \"forward\" function")

    def __call__(self, *args, **kwargs):
        # The test of _has_call_hooks, inline: this runs on every call of every module.
        if not (self._forward_pre_hooks or self._forward_hooks or self._backward_pre_hooks or self._backward_hooks
                or _global_backward_pre_hooks or _global_backward_hooks):
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args, kwargs):
        for hook, with_kwargs, _ in list(self._forward_pre_hooks.values()):
            if with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                                           f"but got {result!r}")
                    args, kwargs = result
                continue
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        backward_hooks = None
        if self._backward_pre_hooks or self._backward_hooks or _global_backward_pre_hooks or _global_backward_hooks:
            # The hooks registered now are the ones this call's backward runs, as torch.
            backward_hooks = _BackwardHooks(self, [*_global_backward_hooks.values(), *self._backward_hooks.values()],
                                            [*_global_backward_pre_hooks.values(),
                                             *self._backward_pre_hooks.values()])
            args = backward_hooks.wrap_inputs(args)
        try:
            out = self.forward(*args, **kwargs)
        except Exception:
            for hook, with_kwargs, always_call in list(self._forward_hooks.values()):
                if always_call:  # run even when forward raised, as torch; the error goes on
                    hook(self, args, kwargs, None) if with_kwargs else hook(self, args, None)
            raise
        for hook, with_kwargs, _ in list(self._forward_hooks.values()):
            result = hook(self, args, kwargs, out) if with_kwargs else hook(self, args, out)
            if result is not None:
                out = result
        if backward_hooks is not None:
            out = backward_hooks.wrap_outputs(out)
        return out

    # ------------------------------------------------------------------ registration
    def _check_init(self):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign to {type(self).__name__} before Module.__init__() call")

    def __setattr__(self, name, value):
        params, buffers, modules = (self.__dict__.get(k) for k in ("_parameters", "_buffers", "_modules"))
        if isinstance(value, Parameter):
            self._check_init()
            self._forget(name, keep=params)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(fibril.nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            self._check_init()
            self._forget(name, keep=modules)
            modules[name] = value
        elif modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(fibril.nn.Module or None expected)")
            modules[name] = None
        elif isinstance(value, Buffer):
            self.register_buffer(name, value, value.persistent)
        elif buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(fibril.Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name, keep):
        """Drops `name` from the instance dict and every registry but `keep`, the one it is about
        to be registered in again: a replaced parameter or submodule keeps its place in the
        order of state_dict() and parameters(), as torch."""
        self.__dict__.pop(name, None)
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not keep:
                registry.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def __getattr__(self, name):
        # Only called when normal lookup fails: parameters, buffers and submodules live in dicts.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    @staticmethod
    def _check_name(name, kind):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{kind} name can't be empty or contain \".\", got {name!r}")

    def register_parameter(self, name, param):
        self._check_init()
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' as parameter '{name}' "
                            "(fibril.nn.Parameter or None expected)")
        if hasattr(self, name) and name not in self._parameters:  # another member, a method, an attribute
            raise KeyError(f"attribute '{name}' already exists")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        self._check_init()
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' as buffer '{name}' "
                            "(fibril.Tensor or None expected)")
        if hasattr(self, name) and name not in self._buffers:  # another member, a method, an attribute
            raise KeyError(f"attribute '{name}' already exists")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        self._check_init()
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if hasattr(self, name) and name not in self._modules:  # another member, a method, an attribute
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules or module._modules[part] is None:
                raise AttributeError(f"{type(module).__name__} has no submodule `{part}`")
            module = module._modules[part]
        return module

    def get_parameter(self, target):
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if name not in module._parameters:
            raise AttributeError(f"{type(module).__name__} has no parameter `{name}`")
        return module._parameters[name]

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry, prefix, recurse, remove_duplicate):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def apply(self, fn):
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and gradients
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        object.__setattr__(self, "training", mode)
        for module in self.children():  # each child's own train(), which a subclass may override
            module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad = param.grad.detach()
                param.grad.zero_()

    # ------------------------------------------------------------------ conversion
    def _apply_to_tensors(self, convert):
        """Converts every parameter, gradient and buffer in place: parameters keep their
        identity (an optimizer holding them sees the converted values)."""
        for module in self.modules():
            for param in module._parameters.values():
                if param is None:
                    continue
                if is_lazy(param):  # no values yet: only the dtype and device it will have change
                    param._empty = convert(param._empty)
                    continue
                new = convert(param.detach())
                if new is not param:
                    param._data, param._version, param._shape = new._data, type(param._version)(), None
                if param.grad is not None:
                    param.grad = convert(param.grad)
            for name, buffer in module._buffers.items():
                if is_lazy(buffer):
                    buffer._empty = convert(buffer._empty)
                elif buffer is not None:
                    module._buffers[name] = convert(buffer)
        return self

    def to(self, *args, **kwargs):
        """to(dtype), to(device), to(device, dtype), to(tensor): floating-point tensors take the
        dtype; every tensor moves to the device; memory_format lays out the 4-D and 5-D ones."""
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        memory_format = kwargs.pop("memory_format", None)
        kwargs.pop("non_blocking", None)  # copies are synchronous: accepted, as torch's default
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for arg in args:
            if isinstance(arg, Tensor):
                dtype, device = arg.dtype, arg.device
            elif isinstance(arg, str):
                device = arg
            elif hasattr(arg, "is_floating_point"):
                dtype = arg
            else:
                raise TypeError(f"to() received an invalid argument {arg!r}")
        if dtype is not None and not dtype.is_floating_point:
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype}")

        def convert(t):
            if device is not None and t.device != device:
                t = t.to(device)
            if dtype is not None and t.dtype.is_floating_point and t.dtype != dtype:
                t = t.to(dtype)
            if memory_format is not None and t.ndim in (4, 5):
                t = t.to(memory_format=memory_format)
            return t

        return self._apply_to_tensors(convert)

    def float(self):
        from .. import float32
        return self.to(float32)

    def double(self):
        from .. import float64
        return self.to(float64)

    def half(self):
        from .. import float16
        return self.to(float16)

    def bfloat16(self):
        from .. import bfloat16
        return self.to(bfloat16)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)

    # ------------------------------------------------------------------ state dict
    _version = 1  # stored in state_dict's metadata; a subclass raises it when its format changes

    def get_extra_state(self):
        """What state_dict stores under "_extra_state" besides tensors: a subclass that defines
        it (and set_extra_state, which load_state_dict calls with it) has that entry."""
        raise RuntimeError("Module.get_extra_state() is only called when a subclass defines it")

    def set_extra_state(self, state):
        """Takes back what get_extra_state gave (load_state_dict calls it)."""
        raise RuntimeError("Module.set_extra_state() is only called when a subclass defines it")

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        """This module's own parameters, persistent buffers and extra state, not its children's."""
        # An uninitialized (lazy) tensor is stored as it is: it has no values to detach, as torch.
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars or is_lazy(param) else param.detach()
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = buffer if keep_vars or is_lazy(buffer) else buffer.detach()
        if _overrides(self, "get_extra_state"):
            destination[prefix + _EXTRA_STATE_KEY] = self.get_extra_state()

    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """An OrderedDict of every parameter, persistent buffer and extra state by dotted name,
        with torch's `_metadata` ({module prefix: {"version": ...}}); state_dict hooks run around
        each module's part."""
        if destination is None:
            destination = collections.OrderedDict()
            destination._metadata = collections.OrderedDict()
        local_metadata = {"version": self._version}
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = local_metadata
        for hook in list(self._state_dict_pre_hooks.values()):
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        for hook, public in list(self._state_dict_hooks.values()):
            result = hook(self, destination, prefix, local_metadata)
            if public:
                if result is not None:
                    raise RuntimeError("state_dict post-hook must return None")
            elif result is not None:  # the private hook's result replaces the dict (kept by the root only)
                destination = result
        return destination

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        """Loads this module's own entries of `state_dict` (keys prefix + name), not its
        children's, after the load_state_dict pre-hooks; notes missing and unexpected keys (when
        strict) and errors in the lists given, as torch's."""
        for hook, with_module in list(self._load_state_dict_pre_hooks.values()):
            args = (state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
            hook(self, *args) if with_module else hook(*args)
        local_state = {name: p for name, p in self._parameters.items() if p is not None}
        local_state.update((name, b) for name, b in self._buffers.items()
                           if b is not None and name not in self._non_persistent_buffers)
        assign = local_metadata.get("assign_to_params_buffers", False)
        for name, target in local_state.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor) and hasattr(value, "__dlpack__"):
                value = creation.from_foreign(value)  # a torch state dict loads as it is
            if not isinstance(value, Tensor):
                error_msgs.append(f'While copying the parameter named "{key}", expected a Tensor, '
                                  f"got {type(value).__module__}.{type(value).__name__}.")
            elif is_lazy(target):
                continue  # still uninitialized (a lazy module's load hook materializes it from a value with a shape)
            elif tuple(value.shape) != tuple(target.shape):
                error_msgs.append(f"size mismatch for {key}: copying a param with shape {value.shape} from "
                                  f"checkpoint, the shape in current model is {target.shape}.")
            elif not assign:
                with no_grad():
                    target.copy_(value)
            elif name in self._parameters:
                self._parameters[name] = Parameter(value.detach(), requires_grad=target.requires_grad)
            else:
                self._buffers[name] = value.detach()
        extra_key = prefix + _EXTRA_STATE_KEY
        if _overrides(self, "set_extra_state"):
            if extra_key in state_dict:
                self.set_extra_state(state_dict[extra_key])
            elif strict:
                missing_keys.append(extra_key)
        elif strict and extra_key in state_dict:
            unexpected_keys.append(extra_key)
        if strict:
            for key in state_dict:
                if key.startswith(prefix) and key != extra_key:
                    name, dot, _ = key[len(prefix):].partition(".")
                    if name not in (self._modules if dot else local_state):
                        unexpected_keys.append(key)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copies every tensor of `state_dict` into the matching parameter or buffer (assign:
        takes the given tensors instead), module by module as torch: each one's load pre-hooks,
        its own entries, its children, then its load post-hooks, which may edit the missing
        and unexpected key lists. A shape mismatch is always an error; with strict, missing and
        unexpected keys are too, all listed in one RuntimeError as torch's (raised after the
        rest is loaded, as torch)."""
        if not isinstance(state_dict, collections.abc.Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing, unexpected, errors = [], [], []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = collections.OrderedDict(state_dict)  # a copy, which pre-hooks may edit

        def load(module, local_state, prefix):
            local_metadata = {} if metadata is None else dict(metadata.get(prefix[:-1], {}))
            if assign:
                local_metadata["assign_to_params_buffers"] = True
            # strict=True: the keys are always collected; `strict` only decides whether they raise.
            module._load_from_state_dict(local_state, prefix, local_metadata, True, missing, unexpected, errors)
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    load(child, {k: v for k, v in local_state.items() if k.startswith(child_prefix)}, child_prefix)
            incompatible = IncompatibleKeys(missing, unexpected)
            for hook in list(module._load_state_dict_post_hooks.values()):
                if hook(module, incompatible) is not None:
                    raise AssertionError("Hooks registered with ``register_load_state_dict_post_hook`` are not "
                                         "expected to return new values, if incompatible_keys need to be modified, "
                                         "it should be done inplace.")

        load(self, state_dict, "")
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ hooks
    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """hook(module, args) -> None or new args, before forward; with_kwargs:
        hook(module, args, kwargs) -> None or (new args, new kwargs). prepend: runs first."""
        return _add_hook(self._forward_pre_hooks, (hook, with_kwargs, False), prepend)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """hook(module, args, output) -> None or a new output, after forward; with_kwargs:
        hook(module, args, kwargs, output). always_call: also when forward raises (output None)."""
        return _add_hook(self._forward_hooks, (hook, with_kwargs, always_call), prepend)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """hook(module, grad_output) -> None or a new grad_output, when the gradients w.r.t. the
        module's outputs are known. grad_output is a tuple, one entry per output (None for one
        that is no tensor or received no gradient). prepend: runs first. Hooks registered
        globally (register_module_full_backward_pre_hook) run before these."""
        return _add_hook(self._backward_pre_hooks, hook, prepend)

    def register_full_backward_hook(self, hook, prepend=False):
        """hook(module, grad_input, grad_output) -> None or a new grad_input, when the gradients
        w.r.t. the module's positional inputs are known (keyword arguments are not seen).
        grad_input has one entry per positional argument: None for one that is no tensor or
        requires no grad. When no input requires grad, the hook runs with the gradients w.r.t.
        the outputs (grad_input all None; it may return only None). The module's forward sees
        aliases of its tensor arguments and the caller aliases of its outputs, through which
        the gradients pass; forward may not change its inputs in place."""
        return _add_hook(self._backward_hooks, hook, prepend)

    def register_backward_hook(self, hook):
        """Deprecated in torch for register_full_backward_hook; here it is that hook (torch's
        older hook saw the gradients of the module's last operation instead)."""
        warnings.warn("register_backward_hook is deprecated: use register_full_backward_hook, which fibril runs it "
                      "as (grad_input holds the gradients w.r.t. the module's positional inputs, not those of its "
                      "last operation as torch's deprecated hook)", FutureWarning, stacklevel=2)
        return self.register_full_backward_hook(hook)

    def register_state_dict_pre_hook(self, hook):
        """hook(module, prefix, keep_vars) -> None, before state_dict collects this module's part."""
        return _add_hook(self._state_dict_pre_hooks, hook, False)

    def register_state_dict_post_hook(self, hook):
        """hook(module, state_dict, prefix, local_metadata) -> None, after state_dict collected
        this module's part (its children's too); it may edit state_dict in place."""
        return _add_hook(self._state_dict_hooks, (hook, True), False)

    def _register_state_dict_hook(self, hook):
        """torch's older post-hook: as register_state_dict_post_hook, but a dict it returns
        replaces the state dict (only when registered on the module state_dict is called on)."""
        return _add_hook(self._state_dict_hooks, (hook, False), False)

    def register_load_state_dict_pre_hook(self, hook):
        """hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs) -> None, before load_state_dict loads this module's entries
        (keys prefix + name); it may edit state_dict (then its children see the edits) and the
        lists in place."""
        return self._register_load_state_dict_pre_hook(hook, with_module=True)

    def _register_load_state_dict_pre_hook(self, hook, with_module=False):
        """As register_load_state_dict_pre_hook; without with_module the hook is not given the module."""
        return _add_hook(self._load_state_dict_pre_hooks, (hook, with_module), False)

    def register_load_state_dict_post_hook(self, hook):
        """hook(module, incompatible_keys) -> None, after load_state_dict loaded this module and
        its children; editing incompatible_keys.missing_keys / unexpected_keys in place changes
        what strict loading raises for and what load_state_dict returns."""
        return _add_hook(self._load_state_dict_post_hooks, hook, False)

    # ------------------------------------------------------------------ repr
    def extra_repr(self):
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + repr(module).replace("\n", "\n  ") for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            body = extra_lines[0] if len(extra_lines) == 1 and not child_lines else "\n  " + "\n  ".join(lines) + "\n"
        return f"{type(self).__name__}({body})"
