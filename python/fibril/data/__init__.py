"""fibril.data: datasets, samplers, the DataLoader and augmentation transforms (torch.utils.data's API)."""

from . import transforms
from .dataloader import DataLoader, default_collate, default_convert, worker_generator
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset, Subset,
                      TensorDataset, random_split)
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)
from .worker import WorkerInfo, get_worker_info
