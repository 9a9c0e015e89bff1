"""Multinomial logistic regression on scikit-learn's digits: one nn.Linear(64, 10) and the
cross-entropy loss, the baseline of compare_models.py.

    python examples/logistic_digits.py
"""

import fibril
from fibril import nn
from fibril.metrics import accuracy_score
from fibril.train import fit, predict

import digits


def main(seed=0, epochs=20, progress=True, callbacks=()):
    fibril.manual_seed(seed)
    train, test = digits.load(seed)
    train_loader, test_loader = digits.loaders(train, test, batch_size=32, seed=seed)
    model = nn.Linear(64, 10)
    optimizer = fibril.optim.Adam(model.parameters(), lr=1e-2)
    history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, test_loader, epochs=epochs,
                  metrics=["accuracy"], callbacks=callbacks, progress=progress)
    y_pred = predict(model, test_loader).argmax(1)
    return {"model": model, "history": history, "test_accuracy": accuracy_score(test.tensors[1], y_pred),
            "y_true": test.tensors[1].numpy(), "y_pred": y_pred.numpy(), "params": digits.n_params(model)}


if __name__ == "__main__":
    print(f"logistic regression on digits: test accuracy {main()['test_accuracy']:.4f}")
