"""torch.autograd.functional: vjp, jvp, jacobian, hessian, vhp, hvp of a function of tensors.

Everything runs on reverse mode, as torch on CPU: jvp and hvp use the double-vjp trick (the
backward is linear in its incoming gradient, so differentiating it with respect to that
gradient gives the forward product). A tuple of inputs (or outputs) gives a tuple in the
result, a single tensor a tensor, nested as torch's."""

# fibril.tensor imports this package, so Tensor, autograd.grad and stack are imported when called.
from .grad_mode import enable_grad, is_grad_enabled, set_grad_enabled

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


def _as_tuple(value, arg_name, fn_name):
    """(whether value was a tuple, value as a tuple of tensors)."""
    from ..tensor import Tensor

    is_tuple = isinstance(value, tuple)
    values = value if is_tuple else (value,)
    for i, el in enumerate(values):
        if not isinstance(el, Tensor):
            where = f"the value at index {i}" if is_tuple else f"the given {arg_name}"
            raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple of Tensors but "
                            f"{where} has type {type(el)}.")
    return is_tuple, values


def _untuple(result, was_tuple):
    """Undoes _as_tuple on result; was_tuple is one flag, or (outer, inner) for a nested result."""
    if isinstance(was_tuple, tuple):
        outer, inner = was_tuple
        if not inner:
            result = tuple(el[0] for el in result)
        return result if outer else result[0]
    return result if was_tuple else result[0]


def _prepare(inputs, create_graph, need_graph):
    """New tensor objects to differentiate with respect to: a differentiable view where the
    result must reach the caller's tensors, a detached copy otherwise. Always new, so tensors
    the function captures itself are told apart from those passed in (as torch)."""
    return tuple(t.view_as(t) if create_graph and t.requires_grad else t.detach().requires_grad_(need_graph)
                 for t in inputs)


def _finish(tensors, create_graph):
    """Detaches the results unless their graph was asked for; nested tuples are walked."""
    from ..tensor import Tensor

    if isinstance(tensors[0], Tensor):
        return tensors if create_graph else tuple(t.detach() for t in tensors)
    return tuple(_finish(t, create_graph) for t in tensors)


def _validate_v(v, other, is_other_tuple):
    if len(other) != len(v):
        if is_other_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(other)} but got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for i, (el_v, el_other) in enumerate(zip(v, other)):
        if el_v.size() != el_other.size():
            prefix = f"Entry {i} in " if is_other_tuple else ""
            raise RuntimeError(f"{prefix}v has invalid size: should be {el_other.size()} but got {el_v.size()}.")


_INDEPENDENT = {
    "hessian": "The hessian of the user-provided function with respect to input {i} is independent of the input. "
               "This is not allowed in strict mode. You should ensure that your function is thrice differentiable "
               "and that the hessian depends on the inputs.",
    "jacobian": "While computing the hessian, found that the jacobian of the user-provided function with respect "
                "to input {i} is independent of the input. This is not allowed in strict mode. You should ensure "
                "that your function is twice differentiable and that the jacobian depends on the inputs (this "
                "would be violated by a linear function for example).",
    "grad_inputs": "The gradient with respect to input {i} is independent of the inputs of the user-provided "
                   "function. This is not allowed in strict mode.",
    "outputs": "Output {i} of the user-provided function does not require gradients. The outputs must be computed "
               "in a differentiable manner from the input when running in strict mode.",
}


def _check_requires_grad(tensors, kind, strict):
    """strict mode: every tensor (of the given kind) must be present and depend on the inputs."""
    if not strict:
        return
    for i, t in enumerate(tensors):
        if t is None:
            raise RuntimeError(f"The output of the user-provided function is independent of input {i}. "
                               "This is not allowed in strict mode.")
        if not t.requires_grad:
            raise RuntimeError(_INDEPENDENT[kind].format(i=i))


def _autograd_grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None):
    """autograd.grad that skips outputs which are None or have no graph (None for every input
    when none is left), and gives None for an unused input."""
    from . import grad

    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    kept = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not kept:
        return (None,) * len(inputs)
    return grad(tuple(o for o, _ in kept), inputs, tuple(g for _, g in kept), retain_graph=retain_graph,
                 create_graph=create_graph, allow_unused=True)


_UNUSED = {
    "back": "The output of the user-provided function is independent of input {i}. This is not allowed in "
            "strict mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the grad_outputs when "
                  "using the double backward trick to compute forward mode gradients. This is not allowed in "
                  "strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. This is not allowed "
                   "in strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry {i} in the "
                         "grad_jacobian. This is not allowed in strict mode as it prevents from using the double "
                         "backward trick to replace forward mode AD.",
}


def _fill_in_zeros(grads, refs, strict, create_graph, stage):
    """Zeros (shaped as refs) for the missing gradients; in strict mode, an error instead, and
    under create_graph also for a gradient that does not depend on the inputs."""
    result = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(_UNUSED[stage].format(i=i))
            g = refs[i].new_zeros(refs[i].shape)
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if "double" in stage else "jacobian"
            raise RuntimeError(f"The {what} of the user-provided function is independent of input {i}. "
                               "This is not allowed in strict mode when create_graph=True.")
        result.append(g)
    return tuple(result)


def _single_element_v_required(tensors, what):
    if len(tensors) != 1 or tensors[0].nelement() != 1:
        raise RuntimeError(f"The vector v can only be None if {what}")


_SINGLE_INPUT = "the input to the user-provided function is a single Tensor with a single element."


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): the vector-Jacobian product at inputs."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "vjp")
        _check_requires_grad(outputs, "outputs", strict)
        if v is not None:
            v = _prepare(_as_tuple(v, "v", "vjp")[1], create_graph, need_graph=False)
            _validate_v(v, outputs, is_outputs_tuple)
        else:
            _single_element_v_required(outputs, "the user-provided function returns a single Tensor with a "
                                                "single element.")
    with set_grad_enabled(create_graph or is_grad_enabled()):
        grads = _autograd_grad(outputs, inputs, v, create_graph=create_graph)
        products = _fill_in_zeros(grads, inputs, strict, create_graph, "back")
    return (_untuple(_finish(outputs, create_graph), is_outputs_tuple),
            _untuple(_finish(products, create_graph), is_inputs_tuple))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v): the Jacobian-vector product at inputs, by the double-vjp trick."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        if v is not None:
            v = _prepare(_as_tuple(v, "v", "jvp")[1], create_graph, need_graph=False)
            _validate_v(v, inputs, is_inputs_tuple)
        else:
            _single_element_v_required(inputs, _SINGLE_INPUT)
        is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jvp")
        _check_requires_grad(outputs, "outputs", strict)
        # The backward is linear in these, so their value never reaches the result: zeros
        # (not random values, which could be inf or nan for the ops they pass through).
        grad_outputs = tuple(out.new_zeros(out.shape).requires_grad_(True) for out in outputs)
        grad_inputs = _autograd_grad(outputs, inputs, grad_outputs, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict)
    with set_grad_enabled(create_graph or is_grad_enabled()):
        grads = _autograd_grad(grad_inputs, grad_outputs, v, create_graph=create_graph)
        products = _fill_in_zeros(grads, outputs, strict, create_graph, "back_trick")
    return (_untuple(_finish(outputs, create_graph), is_outputs_tuple),
            _untuple(_finish(products, create_graph), is_outputs_tuple))


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian of func at inputs: result[i][j] has shape outputs[i].shape + inputs[j].shape
    (a tuple level only where the outputs, or the inputs, are a tuple; lists where torch's
    forward-mode path gives lists). fibril has no vmap nor forward-mode AD: vectorize=True (and
    strategy="forward-mode", which torch allows only with it) computes the same values with one
    backward per output element, and forward-mode results carry no graph."""
    if strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
                             'function has more outputs than inputs, "forward-mode" tends to be more performant. '
                             'Otherwise, prefer to use "reverse-mode".')
    if strategy == "forward-mode":
        _check_forward_mode(inputs, create_graph, strict, vectorize)
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jacobian")
        _check_requires_grad(outputs, "outputs", strict)
        if vectorize and strict:
            raise RuntimeError("torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are not "
                               "supported together. Please either set `strict=False` or `vectorize=False`.")
        rows = tuple(_jacobian_rows(out, i, inputs, create_graph, strict) for i, out in enumerate(outputs))
    rows = _finish(rows, create_graph)
    if strategy == "forward-mode":  # torch's forward-mode path nests lists, not tuples
        rows = [list(row) for row in rows]
    return _untuple(rows, (is_outputs_tuple, is_inputs_tuple))


def _check_forward_mode(inputs, create_graph, strict, vectorize):
    """torch's refusals for strategy="forward-mode", in its order."""
    if create_graph:
        raise NotImplementedError('torch.autograd.functional.jacobian: `create_graph=True` and '
                                  '`strategy="forward-mode"` are not supported together (yet). Please either set '
                                  '`create_graph=False` or `strategy="reverse-mode"`.')
    if strict:
        raise RuntimeError('torch.autograd.functional.jacobian: `strict=True` and `strategy="forward-mode"` are '
                           'not supported together (yet). Please either set `strict=False` or '
                           '`strategy="reverse-mode"`.')
    _as_tuple(inputs, "inputs", "jacobian")
    if not vectorize:  # "isonly": torch's message, as it is
        raise NotImplementedError("Computing Jacobian using forward-AD or forward-over-reverse Hessian "
                                  "isonly implemented for `vectorize=True`.")


def _jacobian_rows(out, i, inputs, create_graph, strict):
    """d out / d inputs[j] for each j, one backward per element of out."""
    per_input = tuple([] for _ in inputs)
    flat = out.reshape(-1)
    for k in range(out.nelement()):
        grads = _autograd_grad((flat[k],), inputs, retain_graph=True, create_graph=create_graph)
        for j, (rows, g, inp) in enumerate(zip(per_input, grads, inputs)):
            if g is None:
                if strict:
                    raise RuntimeError(f"Output {i} of the user-provided function is independent of input {j}. "
                                       "This is not allowed in strict mode.")
                g = inp.new_zeros(inp.shape)
            elif strict and create_graph and not g.requires_grad:
                raise RuntimeError(f"The jacobian of the user-provided function is independent of input {i}. "
                                   "This is not allowed in strict mode when create_graph=True.")
            rows.append(g)
    return tuple(_stack(rows, out.shape + inp.shape) for rows, inp in zip(per_input, inputs))


def _stack(rows, shape):
    from ..ops.join import stack

    if not rows:  # an output of no elements: torch's loop fails the same way
        raise RuntimeError("stack expects a non-empty TensorList")
    return stack(rows, 0).view(shape)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar func at inputs: result[i][j] has shape inputs[i].shape +
    inputs[j].shape (a tuple level each only where the inputs are a tuple)."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def scalar_func(*inp):
        out = func(*inp)
        is_out_tuple, outs = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _check_requires_grad(outs, "outputs", strict)
        if is_out_tuple:
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.nelement() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should contain a single element")
        return out.squeeze()

    def jacobian_func(*inp):
        jac = jacobian(scalar_func, inp, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
        return jac

    result = jacobian(jacobian_func, inputs, create_graph=create_graph, strict=strict, vectorize=vectorize,
                      strategy=outer_jacobian_strategy)
    return _untuple(result, (is_inputs_tuple, is_inputs_tuple))


def _scalar_output(func, inputs, strict, fn_name):
    """func(*inputs) as a 1-tuple, checked to be one tensor of one element (vhp and hvp)."""
    is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", fn_name)
    _check_requires_grad(outputs, "outputs", strict)
    if is_outputs_tuple:
        raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
    if outputs[0].nelement() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn_name} should contain a single element")
    return outputs


def _second_order_setup(func, inputs, v, create_graph, strict, fn_name):
    """Shared start of vhp and hvp: prepared inputs and v, the output, and its gradient with a graph."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
    inputs = _prepare(inputs, create_graph, need_graph=True)
    if v is not None:
        v = _prepare(_as_tuple(v, "v", fn_name)[1], create_graph, need_graph=False)
        _validate_v(v, inputs, is_inputs_tuple)
    else:
        _single_element_v_required(inputs, _SINGLE_INPUT)
    outputs = _scalar_output(func, inputs, strict, fn_name)
    jac = _autograd_grad(outputs, inputs, create_graph=True)
    _check_requires_grad(jac, "jacobian", strict)
    return is_inputs_tuple, inputs, v, outputs, jac


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H): the vector-Hessian product of a scalar func at inputs."""
    with enable_grad():
        is_inputs_tuple, inputs, v, outputs, jac = _second_order_setup(func, inputs, v, create_graph, strict, "vhp")
    with set_grad_enabled(create_graph or is_grad_enabled()):
        grads = _autograd_grad(jac, inputs, v, create_graph=create_graph)
        products = _fill_in_zeros(grads, inputs, strict, create_graph, "double_back")
    return _untuple(_finish(outputs, create_graph), False), _untuple(_finish(products, create_graph), is_inputs_tuple)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v): the Hessian-vector product of a scalar func at inputs, by the
    double-vjp trick (equal to vhp for a twice continuously differentiable func)."""
    with enable_grad():
        is_inputs_tuple, inputs, v, outputs, jac = _second_order_setup(func, inputs, v, create_graph, strict, "hvp")
        grad_jac = tuple(t.new_zeros(t.shape).requires_grad_(True) for t in inputs)
        double_back = _autograd_grad(jac, inputs, grad_jac, create_graph=True)
        _check_requires_grad(jac, "hessian", strict)
    with set_grad_enabled(create_graph or is_grad_enabled()):
        grads = _autograd_grad(double_back, grad_jac, v, create_graph=create_graph)
        products = _fill_in_zeros(grads, inputs, strict, create_graph, "double_back_trick")
    return _untuple(_finish(outputs, create_graph), False), _untuple(_finish(products, create_graph), is_inputs_tuple)
