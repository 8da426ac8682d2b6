"""The Typst PDF engine: Jupyter notebooks to PDF with nbconvert, pandoc and Typst, no TeX.

- :class:`TypstExporter`: nbconvert exporter writing Typst source (``--to typst``).
- :class:`TypstPDFExporter`: the same, compiled to PDF (``--to typstpdf``).
- :func:`export_pdf`: a notebook node to PDF bytes, for the build;
  :func:`engine_fingerprint`: changes when anything that shapes the PDF changes.
- :class:`TypstError`: Typst could not compile (message and source line);
  :class:`TypstExportError`: any other failure of the engine (its base class).

Everything comes from two pinned wheels, ``typst`` (the compiler and its
fonts) and ``pypandoc_binary`` (pandoc, for Markdown and TeX math).
"""

from .errors import TypstError, TypstExportError
from .exporter import TypstExporter, TypstPDFExporter, compile_typst, engine_fingerprint, export_pdf
from .fonts import spell_out_unprintable

__all__ = [
    "TypstError",
    "TypstExportError",
    "TypstExporter",
    "TypstPDFExporter",
    "compile_typst",
    "engine_fingerprint",
    "export_pdf",
    "spell_out_unprintable",
]
