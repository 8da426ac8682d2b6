"""Tests for helpers/training.py: splits, loaders, evaluation, the history and fit.

``fit`` runs the notebook's own ``train_epoch``; here it gets stand-ins that
record how they were called (the tests that train for real, with a reference
loop, are in ``tests/instructor/test_training_p1.py``).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from helpers import training


def _blobs(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian blobs in 2-D: (n, 2) float64, (n,) int64."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    centres = np.array([[0.0, 4.0], [4.0, -2.0], [-4.0, -2.0]])
    return centres[y] + rng.normal(size=(n, 2)), y


def _classifier(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))


# --- split_indices ------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 500), frac=st.floats(0.0, 0.95), seed=st.integers(0, 2**31 - 1))
def test_split_is_a_partition_of_the_right_sizes(n, frac, seed):
    train_idx, val_idx = training.split_indices(n, frac, seed)
    assert len(val_idx) == int(round(n * frac))
    assert np.array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(n))


def test_split_depends_on_the_seed_only():
    a = training.split_indices(100, 0.2, seed=1)
    b = training.split_indices(100, 0.2, seed=1)
    c = training.split_indices(100, 0.2, seed=2)
    assert np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


@pytest.mark.parametrize("frac", [-0.1, 1.0, 1.5])
def test_split_rejects_bad_fractions(frac):
    with pytest.raises(ValueError, match="val_fraction"):
        training.split_indices(10, frac)


# --- make_loader and accuracy -------------------------------------------------------------------


def test_make_loader_dtypes_and_seeded_order():
    X, y = _blobs(50)
    loader = training.make_loader(X, y, batch_size=8, shuffle=True, seed=3)
    xb, yb = next(iter(loader))
    assert xb.dtype == torch.float32 and yb.dtype == torch.int64 and xb.shape == (8, 2)
    first = [
        yb.tolist() for _, yb in training.make_loader(X, y, batch_size=8, shuffle=True, seed=3)
    ]
    again = [
        yb.tolist() for _, yb in training.make_loader(X, y, batch_size=8, shuffle=True, seed=3)
    ]
    other = [
        yb.tolist() for _, yb in training.make_loader(X, y, batch_size=8, shuffle=True, seed=4)
    ]
    assert first == again and first != other
    reg = training.make_loader(X, X[:, 0], batch_size=8)
    assert next(iter(reg))[1].dtype == torch.float32  # float targets stay float


def test_accuracy_is_a_float_fraction():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0], [0.0, 1.0]])
    value = training.accuracy(logits, torch.tensor([0, 1, 1, 0]))
    assert type(value) is float and value == pytest.approx(0.5)


# --- evaluate and OnDevice ------------------------------------------------------------------------


def test_evaluate_matches_a_full_batch_computation_and_keeps_weights():
    X, y = _blobs(30)
    model = nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    before = [p.detach().clone() for p in model.parameters()]
    loss, acc = training.evaluate(
        model, training.make_loader(X, y, batch_size=7), nn.CrossEntropyLoss()
    )
    model.eval()
    with torch.no_grad():
        logits = model(torch.as_tensor(X, dtype=torch.float32))
    assert loss == pytest.approx(
        float(nn.functional.cross_entropy(logits, torch.as_tensor(y))), rel=1e-6
    )
    assert acc == pytest.approx(float(training.accuracy(logits, torch.as_tensor(y))), abs=1e-6)
    assert all(torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())


def test_empty_loader_is_an_error():
    model = _classifier()
    empty = training.make_loader(np.zeros((0, 2)), np.zeros(0, dtype=np.int64))
    with pytest.raises(ValueError, match="no batches"):
        training.evaluate(model, empty, nn.CrossEntropyLoss())


def test_on_device_moves_batches_and_keeps_the_length():
    X, y = _blobs(10)
    loader = training.make_loader(X, y, batch_size=4)
    moved = training.OnDevice(loader, "meta")
    assert len(moved) == 3
    batches = list(moved)
    assert all(xb.device.type == "meta" and yb.device.type == "meta" for xb, yb in batches)
    assert [len(xb) for xb, _ in batches] == [4, 4, 2]


# --- fit ----------------------------------------------------------------------------------------


class _RecordingEpoch:
    """A stand-in for the notebook's train_epoch: records its calls and changes nothing."""

    def __init__(self):
        self.calls = []

    def __call__(self, model, loader, loss_fn, optimizer):
        self.calls.append({"batches": len(list(loader)), "optimizer": optimizer, "loader": loader})
        return 0.0


def test_fit_calls_train_epoch_once_per_epoch_and_evaluates_in_eval_mode(capsys):
    X, y = _blobs(60)
    train_idx, val_idx = training.split_indices(len(X), 0.25, seed=0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    train_loader = training.make_loader(
        X[train_idx], y[train_idx], batch_size=16, shuffle=True, seed=0
    )
    val_loader = training.make_loader(X[val_idx], y[val_idx], batch_size=100)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    epoch = _RecordingEpoch()
    history = training.fit(
        model,
        epoch,
        train_loader,
        nn.CrossEntropyLoss(),
        optimizer,
        num_epochs=4,
        val_loader=val_loader,
        print_every=2,
        label="SGD",
    )
    assert len(epoch.calls) == 4 and all(c["optimizer"] is optimizer for c in epoch.calls)
    assert all(
        isinstance(c["loader"], training.OnDevice) and c["batches"] == 3 for c in epoch.calls
    )
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert len(getattr(history, key)) == 4
    # nothing trained, and the figures are eval-mode ones: the same after every epoch
    train_loss, train_acc = training.evaluate(model, train_loader, nn.CrossEntropyLoss())
    assert history.train_loss == [pytest.approx(train_loss)] * 4
    assert history.train_accuracy == [pytest.approx(train_acc)] * 4
    assert history.epochs == [1, 2, 3, 4]
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3  # epochs 1, 2 and 4
    assert lines[0].startswith("SGD: epoch 1/4") and "val loss" in lines[0]
    assert history.as_dict()["val_accuracy"] == history.val_accuracy


def test_fit_without_validation_or_metric_and_silent(capsys):
    X = np.random.default_rng(0).normal(size=(40, 2))
    target = X @ np.array([1.0, -2.0])
    model = nn.Linear(2, 1)

    def mse(pred, t):
        return ((pred.squeeze(1) - t) ** 2).mean()

    history = training.fit(
        model,
        _RecordingEpoch(),
        training.make_loader(X, target, batch_size=10),
        mse,
        torch.optim.SGD(model.parameters(), lr=0.1),
        num_epochs=3,
        metric=None,
        progress=None,
    )
    assert capsys.readouterr().out == ""
    assert history.val_loss == [] and all(math.isnan(a) for a in history.train_accuracy)
    with pytest.raises(ValueError, match="val_accuracy"):
        history.last("val_accuracy")


def test_fit_progress_bar_closes(capsys):
    X, y = _blobs(32)
    model = _classifier()
    history = training.fit(
        model,
        _RecordingEpoch(),
        training.make_loader(X, y, batch_size=16),
        nn.CrossEntropyLoss(),
        torch.optim.SGD(model.parameters(), lr=0.1),
        num_epochs=2,
        progress="bar",
    )
    assert len(history.train_loss) == 2
    err = capsys.readouterr().err
    assert "2/2" in err  # tqdm writes the finished bar to stderr outside Jupyter


@pytest.mark.parametrize(
    "kwargs, message", [({"num_epochs": 0}, "num_epochs"), ({"progress": "dots"}, "progress")]
)
def test_fit_rejects_bad_arguments(kwargs, message):
    X, y = _blobs(8)
    model = _classifier()
    args = {"num_epochs": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        training.fit(
            model,
            _RecordingEpoch(),
            training.make_loader(X, y),
            nn.CrossEntropyLoss(),
            torch.optim.SGD(model.parameters(), lr=0.1),
            **args,
        )


def test_side_by_side_returns_results_in_order_and_matches_running_alone():
    """Two small trainings in threads compute bit for bit what each computes alone."""
    from helpers.training import side_by_side

    def job(seed: int):
        torch.manual_seed(seed)  # the model is made here, before the jobs run
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        g = torch.Generator().manual_seed(seed)
        x, y = torch.randn(256, 8, generator=g), torch.randint(0, 3, (256,), generator=g)

        def train():
            for _ in range(30):
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
            return torch.cat([p.detach().flatten() for p in model.parameters()])
        return train

    alone = [job(s)() for s in range(4)]
    together = side_by_side([job(s) for s in range(4)], workers=2)
    print("max difference, side by side vs alone:", max(float((a - b).abs().max()) for a, b in zip(alone, together)))
    assert all(torch.equal(a, b) for a, b in zip(alone, together))
    assert not torch.equal(together[0], together[1])  # the order is kept: job i's result is at i
    assert side_by_side([]) == []


def test_side_by_side_raises_a_jobs_error_after_all_have_ended():
    from helpers.training import side_by_side

    ended = []

    def fails():
        raise ValueError("job 0 failed")

    def slow():
        time.sleep(0.2)
        ended.append("slow")
        return 1

    with pytest.raises(ValueError, match="job 0 failed"):
        side_by_side([fails, slow], workers=2)
    assert ended == ["slow"]
    with pytest.raises(ValueError, match="workers must be at least 1"):
        side_by_side([slow], workers=-1)
