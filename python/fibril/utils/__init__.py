"""fibril.utils: torch.utils's checkpoint, and data (fibril.data under torch's name)."""

from . import checkpoint, data
