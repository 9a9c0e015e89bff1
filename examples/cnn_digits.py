"""A small CNN on scikit-learn's digits (8x8 images). Target (tested): test accuracy >= 0.97.

    python examples/cnn_digits.py
"""

import fibril
from fibril import nn
from fibril.metrics import accuracy_score
from fibril.train import fit, predict

import digits

TARGET_ACCURACY = 0.97


def build(channels=16):
    c = channels
    return nn.Sequential(
        nn.Conv2d(1, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c, 2 * c, 3, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * c * 2 * 2, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10),
    )


def main(seed=0, epochs=10, progress=True, callbacks=()):
    fibril.manual_seed(seed)
    train, test = digits.load(seed, images=True)
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
    print(f"CNN on digits: test accuracy {result['test_accuracy']:.4f} (target >= {TARGET_ACCURACY})")
