"""fibril.nn: modules, parameters, initializations and the functional API
(`fibril.nn.functional`), with torch.nn's names and semantics."""

from . import functional, init, utils
from .containers import ModuleDict, ModuleList, ParameterList, Sequential
from .dropout import Dropout, Dropout1d, Dropout2d
from .flatten import Flatten, Unflatten
from .linear import Identity, Linear
from .module import Module
from .parameter import Parameter
from .sparse import Embedding
