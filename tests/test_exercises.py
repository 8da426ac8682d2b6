"""Exercise regions: blanking leaves no solution behind, and unfilled work is found."""

from __future__ import annotations

import ast

import pytest

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


