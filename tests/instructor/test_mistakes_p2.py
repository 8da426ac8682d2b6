"""Typical mistakes in Problem 2's code exercises, each put into the solved notebook: its check
must FAIL (see tests/instructor/cells.py)."""

from __future__ import annotations

import pytest

from tests.instructor.cells import expect_check_failure, fail_lines, run_cells

NOTEBOOK = "02_homework_linear_vs_relu"

SPLIT = "        first[:, 0], first[:, 1] = np.maximum(w, 0.0), np.maximum(-w, 0.0)\n"
EXAMPLE = '''    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = np.abs(X[:, 0] - X[:, 1])
    W_1 = np.array([[1.0, -1.0], [-1.0, 1.0]])
    W_2 = np.array([[1.0], [1.0]])  # f = ReLU(x1 - x2) + ReLU(x2 - x1)
'''

MISTAKES = {
    "2a": {
        "the negative part dropped": {"out[0, 0], out[1, 0] = 1.0, -1.0": "out[0, 0] = 1.0"},
        "the negative part added": {"out[0, 0], out[1, 0] = 1.0, -1.0":
                                    "out[0, 0], out[1, 0] = 1.0, 1.0"},
        "no split: one unit ReLU(x^T w)": {SPLIT: "        first[:, 0] = w\n"},
        "D = 1: the sign lost": {"out[0, 0] = 1.0 if w[0] >= 0 else -1.0": "out[0, 0] = 1.0"},
        "D = 1 not treated apart": {"    if D == 1:": "    if False:"},
        "one hidden layer too many": {"for _ in range(num_hidden - 1)":
                                      "for _ in range(num_hidden)"},
        "hidden layers -I instead of I": {"[np.eye(D) for _": "[-np.eye(D) for _"},
        "W_{L+1} of shape (D,)": {"+ [out]": "+ [out[:, 0]]"},
        "rows instead of columns": {SPLIT: "        first[0, :], first[1, :] = "
                                           "np.maximum(w, 0.0), np.maximum(-w, 0.0)\n"},
        # shortcuts for one sign pattern: the check must meet every sign pattern for D >= 2
        "all-positive w: a wrong shortcut": {"    else:  # units 1 and 2": (
            "    elif np.all(w >= 0):  # no split needed\n        first[0, :] = w\n"
            "        out[0, 0] = 1.0\n    else:  # units 1 and 2")},
        "all-negative w: the sign lost": {"    else:  # units 1 and 2": (
            "    elif np.all(w <= 0):\n        first[:, 0] = -w\n        out[0, 0] = 1.0\n"
            "    else:  # units 1 and 2")},
    },
    "2b": {
        "a linear target": {"y = np.abs(X[:, 0] - X[:, 1])": "y = X[:, 0] + X[:, 1]"},
        "a network that does not fit": {"W_2 = np.array([[1.0], [1.0]])":
                                        "W_2 = np.array([[1.0], [-1.0]])"},
        "non-negative weights only": {"W_1 = np.array([[1.0, -1.0], [-1.0, 1.0]])":
                                      "W_1 = np.array([[1.0, 1.0], [1.0, 1.0]])"},
        "a negative feature": {"X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])":
                               "X = np.array([[1.0, 0.0], [0.0, -1.0], [1.0, 1.0]])"},
        "w_LS* with a negative entry (the hypothesis of b) fails)": {EXAMPLE: '''\
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    y = np.maximum(X[:, 0] - X[:, 1], 0.0)
    W_1 = np.array([[1.0, 0.0], [-1.0, 0.0]])
    W_2 = np.array([[1.0], [0.0]])
'''},
        "y of shape (N, 1)": {"y = np.abs(X[:, 0] - X[:, 1])": "y = np.abs(X[:, :1] - X[:, 1:])"},
        "one feature (D = 1)": {EXAMPLE: '''\
    X = np.array([[1.0], [2.0], [3.0]])
    y = np.array([1.0, 0.0, 1.0])
    W_1 = np.array([[1.0]])
    W_2 = np.array([[1.0]])
'''},
    },
}


@pytest.fixture(scope="module")
def before_2a():
    """The namespace of the solved notebook run (quick mode) up to the cell of Problem 2a."""
    return run_cells(NOTEBOOK, until="# Problem 2a")[0]


CASES = [pytest.param(ex, what, edits, id=f"{ex} {what}")
         for ex, mistakes in MISTAKES.items() for what, edits in mistakes.items()]


@pytest.mark.parametrize("exercise, what, edits", CASES)
def test_the_check_catches_the_mistake(exercise, what, edits, before_2a):
    output = expect_check_failure(NOTEBOOK, start=f"# Problem {exercise}",
                                  until=f"# check Problem {exercise}", replace=edits,
                                  namespace=before_2a)
    lines = fail_lines(output)
    assert lines and lines[-1].startswith(f"[FAIL] Problem {exercise}"), output[-2000:]


def test_the_solved_exercises_pass(before_2a):
    _, output = run_cells(NOTEBOOK, start="# Problem 2a", until="# check Problem 2b",
                          namespace=before_2a)
    assert "[FAIL]" not in output and output.count("[PASS] Problem 2") == 6
