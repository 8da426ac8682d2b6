"""The pre-submission check (``make check``): every problem of every notebook, at once.

For each notebook: unfilled exercises (from the source), a failed execution,
error outputs, ``[FAIL]`` lines of checks, and gaps in the execution order.
The result is a :class:`Report` (data); :meth:`Report.table` renders it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helpers.checks import FAIL_TAG, PASS_TAG

from . import exercises
from .errors import BuildError, cell_error_text
from .execute import ExecutionFailure, executed_dir
from .iorw import load_notebook_json, notebook_source, read_json


#: What can be wrong with an exercise, as the report, the cover page and the PDF name it.
NOT_DONE, CHECK_FAILED, ERROR = "not done", "check failed", "error"
KINDS = (NOT_DONE, CHECK_FAILED, ERROR)
#: Tags of cells that are not the student's: papermill's parameters cell, papermill's notices of an error
#: (PARTIAL=1 keeps executing after one), and the build's own notes; cell numbers skip them.
ADDED_TAGS = frozenset({"injected-parameters", "papermill-error-cell-tag", "workbook-problem-note"})


@dataclass(frozen=True)
class CellProblem:
    """Something wrong in one cell of an executed notebook."""

    cell: int  # index into the executed notebook's cells
    kind: str  # NOT_DONE, CHECK_FAILED or ERROR
    what: str


@dataclass
class NotebookStatus:
    name: str
    problems: list[str] = field(default_factory=list)
    checks_passed: int = 0
    exercises: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))  # per kind, for the cover
    markers: str = ""  # a broken solution or answer marker (unclosed, nested, unnamed): the cover says so

    @property
    def unfinished(self) -> bool:
        """Whether the cover of a partial submission must mark this notebook as not complete."""
        return any(self.counts.values()) or bool(self.markers)

    def count_line(self) -> str:
        """E.g. ``2 not done, 1 check failed, 0 errors``."""
        return ", ".join(f"{n} {k if k != ERROR or n == 1 else 'errors'}" for k, n in self.counts.items())


@dataclass
class Report:
    notebooks: list[NotebookStatus]

    @property
    def ok(self) -> bool:
        return all(not n.problems for n in self.notebooks)

    def table(self) -> str:
        width = max(len(n.name) for n in self.notebooks)
        lines = [f"{'notebook':<{width}}  {'exercises':>9}  {'checks':>6}  status", "-" * (width + 40)]
        for n in self.notebooks:
            status = "ready" if not n.problems else f"{len(n.problems)} problem(s)"
            lines.append(f"{n.name:<{width}}  {n.exercises:>9}  {n.checks_passed:>6}  {status}")
            lines += [f"{'':<{width}}    - {p}" for p in n.problems]
        lines.append("(exercises: code and written answers to fill in; checks: [PASS] lines printed, "
                     "up to the failure in a notebook that failed)")
        return "\n".join(lines)

    def summary(self) -> str:
        count = sum(len(n.problems) for n in self.notebooks)
        return (
            f"the submission is not ready: {count} problem(s) in "
            f"{', '.join(n.name for n in self.notebooks if n.problems)} (see the table above).\n"
            "Fix each one, then run `make check` again.\n"
            "To hand in what you have anyway, run `make pdf PARTIAL=1` (python -m workbook pdf --partial=1): every "
            "cell is executed, also after an error, and the PDF marks each unfinished exercise as "
            "NOT DONE, CHECK FAILED or ERROR."
        )


def _text_outputs(cell: dict[str, Any]) -> str:
    parts = []
    for output in cell.get("outputs", []):
        text = output.get("text", "")
        parts.append("".join(text) if isinstance(text, list) else text)
    return "".join(parts)


def _answer_gaps(cell: dict[str, Any], index: int) -> list[CellProblem]:
    lines = "".join(cell.get("source", "")).splitlines()
    gaps = []
    for region in exercises.find_regions({"cells": [cell]}):
        if region.kind == "answer":
            body = "\n".join(lines[region.start + 1: region.end]).strip()
            if not body or body == exercises.ANSWER_PLACEHOLDER:
                gaps.append(CellProblem(index, NOT_DONE, f"{region.name}: the answer is empty"))
    return gaps


def cell_problems(nb: dict[str, Any]) -> list[CellProblem]:
    """Every cell of an executed notebook that shows an unfinished exercise, a failed check or an error."""
    found: list[CellProblem] = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") == "markdown":
            try:
                found += _answer_gaps(cell, index)
            except exercises.RegionError:
                pass  # reported by the check of the source notebook
            continue
        if cell.get("cell_type") != "code":
            continue
        fail_lines = [ln[len(FAIL_TAG):].strip() for ln in _text_outputs(cell).splitlines() if ln.startswith(FAIL_TAG)]
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        # every stub left in this cell, also one that never ran (3.2's forward after its __init__ stopped)
        stubs = [f"{m.group('name')}: not filled in (NotImplementedError)"
                 for m in exercises.STUB.finditer("".join(cell.get("source", "")))]
        found += [CellProblem(index, NOT_DONE, what) for what in stubs]
        for line in fail_lines:
            found.append(CellProblem(index, CHECK_FAILED, line))
        for error in errors:
            name, value = error.get("ename", "Error"), str(error.get("evalue", ""))
            if name == "NotImplementedError":
                what = f"{value or 'an exercise'}: not filled in (NotImplementedError)"
                if what not in stubs:  # a stub's own error is that stub's note already
                    found.append(CellProblem(index, NOT_DONE, what))
            elif name == "CheckFailed":
                if not fail_lines:
                    found.append(CellProblem(index, CHECK_FAILED, value[:160]))
            else:
                found.append(CellProblem(index, ERROR, f"{name}: {cell_error_text(name, value)[:160]}"))
    return found


def _failed(cell: dict[str, Any]) -> bool:
    """Whether a code cell printed a failed check or raised an error."""
    text = _text_outputs(cell)
    return (any(ln.startswith(FAIL_TAG) for ln in text.splitlines())
            or any(o.get("output_type") == "error" for o in cell.get("outputs", [])))


def checks_passed(nb: dict[str, Any]) -> int:
    """The [PASS] lines of an executed notebook, in cells that did not fail.

    A [PASS] printed in a cell that then failed (a check that stopped at an
    unfinished exercise) does not count: nothing may look like a pass that was not one.
    """
    return sum(_text_outputs(cell).count(PASS_TAG) for cell in nb.get("cells", [])
               if cell.get("cell_type") == "code" and not _failed(cell))


def inspect_executed(nb: dict[str, Any], status: NotebookStatus) -> None:
    """Add to ``status`` what is wrong with an executed notebook (errors, failed checks, gaps in execution).

    Unfilled exercises and empty answers are listed from the source notebook
    (:func:`check_notebooks`); here they are only counted, once per exercise.
    """
    added = 0  # cells papermill put in: its parameters cell, and its error notices (PARTIAL=1)
    numbers: list[int] = []
    for index, cell in enumerate(nb.get("cells", [])):
        if set(cell.get("metadata", {}).get("tags", [])) & ADDED_TAGS:
            added += 1  # number the rest as the student's notebook does
        numbers.append(index + 1 - added)  # 1-based, as in the student's notebook
    status.checks_passed = checks_passed(nb)
    seen: set[tuple[str, str]] = set()
    for problem in cell_problems(nb):
        if (problem.kind, problem.what) in seen and problem.kind != ERROR:
            continue  # an unfilled exercise also stops its check: one exercise, counted once
        seen.add((problem.kind, problem.what))
        status.counts[problem.kind] += 1
        if problem.kind != NOT_DONE:  # unfilled exercises are listed from the source notebook
            status.problems.append(f"cell {numbers[problem.cell]}: {problem.kind}: {problem.what}")
    expected_count = 1
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code" or not "".join(cell.get("source", "")).strip():
            continue
        count = cell.get("execution_count")
        if count != expected_count:
            shown = "never executed" if count is None else f"execution count {count}, expected {expected_count}"
            status.problems.append(f"cell {numbers[index]}: not executed top to bottom in one fresh kernel ({shown})")
            break
        expected_count += 1


def check_notebooks(names: tuple[str, ...], failures: list[ExecutionFailure]) -> Report:
    """The pre-submission check of every notebook, all problems at once."""
    failed = {f.name: f.message for f in failures}
    statuses = []
    for name in names:
        status = NotebookStatus(name)
        statuses.append(status)
        try:
            source = load_notebook_json(notebook_source(name))
            status.exercises = exercises.exercise_count(source, name)
            status.problems += [f"unfilled exercise: {u}" for u in exercises.unfilled(source, name)]
        except BuildError as err:  # the notebook cannot be read at all
            status.problems.append(str(err).splitlines()[0])
            continue
        except exercises.RegionError as err:  # still report what the executed copy shows, below
            status.markers = str(err).splitlines()[0]
            status.problems.append(status.markers)
        if name in failed:
            first = failed[name].splitlines()
            detail = " ".join(line.strip() for line in first[:2])
            listed = any(p.startswith("unfilled exercise") for p in status.problems)
            if "NotImplementedError" not in detail or not listed:  # unfilled exercises are listed already
                status.problems.append(f"execution failed: {detail}; the executed copy is stale or missing "
                                       f"until this is fixed ({first[-1].strip()})")
            failed_copy = read_json(executed_dir() / f"{name}.failed.ipynb")  # this run's, up to the failure
            status.checks_passed = checks_passed(failed_copy) if failed_copy else 0
            continue
        executed = executed_dir() / f"{name}.ipynb"
        nb = read_json(executed)
        if nb is None:
            status.problems.append(f"not executed: {executed} is missing; run `make run`")
            continue
        inspect_executed(nb, status)
        if not nb.get("metadata", {}).get("papermill"):
            status.problems.append("not executed by the build (no papermill record); run `make run`")
    return Report(statuses)
