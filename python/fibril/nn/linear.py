"""Identity, Linear and Bilinear: Linear computes input @ weight.T + bias in one
GEMM call, the bias added inside the kernel's epilogue; bilinear is composed of two matmuls."""

import math

from .. import creation
from ..amp.policy import autocast_op
from ..ops.matmul import linear, matmul
from . import init
from .module import Module
from .parameter import Parameter


class Identity(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Linear(Module):
    """y = x @ weight.T + bias; weight (out_features, in_features), PyTorch's initialization
    (kaiming_uniform_ with a = sqrt(5), bias uniform in ±1/sqrt(in_features))."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(creation.empty(out_features, in_features, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(creation.empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class NonDynamicallyQuantizableLinear(Linear):
    """MultiheadAttention's out_proj: a Linear under torch's class name, so reprs match."""


@autocast_op("promote_cuda")  # not lowered, as torch's (its matmuls neither); promoted on CUDA
def bilinear(input1, input2, weight, bias=None):
    """y[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] + bias[o], over any
    (equal) batch dims of input1 and input2. One GEMM of input2 with weight viewed as
    (out * in1, in2), then a batched matrix-vector product with input1; autograd differentiates
    both."""
    if weight.ndim != 3:
        raise ValueError(f"bilinear: weight must be 3-D (out_features, in1_features, in2_features), "
                         f"got {list(weight.shape)}")
    out_features, in1, in2 = weight.shape
    shapes = f"input1 {list(input1.shape)}, input2 {list(input2.shape)}, weight {list(weight.shape)}"
    if input1.ndim == 0 or input1.shape[:-1] != input2.shape[:-1]:
        raise ValueError(f"bilinear: input1 and input2 must have the same batch dims ({shapes})")
    if input1.shape[-1] != in1 or input2.shape[-1] != in2:
        raise ValueError(f"bilinear: the inputs' last dims must be weight's in1_features and in2_features ({shapes})")
    if bias is not None and bias.shape != (out_features,):
        raise ValueError(f"bilinear: bias must have shape [{out_features}], got {list(bias.shape)} ({shapes})")
    n = math.prod(input1.shape[:-1])  # not -1 in the reshapes: they may hold no elements
    t = matmul(input2.reshape(n, in2), weight.reshape(out_features * in1, in2).mT)
    y = matmul(t.reshape(n, out_features, in1), input1.reshape(n, in1, 1))
    y = y.reshape(*input1.shape[:-1], out_features)
    return y if bias is None else y + bias


class Bilinear(Module):
    """y = x1^T A x2 + b; weight (out_features, in1_features, in2_features), PyTorch's
    initialization (weight and bias uniform in ±1/sqrt(in1_features))."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = Parameter(creation.empty(out_features, in1_features, in2_features, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(creation.empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.in1_features <= 0:
            raise ValueError(f"in1_features must be > 0, but got (in1_features={self.in1_features})")
        bound = 1 / math.sqrt(self.in1_features)
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
