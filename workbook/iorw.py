"""All reading and writing of the build's files.

Atomic writes, hashes and JSON come from :mod:`helpers.files` (written once, for
the notebooks' library and for this tool); this module adds reading notebooks
with errors a student can act on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import paths
from helpers.files import atomic_write, content_hash, read_json, sha256, tree_hash, write_json

from .errors import BuildError

__all__ = ["atomic_write", "content_hash", "read_json", "sha256", "tree_hash", "write_json", "load_notebook_json",
           "notebook_source", "notebook_text"]


def notebook_text(nb: dict[str, Any]) -> str:
    """A notebook as the workbook writes it: JSON indented by one, non-ASCII as it is, a final newline."""
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def notebook_source(name: str) -> Path:
    """The source notebook ``notebooks/<name>.ipynb`` (honours ``WORKBOOK_NOTEBOOKS_DIR``)."""
    return paths.NOTEBOOKS / f"{name}.ipynb"


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(paths.ROOT))
    except ValueError:
        return str(path)


def load_notebook_json(path: Path) -> dict[str, Any]:
    """Read a notebook as JSON, with a clear error when the file is not a notebook."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise BuildError(f"notebook missing: {path}.\nFix: restore it with `git checkout -- {_shown(path)}`.") from err
    except UnicodeDecodeError as err:
        raise BuildError(f"{path.name} is not a text file (not UTF-8).\nFix: restore it with `git checkout -- {_shown(path)}`.") from err
    try:
        nb = json.loads(text)
    except ValueError as err:
        raise BuildError(
            f"{path.name} is not a valid notebook: broken JSON at line {getattr(err, 'lineno', '?')}, "
            f"column {getattr(err, 'colno', '?')} ({getattr(err, 'msg', err)}).\n"
            f"Fix: open it in JupyterLab's text editor and repair it, or restore the last committed version with "
            f"`git checkout -- notebooks/{path.name}` (that discards your changes to it)."
        ) from err
    if not isinstance(nb, dict) or "cells" not in nb:
        raise BuildError(f"{path.name} is JSON but not a notebook (no 'cells').\nFix: restore it with `git checkout -- notebooks/{path.name}`.")
    return nb
