"""fibril.optim: torch.optim's optimizers, each step one fused multi-tensor kernel call per group."""

from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD
