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
from .errors import BuildError
from .execute import ExecutionFailure, executed_dir
from .iorw import load_notebook_json, notebook_source, read_json


@dataclass
class NotebookStatus:
    name: str
    problems: list[str] = field(default_factory=list)
    checks_passed: int = 0
    exercises: int = 0


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
        return "\n".join(lines)

    def summary(self) -> str:
        count = sum(len(n.problems) for n in self.notebooks)
        return (
            f"the submission is not ready: {count} problem(s) in "
            f"{', '.join(n.name for n in self.notebooks if n.problems)} (see the table above).\n"
            "Fix each one, then run `make check` again."
        )


def _text_outputs(cell: dict[str, Any]) -> str:
    parts = []
    for output in cell.get("outputs", []):
        text = output.get("text", "")
        parts.append("".join(text) if isinstance(text, list) else text)
    return "".join(parts)


def inspect_executed(nb: dict[str, Any], status: NotebookStatus) -> None:
    """Add to ``status`` what is wrong with an executed notebook (errors, failed checks, gaps in execution)."""
    expected_count, injected = 1, 0
    for index, cell in enumerate(nb.get("cells", [])):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            injected = 1  # papermill's cell: number the rest as the student's notebook does
        cell_no = index + 1 - injected  # 1-based, as in the student's notebook
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", ""))
        text = _text_outputs(cell)
        status.checks_passed += text.count(PASS_TAG)
        for line in text.splitlines():
            if line.startswith(FAIL_TAG):
                status.problems.append(f"cell {cell_no}: failing check: {line[len(FAIL_TAG):].strip()}")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") not in {"NotImplementedError", "CheckFailed"}:
                status.problems.append(f"cell {cell_no}: error output {output.get('ename')}: {str(output.get('evalue', ''))[:120]}")
        count = cell.get("execution_count")
        if not source.strip():
            continue
        if count != expected_count:
            shown = "never executed" if count is None else f"execution count {count}, expected {expected_count}"
            status.problems.append(f"cell {cell_no}: not executed top to bottom in one fresh kernel ({shown})")
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
            status.exercises = len(exercises.find_regions(source, name))
            status.problems += [f"unfilled exercise: {u}" for u in exercises.unfilled(source, name)]
        except (BuildError, exercises.RegionError) as err:
            status.problems.append(str(err).splitlines()[0])
            continue
        if name in failed:
            first = failed[name].splitlines()
            detail = " ".join(line.strip() for line in first[:2])
            if "NotImplementedError" not in detail:  # unfilled exercises are listed above already
                status.problems.append(f"execution failed: {detail}")
            status.problems.append(f"the executed copy is stale or missing until the failure is fixed ({first[-1].strip()})")
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
