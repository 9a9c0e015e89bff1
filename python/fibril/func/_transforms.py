"""grad, grad_and_value, vjp, jvp, jacrev, jacfwd and hessian as torch.func's, on fibril's
reverse-mode autograd (fibril has no forward mode: jvp uses the double-vjp trick, jacfwd
computes jacrev's values).

Each call of a transform gives the tensors it differentiates new identities: a view of one
that already requires grad (an enclosing transform's input, or the caller's), so the graph to
it is kept; a detached copy requiring grad otherwise. Gradients are taken with
create_graph=True, so transforms compose: grad(grad(f)) is the second derivative. What a
call returns keeps its graph only where that graph reaches tensors from outside the call, and
is detached otherwise, as torch's levels unwrap it (with grad mode off at the call, always)."""

import functools

from ..autograd import functional as _AF
from ..autograd.function import AccumulateGrad
from ..autograd.grad_mode import enable_grad, is_grad_enabled, set_grad_enabled
from ..creation import zeros_like
from ..tensor import Tensor
from ._pytree import spec_repr, tree_flatten, tree_map, tree_unflatten
from ._randomness import check_no_randomness, check_randomness_arg, rng_state

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian"]

_JVP = "jvp(f, primals, tangents)"
_VJP = "vjp(f, *primals)"


class _Level:
    """One call of a transform: the leaves it made, to tell its own graph from the outside's."""

    def __init__(self):
        self._leaves = {}  # id -> leaf; holding the leaves keeps their ids unique

    def differentiable(self, t):
        """t under a new identity that requires grad (see the module's docstring)."""
        if not isinstance(t, Tensor):
            raise ValueError(f"Thing passed to transform API must be Tensor, got {type(t)}")
        if t.requires_grad:
            return t.view_as(t)
        leaf = t.detach().requires_grad_(True)
        self._leaves[id(leaf)] = leaf
        return leaf

    def release(self, tree, keep_graph):
        """tree with each tensor detached unless keep_graph and its graph reaches outside."""
        def release_one(value):
            if isinstance(value, Tensor) and value.requires_grad and not (keep_graph and self._reaches_out(value)):
                return value.detach()
            return value
        return tree_map(release_one, tree)

    def _reaches_out(self, tensor):
        """Whether tensor's graph reaches a leaf requiring grad that this level did not make."""
        if tensor.grad_fn is None:
            return id(tensor) not in self._leaves
        nodes, seen = [tensor.grad_fn], {id(tensor.grad_fn)}
        while nodes:
            node = nodes.pop()
            if node.__class__ is AccumulateGrad:
                leaf = node.tensor
                if leaf is not None and id(leaf) not in self._leaves:
                    return True
                continue
            for edge in node.edges:
                if edge is not None and id(edge[0]) not in seen:
                    seen.add(id(edge[0]))
                    nodes.append(edge[0])
        return False


def _autograd_grad(outputs, inputs, grad_outputs=None, retain_graph=True, create_graph=True):
    """d(outputs)/d(inputs) as a list: outputs without a graph are skipped, and an input they
    do not reach gets zeros (as torch.func)."""
    grad_outputs = None if grad_outputs is None else tuple(grad_outputs)
    grads = _AF._autograd_grad(tuple(outputs), tuple(inputs), grad_outputs, create_graph=create_graph,
                               retain_graph=retain_graph)
    return [zeros_like(inp) if g is None else g for g, inp in zip(grads, inputs)]


def _wrap_argnum(argnum, num_args):
    if not isinstance(argnum, int):
        raise RuntimeError(f"argnum must be int, got: {type(argnum)}")
    if -num_args <= argnum < num_args:
        return argnum % num_args
    raise RuntimeError(f"Got argnum={argnum}, but only {num_args} positional inputs")


def _differentiate_args(level, args, argnums):
    """(args with those at argnums made differentiable, what is differentiated: that argument
    for an int argnums, the tuple of them for a tuple)."""
    if isinstance(argnums, int):
        indices = (_wrap_argnum(argnums, len(args)),)
    elif isinstance(argnums, tuple):
        indices = tuple(_wrap_argnum(argnum, len(args)) for argnum in argnums)
        if not indices:
            raise RuntimeError("argnums must be non-empty")
        if len(set(indices)) != len(indices):
            raise RuntimeError(f"argnums elements must be unique, got {indices}")
    else:
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    args = tuple(tree_map(level.differentiable, arg) if i in indices else arg for i, arg in enumerate(args))
    return args, args[indices[0]] if isinstance(argnums, int) else tuple(args[i] for i in indices)


def _split_aux(output, has_aux, api):
    """(output, aux) of f's result: aux is None without has_aux, else a pytree of tensors."""
    if not has_aux:
        return output, None
    if not (isinstance(output, tuple) and len(output) == 2):
        raise RuntimeError(f"{api}: output of function f should be a tuple: (output, aux) if has_aux is True")
    for leaf in tree_flatten(output[1])[0]:
        if not isinstance(leaf, Tensor):
            raise RuntimeError(f"Expected tensors, got unsupported type {type(leaf)}")
    return output


def _check_outputs(flat_outputs, api, floating=False):
    """f's flattened outputs: some, all tensors (floating point ones, for a vjp)."""
    if len(flat_outputs) < 1:
        raise RuntimeError(f"{api}: Expected f to be a function that has non-empty output (got output = "
                           f"{flat_outputs})")
    for out in flat_outputs:
        if not isinstance(out, Tensor):
            raise RuntimeError(f"{api}: expected f(*primals) to return only tensors, got unsupported type "
                               f"{type(out)}")
        if floating and not out.is_floating_point():
            raise RuntimeError(f"vjp(f, ...): All outputs of f must be floating-point or complex Tensors, got "
                               f"Tensor with dtype {out.dtype}")


def _check_tensors(flat, argname):
    if len(flat) == 0:
        raise RuntimeError(f"{_JVP}: Expected {argname} to contain at least one Tensor.")
    for value in flat:
        if not isinstance(value, Tensor):
            raise RuntimeError(f"{_JVP}: Expected {argname} to only contain Tensors, got {type(value)}")


# ------------------------------------------------------------------------------ grad
def grad_and_value(func, argnums=0, has_aux=False):
    """A function returning (the gradient of func with respect to the argument(s) at argnums,
    func's value); with has_aux, func returns (value, aux) and the result is (gradient,
    (value, aux)). func must return a scalar (0-dim) tensor. An argument differentiated may be
    a pytree of tensors (tuple, list, dict): its gradient has its structure; a tuple argnums
    gives a tuple of them."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return _grad_and_value(func, argnums, has_aux, args, kwargs, with_value=True)
    return wrapper


def grad(func, argnums=0, has_aux=False):
    """A function returning the gradient of func with respect to the argument(s) at argnums
    (with has_aux: (gradient, aux)); see grad_and_value. Composes: grad(grad(f)) is f''."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return _grad_and_value(func, argnums, has_aux, args, kwargs, with_value=False)
    return wrapper


def _grad_and_value(func, argnums, has_aux, args, kwargs, with_value):
    level, keep_graph = _Level(), is_grad_enabled()
    with enable_grad():
        args, diff_args = _differentiate_args(level, args, argnums)
        output, aux = _split_aux(func(*args, **kwargs), has_aux, "grad_and_value(f)(*args)")
        if not isinstance(output, Tensor):
            raise RuntimeError(f"grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got {type(output)}")
        if output.dim() != 0:
            raise RuntimeError("grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got tensor "
                               f"with {output.dim()} dims. Maybe you wanted to use the vjp or jacrev APIs instead?")
        flat_diff, diff_spec = tree_flatten(diff_args)
        grads = tree_unflatten(_autograd_grad([output], flat_diff), diff_spec)
    grads, aux = level.release((grads, aux), keep_graph)
    if with_value:  # the value's graph is only walked when it is returned
        value = level.release(output, keep_graph)
        return grads, ((value, aux) if has_aux else value)
    return (grads, aux) if has_aux else grads


# ------------------------------------------------------------------------------ vjp, jvp
def vjp(func, *primals, has_aux=False):
    """(func(*primals), vjp_fn[, aux]): vjp_fn(cotangents, retain_graph=True, create_graph=None)
    gives the vector-Jacobian product, a tuple with one gradient (pytree) per primal.
    cotangents has the structure of func's output; create_graph defaults to grad mode."""
    level, keep_graph = _Level(), is_grad_enabled()
    with enable_grad():
        primals = tuple(tree_map(level.differentiable, primal) for primal in primals)
        output, aux = _split_aux(func(*primals), has_aux, _VJP)
        flat_outputs, output_spec = tree_flatten(output)
        _check_outputs(flat_outputs, _VJP, floating=True)
    flat_primals, primals_spec = tree_flatten(primals)

    def vjp_fn(cotangents, retain_graph=True, create_graph=None):
        create_graph = is_grad_enabled() if create_graph is None else create_graph
        flat_cotangents, cotangents_spec = tree_flatten(cotangents)
        if cotangents_spec != output_spec:
            raise RuntimeError("Expected pytree structure of cotangents to be the same as pytree structure of "
                               f"outputs to the function. cotangents: {spec_repr(cotangents_spec)}, primal output: "
                               f"{spec_repr(output_spec)}")
        with set_grad_enabled(create_graph or is_grad_enabled()):
            grads = _autograd_grad(flat_outputs, flat_primals, flat_cotangents, retain_graph, create_graph)
        return level.release(tree_unflatten(grads, primals_spec), create_graph)

    output, aux = level.release((output, aux), keep_graph)
    return (output, vjp_fn, aux) if has_aux else (output, vjp_fn)


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """(func(*primals), J @ tangents[, aux]): the Jacobian-vector product, by the double-vjp
    trick (reverse mode twice; fibril has no forward mode). primals: a tuple (of pytrees);
    tangents: the same structure. strict: an output independent of the inputs is an error."""
    if not isinstance(primals, tuple):
        raise RuntimeError(f"{_JVP}: Expected primals to be a tuple. E.g. it should be valid to call f(*primals).")
    flat_primals, primals_spec = tree_flatten(primals)
    flat_tangents, tangents_spec = tree_flatten(tangents)
    if primals_spec != tangents_spec:
        raise RuntimeError(f"{_JVP}: Expected primals and tangents to have the same python structure. For example, "
                           "if primals is a tuple of 3 tensors, tangents also must be. Got primals with structure "
                           f"{spec_repr(primals_spec)} and tangents with structure {spec_repr(tangents_spec)}")
    _check_tensors(flat_primals, "primals")
    _check_tensors(flat_tangents, "tangents")
    for primal, tangent in zip(flat_primals, flat_tangents):
        if primal.shape != tangent.shape:
            raise RuntimeError("Trying to set a forward gradient that has a different size than that of the original "
                               f"Tensor, this is not supported. Tensor is of size {list(primal.shape)} while the given "
                               f"forward gradient is of size {list(tangent.shape)}.")
    level, keep_graph = _Level(), is_grad_enabled()
    with enable_grad():
        flat_primals = [level.differentiable(p) for p in flat_primals]
        output, aux = _split_aux(func(*tree_unflatten(flat_primals, primals_spec)), has_aux, _JVP)
        flat_outputs, output_spec = tree_flatten(output)
        _check_outputs(flat_outputs, _JVP)
        if strict and not all(out.requires_grad for out in flat_outputs):
            raise RuntimeError("jvp(f, primals, tangents, strict=True): The output of f is independent of the "
                               "inputs. This is not allowed with strict=True.")
        # The backward is linear in these, so their value never reaches the result: zeros.
        dummies = [level.differentiable(zeros_like(out)) for out in flat_outputs]
        grad_inputs = _autograd_grad(flat_outputs, flat_primals, dummies)
        flat_tangents_out = _autograd_grad(grad_inputs, dummies, flat_tangents)
    result = (output, tree_unflatten(flat_tangents_out, output_spec), aux)
    output, tangents_out, aux = level.release(result, keep_graph)
    return (output, tangents_out, aux) if has_aux else (output, tangents_out)


# ------------------------------------------------------------------------------ Jacobians
def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None):
    """A function returning the Jacobian of func with respect to the argument(s) at argnums:
    for each output (pytree) leaf, a gradient-shaped structure whose tensors have shape
    output.shape + input.shape (with has_aux: (jacobian, aux)). One backward per output
    element; chunk_size, which bounds how many torch batches at once, is only validated."""
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")

    @functools.wraps(func)
    def wrapper(*args):
        return _jacobian(func, argnums, has_aux, args)
    return wrapper


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """jacrev's Jacobian, under jacfwd's signature: fibril has no forward mode, so it is computed
    in reverse mode (same values). randomness: as vmap's ('error': func must not draw from the
    default generator; 'different' and 'same' are alike, func being called once)."""
    check_randomness_arg(randomness)

    @functools.wraps(func)
    def wrapper(*args):
        state = rng_state() if randomness == "error" else None
        result = _jacobian(func, argnums, has_aux, args)
        if state is not None:
            check_no_randomness(state)
        return result
    return wrapper


def hessian(func, argnums=0):
    """A function returning the Hessian of func with respect to the argument(s) at argnums:
    jacfwd(jacrev(func, argnums), argnums), as torch."""
    return jacfwd(jacrev(func, argnums), argnums)


def _jacobian(func, argnums, has_aux, args):
    level, keep_graph = _Level(), is_grad_enabled()
    with enable_grad():
        args, diff_args = _differentiate_args(level, args, argnums)
        output, aux = _split_aux(func(*args), has_aux, _VJP)
        flat_outputs, output_spec = tree_flatten(output)
        _check_outputs(flat_outputs, _VJP, floating=True)
        flat_diff, diff_spec = tree_flatten(diff_args)
        jac = tree_unflatten([tree_unflatten(_jacobian_rows(out, i, flat_diff), diff_spec)
                              for i, out in enumerate(flat_outputs)], output_spec)
    jac, aux = level.release((jac, aux), keep_graph)
    return (jac, aux) if has_aux else jac


def _jacobian_rows(out, i, inputs):
    """d out / d inputs[j] for each j, shaped out.shape + inputs[j].shape."""
    if out.nelement() == 0:  # no rows to stack
        return tuple(inp.new_zeros(out.shape + inp.shape) for inp in inputs)
    return _AF._jacobian_rows(out, i, inputs, create_graph=True, strict=False)
