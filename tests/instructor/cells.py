"""Run a notebook's code cells in this process, optionally with a mistake put in.

The tests of ``tests/instructor`` use this to ask: does the check after an
exercise catch a typical wrong answer? They take the solved notebook, replace
a snippet of the solution by the mistake, run the cells up to the check and
expect ``[FAIL]`` and :class:`helpers.checks.CheckFailed`::

    from tests.instructor.cells import expect_check_failure, run_cells

    # the solved notebook passes ...
    namespace, output = run_cells("01_inclass_pytorch", until="check 1.6")
    # ... and a loop without zero_grad fails the check
    output = expect_check_failure(
        "01_inclass_pytorch", until="check 1.6",
        replace={"optimizer.zero_grad()  #": "pass  #"})
    assert "[FAIL] 1.6" in output

How the cells run:

- in a fresh namespace (a new ``dict``), one cell after the other, in this
  Python process (imports are shared with the test process, so a second run
  does not pay for importing torch again);
- with the working directory ``notebooks/``, as papermill runs them;
- the cell tagged ``parameters`` runs first as written, then the overrides
  (``params``, by default ``quick=True``) are assigned, as papermill injects them;
- with matplotlib's non-interactive ``Agg`` backend; figures are closed afterwards;
- with ``WORKBOOK_BUILD_DIR`` pointing to a temporary folder, so a cell that
  saves results never writes into the repository's ``build/``;
- printing into a buffer: the text a cell prints (``sys.stdout``) is returned
  (and attached to the exception when a cell raises).

Selecting cells: ``until`` stops after a cell (inclusive), given by its index
in the notebook's list of cells (Markdown cells count, as in the ``.ipynb``
file) or by a marker, a string that the first matching code cell contains.
``skip`` leaves out cells the same way (indices or markers, each marker
naming the first code cell that contains it), e.g. slow plots that a check
does not need. ``start`` and ``namespace`` run a later stretch of cells in
the namespace an earlier run left, so that many tests can share one run of
the cells before an exercise.

Putting a mistake in: ``replace={"old": "new"}``. Every ``old`` must occur
exactly once in the code cells that run; otherwise :class:`SnippetError` says
how often and where it occurred, so a test cannot silently stop testing
anything when the notebook changes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

#: Default overrides of the ``parameters`` cell: the fast smoke mode.
QUICK = {"quick": True}

CellRef = int | str


class SnippetError(ValueError):
    """A ``replace`` snippet matched no code cell, or more than one place."""


class MarkerError(ValueError):
    """An ``until`` or ``skip`` marker names no cell."""


def notebook_path(notebook: str | os.PathLike) -> Path:
    """``"01_inclass_pytorch"`` -> ``<repo>/notebooks/01_inclass_pytorch.ipynb``; a path stays."""
    path = Path(notebook)
    if path.suffix != ".ipynb":
        path = NOTEBOOKS / f"{notebook}.ipynb"
    if not path.exists():
        raise FileNotFoundError(f"no notebook at {path}")
    return path


def load_cells(notebook: str | os.PathLike) -> list[dict[str, Any]]:
    """The notebook's cells as ``{"index", "cell_type", "source", "tags"}`` dicts."""
    raw = json.loads(notebook_path(notebook).read_text(encoding="utf-8"))
    cells = []
    for index, cell in enumerate(raw["cells"]):
        source = cell["source"]
        cells.append({
            "index": index,
            "cell_type": cell["cell_type"],
            "source": "".join(source) if isinstance(source, list) else source,
            "tags": list(cell.get("metadata", {}).get("tags", [])),
        })
    return cells


def find_cell(cells: list[dict[str, Any]], ref: CellRef) -> int:
    """Index of the cell ``ref`` names: an index, or the first code cell containing a marker."""
    if isinstance(ref, int):
        if not 0 <= ref < len(cells):
            raise MarkerError(f"cell index {ref} is outside 0..{len(cells) - 1}")
        return ref
    for cell in cells:
        if cell["cell_type"] == "code" and ref in cell["source"]:
            return cell["index"]
    raise MarkerError(f"no code cell contains the marker {ref!r}")


def _apply_replacements(cells: list[dict[str, Any]], replace: Mapping[str, str]) -> None:
    for old, new in replace.items():
        if not old:
            raise SnippetError("an empty snippet cannot be replaced")
        places = [(cell["index"], cell["source"].count(old))
                  for cell in cells if old in cell["source"]]
        total = sum(count for _, count in places)
        if total != 1:
            where = ", ".join(f"cell {index} ({count}x)" for index, count in places) or "nowhere"
            raise SnippetError(
                f"snippet {old!r} must occur exactly once in the code cells that run; "
                f"it occurs {total} times: {where}")
        for cell in cells:
            if old in cell["source"]:
                cell["source"] = cell["source"].replace(old, new)


@contextlib.contextmanager
def _notebook_environment(workdir: Path):
    """cwd = notebooks/, Agg backend, a throw-away build directory, an empty record of
    the checks run (``helpers.checks.RECORDED``, as in a fresh kernel); all restored afterwards."""
    from helpers import checks

    old_recorded = list(getattr(checks, "RECORDED", []))
    if hasattr(checks, "RECORDED"):
        checks.RECORDED.clear()
    old_cwd = os.getcwd()
    old_build = os.environ.get("WORKBOOK_BUILD_DIR")
    old_backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    with tempfile.TemporaryDirectory(prefix="cells-build-") as build:
        os.environ["WORKBOOK_BUILD_DIR"] = build
        os.chdir(workdir)
        try:
            yield
        finally:
            os.chdir(old_cwd)
            plt.close("all")
            if hasattr(checks, "RECORDED"):
                checks.RECORDED[:] = old_recorded
            for key, old in (("WORKBOOK_BUILD_DIR", old_build), ("MPLBACKEND", old_backend)):
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old


def run_cells(notebook: str | os.PathLike, *, until: CellRef | None = None,
              skip: Iterable[CellRef] = (), replace: Mapping[str, str] | None = None,
              params: Mapping[str, Any] | None = None, start: CellRef | None = None,
              namespace: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], str]:
    """Execute the notebook's code cells; return (namespace, printed text).

    notebook: a name in ``notebooks/`` (``"01_inclass_pytorch"``) or a path.
    until: the last cell to run (index or marker, inclusive); None runs all.
    skip: cells not to run (indices or markers).
    replace: ``{old: new}`` source edits; each ``old`` must occur exactly once
        in the code cells that run (else :class:`SnippetError`).
    params: overrides assigned after the ``parameters`` cell (default ``quick=True``).
    start, namespace: to run only a later stretch of cells, the first cell to
        run (index or marker) and a namespace to start from, e.g. one returned
        by an earlier call that ran the cells before it. The namespace is
        copied (one level deep), so that the earlier one stays as it was.

    When a cell raises, the exception propagates unchanged, carrying the text
    printed so far as ``err.notebook_output`` and a note naming the cell.
    """
    cells = load_cells(notebook)
    first = find_cell(cells, start) if start is not None else 0
    last = find_cell(cells, until) if until is not None else len(cells) - 1
    skipped = {find_cell(cells, ref) for ref in skip}
    to_run = [c for c in cells[first: last + 1]
              if c["cell_type"] == "code" and c["index"] not in skipped]
    _apply_replacements(to_run, dict(replace or {}))
    overrides = dict(QUICK if params is None else params)

    namespace = dict(namespace) if namespace is not None else {"__name__": "__main__"}
    buffer = io.StringIO()
    workdir = notebook_path(notebook).parent
    with _notebook_environment(workdir), contextlib.redirect_stdout(buffer):
        for cell in to_run:
            try:
                label = f"<{Path(str(notebook)).stem} cell {cell['index']}>"
                code = compile(cell["source"], label, "exec")
                exec(code, namespace)
            except BaseException as err:
                err.notebook_output = buffer.getvalue()
                first_line = cell["source"].splitlines()[0] if cell["source"] else ""
                err.add_note(f"raised in notebook cell {cell['index']}: {first_line}")
                raise
            if "parameters" in cell["tags"]:
                namespace.update(overrides)
    return namespace, buffer.getvalue()


def expect_check_failure(notebook: str | os.PathLike, **kwargs: Any) -> str:
    """Run like :func:`run_cells` and require that a check fails; return the printed text.

    Passes when a cell raised :class:`helpers.checks.CheckFailed` and the output
    holds a ``[FAIL]`` line. Raises ``AssertionError`` (with the output) when
    the cells ran through, or when they stopped with another error: a mistake
    must be caught by a check, not by a crash somewhere else.
    """
    from helpers.checks import FAIL_TAG, CheckFailed

    try:
        _, output = run_cells(notebook, **kwargs)
    except CheckFailed as err:
        output = err.notebook_output
        assert FAIL_TAG in output, f"CheckFailed without a {FAIL_TAG} line:\n{output}"
        return output
    except Exception as err:  # noqa: BLE001 - reported with the output
        raise AssertionError(
            f"expected a failing check, but a cell raised {type(err).__name__}: {err}\n"
            f"--- output ---\n{getattr(err, 'notebook_output', '')}") from err
    raise AssertionError(f"expected a failing check, but every cell ran through:\n{output}")


def fail_lines(output: str) -> list[str]:
    """The ``[FAIL] ...`` lines of ``output``."""
    return [line for line in output.splitlines() if line.startswith("[FAIL]")]
