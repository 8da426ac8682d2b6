"""Tests for Problem 2 (helpers/linear_relu.py and the exercise solutions of its notebook).

The two exercise functions (``weights_from_linear``, ``strict_example``) live in
the notebook, so that the blank copy hides them; these tests execute the
notebook's solved cells to get them, and check that wrong solutions fail.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import exercises, paths
from helpers.checks import CheckFailed
from helpers import linear_relu as lr

NOTEBOOK = paths.NOTEBOOKS / "02_homework_linear_vs_relu.ipynb"


# --- the notebook's solutions ---------------------------------------------------------------------


def _notebook() -> dict:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))


def _solution_cell(prefix: str) -> str:
    nb = _notebook()
    (region,) = [r for r in exercises.find_regions(nb) if r.kind == "code" and r.name.startswith(prefix)]
    source = nb["cells"][region.cell]["source"]
    return "".join(source) if isinstance(source, list) else source


@pytest.fixture(scope="module")
def solutions() -> dict:
    namespace: dict = {"np": np}
    exec(compile(_solution_cell("Problem 2a"), "Problem 2a", "exec"), namespace)
    exec(compile(_solution_cell("Problem 2b"), "Problem 2b", "exec"), namespace)
    return namespace


def test_notebook_conventions_and_blank_copy_compiles():
    nb = _notebook()
    assert nb["metadata"]["kernelspec"]["name"] == paths.KERNEL_NAME
    assert nb["metadata"]["title"].startswith("Problem 2")
    assert nb["cells"][0]["cell_type"] == "markdown" and "".join(nb["cells"][0]["source"]).startswith("# Problem 2:")
    params = nb["cells"][1]
    assert "parameters" in params["metadata"]["tags"]
    assert all(c.get("outputs", []) == [] for c in nb["cells"] if c["cell_type"] == "code"), "commit without outputs"
    names = {(r.kind, r.name.split(":")[0]) for r in exercises.find_regions(nb)}
    assert names == {("answer", "Question 2a"), ("answer", "Question 2b"), ("code", "Problem 2a"), ("code", "Problem 2b")}
    blank = exercises.blank_notebook(nb)
    for cell in blank["cells"]:
        if cell["cell_type"] == "code":
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            compile(src.replace("%matplotlib", "#"), "cell", "exec")
    text = json.dumps(blank)
    assert "w_pos" not in text and "np.abs(X[:, 0] - X[:, 1])" not in text and "boxed" not in text
    assert len(exercises.unfilled(blank)) == 4


# --- the construction of answer a) ----------------------------------------------------------------


def test_construction_passes_the_notebook_check(solutions, capsys):
    assert lr.check_realises_linear("construction", solutions["weights_from_linear"])
    assert "[PASS]" in capsys.readouterr().out


widths = st.integers(1, 6)


@st.composite
def linear_problems(draw):
    D = draw(widths)
    L = draw(st.integers(1, 4))
    values = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)
    w = draw(hnp.arrays(np.float64, D, elements=values))
    X = draw(hnp.arrays(np.float64, (draw(st.integers(1, 8)), D), elements=st.floats(0, 1e3, allow_subnormal=False)))
    return w, L, X


@settings(max_examples=300, deadline=None)
@given(linear_problems())
def test_construction_reproduces_any_linear_model(solutions, problem):
    w, L, X = problem
    assert lr.construction_error(solutions["weights_from_linear"], w, L, X) <= lr.CONSTRUCTION_TOL


@pytest.mark.parametrize("w", [[-2.5], [0.0], [3.0]])
@pytest.mark.parametrize("L", [1, 3])
def test_construction_width_one(solutions, w, L):
    X = np.array([[0.0], [1.0], [7.5]])
    weights = solutions["weights_from_linear"](np.array(w), L)
    assert [W.shape for W in weights] == [(1, 1)] * L + [(1, 1)]
    np.testing.assert_allclose(lr.relu_network(weights, X), X[:, 0] * w[0], rtol=0, atol=1e-14)


def drop_negative_part(w, L):
    """Wrong: keeps only w+ (fails for any w with a negative entry)."""
    D = len(w)
    first, out = np.zeros((D, D)), np.zeros((D, 1))
    first[:, 0], out[0, 0] = np.maximum(w, 0), 1.0
    return [first] + [np.eye(D)] * (L - 1) + [out]


def no_split(w, L):
    """Wrong: one unit computing ReLU(x^T w) (fails where x^T w < 0)."""
    D = len(w)
    first, out = np.zeros((D, D)), np.zeros((D, 1))
    first[:, 0], out[0, 0] = w, 1.0
    return [first] + [np.eye(D)] * (L - 1) + [out]


def same_sign_output(w, L):
    """Wrong: adds x^T w- instead of subtracting it."""
    weights = drop_negative_part(w, L)
    if len(w) >= 2:
        weights[0][:, 1], weights[-1][1, 0] = np.maximum(-w, 0), 1.0
    return weights


def one_layer_too_many(w, L):
    """Wrong shape: L + 1 hidden layers."""
    return [np.eye(len(w))] + drop_negative_part(w, L)


def forgot_relu_bypass(w, L):
    """Wrong: hidden identity layers replaced by -I (kills everything after layer 1 when L >= 2)."""
    weights = drop_negative_part(w, L)
    return weights[:1] + [-np.eye(len(w))] * (L - 1) + weights[-1:]


@pytest.mark.parametrize("wrong", [drop_negative_part, no_split, same_sign_output, one_layer_too_many])
def test_wrong_constructions_fail_the_check(wrong, capsys):
    with pytest.raises(CheckFailed):
        lr.check_realises_linear("wrong construction", wrong)
    assert "[FAIL]" in capsys.readouterr().out


def test_wrong_identity_layers_fail_the_check():
    with pytest.raises(CheckFailed):
        lr.check_realises_linear("wrong construction", forgot_relu_bypass, max_depth=3)


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 6), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_dropping_the_negative_part_fails_on_every_mixed_sign_w(D, L, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(D)
    w[0] = -abs(w[0]) - 0.1  # at least one clearly negative entry
    X = np.vstack([np.eye(D), rng.uniform(0, 1, (5, D))])
    assert lr.construction_error(drop_negative_part, w, L, X) > 1e-3


# --- the collapse of (i), D = 1, and the strict example --------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_nonnegative_weights_collapse_to_the_product(D, L, seed):
    rng = np.random.default_rng(seed)
    weights = lr.random_nonnegative_network(rng, D, L)
    X = rng.uniform(0, 5, (10, D))
    assert lr.scale_relative_error(lr.relu_network(weights, X), X, lr.weight_product(weights)) <= lr.COLLAPSE_TOL


def test_collapse_fails_with_a_negative_weight():
    rng = np.random.default_rng(0)
    weights = lr.random_nonnegative_network(rng, 3, 2)
    weights[0][:, 0] = -1.0  # unit 1 is dead on x >= 0, but the product still counts it
    X = rng.uniform(0.5, 1, (10, 3))
    assert lr.scale_relative_error(lr.relu_network(weights, X), X, lr.weight_product(weights)) > 1e-3


def test_checks_of_answer_a_pass(capsys):
    assert lr.check_collapse("collapse")
    assert lr.check_width_one_is_linear("width one")
    assert capsys.readouterr().out.count("[PASS]") == 2


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_width_one_networks_are_linear(L, seed):
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((1, 1)) for _ in range(L + 1)]
    X = rng.uniform(0, 3, (6, 1))
    np.testing.assert_allclose(lr.relu_network(weights, X), lr.width_one_slope(weights) * X[:, 0], rtol=1e-12, atol=1e-14)


def test_strict_example_passes(solutions, capsys):
    X, y, weights = solutions["strict_example"]()
    net, best_linear = lr.check_strict_example("strict", X, y, weights)
    assert net == 0.0
    np.testing.assert_allclose(best_linear, 2 / 3, rtol=1e-12)  # the value derived in answer b)
    np.testing.assert_allclose(lr.least_squares(X, y)[0], [1 / 3, 1 / 3], rtol=1e-12)
    assert "[PASS]" in capsys.readouterr().out


def test_strict_example_check_rejects_non_examples(solutions):
    X, y, weights = solutions["strict_example"]()
    linear_y = X @ np.array([1.0, 2.0])
    with pytest.raises(CheckFailed):  # a linear target: the network cannot beat L_LS* = 0
        lr.check_strict_example("linear target", X, linear_y, weights)
    with pytest.raises(CheckFailed):  # negative features are outside the problem
        lr.check_strict_example("negative X", X - 2.0, y, weights)
    with pytest.raises(CheckFailed):  # a network of the wrong width
        lr.check_strict_example("wrong width", X, y, [np.eye(3), np.ones((3, 1))])
    with pytest.raises(CheckFailed):  # the non-negative network of the same shape is only linear
        lr.check_strict_example("non-negative network", X, y, [np.abs(W) for W in weights])


# --- least squares -------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
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


def test_classify_run():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = np.abs(X[:, 0] - X[:, 1])
    exact = [np.array([[1.0, -1.0], [-1.0, 1.0]]), np.array([[1.0], [1.0]])]
    assert lr.classify_run(exact, X, y, 0.0) == "global"
    assert lr.classify_run([-np.ones((2, 2)), np.ones((2, 1))], X, y, 0.0) == "dead"
    assert lr.classify_run([np.ones((2, 2)), np.ones((2, 1))], X, y, 0.0) == "linear"
    assert lr.classify_run([exact[0], np.array([[1.0], [0.0]])], X, y, 0.0) == "mixed"
