"""Pruning as torch.nn.utils.prune: pruning module.<name> replaces the parameter by <name>_orig
and a buffer <name>_mask, and a forward pre-hook (the pruning method itself) sets module.<name>
to <name>_orig * <name>_mask before each forward. Pruning a tensor again composes the masks
through a PruningContainer, the new method acting only on the entries still unpruned; remove()
makes the pruning permanent."""

import collections.abc
import numbers
from abc import ABC, abstractmethod

from ... import creation
from ...ops.reduce import norm
from ...ops.sort import topk
from ...ops.special import kthvalue
from ...random import rand, rand_like
from .convert_parameters import parameters_to_vector

__all__ = ["BasePruningMethod", "PruningContainer", "Identity", "RandomUnstructured", "L1Unstructured",
           "RandomStructured", "LnStructured", "CustomFromMask", "identity", "random_unstructured",
           "l1_unstructured", "random_structured", "ln_structured", "global_unstructured", "custom_from_mask",
           "remove", "is_pruned"]


def _pruning_hooks(module):
    """The (key, method) of every pruning method among module's forward pre-hooks."""
    return [(key, entry[0]) for key, entry in module._forward_pre_hooks.items()
            if isinstance(entry[0], BasePruningMethod)]


def _check_importance_scores(importance_scores, t, what):
    """importance_scores, or t when None; AssertionError, as torch's, on a shape mismatch."""
    if importance_scores is None:
        return t
    if importance_scores.shape != t.shape:
        raise AssertionError(f"importance_scores should have the same shape as {what}, "
                             f"got {importance_scores.shape} vs {t.shape}")
    return importance_scores


class BasePruningMethod(ABC):
    """A pruning method: compute_mask(t, default_mask) says which entries of t to keep. An applied
    method is the forward pre-hook that recomputes module.<_tensor_name> from its orig and mask."""

    _tensor_name = None

    def __call__(self, module, inputs):
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t, default_mask):
        """The new mask of t (1: kept, 0: pruned), pruning only where default_mask is 1."""

    def apply_mask(self, module):
        """<name>_orig * <name>_mask, the pruned tensor."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned")
        mask = getattr(module, self._tensor_name + "_mask")
        orig = getattr(module, self._tensor_name + "_orig")
        return mask.to(dtype=orig.dtype) * orig

    @classmethod
    def apply(cls, module, name, *args, importance_scores=None, **kwargs):
        """Prunes module.<name> by cls(*args, **kwargs) (composed with an earlier pruning of it)
        and returns the method now its hook; importance_scores, of <name>'s shape, rank the
        entries instead of its values."""
        method = _composite_method(cls(*args, **kwargs), module, name)
        orig = getattr(module, name)
        importance_scores = _check_importance_scores(importance_scores, orig, f"parameter {name} of {module}")
        first = not isinstance(method, PruningContainer)
        if first:
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
            default_mask = creation.ones_like(orig)
        else:
            default_mask = getattr(module, name + "_mask").detach().clone()
        try:
            module.register_buffer(name + "_mask", method.compute_mask(importance_scores, default_mask=default_mask))
            setattr(module, name, method.apply_mask(module))
            module.register_forward_pre_hook(method)
        except Exception:
            if first:  # the parameter back as it was
                module.register_parameter(name, module._parameters.pop(name + "_orig"))
            raise
        return method

    def prune(self, t, default_mask=None, importance_scores=None):
        """t pruned: t * compute_mask(importance_scores or t, default_mask or all ones)."""
        importance_scores = _check_importance_scores(importance_scores, t, "tensor t")
        default_mask = default_mask if default_mask is not None else creation.ones_like(t)
        return t * self.compute_mask(importance_scores, default_mask=default_mask)

    def remove(self, module):
        """Makes the pruning permanent: module.<name> a parameter again, of value orig * mask,
        and <name>_orig and <name>_mask gone (the hook is left to the caller, as torch)."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned before pruning can be removed")
        weight = self.apply_mask(module)
        if hasattr(module, self._tensor_name):
            delattr(module, self._tensor_name)
        orig = module._parameters.pop(self._tensor_name + "_orig")
        orig.data = weight.data
        del module._buffers[self._tensor_name + "_mask"]
        setattr(module, self._tensor_name, orig)


def _composite_method(method, module, name):
    """method, named `name`, joined to the pruning hook already on module.<name> (which it takes
    off the module) in a PruningContainer; method alone when there is none."""
    method._tensor_name = name
    found = [(key, hook) for key, hook in _pruning_hooks(module) if hook._tensor_name == name]
    if len(found) > 1:
        raise AssertionError(f"Avoid adding multiple pruning hooks to the same tensor {name} of module {module}. "
                             "Use a PruningContainer.")
    if not found:
        return method
    key, old = found[0]
    del module._forward_pre_hooks[key]
    if not isinstance(old, PruningContainer):
        old = PruningContainer(old)
    old.add_pruning_method(method)
    return old


class PruningContainer(BasePruningMethod):
    """A sequence of pruning methods of one tensor, applied one after the other: its mask is the
    last one's, computed on the entries the ones before left."""

    def __init__(self, *args):
        self._pruning_methods = ()
        if len(args) == 1:
            self._tensor_name = args[0]._tensor_name
        for method in args:
            self.add_pruning_method(method)

    def add_pruning_method(self, method):
        """Appends method, which must prune the same tensor."""
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if method is not None and self._tensor_name != method._tensor_name:
            raise ValueError("Can only add pruning methods acting on the parameter named "
                             f"'{self._tensor_name}' to PruningContainer {self}. Found '{method._tensor_name}'")
        self._pruning_methods += (method,)

    def __len__(self):
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, idx):
        return self._pruning_methods[idx]

    def compute_mask(self, t, default_mask):
        """default_mask with the last method's mask written over the part of it still unpruned:
        the entries kept (unstructured), the slices along its dim with an entry kept
        (structured) or everything (global)."""
        method = self._pruning_methods[-1]
        slc = _unpruned_part(method, t, default_mask)
        new_mask = default_mask.to(dtype=t.dtype)
        new_mask[slc] = method.compute_mask(t[slc], default_mask=default_mask[slc]).to(dtype=new_mask.dtype)
        return new_mask


def _unpruned_part(method, t, mask):
    """The index of the part of t that method, by its PRUNING_TYPE, prunes further."""
    if method.PRUNING_TYPE == "unstructured":
        return mask == 1
    if method.PRUNING_TYPE == "global":
        return (slice(None),) * t.dim()
    if method.PRUNING_TYPE != "structured":
        raise ValueError(f"Unrecognized PRUNING_TYPE {method.PRUNING_TYPE}")
    if not hasattr(method, "dim"):
        raise AttributeError('Pruning methods of PRUNING_TYPE "structured" need to have the attribute `dim` defined.')
    n_dims = t.dim()
    dim = method.dim + n_dims if method.dim < 0 else method.dim
    if dim < 0:
        raise IndexError(f"Index is out of bounds for tensor with dimensions {n_dims}")
    slc = [slice(None)] * n_dims
    slc[dim] = mask.sum(dim=[d for d in range(n_dims) if d != dim]) != 0
    return tuple(slc)


class Identity(BasePruningMethod):
    """Prunes nothing: the mask is all ones."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        return default_mask

    @classmethod
    def apply(cls, module, name):
        return super().apply(module, name)


class RandomUnstructured(BasePruningMethod):
    """Prunes `amount` entries (an int: that many; a float: that fraction) chosen at random."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        return _zero_lowest(rand_like(t), self.amount, default_mask)

    @classmethod
    def apply(cls, module, name, amount):
        return super().apply(module, name, amount=amount)


class L1Unstructured(BasePruningMethod):
    """Prunes the `amount` entries (an int: that many; a float: that fraction) of smallest
    absolute value."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        return _zero_lowest(t.abs(), self.amount, default_mask)

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


def _zero_lowest(scores, amount, default_mask):
    """A copy of default_mask with zeros where scores hold their `amount` lowest values."""
    tensor_size = scores.nelement()
    nparams_toprune = _compute_nparams_toprune(amount, tensor_size)
    _validate_pruning_amount(nparams_toprune, tensor_size)
    mask = default_mask.clone()
    if nparams_toprune != 0:
        mask.view(-1)[topk(scores.reshape(-1), k=nparams_toprune, largest=False).indices] = 0
    return mask


class RandomStructured(BasePruningMethod):
    """Prunes `amount` slices along dim (an int: that many; a float: that fraction) chosen at
    random."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, dim=-1):
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.dim = dim

    def compute_mask(self, t, default_mask):
        nchannels, nparams_toprune = _structured_counts(t, self.amount, self.dim)
        if nparams_toprune == 0:
            return default_mask
        prob = rand(nchannels, device=t.device)
        kept = prob > kthvalue(prob, k=nparams_toprune).values
        return _slices_mask(t, self.dim, kept) * default_mask.to(dtype=t.dtype)

    @classmethod
    def apply(cls, module, name, amount, dim=-1):
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    """Prunes the `amount` slices along dim (an int: that many; a float: that fraction) of
    smallest n-norm (n: any order torch.norm takes, inf and -inf included)."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, n, dim=-1):
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.n = n
        self.dim = dim

    def compute_mask(self, t, default_mask):
        nchannels, nparams_toprune = _structured_counts(t, self.amount, self.dim)
        if nparams_toprune == 0:
            return default_mask
        kept = topk(_compute_norm(t, self.n, self.dim), k=nchannels - nparams_toprune, largest=True).indices
        return _slices_mask(t, self.dim, kept) * default_mask.to(dtype=t.dtype)

    @classmethod
    def apply(cls, module, name, amount, n, dim, importance_scores=None):
        return super().apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)


def _structured_counts(t, amount, dim):
    """The number of slices of t along dim and how many of them `amount` prunes (validated)."""
    _validate_structured_pruning(t)
    _validate_pruning_dim(t, dim)
    nchannels = t.shape[dim]
    nparams_toprune = _compute_nparams_toprune(amount, nchannels)
    _validate_pruning_amount(nparams_toprune, nchannels)
    return nchannels, nparams_toprune


def _slices_mask(t, dim, kept):
    """A mask like t: ones on the slices along dim that kept (a bool mask or indices) selects."""
    mask = creation.zeros_like(t)
    slc = [slice(None)] * t.dim()
    slc[dim] = kept
    mask[tuple(slc)] = 1
    return mask


class CustomFromMask(BasePruningMethod):
    """Prunes where the given mask is 0."""

    PRUNING_TYPE = "global"

    def __init__(self, mask):
        self.mask = mask

    def compute_mask(self, t, default_mask):
        if default_mask.shape != self.mask.shape:
            raise AssertionError(f"default_mask shape {default_mask.shape} must match "
                                 f"self.mask shape {self.mask.shape}")
        return default_mask * self.mask.to(dtype=default_mask.dtype)

    @classmethod
    def apply(cls, module, name, mask):
        return super().apply(module, name, mask=mask)


def identity(module, name):
    """Applies Identity to module.<name> (a mask of ones) and returns module."""
    Identity.apply(module, name)
    return module


def random_unstructured(module, name, amount):
    """Prunes `amount` random entries of module.<name> and returns module."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module, name, amount, importance_scores=None):
    """Prunes the `amount` entries of module.<name> of smallest absolute value (of
    importance_scores when given) and returns module."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module, name, amount, dim):
    """Prunes `amount` random slices of module.<name> along dim and returns module."""
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module, name, amount, n, dim, importance_scores=None):
    """Prunes the `amount` slices of module.<name> along dim of smallest n-norm (of
    importance_scores when given) and returns module."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs):
    """Prunes the (module, name) pairs of `parameters` as one vector: pruning_method(**kwargs),
    an unstructured method, ranks all their entries together (importance_scores: a dict from
    (module, name) to scores) and each tensor gets its part of the mask by custom_from_mask."""
    if not isinstance(parameters, collections.abc.Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")
    parameters = list(parameters)
    scores = parameters_to_vector([importance_scores.get((module, name), getattr(module, name))
                                   for module, name in parameters])
    default_mask = parameters_to_vector([_current_mask(module, name) for module, name in parameters])
    method = pruning_method(**kwargs)
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError('Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. '
                        f"Found method {pruning_method} of type {method.PRUNING_TYPE}")
    method._tensor_name = "temp"
    container = PruningContainer(method)
    final_mask = container.compute_mask(scores, default_mask)
    pointer = 0
    for module, name in parameters:
        param = getattr(module, name)
        custom_from_mask(module, name, mask=final_mask[pointer:pointer + param.numel()].view_as(param))
        pointer += param.numel()


def _current_mask(module, name):
    """module.<name>_mask, or ones like module.<name> when it is not pruned."""
    if hasattr(module, name + "_mask"):
        return getattr(module, name + "_mask")
    return creation.ones_like(getattr(module, name))


def custom_from_mask(module, name, mask):
    """Prunes module.<name> where mask is 0 and returns module."""
    CustomFromMask.apply(module, name, mask)
    return module


def remove(module, name):
    """Makes the pruning of module.<name> permanent (a parameter of value orig * mask) and takes
    its hook off; ValueError, as torch's, when it is not pruned."""
    for key, hook in _pruning_hooks(module):
        if hook._tensor_name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed")


def is_pruned(module):
    """Whether module or a submodule of it has a pruning hook."""
    return any(_pruning_hooks(submodule) for submodule in module.modules())


def _validate_pruning_amount_init(amount):
    """TypeError unless amount is a real number; ValueError unless a non-negative int or a float
    in [0, 1]."""
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
            not isinstance(amount, numbers.Integral) and not 0.0 <= float(amount) <= 1.0):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a non-negative integer")


def _validate_pruning_amount(amount, tensor_size):
    """ValueError when an absolute amount is over the number of entries (or slices) to prune."""
    if isinstance(amount, numbers.Integral) and amount > tensor_size:
        raise ValueError(f"amount={amount} should be smaller than the number of parameters to prune={tensor_size}")


def _validate_structured_pruning(t):
    """ValueError unless t has two or more dimensions."""
    if t.dim() <= 1:
        raise ValueError("Structured pruning can only be applied to multidimensional tensors. "
                         f"Found tensor of shape {t.shape} with {t.dim()} dims")


def _compute_nparams_toprune(amount, tensor_size):
    """amount itself when an int, else round(amount * tensor_size)."""
    if isinstance(amount, numbers.Integral):
        return amount
    return round(amount * tensor_size)


def _validate_pruning_dim(t, dim):
    """IndexError when dim is past t's dimensions."""
    if dim >= t.dim():
        raise IndexError(f"Invalid index {dim} for tensor of size {t.shape}")


def _compute_norm(t, n, dim):
    """The n-norm of each slice of t along dim."""
    dim = dim % t.dim()
    return norm(t, p=n, dim=[d for d in range(t.dim()) if d != dim])
