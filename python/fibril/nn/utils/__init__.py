"""fibril.nn.utils: gradient clipping and explicit regularization penalties."""

from .clip_grad import clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm
from .penalty import l1_penalty, l2_penalty
