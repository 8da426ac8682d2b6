"""The notebook runner of the mistake tests (``tests/instructor/cells.py``), on tiny notebooks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers.checks import CheckFailed
from tests.instructor.cells import (
    MarkerError,
    SnippetError,
    expect_check_failure,
    fail_lines,
    run_cells,
)


def write_notebook(folder: Path, sources: list[tuple[str, str]], params_index: int = 0) -> Path:
    cells = []
    for i, (kind, source) in enumerate(sources):
        cell = {"cell_type": kind, "metadata": {}, "source": source}
        if kind == "code":
            cell.update(outputs=[], execution_count=None)
        if i == params_index:
            cell["metadata"]["tags"] = ["parameters"]
        cells.append(cell)
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = folder / "tiny.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


TINY = [
    ("code", "quick = False\nseed = 0"),
    ("markdown", "# a title"),
    (
        "code",
        "# exercise\ndef double(x):\n    return 2 * x\nprint('cwd', __import__('os').getcwd())",
    ),
    (
        "code",
        "# check\nfrom helpers.checks import check_equal\ncheck_equal('double', double(21), 42)",
    ),
    ("code", "# last\nimport os\nprint('build', os.environ['WORKBOOK_BUILD_DIR'], 'quick', quick)"),
]


def test_runs_all_cells_with_parameters_overridden(tmp_path):
    path = write_notebook(tmp_path, TINY)
    namespace, output = run_cells(path)
    assert namespace["quick"] is True and namespace["seed"] == 0
    assert f"cwd {tmp_path}" in output
    assert "[PASS] double" in output and "quick True" in output
    build = output.split("build ")[1].split()[0]
    assert not Path(build).exists(), "the temporary build folder is removed afterwards"
    assert os.environ.get("WORKBOOK_BUILD_DIR") != build


def test_until_by_marker_and_by_index(tmp_path):
    path = write_notebook(tmp_path, TINY)
    namespace, output = run_cells(path, until="# exercise")
    assert "double" in namespace and "[PASS]" not in output
    _, output = run_cells(path, until=3)
    assert "[PASS] double" in output and "quick" not in output.split("[PASS]")[1]
    _, output = run_cells(path, skip=["# check"], params={"quick": "x"})
    assert "[PASS]" not in output and "quick x" in output


def test_a_mistake_makes_the_check_fail(tmp_path):
    path = write_notebook(tmp_path, TINY)
    output = expect_check_failure(path, until="# check", replace={"2 * x": "x + x + 1"})
    assert fail_lines(output) == ["[FAIL] double: 43 != expected 42"]
    with pytest.raises(CheckFailed) as info:
        run_cells(path, replace={"2 * x": "3 * x"})
    assert "[FAIL] double" in info.value.notebook_output
    assert "raised in notebook cell 3" in str(info.value.__notes__)


def test_snippets_must_match_exactly_once(tmp_path):
    path = write_notebook(tmp_path, TINY)
    with pytest.raises(SnippetError, match="occurs 0 times"):
        run_cells(path, replace={"3 * x": "x"})
    with pytest.raises(SnippetError, match="occurs 2 times"):
        run_cells(path, replace={"double(": "triple("})
    with pytest.raises(SnippetError, match="occurs 0 times"):  # only in a cell that does not run
        run_cells(path, until="# exercise", replace={"check_equal(": "print("})
    with pytest.raises(MarkerError):
        run_cells(path, until="no such marker")


def test_expect_check_failure_refuses_other_outcomes(tmp_path):
    path = write_notebook(tmp_path, TINY)
    with pytest.raises(AssertionError, match="every cell ran through"):
        expect_check_failure(path)
    with pytest.raises(AssertionError, match="raised NameError"):
        expect_check_failure(path, replace={"2 * x": "y"})
