"""helpers.training.fit with a correct train_epoch (the reference of exercise 1.6): it learns,
and a run repeats exactly from the same seed."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from helpers import training
from instructor.inclass_reference import train_epoch


def _blobs(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    centres = np.array([[0.0, 4.0], [4.0, -2.0], [-4.0, -2.0]])
    return centres[y] + rng.normal(size=(n, 2)), y


def _run(seed: int, num_epochs: int = 6):
    X, y = _blobs()
    train_idx, val_idx = training.split_indices(len(X), 0.25, seed=0)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))
    loader = training.make_loader(X[train_idx], y[train_idx], batch_size=32, shuffle=True,
                                  seed=seed)
    val_loader = training.make_loader(X[val_idx], y[val_idx], batch_size=100)
    return training.fit(model, train_epoch, loader, nn.CrossEntropyLoss(),
                        torch.optim.Adam(model.parameters(), lr=0.05), num_epochs,
                        val_loader=val_loader, progress=None)


def test_fit_learns_separable_blobs():
    history = _run(0)
    assert history.last("val_accuracy") > 0.95
    assert history.train_loss[-1] < history.train_loss[0]


def test_fit_repeats_exactly_from_the_same_seed():
    assert _run(0, 2).as_dict()["train_loss"] == _run(0, 2).as_dict()["train_loss"]
    assert _run(0, 2).train_loss != _run(1, 2).train_loss
