"""Exporting executed notebooks to PDF.

Two engines, chosen by :func:`choose_engine`:

- ``latex``: nbconvert's LaTeX exporter run through xelatex (needs ``xelatex``
  and ``pandoc``). The workbook's template (``workbook/templates/workbook``)
  sets fonts that cover accented and Greek letters and wraps long code lines.
- ``chromium``: nbconvert's HTML exporter, printed to PDF by a system
  Chromium driven with playwright (used when there is no TeX).

Cells tagged ``remove-cell`` are left out, ``remove-input`` show only their
output, ``remove-output`` only their code. Characters no font of the PDF can
draw (emoji) are replaced by their Unicode name, e.g. ``[SNAKE]``, instead of
vanishing silently.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from helpers import paths

from .errors import ExportError
from .iorw import atomic_write, content_hash, read_json, write_json

TEMPLATES = Path(__file__).resolve().parent / "templates"
FONT_FILES = (  # fonts whose glyphs the LaTeX template uses when they exist
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
)
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]

INSTALL_HELP = """no PDF engine found: the export needs either xelatex and pandoc, or a Chromium browser.
Fix, for your system:
  Debian/Ubuntu: sudo apt-get install texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc
  macOS:         brew install --cask mactex-no-gui && brew install pandoc
  Windows:       install MiKTeX (https://miktex.org) and pandoc (https://pandoc.org/installing.html), then reopen the terminal
  conda:         conda install -c conda-forge pandoc texlive-core
  or a browser:  sudo apt-get install chromium (any Chromium or Chrome on PATH works)
then run the build again."""


@dataclass(frozen=True)
class Engine:
    name: str  # "latex" or "chromium"
    description: str
    executable: str | None = None


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable, or None. ``$WORKBOOK_CHROMIUM`` wins."""
    override = os.environ.get("WORKBOOK_CHROMIUM")
    if override:
        return override if Path(override).exists() else None
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def choose_engine() -> Engine:
    """``latex`` when xelatex and pandoc exist, else ``chromium`` when a browser exists, else an error."""
    forced = os.environ.get("WORKBOOK_PDF_ENGINE")
    xelatex, pandoc = shutil.which("xelatex"), shutil.which("pandoc")
    if forced != "chromium" and xelatex and pandoc:
        return Engine("latex", f"LaTeX (nbconvert + xelatex at {xelatex})", xelatex)
    chromium = find_chromium()
    if forced != "latex" and chromium:
        return Engine("chromium", f"Chromium (nbconvert HTML printed by {chromium})", chromium)
    raise ExportError(INSTALL_HELP)


# --- characters the PDF fonts cannot draw -------------------------------------------------------


@lru_cache(maxsize=1)
def _covered_codepoints() -> frozenset[int] | None:
    try:
        from fontTools.ttLib import TTFont
    except ImportError:
        return None
    covered: set[int] = set()
    for font_file in FONT_FILES:
        if Path(font_file).exists():
            with TTFont(font_file, lazy=True) as font:
                covered |= set(font.getBestCmap())
    return frozenset(covered) or None


def _needs_name(char: str, covered: frozenset[int] | None) -> bool:
    code = ord(char)
    if code < 0x2000 or char in "\n\t":
        return False
    if covered is not None:
        return code not in covered and unicodedata.category(char) not in {"Mn", "Cf", "Zs"}
    return code >= 0x1F000  # without font information: emoji and other pictographs


def spell_out_unprintable(text: str) -> str:
    """Replace characters the PDF fonts lack by ``[THEIR UNICODE NAME]``."""
    covered = _covered_codepoints()
    if all(ord(c) < 0x2000 for c in text):
        return text
    out = []
    for char in text:
        if char == "\ufe0f":  # emoji presentation selector: drawn as nothing
            continue
        out.append(f"[{unicodedata.name(char, f'U+{ord(char):04X}')}]" if _needs_name(char, covered) else char)
    return "".join(out)


def _clean_text(nb) -> None:
    """Apply :func:`spell_out_unprintable` to every source and text output of ``nb``, in place."""
    for cell in nb.cells:
        cell.source = spell_out_unprintable(cell.source)
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = spell_out_unprintable(output["text"])
            data = output.get("data", {})
            if "text/plain" in data:
                data["text/plain"] = spell_out_unprintable(data["text/plain"])


# --- export -------------------------------------------------------------------------------------


def _exporter_config():
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = {"remove-cell"}
    config.TagRemovePreprocessor.remove_input_tags = {"remove-input"}
    config.TagRemovePreprocessor.remove_all_outputs_tags = {"remove-output"}
    # one block per cell's printed lines (not one per flush), progress bars reduced to their last state
    config.CoalesceStreamsPreprocessor.enabled = True
    return config


def template_fingerprint() -> str:
    files = sorted(TEMPLATES.rglob("*"))
    return content_hash(Path(__file__).read_bytes(), *(f.read_bytes() for f in files if f.is_file()))


#: xelatex runs per notebook. The workbook template has no table of contents, no cross-references and no
#: page totals, and the merged submission makes its own bookmarks, so a second pass changes nothing
#: (tests/test_pdf_quality.py compares the text of one and two passes); nbconvert's default is three.
LATEX_PASSES = 1


def _latex_pdf(nb, resources: dict, passes: int = LATEX_PASSES) -> bytes:
    from nbconvert import PDFExporter

    exporter = PDFExporter(config=_exporter_config(), template_name="workbook", extra_template_basedirs=[str(TEMPLATES)])
    exporter.latex_count = passes
    try:
        body, _ = exporter.from_notebook_node(nb, resources=resources)
    except Exception as err:  # nbconvert.exporters.pdf.LatexFailed and pandoc errors
        log = getattr(err, "output", "") or str(err)
        lines = [ln for ln in str(log).splitlines() if ln.startswith("!") or "Error" in ln][:8]
        raise ExportError("LaTeX could not typeset the notebook:\n  " + "\n  ".join(lines or str(log).splitlines()[-8:])) from err
    return body


def _chromium_pdf(nb, resources: dict, executable: str) -> bytes:
    from nbconvert import HTMLExporter
    from playwright.sync_api import sync_playwright

    html, _ = HTMLExporter(config=_exporter_config(), template_name="lab").from_notebook_node(nb, resources=resources)
    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "notebook.html"
        page_file.write_text(html, encoding="utf-8")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page()
                page.goto(page_file.as_uri(), wait_until="load")
                return page.pdf(format="A4", print_background=True, margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"})
            finally:
                browser.close()


def export_notebook(executed: Path, engine: str, metadata: dict, *, mark_problems: bool = False) -> tuple[Path, bool]:
    """Export one executed notebook to ``build/pdf/<name>.pdf``; skipped when nothing changed.

    Returns the PDF's path and whether it was written now (False: it was up to date).

    ``metadata`` (title, authors) goes into the notebook's metadata for the
    template. With ``mark_problems`` (a partial submission) every unfinished
    exercise, failed check and error gets a visible note (:mod:`workbook.marking`).
    Runs in a worker process, so it may change the working directory.
    """
    name = executed.stem
    out_dir = paths.build_dir() / "pdf"
    target = out_dir / f"{name}.pdf"
    stamp = out_dir / f"{name}.inputs.json"
    inputs = {"notebook": content_hash(executed.read_bytes()), "engine": engine, "template": template_fingerprint(), "metadata": metadata,
              "marked": mark_problems}
    if target.exists() and read_json(stamp) == inputs:
        return target, False

    import nbformat

    nb = nbformat.read(executed, as_version=4)
    if metadata.get("authors"):
        nb.metadata["authors"] = [{"name": a} for a in metadata["authors"]]
    if mark_problems:
        from .marking import mark_problems as insert_notes

        insert_notes(nb)
    _clean_text(nb)
    resources = {"metadata": {"name": nb.metadata.get("title", name), "path": str(paths.NOTEBOOKS)}}
    if engine == "latex":
        body = _latex_pdf(nb, resources)
    else:
        body = _chromium_pdf(nb, resources, find_chromium() or "chromium")
    atomic_write(target, lambda tmp: tmp.write_bytes(body))
    write_json(stamp, inputs)
    return target, True


def notebook_title(executed: Path) -> str:
    """The title recorded in a notebook's metadata, else its first Markdown heading, else its name."""
    nb = json.loads(executed.read_text(encoding="utf-8"))
    title = nb.get("metadata", {}).get("title")
    if title:
        return title
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return executed.stem
