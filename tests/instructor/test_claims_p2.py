"""The claims of Problem 2's written answers, checked numerically (they stay out of the
student's copy: see instructor/linear_relu_reference.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import linear_relu as lr
from instructor import linear_relu_reference as ref


def test_answer_a_nonnegative_weights_collapse_and_width_one_is_linear(capsys):
    assert ref.check_collapse("collapse")
    assert ref.check_width_one_is_linear("width one")
    assert capsys.readouterr().out.count("[PASS]") == 2


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_nonnegative_weights_collapse_to_the_product(D, L, seed):
    rng = np.random.default_rng(seed)
    weights = ref.random_nonnegative_network(rng, D, L)
    X = rng.uniform(0, 5, (10, D))
    error = lr.scale_relative_error(lr.relu_network(weights, X), X, ref.weight_product(weights))
    assert error <= ref.COLLAPSE_TOL


def test_collapse_fails_with_a_negative_weight():
    rng = np.random.default_rng(0)
    weights = ref.random_nonnegative_network(rng, 3, 2)
    weights[0][:, 0] = -1.0  # unit 1 is dead on x >= 0, but the product still counts it
    X = rng.uniform(0.5, 1, (10, 3))
    error = lr.scale_relative_error(lr.relu_network(weights, X), X, ref.weight_product(weights))
    assert error > 1e-3


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_width_one_networks_are_linear(L, seed):
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((1, 1)) for _ in range(L + 1)]
    X = rng.uniform(0, 3, (6, 1))
    np.testing.assert_allclose(lr.relu_network(weights, X), ref.width_one_slope(weights) * X[:, 0],
                               rtol=1e-12, atol=1e-14)


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(st.integers(2, 6), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_two_units_realise_a_linear_model_on_data_of_any_sign(D, L, seed):
    rng = np.random.default_rng(seed)
    w, X = rng.standard_normal(D), rng.uniform(-2, 2, (20, D))
    out = lr.relu_network(ref.weights_from_linear_any_sign(w, L), X)
    assert lr.scale_relative_error(out, X, w) <= lr.CONSTRUCTION_TOL


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_width_one_on_data_of_both_signs_is_zero_on_one_side(L, seed):
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((1, 1)) for _ in range(L + 1)]
    X = np.array([[-2.0], [-0.5], [0.5], [2.0]])
    out = lr.relu_network(weights, X)
    assert np.all(out[:2] == 0) or np.all(out[2:] == 0)


def test_answer_b_no_nonnegative_network_beats_least_squares():
    X, y, _ = ref.strict_example()
    assert ref.smallest_nonnegative_ratio(X, y, count=2000) >= 1 - 1e-12


def test_answer_b_equality_on_a_linear_target_with_nonnegative_weights():
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 1, (20, 3))
    v = np.array([0.5, 1.0, 2.0])
    y = X @ v
    assert lr.least_squares(X, y)[1] == pytest.approx(0.0, abs=1e-20)
    net = ref.weights_from_linear(v, 2)
    assert lr.network_loss(net, X, y) == pytest.approx(0.0, abs=1e-20)
