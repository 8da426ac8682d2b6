"""The folder is the unit: a copied or moved workbook runs its own notebooks, helpers and data.

A virtual environment remembers the folder it was made in: its editable
install points there, and so does the Jupyter kernel it registers. In a copy
of the workbook (a backup, a renamed course folder) both would still lead to
the original folder's ``helpers`` and data. So:

- every kernel the workbook starts (the build's, JupyterLab's) gets this
  folder first on ``PYTHONPATH``: whatever the environment's editable install
  says, ``import helpers`` finds this folder's package, and with it this
  folder's data (:func:`use_this_folder`);
- :func:`foreign_environment` tells when the environment or its kernel belongs
  to another folder; the build then says so and names the repair, `make setup`,
  which redoes the install for this folder (the Makefile records the folder
  the environment was set up for).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from helpers import paths


def use_this_folder(env: dict[str, str] | None = None) -> dict[str, str]:
    """Put this workbook folder first on ``PYTHONPATH`` in ``env`` (default: this process's environment)."""
    env = os.environ if env is None else env
    root = str(paths.ROOT)
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    env["PYTHONPATH"] = os.pathsep.join([root, *rest])
    return env


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except (ValueError, OSError):
        return False


def kernel_python() -> Path | None:
    """The interpreter the workbook kernel starts (its kernel spec's ``argv[0]``), or None if unregistered."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

        spec = KernelSpecManager().get_kernel_spec(paths.KERNEL_NAME)
    except (ImportError, NoSuchKernel, OSError, ValueError):
        return None
    return Path(spec.argv[0]) if spec.argv else None


def foreign_environment() -> tuple[str | None, bool]:
    """How this folder's environment belongs to another folder (None when it is its own), and whether that is fatal.

    Fatal: the kernel's interpreter is gone (the original folder was moved), so
    no notebook can run. Otherwise the build runs correctly (this folder's code
    and data, through :func:`use_this_folder`) and only warns.

    Only a virtual environment inside this folder (``.venv``) is judged; a
    conda environment or a system Python is the student's own choice.
    """
    local_venv = paths.ROOT / ".venv"
    if not local_venv.exists():
        return None, False
    problems, fatal = [], False
    prefix = Path(sys.prefix)
    if sys.prefix != sys.base_prefix and not _inside(prefix, paths.ROOT):
        problems.append(f"the build runs in the environment {prefix}, which belongs to another folder")
    python = kernel_python()
    if python is not None and not python.exists():
        problems.append(f"the Jupyter kernel '{paths.KERNEL_NAME}' starts {python}, which no longer exists")
        fatal = True
    elif python is not None and _inside(prefix, paths.ROOT) and not _inside(python.parent.parent, paths.ROOT):
        problems.append(f"the Jupyter kernel '{paths.KERNEL_NAME}' starts {python}, from another folder")
    if not problems:
        return None, False
    return (
        f"this workbook folder ({paths.ROOT}) was copied or moved: " + "; ".join(problems) + ".\n"
        "Fix: run `make setup` in this folder (it installs the environment for this folder and registers its kernel).",
        fatal,
    )
