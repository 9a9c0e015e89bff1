"""functional_call as torch.nn.utils.stateless (torch.func.functional_call): calls a module
with some of its parameters and buffers replaced by the given tensors, put back afterwards."""

import contextlib
import warnings

from ...tensor import Tensor
from ..module import Module

__all__ = ["functional_call"]

_MISSING = object()  # a name the module had no tensor under


def _untie_named_tensors_map(module, parameters_and_buffers):
    """parameters_and_buffers plus, for each given tensor tied to others in module (the same
    tensor under several names), those names with the same value; several different values for
    one tied tensor are an error."""
    named_tensors = dict(module.named_parameters(remove_duplicate=False))
    named_tensors.update(module.named_buffers(remove_duplicate=False))
    names_by_tensor = {}
    for name, tensor in named_tensors.items():
        names_by_tensor.setdefault(id(tensor), set()).add(name)
    tied_names = {name: names for names in names_by_tensor.values() if len(names) > 1 for name in names}
    given_tied = [name for name in parameters_and_buffers if name in tied_names]
    for name in given_tied:
        given = tied_names[name].intersection(given_tied)
        if len(given) > 1 and len({id(parameters_and_buffers[n]) for n in given}) != 1:
            raise ValueError(f"functional_call got multiple values for keys {sorted(tied_names[name])}, which are "
                             "tied. Consider using tie_weights=False")
    untied = dict(parameters_and_buffers)
    for name in given_tied:
        for tied_name in tied_names[name]:
            untied[tied_name] = parameters_and_buffers[name]
    return untied


def _get_submodule(module, path):
    for attr in path.split(".") if path else ():
        try:
            child = getattr(module, attr)
        except AttributeError as ex:
            raise AttributeError(f"{type(module).__name__} has no attribute `{attr}`") from ex
        if not isinstance(child, Module):
            raise TypeError(f"submodule `{path}`: {child} is not an instance of fibril.nn.Module")
        module = child
    return module


def _swap_tensor(root, path, tensor):
    """Puts tensor (_MISSING: nothing) under the dotted path; returns what was there (_MISSING:
    nothing). Parameters and buffers are replaced in their registries, so a plain tensor may
    stand for a parameter; other names are set as attributes (a parametrized one through its
    right_inverse)."""
    prefix, _, name = path.rpartition(".")
    module = _get_submodule(root, prefix)
    if tensor is not _MISSING and tensor is not None and not isinstance(tensor, Tensor):
        raise TypeError(f"{tensor} is not an instance of fibril.Tensor")
    for registry in (module._parameters, module._buffers):
        if name in registry:
            original = registry[name]
            if tensor is _MISSING:
                del registry[name]
            else:
                registry[name] = tensor
            return original
    original = getattr(module, name, _MISSING)
    if original is not _MISSING and original is not None and not isinstance(original, Tensor):
        raise TypeError(f"attribute `{name}`: {original} is not an instance of fibril.Tensor")
    if tensor is not _MISSING:
        setattr(module, name, tensor)
    elif hasattr(module, name):
        delattr(module, name)
    return original


def _swap_tensors(module, named_tensors):
    """Swaps each named tensor in; returns the tensors replaced. All or none: an error puts the
    ones swapped so far back."""
    originals = {}
    try:
        for name, tensor in named_tensors.items():
            originals[name] = _swap_tensor(module, name, tensor)
    except Exception:
        for name, original in originals.items():
            _swap_tensor(module, name, original)
        raise
    return originals


def _check_keys(module, keys):
    valid = {name for name, _ in module.named_parameters(remove_duplicate=False)}
    valid |= {name for name, _ in module.named_buffers(remove_duplicate=False)}
    keys = set(keys)
    missing, unexpected = sorted(valid - keys), sorted(keys - valid)
    errors = []
    if unexpected:
        errors.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
    if missing:
        errors.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
    if errors:
        raise RuntimeError(f"Error(s) in reparametrizing for {type(module).__name__}:\n\t" + "\n\t".join(errors))


@contextlib.contextmanager
def _reparametrize_module(module, parameters_and_buffers, tie_weights=False, strict=False):
    named_tensors = _untie_named_tensors_map(module, parameters_and_buffers) if tie_weights else parameters_and_buffers
    if strict:
        _check_keys(module, named_tensors)
    originals = {}
    try:
        originals = _swap_tensors(module, named_tensors)
        yield
    finally:
        current = _swap_tensors(module, originals)
        # a tensor the module replaced during the call (not in place) is handed back in the dict
        parameters_and_buffers.update({k: current[k] for k in parameters_and_buffers if k in current})


def functional_call(module, parameters_and_buffers, args=None, kwargs=None, *, tie_weights=True, strict=False):
    """module(*args, **kwargs) with the tensors of parameters_and_buffers (by dotted name, as
    named_parameters / named_buffers) in place of the module's own, which are restored after.
    args: a tuple, or one argument. tie_weights: a tensor the module holds under several names
    takes the given value under all of them (different values for them are an error). strict:
    the names must be exactly the module's parameters and buffers. In-place changes the module
    makes to them (e.g. BatchNorm's running stats) land in the given tensors."""
    warnings.warn("`fibril.nn.utils.stateless.functional_call` is deprecated, as torch's (since PyTorch 2.0, for "
                  "torch.func.functional_call, a drop-in replacement).", FutureWarning, stacklevel=2)
    return _functional_call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict)


def _functional_call(module, parameters_and_buffers, args=None, kwargs=None, *, tie_weights=True, strict=False):
    kwargs = {} if kwargs is None else kwargs
    args = () if args is None else args if isinstance(args, tuple) else (args,)
    with _reparametrize_module(module, parameters_and_buffers, tie_weights=tie_weights, strict=strict):
        return module(*args, **kwargs)
