"""Marking a partial submission: a visible note at every exercise that is not finished.

``make pdf PARTIAL=1`` hands in what there is. So that nothing in such a PDF
looks like a pass that was not one, every cell with an unfinished exercise, a
failed check or an error gets a Markdown note right before it, e.g.

    > **NOT DONE.** Problem 3.2: implement MLP.forward: not filled in (NotImplementedError)
"""

from __future__ import annotations

import re
from typing import Any

from .check import CHECK_FAILED, ERROR, NOT_DONE, cell_problems

LABELS = {NOT_DONE: "NOT DONE", CHECK_FAILED: "CHECK FAILED", ERROR: "ERROR"}
EXPLAIN = {
    NOT_DONE: "This exercise is not finished.",
    CHECK_FAILED: "The check below compared the answer with its reference and it did not match.",
    ERROR: "The cell below raised an error; it may depend on an unfinished exercise above.",
}


def _literal(text: str) -> str:
    """``text`` as Markdown that shows it as it is (``__init__`` is not bold, ``*`` no emphasis)."""
    return re.sub(r"([\\`*_{}\[\]<>#|~$])", r"\\\1", text)


def note_text(kind: str, what: str) -> str:
    return f"> **{LABELS[kind]}.** {_literal(what)}\n>\n> *{EXPLAIN[kind]}*"


def mark_problems(nb: Any) -> int:
    """Insert a note before every cell of ``nb`` (an nbformat node) that has a problem; return how many."""
    import nbformat

    # papermill's own notes say that execution "stopped" at the first error; in a partial build it did not
    nb.cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
    problems = cell_problems(nb)
    by_cell: dict[int, list[str]] = {}
    for problem in problems:
        notes = by_cell.setdefault(problem.cell, [])
        if note_text(problem.kind, problem.what) not in notes:
            notes.append(note_text(problem.kind, problem.what))
    for index in sorted(by_cell, reverse=True):  # from the bottom, so indices stay valid
        note = nbformat.v4.new_markdown_cell("\n\n".join(by_cell[index]))
        note.metadata["tags"] = ["workbook-problem-note"]
        nb.cells.insert(index, note)
    return len(problems)
