"""Exercise regions: blanking leaves no solution behind, and unfilled work is found."""

from __future__ import annotations

import ast
import json

import pytest

from helpers import paths
from workbook.exercises import ANSWER_PLACEHOLDER, RegionError, blank_notebook, find_regions, unfilled


def nb(*cells):
    return {"cells": [{"cell_type": kind, "source": src, "metadata": {}, **({"outputs": [], "execution_count": None} if kind == "code" else {})} for kind, src in cells]}


SOLVED = nb(
    ("code", "def f(x):\n    ### BEGIN SOLUTION Problem 9.1: implement f\n    y = x + 1\n    return y * 2\n    ### END SOLUTION\n\nprint(f(1))"),
    ("markdown", "**Question 9.2** Why?\n\n**Answer:**\n<!-- BEGIN ANSWER Question 9.2 -->\nBecause it is so.\n<!-- END ANSWER -->"),
    ("code", "### BEGIN SOLUTION Problem 9.3: top level\nz = 3\n### END SOLUTION"),
)


def test_regions_are_found_with_names_and_indentation():
    regions = find_regions(SOLVED)
    assert [(r.kind, r.name, r.indent) for r in regions] == [
        ("code", "Problem 9.1: implement f", "    "),
        ("answer", "Question 9.2", ""),
        ("code", "Problem 9.3: top level", ""),
    ]


def test_blank_replaces_solutions_by_named_stubs_and_empties_answers():
    blank = blank_notebook(SOLVED)
    first, answer, third = (c["source"] for c in blank["cells"])
    assert first == 'def f(x):\n    raise NotImplementedError("Problem 9.1: implement f")\n\nprint(f(1))'
    assert "Because it is so" not in answer and ANSWER_PLACEHOLDER in answer and "BEGIN ANSWER Question 9.2" in answer
    assert third == 'raise NotImplementedError("Problem 9.3: top level")'
    ast.parse(first), ast.parse(third)
    assert sorted(unfilled(blank)) == sorted(["Problem 9.1: implement f (cell 1)", "Question 9.2 (cell 2, empty answer)", "Problem 9.3: top level (cell 3)"])
    assert unfilled(SOLVED) == []


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION Problem 1\nx = 1", "is never closed"),
        ("x = 1\n### END SOLUTION", "END marker without a BEGIN marker"),
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "the region has no name"),
        ("### BEGIN SOLUTION A\n### BEGIN SOLUTION B\n### END SOLUTION", "a region starts inside the region"),
    ],
)
def test_malformed_regions_are_refused_with_the_reason(source, message):
    with pytest.raises(RegionError, match=message):
        find_regions(nb(("code", source)))


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
