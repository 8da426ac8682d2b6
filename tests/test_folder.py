"""The folder is the unit: a copied workbook runs its own helpers and data, and says how to repair its environment."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from helpers import paths
from tests.conftest import PYTHON, make_notebook

SHOW_ROOT = make_notebook("Which folder", [
    ("code", "import helpers.paths\nprint('HELPERS-ROOT', helpers.paths.ROOT)"),
    ("code", "from helpers.data import load_mnist1d\nprint('loaded', load_mnist1d()['x'].shape)"),
])


def _copy_workbook(dest: Path) -> Path:
    """A copy of the workbook's files, as a student's backup would be (without build products)."""
    shutil.copytree(paths.ROOT, dest, ignore=shutil.ignore_patterns(".venv", "build", ".git", "__pycache__", "*.egg-info",
                                                                   ".pytest_cache", ".whl", ".gl"))
    return dest


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBOOK_") and k != "PYTHONPATH"}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


@pytest.mark.slow
def test_a_copied_folder_reads_its_own_helpers_and_data(tmp_path):
    copy = _copy_workbook(tmp_path / "course copy")
    notebooks = tmp_path / "nb"
    notebooks.mkdir()
    nbformat.write(SHOW_ROOT, notebooks / "02_homework_linear_vs_relu.ipynb")
    (copy / ".venv").mkdir()  # the copy has an environment of its own name, but the build runs another's
    blob = bytearray((copy / "data" / "mnist1d.npz").read_bytes())
    blob[2000] ^= 1  # the copy's data differ from the original's: the build must read the copy's
    (copy / "data" / "mnist1d.npz").write_bytes(bytes(blob))
    result = subprocess.run(
        [PYTHON, "-m", "workbook", "run", "--quick=1", "--only=02_homework_linear_vs_relu"],
        cwd=copy, env=_clean_env(WORKBOOK_NOTEBOOKS_DIR=str(notebooks)), capture_output=True, text=True, timeout=300,
    )
    print(result.stdout[-2000:], result.stderr[-2000:])
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert f"data file corrupted: {copy / 'data' / 'mnist1d.npz'}" in result.stderr
    assert "was copied or moved" in result.stdout and "make setup" in result.stdout
    failed = (copy / "build" / "executed" / "02_homework_linear_vs_relu.failed.ipynb").read_text(encoding="utf-8")
    assert f"HELPERS-ROOT {copy}" in failed  # the kernel imported the copy's helpers, not the original's
    assert "Traceback" not in result.stderr


def test_setup_runs_again_in_a_copied_folder(tmp_path):
    copy = _copy_workbook(tmp_path / "moved")
    stamp = copy / ".venv" / ".installed"
    stamp.parent.mkdir()
    stamp.write_text(f"{paths.ROOT}\n", encoding="utf-8")  # set up for the original folder
    dry = subprocess.run(["make", "-n", "setup"], cwd=copy, capture_output=True, text=True)
    assert "pip install" in dry.stdout and f'echo "{copy}" > .venv/.installed' in dry.stdout, dry.stdout
    stamp.write_text(f"{copy}\n", encoding="utf-8")  # set up for this folder: nothing to do
    again = subprocess.run(["make", "-n", "setup"], cwd=copy, capture_output=True, text=True)
    assert "pip install" not in again.stdout, again.stdout
