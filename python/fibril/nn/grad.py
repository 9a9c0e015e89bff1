"""torch.nn.grad: the gradients of conv1d/2d/3d with respect to their input and their weight,
given the gradient of the output. The input gradient is the transposed convolution of
grad_output (its output_padding restoring input_size); the weight gradient is the
convolution's own backward (autograd.grad), recorded when grad_output or input requires grad,
so both can be differentiated again."""

from .. import autograd, creation
from ..ops.arguments import int_tuple
from ..ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d
from ..ops.conv3d import conv3d, conv_transpose3d


def _input_grad(transpose, n, input_size, weight, grad_output, stride, padding, dilation, groups):
    op = f"conv{n}d_input"
    stride, padding = int_tuple(stride, n, "stride", op), int_tuple(padding, n, "padding", op)
    dilation = int_tuple(dilation, n, "dilation", op)
    spatial = tuple(input_size)[-n:]
    kernel, out = weight.shape[2:], grad_output.shape[-n:]
    # input sizes the convolution maps to out: the smallest one, plus up to stride - 1 it drops
    output_padding = tuple(size - ((o - 1) * s - 2 * p + d * (k - 1) + 1)
                           for size, o, s, p, d, k in zip(spatial, out, stride, padding, dilation, kernel))
    return transpose(grad_output, weight, None, stride, padding, output_padding, groups, dilation)


def _weight_grad(conv, input, weight_size, grad_output, stride, padding, dilation, groups):
    weight = creation.zeros(tuple(weight_size), dtype=input.dtype, device=input.device, requires_grad=True)
    record = autograd.is_grad_enabled() and (input.requires_grad or grad_output.requires_grad)
    with autograd.enable_grad():
        out = conv(input, weight, None, stride, padding, dilation, groups)
        (grad,) = autograd.grad(out, weight, grad_output, create_graph=record)
    return grad


def conv1d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    return _input_grad(conv_transpose1d, 1, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv1d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    return _weight_grad(conv1d, input, weight_size, grad_output, stride, padding, dilation, groups)


def conv2d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    return _input_grad(conv_transpose2d, 2, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    return _weight_grad(conv2d, input, weight_size, grad_output, stride, padding, dilation, groups)


def conv3d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    return _input_grad(conv_transpose3d, 3, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv3d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    return _weight_grad(conv3d, input, weight_size, grad_output, stride, padding, dilation, groups)
