"""MNIST-1D for Problem 3: tensors, the spatial shuffle, augmentation, checks, and two CNN recipes.

The data set and the published table are from Greydanus and Kobak, "Scaling
down deep learning with MNIST-1D", ICML 2024. Taught in
``notebooks/03_exercise_mnist1d.ipynb``; the notebook writes its own models and
training loop (those are the exercises), this module holds what is not the
point of the lesson:

- ``as_tensors``, ``shuffle_positions``, ``random_shift``: the data as float32
  tensors, the spatially shuffled variant, and a shift augmentation done as one
  tensor operation per batch.
- ``check_training_loop``, ``check_logistic``, ``check_mlp``, ``check_cnn``,
  ``check_shuffled``: the checks the exercises end with (one line each, PASS
  or FAIL, raise on FAIL, like everything in :mod:`helpers.checks`).
- ``ReferenceCNN`` + ``train_reference_cnn``: the published CNN setup (three
  conv layers of 25 channels, Adam 1e-2, batch 100, 8000 steps);
  ``BestCNN`` + ``train_best_cnn``: the recipe of the notebook's best model.
  The benchmark times both and reports the ratio.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import checks

#: Test accuracy in percent from Greydanus and Kobak (ICML 2024), table 1.
PUBLISHED = {
    "original": {"logistic": 32, "mlp": 68, "cnn": 94, "gru": 91, "human": 96},
    "shuffled": {"logistic": 32, "mlp": 68, "cnn": 56, "gru": 57, "human": 30},
}

SIGNAL_LENGTH = 40
NUM_CLASSES = 10


# --- data ---------------------------------------------------------------------------------------


def as_tensors(data: dict[str, np.ndarray], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """The arrays of :func:`helpers.data.load_mnist1d` as tensors on ``device``.

    Returns ``x`` (4000, 40) and ``x_test`` (1000, 40) as float32, ``y`` (4000,)
    and ``y_test`` (1000,) as int64. The whole set is 0.8 MB, so it lives on the
    device once and batches are made by indexing, never by a per-sample Dataset.
    """
    out = {}
    for key in ("x", "x_test"):
        out[key] = torch.as_tensor(data[key], dtype=torch.float32, device=device)
    for key in ("y", "y_test"):
        out[key] = torch.as_tensor(data[key], dtype=torch.int64, device=device)
    return out


def shuffle_positions(data: dict[str, Any], seed: int = 0) -> tuple[dict[str, Any], np.ndarray]:
    """Apply one fixed random permutation of the 40 positions to train and test signals.

    Returns ``(shuffled_data, permutation)``; ``shuffled_data["x"][:, j] ==
    data["x"][:, permutation[j]]``. Labels (and any other entry) are shared.
    Works on NumPy arrays and on tensors.
    """
    perm = np.random.default_rng(seed).permutation(SIGNAL_LENGTH)
    out = dict(data)
    for key in ("x", "x_test"):
        out[key] = data[key][:, perm]
    return out, perm


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Roll each signal of the batch ``x`` (B, L) by its own random shift in [-max_shift, max_shift].

    The roll is circular because MNIST-1D itself is made by rolling a padded
    digit template before subsampling it to 40 points (``mnist1d.transform``),
    so a rolled signal is one the generator could have produced. One
    ``gather`` for the whole batch; the random numbers come from ``generator``
    (on the CPU) so that runs repeat on every device.
    """
    batch, length = x.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (batch, 1), generator=generator).to(x.device)
    index = (torch.arange(length, device=x.device) - shifts) % length
    return x.gather(1, index)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2000) -> float:
    """Fraction of ``x`` (N, 40) that ``model`` classifies as ``y`` (N,), in eval mode without gradients."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum()) for i in range(0, len(x), batch_size))
    model.train(was_training)
    return correct / len(x)


# --- checks of the exercises ----------------------------------------------------------------------


def _check_batch(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random batch (n, 40) with labels (n,) for the model checks."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, SIGNAL_LENGTH, generator=g), torch.randint(0, NUM_CLASSES, (n,), generator=g)


def _check_model_basics(name: str, model: nn.Module, expected_params: int, lr: float = 1e-2) -> None:
    """Output shape, parameter count, gradients reach every parameter, one Adam step lowers the loss."""
    x, y = _check_batch()
    torch.manual_seed(0)
    checks.check_shape(f"{name}: logits for a batch of 64 signals", model(x), (64, NUM_CLASSES))
    checks.check_param_count(f"{name}: trainable parameters", model, expected_params)
    checks.check_grads_reach_params(f"{name}: gradients", model, F.cross_entropy(model(x), y))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    with warnings.catch_warnings():  # check_step_lowers_loss converts a loss that requires grad to float
        warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True to a scalar")
        checks.check_step_lowers_loss(f"{name}: one Adam step", model, F.cross_entropy, x, y, optimizer)


def check_logistic(model: nn.Module) -> None:
    """Logistic regression: logits (B, 10) from 40 inputs with 40*10 + 10 = 410 parameters, affine."""
    _check_model_basics("logistic regression", model, SIGNAL_LENGTH * NUM_CLASSES + NUM_CLASSES)
    x1, _ = _check_batch(seed=1)
    x2, _ = _check_batch(seed=2)
    model.eval()
    with torch.no_grad():
        gap = float((model((x1 + x2) / 2) - (model(x1) + model(x2)) / 2).abs().max())
    checks.check_less("logistic regression: logits are affine in the input", gap, 1e-4, what="max |f(midpoint) - midpoint of f|")


def mlp_param_count(hidden: int = 100, layers: int = 2) -> int:
    """Parameters of a 40 -> hidden -> ... -> hidden -> 10 MLP with ``layers`` hidden layers, biases included."""
    sizes = [SIGNAL_LENGTH] + [hidden] * layers + [NUM_CLASSES]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def check_mlp(model: nn.Module, hidden: int = 100, layers: int = 2) -> None:
    """MLP: shapes, parameter count of the published 40-100-100-10 MLP, and that it is not affine."""
    _check_model_basics("MLP", model, mlp_param_count(hidden, layers))
    x1, _ = _check_batch(seed=1)
    x2, _ = _check_batch(seed=2)
    checks.check_nonlinear("MLP: non-linear (the ReLUs are applied)", model, x1, x2)


def cnn_param_count(channels: int = 25) -> int:
    """Parameters of the published CNN: convs 1->c (k5), c->c (k3), c->c (k3), then Linear(5c, 10)."""
    return (5 * channels + channels) + 2 * (3 * channels * channels + channels) + (5 * channels * NUM_CLASSES + NUM_CLASSES)


def check_cnn(model: nn.Module, channels: int = 25) -> None:
    """CNN: shapes, parameter count, non-linearity, and that its first convolution slides along the 40 positions.

    The last check hooks the first ``nn.Conv1d`` and looks at what it receives:
    a CNN that flattens or transposes the signal before convolving hands it 40
    channels of length 1 (or similar) instead of 1 channel of length 40, and so
    shares no weights across positions.
    """
    _check_model_basics("CNN", model, cnn_param_count(channels))
    x1, _ = _check_batch(seed=1)
    x2, _ = _check_batch(seed=2)
    checks.check_nonlinear("CNN: non-linear (the ReLUs are applied)", model, x1, x2)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    checks.check_equal("CNN: number of Conv1d layers", len(convs), 3)
    seen = {}

    def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        seen["shape"] = tuple(inputs[0].shape)

    handle = convs[0].register_forward_hook(record)
    try:
        with torch.no_grad():
            model(_check_batch()[0])
    finally:
        handle.remove()
    checks.check_equal("CNN: first convolution sees (batch, channels, positions)", seen.get("shape"), (64, 1, SIGNAL_LENGTH))


def check_shuffled(data: dict[str, Any], shuffled: dict[str, Any]) -> None:
    """The shuffled set permutes positions, with one permutation shared by train and test, and keeps labels."""
    x, xs = np.asarray(data["x"]), np.asarray(shuffled["x"])
    xt, xts = np.asarray(data["x_test"]), np.asarray(shuffled["x_test"])
    # recover each position's source column from the training set, then test it on the test set
    source = [int(np.argmin(np.abs(x - xs[:, [j]]).sum(0))) for j in range(SIGNAL_LENGTH)]
    checks.check_true("shuffle: positions form a permutation of 0..39", sorted(source) == list(range(SIGNAL_LENGTH)), f"{len(set(source))} distinct source positions of 40")
    checks.check_true("shuffle: positions really moved", source != list(range(SIGNAL_LENGTH)), f"{sum(s != j for j, s in enumerate(source))} of 40 positions moved")
    checks.check_close("shuffle: test set uses the same permutation", xts, xt[:, source], atol=0.0)
    checks.check_close("shuffle: labels unchanged", np.asarray(shuffled["y"]), np.asarray(data["y"]), atol=0.0)


class _DropoutProbe(nn.Module):
    """A small model whose outputs differ between train and eval mode (dropout), for the loop check."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(SIGNAL_LENGTH, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, NUM_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def check_training_loop(train: Callable, data: dict[str, torch.Tensor], epochs: int = 4) -> dict:
    """Run the notebook's ``train`` on a dropout MLP for a few epochs and check what it returns.

    ``train(model, optimizer, x, y, x_eval, y_eval, epochs=..., batch_size=..., seed=...)``
    must return a history dict with per-epoch lists ``train_loss``, ``train_acc``,
    ``eval_loss``, ``eval_acc``. Checked: one entry per epoch; the training loss
    falls; the last ``eval_acc`` equals the accuracy of the returned model
    measured in eval mode (a loop that evaluates in train mode, with dropout
    on, fails this); the model's parameters changed; two runs with the same
    seed give the same history (shuffling uses the seed).
    """
    x, y, x_eval, y_eval = data["x"][:1000], data["y"][:1000], data["x_test"][:500], data["y_test"][:500]

    def run() -> tuple[nn.Module, dict]:
        torch.manual_seed(0)
        model = _DropoutProbe().to(x.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        return model, train(model, optimizer, x, y, x_eval, y_eval, epochs=epochs, batch_size=50, seed=0)

    model, history = run()
    for key in ("train_loss", "train_acc", "eval_loss", "eval_acc"):
        checks.check_equal(f"training loop: entries in history[{key!r}]", len(history.get(key, [])), epochs)
    checks.check_less("training loop: training loss falls", history["train_loss"][-1], history["train_loss"][0], what="last epoch's loss (first's is the bound)")
    checks.check_close("training loop: last eval_acc is the eval-mode accuracy", history["eval_acc"][-1], accuracy(model, x_eval, y_eval), atol=1e-6)
    _, again = run()
    checks.check_close("training loop: same seed, same training losses", again["train_loss"], history["train_loss"], atol=0.0)
    return history


# --- the published CNN and the best CNN ---------------------------------------------------------


class ReferenceCNN(nn.Module):
    """The published MNIST-1D CNN: (B, 40) -> (B, 10) logits.

    Three ReLU convolutions with stride 2 (kernels 5, 3, 3, padding 1, 25
    channels: lengths 40 -> 19 -> 10 -> 5), then a linear layer on the 125
    flattened features. 5,210 parameters.
    """

    def __init__(self, channels: int = 25) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.linear = nn.Linear(5 * channels, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv1(x.unsqueeze(1)))
        h = F.relu(self.conv2(h))
        h = F.relu(self.conv3(h))
        return self.linear(h.flatten(1))


class BestCNN(nn.Module):
    """The best model of the notebook: (B, 40) -> (B, 10) logits.

    Conv-BatchNorm-ReLU blocks (no conv bias: batch norm's shift replaces it)
    with a wide first layer; the features are pooled over positions twice,
    by mean and by max, so the head sees *what* pattern occurred regardless of
    *where*, and one linear layer classifies.
    """

    def __init__(self, widths: tuple[int, ...] = (32, 48, 48, 48), strides: tuple[int, ...] = (2, 1, 2, 1)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 1
        for i, (width, stride) in enumerate(zip(widths, strides)):
            kernel = 5 if i == 0 else 3
            layers += [nn.Conv1d(in_channels, width, kernel, stride=stride, padding=kernel // 2, bias=False), nn.BatchNorm1d(width), nn.ReLU()]
            in_channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(2 * in_channels, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x.unsqueeze(1))
        return self.head(torch.cat([h.mean(2), h.amax(2)], dim=1))


#: The best model's recipe (what the notebook's experiments found helps).
BEST_RECIPE = {
    "widths": (32, 48, 48, 48), "strides": (2, 1, 2, 1),
    "epochs": 15, "batch_size": 256, "max_lr": 2e-2, "weight_decay": 1e-4, "max_shift": 4, "label_smoothing": 0.1,
}

#: The published CNN training setup.
REFERENCE_RECIPE = {"steps": 8000, "batch_size": 100, "lr": 1e-2}


def _seeded(seed: int, make: Callable[[], nn.Module], device: torch.device | str) -> nn.Module:
    torch.manual_seed(seed)
    return make().to(device)


def _figures(model: nn.Module, t: dict[str, torch.Tensor], seconds: float, steps: int) -> dict[str, float]:
    return {
        "train_acc": accuracy(model, t["x"], t["y"]),
        "test_acc": accuracy(model, t["x_test"], t["y_test"]),
        "train_seconds": seconds,
        "steps": steps,
        "params": checks.count_params(model),
    }


def train_best_cnn(data: dict[str, Any], seed: int = 0, device: torch.device | str = "cpu", recipe: dict | None = None) -> tuple[nn.Module, dict[str, float]]:
    """Train :class:`BestCNN` with :data:`BEST_RECIPE`; return ``(model, figures)``.

    AdamW with a one-cycle learning rate, shuffled mini-batches by indexing,
    each batch rolled by a random shift of up to ``max_shift`` positions, and
    cross-entropy with label smoothing (the target puts 0.9 + 0.01 on the true
    class and 0.01 on every other, so the logits do not grow without bound).
    ``figures``: train_acc, test_acc (fractions), train_seconds (wall clock of
    the training loop alone), steps, params.
    """
    recipe = {**BEST_RECIPE, **(recipe or {})}
    t = as_tensors(data, device)
    model = _seeded(seed, lambda: BestCNN(recipe["widths"], recipe["strides"]), device)
    n, batch = len(t["x"]), recipe["batch_size"]
    steps_per_epoch = -(-n // batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe["max_lr"], weight_decay=recipe["weight_decay"])
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe["max_lr"], total_steps=recipe["epochs"] * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    start = time.perf_counter()
    for _ in range(recipe["epochs"]):
        order = torch.randperm(n, generator=generator).to(device)
        for i in range(steps_per_epoch):
            idx = order[i * batch:(i + 1) * batch]
            xb = random_shift(t["x"][idx], recipe["max_shift"], generator)
            loss = F.cross_entropy(model(xb), t["y"][idx], label_smoothing=recipe["label_smoothing"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return model, _figures(model, t, seconds, recipe["epochs"] * steps_per_epoch)


def train_reference_cnn(data: dict[str, Any], seed: int = 0, device: torch.device | str = "cpu", steps: int | None = None) -> tuple[nn.Module, dict[str, float]]:
    """Train :class:`ReferenceCNN` as published: Adam 1e-2, batches of 100 drawn at random, 8000 steps.

    Returns ``(model, figures)`` like :func:`train_best_cnn`. ``steps``
    overrides the step count (for quick smoke runs).
    """
    steps = steps or REFERENCE_RECIPE["steps"]
    t = as_tensors(data, device)
    model = _seeded(seed, ReferenceCNN, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=REFERENCE_RECIPE["lr"])
    generator = torch.Generator().manual_seed(seed)
    n = len(t["x"])
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, n, (REFERENCE_RECIPE["batch_size"],), generator=generator).to(device)
        loss = F.cross_entropy(model(t["x"][idx]), t["y"][idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return model, _figures(model, t, seconds, steps)
