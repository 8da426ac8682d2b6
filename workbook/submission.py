"""The submission: who submits, the merged PDF, the zip.

- ``submission.toml`` (copy ``submission.example.toml``) names the students;
  the names go on the cover page and into the PDF metadata.
- :func:`merge` writes ``build/submission.pdf``: cover page, then each
  notebook, one bookmark each.
- :func:`make_zip` writes ``build/submission.zip`` with a SHA-256 manifest.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import paths

from .check import Report
from .errors import BuildError
from .execute import executed_dir
from .iorw import atomic_write, content_hash, read_json, sha256, write_json

COURSE = "Machine Learning"
SHEET = "Exercise Sheet 8: Deep Learning II"
EXAMPLE_CONFIG = paths.ROOT / "submission.example.toml"


# --- who submits ----------------------------------------------------------------------------------


@dataclass
class Student:
    name: str
    student_id: str


@dataclass
class Config:
    students: list[Student] = field(default_factory=list)
    group: str = ""

    def metadata(self) -> dict[str, Any]:
        return {"authors": [f"{s.name} ({s.student_id})" if s.student_id else s.name for s in self.students]}


def load_config(path: Path | None = None, *, strict: bool = False) -> Config:
    """Read ``submission.toml``. Missing names: a warning, or with ``strict`` an error."""
    path = path or paths.CONFIG
    hint = f"copy {EXAMPLE_CONFIG.name} to {path.name} and fill in your names and student IDs"
    if not path.exists():
        message = f"no {path.name} found, so the submission carries no names.\nFix: {hint}."
        if strict:
            raise BuildError(message)
        print(f"warning: {message}", file=sys.stderr)
        return Config()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise BuildError(f"{path.name} is not valid TOML: {err}.\nFix: compare it with {EXAMPLE_CONFIG.name}.") from err
    students = []
    for i, entry in enumerate(raw.get("students", [])):
        if not isinstance(entry, dict) or not str(entry.get("name", "")).strip():
            raise BuildError(f"{path.name}: student #{i + 1} has no name.\nFix: every [[students]] entry needs name = \"...\" and id = \"...\".")
        students.append(Student(str(entry["name"]).strip(), str(entry.get("id", "")).strip()))
    placeholder = [s for s in students if s.name.lower().startswith("your name")]
    if not students or placeholder:
        message = (f"{path.name} lists no real student names.\nFix: replace the example entries in {path.name} "
                   "with your names and student IDs.")
        if strict:
            raise BuildError(message)
        print(f"warning: {message}", file=sys.stderr)
    missing_ids = [s.name for s in students if not s.student_id]
    if missing_ids:
        message = f"{path.name}: no student ID for {', '.join(missing_ids)}.\nFix: add id = \"...\" to each student."
        if strict:
            raise BuildError(message)
        print(f"warning: {message}", file=sys.stderr)
    return Config(students, str(raw.get("group", "")))


def submission_path() -> Path:
    return paths.build_dir() / "submission.pdf"


def is_quick(sources: dict[str, Any]) -> bool:
    """Whether any notebook of a build was executed in quick mode (a smoke run)."""
    return any(isinstance(e, dict) and (e.get("parameters") or {}).get("quick") for e in sources.values())


def build_options(sources: dict[str, Any]) -> str:
    """The options of a build that differ from the defaults, as typed: e.g. ``QUICK=1 SEED=3 PARTIAL=1``."""
    entries = [e for e in sources.values() if isinstance(e, dict)]
    params = [e.get("parameters") or {} for e in entries]
    words = []
    if any(p.get("quick") for p in params):
        words.append("QUICK=1")
    seeds = sorted({p.get("seed", 0) for p in params} - {0})
    words += [f"SEED={s}" for s in seeds]
    devices = sorted({str(p.get("device", "auto")) for p in params} - {"auto"})
    words += [f"DEVICE={d}" for d in devices]
    if any(e.get("partial") for e in entries):
        words.append("PARTIAL=1")
    return " ".join(words)


def _content(sources: dict[str, Any]) -> dict[str, Any]:
    """What a submission was built from, without how (quick, seed, device, partial): a PDF of the
    notebooks as they are stays, whatever options a later failed build was given."""
    return {name: ({k: v for k, v in entry.items() if k not in ("parameters", "partial")}
                   if isinstance(entry, dict) else entry) for name, entry in sources.items()}


def retire_stale(sources: dict[str, Any]) -> str:
    """After a failed build: rename an earlier ``submission.pdf`` that no longer matches the notebooks.

    ``sources`` says what each notebook would be executed from now. A PDF built
    from other sources (or with no record of them) becomes
    ``submission.stale.pdf``, so that it is never handed in by mistake; one that
    still matches them stays. Returns the sentence for the error message.
    """
    target = submission_path()
    if not target.exists():
        return f"\nNo {target.name} was written." + retire_zip("there is no submission.pdf it could belong to")
    recorded = (read_json(target.parent / "submission.inputs.json") or {}).get("sources")
    when = dt.datetime.fromtimestamp(target.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    if recorded and _content(recorded) == _content(sources):
        how = build_options(recorded)
        return (f"\n{target} was NOT updated; it is the build of {when}, made from the notebooks as they are now"
                + (f", with {how}" if how else "") + "."
                + (" A QUICK=1 build trains very little: it is not the submission." if is_quick(recorded) else ""))
    stale = target.with_name("submission.stale.pdf")
    os.replace(target, stale)
    (target.parent / "submission.inputs.json").unlink(missing_ok=True)
    return (f"\nThe earlier {target.name} (built {when}) does not match your notebooks any more: it was renamed to "
            f"{stale} so that it cannot be handed in by mistake. No new {target.name} was written."
            + retire_zip("it holds that PDF"))


def retire_zip(why: str) -> str:
    """Rename ``submission.zip`` to ``submission.stale.zip`` (atomically); the sentence that says so, or ''."""
    archive = paths.build_dir() / "submission.zip"
    if not archive.exists():
        return ""
    stale = archive.with_name("submission.stale.zip")
    os.replace(archive, stale)
    return f"\nThe earlier {archive.name} was renamed to {stale} ({why})."


# --- the merged PDF -------------------------------------------------------------------------------


def _cover_page(target: Path, config: Config, entries: list[tuple[str, int]], report: Report, partial: bool = False,
                options: str = "", quick: bool = False) -> None:
    """A one-page PDF: course, sheet, students, contents, build facts. Typeset with Typst (no TeX needed).

    A partial submission says so under the title, and for each notebook how many
    exercises are not done, how many checks failed and how many cells raised errors.
    Typst's built-in fonts only, as in the notebooks' PDFs; a fraction of a second
    (drawing it with matplotlib cost more than a second for its import alone).
    """
    import typst

    from .typst.markdown import typst_string  # set as it is, never read as markup

    red, gray = 'rgb("#b22222")', 'rgb("#696969")'

    def text(s: str, size: float, weight: str = "regular", fill: str = "black") -> str:
        """A Typst expression (code mode) that sets ``s``; prefix ``#`` to place it in the page."""
        return f'text(size: {size}pt, weight: "{weight}", fill: {fill}, {typst_string(s)})'

    out = ['#set page(paper: "a4", margin: (left: 2.1cm, right: 2.1cm, top: 2.6cm, bottom: 2cm))',
           f"#set document(title: {typst_string(SHEET)})", "#set par(spacing: 0.65em)",
           "#" + text(COURSE, 14), "#v(0.3cm)", "#" + text(SHEET, 22, "bold")]
    if partial:
        out += ["#v(0.2cm)", "#" + text("PARTIAL SUBMISSION: not every exercise is finished", 14, "bold", red),
                "", "#" + text("Each unfinished exercise is marked NOT DONE, CHECK FAILED or ERROR where it occurs.",
                               10, fill=red)]
    if quick:
        out += ["#v(0.2cm)", "#" + text("QUICK RUN (QUICK=1): a smoke test with very little training, not the "
                                        "results of the full notebooks", 12, "bold", red)]
    out += ["#v(1.2cm)", "#" + text("Submitted by", 12, "bold"), ""]
    if config.students:
        for s in config.students:
            out += ["#" + text(f"{s.name}    {('student ID ' + s.student_id) if s.student_id else ''}", 12), ""]
    else:
        out += ["#" + text("(no names given: fill in submission.toml)", 12, fill=red), ""]
    if config.group:
        out += ["#" + text(f"Group: {config.group}", 12), ""]
    out += ["#v(1cm)", "#" + text("Contents", 12, "bold"), "",
            "#" + text("Pages of this PDF, as a PDF viewer counts them; each notebook numbers its own pages "
                       "from 1 at the foot of the page.", 9, fill=gray), "#v(0.2cm)"]
    for (title, page), status in zip(entries, report.notebooks):
        passed, count = status.checks_passed, status.exercises
        lines = [text(f"{passed} check{'s' * (passed != 1)} passed, {count} exercise{'s' * (count != 1)}",
                      9, fill=gray)]
        if partial:
            unfinished = status.unfinished
            lines.append(text(status.count_line() if unfinished else "complete: nothing marked", 9,
                              "bold" if unfinished else "regular", red if unfinished else gray))
            if status.markers:  # the exercise markers are broken: its counts may miss exercises
                lines.append(text(f"exercise markers broken: {status.markers}", 9, "bold", red))
        out += [f"#grid(columns: (1fr, auto), {text(title, 11)}, {text(f'PDF page {page}', 11)})",
                "#pad(left: 1.2em, stack(spacing: 0.5em, " + ", ".join(lines) + "))", "#v(0.3cm)"]
    stamp = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    how = ("every cell executed in a fresh kernel, also after errors (PARTIAL=1)" if partial
           else "every notebook executed top to bottom in a fresh kernel")
    given = f" Options: {options}." if options else ""
    out.append(f"#place(bottom + left, {text(f'Built {stamp} by `make pdf`: {how}.{given}', 8, fill=gray)})")
    # the source as bytes: the page refers to no file, so it needs neither a file nor a root folder
    target.write_bytes(typst.compile(("\n".join(out) + "\n").encode("utf-8"), ignore_system_fonts=True))


def merge(pdfs: list[Path], config: Config, report: Report, *, sources: dict[str, Any] | None = None,
          partial: bool = False) -> tuple[Path, bool]:
    """Cover page + each notebook's PDF -> ``build/submission.pdf``, one bookmark per notebook.

    ``sources`` (what each notebook was executed from) is recorded beside the
    PDF, so that a later failed build can tell whether this PDF is stale
    (:func:`retire_stale`). Returns the path and whether it was written now.
    """
    from pypdf import PdfReader, PdfWriter

    from .export import notebook_title

    build = paths.build_dir()
    target = build / "submission.pdf"
    titles = [notebook_title(executed_dir() / f"{p.stem}.ipynb") for p in pdfs]
    inputs = {"pdfs": [content_hash(p.read_bytes()) for p in pdfs], "config": config.metadata(),
              "checks": [n.checks_passed for n in report.notebooks], "partial": partial, "sources": sources or {},
              "marked": [[n.counts, n.markers] for n in report.notebooks]}
    quick = is_quick(sources or {})
    stamp = build / "submission.inputs.json"
    if target.exists() and read_json(stamp) == inputs:
        return target, False
    readers = [PdfReader(p) for p in pdfs]
    entries, page = [], 2
    for title, reader in zip(titles, readers):
        entries.append((title, page))
        page += len(reader.pages)

    def write(tmp: Path) -> None:
        cover = tmp.with_suffix(".cover.pdf")
        try:
            _cover_page(cover, config, entries, report, partial, build_options(sources or {}), quick)
            writer = PdfWriter()
            writer.append(PdfReader(cover))
            writer.add_outline_item("Cover", 0)
            for (title, first_page), reader in zip(entries, readers):
                writer.append(reader, import_outline=False)
                writer.add_outline_item(title, first_page - 1)
            authors = ", ".join(config.metadata()["authors"]) or "(no names given)"
            writer.add_metadata({
                "/Title": f"{SHEET}: submission" + (" (PARTIAL: not every exercise is finished)" if partial else "")
                + (" (QUICK=1: a smoke run)" if quick else ""),
                "/Author": authors,
                "/Subject": f"{COURSE}. Contents: " + "; ".join(titles),
                "/Keywords": "; ".join(titles),
                "/Creator": "make pdf (python -m workbook pdf)",
            })
            writer.page_mode = "/UseOutlines"
            with open(tmp, "wb") as fh:
                writer.write(fh)
        finally:
            cover.unlink(missing_ok=True)

    atomic_write(target, write)
    write_json(stamp, inputs)
    return target, True


# --- make zip -------------------------------------------------------------------------------------


def make_zip(pdf: Path, notebooks: list[Path]) -> Path:
    """``build/submission.zip``: the PDF, the executed notebooks and ``MANIFEST.sha256``."""
    target = paths.build_dir() / "submission.zip"
    members = [(pdf, pdf.name)] + [(nb, f"executed/{nb.name}") for nb in notebooks]
    manifest = "".join(f"{sha256(p)}  {arc}\n" for p, arc in members)

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path, arcname in members:
                zf.write(path, arcname)
            zf.writestr("MANIFEST.sha256", manifest)

    atomic_write(target, write)
    return target
