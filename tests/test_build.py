"""The build on a mini workbook: the PDF, incremental runs, and every fault losing nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import nbformat
import pytest
from pypdf import PdfReader

from tests.conftest import MINI_NOTEBOOKS, PYTHON, make_notebook, snapshot, stray_temporaries
from helpers import paths


def pdf_text(path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


# --- the good path ------------------------------------------------------------------------------


def test_submission_has_cover_bookmarks_metadata_and_every_notebook(mini_built):
    reader = PdfReader(mini_built.build / "submission.pdf")
    titles = [nb.metadata["title"] for nb in MINI_NOTEBOOKS.values()]
    assert [item.title for item in reader.outline] == ["Cover", *titles]
    # the mini workbook is built with QUICK=1, and a quick PDF says so in its title
    assert reader.metadata["/Title"] == "Exercise Sheet 8: Deep Learning II: submission (QUICK=1: a smoke run)"
    text = pdf_text(mini_built.build / "submission.pdf")
    for title in titles:
        assert title in text
    # each notebook starts on the page its bookmark points to, and has its own pages
    starts = [reader.get_destination_page_number(item) for item in reader.outline]
    assert starts[0] == 0 and starts == sorted(set(starts)) and starts[-1] < len(reader.pages)
    assert "mini-one says hello" in text and "mini-two loaded" in text and "mini-three done" in text


def test_pdf_keeps_non_ascii_long_lines_and_hidden_cells(mini_built):
    text = pdf_text(mini_built.build / "pdf" / "01_inclass_pytorch.pdf")
    for word in ("ü ß é", "α β γ"):
        assert word in text, f"{word!r} lost in the PDF"
    assert "[SNAKE]" in text  # the emoji is spelled out, not silently dropped
    assert "$" not in text.replace("\\$", "")  # math was typeset, no raw dollars
    two = pdf_text(mini_built.build / "pdf" / "02_homework_linear_vs_relu.pdf")
    assert "SECRET-INPUT" in two  # output of a remove-input cell is shown ...
    assert "print('this input is hidden" not in two  # ... without its code
    assert "SECRET-CELL" not in two  # a remove-cell cell is gone entirely
    assert "END-OF-LONG-LINE" in two.replace("\n", "").replace(" ", "").replace("alonglineEND", "END") or "END-OF-LONG-LINE" in two.replace("\n", "")
    assert "wwwwwwwwww" in two.replace("\n", "")  # the long comment is wrapped, not cut at the margin


def test_figure_is_embedded(mini_built):
    reader = PdfReader(mini_built.build / "pdf" / "03_exercise_mnist1d.pdf")
    assert sum(len(page.images) for page in reader.pages) >= 1


def test_rebuild_with_nothing_changed_does_nothing(mini):
    before = snapshot(mini.build)
    start = time.perf_counter()
    result = mini.build_cmd("pdf", "--quick=1")
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("up to date") == 4, result.stdout  # three notebooks and the submission
    assert "executing" not in result.stdout
    after = snapshot(mini.build)
    record = json.loads(after.pop("executed/timings.json"))
    assert json.loads(before.pop("executed/timings.json"))["execute_s"] == record["execute_s"]
    assert {e["kind"] for e in record["last_build"]["events"]} == {"up_to_date"}  # the record of this build
    assert after == before
    print(f"no-op rebuild took {elapsed:.2f} s")


def test_changing_one_notebook_reexecutes_only_it(mini):
    nb = MINI_NOTEBOOKS["03_exercise_mnist1d"].copy()
    nb.cells = list(nb.cells) + [nbformat.v4.new_code_cell("print('a new cell')")]
    nbformat.write(nb, mini.notebooks / "03_exercise_mnist1d.ipynb")
    result = mini.build_cmd("run", "--quick=1")
    assert result.returncode == 0, result.stderr
    assert "01_inclass_pytorch: up to date" in result.stdout
    assert "02_homework_linear_vs_relu: up to date" in result.stdout
    assert "03_exercise_mnist1d: executed" in result.stdout


def test_changing_a_parameter_reexecutes(mini):
    result = mini.build_cmd("run", "--quick=0", "--only=01_inclass_pytorch")
    assert result.returncode == 0, result.stderr
    assert "01_inclass_pytorch: executed" in result.stdout


# --- faults: a clear message, a non-zero exit, nothing lost -------------------------------------


GOOD_OUTPUTS = (
    "submission.pdf", "pdf/01_inclass_pytorch.pdf", "pdf/02_homework_linear_vs_relu.pdf", "pdf/03_exercise_mnist1d.pdf",
    "executed/01_inclass_pytorch.ipynb", "executed/02_homework_linear_vs_relu.ipynb", "executed/03_exercise_mnist1d.ipynb",
)


def assert_nothing_lost(wb, before, keys=GOOD_OUTPUTS, failing=None):
    """The earlier submission, and the failing notebook's earlier outputs, are intact; no temporaries.

    (Notebooks whose inputs changed and that executed cleanly may legitimately get new outputs.)
    """
    after = snapshot(wb.build)
    if failing:
        keys = ["submission.pdf", f"executed/{failing}.ipynb", f"pdf/{failing}.pdf"]
    if "submission.pdf" not in after:  # a stale submission is kept under another name, byte for byte
        after["submission.pdf"] = after.get("submission.stale.pdf")
    for key in keys:
        assert after.get(key) == before[key], f"{key} was changed or destroyed"
    assert not stray_temporaries(wb.build), stray_temporaries(wb.build)


def test_fault_data_file_missing(mini):
    before = snapshot(mini.build)
    (mini.data / "mnist1d.npz").unlink()
    result = mini.build_cmd("pdf", "--quick=1")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert "data file missing:" in result.stderr and "mnist1d.npz" in result.stderr
    assert "`make data`" in result.stderr and "02_homework_linear_vs_relu.ipynb failed in cell" in result.stderr
    assert "does not match your notebooks any more: it was renamed to" in result.stderr
    assert (mini.build / "submission.stale.pdf").exists() and not (mini.build / "submission.pdf").exists()
    assert_nothing_lost(mini, before, failing="02_homework_linear_vs_relu")


def test_fault_data_file_corrupted(mini):
    before = snapshot(mini.build)
    blob = bytearray((mini.data / "mnist1d.npz").read_bytes())
    blob[-100] ^= 0xFF
    (mini.data / "mnist1d.npz").write_bytes(bytes(blob))
    result = mini.build_cmd("pdf", "--quick=1")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert "data file corrupted:" in result.stderr and "expected SHA-256:" in result.stderr and "actual SHA-256:" in result.stderr
    assert "`make data`" in result.stderr
    assert_nothing_lost(mini, before, failing="02_homework_linear_vs_relu")


def test_fault_pdf_engine_missing(mini):
    """The LaTeX engine asked for on a machine without TeX: one message with the fix, before any work."""
    before = snapshot(mini.build)
    env = mini.env(PATH=str(mini.root / "empty-bin"), WORKBOOK_PDF_ENGINE="latex")
    result = mini.build_cmd("pdf", "--quick=1", env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert "no xelatex and pandoc found: the LaTeX engine needs xelatex and pandoc" in result.stderr
    for platform in ("Debian/Ubuntu: sudo apt-get install texlive-xetex", "macOS:", "Windows:", "conda:"):
        assert platform in result.stderr
    assert "unset WORKBOOK_PDF_ENGINE (or set it to typst)" in result.stderr
    assert "executing" not in result.stdout  # it stops before doing any work
    assert_nothing_lost(mini, before)


def test_fault_unknown_pdf_engine(mini):
    result = mini.build_cmd("pdf", "--quick=1", env=mini.env(WORKBOOK_PDF_ENGINE="word"))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert "WORKBOOK_PDF_ENGINE='word' is not an engine" in result.stderr and "typst, latex, chromium" in result.stderr


def _break_cell(wb, source: str, name: str = "03_exercise_mnist1d"):
    nb = make_notebook("Mini 3: broken", [("code", "print('before')"), ("code", source)])
    nbformat.write(nb, wb.notebooks / f"{name}.ipynb")


def test_fault_a_cell_that_raises(mini):
    before = snapshot(mini.build)
    _break_cell(mini, "# a broken cell\nraise ValueError('deliberately broken')")
    result = mini.build_cmd("pdf", "--quick=1")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert "03_exercise_mnist1d.ipynb failed in cell 4 (In [4]: # a broken cell)" in result.stderr
    assert "ValueError: deliberately broken" in result.stderr
    failed_copy = mini.build / "executed" / "03_exercise_mnist1d.failed.ipynb"
    assert failed_copy.stat().st_mode & 0o777 == 0o644  # as readable as the executed copies
    assert_nothing_lost(mini, before)


def test_fault_a_cell_python_cannot_read(mini):
    """A syntax error names its line in the cell, never IPython's temporary file, and says nothing of it ran."""
    before = snapshot(mini.build)
    _break_cell(mini, "# a cell with a typo\nx = [1, 2\ny = 3")
    result = mini.build_cmd("pdf", "--quick=1")
    assert result.returncode == 1
    assert "03_exercise_mnist1d.ipynb failed in cell 4" in result.stderr
    assert "SyntaxError: '[' was never closed (line 2 of the cell)" in result.stderr, result.stderr
    assert ".py, line" not in result.stderr and "none of it ran" in result.stderr
    assert_nothing_lost(mini, before)
    partial = mini.build_cmd("pdf", "--quick=1", "--partial=1")  # the same error, marked in the PDF
    assert partial.returncode == 0, partial.stderr
    assert "cell 4: error: SyntaxError: '[' was never closed (line 2 of the cell)" in partial.stdout, partial.stdout


def test_check_counts_the_passes_before_a_failure(mini):
    """The checks column of a notebook that failed counts what passed up to the failure, not 0."""
    nb = make_notebook("Mini 3: two passes, then an error", [
        ("code", "from helpers.checks import check_close\ncheck_close('first', 1, 1, atol=0)\n"
                 "check_close('second', 2, 2, atol=0)"),
        ("code", "raise ValueError('stop here')"),
    ])
    nbformat.write(nb, mini.notebooks / "03_exercise_mnist1d.ipynb")
    result = mini.build_cmd("check", "--quick=1")
    assert result.returncode == 1
    row = next(line for line in result.stdout.splitlines() if line.startswith("03_exercise_mnist1d"))
    assert row.split()[1:4] == ["0", "2", "1"], row  # exercises, checks, "1 problem(s)"
    assert "checks: [PASS] lines printed, up to the failure" in result.stdout


def test_fault_a_failing_check(mini):
    before = snapshot(mini.build)
    _break_cell(mini, "from helpers.checks import check_close\ncheck_close('a wrong answer', 41, 42, atol=0.5)")
    result = mini.build_cmd("pdf", "--quick=1")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert "CheckFailed: [FAIL] a wrong answer: max abs error 1 > bound 0.5" in result.stderr
    assert "A check failed" in result.stderr
    assert_nothing_lost(mini, before)


def test_fault_an_unfilled_exercise(mini):
    from workbook.exercises import blank_notebook

    before = snapshot(mini.build)
    blank = blank_notebook(MINI_NOTEBOOKS["01_inclass_pytorch"])
    nbformat.write(nbformat.from_dict(blank), mini.notebooks / "01_inclass_pytorch.ipynb")
    result = mini.build_cmd("pdf", "--quick=1")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert "unfilled exercise: Problem 1.1: implement double" in result.stdout
    assert "unfilled exercise: Question 1.2" in result.stdout
    assert "the submission is not ready" in result.stderr
    assert_nothing_lost(mini, before)


def test_fault_invalid_notebook_json(mini):
    before = snapshot(mini.build)
    path = mini.notebooks / "02_homework_linear_vs_relu.ipynb"
    path.write_text(path.read_text()[:-40], encoding="utf-8")
    result = mini.build_cmd("pdf", "--quick=1")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert "02_homework_linear_vs_relu.ipynb is not a valid notebook: broken JSON at line" in result.stderr
    assert "git checkout -- notebooks/02_homework_linear_vs_relu.ipynb" in result.stderr
    assert_nothing_lost(mini, before)


def test_all_problems_are_reported_at_once(mini):
    _break_cell(mini, "raise ValueError('third')")
    (mini.notebooks / "02_homework_linear_vs_relu.ipynb").write_text("{", encoding="utf-8")
    result = mini.build_cmd("check", "--quick=1")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert "not a valid notebook" in result.stdout and "ValueError: third" in result.stdout
    assert "01_inclass_pytorch" in result.stdout and "ready" in result.stdout


@pytest.mark.skipif(shutil.which("xelatex") is None or shutil.which("pandoc") is None, reason="needs xelatex and pandoc")
def test_fault_sigint_during_export_then_rerun_recovers(mini):
    latex = mini.env(WORKBOOK_PDF_ENGINE="latex")
    assert mini.build_cmd("pdf", "--quick=1", env=latex).returncode == 0  # every PDF made by this engine first
    before = snapshot(mini.build)
    # a change to notebook 3 forces its execution and export; interrupt while xelatex runs (the LaTeX
    # engine: the default Typst engine exports in well under a second, too fast to catch in the act).
    # A build that finishes its last export between "xelatex is running" and the signal ends normally;
    # then the scenario is tried again with a new change, up to three times.
    for attempt in range(3):
        _break_cell(mini, f"print('exported after an interruption {attempt}')")
        proc = subprocess.Popen(
            [PYTHON, "-m", "workbook", "pdf", "--quick=1"], env=latex, cwd=paths.ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
            preexec_fn=_sigint_as_in_a_terminal,
        )
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if _xelatex_running(proc.pid):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the build ended before the export could be interrupted"
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            break
        before = snapshot(mini.build)  # a finished build: its outputs are the ones to keep
    assert proc.returncode != 0, "three builds in a row finished before the signal landed"
    assert "interrupted" in err
    # notebook 3 may have finished executing (a new, complete executed copy); no PDF was touched
    assert_nothing_lost(mini, before, keys=[k for k in GOOD_OUTPUTS if not k.startswith("executed/03")])
    result = mini.build_cmd("pdf", "--quick=1", env=latex)
    assert result.returncode == 0, result.stderr
    assert f"exported after an interruption {attempt}" in pdf_text(mini.build / "submission.pdf")
    assert not stray_temporaries(mini.build)


def _sigint_as_in_a_terminal() -> None:
    """In the child: SIGINT handled and not blocked, as for a build started from a shell.

    A child inherits its parent's signal mask and ignored signals; within a long test session
    the pytest process need not have SIGINT as a terminal would (the full suite once saw three
    builds in a row sleep through the signal, while the test alone passed).
    """
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _xelatex_running(parent_pid: int) -> bool:
    out = subprocess.run(["ps", "-eo", "pid,pgid,comm"], capture_output=True, text=True).stdout
    return any(line.split()[2].startswith("xelatex") and line.split()[1] == str(parent_pid) for line in out.splitlines()[1:] if len(line.split()) >= 3)


def _make_readonly(folder):
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-R", "+i", str(folder)], check=True)
        return lambda: subprocess.run(["chattr", "-R", "-i", str(folder)], check=True)
    for p in [folder, *folder.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    return lambda: [p.chmod(0o755 if p.is_dir() else 0o644) for p in [folder, *folder.rglob("*")]]


def test_fault_readonly_build_directory(mini):
    before = snapshot(mini.build)
    _break_cell(mini, "print('changed')")
    restore = _make_readonly(mini.build)
    try:
        result = mini.build_cmd("pdf", "--quick=1")
    finally:
        restore()
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert f"cannot write to the build directory {mini.build}" in result.stderr
    assert "make it writable" in result.stderr and "WORKBOOK_BUILD_DIR" in result.stderr
    assert_nothing_lost(mini, before)


def test_fault_environment_missing_a_package(mini, tmp_path):
    # A sitecustomize that hides pypdf from this interpreter, as if it were not installed.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import sys\nclass _Hide:\n    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pypdf' or name.startswith('pypdf.'):\n            raise ModuleNotFoundError(name)\n"
        "        return None\nsys.meta_path.insert(0, _Hide())\n"
    )
    before = snapshot(mini.build)
    result = mini.build_cmd("pdf", "--quick=1", env=mini.env(PYTHONPATH=str(shim)))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert "the environment is missing the package(s) pypdf" in result.stderr
    assert "run `make setup`" in result.stderr
    assert_nothing_lost(mini, before)


def test_strict_mode_refuses_missing_names(mini):
    result = mini.build_cmd("pdf", "--quick=1", "--strict=1")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert "submission.toml" in result.stderr and "fill in your names" in result.stderr


def test_make_help_lists_every_target():
    out = subprocess.run(["make", "-s", "help"], cwd=paths.ROOT, capture_output=True, text=True).stdout
    for target in ("setup", "data", "run", "check", "pdf", "zip", "lab", "test", "bench", "clean"):
        assert f"make {target} " in out
    # the instructors' targets: listed where instructor/ is, left out of the student edition's menu
    instructors = (paths.ROOT / "instructor").is_dir()
    for target in ("blank", "release", "portability"):
        assert (f"make {target} " in out) == instructors, (target, instructors)


def test_build_skips_the_slow_iri_grammar_but_still_validates_notebooks():
    """workbook.execute marks rfc3987_syntax absent (2 s of import per process); nbformat must still validate."""
    code = (
        "import sys, time\n"
        "import workbook.execute\n"
        "start = time.perf_counter()\n"
        "import nbformat\n"
        "print(f'nbformat imported in {time.perf_counter() - start:.2f} s')\n"
        "assert sys.modules.get('rfc3987_syntax') is None, 'rfc3987_syntax was imported'\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1 + 1')])\n"
        "nbformat.validate(nb)\n"
        "nb.cells[0]['execution_count'] = 'not a number'\n"
        "try:\n"
        "    nbformat.validate(nb)\n"
        "except nbformat.ValidationError:\n"
        "    print('an invalid notebook is still rejected')\n"
        "else:\n"
        "    raise SystemExit('an invalid notebook passed validation')\n"
    )
    result = subprocess.run([PYTHON, "-c", code], cwd=paths.ROOT, capture_output=True, text=True)
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stderr
    assert "still rejected" in result.stdout


def test_a_cold_build_starts_the_slowest_notebook_first():
    from workbook import execute as build

    assert set(build.TYPICAL_SECONDS) == set(paths.NOTEBOOK_NAMES), "every notebook needs a typical time"
    cold = build.slowest_first(paths.NOTEBOOK_NAMES, {})
    print("cold order:", cold)
    assert cold[0] == "03_exercise_mnist1d"
    measured = build.slowest_first(paths.NOTEBOOK_NAMES, {"01_inclass_pytorch": 99.0, "03_exercise_mnist1d": 50.0})
    assert measured[:2] == ["01_inclass_pytorch", "03_exercise_mnist1d"]
    assert build.slowest_first(["new_notebook", *paths.NOTEBOOK_NAMES], {})[-1] == "new_notebook"


@pytest.mark.slow
def test_a_change_to_the_build_tool_reexecutes_nothing_but_a_change_to_helpers_does(mini, tmp_path):
    """The fingerprint covers what a notebook can import (helpers, data, pins), not the build tool."""
    code = tmp_path / "code"
    for package in ("helpers", "workbook"):
        shutil.copytree(paths.ROOT / package, code / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(paths.REQUIREMENTS, code / "requirements.txt")
    env = mini.env(PYTHONPATH=str(code))

    def build() -> str:
        result = subprocess.run([PYTHON, "-m", "workbook", "run", "--quick=1"], env=env, cwd=code,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    build()  # the copied code's own first build
    with open(code / "workbook" / "commands.py", "a", encoding="utf-8") as fh:
        fh.write("\n# an edit to the build tool\n")
    assert "executed in" not in build()
    with open(code / "helpers" / "checks.py", "a", encoding="utf-8") as fh:
        fh.write("\n# an edit to the notebooks' library\n")
    assert build().count("executed in") == 3


# A kernel whose port another process takes before the kernel binds it: the race between Jupyter's
# client choosing five free ports and the kernel binding them (two notebooks start at once).
PORT_TAKER = '''
import json, os, socket, sys
marker = os.environ["PORT_TAKER_MARKER"]
try:  # "first": only the first kernel start of the whole build finds its port taken
    os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
    take = True
except FileExistsError:
    take = os.environ["PORT_TAKER_WHEN"] == "always"
if take:
    info = json.load(open(sys.argv[-1]))
    taken = socket.socket()
    taken.bind((info["ip"], info["shell_port"]))
    taken.listen()
from ipykernel import kernelapp
kernelapp.launch_new_instance()
'''


def _kernel_with_a_taken_port(wb, tmp_path, when: str) -> dict[str, str]:
    """The build's environment, with the workbook kernel replaced by one that finds its port taken."""
    spec_dir = tmp_path / "jupyter" / "kernels" / paths.KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (tmp_path / "port_taker.py").write_text(PORT_TAKER, encoding="utf-8")
    spec = {"argv": [PYTHON, str(tmp_path / "port_taker.py"), "-f", "{connection_file}"],
            "display_name": "port taker", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return wb.env(JUPYTER_PATH=str(tmp_path / "jupyter"), PORT_TAKER_MARKER=str(tmp_path / "taken"),
                  PORT_TAKER_WHEN=when)


def test_a_kernel_whose_port_was_taken_is_started_again(mini, tmp_path):
    _break_cell(mini, "print('after a restart')")  # one notebook to execute
    result = mini.build_cmd("run", "--quick=1", env=_kernel_with_a_taken_port(mini, tmp_path, "first"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert (tmp_path / "taken").exists()  # the port really was taken once
    assert "Address already in use" in output
    assert "03_exercise_mnist1d: the kernel died as it started (attempt 1 of 3" in output
    executed = json.loads((mini.build / "executed" / "03_exercise_mnist1d.ipynb").read_text(encoding="utf-8"))
    printed = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert printed == "before\nafter a restart\n"  # every cell ran once, in the second kernel


def test_a_kernel_that_dies_at_every_start_is_a_clear_error(mini, tmp_path):
    before = snapshot(mini.build)
    _break_cell(mini, "print('never runs')")
    result = mini.build_cmd("pdf", "--quick=1", env=_kernel_with_a_taken_port(mini, tmp_path, "always"))
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "Traceback (most recent call last)" not in result.stdout  # the kernel's own error goes to stderr
    assert output.count("the kernel died as it started (attempt") == 2
    assert "The kernel died 3 times as it started, before running any cell" in result.stderr
    assert "'Address already in use': other programs keep taking the kernel's ports; run the build again." in result.stderr
    assert "The executed copy" not in result.stderr  # there is none: no cell ran
    assert_nothing_lost(mini, before, failing="03_exercise_mnist1d")
