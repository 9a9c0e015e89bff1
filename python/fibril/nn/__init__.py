"""Neural-network building blocks; `fibril.nn.functional` is the functional API."""

from . import functional
