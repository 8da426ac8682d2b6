"""The bookkeeping around a training loop: splits, loaders, evaluation, a history.

Problem 1, section 6 writes the loop itself (``train_epoch``, exercise 1.6);
:func:`fit` then calls that function once per epoch and adds what is not the
point of the lesson: evaluation after every epoch, a :class:`History` of the
figures, and a progress display. ``accuracy`` is the workbook's one accuracy
function.

Typical use (``train_epoch`` is the notebook's own)::

    train_idx, val_idx = split_indices(len(X), val_fraction=0.2, seed=seed)
    train_loader = make_loader(X[train_idx], y[train_idx], batch_size=64, shuffle=True,
                               seed=seed)
    val_loader = make_loader(X[val_idx], y[val_idx], batch_size=512)
    history = fit(net, train_epoch, train_loader, nn.CrossEntropyLoss(),
                  torch.optim.Adam(net.parameters()), num_epochs=20, val_loader=val_loader)
    history.last("val_accuracy")
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

Metric = Callable[[torch.Tensor, torch.Tensor], float]


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose arg-max class equals the label, in [0, 1].

    logits: (N, C) scores; y: (N,) integer labels. Percent is 100 times this.
    """
    return float((logits.argmax(dim=1) == y).float().mean())


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


def make_loader(X: Any, y: Any, *, batch_size: int = 64, shuffle: bool = False,
                seed: int | None = None, dtype: torch.dtype = torch.float32) -> DataLoader:
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
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=shuffle,
                      generator=generator)


class OnDevice:
    """A loader whose batches ``(X, y)`` arrive on ``device``: ``X.to(device), y.to(device)``.

    Lets a loop that never mentions a device train a model on a GPU.
    ``len()`` is the number of batches, as for the loader itself.
    """

    def __init__(self, loader: Iterable, device: torch.device | str):
        self.loader, self.device = loader, torch.device(device)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for X, y in self.loader:
            yield X.to(self.device), y.to(self.device)

    def __len__(self) -> int:
        return len(self.loader)


def _model_device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, loss_fn: Callable, *,
             metric: Metric | None = accuracy,
             device: torch.device | str | None = None) -> tuple[float, float]:
    """Mean loss and mean metric per example of ``model`` over ``loader``.

    Runs in eval mode, without recording a graph, and leaves the model in eval
    mode. Batches are moved to ``device`` (default: where the model's
    parameters are). The metric is ``nan`` when ``metric`` is None.
    """
    device = torch.device(device) if device is not None else _model_device(model)
    model.eval()
    total_loss = total_metric = 0.0
    count = 0
    for X, y in OnDevice(loader, device):
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

    All four are measured after the epoch, in eval mode, on the whole training
    and validation sets, so that training and validation figures are comparable.
    ``val_loss`` and ``val_accuracy`` stay empty without a validation set; the
    accuracies are ``nan`` for a run without a metric (regression), fractions
    in [0, 1] otherwise. ``train_s`` is the wall-clock time of the run, in seconds.
    """

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    train_s: float = 0.0

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
                "val_loss": self.val_loss, "val_accuracy": self.val_accuracy,
                "train_s": self.train_s}


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


def fit(model: nn.Module, train_epoch: Callable[..., float], train_loader: Iterable,
        loss_fn: Callable, optimizer: torch.optim.Optimizer, num_epochs: int, *,
        val_loader: Iterable | None = None, metric: Metric | None = accuracy,
        device: torch.device | str | None = None, progress: str | None = "line",
        print_every: int = 1, label: str = "") -> History:
    """Train ``model`` for ``num_epochs`` epochs with ``train_epoch``; return its :class:`History`.

    ``train_epoch(model, loader, loss_fn, optimizer)`` is the notebook's loop
    (exercise 1.6); it gets the training batches already on ``device`` (default:
    where the model's parameters are). After every epoch the model is evaluated
    in eval mode on the training set and on ``val_loader`` (if given).
    ``progress``: ``"line"`` prints one line every ``print_every`` epochs (and
    after the first and the last), ``"bar"`` shows a ``tqdm.auto`` bar, ``None``
    is silent. ``label`` prefixes the lines (e.g. the optimiser's name).
    """
    if num_epochs < 1:
        raise ValueError(f"num_epochs must be at least 1, got {num_epochs}")
    if progress not in ("line", "bar", None):
        raise ValueError(f"progress must be 'line', 'bar' or None, got {progress!r}")
    device = torch.device(device) if device is not None else _model_device(model)
    history = History()
    start = time.perf_counter()
    bar = None
    if progress == "bar":
        from tqdm.auto import tqdm

        bar = tqdm(total=num_epochs, desc=label or "training", unit="epoch", leave=True)
    prefix = f"{label}: " if label and progress == "line" else ""
    try:
        for epoch in range(1, num_epochs + 1):
            train_epoch(model, OnDevice(train_loader, device), loss_fn, optimizer)
            loss, acc = evaluate(model, train_loader, loss_fn, metric=metric, device=device)
            history.train_loss.append(loss)
            history.train_accuracy.append(acc)
            if val_loader is not None:
                val_loss, val_acc = evaluate(model, val_loader, loss_fn, metric=metric,
                                             device=device)
                history.val_loss.append(val_loss)
                history.val_accuracy.append(val_acc)
            shown = epoch % print_every == 0 or epoch in (1, num_epochs)
            if progress == "line" and shown:
                print(prefix + _epoch_line(epoch, num_epochs, history, metric is not None),
                      flush=True)
            elif bar is not None:
                postfix = {"loss": f"{loss:.3f}"}
                if history.val_loss:
                    postfix["val_loss"] = f"{history.val_loss[-1]:.3f}"
                bar.set_postfix(postfix, refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    history.train_s = time.perf_counter() - start
    return history


def cpu_cores() -> int:
    """The CPU cores this process may use (its affinity where the OS reports one, else all)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return os.cpu_count() or 1


def side_by_side(jobs: list[Callable[[], Any]], workers: int | None = None) -> list[Any]:
    """Run independent jobs (functions of no arguments) in threads, ``workers`` at a time; results in order.

    PyTorch releases Python's global interpreter lock (the GIL, which lets only one
    thread run Python code at a time) inside its operations, so two trainings of
    small models run nearly twice as fast side by side on two cores as one after the
    other. Each job must own everything it changes (its model, optimiser and
    random generator) and draw nothing from the global random state, so that it
    computes exactly what it would compute alone. ``workers``: default the
    number of CPU cores (at most the number of jobs). An exception in a job is
    raised here, after every job has ended.
    """
    if not jobs:
        return []
    workers = workers or min(len(jobs), cpu_cores())
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers == 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(job) for job in jobs]
    return [f.result() for f in futures]
