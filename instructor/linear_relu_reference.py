"""Reference solutions of Problem 2's exercises, and numerical checks of the written answers.

The notebook's checks (``helpers/linear_relu.py``) test the two code exercises.
The claims that the *answers* to Questions 2a and 2b make (a network with
non-negative weights collapses to one linear model; for D = 1 the family is
exactly the linear models; no network with non-negative weights beats least
squares; two units realise a linear model on data of any sign when D >= 2)
would give those answers away in the student's copy, so they are checked here
and run by ``tests/instructor/test_claims_p2.py``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from helpers.checks import report
from helpers.linear_relu import (Weights, least_squares, network_loss, relu_network,
                                 scale_relative_error)

#: Bound on the relative error of the collapse of non-negative weights (float64).
COLLAPSE_TOL = 1e-12


# --- the exercises ------------------------------------------------------------------------------


def weights_from_linear(w: np.ndarray, num_hidden: int) -> Weights:
    """Problem 2a: weights of the family computing x -> x^T w on x >= 0 (w of any signs)."""
    D = len(w)
    first, out = np.zeros((D, D)), np.zeros((D, 1))
    if D == 1:
        first[0, 0], out[0, 0] = abs(w[0]), (1.0 if w[0] >= 0 else -1.0)
    else:
        first[:, 0], first[:, 1] = np.maximum(w, 0.0), np.maximum(-w, 0.0)
        out[0, 0], out[1, 0] = 1.0, -1.0
    return [first] + [np.eye(D) for _ in range(num_hidden - 1)] + [out]


def weights_from_linear_any_sign(w: np.ndarray, num_hidden: int) -> Weights:
    """The variant for D >= 2 and inputs of any sign: units ReLU(x^T w) and ReLU(-x^T w)."""
    D = len(w)
    first, out = np.zeros((D, D)), np.zeros((D, 1))
    first[:, 0], first[:, 1] = w, -w
    out[0, 0], out[1, 0] = 1.0, -1.0
    return [first] + [np.eye(D) for _ in range(num_hidden - 1)] + [out]


def strict_example() -> tuple[np.ndarray, np.ndarray, Weights]:
    """Problem 2b: X >= 0, y = |x_1 - x_2|, w_LS* = (1/3, 1/3) >= 0, and a network with loss 0."""
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = np.abs(X[:, 0] - X[:, 1])
    return X, y, [np.array([[1.0, -1.0], [-1.0, 1.0]]), np.array([[1.0], [1.0]])]


# --- the claims of the answers ------------------------------------------------------------------


def weight_product(weights: Sequence[np.ndarray]) -> np.ndarray:
    """W_1 W_2 ... W_{L+1} as a vector of shape (D,)."""
    product = weights[0]
    for W in weights[1:]:
        product = product @ W
    return product[:, 0]


def random_nonnegative_network(rng: np.random.Generator, D: int, L: int) -> Weights:
    """Random network of the family with every weight uniform on [0, 1]."""
    return ([rng.uniform(0.0, 1.0, size=(D, D)) for _ in range(L)]
            + [rng.uniform(0.0, 1.0, size=(D, 1))])


def check_collapse(name: str, *, seed: int = 0, cases: int = 100, max_width: int = 6,
                   max_depth: int = 4) -> bool:
    """Answer a), (i): with W >= 0 and x >= 0 the network equals x -> x^T (W_1 ... W_{L+1})."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for case in range(cases):
        D, L = 1 + case % max_width, int(rng.integers(1, max_depth + 1))
        weights = random_nonnegative_network(rng, D, L)
        X = rng.uniform(0.0, 2.0, size=(30, D))
        error = scale_relative_error(relu_network(weights, X), X, weight_product(weights))
        worst = max(worst, error)
    ok = bool(np.isfinite(worst)) and worst <= COLLAPSE_TOL
    return report(name, ok, f"max relative error {worst:.3g} over {cases} random non-negative "
                            f"networks, D in 1..{max_width}, L in 1..{max_depth}")


def width_one_slope(weights: Sequence[np.ndarray]) -> float:
    """For D = 1: v with f_W(x) = v x on x >= 0: W_{L+1} prod W_l if all W_l >= 0, else 0."""
    hidden = [float(W[0, 0]) for W in weights[:-1]]
    return float(weights[-1][0, 0]) * float(np.prod(hidden)) if min(hidden) >= 0 else 0.0


def check_width_one_is_linear(name: str, *, seed: int = 0, cases: int = 200,
                              max_depth: int = 4) -> bool:
    """Answer a), D = 1: every network of the family is a linear model v x on x >= 0."""
    rng = np.random.default_rng(seed)
    worst, signs = 0.0, set()
    for _ in range(cases):
        L = int(rng.integers(1, max_depth + 1))
        weights = [rng.standard_normal((1, 1)) for _ in range(L + 1)]
        X = rng.uniform(0.0, 2.0, size=(30, 1))
        v = width_one_slope(weights)
        signs.add(int(np.sign(v)))
        error = scale_relative_error(relu_network(weights, X), X, np.array([v]))
        worst = max(worst, error)
    ok = bool(np.isfinite(worst)) and worst <= COLLAPSE_TOL and signs == {-1, 0, 1}
    return report(name, ok, f"max relative error {worst:.3g} over {cases} random D = 1 "
                            f"networks (slopes of sign {sorted(signs)} seen)")


def smallest_nonnegative_ratio(X: np.ndarray, y: np.ndarray, *, seed: int = 0,
                               count: int = 2000) -> float:
    """Answer b): min over ``count`` random networks with weights >= 0 of L_NN / L_LS*."""
    rng = np.random.default_rng(seed)
    best_linear = least_squares(X, y)[1]
    losses = [network_loss(random_nonnegative_network(rng, X.shape[1], int(rng.integers(1, 4))),
                           X, y) for _ in range(count)]
    return min(losses) / best_linear
