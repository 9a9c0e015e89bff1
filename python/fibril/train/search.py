"""Grid and random hyperparameter search on a validation split.

`build(params)` returns (model, loss_fn, optimizer) for one set of parameters; the keys
"batch_size" and "epochs", when present in params, set the loaders' batch size and the
epochs of that trial. Every trial trains on the same split, from the same seed, and is
scored by the best value of `monitor` over its epochs. The results come back sorted, best
first, as a table."""

import itertools
import math

import numpy as np

from ..data import DataLoader, random_split
from ..random import Generator, manual_seed
from .history import _mode
from .loop import fit


class uniform:
    """Uniform in [low, high)."""

    def __init__(self, low, high):
        self.low, self.high = float(low), float(high)

    def rvs(self, random_state):
        return float(random_state.uniform(self.low, self.high))


class loguniform:
    """Log-uniform in [low, high): for learning rates and weight decays."""

    def __init__(self, low, high):
        if low <= 0 or high <= low:
            raise ValueError(f"loguniform needs 0 < low < high, got {low}, {high}")
        self.low, self.high = float(low), float(high)

    def rvs(self, random_state):
        return float(math.exp(random_state.uniform(math.log(self.low), math.log(self.high))))


class SearchResults:
    """The trials, best first: rows of {"params", "score", "epoch"} (+ the last epoch's logs)."""

    def __init__(self, rows, monitor, mode):
        reverse = mode == "max"
        finite = [r for r in rows if math.isfinite(r["score"])]
        failed = [r for r in rows if not math.isfinite(r["score"])]
        self.rows = sorted(finite, key=lambda r: r["score"], reverse=reverse) + failed
        self.monitor, self.mode = monitor, mode

    @property
    def best(self):
        return self.rows[0]

    @property
    def best_params(self):
        return self.rows[0]["params"]

    @property
    def best_score(self):
        return self.rows[0]["score"]

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def __str__(self):
        keys = sorted({k for r in self.rows for k in r["params"]})
        cells = [["rank", *keys, self.monitor, "best epoch"]]
        for rank, r in enumerate(self.rows, 1):
            params = [f"{r['params'][k]:.4g}" if isinstance(r["params"].get(k), float) else str(r["params"].get(k, ""))
                      for k in keys]
            cells.append([str(rank), *params, f"{r['score']:.5g}", str(r["epoch"])])
        widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
        return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells)


def _run_trials(build, trials, dataset, val_fraction, epochs, batch_size, metrics, monitor, mode, seed, callbacks):
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    mode = _mode(monitor, mode)
    train_set, val_set = random_split(dataset, [1 - val_fraction, val_fraction],
                                      generator=Generator().manual_seed(seed))
    rows = []
    for params in trials:
        manual_seed(seed)
        model, loss_fn, optimizer = build(dict(params))
        size = params.get("batch_size", batch_size)
        train = DataLoader(train_set, batch_size=size, shuffle=True, generator=Generator().manual_seed(seed))
        val = DataLoader(val_set, batch_size=max(size, 256))
        history = fit(model, loss_fn, optimizer, train, val, epochs=params.get("epochs", epochs), metrics=metrics,
                      callbacks=callbacks() if callbacks else (), progress=False)
        try:
            epoch, score = history.best(monitor, mode)
        except ValueError:
            epoch, score = None, math.nan
        last = {k: v[-1] for k, v in history.history.items()} if len(history) else {}
        rows.append({"params": dict(params), "score": score, "epoch": epoch, **last})
    return SearchResults(rows, monitor, mode)


def grid_search(build, param_grid, dataset, val_fraction=0.2, epochs=5, batch_size=32, metrics=None,
                monitor="val_loss", mode="auto", seed=0, callbacks=None):
    """Every combination of param_grid (name -> list of values). callbacks: a function
    returning fresh callbacks for each trial (e.g. lambda: [EarlyStopping(patience=2)])."""
    if not param_grid:
        raise ValueError("grid_search: param_grid is empty")
    names = list(param_grid)
    for name in names:
        if not isinstance(param_grid[name], (list, tuple)) or not param_grid[name]:
            raise ValueError(f"grid_search: param_grid[{name!r}] must be a non-empty list of values")
    trials = [dict(zip(names, values)) for values in itertools.product(*(param_grid[n] for n in names))]
    return _run_trials(build, trials, dataset, val_fraction, epochs, batch_size, metrics, monitor, mode, seed,
                       callbacks)


def _draw(spec, rng):
    if isinstance(spec, (list, tuple)):
        return spec[rng.integers(len(spec))]
    if hasattr(spec, "rvs"):
        return spec.rvs(random_state=rng)
    if callable(spec):
        return spec(rng)
    return spec


def random_search(build, param_distributions, dataset, n_iter=10, val_fraction=0.2, epochs=5, batch_size=32,
                  metrics=None, monitor="val_loss", mode="auto", seed=0, callbacks=None):
    """n_iter draws from param_distributions: lists (a uniform choice), objects with
    .rvs(random_state) (uniform, loguniform above, scipy.stats distributions), functions of
    a numpy Generator, or fixed values. The draws depend only on seed."""
    if n_iter < 1:
        raise ValueError(f"random_search: n_iter must be >= 1, got {n_iter}")
    rng = np.random.default_rng(seed)
    trials = [{name: _draw(spec, rng) for name, spec in param_distributions.items()} for _ in range(n_iter)]
    return _run_trials(build, trials, dataset, val_fraction, epochs, batch_size, metrics, monitor, mode, seed,
                       callbacks)
