"""Tests for helpers/plots.py: every figure has a title, axis labels and a legend."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # no display in tests

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import plots  # noqa: E402
from helpers.training import History  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _history(n: int = 5, val: bool = True, acc: bool = True) -> History:
    h = History()
    for e in range(n):
        h.train_loss.append(2.0 / (e + 1))
        h.train_accuracy.append(0.1 * e if acc else math.nan)
        if val:
            h.val_loss.append(2.2 / (e + 1))
            h.val_accuracy.append(0.09 * e if acc else math.nan)
    return h


def _labelled(ax) -> bool:
    return bool(
        ax.get_title() and ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None
    )


def test_learning_curves_one_run_has_loss_and_accuracy_panels():
    fig = plots.learning_curves(_history(), title="one run")
    axes = fig.get_axes()
    assert len(axes) == 2
    assert all(_labelled(ax) for ax in axes)
    assert fig._suptitle.get_text() == "one run"
    loss_ax = axes[0]
    assert [line.get_linestyle() for line in loss_ax.get_lines()] == ["-", "--"]
    assert list(loss_ax.get_lines()[0].get_xdata()) == [1, 2, 3, 4, 5]


def test_learning_curves_compares_runs_with_one_colour_each():
    fig = plots.learning_curves({"SGD": _history(), "Adam": _history(3)})
    loss_ax = fig.get_axes()[0]
    labels = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert labels == ["SGD train", "SGD validation", "Adam train", "Adam validation"]
    colours = [line.get_color() for line in loss_ax.get_lines()]
    assert colours[0] == colours[1] and colours[2] == colours[3] and colours[0] != colours[2]


def test_learning_curves_without_accuracy_or_validation():
    fig = plots.learning_curves(_history(val=False, acc=False))
    axes = fig.get_axes()
    assert len(axes) == 1 and _labelled(axes[0])
    assert len(axes[0].get_lines()) == 1


def test_loss_trace_log_axis_and_legend():
    fig = plots.loss_trace({"a": [1.0, 0.1, 0.01], "b": [2.0, 0.5, 0.2]}, title="trace")
    (ax,) = fig.get_axes()
    assert _labelled(ax) and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    fig = plots.loss_trace({"a": [1.0, -1.0]}, logy=False)
    assert fig.get_axes()[0].get_yscale() == "linear"


def test_signals_by_class_one_panel_per_class():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 12)), np.repeat(np.arange(7), [9, 9, 9, 9, 8, 8, 8])
    fig = plots.signals_by_class(x, y, np.linspace(0, 1, 12), per_class=2, ncols=4, title="signals")
    visible = [ax for ax in fig.get_axes() if ax.get_visible()]
    assert len(visible) == 7
    assert [ax.get_title() for ax in visible] == [f"class {c}" for c in range(7)]
    assert all(len(ax.get_lines()) == 2 for ax in visible)
    assert fig._suptitle.get_text() == "signals" and fig.legends
    assert fig._supxlabel.get_text() and fig._supylabel.get_text()
