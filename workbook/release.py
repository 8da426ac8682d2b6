"""``make release``: the student edition, in ``build/release/`` and ``build/release.zip``.

The release is a folder a course can publish as it is: the notebooks blanked
(every solution replaced by a stub, every written answer emptied, no outputs),
the notebooks' library ``helpers``, the build tool ``workbook``, the data, the
tests a student can run (``tests/`` without ``tests/instructor/``), the pins,
the Makefile and the students' README (``docs/student/README.md``, as
``README.md``). Never the ``instructor`` package, the instructors' tests,
``docs/``, ``CONTRIBUTING.md``, CI files, ``.git``, ``.venv`` or ``build/``.

The files come from ``git ls-files`` in a git checkout, so nothing that was
never committed ships; elsewhere from the folder itself. Before anything is
written, the release is checked: a solution or answer region with a body, a
marker the blanking did not recognise, or an import of ``instructor`` stops it
with a :class:`~workbook.errors.ReleaseError` that says what to fix.

The folder and the zip are assembled in a temporary folder inside the build
directory and renamed into place, so an existing release is replaced only by
a complete one. The zip lists its members in sorted order with fixed
timestamps: the same sources give the same bytes.

    python -m workbook release
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from helpers import paths

from . import exercises
from .errors import ReleaseError
from .iorw import notebook_text

#: Folders that ship (with everything tracked in them, except what EXCLUDED names).
SHIPPED_DIRS = ("notebooks", "helpers", "workbook", "data", "tests")
#: Files at the top level that ship as they are.
SHIPPED_FILES = ("requirements.txt", "environment.yml", "pyproject.toml", "Makefile",
                 "submission.example.toml", ".gitignore")
#: The students' README, shipped as README.md at the release's top level.
STUDENT_README = "docs/student/README.md"
#: Folders under a shipped folder that never ship.
EXCLUDED_DIRS = ("tests/instructor",)
#: Names that never ship wherever they appear.
EXCLUDED_NAMES = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".ruff_cache",
                  ".hypothesis", ".DS_Store"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".egg-info")
#: What must be in every release (beside the notebooks): without them it does not work.
REQUIRED = ("README.md", "Makefile", "requirements.txt", "pyproject.toml",
            "helpers/__init__.py", "workbook/__init__.py", "workbook/__main__.py")
#: The top folder inside release.zip: unzipping gives one folder of this name.
ZIP_FOLDER = "dl2-workbook"
#: Fixed timestamp of every zip member (the earliest a zip can hold), for identical bytes.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

#: A marker that looks like a solution or answer marker, recognised or not.
LOOSE_CODE_MARKER = re.compile(r"#+\s*(BEGIN|END)\s+SOLUTION", re.IGNORECASE)
LOOSE_ANSWER_MARKER = re.compile(r"(BEGIN|END)\s+ANSWER", re.IGNORECASE)
#: An import of the instructor package (top level or as tests.instructor), in code or a notebook.
INSTRUCTOR_IMPORT = re.compile(
    r"^[ \t]*(?:from\s+(?:tests\.)?instructor\b|import\s+(?:tests\.)?instructor\b"
    r"|from\s+tests\s+import\s+instructor\b)"
    r"|import_module\(\s*[\"'](?:tests\.)?instructor\b",
    re.MULTILINE)


def release_dir() -> Path:
    return paths.build_dir() / "release"


def release_zip() -> Path:
    return paths.build_dir() / "release.zip"


@dataclass
class Release:
    """The release's files (relative POSIX path -> bytes and mode), assembled in memory."""

    files: dict[str, bytes] = field(default_factory=dict)
    executable: set[str] = field(default_factory=set)
    #: notebook -> the names of its blanked exercises
    exercises: dict[str, list[str]] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)  # untracked files under shipped folders
    notes: list[str] = field(default_factory=list)

    def size(self) -> int:
        return sum(len(data) for data in self.files.values())


# --- which files ------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> list[str] | None:
    """``git -C root ARGS`` as NUL-separated names, or None when root is not a git checkout."""
    if not (root / ".git").exists() or shutil.which("git") is None:
        return None
    result = subprocess.run(["git", "-C", str(root), *args, "-z"], capture_output=True)
    if result.returncode != 0:
        return None
    return [name for name in result.stdout.decode("utf-8", "surrogateescape").split("\0") if name]


def _walk(root: Path) -> list[str]:
    names = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in EXCLUDED_NAMES | {".git", ".venv", "build"}]
        names += [Path(folder, f).relative_to(root).as_posix() for f in files]
    return sorted(names)


def _ships(name: str) -> bool:
    parts = name.split("/")
    if any(part in EXCLUDED_NAMES or part.endswith(EXCLUDED_SUFFIXES) for part in parts):
        return False
    if any(name == d or name.startswith(d + "/") for d in EXCLUDED_DIRS):
        return False
    return name in SHIPPED_FILES or (len(parts) > 1 and parts[0] in SHIPPED_DIRS)


def source_files(root: Path) -> tuple[list[str], list[str], bool]:
    """(files that ship, untracked files under shipped folders that do not, from git?)."""
    tracked = _git(root, "ls-files", "--cached")
    if tracked is None:
        return [n for n in _walk(root) if _ships(n)], [], False
    untracked = _git(root, "ls-files", "--others", "--exclude-standard") or []
    shipped = sorted(n for n in set(tracked) if _ships(n) and (root / n).is_file())
    return shipped, sorted(n for n in untracked if _ships(n)), True


# --- blanking and checking the notebooks ------------------------------------------------------


def _cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _parses(source: str) -> bool:
    if any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()):
        return True  # IPython syntax: not Python, not ours to judge
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


def _unrecognised_markers(nb: dict, name: str) -> list[str]:
    """Marker-like lines that the region syntax does not recognise (they would not be blanked)."""
    problems = []
    regions = exercises.find_regions(nb, name)
    recognised = {(r.cell, line) for r in regions for line in (r.start, r.end)}
    for index, cell in enumerate(nb.get("cells", [])):
        kind = cell.get("cell_type")
        loose = {"code": LOOSE_CODE_MARKER, "markdown": LOOSE_ANSWER_MARKER}.get(kind)
        if loose is None:
            continue
        for number, line in enumerate(_cell_source(cell).splitlines()):
            if loose.search(line) and (index, number) not in recognised:
                if kind == "markdown" and "<!--" not in line:
                    continue  # prose that mentions the markers, e.g. in the introduction
                problems.append(f"{name} cell {index + 1} line {number + 1}: {line.strip()!r}")
    return problems


def blank(nb: dict, name: str) -> tuple[dict, list[str]]:
    """The student copy of one solved notebook and the names of its exercises.

    Raises ReleaseError when a region is malformed, when a marker would not be
    recognised, or when a cell is no longer valid Python after blanking.
    """
    fix = ("Fix: write each region exactly as CONTRIBUTING.md shows, "
           "'### BEGIN SOLUTION <exercise name>' ... '### END SOLUTION' in a code cell, "
           "'<!-- BEGIN ANSWER <question> -->' ... '<!-- END ANSWER -->' in a Markdown cell.")
    try:
        regions = exercises.find_regions(nb, name)
        blanked = exercises.blank_notebook(nb, name)
    except exercises.RegionError as err:
        raise ReleaseError(f"cannot blank {name}: {err}.\n{fix}") from err
    unrecognised = _unrecognised_markers(nb, name)
    if unrecognised:
        raise ReleaseError(
            f"cannot blank {name}: these lines look like solution or answer markers but are not "
            "recognised, so what they enclose would reach students:\n  "
            + "\n  ".join(unrecognised) + f"\n{fix}")
    for region in regions:
        if region.kind != "code":
            continue
        before = _cell_source(nb["cells"][region.cell])
        after = _cell_source(blanked["cells"][region.cell])
        if _parses(before) and not _parses(after):
            raise ReleaseError(
                f"cannot blank {name}: after '{region.name}' is replaced by its stub, cell "
                f"{region.cell + 1} is no longer valid Python.\nFix: make the region a complete "
                "block of statements at one indentation level (CONTRIBUTING.md), e.g. the whole "
                "body of a function, never half of an if/else.")
    for cell in blanked.get("cells", []):
        metadata = cell.get("metadata", {})
        for key in ("execution", "papermill", "collapsed", "scrolled"):
            metadata.pop(key, None)
    blanked.get("metadata", {}).pop("papermill", None)
    return blanked, [r.name for r in regions]


# --- what must never ship ---------------------------------------------------------------------


def _region_bodies(lines: list[str]) -> list[tuple[int, str]]:
    """(line number, marker line) of every solution or answer region in ``lines`` that has a body.

    An answer region whose body is the blank copy's placeholder counts as empty.
    """
    found, open_at = [], None
    for number, line in enumerate(lines):
        if exercises.BEGIN_CODE.match(line) or exercises.BEGIN_ANSWER.match(line):
            open_at = number
        elif open_at is not None and (exercises.END_CODE.match(line)
                                      or exercises.END_ANSWER.match(line)):
            body = "\n".join(lines[open_at + 1: number]).strip()
            if body and body != exercises.ANSWER_PLACEHOLDER:
                found.append((open_at + 1, lines[open_at].strip()))
            open_at = None
    return found


def _guarded_import_lines(source: str) -> set[int] | None:
    """Line numbers of imports inside ``try: ... except ImportError``; None if not Python."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    optional = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
    guarded = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = set()
        for handler in node.handlers:
            kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            caught |= {getattr(k, "id", getattr(k, "attr", None)) for k in kinds if k is not None}
            if handler.type is None:
                caught.add("BaseException")
        if caught & optional:
            for statement in node.body:
                guarded |= {n.lineno for n in ast.walk(statement)
                            if isinstance(n, (ast.Import, ast.ImportFrom, ast.Call))}
    return guarded


def optional_instructor_imports(files: dict[str, bytes]) -> list[str]:
    """Imports of ``instructor`` in Python files that work without it (``except ImportError``)."""
    found = []
    for name, data in sorted(files.items()):
        if not name.endswith(".py"):
            continue
        text = data.decode("utf-8", "replace")
        if not INSTRUCTOR_IMPORT.search(text):
            continue
        guarded = _guarded_import_lines(text) or set()
        lines = text.splitlines()
        for number in sorted(guarded):
            if INSTRUCTOR_IMPORT.search(lines[number - 1]):
                found.append(f"{name} line {number}: {lines[number - 1].strip()}")
    return found


def leaks(files: dict[str, bytes]) -> list[str]:
    """Each solution or answer region with a body, and each import of ``instructor`` that
    the release would need (an import that falls back on ``except ImportError`` is allowed).
    """
    problems = []
    for name, data in sorted(files.items()):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # binary (the data): no code, no text
        texts = [text]
        if name.endswith(".ipynb"):
            try:
                texts = [_cell_source(c) for c in json.loads(text).get("cells", [])]
            except (ValueError, AttributeError):
                problems.append(f"{name}: not a readable notebook")
                continue
        for part in texts:
            for number, marker in _region_bodies(part.splitlines()):
                problems.append(f"{name}: a region with its content ({marker!r}, line {number})")
            imports = list(INSTRUCTOR_IMPORT.finditer(part))
            guarded = set()
            if imports and name.endswith(".py"):
                guarded = _guarded_import_lines(part) or set()
            for match in imports:
                line = part.count("\n", 0, match.start()) + 1
                if line in guarded:
                    continue
                statement = match.group(0).strip()
                problems.append(f"{name}: imports the instructor package ({statement!r}, "
                                f"line {line})")
    return problems


# --- assembling and writing -------------------------------------------------------------------


def assemble(root: Path | None = None) -> Release:
    """The release's files in memory, checked; ReleaseError when it cannot or must not ship."""
    root = Path(root or paths.ROOT)
    names, untracked, from_git = source_files(root)
    release = Release(left_out=untracked)
    if not from_git:
        release.notes.append(f"{root} is not a git checkout: the files were taken from the folder")
    readme = root / STUDENT_README
    if not readme.is_file() and not (root / "instructor").is_dir():
        raise ReleaseError(f"{root} is a student edition (it has no instructor/ folder and no {STUDENT_README}): "
                           "`make release` makes a student edition from the instructors' workbook.\n"
                           "Fix: nothing to do here; for your submission run `make pdf`.")
    if not readme.is_file():
        raise ReleaseError(f"the students' README is missing: {readme}.\n"
                           f"Fix: write {STUDENT_README} (it becomes README.md in the release).")
    release.files["README.md"] = readme.read_bytes()
    for name in names:
        path = root / name
        data = path.read_bytes()
        if name.startswith("notebooks/") and name.endswith(".ipynb"):
            stem = Path(name).stem
            try:
                nb = json.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as err:
                raise ReleaseError(
                    f"{name} is not a valid notebook ({err}).\n"
                    f"Fix: repair it, or restore it with `git checkout -- {name}`.") from err
            blanked, names_blanked = blank(nb, stem)
            release.exercises[stem] = names_blanked
            data = notebook_text(blanked).encode("utf-8")
        release.files[name] = data
        if os.access(path, os.X_OK):
            release.executable.add(name)
    missing = [n for n in REQUIRED if n not in release.files]
    missing += [f"notebooks/{n}.ipynb" for n in paths.NOTEBOOK_NAMES
                if f"notebooks/{n}.ipynb" not in release.files]
    if missing:
        untracked_missing = [n for n in missing if n in untracked]
        hint = (f"Fix: commit them (`git add {' '.join(untracked_missing)}`); "
                "only committed files ship."
                if untracked_missing else "Fix: restore them.")
        raise ReleaseError("the release would lack " + ", ".join(missing) + f".\n{hint}")
    if not any(release.exercises.values()):
        raise ReleaseError(
            "the notebooks hold no solution regions: this looks like a student copy already.\n"
            "Fix: run `make release` in the solved workbook (the instructors' repository).")
    release.notes += [f"optional import of the instructor package (the release works without it): "
                      f"{where}" for where in optional_instructor_imports(release.files)]
    found = leaks(release.files)
    if found:
        raise ReleaseError(
            "refusing to write the release: it would give answers away "
            "or need the instructor package:\n  "
            + "\n  ".join(found)
            + "\nFix: blank or remove these regions, and move code that imports `instructor` "
              "to instructor/ or tests/instructor/ (or fall back with `except ImportError`).")
    return release


def _mode(release: Release, name: str) -> int:
    return 0o755 if name in release.executable else 0o644


def zip_bytes(release: Release, folder: str = ZIP_FOLDER) -> bytes:
    """The release as a zip under ``folder/``: sorted members, fixed timestamps, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(release.files):
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100000 | _mode(release, name)) << 16
            archive.writestr(info, release.files[name])
    return buffer.getvalue()


def write(release: Release, folder: Path | None = None,
          archive: Path | None = None) -> tuple[Path, Path]:
    """Write the folder and the zip, each complete or not at all (assembled beside, renamed in)."""
    folder = Path(folder or release_dir())
    archive = Path(archive or release_zip())
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".release-"))
    try:
        new_folder = staging / folder.name
        for name, data in release.files.items():
            target = new_folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            os.chmod(target, _mode(release, name))
        new_zip = staging / archive.name
        new_zip.write_bytes(zip_bytes(release))
        if folder.exists():  # the old release steps aside only once the new one is complete
            os.replace(folder, staging / "previous")
        os.replace(new_folder, folder)
        os.replace(new_zip, archive)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder, archive


def build_release(root: Path | None = None) -> tuple[Release, Path, Path]:
    release = assemble(root)
    folder, archive = write(release)
    return release, folder, archive


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workbook release",
        description="Write the student edition of the workbook to build/release/ "
                    "and build/release.zip.")
    parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        release, folder, archive = build_release()
    except ReleaseError as err:
        print(f"\nerror: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"\nerror: cannot write the release into {paths.build_dir()}: {err}.\n"
              "Fix: make the build directory writable, or build elsewhere with "
              "WORKBOOK_BUILD_DIR=/some/writable/dir.", file=sys.stderr)
        return 1
    for note in release.notes:
        print(f"note: {note}")
    if release.left_out:
        print("left out, never committed (`git add` them to ship them):\n  "
              + "\n  ".join(release.left_out))
    for name, blanked in release.exercises.items():
        print(f"  {name}: {len(blanked)} exercises blanked")
    print(f"release written: {_shown(folder)}/ ({len(release.files)} files, "
          f"{release.size() / 1e6:.1f} MB) and {_shown(archive)}")
    return 0
