"""Problem 3 executed as the build runs it: the key figures it writes; its targets in full mode."""

from __future__ import annotations

import os
import subprocess

import pytest

from helpers import mnist1d as m1d
from helpers import paths
from helpers.results import load_results
from tests.conftest import PYTHON

NAME = "03_exercise_mnist1d"
MODELS = ("logistic", "mlp", "cnn", "gru")


def assert_key_figures(results: dict) -> None:
    """The keys the benchmark and the portability report read, with plausible values."""
    assert set(results["table"]) == {"original", "shuffled"}
    for version, row in results["table"].items():
        assert set(row) == set(MODELS)
        for key, entry in row.items():
            assert entry["paper"] == m1d.PUBLISHED[version][key]
            assert 0 <= entry["ours"] <= 100
    assert 0 <= results["best_cnn_test_accuracy"] <= 100 and results["best_cnn_train_s"] > 0
    assert results["runtime_s"] > 0
    assert set(results["checked"]) == set(results["bounds"])
    assert len(results["tested"]) == 9  # 8 table entries and the best CNN, each tested once


def assert_full_mode_targets(results: dict) -> None:
    """Full mode: every claim's figure was checked, and the best CNN reached the target."""
    assert results["quick"] is False
    for name, value in results["checked"].items():
        relation, bound = results["bounds"][name]
        assert {">": value > bound, "<": value < bound, ">=": value >= bound}[relation], name
    assert "best_cnn_test_accuracy" in results["checked"]
    assert results["best_cnn_test_accuracy"] >= m1d.BEST_CNN_TARGET
    for entry in ("table_shuffle_cost_cnn", "overfitting_gap", "batch_norm_gain_tuned",
                  "optimisers_gap_tuned", "one_cycle_minus_constant", "shifts_gap_narrowed"):
        assert entry in results["checked"], entry


@pytest.mark.e2e
def test_results_file_of_the_quick_build(real_build, monkeypatch):
    monkeypatch.setenv("WORKBOOK_BUILD_DIR", str(real_build[0]))
    results = load_results(NAME)
    assert_key_figures(results)
    assert results["quick"] is True and results["checked"] == {}


@pytest.mark.e2e
@pytest.mark.machine  # CI runs it again under each ATEN_CPU_CAPABILITY: its figures depend on the CPU's arithmetic
def test_problem3_in_full_mode_meets_its_targets(tmp_path, monkeypatch):
    """Problem 3 executed in full mode by the build, as `make pdf` runs it (a minute or two)."""
    env = dict(os.environ, WORKBOOK_BUILD_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    result = subprocess.run([PYTHON, "-m", "workbook", "run", f"--only={NAME}", "--quick=0"],
                            cwd=paths.ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    monkeypatch.setenv("WORKBOOK_BUILD_DIR", str(tmp_path))
    results = load_results(NAME)
    assert_key_figures(results)
    assert_full_mode_targets(results)
