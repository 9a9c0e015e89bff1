"""fibril.nn.utils: gradient clipping, explicit regularization penalties, packed sequences (rnn),
parametrizations (parametrize, parametrizations) and the legacy weight_norm / spectral_norm
hooks, conv/linear + BatchNorm fusion, functional_call (stateless), parameters as one vector
and skip_init."""

from . import parametrizations, parametrize, prune, rnn, stateless
from .clip_grad import clip_grad_norm, clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm
from .convert_parameters import parameters_to_vector, vector_to_parameters
from .memory_format import convert_conv2d_weight_memory_format, convert_conv3d_weight_memory_format
from .fusion import fuse_conv_bn_eval, fuse_conv_bn_weights, fuse_linear_bn_eval, fuse_linear_bn_weights
from .penalty import l1_penalty, l2_penalty
from .skip_init import skip_init
from .spectral_norm import remove_spectral_norm, spectral_norm
from .weight_norm import remove_weight_norm, weight_norm
