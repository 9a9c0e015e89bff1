"""`make run`'s demo: trains a model on scikit-learn's digits with a progress bar, prints the
test metrics and the confusion matrix, and saves the learning curves as a PNG.

    python examples/run_demo.py [--png learning_curve.png]
"""

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import cnn_digits  # noqa: E402
import mlp_digits  # noqa: E402
from fibril.metrics import classification_report, confusion_matrix  # noqa: E402
from fibril.train import LearningCurve  # noqa: E402

EXAMPLE = cnn_digits  # or mlp_digits


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", default="learning_curve.png", help="where to save the learning curves")
    parser.add_argument("--epochs", type=int, help="epochs (default: the example's)")
    args = parser.parse_args(argv)
    name = EXAMPLE.__name__
    print(f"training {name} ({EXAMPLE.__doc__.splitlines()[0]})")
    options = {} if args.epochs is None else {"epochs": args.epochs}
    result = EXAMPLE.main(callbacks=[LearningCurve(args.png)], **options)
    print(f"\ntest accuracy: {result['test_accuracy']:.4f} (target >= {EXAMPLE.TARGET_ACCURACY})\n")
    print(classification_report(result["y_true"], result["y_pred"], digits=3))
    print("confusion matrix (rows: true digit, columns: predicted):")
    cm = confusion_matrix(result["y_true"], result["y_pred"])
    print("     " + " ".join(f"{d:>3}" for d in range(cm.shape[1])))
    for digit, row in enumerate(cm):
        print(f"{digit:>3}  " + " ".join(f"{v:>3}" for v in row))
    if pathlib.Path(args.png).exists():
        print(f"\nlearning curves saved to {args.png}")
    return 0 if result["test_accuracy"] >= EXAMPLE.TARGET_ACCURACY else 1


if __name__ == "__main__":
    sys.exit(main())
