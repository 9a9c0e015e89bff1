"""fibril.train: the fit loop with History and callbacks (EarlyStopping, ModelCheckpoint,
ProgressBar, LearningCurve), evaluate/predict, learning-curve plots and hyperparameter search."""

from .callbacks import Callback, EarlyStopping, LearningCurve, ModelCheckpoint, ProgressBar
from .history import History
from .loop import Run, evaluate, fit, predict
from .plot import plot_history
from .search import SearchResults, grid_search, loguniform, random_search, uniform
