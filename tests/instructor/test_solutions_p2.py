"""Problem 2's solved exercises: the notebook's solutions and the references pass the checks,
reproduce every linear model (property test), and the strict example has the values that
answer b) derives; the blank copy hides all of it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import linear_relu as lr
from helpers import paths
from instructor import linear_relu_reference as ref
from workbook import exercises

NOTEBOOK = paths.NOTEBOOKS / "02_homework_linear_vs_relu.ipynb"


def _notebook() -> dict:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))


def _solution_cell(prefix: str) -> str:
    nb = _notebook()
    (region,) = [r for r in exercises.find_regions(nb)
                 if r.kind == "code" and r.name.startswith(prefix)]
    source = nb["cells"][region.cell]["source"]
    return "".join(source) if isinstance(source, list) else source


@pytest.fixture(scope="module")
def solutions() -> dict:
    namespace: dict = {"np": np}
    exec(compile(_solution_cell("Problem 2a"), "Problem 2a", "exec"), namespace)  # noqa: S102
    exec(compile(_solution_cell("Problem 2b"), "Problem 2b", "exec"), namespace)  # noqa: S102
    return namespace


def test_exercises_and_blank_copy():
    nb = _notebook()
    names = {(r.kind, r.name.split(":")[0]) for r in exercises.find_regions(nb)}
    assert names == {("answer", "Question 2a"), ("answer", "Question 2b"),
                     ("code", "Problem 2a"), ("code", "Problem 2b")}
    blank = exercises.blank_notebook(nb)
    for cell in blank["cells"]:
        if cell["cell_type"] == "code":
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            compile(src, "cell", "exec")
    text = json.dumps(blank)
    assert "np.abs(X[:, 0] - X[:, 1])" not in text and "boxed" not in text
    assert "np.maximum(-w, 0.0)" not in text
    assert len(exercises.unfilled(blank)) == 4


@pytest.mark.parametrize("source", ["notebook", "reference"])
def test_solutions_pass_the_checks(solutions, source, capsys):
    build = solutions["weights_from_linear"] if source == "notebook" else ref.weights_from_linear
    example = solutions["strict_example"] if source == "notebook" else ref.strict_example
    assert lr.check_realises_linear("construction", build)
    X, y, weights = example()
    net, best_linear = lr.check_strict_example("strict", X, y, weights)
    assert net == 0.0
    np.testing.assert_allclose(best_linear, 2 / 3, rtol=1e-12)  # the value derived in answer b)
    np.testing.assert_allclose(lr.least_squares(X, y)[0], [1 / 3, 1 / 3], rtol=1e-12)
    assert "[FAIL]" not in capsys.readouterr().out


@st.composite
def linear_problems(draw):
    D = draw(st.integers(1, 6))
    L = draw(st.integers(1, 4))
    values = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)
    w = draw(hnp.arrays(np.float64, D, elements=values))
    rows = draw(st.integers(1, 8))
    X = draw(hnp.arrays(np.float64, (rows, D), elements=st.floats(0, 1e3, allow_subnormal=False)))
    return w, L, X


@pytest.mark.slow
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


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(st.integers(2, 6), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_dropping_the_negative_part_fails_on_every_mixed_sign_w(D, L, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(D)
    w[0] = -abs(w[0]) - 0.1  # at least one clearly negative entry
    X = np.vstack([np.eye(D), rng.uniform(0, 1, (5, D))])
    assert lr.construction_error(drop_negative_part, w, L, X) > 1e-3
