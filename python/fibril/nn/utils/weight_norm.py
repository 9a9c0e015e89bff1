"""Weight normalization (https://arxiv.org/abs/1602.07868) as torch's deprecated hook
(torch.nn.utils.weight_norm): weight = g * v / ||v||, with parameters weight_g and weight_v and
the weight recomputed by a forward pre-hook; plus the norm_except_dim and _weight_norm it and
parametrizations.weight_norm compute with."""

import warnings

from ..parameter import Parameter

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm", "norm_except_dim"]


def norm_except_dim(v, pow=2, dim=0):
    """The p-norm of v over every dimension but dim, kept as size-1 dimensions; dim -1: the norm
    of the whole tensor, 0-d (as torch.norm_except_dim)."""
    if dim == -1:
        return v.norm(pow)
    dim = dim % v.ndim
    return v.norm(pow, dim=tuple(d for d in range(v.ndim) if d != dim), keepdim=True)


def _weight_norm(v, g, dim=0):
    """v * (g / ||v||), the norm taken as norm_except_dim(v, 2, dim) (as torch._weight_norm)."""
    return v * (g / norm_except_dim(v, 2, dim))


class WeightNorm:
    """The forward pre-hook that sets module.<name> from <name>_g and <name>_v."""

    def __init__(self, name, dim):
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module):
        return _weight_norm(getattr(module, self.name + "_v"), getattr(module, self.name + "_g"), self.dim)

    @staticmethod
    def apply(module, name, dim):
        warnings.warn("`fibril.nn.utils.weight_norm` is deprecated in favor of "
                      "`fibril.nn.utils.parametrizations.weight_norm`.", FutureWarning, stacklevel=3)
        for hook, _, _ in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        del module._parameters[name]
        module.register_parameter(name + "_g", Parameter(norm_except_dim(weight, 2, fn.dim).data))
        module.register_parameter(name + "_v", Parameter(weight.data))
        setattr(module, name, fn.compute_weight(module))  # a plain attribute until the next forward
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.data))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """Replaces module.<name> by <name>_g (the norms over every dimension but dim; dim None: of
    the whole tensor) and <name>_v (the direction), recombined before each forward. Deprecated
    in torch for parametrizations.weight_norm, whose state dicts it loads."""
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name="weight"):
    """Makes module.<name> a parameter again, of its current value."""
    remove_reparametrization_hook(module, WeightNorm, name, "weight_norm")
    return module


def remove_reparametrization_hook(module, kind, name, what):
    """Undoes and removes the forward pre-hook of type kind that computes module.<name> (the
    legacy weight_norm and spectral_norm); ValueError, as torch's, when there is none."""
    for key, (hook, _, _) in module._forward_pre_hooks.items():
        if isinstance(hook, kind) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return
    raise ValueError(f"{what} of '{name}' not found in {module}")
