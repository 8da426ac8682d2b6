"""A small, reusable training loop for classifiers and regressors.

Taught in Problem 1, section 6, where the notebook writes ``train_epoch`` by
hand first; ``fit`` below is the same loop, plus evaluation on a validation
set, a history of per-epoch figures and a tidy progress display. Problems 1
and 3 use it once the loop itself is no longer the point of the lesson.

Typical use::

    train_idx, val_idx = split_indices(len(X), val_fraction=0.2, seed=seed)
    train_loader = make_loader(X[train_idx], y[train_idx], batch_size=64, shuffle=True, seed=seed)
    val_loader = make_loader(X[val_idx], y[val_idx], batch_size=512)
    history = fit(net, train_loader, nn.CrossEntropyLoss(), torch.optim.Adam(net.parameters()),
                  num_epochs=20, val_loader=val_loader)
    history.last("val_accuracy")
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose arg-max class equals the label.

    logits: (N, C) scores; y: (N,) integer labels. Returns a 0-d tensor in [0, 1].
    """
    return (logits.argmax(dim=1) == y).float().mean()


def split_indices(n: int, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle ``range(n)`` with ``seed`` and cut it into training and validation indices.

    Returns (train_idx, val_idx), int64 arrays of lengths n - n_val and
    n_val = round(n * val_fraction); together they hold every index exactly once.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def make_loader(X: Any, y: Any, *, batch_size: int = 64, shuffle: bool = False, seed: int | None = None,
                dtype: torch.dtype = torch.float32) -> DataLoader:
    """A DataLoader over in-memory arrays.

    X: (N, ...) features, converted to ``dtype`` (float32 by default, the dtype
    of a model's weights). y: (N,) labels, kept integer (int64) when they are
    integers, converted to ``dtype`` otherwise. With ``shuffle`` the batch order
    comes from a generator seeded with ``seed``, so it repeats between runs.
    """
    X = torch.as_tensor(np.asarray(X) if not torch.is_tensor(X) else X).to(dtype)
    y = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y)
    y = y.long() if not torch.is_floating_point(y) else y.to(dtype)
    generator = torch.Generator().manual_seed(seed) if (shuffle and seed is not None) else None
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=shuffle, generator=generator)


def _model_device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def train_epoch(model: nn.Module, loader: Iterable, loss_fn: Callable, optimizer: torch.optim.Optimizer,
                *, metric: Metric | None = accuracy, device: torch.device | str | None = None) -> tuple[float, float]:
    """One pass over ``loader``, one optimiser step per batch.

    Returns (mean loss, mean metric) over the epoch, both weighted by batch
    size; the metric is ``nan`` when ``metric`` is None. The loss of each batch
    is the one computed *before* that batch's step (the usual running figure).
    """
    device = torch.device(device) if device is not None else _model_device(model)
    model.train()
    total_loss = total_metric = 0.0
    count = 0
    for X, y in loader:
        X, y = X.to(device), y.to(device)
        optimizer.zero_grad()
        y_hat = model(X)
        loss = loss_fn(y_hat, y)
        loss.backward()
        optimizer.step()
        n = len(X)
        total_loss += float(loss.detach()) * n
        if metric is not None:
            total_metric += float(metric(y_hat.detach(), y)) * n
        count += n
    if count == 0:
        raise ValueError("the loader yielded no batches")
    return total_loss / count, (total_metric / count if metric is not None else math.nan)


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, loss_fn: Callable, *, metric: Metric | None = accuracy,
             device: torch.device | str | None = None) -> tuple[float, float]:
    """Mean loss and mean metric of ``model`` over ``loader``, in eval mode, without gradients.

    Leaves the model in eval mode; ``train_epoch`` switches it back.
    """
    device = torch.device(device) if device is not None else _model_device(model)
    model.eval()
    total_loss = total_metric = 0.0
    count = 0
    for X, y in loader:
        X, y = X.to(device), y.to(device)
        y_hat = model(X)
        n = len(X)
        total_loss += float(loss_fn(y_hat, y)) * n
        if metric is not None:
            total_metric += float(metric(y_hat, y)) * n
        count += n
    if count == 0:
        raise ValueError("the loader yielded no batches")
    return total_loss / count, (total_metric / count if metric is not None else math.nan)


@dataclass
class History:
    """Per-epoch figures of one training run; every list has one entry per epoch.

    ``val_loss`` and ``val_accuracy`` stay empty when there was no validation
    set; the accuracies are ``nan`` for a run without a metric (regression).
    """

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def epochs(self) -> list[int]:
        """Epoch numbers 1, 2, ..., for plotting."""
        return list(range(1, len(self.train_loss) + 1))

    def last(self, key: str) -> float:
        """The final entry of one series, e.g. ``history.last("val_accuracy")``."""
        series = getattr(self, key)
        if not series:
            raise ValueError(f"history has no {key!r} figures")
        return series[-1]

    def as_dict(self) -> dict[str, Any]:
        """Plain lists, ready for ``helpers.results.save_results``."""
        return {"train_loss": self.train_loss, "train_accuracy": self.train_accuracy,
                "val_loss": self.val_loss, "val_accuracy": self.val_accuracy, "seconds": self.seconds}


def _epoch_line(epoch: int, num_epochs: int, history: History, has_metric: bool) -> str:
    width = len(str(num_epochs))
    parts = [f"epoch {epoch:>{width}}/{num_epochs}", f"train loss {history.train_loss[-1]:.4f}"]
    if has_metric:
        parts.append(f"acc {history.train_accuracy[-1]:.3f}")
    if history.val_loss:
        parts.append(f"| val loss {history.val_loss[-1]:.4f}")
        if has_metric:
            parts.append(f"acc {history.val_accuracy[-1]:.3f}")
    return "  ".join(parts)


def fit(model: nn.Module, train_loader: Iterable, loss_fn: Callable, optimizer: torch.optim.Optimizer,
        num_epochs: int, *, val_loader: Iterable | None = None, metric: Metric | None = accuracy,
        device: torch.device | str | None = None, progress: str | None = "line", print_every: int = 1,
        label: str = "") -> History:
    """Train ``model`` for ``num_epochs`` epochs and return its :class:`History`.

    After every epoch the model is evaluated on ``val_loader`` (if given).
    ``progress``: ``"line"`` prints one line every ``print_every`` epochs (and
    after the last), ``"bar"`` shows a ``tqdm.auto`` bar that closes at the end,
    ``None`` is silent. ``label`` prefixes the lines (e.g. the optimiser's name).
    The model must already be on ``device`` (default: where its parameters are).
    """
    if num_epochs < 1:
        raise ValueError(f"num_epochs must be at least 1, got {num_epochs}")
    if progress not in ("line", "bar", None):
        raise ValueError(f"progress must be 'line', 'bar' or None, got {progress!r}")
    history = History()
    start = time.perf_counter()
    bar = None
    if progress == "bar":
        from tqdm.auto import tqdm

        bar = tqdm(total=num_epochs, desc=label or "training", unit="epoch", leave=True)
    prefix = f"{label}: " if label and progress == "line" else ""
    try:
        for epoch in range(1, num_epochs + 1):
            loss, acc = train_epoch(model, train_loader, loss_fn, optimizer, metric=metric, device=device)
            history.train_loss.append(loss)
            history.train_accuracy.append(acc)
            if val_loader is not None:
                val_loss, val_acc = evaluate(model, val_loader, loss_fn, metric=metric, device=device)
                history.val_loss.append(val_loss)
                history.val_accuracy.append(val_acc)
            if progress == "line" and (epoch % print_every == 0 or epoch == num_epochs or epoch == 1):
                print(prefix + _epoch_line(epoch, num_epochs, history, metric is not None), flush=True)
            elif bar is not None:
                shown = {"loss": f"{loss:.3f}"}
                if history.val_loss:
                    shown["val_loss"] = f"{history.val_loss[-1]:.3f}"
                bar.set_postfix(shown, refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    history.seconds = time.perf_counter() - start
    return history
