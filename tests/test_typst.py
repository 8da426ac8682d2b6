"""The Typst PDF engine (workbook.typst): what the PDF must show, checked on its text layer.

One small notebook holds every hard case (math inline and display, a 200-character
code line, a long output line, a figure, a table, tags, non-ASCII text, an emoji,
characters that mean something in Typst); it is exported once per test session
and each test checks one feature of the PDF with pypdf. Separate tests cover the
TeX that pandoc's Typst writer gets wrong, every formula of the workbook's own
notebooks, the error message, and the nbconvert entry point.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

pypdf = pytest.importorskip("pypdf")
pytest.importorskip("typst")
pytest.importorskip("pypandoc")

from workbook.typst import TypstError, TypstExporter, compile_typst, export_pdf  # noqa: E402
from workbook.typst import exporter as typst_exporter  # noqa: E402
from workbook.typst import fonts, markdown  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

LONG_CODE = "result = some_function(" + ", ".join(f"argument_{i}={i}" for i in range(14)) + ")  # END-OF-LONG-CODE"
LONG_OUTPUT = "x" * 230 + "END-OF-LONG-OUTPUT"
TRICKY_CODE = 's = "```#$@*<>\\\\ [x](y) _a_ *b* /* c */ // d"  # END-OF-TRICKY\nprint(s)'
TEX_LEFTOVERS = ("\\mathbb", "\\mathcal", "\\boxed", "\\operatorname", "\\top", "\\frac", "\\in ", "$$", "\\begin")


def png_bytes(width: int = 8, height: int = 6) -> bytes:
    """A tiny valid RGB PNG (no plotting library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    rows = b"".join(b"\x00" + bytes([200, 80, 40]) * width for _ in range(height))
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def sample_notebook() -> nbformat.NotebookNode:
    figure = base64.b64encode(png_bytes(320, 240)).decode()
    nb = new_notebook(
        metadata={
            "title": "Typst sample: every hard case",
            "authors": [{"name": "Ada Lovelace"}, {"name": "Jürgen Groß"}],
            "language_info": {"name": "python"},
        }
    )
    nb.cells = [
        new_markdown_cell(
            "# Typst sample: every hard case\n\n"
            "Inline math $x_n \\in \\mathbb R^D$, $W^\\top x$ and $\\operatorname*{arg\\,min}_w f(w)$; "
            "text ü ß é α β γ; an emoji 🐍 END-OF-INTRO.\n\n"
            "$$\\boxed{\\ \\mathcal L_{NN}(W_{NN}^\\star) = \\frac{1}{2} \\sum_{n=1}^N (x_n^\\top w - y_n)^2\\ }$$"
        ),
        new_markdown_cell(
            "## Tables and symbols\n\n| layer | width |\n|---|---|\n| hidden | 64 |\n| output | $\\alpha$ |\n\n"
            "Symbols as text: # hash, $5, a\\_b, `code #x $y`, \\backslash, @name, <tag>, *stars*, ] [ END-OF-SYMBOLS."
        ),
        new_code_cell(LONG_CODE, execution_count=1, outputs=[new_output("stream", name="stdout", text=LONG_OUTPUT + "\n")]),
        new_code_cell(
            TRICKY_CODE,
            execution_count=2,
            outputs=[new_output("execute_result", data={"text/plain": "'```#$@*<>\\\\\\\\' END-OF-RESULT"}, execution_count=2)],
        ),
        new_code_cell(
            "plot()",
            execution_count=3,
            outputs=[new_output("display_data", data={"image/png": figure, "text/plain": "<Figure>"})],
        ),
        new_code_cell("secret_cell()  # SECRET-CELL", execution_count=4, metadata={"tags": ["remove-cell"]}),
        new_code_cell(
            "hidden_input()  # SECRET-INPUT",
            execution_count=5,
            metadata={"tags": ["remove-input"]},
            outputs=[new_output("stream", name="stdout", text="VISIBLE-OUTPUT\n")],
        ),
        new_code_cell(
            "visible_input()  # VISIBLE-INPUT",
            execution_count=6,
            metadata={"tags": ["remove-output"]},
            outputs=[new_output("stream", name="stdout", text="SECRET-OUTPUT\n")],
        ),
        new_code_cell(
            "1 / 0",
            execution_count=7,
            outputs=[
                new_output("stream", name="stderr", text="a warning\rEND-OF-STDERR\n"),
                new_output(
                    "error",
                    ename="ZeroDivisionError",
                    evalue="division by zero",
                    traceback=["\x1b[0;31mZeroDivisionError\x1b[0m: division by zero END-OF-ERROR"],
                ),
            ],
        ),
        new_markdown_cell("```python\nx = [1, 2]  # ] [ END-OF-FENCE\n```\n\n- a list item\n- another with $\\alpha^2$"),
        new_code_cell(
            "sympy_and_markdown()",
            execution_count=8,
            outputs=[
                new_output("execute_result", data={"text/latex": "$\\displaystyle \\sqrt{x^{2} + 1}$", "text/plain": "sqrt(x**2 + 1)"}, execution_count=8),
                new_output("display_data", data={"text/markdown": "**bold** END-OF-MD-OUTPUT", "text/plain": "<Markdown>"}),
            ],
        ),
        new_markdown_cell("### Third level\n\nThe end."),
    ]
    return nb


@pytest.fixture(scope="module")
def sample_pdf() -> bytes:
    return export_pdf(sample_notebook(), {"metadata": {"name": "sample"}})


@pytest.fixture(scope="module")
def sample_text(sample_pdf) -> str:
    reader = pypdf.PdfReader(io.BytesIO(sample_pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def squeeze(text: str) -> str:
    """Text without line breaks, as a wrapped line reads."""
    return re.sub(r"\s*\n\s*", "", text)


# --- the PDF of the sample notebook -------------------------------------------------------------


def test_math_is_rendered_not_raw_tex(sample_text):
    for leftover in TEX_LEFTOVERS:
        assert leftover not in sample_text
    assert "ℝ" in sample_text and "∈" in sample_text and "⊤" in sample_text  # \mathbb R, \in, \top
    assert re.search(r"arg\smin", sample_text)  # \, is a thin space (U+2006)


def test_long_code_and_output_lines_wrap_instead_of_being_clipped(sample_text):
    flat = squeeze(sample_text)
    assert "END-OF-LONG-CODE" in flat and "argument_13=13" in flat
    assert "x" * 230 + "END-OF-LONG-OUTPUT" in flat
    # wrapped: the long code line is broken over several lines of the PDF
    assert not any("END-OF-LONG-CODE" in line and "result =" in line for line in sample_text.splitlines())


def test_headings_become_bookmarks(sample_pdf):
    reader = pypdf.PdfReader(io.BytesIO(sample_pdf))

    def titles(outline):
        for item in outline:
            yield from titles(item) if isinstance(item, list) else [item.title]

    assert list(titles(reader.outline)) == ["Typst sample: every hard case", "Tables and symbols", "Third level"]


def test_metadata_and_header(sample_pdf, sample_text):
    metadata = pypdf.PdfReader(io.BytesIO(sample_pdf)).metadata
    assert metadata.title == "Typst sample: every hard case"
    assert "Ada Lovelace" in metadata.author and "Jürgen Groß" in metadata.author
    assert "Ada Lovelace, Jürgen Groß" in sample_text
    # the title is the notebook's first heading: printed once, not again as a title block
    assert sample_text.count("Typst sample: every hard case") == 1


def test_prompts_outputs_and_errors(sample_text):
    for prompt in ("In [1]:", "In [2]:", "In [7]:", "Out[2]:"):
        assert prompt in sample_text
    assert "END-OF-RESULT" in sample_text
    assert "ZeroDivisionError: division by zero END-OF-ERROR" in sample_text
    assert "\x1b" not in sample_text and "[0;31m" not in sample_text  # ANSI colours stripped
    assert "END-OF-STDERR" in sample_text and "a warning" not in sample_text  # carriage return applied


def test_markdown_code_blocks_and_rich_outputs(sample_text):
    assert "x = [1, 2]  # ] [ END-OF-FENCE" in sample_text
    assert "END-OF-MD-OUTPUT" in sample_text and "**bold**" not in sample_text
    assert "sqrt(x**2 + 1)" not in sample_text and "√" in sample_text  # text/latex output rendered as math


def test_tagged_cells_are_removed(sample_text):
    assert "SECRET-CELL" not in sample_text
    assert "SECRET-INPUT" not in sample_text and "VISIBLE-OUTPUT" in sample_text
    assert "SECRET-OUTPUT" not in sample_text and "VISIBLE-INPUT" in sample_text


def test_text_that_means_something_in_typst_is_printed_as_written(sample_text):
    assert 's = "```#$@*<>\\\\ [x](y) _a_ *b* /* c */ // d"  # END-OF-TRICKY' in sample_text
    for text in ("# hash", "$5", "a_b", "code #x $y", "\\backslash", "@name", "] [ END-OF-SYMBOLS"):
        assert text in sample_text


def test_non_ascii_drawn_and_emoji_spelled_out(sample_text):
    for text in ("ü", "ß", "é", "α", "β", "γ"):
        assert text in sample_text
    assert "[SNAKE] END-OF-INTRO" in sample_text
    assert "🐍" not in sample_text


def test_figure_and_table(sample_pdf, sample_text):
    reader = pypdf.PdfReader(io.BytesIO(sample_pdf))
    images = sum(1 for page in reader.pages for obj in (page["/Resources"].get("/XObject") or {}).values() if obj.get_object()["/Subtype"] == "/Image")
    assert images == 1
    assert "layer width" in sample_text and "hidden 64" in sample_text


def test_only_embedded_fonts_are_used(sample_pdf):
    reader = pypdf.PdfReader(io.BytesIO(sample_pdf))
    names = set()
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            names.add(str(font.get_object()["/BaseFont"]))
    families = {re.sub(r"^/?[A-Z]{6}\+", "", name).split("-")[0] for name in names}
    assert families <= {"NewCM10", "NewCMMath", "DejaVuSansMono", "LibertinusSerif"}, families


# --- pieces -------------------------------------------------------------------------------------


def test_typst_source_keeps_notebook_text_in_string_literals():
    source, resources = TypstExporter().from_notebook_node(sample_notebook(), resources={"metadata": {"name": "sample"}})
    assert "#nb-input(" in source and "SECRET-CELL" not in source
    assert list(resources["outputs"]) == ["output_4_0.png"]
    assert markdown.typst_string('a"b\\c\nd\x00') == '"a\\"b\\\\c\\nd"'
    assert markdown.unescape_typst_string(markdown.typst_string('a"b\\c\nd')[1:-1]) == 'a"b\\c\nd'


def test_breakable_marks_only_long_runs():
    assert typst_exporter.breakable("short words stay as they are") == "short words stay as they are"
    long = "a" * 100
    broken = typst_exporter.breakable(long)
    assert broken.replace("\u200b", "") == long and broken.count("\u200b") >= 4
    assert typst_exporter.plain_text("50%\r100%\nok\x1b[31m!\x1b[0m") == "100%\nok!"


def test_spell_out_uses_the_fonts_typst_embeds():
    assert fonts.spell_out_unprintable("ü ß é α β γ → ≤ █") == "ü ß é α β γ → ≤ █"
    assert fonts.spell_out_unprintable("ok ✅ 🐍\ufe0f") == "ok [WHITE HEAVY CHECK MARK] [SNAKE]"
    recorded = json.loads(fonts.COVERAGE_FILE.read_text())
    assert recorded["typst"] == fonts._typst_version(), "font_coverage.json is for another typst: run fonts.write_coverage_file()"


@pytest.mark.slow
def test_recorded_font_coverage_matches_the_wheel():
    recorded = fonts.covered_codepoints()
    assert fonts.read_embedded_coverage() == recorded


def test_markdown_pieces_survive_an_unclosed_code_fence():
    pieces = ["first *piece*", "```python\nnever closed", "third $x^2$"]
    converted, unconverted = markdown.markdown_to_typst(pieces)
    assert len(converted) == 3 and unconverted == []
    assert converted[0] == "first #emph[piece]" and converted[2] == "third $x^2$"


def test_conversion_cache_gives_the_same_typst_without_pandoc(tmp_path, monkeypatch):
    (tmp_path / "figure.png").write_bytes(png_bytes())
    pieces = ["# A heading\n\n$x^2$ and ![figure](figure.png)", "[to the heading](#a-heading)"]
    first, _ = markdown.markdown_to_typst(pieces, lambda path: "resolved/" + path, tmp_path / "cache")

    def no_pandoc(*args, **kwargs):
        raise AssertionError("pandoc ran although every piece was cached")

    monkeypatch.setattr(markdown, "run_pandoc", no_pandoc)
    again, _ = markdown.markdown_to_typst(pieces, lambda path: "resolved/" + path, tmp_path / "cache")
    assert again == first
    assert 'image("resolved/figure.png")' in first[0] and "#link(<a-heading>)" in first[1]


def test_html_in_markdown_images_breaks_and_tables():
    piece = (
        "<table>\n<tr><th>name</th><th>value</th></tr>\n<tr><td>loss</td><td>$x^2$</td></tr>\n</table>\n\n"
        'Line one<br>line two <img src="figure.png" width="40"> <!-- a comment -->'
    )
    (converted,), unconverted = markdown.markdown_to_typst([piece])
    assert unconverted == []
    assert "#table(" in converted and "[name]" in converted and "$x^2$" in converted
    assert "line two" in converted and '#box(image("figure.png", width: ' in converted and "comment" not in converted
    compile_typst(converted, {"figure.png": png_bytes()})


TEX_CASES = {
    "operatorname*": r"$$\operatorname*{arg\,min}_{w \in \mathbb R^D} \lVert Xw - y \rVert^2$$",
    "boxed": r"$$\boxed{\ \mathcal L = 0\ }$$",
    "top": r"$W^\top x$",
    "cap (renamed in Typst 0.14)": r"$A \cap B \otimes C \odot D \bigcap_i E_i \ominus F \oplus G$",
    "vmatrix": r"$\begin{vmatrix} a & b \\ c & d \end{vmatrix} \begin{Vmatrix} a \end{Vmatrix}$",
    "tag and label": r"$$E = mc^2 \tag{1} \label{eq:energy}$$",
    "limits": r"$$\sum\limits_{i=1}^n x_i \int\limits_0^1 f$$",
    "bare align": "\\begin{align}\na &= b \\\\\nc &= d\n\\end{align}",
    "underset and overset": r"$$\underset{x}{\arg\min} \quad a \overset{!}{=} b \quad a \stackrel{\text{def}}{=} b$$",
    "colour and spacing": r"$\color{red}{x} \textcolor{blue}{y} \hspace{1cm} z \kern3pt w$",
    "lt gt": r"$a \lt b \gt c$",
    "line break in display": r"$$a = b \\ c = d$$",
    "old switches": r"${\rm ReLU}(x) = {\bf x}$",
    "over": r"${a \over b}$",
}


def test_tex_that_pandoc_or_typst_reject_is_fixed():
    converted, unconverted = markdown.markdown_to_typst(list(TEX_CASES.values()))
    assert unconverted == []
    failures = {}
    for name, typst in zip(TEX_CASES, converted):
        assert not re.search(r"\\[A-Za-z]{2,}", typst), (name, typst)  # no TeX command left
    source = "\n\n".join(converted)
    try:
        compile_typst(source)
    except TypstError as err:  # name the case that broke
        for name, typst in zip(TEX_CASES, converted):
            try:
                compile_typst(typst)
            except TypstError as one:
                failures[name] = (typst, one.message)
        pytest.fail(f"{err}\n{failures}")
    assert "limits(" in converted[0] and "inter" in converted[3] and "times.o" in converted[3]


@pytest.mark.slow
@pytest.mark.skipif(not NOTEBOOKS, reason="the workbook's notebooks are not in this checkout")
def test_every_formula_of_the_workbook_compiles():
    pieces = [cell.source for path in NOTEBOOKS for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown"]
    converted, unconverted = markdown.markdown_to_typst(pieces)
    assert unconverted == [], "TeX that pandoc printed as text instead of math"
    pdf = compile_typst("\n\n".join(converted))
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    for leftover in TEX_LEFTOVERS:
        assert leftover not in text


def test_images_of_markdown_cells(tmp_path):
    (tmp_path / "figure.png").write_bytes(png_bytes())
    nb = new_notebook(cells=[new_markdown_cell("# Images\n\n![local](figure.png) ![missing](nothere.png) ![web](https://example.com/x.png) <img src=\"figure.png\" width=\"40\">")])
    pdf = export_pdf(nb, {"metadata": {"name": "images", "path": str(tmp_path)}})
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = reader.pages[0].extract_text()
    assert "image: nothere.png" in text and "https://example.com/x.png" in text
    xobjects = reader.pages[0]["/Resources"]["/XObject"]
    assert len(xobjects) >= 1


def test_compile_error_is_one_clear_exception_with_the_source_line():
    nb = new_notebook(cells=[new_markdown_cell("# Broken"), new_raw_cell("#let x = (", metadata={"raw_mimetype": "text/x-typst"})])
    with pytest.raises(TypstError) as caught:
        export_pdf(nb)
    err = caught.value
    assert err.source_line == "#let x = (" and err.line is not None and "unclosed delimiter" in err.message
    assert "Traceback" not in str(err) and f"line {err.line} of the Typst source: #let x = (" in str(err)
    # a raw cell without a mimetype is text, not Typst
    pdf = export_pdf(new_notebook(cells=[new_raw_cell("#let x = (")]))
    assert "#let x = (" in pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def _entry_point_installed() -> bool:
    from importlib.metadata import entry_points

    return any(ep.name == "typstpdf" for ep in entry_points(group="nbconvert.exporters"))


@pytest.mark.slow
@pytest.mark.skipif(not _entry_point_installed(), reason="the nbconvert entry point 'typstpdf' is not installed (pip install -e .)")
def test_jupyter_nbconvert_to_typstpdf(tmp_path):
    path = tmp_path / "any.ipynb"
    nbformat.write(sample_notebook(), path)
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or "jupyter"
    done = subprocess.run([jupyter, "nbconvert", "--to", "typstpdf", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    text = pypdf.PdfReader(tmp_path / "any.pdf").pages[0].extract_text()
    assert "In [1]:" in text and "\\mathbb" not in text


def test_a_code_line_as_long_as_the_linter_allows_fits_on_one_line_of_the_pdf():
    """Code lines of up to 100 characters (ruff's limit for the notebooks) are not wrapped: a wrapped
    line starts again at the left edge, and its indentation, which is Python's syntax, is lost."""
    line = "    x = compute_something(alpha, beta) + " + "y" * 41 + " + LAST_TOKEN_HERE"
    line = line + "0" * (100 - len(line))
    assert len(line) == 100
    nb = new_notebook(cells=[new_code_cell("if True:\n" + line)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(export_pdf(nb, {"metadata": {"name": "w"}}))).pages)
    assert any("compute_something" in row and "LAST_TOKEN_HERE" in row for row in text.splitlines()), text
