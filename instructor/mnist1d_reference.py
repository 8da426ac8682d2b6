"""Problem 3 (MNIST-1D) on the instructor's side: reference answers and the published CNN setup.

Nothing here reaches students. ``helpers.mnist1d`` holds the checks; the
notebook holds what it teaches (models, training loop, best CNN). This module
holds:

- reference answers of exercises 3.1 to 3.4 (``reference_train``,
  ``ReferenceLogistic``, ``ReferenceMLP``, ``ReferenceCNN``), which the tests in
  ``tests/instructor`` run through the checks;
- ``train_reference_cnn``: the published CNN trained as the mnist1d repository
  trains it (``notebooks/train.py``: Adam 1e-2, batches of 100 taken in order,
  8000 steps), for the benchmark's time comparison with the notebook's best CNN.

Source of the published models: ``notebooks/models.py`` of
github.com/greydanus/mnist1d (LinearBase, MLPBase, ConvBase, GRUBase).
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import checks
from helpers import mnist1d as m1d
from helpers.training import accuracy

#: The published training setup (``get_model_args`` in ``notebooks/train.py``).
REFERENCE_RECIPE = {"steps": 8000, "batch_size": 100, "lr": 1e-2}


# --- reference answers of the exercises ----------------------------------------------------------


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Cross-entropy and accuracy (fraction) in eval mode, without a graph; leaves eval mode on."""
    model.eval()
    with torch.no_grad():
        logits = model(x)
        return F.cross_entropy(logits, y).item(), float(accuracy(logits, y))


def reference_train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    x_val: torch.Tensor | None,
    y_val: torch.Tensor | None,
    *,
    epochs: int,
    batch_size: int = 100,
    shuffle: bool = True,
    scheduler: Any = None,
    augment: Any = None,
    label_smoothing: float = 0.0,
    patience: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The answer of exercise 3.1 (the notebook's ``train``)."""
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, Any] = {
        "train_loss": [],
        "train_accuracy": [],
        "val_loss": [],
        "val_accuracy": [],
    }
    best_accuracy, best_epoch, best_state = -1.0, 0, None
    n = len(x)
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        if shuffle:
            order = torch.randperm(n, generator=generator).to(x.device)
        else:
            order = torch.arange(n, device=x.device)
        loss_sum = correct = 0.0
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            xb, yb = x[idx], y[idx]
            if augment is not None:
                xb = augment(xb, generator)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
        history["train_loss"].append(loss_sum / n)
        history["train_accuracy"].append(correct / n)
        if x_val is None:
            continue
        val_loss, val_accuracy = evaluate(model, x_val, y_val)
        history["val_loss"].append(val_loss)
        history["val_accuracy"].append(val_accuracy)
        if val_accuracy > best_accuracy:
            best_accuracy, best_epoch = val_accuracy, epoch
            if patience is not None:
                best_state = copy.deepcopy(model.state_dict())
        elif patience is not None and epoch - best_epoch >= patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    history["best_epoch"] = best_epoch
    history["train_s"] = time.perf_counter() - start
    return history


class ReferenceLogistic(nn.Module):
    """The answer of exercise 3.2 (LinearBase): (B, 40) -> (B, 10), 410 parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(m1d.SIGNAL_LENGTH, m1d.NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class ReferenceMLP(nn.Module):
    """The answer of exercise 3.3 (MLPBase): h = relu(W1 x); h += relu(W2 h); W3 h (15,210)."""

    def __init__(self, hidden: int = 100, dropout: float = 0.0) -> None:
        super().__init__()
        self.linear1 = nn.Linear(m1d.SIGNAL_LENGTH, hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.linear3 = nn.Linear(hidden, m1d.NUM_CLASSES)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(F.relu(self.linear1(x)))
        h = h + self.dropout(F.relu(self.linear2(h)))
        return self.linear3(h)


class ReferenceCNN(nn.Module):
    """The answer of exercise 3.4 (ConvBase): (B, 40) -> (B, 10) logits.

    Three ReLU convolutions with stride 2 (kernels 5, 3, 3, padding 1, 25
    channels: lengths 40 -> 19 -> 10 -> 5), then a linear layer on the 125
    flattened features; 5,210 parameters. ``batch_norm`` puts a BatchNorm1d
    between each convolution and its ReLU.
    """

    def __init__(self, channels: int = 25, batch_norm: bool = False) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            [
                nn.Conv1d(1, channels, 5, stride=2, padding=1),
                nn.Conv1d(channels, channels, 3, stride=2, padding=1),
                nn.Conv1d(channels, channels, 3, stride=2, padding=1),
            ]
        )
        self.norms = nn.ModuleList(
            [nn.BatchNorm1d(channels) if batch_norm else nn.Identity() for _ in self.convs]
        )
        self.linear = nn.Linear(5 * channels, m1d.NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(1)
        for conv, norm in zip(self.convs, self.norms):
            h = F.relu(norm(conv(h)))
        return self.linear(h.flatten(1))


# --- the published CNN setup, for the benchmark ------------------------------------------------


def train_reference_cnn(
    data: dict[str, Any],
    seed: int = 0,
    device: torch.device | str = "cpu",
    steps: int | None = None,
) -> tuple[nn.Module, dict[str, float]]:
    """Train :class:`ReferenceCNN` as the mnist1d repository does; return ``(model, figures)``.

    ``notebooks/train.py``: Adam with learning rate 1e-2, batches of 100 taken
    as consecutive slices of the training set in its stored order (the start
    index is ``step * 100 % 4000``, never reshuffled), 8000 steps, plain
    cross-entropy. ``steps`` overrides the step count (for quick smoke runs).

    ``figures``: ``train_accuracy`` and ``test_accuracy`` in percent (eval mode,
    on all 4000 training and 1000 test signals), ``train_s`` (wall clock of the
    training loop alone), ``steps``, ``params``.
    """
    steps = steps or REFERENCE_RECIPE["steps"]
    batch = REFERENCE_RECIPE["batch_size"]
    t = m1d.as_tensors(data, device)
    torch.manual_seed(seed)
    model = ReferenceCNN().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=REFERENCE_RECIPE["lr"])
    n = len(t["x"])
    model.train()
    start = time.perf_counter()
    for step in range(steps):
        i = (step * batch) % n
        loss = F.cross_entropy(model(t["x"][i : i + batch]), t["y"][i : i + batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    figures = {
        "train_accuracy": 100 * evaluate(model, t["x"], t["y"])[1],
        "test_accuracy": 100 * evaluate(model, t["x_test"], t["y_test"])[1],
        "train_s": seconds,
        "steps": steps,
        "params": checks.count_params(model),
    }
    return model, figures
