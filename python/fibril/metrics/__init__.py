"""fibril.metrics: classification, ranking and regression metrics with scikit-learn's names,
arguments and results (tests compare them). Inputs may be fibril tensors, numpy arrays or lists."""

from .classification import (
    accuracy, accuracy_score, confusion_matrix, f1_score, fbeta_score, precision_recall_fscore_support,
    precision_score, recall_score, top_k_accuracy_score,
)
from .ranking import auc, roc_auc_score, roc_curve
from .regression import mean_absolute_error, mean_squared_error, r2_score
from .report import classification_report
