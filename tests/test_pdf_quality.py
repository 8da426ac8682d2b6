"""What a reader of the PDF sees: pages rendered with pdftoppm, and the browser engine."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from workbook.chromium import find_chromium

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")


def render(pdf, out_dir, dpi=60):
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", str(pdf), str(out_dir / "page")], check=True)
    return [np.asarray(Image.open(p)) for p in sorted(out_dir.glob("page-*.png"))]


def test_no_ink_in_the_right_margin(mini_built, tmp_path):
    """A code line cut off at the margin would run into the outer 10 mm of the page."""
    pages = render(mini_built.build / "pdf" / "02_homework_linear_vs_relu.pdf", tmp_path)
    assert pages
    for number, page in enumerate(pages, start=1):
        margin = page[:, -int(page.shape[1] * 10 / 210):]  # the outer 10 mm of an A4 page
        dark = int((margin < 128).sum())
        print(f"page {number}: {dark} dark pixels in the right 10 mm")
        assert dark == 0, f"page {number}: something runs into the right margin"


def test_pages_have_content_and_a_figure_is_drawn(mini_built, tmp_path):
    pages = render(mini_built.build / "pdf" / "03_exercise_mnist1d.pdf", tmp_path)
    ink = [float((p < 128).mean()) for p in pages]
    assert all(i > 0.001 for i in ink), ink
    assert sum(len(page.images) for page in PdfReader(mini_built.build / "pdf" / "03_exercise_mnist1d.pdf").pages) >= 1


@pytest.mark.skipif(find_chromium() is None, reason="no Chromium on PATH and no WORKBOOK_CHROMIUM")
@pytest.mark.slow
def test_chromium_engine_exports_when_forced(mini_built, tmp_path):
    wb = mini_built.copy(tmp_path / "wb")
    shutil.rmtree(wb.build / "pdf")
    (wb.build / "submission.pdf").unlink()
    result = wb.build_cmd("pdf", "--quick=1", env=wb.env(WORKBOOK_PDF_ENGINE="chromium"))
    assert result.returncode == 0, result.stderr
    assert "PDF engine: Chromium" in result.stdout
    text = "\n".join(p.extract_text() or "" for p in PdfReader(wb.build / "submission.pdf").pages)
    assert "mini-one says hello, ü ß é α β γ" in text and "mini-three done" in text


@pytest.mark.skipif(shutil.which("xelatex") is None or shutil.which("pdftotext") is None, reason="needs xelatex and pdftotext")
@pytest.mark.slow
def test_one_latex_pass_typesets_what_two_passes_do(mini_built, tmp_path):
    """The export runs xelatex once (export.LATEX_PASSES); a second pass would only matter for cross-references."""
    import nbformat

    from helpers import paths
    from workbook import export

    nb = nbformat.read(mini_built.build / "executed" / "02_homework_linear_vs_relu.ipynb", as_version=4)
    texts = {}
    for passes in (1, 2):
        pdf = tmp_path / f"{passes}.pdf"
        pdf.write_bytes(export._latex_pdf(nb, {"metadata": {"name": "two passes", "path": str(paths.NOTEBOOKS)}}, passes=passes))
        texts[passes] = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
        print(f"{passes} pass(es): {len(PdfReader(pdf).pages)} pages, {len(texts[passes])} characters of text")
    assert export.LATEX_PASSES == 1
    assert len(texts[1]) > 200
    assert texts[1] == texts[2]
