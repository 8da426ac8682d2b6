"""Parity of the three PDF engines (typst, latex, chromium): one notebook, the same checks on each PDF.

The notebook is built here with nbformat and synthetic outputs (no kernel): prompts,
streams, a result, an error with ANSI colours, a matplotlib figure, a Markdown
table, inline and display math, headings at three levels, the three removal
tags, a 200-character code line and a 200-character output line, non-ASCII
text and an emoji. Each engine exports it once (``workbook.export.export_notebook``)
and every test checks one feature of that PDF: on its text layer (pypdf), its
fonts, its outline, its images, and on pages rendered with pdftoppm (the shaded
code boxes, nothing in the right margin).

The checks are functions that return what they found wrong, so that
:func:`test_the_checks_can_fail` shows each of them rejecting a PDF without the
feature.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from PIL import Image
from pypdf import PdfReader

from workbook.chromium import find_chromium

TITLE = "Parity sample: what every engine prints, under a heading long enough to wrap"
AUTHORS = ["Ada Lovelace", "Jürgen Groß"]
CODE_END, OUTPUT_END = "ENDOFCODELINE", "ENDOFOUTPUTLINE"
LONG_CODE = ("result = combine(" + ", ".join(f"weight_{i}=0.{i}" for i in range(30)))[:182] + ")  # " + CODE_END
LONG_OUTPUT = ("tensor([" + ", ".join(f"{i / 7:.4f}" for i in range(40)))[:120] + "=" * (200 - 120 - len(OUTPUT_END)) + OUTPUT_END
HEADINGS = [TITLE, "Tables and math", "A third level"]
TEX_LEFTOVERS = ("\\mathbb", "\\frac", "\\boxed", "$$", "\\mathcal")
NON_ASCII = ("ü", "ß", "é", "α", "β", "γ")
MONO = re.compile(r"mono|courier|code|cmtt|typewriter|raw", re.I)
MM_PER_INCH = 25.4

assert len(LONG_CODE) == 200 and len(LONG_OUTPUT) == 200


def figure_png() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 2.5), dpi=60)
    ax.plot([0, 1, 2, 3], [3, 1, 2, 0], color="tab:red")
    ax.set_title("a figure")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def parity_notebook() -> nbformat.NotebookNode:
    nb = new_notebook(metadata={"title": TITLE, "language_info": {"name": "python"},
                                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [
        new_markdown_cell(f"# {HEADINGS[0]}\n\nText with ü ß é α β γ and an emoji 🐍 ENDOFINTRO."),
        new_code_cell('print("hello from a stream")  # CODEBOXMARK\n6 * 7', execution_count=1, outputs=[
            new_output("stream", name="stdout", text="hello from a stream STREAMMARK\n"),
            new_output("execute_result", data={"text/plain": "42424242 RESULTMARK"}, execution_count=1),
        ]),
        new_markdown_cell(
            f"## {HEADINGS[1]}\n\n| layer | width |\n|---|---|\n| hiddencell | 64 |\n| outputcell | 10 |\n\n"
            "Inline math $x_n \\in \\mathbb R^D$ and $\\frac{a}{b}$, and on its own:\n\n"
            "$$\\boxed{\\ \\mathcal L(w) = \\frac{1}{2} \\sum_{n=1}^N (x_n^\\top w - y_n)^2\\ }$$"
        ),
        new_code_cell(LONG_CODE, execution_count=2, outputs=[new_output("stream", name="stdout", text=LONG_OUTPUT + "\n")]),
        new_code_cell("1 / 0", execution_count=3, outputs=[new_output(
            "error", ename="ZeroDivisionError", evalue="division by zero",
            traceback=["\x1b[0;31mZeroDivisionError\x1b[0m: division by zero ERRORMARK"])]),
        new_code_cell("plot()", execution_count=4, outputs=[
            new_output("display_data", data={"image/png": figure_png(), "text/plain": "<Figure size 240x150>"})]),
        new_markdown_cell(f"### {HEADINGS[2]}\n\nThe tagged cells follow."),
        new_code_cell("secret_cell()  # SECRETCELL", execution_count=5, metadata={"tags": ["remove-cell"]},
                      outputs=[new_output("stream", name="stdout", text="SECRETCELLOUTPUT\n")]),
        new_code_cell("hidden_input()  # SECRETINPUT", execution_count=6, metadata={"tags": ["remove-input"]},
                      outputs=[new_output("stream", name="stdout", text="VISIBLEOUTPUT\n")]),
        new_code_cell("visible_input()  # VISIBLEINPUT", execution_count=7, metadata={"tags": ["remove-output"]},
                      outputs=[new_output("stream", name="stdout", text="SECRETOUTPUT\n")]),
        new_markdown_cell("The end. LASTMARK"),
    ]
    return nb


# --- what a PDF holds ---------------------------------------------------------------------------


class Pdf:
    """One PDF, read once: its text, the fonts its text is drawn in, outline, images, word boxes, pages."""

    def __init__(self, path: Path, work: Path):
        self.path, self.work = path, work
        self.reader = PdfReader(path)
        self.runs: list[tuple[str, str]] = []  # (text, font name) of every piece of text drawn

        def visit(text, cm, tm, font, size):
            if text.strip():
                self.runs.append((text, str(font.get("/BaseFont", "")) if font else ""))

        self.text = "\n".join(page.extract_text(visitor_text=visit) or "" for page in self.reader.pages)
        self._pages = None
        self._words = None

    @property
    def flat(self) -> str:
        """The text as one line: a wrapped line reads whole again. Line breaks, zero-width spaces and the
        marks that show a continued line (LaTeX's ↪ and ␣) are what wrapping adds, so they go."""
        return re.sub(r"[\s\u200b\u00ad↪␣]+", "", self.text)

    @property
    def spaced(self) -> str:
        """The text with every run of white space (no-break spaces included) as one space."""
        return re.sub(r"\s+", " ", self.text.replace("\u00a0", " "))

    def outline(self) -> list[tuple[int, str]]:
        def walk(items, depth):
            for item in items:
                yield from walk(item, depth + 1) if isinstance(item, list) else [(depth, item.title)]

        return list(walk(self.reader.outline, 0))

    def image_count(self) -> int:
        count = 0
        for page in self.reader.pages:
            xobjects = page["/Resources"].get("/XObject") or {}
            count += sum(1 for obj in xobjects.values() if obj.get_object().get("/Subtype") == "/Image")
        return count

    def pages(self, dpi: int = 70) -> list[np.ndarray]:
        """Each page rendered as RGB pixels (pdftoppm)."""
        if self._pages is None:
            out = self.work / f"{self.path.stem}-page"
            subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(self.path), str(out)], check=True)
            self._pages = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(self.work.glob(f"{out.name}-*.png"))]
            self._dpi = dpi
        return self._pages

    def words(self) -> list[dict]:
        """Every word with its page (from 0), box in points and the page's width (pdftotext -bbox)."""
        if self._words is None:
            xhtml = subprocess.run(["pdftotext", "-bbox", str(self.path), "-"], check=True, capture_output=True,
                                   text=True).stdout
            self._words = []
            for number, (width, body) in enumerate(re.findall(r'<page width="([\d.]+)"[^>]*>(.*?)</page>', xhtml, re.S)):
                for x0, y0, x1, y1, word in re.findall(
                        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', body):
                    self._words.append({"page": number, "box": tuple(map(float, (x0, y0, x1, y1))),
                                        "page_width": float(width), "text": word})
        return self._words


# --- the checks: each returns what it found wrong (nothing: the feature is there) -----------------


def check_prompts(pdf: Pdf) -> list[str]:
    return [f"no prompt {p!r}" for p in ("In [1]:", "In [2]:", "In [4]:", "Out[1]:") if p not in pdf.spaced]


def check_shaded_code(pdf: Pdf) -> list[str]:
    """The code cell's background, right of its short first line, is a light grey (not white, not ink)."""
    found = [w for w in pdf.words() if "CODEBOXMARK" in w["text"]]
    if not found:
        return ["the code line with CODEBOXMARK is not in the text layer"]
    word = found[0]
    page = pdf.pages()[word["page"]]
    scale = page.shape[1] / word["page_width"]  # pixels per point
    x0, y0, x1, y1 = word["box"]
    left, right = int(x1 * scale) + 4, int(x1 * scale) + 40
    top, bottom = int(y0 * scale) + 1, max(int(y1 * scale) - 1, int(y0 * scale) + 2)
    region = page[top:bottom, left:right].reshape(-1, 3).astype(int)
    if region.size == 0:
        return ["the code line runs to the page's edge: no background to look at"]
    colours, counts = np.unique(region, axis=0, return_counts=True)
    background = colours[counts.argmax()]
    grey = 200 <= background.min() and background.max() <= 250 and background.max() - background.min() <= 12
    return [] if grey else [f"the code's background is {background.tolist()}, not a light grey"]


def check_monospace_outputs(pdf: Pdf) -> list[str]:
    problems = []
    for marker in ("STREAMMARK", "RESULTMARK", "ERRORMARK", "VISIBLEOUTPUT"):
        fonts = {font for text, font in pdf.runs if marker in text}
        if not fonts:
            problems.append(f"{marker}: not drawn in one piece of text")
        elif not all(MONO.search(font) for font in fonts):
            problems.append(f"{marker}: drawn in {sorted(fonts)}, not a monospace font")
    prose = {font for text, font in pdf.runs if "ENDOFINTRO" in text}
    if prose and all(MONO.search(font) for font in prose):
        problems.append(f"the prose is monospace too ({sorted(prose)}): the check would tell nothing")
    return problems


def check_long_lines_wrap(pdf: Pdf, margin_mm: float = 10) -> list[str]:
    """Both long lines end in the text layer, no word lies in the right margin, no ink is drawn there."""
    problems = [f"{marker} is not in the text" for marker in (CODE_END, OUTPUT_END) if marker not in pdf.flat]
    for word in pdf.words():
        limit = word["page_width"] - margin_mm / MM_PER_INCH * 72
        if word["box"][2] > limit:
            problems.append(f"page {word['page'] + 1}: {word['text'][:30]!r} ends at {word['box'][2]:.0f} pt, "
                            f"beyond {limit:.0f} pt (a line clipped or running off the page)")
    for number, page in enumerate(pdf.pages(), start=1):
        band = page[:, -int(round(page.shape[1] * margin_mm / 210)):]  # A4 is 210 mm wide
        dark = int((band.min(axis=2) < 128).sum())
        if dark:
            problems.append(f"page {number}: {dark} dark pixels in the right {margin_mm:g} mm")
    return problems


def check_math_rendered(pdf: Pdf) -> list[str]:
    problems = [f"raw TeX {tex!r} in the text" for tex in TEX_LEFTOVERS if tex in pdf.text]
    problems += [f"no {symbol!r}: the math is not drawn" for symbol in ("ℝ", "∈", "∑") if symbol not in pdf.text]
    return problems


def check_figure(pdf: Pdf) -> list[str]:
    return [] if pdf.image_count() >= 1 else ["no image in the PDF"]


def check_table(pdf: Pdf) -> list[str]:
    return [f"table cell {cell!r} missing" for cell in ("layer", "width", "hiddencell", "outputcell", "64")
            if cell not in pdf.text]


def check_bookmarks(pdf: Pdf) -> list[str]:
    outline = pdf.outline()
    wanted = [(level, title) for level, title in enumerate(HEADINGS)]
    return [] if outline == wanted else [f"bookmarks {outline}, wanted {wanted}"]


def check_tags(pdf: Pdf) -> list[str]:
    problems = [f"{gone} is printed" for gone in ("SECRETCELL", "SECRETCELLOUTPUT", "SECRETINPUT", "SECRETOUTPUT")
                if gone in pdf.text]
    return problems + [f"{kept} is missing" for kept in ("VISIBLEOUTPUT", "VISIBLEINPUT", "LASTMARK") if kept not in pdf.text]


def check_characters(pdf: Pdf) -> list[str]:
    problems = [f"{char!r} is missing" for char in NON_ASCII if char not in pdf.text]
    if "[SNAKE]" not in pdf.text:
        problems.append("the emoji is not spelled out as [SNAKE]")
    if "🐍" in pdf.text:
        problems.append("the emoji is in the text (no font draws it)")
    return problems


def check_outputs(pdf: Pdf) -> list[str]:
    problems = [f"{text!r} missing" for text in ("hello from a stream STREAMMARK", "42424242 RESULTMARK",
                                                 "ZeroDivisionError: division by zero ERRORMARK") if text not in pdf.spaced]
    return problems + [f"ANSI code {code!r} printed" for code in ("\x1b", "[0;31m", "[0m") if code in pdf.text]


def check_metadata(pdf: Pdf) -> list[str]:
    info = pdf.reader.metadata or {}
    problems = [] if info.get("/Title") == TITLE else [f"title {info.get('/Title')!r}"]
    if not all(name in str(info.get("/Author", "")) for name in AUTHORS):
        problems.append(f"authors {info.get('/Author')!r}")
    if ", ".join(AUTHORS) not in pdf.spaced:
        problems.append("the authors are not printed")
    return problems


CHECKS = {
    "prompts": check_prompts, "shaded code": check_shaded_code, "monospace outputs": check_monospace_outputs,
    "long lines wrap": check_long_lines_wrap, "math rendered": check_math_rendered, "figure": check_figure,
    "table": check_table, "bookmarks": check_bookmarks, "tags": check_tags, "characters": check_characters,
    "outputs": check_outputs, "metadata": check_metadata,
}
#: features an engine does not have yet, with the reason (a test marked xfail(strict=True): it must fail)
KNOWN_GAPS: dict[tuple[str, str], str] = {}


# --- the engines --------------------------------------------------------------------------------

HAVE_POPPLER = shutil.which("pdftoppm") is not None and shutil.which("pdftotext") is not None
ENGINES = [
    pytest.param("typst", id="typst"),
    pytest.param("latex", id="latex", marks=pytest.mark.skipif(
        shutil.which("xelatex") is None or shutil.which("pandoc") is None, reason="the LaTeX engine needs xelatex and pandoc")),
    pytest.param("chromium", id="chromium", marks=pytest.mark.skipif(
        find_chromium() is None, reason="no Chromium on PATH and no WORKBOOK_CHROMIUM")),
]


@pytest.fixture(scope="module", params=ENGINES)
def exported(request, tmp_path_factory) -> tuple[str, Pdf]:
    """The parity notebook exported by one engine through ``export_notebook``, into a temporary build folder."""
    from workbook.export import export_notebook

    engine = request.param
    work = tmp_path_factory.mktemp(f"engine-{engine}")
    executed = work / "parity.ipynb"
    nbformat.write(parity_notebook(), executed)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKBOOK_BUILD_DIR", str(work / "build"))
        pdf, written = export_notebook(executed, engine, {"authors": AUTHORS})
    assert written and pdf.is_relative_to(work / "build")
    return engine, Pdf(pdf, work)


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_POPPLER, reason="pdftoppm and pdftotext (poppler-utils) are not installed")
@pytest.mark.parametrize("feature", list(CHECKS))
def test_engine_prints_the_feature(exported, feature, request):
    engine, pdf = exported
    gap = KNOWN_GAPS.get((engine, feature))
    if gap:
        request.applymarker(pytest.mark.xfail(strict=True, reason=gap))
    problems = CHECKS[feature](pdf)
    assert not problems, f"{engine}: {feature}: " + "; ".join(problems)


# --- the checks can fail ------------------------------------------------------------------------


def bad_pdf(path: Path) -> Path:
    """A PDF without any of the features: raw TeX, a line running off the page, prose fonts, tagged text..."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"pdf.fonttype": 42, "font.family": "DejaVu Serif"}):
        fig = plt.figure(figsize=(210 / MM_PER_INCH, 297 / MM_PER_INCH))
        lines = [
            "[1]: print(hello)  # CODEBOXMARK",
            "hello from a stream STREAMMARK 42424242 RESULTMARK ERRORMARK VISIBLEOUTPUT ENDOFINTRO",
            "$$\\frac{1}{2} \\mathbb R$$ SECRETCELL SECRETINPUT [0;31m",
            LONG_CODE,
        ]
        for i, line in enumerate(lines):
            fig.text(0.08, 0.9 - 0.04 * i, line, fontsize=10, parse_math=False)
        fig.savefig(path, format="pdf")
        plt.close(fig)
    return path


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_POPPLER, reason="pdftoppm and pdftotext (poppler-utils) are not installed")
def test_the_checks_can_fail(tmp_path):
    pdf = Pdf(bad_pdf(tmp_path / "bad.pdf"), tmp_path)
    results = {feature: check(pdf) for feature, check in CHECKS.items()}
    for feature, problems in results.items():
        print(f"{feature}: {problems}")
    assert all(results.values()), [feature for feature, problems in results.items() if not problems]
    long_lines = " ".join(results["long lines wrap"])
    assert "beyond" in long_lines and "dark pixels" in long_lines  # both the text layer and the ink see the overflow


# --- the Chromium engine's pieces ---------------------------------------------------------------


def test_chromium_markdown_becomes_mathml_with_styled_letters(monkeypatch):
    from workbook import chromium
    from workbook.chromium import convert_markdown

    runs = []
    run_pandoc = chromium._run_pandoc
    monkeypatch.setattr(chromium, "_run_pandoc", lambda text: runs.append(text) or run_pandoc(text))
    assert len(convert_markdown(["# One", "two $x$", "three"])) == 3 and len(runs) == 1  # one pandoc run
    pieces = ["Expectation $\\mathbb E[\\mathbf x] \\in \\mathbb R$ and $$\\frac{1}{2} \\mathcal L$$",
              "```python\nan unclosed fence swallows what follows", "# After the fence"]
    first, fence, heading = convert_markdown(pieces)
    assert "<math" in first and "<mfrac>" in first
    assert "𝔼" in first and "ℝ" in first and "ℒ" in first  # letters of their style: Chromium ignores mathvariant
    assert "annotation" not in first and "\\frac" not in first
    assert "unclosed fence" in fence and "After the fence" not in fence and "<h1" in heading


def test_chromium_markdown_images_are_found(tmp_path):
    from workbook.chromium import _html_of_markdown

    (tmp_path / "figure.png").write_bytes(b"not really a png")
    cell = new_markdown_cell("![local](figure.png) ![attached](attachment:a.png) "
                             "![web](https://example.com/x.png) [a link](#top)")
    cell.attachments = {"a.png": {"image/png": "AAAA"}}
    nb = new_notebook(cells=[cell])
    _html_of_markdown(nb, tmp_path)
    page = nb.cells[0].metadata["workbook_html"]
    assert f'src="{(tmp_path / "figure.png").as_uri()}"' in page  # the page is printed from another folder
    assert 'src="data:image/png;base64,AAAA"' in page
    assert 'src="https://example.com/x.png"' in page and 'href="#top"' in page  # left as written


@pytest.mark.slow
def test_chromium_page_loads_nothing_from_the_network():
    from workbook.chromium import notebook_html
    from workbook.export import _exporter_config

    page = notebook_html(parity_notebook(), {"metadata": {"name": "parity", "path": "."}}, _exporter_config())
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"(src|href)=\"https?:", page), re.findall(r"(?:src|href)=\"https?:[^\"]*", page)[:5]
    assert "<script" not in page.lower() and "$$" not in page and "\\frac" not in page
    assert "white-space: pre-wrap" in page  # long lines wrap


@pytest.mark.slow
def test_chromium_that_does_not_start_is_one_clear_error(tmp_path):
    from workbook.chromium import chromium_pdf
    from workbook.errors import ExportError
    from workbook.export import _exporter_config

    not_a_browser = shutil.which("true") or "/bin/true"
    with pytest.raises(ExportError) as caught:
        chromium_pdf(parity_notebook(), {"metadata": {"name": "parity"}}, not_a_browser, _exporter_config())
    message = str(caught.value)
    print(message)
    assert "could not print the notebook" in message and "WORKBOOK_CHROMIUM" in message
    assert "Traceback" not in message and len(message.splitlines()) <= 8
