"""The errors of the Typst engine: one message each, saying what failed and where."""

from __future__ import annotations

import re


class TypstExportError(RuntimeError):
    """A notebook could not be exported with the Typst engine (a missing package, pandoc failing)."""


class TypstError(TypstExportError):
    """Typst could not compile the source written for a notebook.

    ``message`` is Typst's first error, ``line`` (1-based) and ``source_line``
    locate it in the Typst source, ``diagnostic`` is Typst's full report.
    """

    def __init__(self, message: str, line: int | None = None, source_line: str | None = None, diagnostic: str = "", hints=()):
        self.message = message
        self.line = line
        self.source_line = source_line
        self.diagnostic = diagnostic
        self.hints = list(hints)
        text = f"Typst could not compile the notebook: {message}"
        if line is not None:
            shown = source_line if source_line is not None else ""
            if len(shown) > 300:
                shown = shown[:300] + " ..."
            text += f"\n  line {line} of the Typst source: {shown}"
        for hint in self.hints:
            text += f"\n  hint: {hint}"
        super().__init__(text)

    @classmethod
    def from_typst(cls, err: Exception, source: str, main_name: str) -> TypstError:
        """Build from the ``typst`` package's exception and the source that was compiled."""
        message = getattr(err, "message", None) or str(err)
        diagnostic = getattr(err, "diagnostic", "") or ""
        hints = getattr(err, "hints", None) or re.findall(r"^\s*= hint: (.*)$", diagnostic, re.M)
        line = source_line = None
        for match in re.finditer(r"┌─ (.+?):(\d+):(\d+)", diagnostic):
            if match.group(1).replace("\\", "/").endswith(main_name):
                line = int(match.group(2))
                lines = source.splitlines()
                source_line = lines[line - 1] if 0 < line <= len(lines) else None
                break
        return cls(message.strip(), line, source_line, diagnostic, hints)
