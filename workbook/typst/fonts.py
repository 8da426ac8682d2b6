"""Which characters the Typst engine can draw, and spelling out the others.

The PDF uses only the fonts compiled into the ``typst`` wheel (Libertinus
Serif, New Computer Modern, New Computer Modern Math, DejaVu Sans Mono), never
system fonts, so the set of drawable characters is the same on every machine.
Typst falls back from one of its fonts to any other that has a glyph, so a
character is drawable when any of them has it. A character that none has
(emoji, most CJK) would come out as an empty box; :func:`spell_out_unprintable`
writes ``[ITS UNICODE NAME]`` instead, e.g. ``[SNAKE]``.

The code points those fonts cover are recorded in ``font_coverage.json`` for
the pinned ``typst`` version (reading them from the wheel takes about 2 s).
With another version they are read from the wheel once per process:
:func:`read_embedded_coverage` finds the font files inside the compiled
extension and reads their character maps with fontTools.
"""

from __future__ import annotations

import io
import json
import re
import struct
import unicodedata
from functools import lru_cache
from pathlib import Path

from helpers.files import atomic_write

COVERAGE_FILE = Path(__file__).resolve().parent / "font_coverage.json"

#: Characters that are never spelled out: controls are handled elsewhere, combining marks, format
#: characters (zero-width joiners, variation selectors) and spaces draw as nothing or as space anyway.
_SILENT_CATEGORIES = {"Mn", "Me", "Cf", "Zs", "Zl", "Zp", "Cc"}


def _typst_version() -> str:
    import typst

    return getattr(typst, "__version__", "unknown")


def _sfnt_fonts(blob: bytes):
    """Yield each OpenType/TrueType font file stored uncompressed inside ``blob``."""
    for match in re.finditer(rb"(?:\x00\x01\x00\x00|OTTO)\x00[\x08-\x28]", blob):
        start = match.start()
        num_tables, search_range = struct.unpack(">HH", blob[start + 4 : start + 8])
        if search_range != 16 * (1 << (num_tables.bit_length() - 1)):
            continue
        records = [blob[start + 12 + 16 * i : start + 28 + 16 * i] for i in range(num_tables)]
        tags = [r[:4] for r in records]
        if tags != sorted(tags) or b"cmap" not in tags or not all(t.isascii() for t in tags):
            continue
        end = max(offset + length for offset, length in (struct.unpack(">II", r[8:16]) for r in records))
        yield blob[start : start + end]


def read_embedded_coverage() -> frozenset[int]:
    """The code points covered by the fonts compiled into the installed ``typst`` extension (slow: ~2 s)."""
    import typst
    from fontTools.ttLib import TTFont

    covered: set[int] = set()
    for library in Path(typst.__file__).parent.glob("_typst*"):
        for data in _sfnt_fonts(library.read_bytes()):
            try:
                with TTFont(io.BytesIO(data), lazy=True) as font:
                    covered |= set(font.getBestCmap() or {})
            except Exception:  # noqa: BLE001 - a false match of the header pattern, not a font
                continue
    return frozenset(covered)


def coverage_ranges(codepoints) -> list[list[int]]:
    """``[[first, last], ...]`` runs of consecutive code points."""
    ranges: list[list[int]] = []
    for code in sorted(codepoints):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return ranges


def write_coverage_file(path: Path = COVERAGE_FILE) -> None:
    """Record the coverage of the installed ``typst`` wheel's fonts (run after changing its pin)."""
    data = {"typst": _typst_version(), "ranges": coverage_ranges(read_embedded_coverage())}
    text = json.dumps(data, separators=(",", ":")) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


@lru_cache(maxsize=1)
def covered_codepoints() -> frozenset[int] | None:
    """Code points some font of the Typst engine can draw: recorded, or read from the wheel.

    With another ``typst`` than the recorded one and no fontTools, the recorded
    set stands in; without any record, None (see :func:`needs_name`).
    """
    try:
        recorded = json.loads(COVERAGE_FILE.read_text(encoding="utf-8"))
        codepoints = frozenset(code for first, last in recorded["ranges"] for code in range(first, last + 1))
    except (OSError, ValueError, KeyError, TypeError):
        recorded, codepoints = {}, None
    if recorded.get("typst") == _typst_version():
        return codepoints
    try:
        return read_embedded_coverage() or codepoints
    except ImportError:
        return codepoints


def needs_name(char: str, covered: frozenset[int] | None) -> bool:
    """True when ``char`` would be drawn as an empty box.

    Without coverage data: characters from U+1F000 on (emoji and other pictographs).
    """
    code = ord(char)
    if code < 0x80 or unicodedata.category(char) in _SILENT_CATEGORIES:
        return False
    if covered is None:
        return code >= 0x1F000
    return code not in covered


def spell_out_unprintable(text: str) -> str:
    """Replace every character the Typst fonts lack by ``[ITS UNICODE NAME]`` (``U+XXXX`` if unnamed)."""
    if text.isascii():
        return text
    covered = covered_codepoints()
    out = []
    for char in text:
        if char == "\ufe0f":  # emoji presentation selector: nothing to draw once the emoji is named
            continue
        if needs_name(char, covered):
            out.append(f"[{unicodedata.name(char, f'U+{ord(char):04X}')}]")
        else:
            out.append(char)
    return "".join(out)
