"""Handing in what there is: `make pdf PARTIAL=1`, and a stale submission never mistaken for a fresh one."""

from __future__ import annotations

import zipfile

import nbformat
import pytest
from pypdf import PdfReader

from tests.conftest import MINI_NOTEBOOKS, make_notebook
from workbook import exercises
from workbook.check import CHECK_FAILED, ERROR, NOT_DONE, NotebookStatus, cell_problems, inspect_executed

pytestmark = pytest.mark.slow  # each test builds a mini workbook (seconds)


PAIR = "\n".join([  # one cell, two exercises; as a string, so the release keeps no region here
    "class Pair:", "    def __init__(self):",
    "        ### BEGIN SOLUTION Problem 1.3: Pair.__init__", "        self.a = 1", "        ### END SOLUTION",
    "    def get(self):",
    "        ### BEGIN SOLUTION Problem 1.3: Pair.get", "        return self.a", "        ### END SOLUTION",
    "Pair().get()",
])


def _student_state(wb, fill_double: bool = False) -> None:
    """Notebook 1 left blank, notebook 3 with a failing check, and a cell that does not depend on either."""
    solved = MINI_NOTEBOOKS["01_inclass_pytorch"]
    two_in_one_cell = make_notebook("", [("code", PAIR)]).cells[-1]  # its first stub stops the second
    solved = nbformat.from_dict({**solved, "cells": [*solved.cells, two_in_one_cell]})
    blank = exercises.blank_notebook(solved)
    if fill_double:  # the student has done the first exercise since the blank copy was made
        for cell in blank["cells"]:
            cell["source"] = cell["source"].replace(
                'raise NotImplementedError("Problem 1.1: implement double")', "return 2 * x")
    nbformat.write(nbformat.from_dict(blank), wb.notebooks / "01_inclass_pytorch.ipynb")
    broken = make_notebook("Mini 3: unfinished", [
        ("code", "# exercise 3.1\nanswer = 41"),
        ("code", "# check 3.1\nfrom helpers.checks import check_close\ncheck_close('3.1 the answer', answer, 42, atol=0)"),
        ("code", "# a later cell that still runs\nprint('LATER-CELL-RAN', answer + 1)"),
        ("code", "print(undefined_name)"),
    ])
    nbformat.write(broken, wb.notebooks / "03_exercise_mnist1d.ipynb")


def _text(path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def test_unfinished_work_is_refused_by_default_with_the_way_to_hand_in_anyway(mini):
    before = (mini.build / "submission.pdf").read_bytes()
    _student_state(mini)
    result = mini.build_cmd("pdf", "--quick=1")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "make pdf PARTIAL=1" in result.stderr
    # one problem, one line: the failure and what it means for the executed copy are not counted twice
    lines = result.stdout.splitlines()
    assert any("execution failed:" in line and "stale or missing until this is fixed" in line for line in lines)
    assert not any(line.strip().startswith("- the executed copy") for line in lines), result.stdout
    # the earlier, complete submission no longer matches the notebooks: kept, but under a name nobody hands in
    assert not (mini.build / "submission.pdf").exists()
    assert (mini.build / "submission.stale.pdf").read_bytes() == before
    assert "renamed to" in result.stderr and "submission.stale.pdf" in result.stderr


def test_partial_submission_marks_every_unfinished_exercise(mini):
    _student_state(mini)
    result = mini.build_cmd("pdf", "--quick=1", "--partial=1")
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)
    assert "PARTIAL submission" in result.stdout
    reader = PdfReader(mini.build / "submission.pdf")
    assert "PARTIAL" in reader.metadata["/Title"]
    cover = reader.pages[0].extract_text()
    print(cover)
    assert "PARTIAL SUBMISSION" in cover
    # notebook 1: the code exercise, the answer and both of Pair's, although Pair.get never ran
    assert "4 not done, 0 check failed, 0 errors" in cover
    assert "0 not done, 1 check failed, 1 error" in cover  # notebook 3
    assert "4 exercises" in cover  # a blanked exercise still counts
    text = " ".join(_text(mini.build / "submission.pdf").split())  # lines joined: the PDF wraps long notes
    text = text.replace("\u2018", "'").replace("\u2019", "'")  # Markdown may typeset quotes as curly ones
    text = text.replace("\u200b", "")  # Typst marks break points in long runs with zero-width spaces
    assert "encountered an exception" not in text  # papermill's "stopped here" notes: a partial build did not stop
    assert "NOT DONE. Problem 1.1: implement double" in text
    assert "NOT DONE. Problem 1.3: Pair.get: not filled in" in text  # marked at its cell, although it never ran
    assert "NOT DONE. Question 1.2: the answer is empty" in text
    assert "CHECK FAILED. 3.1 the answer" in text
    assert "ERROR. NameError: name 'undefined_name' is not defined" in text
    assert "LATER-CELL-RAN 42" in text  # cells after an error still ran
    assert "mini-one says hello" in text


def test_a_broken_answer_marker_is_on_the_cover_and_never_reads_as_complete(mini):
    """A deleted END line makes the exercises of that notebook unreadable; its cover entry says so."""
    _student_state(mini)
    path = mini.notebooks / "01_inclass_pytorch.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace("<!-- END ANSWER -->", "")
    nbformat.write(nb, path)
    check = mini.build_cmd("check", "--quick=1")
    assert check.returncode == 1
    assert "region 'Question 1.2' is never closed; put its line '<!-- END ANSWER -->' back" in check.stdout
    result = mini.build_cmd("pdf", "--quick=1", "--partial=1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "01_inclass_pytorch: 3 not done, 0 check failed, 0 errors; exercise markers broken" in result.stdout
    cover = " ".join(PdfReader(mini.build / "submission.pdf").pages[0].extract_text().split())
    print(cover)
    assert "exercise markers broken" in cover and "is never closed" in cover
    assert cover.count("complete: nothing marked") == 1  # notebook 2 only


def test_cell_numbers_skip_the_cells_papermill_adds():
    """PARTIAL=1 keeps papermill's two error notices in the executed copy: numbers are the student's."""
    def cell(kind, tags=(), outputs=()):
        c = {"cell_type": kind, "source": "x", "metadata": {"tags": list(tags)}}
        if kind == "code":
            c.update(outputs=list(outputs), execution_count=None)
        return c
    error = {"output_type": "error", "ename": "NameError", "evalue": "name 'y' is not defined", "traceback": []}
    executed = {"cells": [
        cell("markdown", ["papermill-error-cell-tag"]),  # "An Exception was encountered at ..."
        cell("code", ["parameters"]),  # the student's cell 1
        cell("code", ["injected-parameters"]),
        cell("code"),  # the student's cell 2
        cell("markdown", ["papermill-error-cell-tag"]),  # the anchor before the failing cell
        cell("code", outputs=[error]),  # the student's cell 3
    ]}
    for number, c in enumerate(executed["cells"]):
        if c["cell_type"] == "code":
            c["execution_count"] = number  # 1, 2, 3, 5: not top to bottom, to see the numbering there too
    status = NotebookStatus("nb")
    inspect_executed(executed, status)
    assert status.problems[0] == "cell 3: error: NameError: name 'y' is not defined", status.problems
    assert status.problems[1].startswith("cell 3: not executed top to bottom"), status.problems


def test_a_quick_build_says_so_on_its_cover_and_when_it_is_kept(mini):
    reader = PdfReader(mini.build / "submission.pdf")  # the fixture's build: QUICK=1
    cover = " ".join(reader.pages[0].extract_text().split())
    assert "QUICK RUN (QUICK=1)" in cover and "Options: QUICK=1." in cover
    assert "PDF page 2" in cover and "each notebook numbers its own pages" in cover
    assert "QUICK=1" in reader.metadata["/Title"]
    # a failure that is not about the notebooks keeps the PDF: the message says how it was built
    result = mini.build_cmd("pdf", "--quick=1", env=mini.env(WORKBOOK_PDF_ENGINE="latex", PATH="/nonexistent"))
    assert result.returncode == 1
    assert "with QUICK=1" in result.stderr and "it is not the submission" in result.stderr


def test_build_options_name_what_differs_from_the_defaults():
    from workbook.submission import build_options, is_quick

    plain = {"a": {"parameters": {"quick": False, "seed": 0, "device": "auto"}, "partial": False}}
    assert build_options(plain) == "" and not is_quick(plain)
    odd = {"a": {"parameters": {"quick": True, "seed": 3, "device": "cpu"}, "partial": True}, "b": None}
    assert build_options(odd) == "QUICK=1 SEED=3 DEVICE=cpu PARTIAL=1" and is_quick(odd)


def test_partial_of_a_finished_workbook_marks_nothing(mini):
    result = mini.build_cmd("pdf", "--quick=1", "--partial=1")
    assert result.returncode == 0, result.stderr
    text = _text(mini.build / "submission.pdf")
    assert "NOT DONE." not in text and "CHECK FAILED." not in text and "ERROR." not in text
    assert "complete: nothing marked" in PdfReader(mini.build / "submission.pdf").pages[0].extract_text()


def test_a_failed_build_keeps_a_submission_that_still_matches(mini):
    """A failure that is not about the notebooks (here: the PDF engine) leaves a matching submission in place."""
    before = (mini.build / "submission.pdf").read_bytes()
    result = mini.build_cmd("pdf", "--quick=1", env=mini.env(WORKBOOK_PDF_ENGINE="latex", PATH="/nonexistent"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "was NOT updated" in result.stderr and "made from the notebooks as they are now" in result.stderr
    assert (mini.build / "submission.pdf").read_bytes() == before


@pytest.mark.parametrize("outputs, expected", [
    ([{"output_type": "error", "ename": "NotImplementedError", "evalue": "Problem 3.2: x", "traceback": []}],
     [(NOT_DONE, "Problem 3.2: x: not filled in (NotImplementedError)")]),
    ([{"output_type": "stream", "name": "stdout", "text": "[PASS] a\n[FAIL] b: 3 > 2\n"},
      {"output_type": "error", "ename": "CheckFailed", "evalue": "b", "traceback": []}],
     [(CHECK_FAILED, "b: 3 > 2")]),
    ([{"output_type": "error", "ename": "KeyError", "evalue": "'x'", "traceback": []}], [(ERROR, "KeyError: 'x'")]),
    ([{"output_type": "stream", "name": "stdout", "text": "[PASS] fine\n"}], []),
])
def test_cell_problems_classifies_outputs(outputs, expected):
    nb = {"cells": [{"cell_type": "code", "source": "x", "outputs": outputs, "execution_count": 1, "metadata": {}}]}
    assert [(p.kind, p.what) for p in cell_problems(nb)] == expected


def test_an_unfilled_exercise_is_counted_once_although_its_check_stops_too():
    stop = {"output_type": "error", "ename": "NotImplementedError", "evalue": "Problem 1.1: f", "traceback": []}
    cells = [{"cell_type": "code", "source": "f()", "outputs": [stop], "execution_count": i + 1, "metadata": {}}
             for i in range(2)]
    status = NotebookStatus("nb")
    inspect_executed({"cells": cells}, status)
    assert status.counts == {NOT_DONE: 1, CHECK_FAILED: 0, ERROR: 0}


def _change_a_notebook(wb) -> None:
    nb = MINI_NOTEBOOKS["03_exercise_mnist1d"].copy()
    nb.cells = list(nb.cells) + [nbformat.v4.new_code_cell("print('one more cell')")]
    nbformat.write(nb, wb.notebooks / "03_exercise_mnist1d.ipynb")


def test_a_failure_before_execution_still_retires_the_stale_pdf_and_its_zip(mini):
    """A broken submission.toml stops the build before any notebook runs: the PDF (and the zip that
    holds it) built from the notebooks as they were must not stay under the names handed in."""
    assert mini.build_cmd("zip", "--quick=1").returncode == 0
    pdf, archive = mini.build / "submission.pdf", mini.build / "submission.zip"
    pdf_before, zip_before = pdf.read_bytes(), archive.read_bytes()
    _change_a_notebook(mini)
    (mini.root / "submission.toml").write_text("students = [\n", encoding="utf-8")
    result = mini.build_cmd("pdf", "--quick=1")
    print(result.stderr)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "not valid TOML" in result.stderr
    assert not pdf.exists() and not archive.exists()
    assert (mini.build / "submission.stale.pdf").read_bytes() == pdf_before
    assert (mini.build / "submission.stale.zip").read_bytes() == zip_before
    assert "submission.stale.pdf" in result.stderr and "submission.stale.zip" in result.stderr


def test_a_new_pdf_retires_the_zip_of_the_old_one_and_make_zip_writes_a_fresh_one(mini):
    assert mini.build_cmd("zip", "--quick=1").returncode == 0
    zip_before = (mini.build / "submission.zip").read_bytes()
    _change_a_notebook(mini)
    result = mini.build_cmd("pdf", "--quick=1")
    assert result.returncode == 0, result.stderr
    assert not (mini.build / "submission.zip").exists()
    assert (mini.build / "submission.stale.zip").read_bytes() == zip_before
    assert "submission.stale.zip" in result.stdout
    result = mini.build_cmd("zip", "--quick=1")
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(mini.build / "submission.zip") as zf:
        assert zf.read("submission.pdf") == (mini.build / "submission.pdf").read_bytes()


def test_the_exercise_count_stays_as_exercises_get_done(mini):
    """The blank copy records its exercises: filling one in makes it done, not one exercise fewer."""
    _student_state(mini, fill_double=True)
    result = mini.build_cmd("pdf", "--quick=1", "--partial=1")
    assert result.returncode == 0, result.stdout + result.stderr
    cover = " ".join(PdfReader(mini.build / "submission.pdf").pages[0].extract_text().split())
    print(cover)
    assert "1 check passed, 4 exercises 3 not done, 0 check failed, 0 errors" in cover


def test_a_pass_printed_before_a_failure_in_the_same_cell_is_not_counted():
    printed = {"output_type": "stream", "name": "stdout", "text": "[PASS] parameter count: 410 == 410\n"}
    stop = {"output_type": "error", "ename": "NotImplementedError", "evalue": "Problem 1.4: f", "traceback": []}
    cells = [{"cell_type": "code", "source": "check()", "outputs": outputs, "execution_count": i + 1,
              "metadata": {}} for i, outputs in enumerate([[printed, stop], [printed]])]
    status = NotebookStatus("nb")
    inspect_executed({"cells": cells}, status)
    assert status.checks_passed == 1  # the second cell's; the first cell stopped at the exercise


def test_a_partial_pdf_of_the_notebooks_as_they_are_is_not_stale_when_a_plain_build_refuses(mini):
    """Stale means built from other notebooks: other options (PARTIAL, QUICK) do not make it so."""
    _student_state(mini)
    assert mini.build_cmd("pdf", "--quick=1", "--partial=1").returncode == 0
    before = (mini.build / "submission.pdf").read_bytes()
    result = mini.build_cmd("pdf", "--quick=1")
    assert result.returncode == 1 and "make pdf PARTIAL=1" in result.stderr
    assert "was NOT updated" in result.stderr
    assert (mini.build / "submission.pdf").read_bytes() == before
    assert not (mini.build / "submission.stale.pdf").exists()


def test_a_note_shows_its_text_as_it_is_in_markdown():
    from workbook.marking import note_text

    note = note_text(NOT_DONE, "Problem 3.2: MLP.__init__: a*b [x] <y> $z$")
    assert r"MLP.\_\_init\_\_: a\*b \[x\] \<y\> \$z\$" in note  # no bold, link, tag or math
