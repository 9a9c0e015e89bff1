"""Learning curves as a PNG, through matplotlib's object API (no pyplot: the caller's
backend and global state are left alone)."""


def plot_history(history, path, keys=None):
    """One panel per quantity (loss, then each metric), train and validation curves together.
    Returns the path written."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as err:
        raise ImportError("plot_history needs matplotlib: pip install matplotlib (or fibril[train])") from err
    names = keys or [k for k in history.history if not k.startswith("val_") and k not in ("lr", "time")]
    if not names:
        raise ValueError(f"plot_history: nothing to plot in {sorted(history.history)}")
    fig = Figure(figsize=(4.5 * len(names), 3.5), layout="constrained")
    FigureCanvasAgg(fig)
    for i, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), i + 1)
        ax.plot(history.epochs, history[name], marker="o", markersize=3, label="train")
        if "val_" + name in history:
            ax.plot(history.epochs, history["val_" + name], marker="o", markersize=3, label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.savefig(path, dpi=100)
    return path
