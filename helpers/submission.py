"""The submission: who submits, whether it is ready, the merged PDF, the zip, the blank copies.

- ``submission.toml`` (copy ``submission.example.toml``) names the students;
  the names go on the cover page and into the PDF metadata.
- :func:`check_notebooks` is ``make check``: one table of every problem of
  every notebook, and a verdict.
- :func:`merge` writes ``build/submission.pdf``: cover page, then each
  notebook, one bookmark each.
- :func:`make_zip` writes ``build/submission.zip`` with a SHA-256 manifest.
- :func:`write_blanks` writes the student copies to ``build/blank/``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import exercises, paths
from .build import BuildError, Options, atomic_write, executed_dir, file_hash, load_notebook_json, read_json, write_json
from .checks import FAIL_TAG, PASS_TAG

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
        message = f"{path.name} lists no real student names.\nFix: {hint}."
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


# --- make check -----------------------------------------------------------------------------------


@dataclass
class NotebookStatus:
    name: str
    problems: list[str] = field(default_factory=list)
    checks_passed: int = 0
    exercises: int = 0


@dataclass
class Report:
    notebooks: list[NotebookStatus]

    @property
    def ok(self) -> bool:
        return all(not n.problems for n in self.notebooks)

    def table(self) -> str:
        width = max(len(n.name) for n in self.notebooks)
        lines = [f"{'notebook':<{width}}  {'exercises':>9}  {'checks':>6}  status", "-" * (width + 40)]
        for n in self.notebooks:
            status = "ready" if not n.problems else f"{len(n.problems)} problem(s)"
            lines.append(f"{n.name:<{width}}  {n.exercises:>9}  {n.checks_passed:>6}  {status}")
            lines += [f"{'':<{width}}    - {p}" for p in n.problems]
        return "\n".join(lines)

    def summary(self) -> str:
        count = sum(len(n.problems) for n in self.notebooks)
        return (
            f"the submission is not ready: {count} problem(s) in "
            f"{', '.join(n.name for n in self.notebooks if n.problems)} (see the table above).\n"
            "Fix each one, then run `make check` again."
        )


def _text_outputs(cell: dict[str, Any]) -> str:
    parts = []
    for output in cell.get("outputs", []):
        text = output.get("text", "")
        parts.append("".join(text) if isinstance(text, list) else text)
    return "".join(parts)


def inspect_executed(nb: dict[str, Any], status: NotebookStatus) -> None:
    """Add to ``status`` what is wrong with an executed notebook (errors, failed checks, gaps in execution)."""
    expected_count, injected = 1, 0
    for index, cell in enumerate(nb.get("cells", [])):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            injected = 1  # papermill's cell: number the rest as the student's notebook does
        cell_no = index + 1 - injected  # 1-based, as in the student's notebook
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", ""))
        text = _text_outputs(cell)
        status.checks_passed += text.count(PASS_TAG)
        for line in text.splitlines():
            if line.startswith(FAIL_TAG):
                status.problems.append(f"cell {cell_no}: failing check: {line[len(FAIL_TAG):].strip()}")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") not in {"NotImplementedError", "CheckFailed"}:
                status.problems.append(f"cell {cell_no}: error output {output.get('ename')}: {str(output.get('evalue', ''))[:120]}")
        count = cell.get("execution_count")
        if not source.strip():
            continue
        if count != expected_count:
            shown = "never executed" if count is None else f"execution count {count}, expected {expected_count}"
            status.problems.append(f"cell {cell_no}: not executed top to bottom in one fresh kernel ({shown})")
            break
        expected_count += 1


def check_notebooks(options: Options, failures: list) -> Report:
    """The pre-submission check of every notebook, all problems at once."""
    failed = {f.name: f.message for f in failures}
    statuses = []
    for name in options.notebooks:
        status = NotebookStatus(name)
        statuses.append(status)
        try:
            source = load_notebook_json(paths.NOTEBOOKS / f"{name}.ipynb")
            status.exercises = len(exercises.find_regions(source, name))
            status.problems += [f"unfilled exercise: {u}" for u in exercises.unfilled(source, name)]
        except (BuildError, exercises.RegionError) as err:
            status.problems.append(str(err).splitlines()[0])
            continue
        if name in failed:
            first = failed[name].splitlines()
            detail = " ".join(line.strip() for line in first[:2])
            if "NotImplementedError" not in detail:  # unfilled exercises are listed above already
                status.problems.append(f"execution failed: {detail}")
            status.problems.append(f"the executed copy is stale or missing until the failure is fixed ({first[-1].strip()})")
            continue
        executed = executed_dir() / f"{name}.ipynb"
        nb = read_json(executed)
        if nb is None:
            status.problems.append(f"not executed: {executed} is missing; run `make run`")
            continue
        inspect_executed(nb, status)
        if not nb.get("metadata", {}).get("papermill"):
            status.problems.append("not executed by the build (no papermill record); run `make run`")
    return Report(statuses)


def stale_note() -> str:
    target = paths.build_dir() / "submission.pdf"
    if target.exists():
        when = dt.datetime.fromtimestamp(target.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        return f"\n{target} was NOT updated: it is the earlier build of {when} and does not contain your latest changes."
    return f"\nNo {target.name} was written."


# --- the merged PDF -------------------------------------------------------------------------------


def _cover_page(target: Path, config: Config, entries: list[tuple[str, int]], report: Report) -> None:
    """A one-page PDF: course, sheet, students, contents, build facts. Drawn with matplotlib (no TeX needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(8.27, 11.69))  # A4 in inches
    y = 0.88

    def text(s: str, size: float, weight: str = "normal", dy: float = 0.035, **kw: Any) -> None:
        nonlocal y
        fig.text(0.1, y, s, fontsize=size, fontweight=weight, va="top", **kw)
        y -= dy

    text(COURSE, 14, dy=0.04)
    text(SHEET, 22, "bold", dy=0.08)
    text("Submitted by", 12, "bold")
    if config.students:
        for s in config.students:
            text(f"{s.name}    {('student ID ' + s.student_id) if s.student_id else ''}", 12, dy=0.03)
    else:
        text("(no names given: fill in submission.toml)", 12, dy=0.03, color="firebrick")
    if config.group:
        text(f"Group: {config.group}", 12, dy=0.03)
    y -= 0.04
    text("Contents", 12, "bold")
    for (title, page), status in zip(entries, report.notebooks):
        text(f"{title}", 11, dy=0.0)
        fig.text(0.9, y, f"page {page}", fontsize=11, va="top", ha="right")
        y -= 0.025
        text(f"     {status.checks_passed} checks passed, {status.exercises} exercises", 9, dy=0.03, color="dimgray")
    stamp = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    fig.text(0.1, 0.06, f"Built {stamp} by `make pdf`: every notebook executed top to bottom in a fresh kernel.", fontsize=8, color="dimgray")
    fig.savefig(target, format="pdf", metadata={"Title": SHEET})
    plt.close(fig)


def merge(pdfs: list[Path], config: Config, report: Report) -> Path:
    """Cover page + each notebook's PDF -> ``build/submission.pdf``, one bookmark per notebook."""
    from pypdf import PdfReader, PdfWriter

    from .export import notebook_title

    build = paths.build_dir()
    target = build / "submission.pdf"
    titles = [notebook_title(executed_dir() / f"{p.stem}.ipynb") for p in pdfs]
    inputs = {"pdfs": [file_hash(p.read_bytes()) for p in pdfs], "config": config.metadata(), "checks": [n.checks_passed for n in report.notebooks]}
    stamp = build / "submission.inputs.json"
    if target.exists() and read_json(stamp) == inputs:
        print("  submission.pdf: up to date")
        return target
    readers = [PdfReader(p) for p in pdfs]
    entries, page = [], 2
    for title, reader in zip(titles, readers):
        entries.append((title, page))
        page += len(reader.pages)

    def write(tmp: Path) -> None:
        cover = tmp.with_suffix(".cover.pdf")
        try:
            _cover_page(cover, config, entries, report)
            writer = PdfWriter()
            writer.append(PdfReader(cover))
            writer.add_outline_item("Cover", 0)
            for (title, first_page), reader in zip(entries, readers):
                writer.append(reader, import_outline=False)
                writer.add_outline_item(title, first_page - 1)
            authors = ", ".join(config.metadata()["authors"]) or "(no names given)"
            writer.add_metadata({
                "/Title": f"{SHEET}: submission",
                "/Author": authors,
                "/Subject": f"{COURSE}. Contents: " + "; ".join(titles),
                "/Keywords": "; ".join(titles),
                "/Creator": "make pdf (helpers.build)",
            })
            writer.page_mode = "/UseOutlines"
            with open(tmp, "wb") as fh:
                writer.write(fh)
        finally:
            cover.unlink(missing_ok=True)

    atomic_write(target, write)
    write_json(stamp, inputs)
    return target


# --- make zip -------------------------------------------------------------------------------------


def make_zip(pdf: Path, notebooks: list[Path]) -> Path:
    """``build/submission.zip``: the PDF, the executed notebooks and ``MANIFEST.sha256``."""
    target = paths.build_dir() / "submission.zip"
    members = [(pdf, pdf.name)] + [(nb, f"executed/{nb.name}") for nb in notebooks]
    manifest = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {arc}\n" for p, arc in members)

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path, arcname in members:
                zf.write(path, arcname)
            zf.writestr("MANIFEST.sha256", manifest)

    atomic_write(target, write)
    return target


# --- make blank -----------------------------------------------------------------------------------


def write_blanks(force: bool = False, names: tuple[str, ...] = paths.NOTEBOOK_NAMES) -> list[Path]:
    """Write the student copies to ``build/blank/``. Never into ``notebooks/``.

    A copy that was edited since it was generated is not overwritten unless
    ``force``: all edited copies are listed and nothing is written.
    """
    out_dir = paths.build_dir() / "blank"
    record_path = out_dir / ".generated.json"
    record = read_json(record_path) or {}
    plans, edited = [], []
    for name in names:
        source = load_notebook_json(paths.NOTEBOOKS / f"{name}.ipynb")
        try:
            blank = exercises.blank_notebook(source, name)
        except exercises.RegionError as err:
            raise BuildError(f"cannot make the blank copy: {err}") from err
        text = json.dumps(blank, indent=1, ensure_ascii=False) + "\n"
        target = out_dir / f"{name}.ipynb"
        if target.exists() and not force:
            current = file_hash(target.read_bytes())
            if current not in {record.get(name), file_hash(text.encode("utf-8"))}:
                edited.append(target)
        plans.append((name, target, text))
    if edited:
        raise BuildError(
            "these blank copies were edited since they were generated, so they are left as they are:\n  "
            + "\n  ".join(str(p) for p in edited)
            + "\nFix: move your edits elsewhere, or overwrite them with `make blank FORCE=1`."
        )
    written = []
    for name, target, text in plans:
        atomic_write(target, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))
        record[name] = file_hash(text.encode("utf-8"))
        written.append(target)
        print(f"  blank copy: {target}")
    write_json(record_path, record)
    return written
