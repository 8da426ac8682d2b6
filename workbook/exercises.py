"""Exercise regions: finding them, blanking them, and spotting unfilled ones.

The syntax (see CONTRIBUTING.md):

- code: ``### BEGIN SOLUTION <exercise name>`` ... ``### END SOLUTION`` inside a
  code cell; the blank copy replaces the region by
  ``raise NotImplementedError("<exercise name>")`` at the marker's indentation;
- written answers: ``<!-- BEGIN ANSWER <question> -->`` ... ``<!-- END ANSWER -->``
  in a Markdown cell; the blank copy keeps the markers around an empty slot.

Works on notebooks as plain dicts (``nbformat`` nodes are dicts too), so it
needs no Jupyter import.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

BEGIN_CODE = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION\b[ \t]*(?P<name>.*?)\s*$")
END_CODE = re.compile(r"^[ \t]*### END SOLUTION\b")
BEGIN_ANSWER = re.compile(r"^\s*<!--\s*BEGIN ANSWER\b\s*(?P<name>.*?)\s*-->\s*$")
END_ANSWER = re.compile(r"^\s*<!--\s*END ANSWER\s*-->\s*$")
#: What a blank answer slot holds; an answer still equal to it counts as unfilled.
ANSWER_PLACEHOLDER = "*Write your answer here.*"
#: The line a blank code region becomes (a regex to recognise it again).
STUB = re.compile(r"""raise NotImplementedError\((?P<q>["'])(?P<name>.+?)(?P=q)\)""")


class RegionError(ValueError):
    """A solution or answer region is malformed (unclosed, nested, unnamed)."""


@dataclass(frozen=True)
class Region:
    """One exercise region: where it is and what it is called."""

    cell: int  # index of the cell in the notebook (0-based; messages count from 1)
    kind: str  # "code" or "answer"
    name: str
    start: int  # line index of the BEGIN marker
    end: int  # line index of the END marker
    indent: str = ""


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _scan(lines: list[str], cell_index: int, kind: str, notebook: str) -> list[Region]:
    begin, end = (BEGIN_CODE, END_CODE) if kind == "code" else (BEGIN_ANSWER, END_ANSWER)
    regions, open_at, open_match = [], None, None
    where = f"{notebook} cell {cell_index + 1}"
    end_line = "### END SOLUTION" if kind == "code" else "<!-- END ANSWER -->"
    for i, line in enumerate(lines):
        m = begin.match(line)
        if m:
            if open_at is not None:
                raise RegionError(f"{where} line {i + 1}: a region starts inside the region opened on line {open_at + 1}; "
                                  f"close that one first: put its line '{end_line}' back where your answer ends")
            if not m.group("name"):
                raise RegionError(f"{where} line {i + 1}: the region has no name; write e.g. '### BEGIN SOLUTION Problem 3.2: implement MLP.forward'")
            open_at, open_match = i, m
        elif end.match(line):
            if open_at is None:
                raise RegionError(f"{where} line {i + 1}: END marker without a BEGIN marker; "
                                  "put the region's BEGIN line back, or remove this END line")
            indent = open_match.groupdict().get("indent") or ""
            regions.append(Region(cell_index, kind, open_match.group("name"), open_at, i, indent))
            open_at = None
    if open_at is not None:
        raise RegionError(f"{where} line {open_at + 1}: region '{open_match.group('name')}' is never closed; "
                          f"put its line '{end_line}' back where your answer ends")
    return regions


def find_regions(nb: dict[str, Any], notebook: str = "notebook") -> list[Region]:
    """All exercise regions of a notebook, in order."""
    regions: list[Region] = []
    for index, cell in enumerate(nb.get("cells", [])):
        kind = {"code": "code", "markdown": "answer"}.get(cell.get("cell_type"))
        if kind:
            regions += _scan(_source(cell).splitlines(), index, kind, notebook)
    return regions


def blank_notebook(nb: dict[str, Any], notebook: str = "notebook") -> dict[str, Any]:
    """Return a copy of ``nb`` with every solution replaced by a stub and every answer emptied.

    Outputs and execution counts are cleared, so no solution output survives either.
    """
    blank = copy.deepcopy(nb)
    by_cell: dict[int, list[Region]] = {}
    for region in find_regions(nb, notebook):
        by_cell.setdefault(region.cell, []).append(region)
    for index, cell in enumerate(blank.get("cells", [])):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        regions = by_cell.get(index)
        if not regions:
            continue
        lines = _source(cell).splitlines()
        for region in reversed(regions):  # from the bottom, so indices stay valid
            if region.kind == "code":
                stub = [f'{region.indent}raise NotImplementedError("{region.name}")']
            else:
                stub = [lines[region.start], ANSWER_PLACEHOLDER, lines[region.end]]
            lines[region.start : region.end + 1] = stub
        cell["source"] = "\n".join(lines)
    # the list of exercises travels with the copy, so a count of them never shrinks as stubs are filled in
    blank.setdefault("metadata", {}).setdefault("workbook", {})["exercises"] = [
        r.name for r in find_regions(nb, notebook)]
    return blank


def exercise_count(nb: dict[str, Any], notebook: str = "notebook") -> int:
    """How many exercises ``nb`` has: the list a blank copy records, else its regions and stubs."""
    ours = nb.get("metadata", {}).get("workbook")
    recorded = ours.get("exercises") if isinstance(ours, dict) else None
    if isinstance(recorded, list) and recorded:
        return len(recorded)
    return len(find_regions(nb, notebook)) + stub_count(nb)


def stub_count(nb: dict[str, Any]) -> int:
    """How many blanked code exercises (stubs left by :func:`blank_notebook`) ``nb`` holds."""
    return sum(len(STUB.findall(_source(c))) for c in nb.get("cells", []) if c.get("cell_type") == "code")


def unfilled(nb: dict[str, Any], notebook: str = "notebook") -> list[str]:
    """Names of exercises still blank in ``nb``: code stubs left in place, answer slots left empty."""
    names = []
    for index, cell in enumerate(nb.get("cells", [])):
        text = _source(cell)
        if cell.get("cell_type") == "code":
            names += [f"{m.group('name')} (cell {index + 1})" for m in STUB.finditer(text)]
    for region in find_regions(nb, notebook):
        if region.kind == "answer":
            lines = _source(nb["cells"][region.cell]).splitlines()
            body = "\n".join(lines[region.start + 1 : region.end]).strip()
            if not body or body == ANSWER_PLACEHOLDER:
                names.append(f"{region.name} (cell {region.cell + 1}, empty answer)")
    return names
