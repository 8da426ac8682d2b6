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

from importlib import import_module
from typing import Any

from .errors import TypstError, TypstExportError
from .fonts import spell_out_unprintable

#: Loaded on first use: the exporter imports nbconvert (seconds), which a light submodule such as
#: ``markdown`` (``typst_string`` for the cover page) must not pay for.
_FROM_EXPORTER = ("TypstExporter", "TypstPDFExporter", "compile_typst", "engine_fingerprint", "export_pdf")


def __getattr__(name: str) -> Any:
    if name in _FROM_EXPORTER:
        return getattr(import_module(".exporter", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
