"""Every path the workbook uses, defined once.

The build directory defaults to ``<repo>/build`` and can be moved with the
environment variable ``WORKBOOK_BUILD_DIR`` (the tests build into a temporary
directory this way; executed notebooks inherit it, so their results land in
the same place). ``WORKBOOK_NOTEBOOKS_DIR`` and ``WORKBOOK_DATA_DIR`` move the
notebooks and the data the same way; the tests use them to build small
throw-away notebooks and to break data files without touching the real ones.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = Path(os.environ.get("WORKBOOK_NOTEBOOKS_DIR", ROOT / "notebooks")).resolve()
DATA = Path(os.environ.get("WORKBOOK_DATA_DIR", ROOT / "data")).resolve()
HELPERS = ROOT / "helpers"
REQUIREMENTS = ROOT / "requirements.txt"
CONFIG = Path(os.environ.get("WORKBOOK_CONFIG", ROOT / "submission.toml")).resolve()

#: The problem notebooks, in the order they appear in the submission.
NOTEBOOK_NAMES = (
    "01_inclass_pytorch",
    "02_homework_linear_vs_relu",
    "03_exercise_mnist1d",
)

#: Name of the Jupyter kernel that set-up registers inside .venv.
KERNEL_NAME = "dl2-workbook"
KERNEL_DISPLAY_NAME = "Python 3 (DL II workbook)"


def build_dir() -> Path:
    """The build directory: ``$WORKBOOK_BUILD_DIR`` or ``<repo>/build``."""
    return Path(os.environ.get("WORKBOOK_BUILD_DIR", ROOT / "build")).resolve()


def results_dir() -> Path:
    """Where notebooks write their key figures as JSON."""
    return build_dir() / "results"
