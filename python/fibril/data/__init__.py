"""fibril.data: datasets, the DataLoader and augmentation transforms (torch.utils.data's API)."""

from . import transforms
from .dataloader import DataLoader, default_collate, worker_generator
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
