"""The benchmark (`make bench`): a smoke run on a one-notebook mini workbook, and its results reader."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess

import pytest

from tests.conftest import PYTHON, Workbook, make_notebook, snapshot, stray_temporaries, write_mini_notebooks
from helpers import paths

pytestmark = pytest.mark.slow  # runs the benchmark on a mini workbook (a minute)

NAME = "03_exercise_mnist1d"  # the mini workbook's notebook with a figure: one kernel, one LaTeX export


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """``python -m workbook bench`` once, with one repeat, in quick mode, on one mini notebook."""
    wb = Workbook(tmp_path_factory.mktemp("bench-workbook"))
    # the mini Problem 3 records a best CNN's figures as the real one does (the training part reads them)
    write_mini_notebooks(wb.notebooks, {NAME: make_notebook("Mini 3: a figure and results", [
        ("code", "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()"),
        ("code", "from helpers.results import save_results\nsave_results('03_exercise_mnist1d', "
                 "{'best_cnn_test_accuracy': 97.5, 'best_cnn_train_s': 1.25, 'best_cnn_params': 1234})"),
    ])})
    shutil.copytree(paths.DATA, wb.data)
    notebooks_before = snapshot(wb.notebooks)
    cmd = [PYTHON, "-m", "workbook", "bench", "--repeats=1", "--quick", f"--only={NAME}", "--skip-profile"]
    result = subprocess.run(cmd, env=wb.env(), cwd=paths.ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert snapshot(wb.notebooks) == notebooks_before, "the benchmark must work on copies of the notebooks"
    return wb, result


def positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def test_bench_prints_the_machine(bench_run):
    wb, result = bench_run
    first = result.stdout.splitlines()[0]
    report = json.loads((wb.build / "bench.json").read_text(encoding="utf-8"))
    m = report["machine"]
    assert first.startswith("machine: ") and m["cpu"] in first
    assert f"{m['cores']} cores" in first and f"{m['torch_threads']} threads" in first
    assert m["cpu"] and positive(m["cores"]) and positive(m["torch_threads"])


def test_bench_json_has_every_figure_positive(bench_run):
    wb, _ = bench_run
    report = json.loads((wb.build / "bench.json").read_text(encoding="utf-8"))
    assert report["settings"] == {"repeats": 1, "quick": True, "notebooks": [NAME], "seed": 0, "device": "auto", "threads": None}

    cold = report["cold_build"]
    for key in ("ours_s", "baseline_s", "ratio"):
        assert positive(cold[key]), key
    assert cold["ratio"] == pytest.approx(cold["ours_s"] / cold["baseline_s"])
    assert cold["met"] == (cold["ratio"] <= cold["target_ratio"])
    assert len(cold["ours_runs_s"]) == len(cold["baseline_runs_s"]) == 1
    assert list(cold["notebooks"]) == [NAME]
    per = cold["notebooks"][NAME]
    for key in ("ours_s", "baseline_s", "ratio", "ours_execute_s", "ours_export_s"):
        assert positive(per[key]), key
    assert per["ours_s"] <= cold["ours_s"] and per["ours_execute_s"] < per["ours_s"]

    path = cold["critical_path"]
    assert path["notebook"] == NAME and positive(path["execute_s"]) and path["overhead_s"] == pytest.approx(
        cold["ours_s"] - per["ours_execute_s"], abs=1.0)

    engines = report["engines"]
    assert "typst" in engines["engines"] and positive(engines["notebooks"][NAME]["typst"])
    if "latex" in engines["engines"]:
        entry = engines["notebooks"][NAME]
        assert entry["typst_over_latex"] == pytest.approx(entry["typst"] / entry["latex"])
    if shutil.which("pdftoppm"):
        assert (wb.build / "bench-page2.png").exists() and (wb.build / "bench-page2-typst.png").exists()

    rebuild = report["rebuild"]
    assert positive(rebuild["noop"]["median_s"]) and rebuild["noop"]["met"] == (rebuild["noop"]["median_s"] < 1.0)
    assert rebuild["one_changed"]["notebook"] == NAME and rebuild["one_changed"]["reexecuted"] == [NAME]
    assert positive(rebuild["one_changed"]["median_s"])

    if importlib.util.find_spec("instructor") is None:  # the student release: no published setup to train
        assert "training" not in report and "instructor package" in report["training_skipped"]
        return
    training = report["training"]
    assert training["best"] == {"test_accuracy": 97.5, "train_s": 1.25, "params": 1234}  # read from the notebook's results
    reference = training["reference"]
    assert 0 < reference["test_accuracy"] <= 100 and positive(reference["train_s"]) and positive(reference["steps"])
    assert reference["params"] == 5210  # the published CNN
    assert training["time_ratio"] == pytest.approx(1.25 / reference["train_s"])
    assert training["met"] is False  # 97.5 % is below the target
    assert "profile" not in report and report.get("fresh_setup") is None


def test_bench_md_shows_the_same_figures(bench_run):
    wb, _ = bench_run
    report = json.loads((wb.build / "bench.json").read_text(encoding="utf-8"))
    text = (wb.build / "bench.md").read_text(encoding="utf-8")
    for heading in ("# Benchmark of the workbook", "## Cold build", "## Rebuilds", "## Training", "## Fresh set-up"):
        assert heading in text
    cold = report["cold_build"]
    assert f"| **{cold['ours_s']:.1f}** | **{cold['baseline_s']:.1f}** | **{cold['ratio']:.2f}** |" in text
    assert f"Nothing changed: {report['rebuild']['noop']['median_s']:.2f} s" in text
    if "training" in report:
        training = report["training"]
        assert f"{training['best']['test_accuracy']:.1f}%" in text and f"{training['time_ratio']:.2f}" in text
    else:  # the student release
        assert f"Skipped: {report['training_skipped']}." in text
    assert report["machine"]["cpu"] in text
    assert not stray_temporaries(wb.build)


