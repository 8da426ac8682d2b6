"""Shared fixtures: a small throw-away workbook, and running the real build on it.

The mini workbook has the three notebook names of the real one, but each
notebook takes about a second to execute, so the build's behaviour (incremental
runs, failures, interruptions, the PDF) can be tested quickly. The real
notebooks are built once, in quick mode, by ``tests/instructor/test_e2e.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers import paths

PYTHON = sys.executable


def pytest_collection_modifyitems(config, items):
    """The tiers follow from the fixtures: a test that rebuilds a mini workbook (`mini`) is slow; one that
    reads the real build (`real_build`) is end to end. Reading the one shared mini build stays fast."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "real_build" in names:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)
        elif "mini" in names:
            item.add_marker(pytest.mark.slow)
KERNELSPEC = {"name": paths.KERNEL_NAME, "display_name": paths.KERNEL_DISPLAY_NAME, "language": "python"}


def make_notebook(title: str, cells: list[tuple[str, str]], tags: dict[int, list[str]] | None = None) -> nbformat.NotebookNode:
    """A notebook with a title cell, the standard parameters cell, then ``cells`` as (kind, source)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}, "title": title}
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {title}\n\nA small notebook for testing the build."))
    nb.cells.append(nbformat.v4.new_code_cell('quick = False\nseed = 0\ndevice = "auto"', metadata={"tags": ["parameters"]}))
    for i, (kind, source) in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        if tags and i in tags:
            cell.metadata["tags"] = tags[i]
        nb.cells.append(cell)
    return nb


MINI_NOTEBOOKS = {
    "01_inclass_pytorch": make_notebook(
        "Mini 1: checks and exercises",
        [
            ("code", "# an exercise\ndef double(x):\n    ### BEGIN SOLUTION Problem 1.1: implement double\n    return 2 * x\n    ### END SOLUTION"),
            ("code", "# its check\nfrom helpers.checks import check_close\ncheck_close('double(21)', double(21), 42, atol=0)"),
            ("markdown", "**Question 1.2** Why?\n\n**Answer:**\n<!-- BEGIN ANSWER Question 1.2 -->\nBecause $2 \\cdot 21 = 42$.\n<!-- END ANSWER -->"),
            ("code", "print('mini-one says hello, ü ß é α β γ 🐍')  # non-ASCII survives"),
        ],
    ),
    "02_homework_linear_vs_relu": make_notebook(
        "Mini 2: data",
        [
            ("code", "from helpers.data import load_mnist1d\nd = load_mnist1d()\nprint('mini-two loaded', d['x'].shape)"),
            ("code", "print('this input is hidden in the PDF: SECRET-INPUT')", ),
            ("code", "print('this whole cell is hidden in the PDF: SECRET-CELL')"),
            ("code", "x = 'a very long line ' * 12 + 'END-OF-LONG-LINE'\nprint(len(x))  # " + "w" * 150),
        ],
        tags={1: ["remove-input"], 2: ["remove-cell"]},
    ),
    "03_exercise_mnist1d": make_notebook(
        "Mini 3: a figure",
        [
            ("code", "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.title('mini-three figure')\nplt.show()\nprint('mini-three done')"),
        ],
    ),
}


def write_mini_notebooks(folder: Path, overrides: dict[str, nbformat.NotebookNode] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in {**MINI_NOTEBOOKS, **(overrides or {})}.items():
        nbformat.write(nb, folder / f"{name}.ipynb")


class Workbook:
    """A throw-away workbook: notebooks, data and build directory in a temporary folder."""

    def __init__(self, root: Path):
        self.root = root
        self.notebooks = root / "notebooks"
        self.data = root / "data"
        self.build = root / "build"

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            WORKBOOK_NOTEBOOKS_DIR=str(self.notebooks),
            WORKBOOK_DATA_DIR=str(self.data),
            WORKBOOK_BUILD_DIR=str(self.build),
            WORKBOOK_CONFIG=str(self.root / "submission.toml"),
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def build_cmd(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run ``python -m workbook ARGS`` against this workbook."""
        return subprocess.run(
            [PYTHON, "-m", "workbook", *args], env=env or self.env(), cwd=paths.ROOT,
            capture_output=True, text=True, timeout=timeout,
        )

    def copy(self, dest: Path) -> "Workbook":
        shutil.copytree(self.root, dest, symlinks=True)
        return Workbook(dest)


@pytest.fixture(scope="session")
def mini_built(tmp_path_factory) -> Workbook:
    """A mini workbook built once to a complete submission PDF (quick mode)."""
    root = tmp_path_factory.mktemp("mini-workbook")
    wb = Workbook(root)
    write_mini_notebooks(wb.notebooks)
    shutil.copytree(paths.DATA, wb.data)
    result = wb.build_cmd("pdf", "--quick=1")
    assert result.returncode == 0, result.stdout + result.stderr
    return wb


@pytest.fixture
def mini(mini_built, tmp_path) -> Workbook:
    """A private copy of the built mini workbook, to break as a test likes."""
    return mini_built.copy(tmp_path / "wb")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every regular file under ``folder`` with its bytes, to show nothing was destroyed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def stray_temporaries(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.name.startswith(".") and ".tmp" in p.name]


def executed_json(wb: Workbook, name: str) -> dict:
    return json.loads((wb.build / "executed" / f"{name}.ipynb").read_text(encoding="utf-8"))


def bare_path(folder: Path) -> str:
    """A PATH with only the basic tools `make pdf` needs: no xelatex, no pandoc, no Chromium.

    So the real build proves that the default engine needs nothing outside .venv.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for tool in ("make", "sh", "bash", "cat", "env", "rm", "uname"):
        found = shutil.which(tool)
        if found:
            (folder / tool).symlink_to(found)
    for missing in ("xelatex", "pandoc", "chromium", "google-chrome", "pdftoppm"):
        assert shutil.which(missing, path=str(folder)) is None
    return str(folder)


@pytest.fixture(scope="session")
def real_build(tmp_path_factory):
    """The real workbook built once with `make pdf QUICK=1` into a temporary build directory.

    Its PATH holds no xelatex, pandoc or Chromium: the default engine (Typst) needs none of them.
    """
    build = tmp_path_factory.mktemp("real-build")
    env = dict(os.environ, WORKBOOK_BUILD_DIR=str(build), WORKBOOK_CONFIG=str(build / "none.toml"), PYTHONUNBUFFERED="1",
               PATH=bare_path(tmp_path_factory.mktemp("bare-bin")))
    env.pop("WORKBOOK_PDF_ENGINE", None)
    result = subprocess.run(["make", "pdf", "QUICK=1"], cwd=paths.ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "PDF engine: Typst" in result.stdout, result.stdout[:2000]
    return build, result
