"""nbconvert exporters that write Typst source and compile it to PDF.

``TypstExporter`` is a ``TemplateExporter`` like nbconvert's ``LatexExporter``:
nbconvert's preprocessors (tags, streams, extracted outputs and attachments),
then the Jinja template ``templates/typst/index.typ.j2``. ``TypstPDFExporter``
compiles that source with the ``typst`` package, as ``PDFExporter`` runs
xelatex on the LaTeX exporter's output. Both are registered as nbconvert
exporters (``jupyter nbconvert --to typst`` / ``--to typstpdf``).

Before the template runs, the exporter

- spells out characters no font of the PDF has (:mod:`.fonts`),
- converts all Markdown of the notebook (cells, Markdown and LaTeX outputs)
  to Typst with one pandoc run (:mod:`.markdown`); the template's
  ``markdown2typst`` filter looks the results up,
- collects the images that Markdown cells show (local files, attachments,
  ``data:`` URIs) into ``resources["outputs"]``, next to the extracted outputs.

Every piece of notebook text reaches the Typst source either through pandoc's
Typst writer or as a Typst string literal (the ``typst_string`` filter), so no
text can change the meaning of the source.
"""

from __future__ import annotations

import base64
import datetime as dt
import mimetypes
import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote

from jinja2 import FileSystemBytecodeCache
from nbconvert.exporters import TemplateExporter
from nbconvert.filters import strip_ansi
from traitlets import Bool, List, Unicode, default
from traitlets.config import Config

from . import markdown
from .errors import TypstError, TypstExportError
from .fonts import spell_out_unprintable

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: A small Python grammar for code cells: Typst's own highlights about six times slower.
PYTHON_SYNTAX = TEMPLATES / "typst" / "python.sublime-syntax"
TYPST_MIMETYPE = "text/x-typst"

#: Image formats Typst reads (by file extension).
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".pdf"}
#: Runs of this many non-blank characters (long strings, URLs, rules of "====") get places to wrap.
LONG_RUN = 60
#: ... one at least every this many characters, and after punctuation.
RUN_CHUNK = 10
_BREAK_AFTER = set(".,;:([{=+-*/%&|<>_!?'\"")
_ZWSP = "\u200b"
_LONG_RUN_RE = re.compile(r"[^\s\u200b]{%d,}" % LONG_RUN)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")


# --- filters the template uses ------------------------------------------------------------------


def typst_string(text) -> str:
    """Any value as a Typst string literal: safe anywhere an expression may stand."""
    return markdown.typst_string("" if text is None else str(text))


def breakable(text: str) -> str:
    """Let Typst wrap long runs of non-blank characters: zero-width spaces after punctuation and every
    :data:`RUN_CHUNK` characters (they do not appear in the PDF's text)."""

    def split(match: re.Match) -> str:
        out, since = [], 0
        for char in match.group(0):
            out.append(char)
            since += 1
            if char in _BREAK_AFTER or since >= RUN_CHUNK:
                out.append(_ZWSP)
                since = 0
        return "".join(out)

    return _LONG_RUN_RE.sub(split, text)


def _last_segment(line: str) -> str:
    segments = [segment for segment in line.split("\r") if segment]
    return segments[-1] if segments else ""


def plain_text(text) -> str:
    """Output or code text as it should be printed: no ANSI colours, carriage returns resolved."""
    text = strip_ansi("" if text is None else str(text))
    if "\r" in text:  # a carriage return starts the line again: its last text stays (progress bars)
        text = "\n".join(_last_segment(line) for line in text.replace("\r\n", "\n").split("\n"))
    # backspaces erase the previous character, other controls are dropped
    while "\b" in text:
        new = re.sub(r"[^\n\x08]\x08", "", text)
        if new == text:
            break
        text = new
    return _CONTROL_RE.sub("", text.replace("\b", ""))


def typst_raw_text(text) -> str:
    """Code or output text as a Typst string literal, wrapped where needed."""
    return typst_string(breakable(plain_text(text).rstrip("\n")))


def css_px_to_pt(value) -> str | None:
    """A width in CSS pixels (1/96 inch, as Jupyter shows images) as a Typst length."""
    try:
        number = float(str(value).removesuffix("px"))
    except ValueError:
        return None
    return f"{number * 0.75:.2f}pt" if number > 0 else None


def pixel_width(data: bytes) -> int | None:
    """Width in pixels of a PNG, GIF or JPEG image, from its header; None for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little")
    if data[:2] == b"\xff\xd8":  # JPEG: the first start-of-frame segment holds the size
        i = 2
        while i + 9 < len(data) and data[i] == 0xFF:
            marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return int.from_bytes(data[i + 7 : i + 9], "big")
            i += 2 + length
    return None


def image_width(output, mimetype: str, resources) -> str | None:
    """Width for an output image: its metadata's width, else its pixels as Jupyter shows them (CSS px).

    The template caps it at 90% of the column; None leaves Typst its natural size (SVG, PDF).
    """
    width = css_px_to_pt(output.get("metadata", {}).get(mimetype, {}).get("width"))
    if width:
        return width
    filename = output.get("metadata", {}).get("filenames", {}).get(mimetype)
    data = (resources.get("outputs") or {}).get(filename)
    pixels = pixel_width(data) if isinstance(data, bytes) else None
    return css_px_to_pt(pixels) if pixels else None


# --- notebook text before the template ----------------------------------------------------------


def _spell_out_notebook(nb) -> None:
    """Apply :func:`spell_out_unprintable` to every text of ``nb`` that reaches the PDF, in place."""
    for cell in nb.cells:
        cell.source = spell_out_unprintable(cell.source)
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = spell_out_unprintable(output["text"])
            if "traceback" in output:
                output["traceback"] = [spell_out_unprintable(line) for line in output["traceback"]]
            data = output.get("data", {})
            for mime in ("text/plain", "text/markdown", "text/latex"):
                if isinstance(data.get(mime), str):
                    data[mime] = spell_out_unprintable(data[mime])


def _markdown_pieces(nb) -> list[str]:
    pieces = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            pieces.append(cell.source)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for mime in ("text/markdown", "text/latex"):
                if isinstance(data.get(mime), str):
                    pieces.append(data[mime])
    return list(dict.fromkeys(pieces))


def _first_heading(nb) -> str | None:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                match = re.match(r"^#\s+(.+?)\s*#*\s*$", line)
                if match:
                    return match.group(1)
    return None


def _plain_title(text: str) -> str:
    """A Markdown heading as plain text: no emphasis or code marks, single spaces."""
    text = re.sub(r"[*_`]+", "", text)
    return " ".join(text.split())


def _format_date(date: dt.date) -> str:
    return f"{_MONTHS[date.month - 1]} {date.day}, {date.year}"


def build_date() -> dt.datetime:
    """Now, or ``$SOURCE_DATE_EPOCH`` when set (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc)
    return dt.datetime.now(dt.timezone.utc).astimezone()


# --- the exporters -----------------------------------------------------------------------------


class TypstExporter(TemplateExporter):
    """Export a notebook to Typst source (``.typ``); images are extracted next to it."""

    export_from_notebook = "Typst"
    output_mimetype = TYPST_MIMETYPE

    language = Unicode("", help="Language of the code cells for highlighting; default: the notebook's.").tag(config=True)
    text_language = Unicode("en", help="Language of the document's text (hyphenation, quotes).").tag(config=True)
    paper = Unicode("a4", help="Typst paper name, e.g. a4 or us-letter.").tag(config=True)
    date = Unicode(None, allow_none=True, help="Date printed beside the authors; default: today.").tag(config=True)
    warn_unconverted_math = Bool(True, help="Log the TeX math that pandoc could not convert.").tag(config=True)
    cache_markdown = Bool(
        True, help="Keep Markdown conversions in a per-user temporary folder and reuse them (no pandoc run when nothing changed)."
    ).tag(config=True)

    @default("file_extension")
    def _file_extension_default(self):
        return ".typ"

    @default("template_name")
    def _template_name_default(self):
        return "typst"

    @default("template_extension")
    def _template_extension_default(self):
        return ".typ.j2"

    @default("extra_template_basedirs")
    def _default_extra_template_basedirs(self):
        return [str(TEMPLATES), os.getcwd()]

    @default("raw_mimetypes")
    def _raw_mimetypes_default(self):
        return [TYPST_MIMETYPE, "text/typst"]

    @default("optimistic_validation")
    def _optimistic_validation_default(self):
        return True  # validate once after all preprocessors, not after each (0.02 s each)

    @property
    def default_config(self):
        config = Config(
            {
                "NbConvertBase": {
                    "display_data_priority": [
                        "image/svg+xml",
                        "image/png",
                        "image/jpeg",
                        "image/gif",
                        "application/pdf",
                        "text/markdown",
                        "text/latex",
                        "text/plain",
                    ]
                },
                "TagRemovePreprocessor": {
                    "enabled": True,
                    "remove_cell_tags": ["remove-cell", "remove_cell"],
                    "remove_input_tags": ["remove-input", "remove_input"],
                    "remove_all_outputs_tags": ["remove-output", "remove_output"],
                },
                "CoalesceStreamsPreprocessor": {"enabled": True},
                "ExtractOutputPreprocessor": {
                    "enabled": True,
                    "extract_output_types": ["image/png", "image/jpeg", "image/gif", "image/svg+xml", "application/pdf"],
                },
                "ExtractAttachmentsPreprocessor": {"enabled": True},
                "HighlightMagicsPreprocessor": {"enabled": True},
            }
        )
        if super().default_config:
            merged = super().default_config.copy()
            merged.merge(config)
            config = merged
        return config

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._markdown: dict[str, str] = {}
        #: TeX snippets pandoc could not convert in the last export (shown as TeX text)
        self.unconverted_math: list[str] = []

    def _create_environment(self):
        environment = super()._create_environment()
        # compiled templates kept between processes (a per-user folder in the temporary directory):
        # compiling them takes longer than rendering a notebook
        try:
            environment.bytecode_cache = FileSystemBytecodeCache()
        except OSError:  # no usable temporary directory: compile every time
            pass
        return environment

    def default_filters(self):
        yield from super().default_filters()
        yield ("typst_string", typst_string)
        yield ("typst_raw_text", typst_raw_text)
        yield ("css_px_to_pt", css_px_to_pt)
        yield ("image_width", image_width)
        yield ("markdown2typst", self._markdown_filter)

    def _markdown_filter(self, source) -> str:
        source = "" if source is None else str(source)
        if source not in self._markdown:
            converted, missed = markdown.markdown_to_typst([source])
            self._markdown[source] = converted[0]
            self.unconverted_math += missed
        return self._markdown[source]

    def _preprocess(self, nb, resources):
        nb, resources = super()._preprocess(nb, resources)
        _spell_out_notebook(nb)
        self._convert_markdown(nb, resources)
        resources["typst"] = self._document_info(nb, resources)
        return nb, resources

    def _convert_markdown(self, nb, resources) -> None:
        pieces = _markdown_pieces(nb)
        cache_dir = markdown.default_cache_dir() if self.cache_markdown else None
        converted, self.unconverted_math = markdown.markdown_to_typst(pieces, _ImageResolver(resources), cache_dir)
        self._markdown = dict(zip(pieces, converted))
        if self.unconverted_math and self.warn_unconverted_math:
            self.log.warning("pandoc could not convert this TeX math, printed as TeX: %s", "; ".join(self.unconverted_math))

    def _document_info(self, nb, resources) -> dict:
        metadata = nb.metadata
        heading = _first_heading(nb)
        title = metadata.get("title") or (_plain_title(heading) if heading else "") or resources.get("metadata", {}).get("name") or "Notebook"
        title = spell_out_unprintable(str(title))
        authors = []
        for author in metadata.get("authors", []) or []:
            name = author.get("name") if isinstance(author, dict) else author
            if name:
                authors.append(spell_out_unprintable(str(name)))
        language = self.language or metadata.get("language_info", {}).get("name") or metadata.get("kernelspec", {}).get("language") or ""
        return {
            "title": title,
            # title once: the notebook's own first heading shows it when that heading is the title
            "show_title": not heading or _plain_title(heading).casefold() != _plain_title(title).casefold(),
            "authors": authors,
            "date": self.date if self.date is not None else _format_date(build_date()),
            "language": str(language).lower(),
            "text_language": self.text_language,
            "paper": self.paper,
            "python_syntax": _python_syntax(),
        }


@lru_cache(maxsize=1)
def _python_syntax() -> str:
    return PYTHON_SYNTAX.read_text(encoding="utf-8")


class _ImageResolver:
    """Paths for the images of Markdown cells, collected into ``resources["outputs"]``."""

    def __init__(self, resources):
        if not isinstance(resources.get("outputs"), dict):
            resources["outputs"] = {}
        self.outputs = resources["outputs"]
        self.files_dir = resources.get("output_files_dir") or ""
        self.notebook_dir = Path(resources.get("metadata", {}).get("path") or os.getcwd())
        self.known: dict[str, str | None] = {}

    def _store(self, data: bytes, suffix: str) -> str:
        name = os.path.join(self.files_dir, f"markdown_image_{len(self.known)}{suffix}").replace(os.sep, "/")
        self.outputs[name] = data
        return name

    def __call__(self, src: str) -> str | None:
        if src not in self.known:
            self.known[src] = self._resolve(src)
        return self.known[src]

    def _resolve(self, src: str) -> str | None:
        if src in self.outputs:
            return src
        if src.startswith("data:"):
            match = re.match(r"data:([\w/+.-]+)?(;base64)?,(.*)", src, re.S)
            if not match or not match.group(2):
                return None
            suffix = mimetypes.guess_extension(match.group(1) or "") or ""
            suffix = ".jpg" if suffix == ".jpe" else suffix
            if suffix not in IMAGE_SUFFIXES:
                return None
            try:
                return self._store(base64.b64decode(match.group(3)), suffix)
            except ValueError:
                return None
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", src):  # a web address: Typst cannot fetch it
            return None
        path = Path(unquote(src.split("#", 1)[0].split("?", 1)[0]))
        path = path if path.is_absolute() else self.notebook_dir / path
        suffix = path.suffix.lower()
        if suffix not in IMAGE_SUFFIXES or not path.is_file():
            return None
        try:
            return self._store(path.read_bytes(), suffix)
        except OSError:
            return None


class TypstPDFExporter(TypstExporter):
    """Export a notebook to PDF: Typst source from :class:`TypstExporter`, compiled by ``typst``.

    Only the fonts built into Typst are used (``ignore_system_fonts``), so the
    PDF looks the same on every machine.
    """

    export_from_notebook = "PDF via Typst"
    output_mimetype = "application/pdf"

    keep_source = Bool(False, help="Also return the Typst source as resources['typst_source'].").tag(config=True)
    pdf_standard = List(Unicode(), default_value=[], help="PDF standards to conform to, e.g. ['a-2b'].").tag(config=True)

    @default("file_extension")
    def _file_extension_default(self):
        return ".pdf"

    @default("raw_mimetypes")
    def _raw_mimetypes_default(self):
        return [TYPST_MIMETYPE, "text/typst"]

    def from_notebook_node(self, nb, resources=None, **kw):
        source, resources = super().from_notebook_node(nb, resources=resources, **kw)
        pdf = compile_typst(source, resources.get("outputs") or {}, pdf_standards=list(self.pdf_standard))
        if self.keep_source:
            resources["typst_source"] = source
        resources["output_extension"] = ".pdf"
        # the images are inside the PDF: nothing else for a writer to write
        resources.pop("outputs", None)
        resources.pop("attachments", None)
        return pdf, resources


def compile_typst(source: str, files: dict | None = None, pdf_standards=()) -> bytes:
    """Compile Typst ``source`` to PDF bytes; ``files`` maps relative paths to the bytes it reads.

    Raises :class:`TypstError` with Typst's message and the offending source line.
    """
    try:
        import typst
    except ImportError as err:
        raise TypstExportError(
            "the Typst engine needs the Python package typst.\nFix: pip install -r requirements.txt (or: pip install typst)"
        ) from err
    main_name = "notebook.typ"
    with tempfile.TemporaryDirectory(prefix="nbtypst-") as tmp:
        root = Path(tmp)
        for name, data in (files or {}).items():
            target = (root / name).resolve()
            if root.resolve() not in target.parents:
                continue  # a name that leaves the folder
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data if isinstance(data, bytes) else str(data).encode("utf-8"))
        main = root / main_name
        main.write_text(source, encoding="utf-8")
        options = {"root": str(root), "ignore_system_fonts": True, "timestamp": int(build_date().timestamp())}
        if pdf_standards:
            options["pdf_standards"] = list(pdf_standards)
        try:
            return typst.compile(str(main), **options)
        except typst.TypstError as err:
            raise TypstError.from_typst(err, source, main_name) from None
        except (RuntimeError, ValueError, OSError) as err:
            raise TypstError(str(err).strip() or type(err).__name__) from None


def export_pdf(nb, resources: dict | None = None, config: Config | None = None) -> bytes:
    """PDF bytes of notebook ``nb`` (an nbformat NotebookNode).

    ``resources["metadata"]["path"]`` is the notebook's folder (for images that
    Markdown cells show from files); ``nb.metadata`` may carry ``title`` and
    ``authors`` (``[{"name": ...}]``). Without ``config``, one exporter is kept
    for the process (its compiled template is reused); not for use from several
    threads at once.
    """
    exporter = TypstPDFExporter(config=config) if config is not None else _default_exporter()
    pdf, _ = exporter.from_notebook_node(nb, resources=resources)
    return pdf


@lru_cache(maxsize=1)
def _default_exporter() -> TypstPDFExporter:
    return TypstPDFExporter()


def engine_fingerprint() -> str:
    """SHA-256 over this engine's files and the versions of typst and pypandoc_binary.

    A PDF built with the same fingerprint from the same notebook is the same PDF
    (up to the date), so a build can skip the export when it has not changed.
    """
    from importlib.metadata import PackageNotFoundError, version

    from helpers.files import content_hash, tree_hash

    versions = []
    for distribution in ("typst", "pypandoc_binary", "nbconvert"):
        try:
            versions.append(f"{distribution}=={version(distribution)}")
        except PackageNotFoundError:
            versions.append(f"{distribution} missing")
    return content_hash(tree_hash(Path(__file__).resolve().parent), *versions)
