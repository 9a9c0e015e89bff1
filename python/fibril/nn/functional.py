"""torch.nn.functional's names and signatures over fibril's ops (import as F)."""

from ..ops.activation import (
    celu, elu, gelu, hardsigmoid, hardswish, hardtanh, leaky_relu, mish, prelu, relu, relu6, selu, sigmoid, silu,
    softplus, softsign, tanh,
)
from ..ops.attention import scaled_dot_product_attention
from ..ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d
from ..ops.join import pad
from ..ops.matmul import linear
from ..ops.norm import batch_norm, group_norm, layer_norm, rms_norm
from ..ops.pool import (
    adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool1d, adaptive_max_pool2d, avg_pool1d, avg_pool2d,
    max_pool1d, max_pool2d,
)
from ..ops.random import dropout
from ..ops.softmax import (
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, hinge_embedding_loss, huber_loss,
    kl_div, l1_loss, log_softmax, margin_ranking_loss, mse_loss, multi_margin_loss, nll_loss, smooth_l1_loss,
    softmax,
)
from .linear import bilinear
from .sparse import embedding

__all__ = [
    "celu", "elu", "gelu", "hardsigmoid", "hardswish", "hardtanh", "leaky_relu", "mish", "prelu", "relu", "relu6",
    "selu", "sigmoid", "silu", "softplus", "softsign", "tanh",
    "batch_norm", "group_norm", "layer_norm", "rms_norm",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "hinge_embedding_loss",
    "huber_loss", "kl_div", "l1_loss", "bilinear", "linear", "log_softmax", "margin_ranking_loss", "mse_loss",
    "multi_margin_loss", "nll_loss", "smooth_l1_loss", "softmax",
    "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "pad",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d", "avg_pool1d",
    "avg_pool2d", "max_pool1d", "max_pool2d", "embedding",
    "scaled_dot_product_attention", "dropout",
]
