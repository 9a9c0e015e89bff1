"""classification_report: scikit-learn's text table (or dict) of per-class precision, recall,
F1 and support, with accuracy and the macro and weighted averages."""

import numpy as np

from ._inputs import labels_pair
from .classification import precision_recall_fscore_support

HEADERS = ("precision", "recall", "f1-score", "support")


def classification_report(y_true, y_pred, labels=None, target_names=None, digits=2, output_dict=False,
                          zero_division="warn"):
    y_true, y_pred = labels_pair(y_true, y_pred)
    present = np.unique(np.concatenate([y_true, y_pred]))
    labels_given = labels is not None
    labels = present if labels is None else np.asarray(labels)
    if target_names is None:
        target_names = [str(label) for label in labels.tolist()]
    elif len(target_names) != len(labels):
        raise ValueError(f"Number of classes, {len(labels)}, does not match size of target_names, "
                         f"{len(target_names)}. Try specifying the labels parameter")
    micro_is_accuracy = not labels_given or set(labels.tolist()) >= set(present.tolist())
    p, r, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None,
                                                        zero_division=zero_division)
    rows = list(zip(target_names, p, r, f1, support))
    averages = {}
    for average in ("micro", "macro", "weighted"):
        heading = "accuracy" if average == "micro" and micro_is_accuracy else f"{average} avg"
        avg_p, avg_r, avg_f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average,
                                                                  zero_division=zero_division)
        averages[heading] = (avg_p, avg_r, avg_f1, int(np.sum(support)))
    if output_dict:
        out = {name: dict(zip(HEADERS, (float(a), float(b), float(c), int(s)))) for name, a, b, c, s in rows}
        for heading, values in averages.items():
            out[heading] = values[2] if heading == "accuracy" else dict(zip(HEADERS, values))
        return out
    width = max(max(len(name) for name in target_names), len("weighted avg"), digits)
    text = ("{:>{width}s} " + " {:>9}" * len(HEADERS)).format("", *HEADERS, width=width) + "\n\n"
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    for row in rows:
        text += row_fmt.format(*row, width=width, digits=digits)
    text += "\n"
    for heading, values in averages.items():
        if heading == "accuracy":
            accuracy_fmt = "{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f}" + " {:>9}\n"
            text += accuracy_fmt.format(heading, "", "", *values[2:], width=width, digits=digits)
        else:
            text += row_fmt.format(heading, *values, width=width, digits=digits)
    return text
