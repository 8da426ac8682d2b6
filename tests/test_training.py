"""Tests for helpers/training.py: splits, loaders, the epoch loop, evaluation and fit."""

from __future__ import annotations

import math

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
    first = [yb.tolist() for _, yb in training.make_loader(X, y, batch_size=8, shuffle=True, seed=3)]
    again = [yb.tolist() for _, yb in training.make_loader(X, y, batch_size=8, shuffle=True, seed=3)]
    other = [yb.tolist() for _, yb in training.make_loader(X, y, batch_size=8, shuffle=True, seed=4)]
    assert first == again and first != other
    reg = training.make_loader(X, X[:, 0], batch_size=8)
    assert next(iter(reg))[1].dtype == torch.float32  # float targets stay float


def test_accuracy_counts_argmax_matches():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0], [0.0, 1.0]])
    assert float(training.accuracy(logits, torch.tensor([0, 1, 1, 0]))) == pytest.approx(0.5)


# --- train_epoch and evaluate -------------------------------------------------------------------


def test_train_epoch_returns_the_example_weighted_mean_loss():
    # 10 examples in batches of 4, 4, 2: the mean must weight the last batch by 2, not by 4.
    X, y = _blobs(10)
    model = _classifier()
    loader = training.make_loader(X, y, batch_size=4)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the loss of every batch is computable
    loss, acc = training.train_epoch(model, loader, nn.CrossEntropyLoss(), optimiser)
    with torch.no_grad():
        logits = model(torch.as_tensor(X, dtype=torch.float32))
        expected = nn.functional.cross_entropy(logits, torch.as_tensor(y), reduction="mean")
    assert loss == pytest.approx(float(expected), rel=1e-6)
    assert acc == pytest.approx(float(training.accuracy(logits, torch.as_tensor(y))), abs=1e-6)


def test_train_epoch_steps_and_switches_to_train_mode():
    X, y = _blobs(64)
    model = nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    model.eval()
    before = [p.detach().clone() for p in model.parameters()]
    training.train_epoch(model, training.make_loader(X, y, batch_size=16), nn.CrossEntropyLoss(),
                         torch.optim.SGD(model.parameters(), lr=0.1))
    assert model.training
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters()))


def test_evaluate_matches_a_full_batch_computation_and_keeps_weights():
    X, y = _blobs(30)
    model = nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    before = [p.detach().clone() for p in model.parameters()]
    loss, acc = training.evaluate(model, training.make_loader(X, y, batch_size=7), nn.CrossEntropyLoss())
    model.eval()
    with torch.no_grad():
        logits = model(torch.as_tensor(X, dtype=torch.float32))
    assert loss == pytest.approx(float(nn.functional.cross_entropy(logits, torch.as_tensor(y))), rel=1e-6)
    assert acc == pytest.approx(float(training.accuracy(logits, torch.as_tensor(y))), abs=1e-6)
    assert all(torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())


def test_empty_loader_is_an_error():
    model = _classifier()
    empty = training.make_loader(np.zeros((0, 2)), np.zeros(0, dtype=np.int64))
    with pytest.raises(ValueError, match="no batches"):
        training.evaluate(model, empty, nn.CrossEntropyLoss())


# --- fit ----------------------------------------------------------------------------------------


def test_fit_learns_separable_blobs_and_records_every_epoch(capsys):
    X, y = _blobs(300)
    train_idx, val_idx = training.split_indices(len(X), 0.25, seed=0)
    model = _classifier()
    history = training.fit(
        model, training.make_loader(X[train_idx], y[train_idx], batch_size=32, shuffle=True, seed=0),
        nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=0.05), num_epochs=6,
        val_loader=training.make_loader(X[val_idx], y[val_idx], batch_size=100), print_every=3, label="Adam",
    )
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert len(getattr(history, key)) == 6
    assert history.epochs == [1, 2, 3, 4, 5, 6]
    assert history.last("val_accuracy") > 0.95
    assert history.train_loss[-1] < history.train_loss[0]
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3  # epochs 1, 3 and 6
    assert lines[0].startswith("Adam: epoch 1/6") and "val loss" in lines[0]
    assert history.as_dict()["val_accuracy"] == history.val_accuracy


def test_fit_without_validation_or_metric_and_silent(capsys):
    X = np.random.default_rng(0).normal(size=(40, 2))
    target = X @ np.array([1.0, -2.0])
    model = nn.Linear(2, 1)

    def mse(pred, t):
        return ((pred.squeeze(1) - t) ** 2).mean()

    history = training.fit(model, training.make_loader(X, target, batch_size=10), mse,
                           torch.optim.SGD(model.parameters(), lr=0.1), num_epochs=3, metric=None, progress=None)
    assert capsys.readouterr().out == ""
    assert history.val_loss == [] and all(math.isnan(a) for a in history.train_accuracy)
    with pytest.raises(ValueError, match="val_accuracy"):
        history.last("val_accuracy")


def test_fit_progress_bar_closes(capsys):
    X, y = _blobs(32)
    model = _classifier()
    history = training.fit(model, training.make_loader(X, y, batch_size=16), nn.CrossEntropyLoss(),
                           torch.optim.SGD(model.parameters(), lr=0.1), num_epochs=2, progress="bar")
    assert len(history.train_loss) == 2
    err = capsys.readouterr().err
    assert "2/2" in err  # tqdm writes the finished bar to stderr outside Jupyter


@pytest.mark.parametrize("kwargs, message", [({"num_epochs": 0}, "num_epochs"), ({"progress": "dots"}, "progress")])
def test_fit_rejects_bad_arguments(kwargs, message):
    X, y = _blobs(8)
    model = _classifier()
    args = {"num_epochs": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        training.fit(model, training.make_loader(X, y), nn.CrossEntropyLoss(),
                     torch.optim.SGD(model.parameters(), lr=0.1), **args)


def test_fit_repeats_exactly_from_the_same_seed():
    X, y = _blobs(64)

    def run(seed):
        model = _classifier(seed)
        loader = training.make_loader(X, y, batch_size=16, shuffle=True, seed=seed)
        return training.fit(model, loader, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                            num_epochs=2, progress=None).train_loss

    assert run(0) == run(0)
    assert run(0) != run(1)
