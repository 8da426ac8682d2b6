"""The solved notebooks' style: code lines of at most 100 characters, no pyflakes error, and the
conventions of the committed notebooks (no outputs, a comment on each code cell's first line,
the parameters cell, one name for the device and the optimiser).

On the instructor's side: in a student's copy the blanked exercises leave imports unused
and the student's own lines are theirs to format.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from helpers import paths


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *args], cwd=paths.ROOT,
                          capture_output=True, text=True)


def test_notebook_code_fits_100_characters_and_lints_clean():
    result = _ruff("notebooks")
    print(result.stdout[-3000:])
    assert result.returncode == 0, "ruff found problems in the notebooks (line length 100, pyflakes):\n" + result.stdout


def _notebook(name: str) -> dict:
    return json.loads((paths.NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_problem1_notebook_conventions():
    nb = _notebook("01_inclass_pytorch")
    assert nb["metadata"]["kernelspec"] == {"name": "dl2-workbook",
                                            "display_name": "Python 3 (DL II workbook)",
                                            "language": "python"}
    assert nb["metadata"]["title"] == "Problem 1: An introduction to PyTorch"
    first, params = nb["cells"][0], nb["cells"][1]
    assert first["cell_type"] == "markdown" and _source(first).startswith("# Problem 1: ")
    assert params["metadata"].get("tags") == ["parameters"]
    assert [ln for ln in _source(params).splitlines() if not ln.startswith("#")] == [
        "quick = False", "seed = 0", 'device = "auto"']
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
            assert _source(cell).startswith("#"), "every code cell starts with a comment"


def test_problem1_code_lines_fit_the_pdf():
    for cell in _notebook("01_inclass_pytorch")["cells"]:
        if cell["cell_type"] == "code":
            for line in _source(cell).splitlines():
                assert len(line) <= 100, line


def test_problem1_one_name_for_the_device_and_the_optimizer():
    code = "\n".join(_source(c) for c in _notebook("01_inclass_pytorch")["cells"] if c["cell_type"] == "code")
    assert not re.findall(r"\b(dev|opt|optimiser)\b\s*[=,.)\]]", code)


def test_problem2_notebook_conventions():
    nb = _notebook("02_homework_linear_vs_relu")
    assert nb["metadata"]["kernelspec"]["name"] == paths.KERNEL_NAME
    assert nb["metadata"]["title"].startswith("Problem 2")
    assert nb["cells"][0]["cell_type"] == "markdown"
    assert _source(nb["cells"][0]).startswith("# Problem 2:")
    params = nb["cells"][1]
    assert "parameters" in params["metadata"]["tags"]
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], "commit without outputs"
            assert _source(cell).startswith("#"), "every code cell starts with a comment"
            assert all(len(line) <= 100 for line in _source(cell).splitlines())


def test_readme_sections_the_notebooks_name_exist_in_both_editions():
    """A notebook that sends the reader to the README's "Some section" must find it in the README
    of the course's repository and in the student edition's (docs/student/README.md)."""
    named = set()
    for path in sorted(paths.NOTEBOOKS.glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "markdown":
                named |= set(re.findall(r"README(?:'s|,)\s+\"([^\"]+)\"", _source(cell)))
    assert named, "no notebook names a README section: the pattern of this test no longer matches"
    for readme in (paths.ROOT / "README.md", paths.ROOT / "docs" / "student" / "README.md"):
        headings = set(re.findall(r"^#+ (.+?)\s*$", readme.read_text(encoding="utf-8"), flags=re.M))
        missing = named - headings
        print(f"{readme.relative_to(paths.ROOT)}: sections named {sorted(named)}, missing {sorted(missing)}")
        assert not missing, f"{readme} has no section {sorted(missing)}, which a notebook names"
