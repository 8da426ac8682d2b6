"""Exporting executed notebooks to PDF, with one of three engines (:func:`choose_engine`).

- ``typst`` (the default): :mod:`workbook.typst`, an nbconvert exporter that
  writes Typst, with Markdown and TeX math converted by the pandoc inside the
  ``pypandoc_binary`` wheel and compiled by the ``typst`` wheel. Both are pinned
  in ``requirements.txt``: nothing outside ``.venv`` is needed, fonts included.
- ``latex``: nbconvert's LaTeX exporter run through xelatex (needs ``xelatex``
  and ``pandoc`` on the system). The workbook's template
  (``workbook/templates/workbook``) sets fonts that cover accented and Greek
  letters and wraps long code lines.
- ``chromium``: nbconvert's HTML exporter, with math as MathML and long lines
  wrapped, printed to PDF by a Chromium driven with playwright (:mod:`workbook.chromium`).

``WORKBOOK_PDF_ENGINE=typst|latex|chromium`` picks one. Every engine leaves out
cells tagged ``remove-cell``, shows only the output of ``remove-input`` and only
the code of ``remove-output``, and spells out characters its fonts cannot draw
(emoji) by their Unicode name, e.g. ``[SNAKE]``, instead of losing them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
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
ENGINES = ("typst", "latex", "chromium")

LATEX_HELP = """the LaTeX engine needs xelatex and pandoc on the system.
Fix, for your system:
  Debian/Ubuntu: sudo apt-get install texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc
  macOS:         brew install --cask mactex-no-gui && brew install pandoc
  Windows:       install MiKTeX (https://miktex.org) and pandoc (https://pandoc.org/installing.html), then reopen the terminal
  conda:         conda install -c conda-forge pandoc texlive-core
or use the default engine, which needs nothing outside .venv: unset WORKBOOK_PDF_ENGINE (or set it to typst)."""

CHROMIUM_HELP = """the Chromium engine needs a Chromium or Chrome browser.
Fix: install one (Debian/Ubuntu: sudo apt-get install chromium) or name it with WORKBOOK_CHROMIUM=/path/to/chrome;
or use the default engine, which needs nothing outside .venv: unset WORKBOOK_PDF_ENGINE (or set it to typst)."""

TYPST_HELP = """the Typst engine's packages (typst, pypandoc_binary) are not installed in this environment.
Fix: run `make setup` (it installs the pinned requirements into .venv)."""


@dataclass(frozen=True)
class Engine:
    name: str  # one of ENGINES
    description: str
    executable: str | None = None


def _typst_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("typst", "pypandoc"))


def choose_engine() -> Engine:
    """The engine ``$WORKBOOK_PDF_ENGINE`` names (default ``typst``), after checking that it can run here."""
    from .chromium import find_chromium

    wanted = (os.environ.get("WORKBOOK_PDF_ENGINE") or "typst").strip().lower()
    if wanted not in ENGINES:
        raise ExportError(f"WORKBOOK_PDF_ENGINE={wanted!r} is not an engine.\nFix: use one of {', '.join(ENGINES)}, "
                          "or unset it for the default (typst).")
    if wanted == "typst":
        if not _typst_available():
            raise ExportError(TYPST_HELP)
        from importlib.metadata import version

        return Engine("typst", f"Typst {version('typst')} (nbconvert + pandoc {version('pypandoc_binary')} "
                               "+ typst, from .venv)")
    if wanted == "latex":
        xelatex, pandoc = shutil.which("xelatex"), shutil.which("pandoc")
        if not (xelatex and pandoc):
            missing = " and ".join(n for n, p in (("xelatex", xelatex), ("pandoc", pandoc)) if not p)
            raise ExportError(f"no {missing} found: " + LATEX_HELP)
        return Engine("latex", f"LaTeX (nbconvert + xelatex at {xelatex})", xelatex)
    chromium = find_chromium()
    if not chromium:
        raise ExportError("no Chromium found: " + CHROMIUM_HELP)
    return Engine("chromium", f"Chromium (nbconvert HTML printed by {chromium})", chromium)


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


def template_fingerprint(engine: str = "latex") -> str:
    """Changes when anything that shapes the engine's PDF changes (this module, its templates, its code)."""
    if engine == "typst":
        from .typst import engine_fingerprint

        return content_hash(Path(__file__).read_bytes(), engine_fingerprint())
    if engine == "chromium":
        return content_hash(Path(__file__).read_bytes(), (Path(__file__).parent / "chromium.py").read_bytes())
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


def _typst_pdf(nb, resources: dict) -> bytes:
    from .typst import TypstExportError, export_pdf

    try:
        return export_pdf(nb, resources)
    except TypstExportError as err:
        raise ExportError(f"Typst could not typeset the notebook:\n  {err}") from err


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
    inputs = {"notebook": content_hash(executed.read_bytes()), "engine": engine, "template": template_fingerprint(engine), "metadata": metadata,
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
    resources = {"metadata": {"name": nb.metadata.get("title", name), "path": str(paths.NOTEBOOKS)}}
    if engine == "typst":
        body = _typst_pdf(nb, resources)
    elif engine == "latex":
        _clean_text(nb)
        body = _latex_pdf(nb, resources)
    else:
        from .chromium import chromium_pdf, find_chromium

        _clean_text(nb)
        body = chromium_pdf(nb, resources, find_chromium() or "chromium", _exporter_config())
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
