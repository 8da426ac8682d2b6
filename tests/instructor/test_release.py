"""The student release (``make release``): what it holds, what it never holds, and that it works.

The fast tests assemble the release in this process from the solved workbook
and from small throw-away workbooks. The end-to-end tests (``e2e``) build it
with ``python -m workbook release`` into a temporary build directory and work
inside it as a student would: ``make check`` lists every exercise,
``make pdf`` refuses and says how to hand in anyway, ``make pdf PARTIAL=1``
marks every exercise as not done, and the release's
own fast tests pass. They work through the release's own Makefile, after a
real ``make setup`` inside the release (its own ``.venv``, about two minutes),
in an environment without this project's variables or virtual environment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import paths
from workbook import exercises, release
from workbook.errors import ReleaseError

ROOT = paths.ROOT
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))
FAST_TIER = "not slow and not e2e and not browser"

#: Must be in every release.
MUST_SHIP = (
    "README.md", "Makefile", "requirements.txt", "environment.yml", "pyproject.toml",
    "submission.example.toml", ".gitignore", "helpers/__init__.py", "helpers/checks.py",
    "workbook/__init__.py", "workbook/__main__.py", "workbook/cli.py", "data/mnist1d.npz",
    "data/SHA256SUMS", "tests/__init__.py", "tests/conftest.py",
    *(f"notebooks/{name}.ipynb" for name in paths.NOTEBOOK_NAMES),
)
#: Never in a release: top-level names, and folders at any depth.
NEVER_TOP = ("instructor", ".git", ".venv", "build", ".ci", ".github", "docs", "CONTRIBUTING.md")
NEVER_ANYWHERE = ("__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".hypothesis")


def solved(name: str) -> dict:
    return json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))


def released(rel: release.Release, name: str) -> dict:
    return json.loads(rel.files[f"notebooks/{name}.ipynb"].decode("utf-8"))


def tracked_files() -> set[str] | None:
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        return None
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"],
                         capture_output=True, check=True)
    return {n for n in out.stdout.decode().split("\0") if n}


@pytest.fixture(scope="module")
def assembled() -> release.Release:
    """The release of this workbook, assembled in memory (nothing written)."""
    return release.assemble(ROOT)


@pytest.fixture(scope="module")
def written(assembled, tmp_path_factory) -> tuple[Path, Path]:
    """The same release written to a temporary folder and zip."""
    out = tmp_path_factory.mktemp("release-fast")
    return release.write(assembled, out / "release", out / "release.zip")


# --- what ships, what never does --------------------------------------------------------------


def test_release_holds_the_student_workbook(assembled, written):
    folder, _ = written
    names = set(assembled.files)
    print(f"{len(names)} files, {assembled.size() / 1e6:.2f} MB")
    assert not [n for n in MUST_SHIP if n not in names], "missing from the release"
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert on_disk == names
    assert (folder / "README.md").read_bytes() == (ROOT / "docs/student/README.md").read_bytes()
    for name in names:
        top, parts = name.split("/")[0], name.split("/")
        assert top not in NEVER_TOP, name
        assert not set(parts) & set(NEVER_ANYWHERE), name
        assert not name.startswith("tests/instructor"), name
        assert not name.endswith((".pyc", ".pyo")), name


def test_only_committed_files_ship_and_all_of_them(assembled):
    tracked = tracked_files()
    if tracked is None:
        pytest.skip("not a git checkout")
    shipped = set(assembled.files) - {"README.md"}
    assert shipped <= tracked, f"never committed, yet shipped: {sorted(shipped - tracked)}"
    expected = {n for n in tracked if release._ships(n) and (ROOT / n).is_file()}
    assert shipped == expected, f"committed but left out: {sorted(expected - shipped)}"
    for top in ("helpers", "workbook", "tests", "data", "notebooks"):
        assert any(n.startswith(top + "/") for n in shipped), top


def test_notebooks_are_blank_with_every_exercise_stubbed(assembled):
    for name in paths.NOTEBOOK_NAMES:
        source, blank = solved(name), released(assembled, name)
        regions = exercises.find_regions(source, name)
        code = [r.name for r in regions if r.kind == "code"]
        answers = [r.name for r in regions if r.kind == "answer"]
        assert code, f"{name}: the solved notebook has no exercise regions"
        assert len(blank["cells"]) == len(source["cells"])
        assert [c.get("id") for c in blank["cells"]] == [c.get("id") for c in source["cells"]]
        assert blank["metadata"]["kernelspec"] == source["metadata"]["kernelspec"]
        stubs, slots = [], []
        for cell in blank["cells"]:
            text = exercises._source(cell)
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None
                assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
                stubs += [m.group("name") for m in exercises.STUB.finditer(text)]
        for region in exercises.find_regions(blank, name):
            assert region.kind == "answer", f"{name}: a code region survived: {region.name}"
            lines = exercises._source(blank["cells"][region.cell]).splitlines()
            body = "\n".join(lines[region.start + 1: region.end]).strip()
            assert body == exercises.ANSWER_PLACEHOLDER, f"{name}: {region.name} keeps an answer"
            slots.append(region.name)
        assert stubs == code and slots == answers
        assert sorted(assembled.exercises[name]) == sorted(code + answers)
        unfilled = exercises.unfilled(blank, name)
        for exercise in code + answers:
            assert any(u.startswith(exercise) for u in unfilled), f"{name}: {exercise} not unfilled"
        print(f"{name}: {len(code)} code exercises stubbed, {len(answers)} answers emptied")


def test_release_holds_no_region_content_and_no_instructor_import(assembled):
    assert release.leaks(assembled.files) == []


def test_zip_is_the_folder_in_a_stable_order(assembled, written):
    folder, archive = written
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names)
        prefix = release.ZIP_FOLDER + "/"
        assert all(n.startswith(prefix) for n in names)
        assert {n[len(prefix):] for n in names} == set(assembled.files)
        for info in infos:
            assert info.date_time == release.ZIP_DATE
            on_disk = folder / info.filename[len(prefix):]
            assert zf.read(info) == on_disk.read_bytes(), info.filename
    assert release.zip_bytes(assembled) == archive.read_bytes()


@pytest.mark.slow
def test_the_same_sources_give_the_same_zip(written):
    _, archive = written
    again = release.zip_bytes(release.assemble(ROOT))
    assert again == archive.read_bytes(), "the same sources gave other bytes"


def test_make_setup_is_there_in_the_release(written):
    folder, _ = written
    if shutil.which("make") is None:
        pytest.skip("no make")
    out = subprocess.run(["make", "-n", "setup"], cwd=folder, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install" in out.stdout and "-r requirements.txt" in out.stdout
    assert "-m workbook configure-lab" in out.stdout
    menu = subprocess.run(["make", "-s", "help"], cwd=folder, capture_output=True, text=True,
                          timeout=60)
    assert menu.returncode == 0, menu.stderr
    print(menu.stdout)
    for target in ("setup", "check", "pdf", "zip", "lab", "test"):
        assert f"make {target} " in menu.stdout
    for target in ("blank", "release", "portability"):  # the instructors' targets: not a student's
        assert f"make {target} " not in menu.stdout
    assert "FORCE" not in menu.stdout


# --- refusals, on small throw-away workbooks ---------------------------------------------------


def _notebook(*cells: tuple[str, str]) -> dict:
    made = []
    for i, (kind, source) in enumerate(cells):
        cell = {"cell_type": kind, "id": f"c{i}", "metadata": {}, "source": source}
        if kind == "code":
            cell.update(outputs=[], execution_count=None)
        made.append(cell)
    return {"cells": made, "metadata": {"kernelspec": {"name": paths.KERNEL_NAME}},
            "nbformat": 4, "nbformat_minor": 5}


SOLVED_CELL = ("code", "def double(x):\n    ### BEGIN SOLUTION Problem 1.1: double\n"
                       "    return 2 * x  # the secret of doubling\n    ### END SOLUTION\n")
ANSWER_CELL = ("markdown", "**Question 1.2** Why?\n\n**Answer:**\n"
                           "<!-- BEGIN ANSWER Question 1.2 -->\n"
                           "Because doubling is adding a number to itself.\n<!-- END ANSWER -->")


def mini_workbook(root: Path, notebook: dict | None = None, **extra: str) -> Path:
    """A small workbook folder (not a git checkout) with everything a release needs."""
    files = {
        "docs/student/README.md": "# students\n", "Makefile": "help:\n\t@echo menu\n",
        "requirements.txt": "", "pyproject.toml": "", "helpers/__init__.py": "",
        "workbook/__init__.py": "", "workbook/__main__.py": "",
        "tests/test_x.py": "def test_x():\n    pass\n", "CONTRIBUTING.md": "instructors only\n",
        "instructor/__init__.py": "", "tests/instructor/t.py": "",
        "helpers/__pycache__/x.pyc": "junk", "build/old.txt": "old", "notes.txt": "not shipped",
        **extra,
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    for i, name in enumerate(paths.NOTEBOOK_NAMES):
        nb = notebook if (notebook is not None and i == 0) else _notebook(SOLVED_CELL, ANSWER_CELL)
        path = root / "notebooks" / f"{name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(nb), encoding="utf-8")
    return root


def test_a_folder_that_is_not_a_git_checkout_ships_only_what_belongs(tmp_path):
    rel = release.assemble(mini_workbook(tmp_path))
    assert sorted(rel.files) == sorted([
        "README.md", "Makefile", "requirements.txt", "pyproject.toml", "helpers/__init__.py",
        "workbook/__init__.py", "workbook/__main__.py", "tests/test_x.py",
        *(f"notebooks/{n}.ipynb" for n in paths.NOTEBOOK_NAMES)])
    text = b"".join(rel.files.values()).decode()
    assert "the secret of doubling" not in text and "adding a number to itself" not in text
    first = released(rel, paths.NOTEBOOK_NAMES[0])
    stub = 'raise NotImplementedError("Problem 1.1: double")'
    assert stub in exercises._source(first["cells"][0])
    assert rel.notes and "not a git checkout" in rel.notes[0]


@pytest.mark.parametrize("case, setup, expected", [
    ("helpers imports instructor",
     {"helpers/mnist1d.py": "from instructor.mnist1d_reference import ReferenceCNN\n"},
     ["helpers/mnist1d.py", "instructor"]),
    ("a test imports tests.instructor",
     {"tests/test_y.py": "import tests.instructor.cells as cells\n"},
     ["tests/test_y.py", "instructor"]),
    ("a solution region in a module",
     {"helpers/inclass.py": "def f(x):\n    ### BEGIN SOLUTION Problem 9: f\n    return x\n"
                            "    ### END SOLUTION\n"},
     ["helpers/inclass.py", "a region with its content"]),
    ("an answer region in a test's notebook",
     {"tests/data/nb.ipynb": json.dumps(_notebook(ANSWER_CELL))},
     ["tests/data/nb.ipynb", "Question 1.2"]),
])
def test_refuses_what_would_give_answers_away(tmp_path, case, setup, expected):
    with pytest.raises(ReleaseError) as caught:
        release.assemble(mini_workbook(tmp_path, **setup))
    message = str(caught.value)
    print(f"{case}:\n{message}")
    assert "refusing" in message and "Fix:" in message
    for part in expected:
        assert part in message


def test_an_import_of_instructor_with_a_fallback_is_allowed_and_noted(tmp_path):
    bench = ("def train():\n    try:\n        from instructor.reference import train\n"
             "    except ImportError as err:\n"
             "        raise SystemExit('needs instructor') from err\n")
    rel = release.assemble(mini_workbook(tmp_path / "a", **{"workbook/bench.py": bench}))
    assert any("workbook/bench.py line 3" in note for note in rel.notes), rel.notes
    unguarded = "def train():\n    from instructor.reference import train\n    return train\n"
    with pytest.raises(ReleaseError, match="line 2"):
        release.assemble(mini_workbook(tmp_path / "b", **{"workbook/bench.py": unguarded}))


@pytest.mark.parametrize("case, cell, expected", [
    ("a marker with two hashes",
     ("code", "def f():\n    ## BEGIN SOLUTION Problem 1.1: f\n    return 1\n"
              "    ## END SOLUTION\n"),
     "not recognised"),
    ("an answer marker with a typo",
     ("markdown", "<!-- BEGIN ANSWER Question 1 ->\nThe answer.\n<!-- END ANSWER ->"),
     "not recognised"),
    ("a region never closed",
     ("code", "def f():\n    ### BEGIN SOLUTION Problem 1.1: f\n    return 1\n"),
     "never closed"),
    ("a region that leaves broken Python",
     ("code", "### BEGIN SOLUTION Problem 1.1: f\ndef f():\n### END SOLUTION\n    return 1\n"),
     "no longer valid Python"),
])
def test_a_marker_that_cannot_be_blanked_stops_the_release(tmp_path, case, cell, expected):
    with pytest.raises(ReleaseError) as caught:
        release.assemble(mini_workbook(tmp_path, notebook=_notebook(SOLVED_CELL, cell)))
    message = str(caught.value)
    print(f"{case}:\n{message}")
    assert expected in message and "Fix:" in message and paths.NOTEBOOK_NAMES[0] in message


def test_refuses_without_the_students_readme_or_any_solution(tmp_path):
    root = mini_workbook(tmp_path / "a")
    (root / "docs/student/README.md").unlink()
    with pytest.raises(ReleaseError, match="README"):
        release.assemble(root)
    blank_root = mini_workbook(tmp_path / "b", notebook=_notebook(("code", "x = 1")))
    for name in paths.NOTEBOOK_NAMES[1:]:
        path = blank_root / "notebooks" / f"{name}.ipynb"
        path.write_text(json.dumps(_notebook(("code", "y = 2"))))
    with pytest.raises(ReleaseError, match="no solution regions"):
        release.assemble(blank_root)


def test_a_release_made_in_a_student_edition_says_what_it_is(tmp_path):
    """`make release` in a published student folder: no instructor/ and no students' README there."""
    root = mini_workbook(tmp_path / "student")
    (root / "docs/student/README.md").unlink()
    shutil.rmtree(root / "instructor")
    with pytest.raises(ReleaseError, match="(?s)is a student edition .* for your submission run `make pdf`"):
        release.assemble(root)


def test_a_failed_release_leaves_the_earlier_one_as_it_was(tmp_path, monkeypatch):
    good = release.assemble(mini_workbook(tmp_path / "src"))
    out = tmp_path / "out"
    folder, archive = release.write(good, out / "release", out / "release.zip")
    before = {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    zipped = archive.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    changed = release.Release(files={**good.files, "helpers/new.py": b"x = 1\n"})
    monkeypatch.setattr(release, "zip_bytes", broken)
    with pytest.raises(OSError):
        release.write(changed, folder, archive)
    assert {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} == before
    assert archive.read_bytes() == zipped
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["release", "release.zip"]


# --- end to end, inside the release, as a student works in it ---------------------------------


def _student_env() -> dict[str, str]:
    """A student's shell: none of this project's variables, virtual environment or forced backend."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WORKBOOK_", "PYTHON")) and k not in ("VIRTUAL_ENV", "MPLBACKEND")}
    own_venv = str(ROOT / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != own_venv)
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def _make(folder: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    out = subprocess.run(["make", *args], cwd=folder, env=_student_env(), stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=timeout)
    print(f"$ make {' '.join(args)}  (exit {out.returncode})\n{out.stdout[-3000:]}{out.stderr[-2000:]}")
    return out


@pytest.fixture(scope="module")
def student_copy(tmp_path_factory) -> Path:
    """``make release`` into a temporary build directory, then ``make setup`` inside the release.

    The release gets its own ``.venv`` from its own requirements, with its own ``helpers`` and
    ``workbook`` installed: what a student who downloads it has after the README's first step.
    """
    if shutil.which("make") is None:
        pytest.fail("make is needed to work in the release as a student does (Debian: apt-get install make)")
    build = tmp_path_factory.mktemp("release-build")
    env = dict(os.environ, WORKBOOK_BUILD_DIR=str(build))
    out = subprocess.run([PYTHON, "-m", "workbook", "release"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "release written" in out.stdout
    assert (build / "release.zip").is_file()
    assert not [p for p in build.iterdir() if p.name.startswith(".release-")]
    folder = build / "release"
    setup = _make(folder, "setup")
    assert setup.returncode == 0, setup.stdout[-4000:] + setup.stderr[-4000:]
    own = subprocess.run([str(folder / ".venv" / "bin" / "python"), "-c",
                          "import helpers, workbook; print(helpers.__file__); print(workbook.__file__)"],
                         cwd=folder.parent, env=_student_env(), capture_output=True, text=True, timeout=60)
    assert own.returncode == 0, own.stderr
    assert all(Path(line).resolve().is_relative_to(folder.resolve()) for line in own.stdout.split()), own.stdout
    return folder


@pytest.mark.e2e
def test_check_in_the_release_lists_every_unfilled_exercise(student_copy):
    out = _make(student_copy, "check", "QUICK=1")
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "Traceback (most recent call last)" not in out.stderr
    missing = []
    for name in paths.NOTEBOOK_NAMES:
        for region in exercises.find_regions(solved(name), name):
            if region.name not in text:
                missing.append(f"{name}: {region.name}")
    assert not missing, "not listed by check:\n" + "\n".join(missing)


@pytest.mark.e2e
def test_pdf_in_the_release_refuses_and_says_how_to_hand_in_anyway(student_copy):
    out = _make(student_copy, "pdf", "QUICK=1")
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "make pdf PARTIAL=1" in text
    assert not (student_copy / "build" / "submission.pdf").exists()


@pytest.mark.e2e
def test_a_partial_pdf_of_the_blank_release_marks_every_exercise_not_done(student_copy):
    from pypdf import PdfReader

    out = _make(student_copy, "pdf", "QUICK=1", "PARTIAL=1")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    reader = PdfReader(student_copy / "build" / "submission.pdf")
    assert "PARTIAL" in reader.metadata["/Title"]
    cover = " ".join((reader.pages[0].extract_text() or "").replace("\u200b", "").split())
    print(cover)
    assert "PARTIAL SUBMISSION" in cover
    counted = [(int(m[1]), int(m[2]))
               for m in re.finditer(r"\d+ checks? passed, (\d+) exercises? (\d+) not done", cover)]
    expected = [len(exercises.find_regions(solved(name), name)) for name in paths.NOTEBOOK_NAMES]
    # nothing is filled in: every exercise of every problem is counted, and counted as not done
    assert counted == [(n, n) for n in expected], (counted, expected)


@pytest.mark.e2e
def test_the_release_passes_its_own_fast_tests(student_copy):
    out = _make(student_copy, "test")
    failed = [line for line in out.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert out.returncode == 0, ("failing inside the release:\n" + "\n".join(failed) + "\n\n"
                                 + out.stdout[-6000:] + out.stderr[-2000:])
    assert " passed" in out.stdout
