"""make portability: the grid, the summary of every check's margin, and a smoke run."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from helpers import paths
from tests.conftest import PYTHON, Workbook, make_notebook, write_mini_notebooks
from workbook import portability


def _point(label: str, checks: list[dict], figures: dict) -> dict:
    return {"label": label, "ok": True, "results": {"nb": {"checks": checks, **figures}}}


def test_summary_states_spread_and_worst_margin_and_flags_thin_margins():
    points = [
        _point("a", [{"name": "acc > 90", "passed": True, "value": 95.0, "relation": ">", "bound": 90.0, "margin": 5.0},
                     {"name": "thin", "passed": True, "value": 1.0, "relation": "<", "bound": 1.05, "margin": 0.05},
                     {"name": "flag", "passed": True},
                     {"name": "exact", "passed": True, "value": 0.0, "relation": "<=", "bound": 0.0, "margin": 0.0}],
               {"table": {"cnn": 95.0}}),
        _point("b", [{"name": "acc > 90", "passed": True, "value": 97.0, "relation": ">", "bound": 90.0, "margin": 7.0},
                     {"name": "thin", "passed": True, "value": 0.9, "relation": "<", "bound": 1.05, "margin": 0.15},
                     {"name": "flag", "passed": False},
                     {"name": "exact", "passed": True, "value": 0.0, "relation": "<=", "bound": 0.0, "margin": 0.0}],
               {"table": {"cnn": 97.0}}),
    ]
    summary = portability.summarise(points, ("nb",))
    acc = summary["checks"]["nb"]["acc > 90"]
    assert acc["value"]["min"] == 95.0 and acc["value"]["max"] == 97.0 and acc["worst_margin"] == 5.0
    assert acc["robust"]  # 5 >= 3 * std (1.0)
    assert not summary["checks"]["nb"]["thin"]["robust"]  # worst margin 0.05 < 3 * 0.05
    assert not summary["checks"]["nb"]["flag"]["robust"] and summary["checks"]["nb"]["flag"]["passed"] == 1
    assert summary["checks"]["nb"]["exact"]["robust"]  # no spread, meets its inclusive bound exactly
    assert summary["figures"]["nb"]["table/cnn"]["median"] == 96.0
    text = portability.markdown({"date": "today", "machine": "m", "points": points,
                                 "grid": {"capabilities": ["default"], "seeds": [0, 1], "threads": [1], "quick": False,
                                          "device": "cpu"}, "summary": summary})
    assert "| thin | < | 1.05 |" in text and "**NO**" in text


def test_only_capabilities_this_cpu_has_are_offered():
    supported = portability.supported_capabilities()
    assert supported[0] == "default" and portability.native_capability() in supported
    with pytest.raises(SystemExit):
        portability.parse_args(["--capabilities", "avx1024"])
    assert portability._int_list("0-2,5") == [0, 1, 2, 5]


@pytest.mark.slow
def test_a_quick_grid_runs_and_writes_its_report(tmp_path):
    """On a mini workbook whose notebook 1 records a check, so that it runs in a blank release too."""
    wb = Workbook(tmp_path / "wb")
    write_mini_notebooks(wb.notebooks, {"01_inclass_pytorch": make_notebook("Mini 1: a check and its record", [
        ("code", "from helpers.checks import check_close\ncheck_close('one third', 1 / 3, 0.3333, atol=1e-3)"),
        ("code", "from helpers.results import save_results\nsave_results('01_inclass_pytorch', {'seed': seed})"),
    ])})
    shutil.copytree(paths.DATA, wb.data)
    cmd = [PYTHON, "-m", "workbook", "portability", "--quick", "--seeds", "0,1", "--threads", "1",
           "--capabilities", "default", "--only", "01_inclass_pytorch"]
    result = subprocess.run(cmd, cwd=paths.ROOT, env=wb.env(), capture_output=True, text=True, timeout=600)
    print(result.stdout, result.stderr[-2000:])
    report = json.loads((wb.build / "portability.json").read_text(encoding="utf-8"))
    assert [p["label"] for p in report["points"]] == ["default-seed0-threads1", "default-seed1-threads1"]
    checks = report["summary"]["checks"]["01_inclass_pytorch"]
    assert checks and all(c["runs"] == 2 for c in checks.values())
    assert "## 01_inclass_pytorch" in (wb.build / "portability.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_grid_over_unfinished_notebooks_does_not_start(tmp_path):
    """A blank exercise would fail every point: the command says so at once, writes nothing, exits 1."""
    from workbook import exercises

    wb = Workbook(tmp_path / "wb")
    write_mini_notebooks(wb.notebooks)
    path = wb.notebooks / "01_inclass_pytorch.ipynb"
    blank = exercises.blank_notebook(json.loads(path.read_text(encoding="utf-8")))
    path.write_text(json.dumps(blank), encoding="utf-8")
    shutil.copytree(paths.DATA, wb.data)
    cmd = [PYTHON, "-m", "workbook", "portability", "--quick", "--seeds", "0", "--threads", "1",
           "--capabilities", "default", "--only", "01_inclass_pytorch"]
    result = subprocess.run(cmd, cwd=paths.ROOT, env=wb.env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 exercise(s) are not filled in (first: 01_inclass_pytorch: Problem 1.1: implement double" in result.stderr
    assert "make check" in result.stderr and "portability grid" not in result.stdout
    assert not (wb.build / "portability.json").exists() and not (wb.build / "portability").exists()


def _table_point(capability: str, seed: int, cnn: float, mlp: float) -> dict:
    return {"label": f"{capability}-seed{seed}", "ok": True, "point": {"capability": capability, "seed": seed, "threads": 1},
            "results": {"nb": {"table": {"original": {"cnn": {"ours": cnn, "paper": 94}, "mlp": {"ours": mlp, "paper": 68}}}}}}


def test_the_paper_table_needs_the_mean_and_every_point_within_the_band():
    points = [_table_point("default", 0, 93.0, 68.5), _table_point("default", 1, 95.0, 70.5),
              _table_point("avx2", 0, 94.0, 67.0), _table_point("avx2", 1, 94.5, 66.5)]
    table = portability.paper_table(points, ("nb",), band=2.0)["nb"]
    cnn, mlp = table["entries"]["original/cnn"], table["entries"]["original/mlp"]
    print(cnn, mlp, sep="\n")
    assert cnn["mean"] == pytest.approx(94.125) and cnn["worst_distance"] == pytest.approx(1.0) and cnn["within"]
    assert cnn["mean_by_capability"] == {"default": 94.0, "avx2": 94.25} and cnn["points_within"] == 4
    # mlp: the mean (68.125) is within the band, but one point (70.5) is not
    assert abs(mlp["mean"] - 68) <= 2 and mlp["points_within"] == 3 and not mlp["within"]
    text = portability.markdown({"date": "today", "machine": "m", "points": points,
                                 "grid": {"capabilities": ["default", "avx2"], "seeds": [0, 1], "threads": [1],
                                          "quick": False, "device": "cpu"},
                                 "summary": {"checks": {}, "figures": {}, "paper_table": {"nb": table}}})
    assert "| original/cnn | 94 | 94.1 ± 0.7 | default 94.0, avx2 94.2 |" in text
    assert "| original/mlp |" in text and "| 3/4 | **NO** |" in text
