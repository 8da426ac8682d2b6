"""Every error a user of the build can see. Each message names the problem and the fix.

The command line (:mod:`workbook.cli`) prints these as one ``error: ...`` block
and exits non-zero; no Python traceback reaches the user for them.
"""

from __future__ import annotations


class WorkbookError(RuntimeError):
    """Base class: a problem the user can fix; the message says how."""


class BuildError(WorkbookError):
    """A build step failed (a notebook, the environment, the build directory, the configuration)."""


class ExportError(WorkbookError):
    """A notebook could not be exported to PDF."""


class ReleaseError(WorkbookError):
    """The student release could not be made."""
