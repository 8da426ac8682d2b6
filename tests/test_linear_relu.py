"""Tests for Problem 2 that need no solution: helpers/linear_relu.py (least squares, the
numpy network and its training) and how the checks behave on answers that are plainly wrong.

The tests that run the solved exercises, the claims of the written answers and
the typical mistakes are in ``tests/instructor/``.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import linear_relu as lr
from helpers.checks import CheckFailed

# --- the checks refuse plainly wrong answers ------------------------------------------------------


def _zeros(w, L):
    D = len(w)
    return [np.zeros((D, D)) for _ in range(L)] + [np.zeros((D, 1))]


def test_realises_linear_refuses_a_zero_network_and_wrong_shapes(capsys):
    with pytest.raises(CheckFailed):
        lr.check_realises_linear("zeros", _zeros)
    with pytest.raises(CheckFailed, match="shapes"):
        lr.check_realises_linear("one layer short", lambda w, L: _zeros(w, L)[1:])
    assert "[FAIL]" in capsys.readouterr().out


def test_realises_linear_names_a_crash_and_passes_a_stub_on():
    def crash(w, L):
        return [np.zeros((len(w), len(w)))[5, 5]]

    with pytest.raises(CheckFailed, match="raised IndexError"):
        lr.check_realises_linear("crash", crash)
    with pytest.raises(NotImplementedError, match="Problem 2a"):
        lr.check_realises_linear(
            "stub",
            lambda w, L: (_ for _ in ()).throw(
                NotImplementedError("Problem 2a: build the network of a linear model")
            ),
        )


def test_construction_on_data_refuses_a_zero_network():
    rng = np.random.default_rng(0)
    X, w = rng.uniform(0, 1, (20, 3)), np.array([1.0, -2.0, 0.5])
    with pytest.raises(CheckFailed):
        lr.check_construction_on_data("zeros", _zeros, w, 2, X, X @ w + 0.1)


def test_strict_example_refuses_non_examples():
    X = np.array([[0.5, 1.0], [1.0, 0.0], [2.0, 1.0]])
    y = X @ np.array([1.0, 2.0])  # linear: L_LS* = 0, nothing beats it
    net = [np.eye(2), np.ones((2, 1))]
    with pytest.raises(CheckFailed, match="network loss"):
        lr.check_strict_example("linear target", X, y, net)
    with pytest.raises(CheckFailed, match="X >= 0"):
        lr.check_strict_example("negative X", X - 2.0, y, net)
    with pytest.raises(CheckFailed, match="family"):
        lr.check_strict_example("wrong width", X, y, [np.eye(3), np.ones((3, 1))])
    with pytest.raises(CheckFailed, match="D >= 2"):
        lr.check_strict_example("one feature", X[:, :1], y, [np.eye(1), np.ones((1, 1))])
    with pytest.raises(CheckFailed, match="hypothesis"):  # w_LS* = (1, -2) has a negative entry
        lr.check_strict_example("negative w_LS", X, X @ np.array([1.0, -2.0]), net)


def test_check_least_squares_returns_the_closed_form(capsys):
    rng = np.random.default_rng(0)
    X, y = rng.uniform(0, 1, (30, 3)), rng.standard_normal(30)
    w, loss = lr.check_least_squares("random", X, y)
    np.testing.assert_allclose(w, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-12)
    assert capsys.readouterr().out.count("[PASS]") == 2


def test_checks_of_the_training_runs():
    lr.check_linear_and_teacher_runs(np.array([0.99, 1.0, 1.2]), np.array([0.5, 0.05]))
    with pytest.raises(CheckFailed, match="smallest"):  # a run far below L_LS*: not a linear fit
        lr.check_linear_and_teacher_runs(np.array([1.0, 1.01, 0.5]), np.array([0.05]))
    with pytest.raises(CheckFailed):
        lr.check_linear_and_teacher_runs(np.array([1.1, 1.2]), np.array([0.05]))
    with pytest.raises(CheckFailed):
        lr.check_linear_and_teacher_runs(np.array([1.0]), np.array([0.2]))
    history = np.full(11, 5.0)
    lr.check_dead_start([np.zeros((2, 2))], 5.0, history, ls_optimum=1.0)
    with pytest.raises(CheckFailed, match="non-zero gradient"):
        lr.check_dead_start([np.eye(2)], 5.0, history, ls_optimum=1.0)
    lr.check_example_runs([0.0, 1.0, 1.2], ["global", "linear", "mixed"])
    with pytest.raises(CheckFailed, match="never beat"):
        lr.check_example_runs([0.0, 0.5], ["global", "dead"])
    with pytest.raises(CheckFailed, match="above"):
        lr.check_example_runs([0.0, 0.0], ["global", "global"])


# --- least squares --------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_least_squares_gradient_descent_matches_closed_form(D, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (40, D))
    y = rng.standard_normal(40)
    w_cf, loss_cf = lr.least_squares(X, y)
    w_gd, _ = lr.least_squares_gd(X, y)
    np.testing.assert_allclose(w_gd, w_cf, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(lr.ls_loss(w_gd, X, y), loss_cf, rtol=1e-10)


def test_least_squares_gradient_descent_stopped_early_is_not_the_minimum():
    rng = np.random.default_rng(0)
    X, y = rng.uniform(0, 1, (40, 4)), rng.standard_normal(40)
    w_gd, steps = lr.least_squares_gd(X, y, max_steps=5)
    assert steps == 5
    assert lr.ls_loss(w_gd, X, y) > lr.least_squares(X, y)[1] * (1 + 1e-6)


# --- training -------------------------------------------------------------------------------------


def test_numpy_gradients_match_torch(capsys):
    assert lr.check_grads_match_torch("grads")
    assert "[PASS]" in capsys.readouterr().out


def test_numpy_adam_matches_torch_adam():
    rng = np.random.default_rng(1)
    X, y = rng.uniform(0, 1, (9, 3)), rng.standard_normal(9)
    start = lr.init_networks(3, 2, [5])
    ours, history = lr.train_adam(start, X, y, steps=25, lr=0.05)
    params = [torch.tensor(W[0], requires_grad=True) for W in start]
    opt = torch.optim.Adam(params, lr=0.05)
    for _ in range(25):
        opt.zero_grad()
        h = torch.tensor(X)
        for W in params[:-1]:
            h = torch.relu(h @ W)
        loss = 0.5 * (((h @ params[-1])[:, 0] - torch.tensor(y)) ** 2).sum()
        loss.backward()
        opt.step()
    for W, p in zip(ours, params):
        np.testing.assert_allclose(W[0], p.detach().numpy(), rtol=1e-9, atol=1e-12)
    assert history[-1, 0] < history[0, 0]


def test_stacked_runs_are_independent():
    rng = np.random.default_rng(2)
    X, y = rng.uniform(0, 1, (12, 3)), rng.standard_normal(12)
    _, together = lr.train_adam(lr.init_networks(3, 1, [0, 1, 2]), X, y, steps=30, lr=0.03)
    _, alone = lr.train_adam(lr.init_networks(3, 1, [1]), X, y, steps=30, lr=0.03)
    np.testing.assert_allclose(together[:, 1], alone[:, 0], rtol=1e-12)


def test_dead_start_never_moves():
    rng = np.random.default_rng(3)
    X, y = rng.uniform(0, 1, (20, 4)), rng.standard_normal(20) + 1.0
    dead = lr.dead_start(lr.init_networks(4, 2, [0, 1]))
    trained, history = lr.train_adam(dead, X, y, steps=50, lr=0.1)
    assert np.all(history == history[0])
    for W0, W1 in zip(dead, trained):
        np.testing.assert_array_equal(W0, W1)
    assert history[-1, 0] > lr.least_squares(X, y)[1]


def test_training_on_linear_data_reaches_least_squares():
    rng = np.random.default_rng(4)
    X = rng.uniform(0, 1, (64, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.05 * rng.standard_normal(64)
    _, history = lr.train_adam(lr.init_networks(3, 1, range(6)), X, y, steps=600, lr=0.03)
    ratios = history[-1] / lr.least_squares(X, y)[1]
    assert abs(np.median(ratios) - 1) < 0.05


def test_locally_linear_networks_never_beat_least_squares():
    """The linear-trap argument: with a fixed on/off pattern the network is a linear model."""
    rng = np.random.default_rng(5)
    X, y = rng.uniform(0.5, 1, (15, 3)), rng.standard_normal(15)
    best = lr.least_squares(X, y)[1]
    seen = 0
    for _ in range(300):
        weights = [rng.standard_normal((3, 3)) for _ in range(2)] + [rng.standard_normal((3, 1))]
        if lr.locally_linear_margin(weights, X) > 0:
            seen += 1
            assert lr.network_loss(weights, X, y) >= best * (1 - 1e-12)
    assert seen > 5


@pytest.mark.parametrize("factor, monotone", [(1.0, True), (1.9, True), (2.1, False)])
def test_gradient_descent_decreases_monotonically_exactly_below_two_over_lambda_max(
    factor, monotone
):
    rng = np.random.default_rng(6)
    X, y = rng.uniform(0, 1, (40, 4)), rng.standard_normal(40)
    A, b = X.T @ X, X.T @ y
    step = factor / np.linalg.eigvalsh(A)[-1]
    w, losses = np.zeros(4), []
    for _ in range(200):
        losses.append(lr.ls_loss(w, X, y))
        w = w - step * (A @ w - b)
    assert bool(np.all(np.diff(losses) <= 1e-12)) is monotone


def test_classify_run():
    rng = np.random.default_rng(7)
    X = rng.uniform(0, 1, (10, 2))
    teacher = [np.array([[2.0, -1.0], [-1.0, 2.0]]), np.array([[1.0], [-1.0]])]
    y = lr.relu_network(teacher, X)
    assert lr.classify_run(teacher, X, y, 0.0) == "global"
    assert lr.classify_run([-np.ones((2, 2)), np.ones((2, 1))], X, y, 0.0) == "dead"
    assert lr.classify_run([np.ones((2, 2)), np.ones((2, 1))], X, y, 0.0) == "linear"
