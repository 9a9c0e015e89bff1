"""torch.nn.functional's names and signatures over fibril's ops (import as F)."""

from ..ops.activation import (
    celu, elu, gelu, hardsigmoid, hardswish, hardtanh, leaky_relu, mish, prelu, relu, relu6, selu, sigmoid, silu,
    softplus, softsign, tanh,
)
from ..ops.matmul import linear
from ..ops.norm import batch_norm, group_norm, layer_norm, rms_norm
from ..ops.softmax import (
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, hinge_embedding_loss, huber_loss,
    kl_div, l1_loss, log_softmax, margin_ranking_loss, mse_loss, multi_margin_loss, nll_loss, smooth_l1_loss,
    softmax,
)
from ..ops.attention import scaled_dot_product_attention

__all__ = [
    "celu", "elu", "gelu", "hardsigmoid", "hardswish", "hardtanh", "leaky_relu", "mish", "prelu", "relu", "relu6",
    "selu", "sigmoid", "silu", "softplus", "softsign", "tanh",
    "batch_norm", "group_norm", "layer_norm", "rms_norm",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "hinge_embedding_loss",
    "huber_loss", "kl_div", "l1_loss", "linear", "log_softmax", "margin_ranking_loss", "mse_loss",
    "multi_margin_loss", "nll_loss", "smooth_l1_loss", "softmax",
    "scaled_dot_product_attention",
]
