"""The real workbook, end to end: `make pdf` in quick mode into a temporary build directory
(the `real_build` fixture in conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess

from pypdf import PdfReader

from helpers import paths


def test_make_pdf_holds_every_notebook(real_build):
    build, _ = real_build
    reader = PdfReader(build / "submission.pdf")
    titles = [json.loads((paths.NOTEBOOKS / f"{n}.ipynb").read_text())["metadata"]["title"] for n in paths.NOTEBOOK_NAMES]
    assert [o.title for o in reader.outline] == ["Cover", *titles]
    text = "\n".join(p.extract_text() or "" for p in reader.pages)
    for title in titles:
        assert title in text
    for name in paths.NOTEBOOK_NAMES:
        assert len(PdfReader(build / "pdf" / f"{name}.pdf").pages) >= 1


def test_printed_output_and_checks_reach_the_pdf(real_build):
    build, _ = real_build
    text = "\n".join(p.extract_text() or "" for p in PdfReader(build / "submission.pdf").pages)
    assert "[PASS]" in text
    for name in paths.NOTEBOOK_NAMES:
        nb = json.loads((build / "executed" / f"{name}.ipynb").read_text())
        lines = [line for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []) for line in "".join(o.get("text", "")).splitlines()]
        printed = [line for line in lines if line.startswith("[PASS]")]
        assert printed, f"{name} printed no check"
        assert not [line for line in lines if line.startswith("[FAIL]")], f"{name} has a failing check"
        assert printed[0][:40].replace(" ", "") in text.replace(" ", "").replace("\n", "")


def test_every_notebook_wrote_its_results(real_build):
    build, _ = real_build
    for name in paths.NOTEBOOK_NAMES:
        results = json.loads((build / "results" / f"{name}.json").read_text())
        assert results, name


def test_check_passes_on_the_solved_workbook(real_build):
    build, _ = real_build
    env = dict(os.environ, WORKBOOK_BUILD_DIR=str(build))
    result = subprocess.run(["make", "check", "QUICK=1"], cwd=paths.ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ready") == len(paths.NOTEBOOK_NAMES)
    assert "executing" not in result.stdout  # nothing changed since the build


def test_every_formula_is_typeset(real_build):
    """Raw TeX (a `$`, `\\mathbb`, `\\frac`) may show in the PDF only where a code cell holds it."""
    build, _ = real_build
    code = " ".join(
        " ".join("".join(c["source"]).split())
        for name in paths.NOTEBOOK_NAMES
        for c in json.loads((paths.NOTEBOOKS / f"{name}.ipynb").read_text())["cells"]
        if c["cell_type"] == "code"
    )
    text = "\n".join(p.extract_text() or "" for p in PdfReader(build / "submission.pdf").pages)
    raw = [line for line in text.splitlines() if any(t in line for t in ("$", "\\mathbb", "\\frac", "\\mathcal", "\\boxed"))]
    stray = [line for line in raw if " ".join(line.split()).strip("↪␣ ") not in code]
    assert not stray, f"raw TeX outside code cells: {stray[:5]}"
