"""Logistic regression vs MLP vs CNN on scikit-learn's digits, the same split and seed:
a table of parameters, test accuracy, macro F1 and training time.

    python examples/compare_models.py
"""

import time

from fibril.metrics import f1_score

import cnn_digits
import logistic_digits
import mlp_digits

MODELS = {"logistic regression": logistic_digits, "MLP": mlp_digits, "CNN": cnn_digits}


def main(seed=0, epochs=None, progress=False):
    """Rows of {"model", "params", "test_accuracy", "macro_f1", "train_s"}."""
    rows = []
    for name, example in MODELS.items():
        start = time.perf_counter()
        result = example.main(seed=seed, progress=progress, **({} if epochs is None else {"epochs": epochs}))
        rows.append({"model": name, "params": result["params"], "test_accuracy": result["test_accuracy"],
                     "macro_f1": f1_score(result["y_true"], result["y_pred"], average="macro"),
                     "train_s": time.perf_counter() - start})
    return rows


def table(rows):
    lines = [f"{'model':<20} {'params':>8} {'test acc':>9} {'macro F1':>9} {'time':>8}"]
    for r in rows:
        lines.append(f"{r['model']:<20} {r['params']:>8} {r['test_accuracy']:>9.4f} {r['macro_f1']:>9.4f} "
                     f"{r['train_s']:>7.1f}s")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(main()))
