"""scikit-learn's bundled digits (1,797 8x8 images, no download) as fibril datasets, split
the same way for every example."""

import numpy as np

import fibril
from fibril.data import TensorDataset


def load(seed=0, test_fraction=0.2, images=False):
    """(train, test) TensorDatasets of (pixels in [0, 1], label): pixels flat (64,) or, with
    images, (1, 8, 8). The split is stratified and depends only on seed."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as err:
        raise SystemExit("the digits examples need scikit-learn: pip install scikit-learn "
                         "(or pip install fibril[examples])") from err
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    if images:
        x = x.reshape(-1, 1, 8, 8)
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=test_fraction,
                                                        random_state=seed, stratify=digits.target)
    return (TensorDataset(fibril.tensor(x_train), fibril.tensor(y_train)),
            TensorDataset(fibril.tensor(x_test), fibril.tensor(y_test)))


def loaders(train, test, batch_size, seed=0):
    from fibril.data import DataLoader
    return (DataLoader(train, batch_size=batch_size, shuffle=True, generator=fibril.Generator().manual_seed(seed)),
            DataLoader(test, batch_size=512))


def n_params(model):
    return sum(p.numel() for p in model.parameters())
