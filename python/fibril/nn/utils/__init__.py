"""fibril.nn.utils: gradient clipping, explicit regularization penalties and packed sequences (rnn)."""

from . import rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm
from .penalty import l1_penalty, l2_penalty
