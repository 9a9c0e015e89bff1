"""Rosenblatt's perceptron on a linearly separable 2-D set: one nn.Linear(2, 1) trained with
the perceptron criterion mean(relu(-y * (w.x + b))) for labels y in {-1, +1}. Target
(tested): 100% training accuracy, which the perceptron convergence theorem guarantees here.

    python examples/perceptron.py
"""

import numpy as np

import fibril
from fibril import nn
from fibril.data import DataLoader, TensorDataset
from fibril.train import fit, predict

TARGET_ACCURACY = 1.0


def separable(n=200, margin=0.2, seed=0):
    """Points in [-1, 1]^2 labelled by the side of a random line, none closer than margin to it."""
    rng = np.random.default_rng(seed)
    w, b = rng.standard_normal(2), rng.uniform(-0.3, 0.3)
    x = rng.uniform(-1, 1, (4 * n, 2))
    distance = (x @ w + b) / np.linalg.norm(w)
    x, distance = x[np.abs(distance) > margin][:n], distance[np.abs(distance) > margin][:n]
    return x.astype(np.float32), np.where(distance > 0, 1.0, -1.0).astype(np.float32)


def perceptron_loss(out, y):
    return nn.functional.relu(-y * out.reshape(-1)).mean()


def main(seed=0, epochs=5, progress=True):
    fibril.manual_seed(seed)
    x, y = separable(seed=seed)
    data = TensorDataset(fibril.tensor(x), fibril.tensor(y))
    loader = DataLoader(data, batch_size=1, shuffle=True, generator=fibril.Generator().manual_seed(seed))
    model = nn.Linear(2, 1)
    optimizer = fibril.optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, perceptron_loss, optimizer, loader, epochs=epochs, progress=progress)
    signs = np.where(predict(model, DataLoader(data, batch_size=len(data))).numpy().ravel() > 0, 1.0, -1.0)
    return {"model": model, "history": history, "train_accuracy": float(np.mean(signs == y)),
            "epochs_to_zero_loss": next((e for e, v in zip(history.epochs, history["loss"]) if v == 0), None)}


if __name__ == "__main__":
    result = main()
    print(f"perceptron: training accuracy {result['train_accuracy']:.3f} (target {TARGET_ACCURACY}); "
          f"zero loss from epoch {result['epochs_to_zero_loss']}")
