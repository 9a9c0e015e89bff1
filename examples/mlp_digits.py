"""A two-layer MLP on scikit-learn's digits. Target (tested): test accuracy >= 0.96.

    python examples/mlp_digits.py
"""

import fibril
from fibril import nn
from fibril.metrics import accuracy_score
from fibril.train import fit, predict

import digits

TARGET_ACCURACY = 0.96


def build(hidden=256):
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, 10))


def main(seed=0, epochs=20, progress=True, callbacks=()):
    fibril.manual_seed(seed)
    train, test = digits.load(seed)
    train_loader, test_loader = digits.loaders(train, test, batch_size=32, seed=seed)
    model = build()
    optimizer = fibril.optim.Adam(model.parameters(), lr=3e-3)
    scheduler = fibril.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, test_loader, epochs=epochs,
                  metrics=["accuracy"], scheduler=scheduler, callbacks=callbacks, progress=progress)
    y_pred = predict(model, test_loader).argmax(1)
    return {"model": model, "history": history, "test_accuracy": accuracy_score(test.tensors[1], y_pred),
            "y_true": test.tensors[1].numpy(), "y_pred": y_pred.numpy(), "params": digits.n_params(model)}


if __name__ == "__main__":
    result = main()
    print(f"MLP on digits: test accuracy {result['test_accuracy']:.4f} (target >= {TARGET_ACCURACY})")
