"""Reference solutions of Problem 1's exercises, and the values its checks record.

The checks in ``helpers/inclass.py`` compare a student's answer with values
recorded from these references on fixed inputs (``RECORDED_*``). This module
recomputes them, so a test can verify that the recorded numbers are what a
correct solution gives (``tests/instructor/test_recorded_p1.py``), and
``python -m instructor.inclass_reference`` prints them for pasting after a
deliberate change of a check's input.

The solutions here are written independently of the notebook's solution
regions, in the same way a student would write them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from helpers import inclass

# --- the exercises ------------------------------------------------------------------------------


def pairwise_sq_dists(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """1.1: A (N, D), B (M, D) -> (N, M) squared distances, by broadcasting."""
    return ((A[:, None, :] - B[None, :, :]) ** 2).sum(dim=-1)


def least_squares_grad(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1.2: gradient of 1/2 ||X w - y||^2, i.e. X^T (X w - y). Shape (D,)."""
    return X.T @ (X @ w - y)


def fit_linear_gd(X: torch.Tensor, y: torch.Tensor, lr: float, num_steps: int
                  ) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """1.3: gradient descent on the MSE from w = 0, b = 0; losses[k] before step k + 1."""
    w = torch.zeros(X.shape[1], requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    losses = []
    for _ in range(num_steps):
        loss = ((X @ w + b - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
        w.grad = None
        b.grad = None
        losses.append(loss.item())
    return w.detach(), b.detach(), losses


class MLP(nn.Module):
    """1.4: x (B, n_in) -> logits (B, n_out), two hidden ReLU layers, dropout after each."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, p_drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_hidden)
        self.fc3 = nn.Linear(n_hidden, n_out)
        self.drop = nn.Dropout(p_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(torch.relu(self.fc1(x)))
        h = self.drop(torch.relu(self.fc2(h)))
        return self.fc3(h)


class MNIST1D(Dataset):
    """1.5: item i = ((x[i] - mean) / std as float32, y[i] as int64)."""

    def __init__(self, x: Any, y: Any, mean: Any, std: Any):
        self.x = torch.as_tensor(x, dtype=torch.float32)
        self.y = torch.as_tensor(y, dtype=torch.int64)
        self.mean = torch.as_tensor(mean, dtype=torch.float32)
        self.std = torch.as_tensor(std, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.x[i] - self.mean) / self.std, self.y[i]


def train_epoch(model: nn.Module, loader: Any, loss_fn: Callable, optimizer: Any) -> float:
    """1.6: one epoch, one step per batch; the mean loss per example."""
    model.train()
    total, count = 0.0, 0
    for X, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(X)
        count += len(X)
    return total / count


def predict(model: nn.Module, X: Any) -> torch.Tensor:
    """1.7: outputs of ``model`` on a NumPy array, on the CPU."""
    param = next(model.parameters())
    X = torch.as_tensor(X, dtype=param.dtype).to(param.device)
    model.eval()
    with torch.no_grad():
        return model(X).cpu()


def save_and_load(model: nn.Module, make_model: Callable[[], nn.Module], path: Path) -> nn.Module:
    """1.8: save the state_dict, build a new model, load the file into it."""
    torch.save(model.state_dict(), path)
    restored = make_model()
    restored.load_state_dict(torch.load(path, weights_only=True))
    return restored


# --- the recorded values ------------------------------------------------------------------------


def recorded_values() -> dict[str, Any]:
    """Every ``RECORDED_*`` constant of ``helpers/inclass.py``, recomputed from the references."""
    A = torch.tensor(inclass.PAIRWISE_A, dtype=torch.float64)
    B = torch.tensor(inclass.PAIRWISE_B, dtype=torch.float64)
    pairwise = pairwise_sq_dists(A, B)

    X, y = inclass.linear_data()
    _, _, losses = fit_linear_gd(X, y, inclass.GD_LR, inclass.GD_STEPS)

    sizes = inclass.MLP_SIZES
    small = inclass.set_mlp_check_weights(MLP(sizes["n_in"], sizes["n_hidden"], sizes["n_out"]))
    small.drop = inclass.FixedDropout()
    x = inclass.mlp_check_input()
    with torch.no_grad():
        small.eval()
        out_eval = small(x)
        small.train()
        out_train = small(x)

    net, X_predict = inclass.predict_check_setup()
    predicted = predict(net, X_predict)

    model, loader, loss_fn, optimizer = inclass.epoch_check_setup()
    epoch_loss = train_epoch(model, loader, loss_fn, optimizer)
    params = torch.cat([p.detach().ravel() for p in model.parameters()])
    return {
        "RECORDED_PAIRWISE": tuple(tuple(int(v) for v in row) for row in pairwise.tolist()),
        "RECORDED_GD_LOSSES": {k: losses[k] for k in inclass.RECORDED_GD_LOSSES},
        "RECORDED_MLP_EVAL": tuple(tuple(row) for row in out_eval.tolist()),
        "RECORDED_MLP_TRAIN": tuple(tuple(row) for row in out_train.tolist()),
        "RECORDED_EPOCH_PARAMS": tuple(params.tolist()),
        "RECORDED_EPOCH_LOSS": epoch_loss,
        "RECORDED_PREDICT": tuple(tuple(row) for row in predicted.tolist()),
    }


if __name__ == "__main__":
    np.set_printoptions(precision=17)
    for key, value in recorded_values().items():
        print(f"{key} = {value!r}")
