"""Plots the notebooks share: learning curves, loss traces, 1-D signals.

Every function draws into a Matplotlib figure with a title, axis labels and a
legend, and returns the figure (the notebook shows it; tests inspect it).
Taught in Problem 1 (sections 3, 5 and 6) and used again in Problem 3.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def _as_histories(histories: Any) -> dict[str, Any]:
    """Accept one History or a mapping name -> History."""
    if isinstance(histories, Mapping):
        return dict(histories)
    return {"": histories}


def learning_curves(
    histories: Any, *, title: str = "Learning curves", figsize: tuple[float, float] = (9.0, 3.4)
) -> Figure:
    """Loss (left) and accuracy (right) per epoch, training solid, validation dashed.

    ``histories``: one :class:`helpers.training.History`, or a dict
    ``{name: History}`` to compare runs (e.g. ``{"SGD": h1, "Adam": h2}``); each
    run keeps one colour. The accuracy panel is left out when no run has one.
    """
    runs = _as_histories(histories)
    has_acc = any(np.isfinite(h.train_accuracy).any() for h in runs.values() if h.train_accuracy)
    fig, axes = plt.subplots(
        1,
        2 if has_acc else 1,
        figsize=figsize if has_acc else (figsize[0] / 2, figsize[1]),
        squeeze=False,
    )
    ax_loss = axes[0, 0]
    panels = [(ax_loss, "train_loss", "val_loss", "loss")]
    if has_acc:
        panels.append((axes[0, 1], "train_accuracy", "val_accuracy", "accuracy"))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, h) in enumerate(runs.items()):
        colour = colours[i % len(colours)]
        prefix = f"{name} " if name else ""
        for ax, train_key, val_key, _ in panels:
            ax.plot(
                h.epochs, getattr(h, train_key), color=colour, linestyle="-", label=f"{prefix}train"
            )
            if getattr(h, val_key):
                ax.plot(
                    h.epochs,
                    getattr(h, val_key),
                    color=colour,
                    linestyle="--",
                    label=f"{prefix}validation",
                )
    ax_loss.set_ylabel("loss (mean per example)")
    ax_loss.set_title("Loss")
    if has_acc:
        axes[0, 1].set_ylabel("accuracy (fraction correct)")
        axes[0, 1].set_title("Accuracy")
    for ax, *_ in panels:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def loss_trace(
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "Loss during optimisation",
    xlabel: str = "step",
    ylabel: str = "loss",
    logy: bool = True,
    figsize: tuple[float, float] = (5.5, 3.4),
) -> Figure:
    """One line per named series of losses against the step number (log y-axis by default)."""
    fig, ax = plt.subplots(figsize=figsize)
    for name, values in series.items():
        values = np.asarray(values, dtype=float)
        ax.plot(np.arange(len(values)), values, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def signals_by_class(
    x: Any,
    y: Any,
    t: Any | None = None,
    *,
    per_class: int = 1,
    classes: Sequence[int] | None = None,
    title: str = "Example signals",
    xlabel: str = "position t (arbitrary units)",
    ylabel: str = "signal value",
    ncols: int = 5,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """A grid with one panel per class, showing ``per_class`` example signals of that class.

    x: (N, L) signals; y: (N,) integer labels; t: (L,) sample positions
    (default 0..L-1). Panels are titled by class; the legend names the examples.
    """
    x, y = np.asarray(x), np.asarray(y)
    t = np.arange(x.shape[1]) if t is None else np.asarray(t)
    classes = list(np.unique(y)) if classes is None else list(classes)
    nrows = int(np.ceil(len(classes) / ncols))
    figsize = figsize or (1.9 * ncols, 1.7 * nrows + 0.6)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, sharex=True, sharey=True, squeeze=False)
    for ax in axes.ravel()[len(classes) :]:
        ax.set_visible(False)
    for ax, c in zip(axes.ravel(), classes):
        for k, i in enumerate(np.flatnonzero(y == c)[:per_class]):
            ax.plot(t, x[i], linewidth=1.2, label=f"example {k + 1}")
        ax.set_title(f"class {c}", fontsize="small")
        ax.tick_params(labelsize="x-small")
    fig.supxlabel(xlabel, fontsize="medium")
    fig.supylabel(ylabel, fontsize="medium")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper right", fontsize="small", ncols=len(handles))
    fig.suptitle(title)
    fig.tight_layout()
    return fig
