"""vmap as torch.func.vmap, without batching rules: func runs once per entry of the mapped
dimension, on that entry's slices, and its outputs are stacked."""

import functools

from ..ops.join import stack
from ..random import get_rng_state, set_rng_state
from ..tensor import Tensor
from ._pytree import broadcast_to_and_flatten, spec_repr, tree_flatten, tree_unflatten
from ._randomness import check_no_randomness, check_randomness_arg, rng_state

__all__ = ["vmap"]


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """func mapped over a dimension of its inputs: vmap(func)(x) stacks func(x[i]) for each i.

    fibril has no batching rules: the returned function calls func once per batch entry, on
    that entry's slices (views, so gradients flow back to the inputs), then stacks the outputs
    -- a batch of B costs B calls of func, a Python loop, not one vectorized call.

    in_dims: for each positional argument, the dimension mapped over, or None for an argument
    passed whole to every call; an int applies to all, a (nested) tuple/list/dict matches the
    arguments' structure. kwargs are passed whole. out_dims: where the mapped dimension goes in
    each output (a tensor, or a pytree of them; an int applies to all); None gives the first
    call's output as it is (torch requires it not to depend on the mapped inputs, which this
    loop does not check). randomness: 'error' (func must not draw random numbers: checked on
    the default generator after each call), 'different' (each call draws its own), 'same'
    (the generator is reset to the same state before each call, so every entry draws the same
    numbers). chunk_size: torch's bound on how many entries run at once; the loop runs one at
    a time anyway, so it is only validated. Composes with the other transforms:
    vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y) gives per-sample gradients."""
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        _check_out_dims(out_dims, func)
        check_randomness_arg(randomness)
        batch_size, flat_in_dims, flat_args, args_spec = _process_inputs(func, in_dims, args)
        entries = (tree_unflatten([arg if in_dim is None else arg.select(in_dim, i)
                                   for arg, in_dim in zip(flat_args, flat_in_dims)], args_spec)
                   for i in range(batch_size))
        return _stack_outputs(func, _call_per_entry(func, entries, kwargs, randomness), out_dims)
    return wrapped


def _call_per_entry(func, entries, kwargs, randomness):
    """func's output for each entry's arguments, drawing random numbers as randomness says."""
    same_state = get_rng_state() if randomness == "same" else None
    outputs = []
    for args in entries:
        if same_state is not None:
            set_rng_state(same_state)
        before = rng_state() if randomness == "error" else None
        outputs.append(func(*args, **kwargs))
        if before is not None:
            check_no_randomness(before)
    return outputs


def _get_name(func):
    if isinstance(func, functools.partial):
        return f"functools.partial({_get_name(func.func)}, ...)"
    return getattr(func, "__name__", repr(func))


def _check_out_dims(out_dims, func):
    if isinstance(out_dims, int) or out_dims is None:
        return
    if not all(out_dim is None or isinstance(out_dim, int) for out_dim in tree_flatten(out_dims)[0]):
        raise ValueError(f"vmap({_get_name(func)}, ..., out_dims={out_dims}): `out_dims` must be an int, None or a "
                         "python collection of ints representing where in the outputs the vmapped dimension should "
                         "appear.")


def _process_inputs(func, in_dims, args):
    """(batch size, one in_dim per leaf of args (None or non-negative), the leaves, args' spec)."""
    prefix = f"vmap({_get_name(func)}, in_dims={in_dims}, ...)(<inputs>)"
    if not isinstance(in_dims, (int, tuple)):
        raise ValueError(f"{prefix}: expected `in_dims` to be int or a (potentially nested) tuple matching the "
                         f"structure of inputs, got: {type(in_dims)}.")
    if len(args) == 0:
        raise ValueError(f"vmap({_get_name(func)})(<inputs>): got no inputs. Maybe you forgot to add inputs, or you "
                         "are trying to vmap over a function with no inputs. The latter is unsupported.")
    flat_args, args_spec = tree_flatten(args)
    flat_in_dims = broadcast_to_and_flatten(in_dims, args_spec)
    if flat_in_dims is None:
        raise ValueError(f"{prefix}: in_dims is not compatible with the structure of `inputs`. in_dims has structure "
                         f"{spec_repr(tree_flatten(in_dims)[1])} but inputs has structure {spec_repr(args_spec)}.")
    for i, (arg, in_dim) in enumerate(zip(flat_args, flat_in_dims)):
        if in_dim is None:
            continue
        if not isinstance(in_dim, int):
            raise ValueError(f"{prefix}: Got in_dim={in_dim} for an input but in_dim must be either an integer "
                             "dimension or None.")
        if not isinstance(arg, Tensor):
            raise ValueError(f"{prefix}: Got in_dim={in_dim} for an input but the input is of type {type(arg)}. We "
                             "cannot vmap over non-Tensor arguments, please use None as the respective in_dim")
        if not -arg.dim() <= in_dim < arg.dim():
            raise ValueError(f"{prefix}: Got in_dim={in_dim} for some input, but that input is a Tensor of "
                             f"dimensionality {arg.dim()} so expected in_dim to satisfy "
                             f"-{arg.dim()} <= in_dim < {arg.dim()}.")
        flat_in_dims[i] = in_dim % arg.dim()
    return _batch_size(flat_in_dims, flat_args), flat_in_dims, flat_args, args_spec


def _batch_size(flat_in_dims, flat_args):
    sizes = [arg.size(in_dim) for arg, in_dim in zip(flat_args, flat_in_dims) if in_dim is not None]
    if not sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over")
    if any(size != sizes[0] for size in sizes):
        raise ValueError(f"vmap: Expected all tensors to have the same size in the mapped dimension, got sizes "
                         f"{sizes} for the mapped dimension")
    if sizes[0] == 0:  # no call to learn the outputs' structure from
        raise ValueError("vmap: fibril's vmap calls func once per entry of the mapped dimension, which cannot be "
                         "of size 0")
    return sizes[0]


def _stack_outputs(func, outputs, out_dims):
    """The per-entry outputs as one, each tensor stacked along its out_dim."""
    flat_samples = [tree_flatten(output) for output in outputs]
    output_spec = flat_samples[0][1]
    if any(spec != output_spec for _, spec in flat_samples):
        raise ValueError(f"vmap({_get_name(func)}, ...): `{_get_name(func)}` returned outputs of different "
                         "structures for different entries of the batch")
    flat_out_dims = _flat_out_dims(func, outputs[0], output_spec, out_dims)
    stacked = [_stack_leaf(func, [leaves[j] for leaves, _ in flat_samples], out_dim)
               for j, out_dim in enumerate(flat_out_dims)]
    return tree_unflatten(stacked, output_spec)


def _flat_out_dims(func, output, output_spec, out_dims):
    flat_out_dims = None
    if isinstance(output, Tensor):  # torch's edge case: a 1-tuple out_dims for a lone tensor
        if isinstance(out_dims, int) or out_dims is None:
            flat_out_dims = [out_dims]
        elif isinstance(out_dims, tuple) and len(out_dims) == 1:
            flat_out_dims = list(out_dims)
    else:
        flat_out_dims = broadcast_to_and_flatten(out_dims, output_spec)
    if flat_out_dims is None:
        raise ValueError(f"vmap({_get_name(func)}, ..., out_dims={out_dims})(<inputs>): out_dims is not compatible "
                         f"with the structure of `outputs`. out_dims has structure "
                         f"{spec_repr(tree_flatten(out_dims)[1])} but outputs has structure {spec_repr(output_spec)}.")
    return flat_out_dims


def _stack_leaf(func, values, out_dim):
    if out_dim is None:
        return values[0]
    if not isinstance(values[0], Tensor):
        name = _get_name(func)
        raise ValueError(f"vmap({name}, ...): `{name}` must only return Tensors, got type {type(values[0])}. Did you "
                         "mean to set out_dims= to None for output?")
    return stack(values, out_dim)
