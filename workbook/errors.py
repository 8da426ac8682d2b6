"""Every error a user of the build can see. Each message names the problem and the fix.

The command line (:mod:`workbook.cli`) prints these as one ``error: ...`` block
and exits non-zero; no Python traceback reaches the user for them.
"""

from __future__ import annotations

import re

#: Errors Python raises before a cell runs at all: it could not read the cell.
UNREADABLE = ("SyntaxError", "IndentationError", "TabError")
#: IPython names a cell's code after a temporary file ("(2915528126.py, line 8)" or "(<string>, line 8)").
_CELL_FILE = re.compile(r"\((?:[^()\s]+\.py|<[^>]*>), line (\d+)\)")


def cell_error_text(ename: str, evalue: str) -> str:
    """An error of a cell as a student reads it: a syntax error's line counted in the cell, not in a temporary file."""
    if ename in UNREADABLE:
        evalue = _CELL_FILE.sub(r"(line \1 of the cell)", evalue)
    return evalue


class WorkbookError(RuntimeError):
    """Base class: a problem the user can fix; the message says how."""


class BuildError(WorkbookError):
    """A build step failed (a notebook, the environment, the build directory, the configuration)."""


class ExportError(WorkbookError):
    """A notebook could not be exported to PDF."""


class ReleaseError(WorkbookError):
    """The student release could not be made."""
