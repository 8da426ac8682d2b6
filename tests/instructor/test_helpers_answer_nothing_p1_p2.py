"""No object in helpers/ passes a check of Problems 1 and 2 when it is put in place of the
student's code: every public function and class of every helpers module is tried against
every exercise check (issue: the student edition holds no answer)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import signal
from typing import Any, Callable

import matplotlib
import numpy as np
import pytest

import helpers
from helpers import inclass
from helpers import linear_relu as lr

matplotlib.use("Agg")

# Every helper is called with another exercise's arguments on purpose; what torch and NumPy warn
# about such calls (a list used as an index, an object that is not an array) is expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning",
                                        "ignore::RuntimeWarning")

#: Functions that act on the machine (a command-line entry point, rebuilding the shipped data).
NOT_CALLED = {"main"}


def helper_objects() -> list[tuple[str, Any]]:
    """(qualified name, object) of every public function and class defined in helpers/."""
    found: dict[int, tuple[str, Any]] = {}
    for info in pkgutil.iter_modules(helpers.__path__):
        module = importlib.import_module(f"helpers.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("_") or name in NOT_CALLED:
                continue
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and \
                    getattr(obj, "__module__", "").startswith("helpers"):
                found.setdefault(id(obj), (f"{obj.__module__}.{obj.__qualname__}", obj))
    return sorted(found.values(), key=lambda item: item[0])


def _strict_example_check(candidate: Callable) -> Any:
    X, y, weights = candidate()
    return lr.check_strict_example("Problem 2b", X, y, weights)


CHECKS: dict[str, Callable[[Any], Any]] = {
    "1.1": inclass.check_pairwise_sq_dists,
    "1.2": inclass.check_least_squares_grad,
    "1.3": inclass.check_linear_gd,
    "1.4": inclass.check_mlp_forward,
    "1.5": inclass.check_dataset,
    "1.6": inclass.check_train_epoch,
    "1.7": inclass.check_predict,
    "1.8": inclass.check_save_and_load,
    "1.9": inclass.check_reproducible,
    "2a": lambda candidate: lr.check_realises_linear("Problem 2a", candidate, cases=24),
    "2b": _strict_example_check,
}


class _TooSlow(Exception):
    pass


def _alarm(signum, frame):
    raise _TooSlow()


def test_the_helpers_are_found():
    names = [name for name, _ in helper_objects()]
    assert "helpers.training.fit" in names and "helpers.inclass.check_mlp_forward" in names
    assert len(names) > 80


@pytest.mark.slow
@pytest.mark.parametrize("exercise", list(CHECKS))
def test_no_helper_passes_the_check(exercise, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBOOK_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.chdir(tmp_path)
    from helpers import checks

    monkeypatch.setattr(checks, "RECORDED", [])  # the calls record nonsense; keep it here
    passed = []
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for name, candidate in helper_objects():
            signal.alarm(20)
            try:
                CHECKS[exercise](candidate)
            except _TooSlow:
                continue  # ran for 20 s without passing: counts as not passing
            except BaseException as err:  # noqa: BLE001 - any failure means: did not pass
                if isinstance(err, KeyboardInterrupt):
                    raise
                continue
            finally:
                signal.alarm(0)
                matplotlib.pyplot.close("all")
            passed.append(name)
    finally:
        signal.signal(signal.SIGALRM, old)
    capsys.readouterr()
    assert passed == [], f"helpers that pass check {exercise}: {passed}"


def test_the_reference_passes_where_the_helpers_fail():
    """The harness can tell a pass: the instructor's reference passes check 2a."""
    from instructor.linear_relu_reference import weights_from_linear

    assert CHECKS["2a"](weights_from_linear)
    assert np.isfinite(lr.CONSTRUCTION_TOL)
