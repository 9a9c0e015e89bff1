"""fibril.optim: torch.optim's optimizers. SGD, Adam, AdamW, RMSprop and Adagrad step with one
fused multi-tensor kernel call per group; NAdam, RAdam, Adamax, Adadelta, ASGD and Rprop with
in-place tensor ops, one parameter at a time (Adafactor too); LBFGS on the params seen as one flat
vector."""

from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .asgd import ASGD
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD
from . import swa_utils
