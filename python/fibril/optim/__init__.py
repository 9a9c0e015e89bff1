"""fibril.optim: torch.optim's optimizers. SGD, Adam, AdamW, RMSprop and Adagrad step with one
fused multi-tensor kernel call per group; NAdam, RAdam, Adamax, Adadelta and ASGD with
in-place tensor ops, one parameter at a time."""

from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .asgd import ASGD
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD
