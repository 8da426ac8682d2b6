"""Problem 1's exercises: each is a solution region followed by its check, and the blank copy
stops at the first exercise with an error that names it."""

from __future__ import annotations

import json
import re

import pytest

from helpers import paths
from tests.instructor.cells import run_cells
from workbook import exercises

NOTEBOOK = paths.NOTEBOOKS / "01_inclass_pytorch.ipynb"
EXERCISES = [f"Problem 1.{i}" for i in range(1, 10)]


def _notebook() -> dict:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_every_exercise_is_a_region_with_a_check_after_it():
    nb = _notebook()
    regions = [r for r in exercises.find_regions(nb) if r.kind == "code"]
    assert [r.name.split(":")[0] for r in regions] == EXERCISES
    for region in regions:
        number = region.name.split(":")[0].removeprefix("Problem ")
        cell = _source(nb["cells"][region.cell])
        assert cell.startswith(f"# exercise {number}"), "the mistake tests find it by this"
        later = "".join(_source(c) for c in nb["cells"][region.cell + 1:]
                        if c["cell_type"] == "code")
        assert re.search(rf"# check {re.escape(number)}\b", later), f"no check after {region.name}"
        lines = cell.splitlines()[region.start:region.end + 1]
        assert "check_" not in "\n".join(lines), "a check must not sit inside a solution region"
    answers = [r.name for r in exercises.find_regions(nb) if r.kind == "answer"]
    assert answers == ["Question 1.4", "Question 1.9"]


@pytest.mark.slow
def test_the_blank_copy_stops_at_the_first_exercise_naming_it(tmp_path):
    blank = exercises.blank_notebook(_notebook())
    path = tmp_path / "01_inclass_pytorch.ipynb"
    path.write_text(json.dumps(blank), encoding="utf-8")
    with pytest.raises(NotImplementedError, match="Problem 1.1"):
        run_cells(path, until="# check 1.1")
    text = json.dumps(blank)
    for solution_line in ("(diff**2).sum(dim=2)", "return X.T @ residual",
                          "total += loss.item() * len(X)",
                          "restored.load_state_dict(torch.load(path, weights_only=True))"):
        assert solution_line not in text
