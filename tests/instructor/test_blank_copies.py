"""The blank copies of the solved notebooks: no solution survives, every exercise is detected,
a blank copy stops at its first exercise, and every check fails when its exercise is blank.

These need the solved notebooks, so they stay on the instructor's side (not in the release).
"""

from __future__ import annotations

import ast
import json

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel

from helpers import paths
from workbook import exercises
from workbook.exercises import blank_notebook, find_regions, unfilled


def _first_region_name(nb: dict) -> str:
    regions = [r for r in exercises.find_regions(nb) if r.kind == "code"]
    return regions[0].name


def _run(kc, code: str) -> dict:
    reply = kc.execute_interactive(code, timeout=300, output_hook=lambda msg: None)
    return reply["content"]


@pytest.mark.parametrize("name", paths.NOTEBOOK_NAMES)
def test_no_solution_line_survives_in_the_blank_copy(name):
    source = json.loads((paths.NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    blank = blank_notebook(source, name)
    blank_lines = {ln.strip() for c in blank["cells"] for ln in "".join(c["source"]).splitlines()}
    regions = find_regions(source, name)
    inside = {(r.cell, i) for r in regions for i in range(r.start, r.end + 1)}
    # lines that also stand outside every region (a common `loss.backward()`) may appear in the blank
    outside = {ln.strip() for ci, c in enumerate(source["cells"]) for li, ln in enumerate("".join(c["source"]).splitlines()) if (ci, li) not in inside}
    for region in regions:
        lines = "".join(source["cells"][region.cell]["source"]).splitlines()[region.start + 1 : region.end]
        for line in lines:
            stripped = line.strip()
            if stripped and stripped not in outside:
                assert stripped not in blank_lines, f"{name}: solution line of {region.name!r} survived: {stripped!r}"
    for cell in blank["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
            source_text = "".join(cell["source"])
            if not any(line.lstrip().startswith(("%", "!")) for line in source_text.splitlines()):
                ast.parse(source_text)  # still valid Python


@pytest.mark.parametrize("name", paths.NOTEBOOK_NAMES)
def test_every_exercise_is_blanked_and_detected(name):
    source = json.loads((paths.NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    regions = find_regions(source, name)
    found = unfilled(blank_notebook(source, name), name)
    assert len(found) == len(regions)
    for region in regions:
        assert any(item.startswith(region.name) for item in found)


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
