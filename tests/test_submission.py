"""The submission workflow: names, zip, blank copies, and checks that catch blank exercises."""

from __future__ import annotations

import json
import zipfile
import hashlib

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel
from pypdf import PdfReader

from helpers import paths
from workbook import exercises


# --- names, cover page, zip -----------------------------------------------------------------------


def test_names_reach_cover_page_and_metadata(mini):
    (mini.root / "submission.toml").write_text(
        'group = "Tuesday 10:15"\n[[students]]\nname = "Jürgen Müller"\nid = "123456"\n[[students]]\nname = "Ada Lovelace"\nid = "654321"\n',
        encoding="utf-8",
    )
    result = mini.build_cmd("zip", "--quick=1", "--strict=1")
    assert result.returncode == 0, result.stderr
    reader = PdfReader(mini.build / "submission.pdf")
    assert reader.metadata["/Author"] == "Jürgen Müller (123456), Ada Lovelace (654321)"
    cover = reader.pages[0].extract_text()
    assert "Jürgen Müller" in cover and "123456" in cover and "Ada Lovelace" in cover and "Tuesday 10:15" in cover
    with zipfile.ZipFile(mini.build / "submission.zip") as zf:
        names = set(zf.namelist())
        assert names == {"submission.pdf", "MANIFEST.sha256", *(f"executed/{n}.ipynb" for n in paths.NOTEBOOK_NAMES)}
        for line in zf.read("MANIFEST.sha256").decode().splitlines():
            digest, member = line.split("  ")
            assert hashlib.sha256(zf.read(member)).hexdigest() == digest


def test_invalid_config_is_refused_with_the_fix(mini):
    (mini.root / "submission.toml").write_text('[[students]]\nname = "A\n', encoding="utf-8")
    result = mini.build_cmd("pdf", "--quick=1")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert "submission.toml is not valid TOML" in result.stderr and "submission.example.toml" in result.stderr


# --- blank copies ---------------------------------------------------------------------------------


def test_blank_writes_build_blank_only_and_never_overwrites_edits(mini):
    notebooks_before = {p.name: p.read_bytes() for p in mini.notebooks.iterdir()}
    result = mini.build_cmd("blank")
    assert result.returncode == 0, result.stderr
    blank = mini.build / "blank" / "01_inclass_pytorch.ipynb"
    assert 'raise NotImplementedError(\\"Problem 1.1: implement double\\")' in blank.read_text()
    assert {p.name: p.read_bytes() for p in mini.notebooks.iterdir()} == notebooks_before
    # regenerating an untouched copy is fine
    assert mini.build_cmd("blank").returncode == 0
    # a student's edit is protected ...
    edited = blank.read_text().replace("implement double", "implement double (my notes)")
    blank.write_text(edited)
    result = mini.build_cmd("blank")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert "were edited since they were generated" in result.stderr and str(blank) in result.stderr
    assert "make blank FORCE=1" in result.stderr
    assert blank.read_text() == edited
    # ... unless forced
    assert mini.build_cmd("blank", "--force=1").returncode == 0
    assert blank.read_text() != edited


def _first_region_name(nb: dict) -> str:
    regions = [r for r in exercises.find_regions(nb) if r.kind == "code"]
    return regions[0].name


@pytest.mark.parametrize("name", paths.NOTEBOOK_NAMES)
@pytest.mark.slow
def test_blank_copy_stops_at_its_first_exercise(name, tmp_path):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = json.loads((paths.NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    blank_path = tmp_path / f"{name}.ipynb"
    blank_path.write_text(json.dumps(exercises.blank_notebook(source, name)), encoding="utf-8")
    with pytest.raises(PapermillExecutionError) as err:
        papermill.execute_notebook(
            str(blank_path), str(tmp_path / "out.ipynb"), parameters={"quick": True},
            kernel_name=paths.KERNEL_NAME, cwd=str(paths.NOTEBOOKS), progress_bar=False,
        )
    assert err.value.ename == "NotImplementedError"
    assert err.value.evalue == _first_region_name(source)


# --- every check fails when its exercise is left blank ------------------------------------------------


def _run(kc, code: str) -> dict:
    reply = kc.execute_interactive(code, timeout=300, output_hook=lambda msg: None)
    return reply["content"]


@pytest.mark.parametrize("name", paths.NOTEBOOK_NAMES)
@pytest.mark.slow
def test_every_check_fails_when_its_exercise_is_blank(name, tmp_path, monkeypatch):
    """Execute the solved notebook once; at each exercise cell run its blank version first.

    The cells after it, up to and including the first one that calls a check,
    must then fail. Then the solved cell and those cells run again (and pass),
    and execution goes on to the next exercise.
    """
    monkeypatch.setenv("WORKBOOK_BUILD_DIR", str(tmp_path))
    source = nbformat.read(paths.NOTEBOOKS / f"{name}.ipynb", as_version=4)
    blank = exercises.blank_notebook(source, name)
    exercise_cells = sorted({r.cell for r in exercises.find_regions(source, name) if r.kind == "code"})
    assert exercise_cells, f"{name} has no exercises"
    km, kc = start_new_kernel(kernel_name=paths.KERNEL_NAME, cwd=str(paths.NOTEBOOKS))
    caught, done = [], set()
    try:
        cells = source.cells
        for index, cell in enumerate(cells):
            if cell.cell_type != "code" or index in done:
                continue
            if "parameters" in cell.metadata.get("tags", []):
                assert _run(kc, cell.source + "\nquick = True")["status"] == "ok"
                continue
            if index not in exercise_cells:  # an ordinary cell before the first exercise
                content = _run(kc, cell.source)
                assert content["status"] == "ok", f"{name} cell {index}: {content.get('ename')}: {content.get('evalue')}"
                continue
            nxt = next((i for i in exercise_cells if i > index), len(cells))
            followers = [i for i in range(index + 1, nxt) if cells[i].cell_type == "code"]
            check_cells = [i for i in followers if "check" in cells[i].source]
            assert check_cells, f"{name} cell {index}: no check follows the exercise"
            failed_at = None
            for i in [index, *[f for f in followers if f <= check_cells[0]]]:
                code = "".join(blank["cells"][i]["source"]) if i == index else cells[i].source
                if _run(kc, code)["status"] == "error":
                    failed_at = i
                    break
            assert failed_at is not None, f"{name}: the checks up to cell {check_cells[0]} pass with exercise cell {index} left blank"
            caught.append(index)
            for i in [index, *followers]:  # the solved cell, and everything up to the next exercise
                content = _run(kc, cells[i].source)
                assert content["status"] == "ok", f"{name} cell {i}: {content.get('ename')}: {content.get('evalue')}"
                done.add(i)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert caught == exercise_cells


# --- make check reads an executed notebook ---------------------------------------------------------


def _executed(*cells):
    """(source, execution_count, outputs) triples as an executed notebook."""
    return {"metadata": {"papermill": {}}, "cells": [
        {"cell_type": "code", "source": src, "execution_count": count, "outputs": outputs, "metadata": {}} for src, count, outputs in cells
    ]}


def _stream(text):
    return [{"output_type": "stream", "name": "stdout", "text": text}]


def test_check_finds_gaps_errors_and_failed_checks_all_at_once():
    from workbook.check import NotebookStatus, inspect_executed

    status = NotebookStatus("nb")
    inspect_executed(_executed(
        ("a = 1", 1, _stream("[PASS] one: fine\n")),
        ("b = 2", 2, _stream("[FAIL] two: max abs error 3 > bound 1\n")),
        ("c = 3", 3, [{"output_type": "error", "ename": "ValueError", "evalue": "boom", "traceback": []}]),
        ("d = 4", 5, []),
    ), status)
    assert status.checks_passed == 1
    assert status.problems == [
        "cell 2: check failed: two: max abs error 3 > bound 1",
        "cell 3: error: ValueError: boom",
        "cell 4: not executed top to bottom in one fresh kernel (execution count 5, expected 4)",
    ]


def test_check_finds_cells_never_executed():
    from workbook.check import NotebookStatus, inspect_executed

    status = NotebookStatus("nb")
    inspect_executed(_executed(("a = 1", 1, []), ("", None, []), ("b = 2", None, [])), status)
    assert status.problems == ["cell 3: not executed top to bottom in one fresh kernel (never executed)"]


def test_a_clean_executed_notebook_has_no_problems():
    from workbook.check import NotebookStatus, inspect_executed

    status = NotebookStatus("nb")
    inspect_executed(_executed(("a = 1", 1, _stream("[PASS] x: ok\n[PASS] y: ok\n")), ("b = 2", 2, [])), status)
    assert status.problems == [] and status.checks_passed == 2
