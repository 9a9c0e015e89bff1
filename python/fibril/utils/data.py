"""torch.utils.data's names for fibril.data, so that `from fibril.utils.data import DataLoader`
works as torch code writes it. The objects are fibril.data's own (one class, not a copy)."""

from ..data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset, IterableDataset, RandomSampler,
                    Sampler, SequentialSampler, StackDataset, Subset, SubsetRandomSampler, TensorDataset,
                    WeightedRandomSampler, WorkerInfo, default_collate, default_convert, get_worker_info,
                    random_split)

__all__ = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset",
           "RandomSampler", "Sampler", "SequentialSampler", "StackDataset", "Subset", "SubsetRandomSampler",
           "TensorDataset",
           "WeightedRandomSampler", "WorkerInfo", "default_collate", "default_convert", "get_worker_info",
           "random_split"]
