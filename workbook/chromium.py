"""The Chromium engine: nbconvert's HTML, printed to PDF by a Chromium driven with playwright.

For a machine with a browser but neither Typst's packages nor TeX. The HTML is
nbconvert's ``lab`` template with a few changes (:data:`TEMPLATE`):

- nothing is loaded from the network: no require.js, MathJax, Mermaid or widget
  scripts, and the browser may open only ``file:`` and ``data:`` URLs;
- Markdown, and Markdown or LaTeX outputs, are converted by the pandoc inside
  the ``pypandoc_binary`` wheel, one run per notebook, with TeX math as MathML,
  which Chromium draws itself (MathML Core): no script runs before printing;
- long code and output lines wrap (``pre-wrap``, broken anywhere if need be);
- a header line with the authors and the date, and page numbers, as the other
  engines print them.

playwright starts the system's Chromium (:func:`find_chromium`, never a browser
of its own) with :data:`CHROMIUM_FLAGS`; the PDF gets the headings as
bookmarks (``outline``), a tagged structure, and the authors in its metadata.
"""

from __future__ import annotations

import copy
import datetime
import html
import importlib.util
import io
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run"]
#: the page number at the foot of each page, as LaTeX and Typst print it
FOOTER = '<div style="width: 100%; text-align: center; font-size: 9px;"><span class="pageNumber"></span></div>'
PAGE_MARGINS = {"top": "15mm", "bottom": "15mm", "left": "10mm", "right": "12mm"}

#: Jupyter's Markdown as pandoc reads it: CommonMark-like (a list may follow a line of text, bare URLs are
#: links), MathJax math ($...$, $$...$$, \(...\), \[...\]), no citations, no implicit figures, no smart quotes.
MARKDOWN_FORMAT = ("markdown-smart-citations-implicit_figures-subscript-superscript"
                   "+lists_without_preceding_blankline+tex_math_single_backslash+autolink_bare_uris")

CSS = r"""
/* print sizes: a 100-character code line fits the A4 text width beside its prompt, as in the other engines */
body.jp-Notebook {
  --jp-code-font-size: 10.5px; --jp-content-font-size1: 12.5px; --jp-ui-font-size1: 12px;
  --jp-content-line-height: 1.45;
  --jp-content-font-size2: 1.1em; --jp-content-font-size3: 1.25em; --jp-content-font-size4: 1.45em;
  --jp-content-font-size5: 1.7em; --jp-cell-prompt-width: 58px; --jp-notebook-padding: 0px;
}
body.jp-Notebook { margin: 0; padding: 0; }
.jp-Cell { padding-left: 0; padding-right: 0; }
.jp-InputPrompt, .jp-OutputPrompt { font-size: var(--jp-code-font-size); padding-left: 0; padding-right: 5px; }
/* long lines wrap instead of running off the page; the input area is a table of fixed layout */
.jp-InputArea-editor, .jp-InputArea, .cm-editor, .jp-OutputArea-output { overflow: visible; min-width: 0; }
.cm-editor pre, .highlight pre, .jp-RenderedText pre, .jp-RenderedHTMLCommon pre, .jp-OutputArea-output pre {
  white-space: pre-wrap; overflow-wrap: anywhere; word-break: normal;
}
.jp-OutputArea-output, .jp-RenderedText { max-width: 100%; }
/* the prompt column stays beside the cell, also on a page narrower than 760 px */
.jp-InputArea-editor { display: table-cell; }
.jp-InputPrompt { display: table-cell; text-align: right; }
/* a cell is not cut by a page break where it can be avoided; headings stay with what follows */
.jp-Cell-inputWrapper, .jp-OutputArea-child, img, math[display="block"], table { break-inside: avoid; }
h1, h2, h3, h4, h5, h6 { break-after: avoid; }
/* math as MathML, in a font with an OpenType MATH table where the system has one */
math { font-family: "Latin Modern Math", "STIX Two Math", "DejaVu Math TeX Gyre", "Cambria Math", math;
  font-size: 1.12em; }  /* as tall as the prose's letters, as MathJax scales it */
math[display="block"] { display: block math; margin: 0.5em 0; }
menclose[notation~="box"] { border: 1px solid currentColor; padding: 0.2em 0.35em; }
menclose[notation~="updiagonalstrike"] { text-decoration: line-through; }
.wb-header { display: flex; justify-content: space-between; font-size: var(--jp-ui-font-size1);
  margin: 0 0 1em var(--jp-cell-prompt-width); color: var(--jp-content-font-color1); }
"""

#: nbconvert's ``lab`` template without scripts from the network, with :data:`CSS`, the header line,
#: and the HTML that :func:`convert_markdown` made in place of nbconvert's Markdown renderer.
TEMPLATE = r"""
{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
{%- if nb.metadata.authors %}
<meta name="author" content="{{ nb.metadata.authors | map(attribute='name') | join(', ') | escape_html }}">
{%- endif %}
{%- endblock extra_css -%}
{%- block html_head_css -%}
<style type="text/css">{{ resources.workbook_css }}</style>
{%- endblock html_head_css -%}
{%- block body_header -%}
{{ super() }}
{%- if nb.metadata.authors %}
<div class="wb-header"><span>{{ nb.metadata.authors | map(attribute='name') | join(', ') | escape_html }}</span>
<span>{{ resources.workbook_date }}</span></div>
{%- endif %}
{%- endblock body_header -%}
{% block input %}
{#- nbconvert's own, without its HTML sanitizer (bleach): pygments escapes the code it colours, and
    sanitizing took half of the page's time -#}
<div class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor" data-type="inline">
<div class="cm-editor cm-s-jupyter">
{{ cell.source | highlight_code(metadata=cell.metadata) }}
</div>
</div>
{%- endblock input %}
{% block markdowncell scoped %}
<div class="jp-Cell jp-MarkdownCell jp-Notebook-cell">
<div class="jp-Cell-inputWrapper">
<div class="jp-InputArea jp-Cell-inputArea">
{%- if resources.global_content_filter.include_input_prompt -%}{{ self.empty_in_prompt() }}{%- endif -%}
<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown jp-MarkdownOutput" data-mime-type="text/markdown">
{%- if 'workbook_html' in cell.metadata %}
{{ cell.metadata.workbook_html }}
{%- else %}
{{ cell.source | markdown2html | strip_files_prefix }}
{%- endif %}
</div>
</div>
</div>
</div>
{%- endblock markdowncell %}
"""


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


# --- Markdown and math to HTML with MathML ------------------------------------------------------


def pandoc_path() -> str:
    """The pandoc of ``pypandoc_binary`` (its version is pinned), else one on ``PATH``."""
    spec = importlib.util.find_spec("pypandoc")
    if spec is not None and spec.origin:
        shipped = Path(spec.origin).parent / "files" / ("pandoc.exe" if sys.platform == "win32" else "pandoc")
        if shipped.is_file():
            return str(shipped)
    found = shutil.which("pandoc")
    if found:
        return found
    from .errors import ExportError

    raise ExportError("the Chromium engine converts Markdown with pandoc, and none was found.\n"
                      "Fix: run `make setup` (it installs pypandoc_binary, which ships pandoc, into .venv).")


def _run_pandoc(markdown: str) -> str:
    from .errors import ExportError

    command = [pandoc_path(), "--from", MARKDOWN_FORMAT, "--to", "html5", "--mathml", "--wrap=none"]
    try:
        done = subprocess.run(command, input=markdown.encode("utf-8"), capture_output=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ExportError(f"pandoc could not convert the notebook's Markdown: {err}") from err
    if done.returncode != 0:
        raise ExportError("pandoc could not convert the notebook's Markdown:\n  "
                          + done.stderr.decode("utf-8", "replace").strip()[-2000:])
    return done.stdout.decode("utf-8")


def convert_markdown(pieces: list[str]) -> list[str]:
    """Each Markdown piece as HTML with MathML, from one pandoc run (one per piece should a piece
    swallow the separator that follows it, as an unclosed code fence does)."""
    if not pieces:
        return []
    token = secrets.token_hex(8)
    joined = "".join(f"{piece}\n\nWBSPLIT{token}N{i}\n\n" for i, piece in enumerate(pieces))
    parts = re.split(rf"<p>WBSPLIT{token}N(\d+)</p>\n?", _run_pandoc(joined))
    if parts[1::2] == [str(i) for i in range(len(pieces))]:  # [text0, "0", text1, "1", ..., rest]
        converted = parts[0::2][:-1]
    else:
        converted = [_run_pandoc(piece) for piece in pieces]
    return [_fix_mathml(piece) for piece in converted]


def _fix_mathml(text: str) -> str:
    """MathML without its TeX annotation (never drawn; the page is smaller without it). pandoc already
    writes styled letters (``\\mathbb E``) as the Unicode letters of that style, which Chromium draws."""
    return re.sub(r"<annotation encoding=\"application/x-tex\">.*?</annotation>", "", text, flags=re.S)


def _resolve_images(page: str, attachments: dict, folder: Path | None) -> str:
    """``<img>`` sources the page can show: a cell's attachments as data URIs, a relative path as the
    file beside the notebook (the page itself is printed from a temporary folder)."""
    import base64

    def one(match: re.Match) -> str:
        src = html.unescape(match[2])
        if src.startswith("attachment:"):
            for mime, payload in (attachments.get(src.removeprefix("attachment:")) or {}).items():
                if mime.startswith("image/"):
                    data = payload if isinstance(payload, str) else base64.b64encode(payload).decode()
                    return f"{match[1]}data:{mime};base64,{data}{match[3]}"
        elif folder is not None and not re.match(r"^([a-zA-Z][\w+.-]*:|/|#)", src):
            return f"{match[1]}{html.escape((folder / src).resolve().as_uri())}{match[3]}"
        return match[0]

    return re.sub(r'(<img\b[^>]*?\bsrc=")([^"]*)(")', one, page)


def _html_of_markdown(nb, folder: Path | None = None) -> None:
    """Convert, in place, every Markdown cell (to ``metadata.workbook_html``) and every Markdown or LaTeX
    output (to ``text/html``) of ``nb`` with one pandoc run; images are looked for in ``folder``."""
    targets, pieces = [], []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            targets.append(cell)
            pieces.append(cell.source)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/html" in data:
                continue
            for mime in ("text/markdown", "text/latex"):
                if mime in data:
                    targets.append(output)
                    pieces.append(data[mime])
                    break
    for target, converted in zip(targets, convert_markdown(pieces)):
        if "cell_type" in target:
            target.metadata["workbook_html"] = _resolve_images(converted, target.get("attachments") or {}, folder)
        else:
            target["data"]["text/html"] = _resolve_images(converted, {}, folder)


# --- the PDF ------------------------------------------------------------------------------------


def notebook_html(nb, resources: dict, config) -> str:
    """The notebook as one self-contained HTML page, ready to print."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    nb = copy.deepcopy(nb)
    folder = (resources.get("metadata") or {}).get("path")
    _html_of_markdown(nb, Path(folder) if folder else None)
    resources = dict(resources)
    resources["workbook_css"] = CSS
    today = datetime.date.today()
    resources["workbook_date"] = f"{today:%B} {today.day}, {today.year}"  # as LaTeX's \today and Typst print it
    exporter = HTMLExporter(config=config, template_name="lab",
                            extra_loaders=[DictLoader({"workbook_chromium.html.j2": TEMPLATE})],
                            template_file="workbook_chromium.html.j2")
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body


def _allow_local_only(route) -> None:
    if route.request.url.startswith(("file:", "data:", "about:")):
        route.continue_()
    else:
        route.abort()


def _outline_refs(node):
    """References to the outline items under ``node`` (a PDF dictionary with /First), in reading order."""
    ref = node.raw_get("/First") if "/First" in node else None
    while ref is not None:
        item = ref.get_object()
        yield ref
        yield from _outline_refs(item)
        ref = item.raw_get("/Next") if "/Next" in item else None


def _append_update(pdf: bytes, reader, changed: dict) -> bytes | None:
    """``pdf`` with an incremental update that replaces the objects ``changed`` ({reference: new object}):
    a few hundred bytes appended instead of a rewritten file. None if its cross-references are not a table."""
    from pypdf.generic import DictionaryObject, NameObject, NumberObject

    found = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", pdf[-1024:])
    if not found or not pdf[int(found[1]):int(found[1]) + 4] == b"xref":
        return None
    out = io.BytesIO()
    out.write(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    offsets = []
    for ref, obj in sorted(changed.items(), key=lambda item: item[0].idnum):
        offsets.append((ref.idnum, ref.generation, out.tell()))
        out.write(f"{ref.idnum} {ref.generation} obj\n".encode())
        obj.write_to_stream(out)
        out.write(b"\nendobj\n")
    xref_at = out.tell()
    out.write(b"xref\n")
    for idnum, generation, offset in offsets:
        out.write(f"{idnum} 1\n{offset:010d} {generation:05d} n \n".encode())
    trailer = DictionaryObject({NameObject(key): reader.trailer.raw_get(key) for key in reader.trailer
                                if key in ("/Size", "/Root", "/Info", "/ID")})
    trailer[NameObject("/Prev")] = NumberObject(int(found[1]))
    out.write(b"trailer\n")
    trailer.write_to_stream(out)
    out.write(f"\nstartxref\n{xref_at}\n%%EOF\n".encode())
    return out.getvalue()


def _finish_pdf(pdf: bytes, nb, headings: list[str]) -> bytes:
    """The PDF with the authors in its metadata (Chromium writes only the title), and bookmarks titled
    as the headings read (Chromium joins the lines of a wrapped heading without a space)."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DictionaryObject, IndirectObject, NameObject, TextStringObject

    reader = PdfReader(io.BytesIO(pdf))
    changed: dict = {}
    authors = ", ".join(a.get("name", "") for a in nb.metadata.get("authors") or [])
    info_ref = reader.trailer.raw_get("/Info") if "/Info" in reader.trailer else None
    if authors and isinstance(info_ref, IndirectObject):
        info = DictionaryObject(info_ref.get_object())
        info[NameObject("/Author")] = TextStringObject(authors)
        changed[info_ref] = info
    root = reader.trailer["/Root"]
    refs = list(_outline_refs(root["/Outlines"].get_object())) if "/Outlines" in root else []
    squeeze = lambda text: re.sub(r"\s+", "", text)  # noqa: E731
    titles = [str(ref.get_object().get("/Title", "")) for ref in refs]
    if len(refs) == len(headings) and all(squeeze(t) == squeeze(h) for t, h in zip(titles, headings)):
        for ref, title, heading in zip(refs, titles, headings):
            if title != heading:
                item = DictionaryObject(ref.get_object())
                item[NameObject("/Title")] = TextStringObject(heading)
                changed[ref] = item
    if not changed:
        return pdf
    updated = _append_update(pdf, reader, changed)
    if updated is not None:
        return updated
    writer = PdfWriter(clone_from=reader)  # cross-references in a stream: rewrite the file (slower)
    if authors:
        writer.add_metadata({"/Author": authors})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


HEADINGS_JS = "Array.from(document.querySelectorAll('h1,h2,h3,h4,h5,h6')).map(h => h.textContent.replace(/\\s+/g, ' ').trim())"


def chromium_pdf(nb, resources: dict, executable: str, config) -> bytes:
    """The notebook printed to PDF by the Chromium at ``executable``. A browser that does not start or
    print raises :class:`~workbook.errors.ExportError` (its first lines and the fix), not a traceback."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from .errors import ExportError

    page_html = notebook_html(nb, resources, config)
    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "notebook.html"
        page_file.write_text(page_html, encoding="utf-8")
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
                try:
                    page = browser.new_page()
                    page.route("**/*", _allow_local_only)
                    page.goto(page_file.as_uri(), wait_until="load")
                    headings = page.evaluate(HEADINGS_JS)
                    pdf = page.pdf(format="A4", print_background=True, margin=PAGE_MARGINS, outline=True,
                                   tagged=True, display_header_footer=True, header_template="<span></span>",
                                   footer_template=FOOTER)
                finally:
                    browser.close()
        except PlaywrightError as err:
            # the first line says what failed; playwright's log of the launch follows it
            lines = [line.strip()[:200] for line in str(err).splitlines() if line.strip()][:1]
            raise ExportError(f"Chromium ({executable}) could not print the notebook:\n  " + "\n  ".join(lines)
                              + "\nFix: name a working Chromium or Chrome with WORKBOOK_CHROMIUM=/path/to/chrome,"
                              " or use the default engine: unset WORKBOOK_PDF_ENGINE (or set it to typst).") from err
    return _finish_pdf(pdf, nb, headings)
