"""The submission workflow: names, zip, blank copies, and checks that catch blank exercises."""

from __future__ import annotations

import zipfile
import hashlib

from pypdf import PdfReader

from helpers import paths


# --- names, cover page, zip -----------------------------------------------------------------------


def test_names_reach_cover_page_and_metadata(mini):
    (mini.root / "submission.toml").write_text(
        'group = "Tuesday 10:15"\n[[students]]\nname = "Jürgen Müller"\nid = "123456"\n[[students]]\nname = "Ada Lovelace"\nid = "654321"\n',
        encoding="utf-8",
    )
    result = mini.build_cmd("zip", "--quick=1", "--strict=1")
    assert result.returncode == 0, result.stderr
    reader = PdfReader(mini.build / "submission.pdf")
    assert reader.metadata["/Author"] == "Jürgen Müller (123456), Ada Lovelace (654321)"
    cover = reader.pages[0].extract_text()
    assert "Jürgen Müller" in cover and "123456" in cover and "Ada Lovelace" in cover and "Tuesday 10:15" in cover
    with zipfile.ZipFile(mini.build / "submission.zip") as zf:
        names = set(zf.namelist())
        assert names == {"submission.pdf", "MANIFEST.sha256", *(f"executed/{n}.ipynb" for n in paths.NOTEBOOK_NAMES)}
        for line in zf.read("MANIFEST.sha256").decode().splitlines():
            digest, member = line.split("  ")
            assert hashlib.sha256(zf.read(member)).hexdigest() == digest


def test_invalid_config_is_refused_with_the_fix(mini):
    (mini.root / "submission.toml").write_text('[[students]]\nname = "A\n', encoding="utf-8")
    result = mini.build_cmd("pdf", "--quick=1")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert "submission.toml is not valid TOML" in result.stderr and "submission.example.toml" in result.stderr


# --- blank copies ---------------------------------------------------------------------------------


def test_blank_writes_build_blank_only_and_never_overwrites_edits(mini):
    notebooks_before = {p.name: p.read_bytes() for p in mini.notebooks.iterdir()}
    result = mini.build_cmd("blank")
    assert result.returncode == 0, result.stderr
    blank = mini.build / "blank" / "01_inclass_pytorch.ipynb"
    assert 'raise NotImplementedError(\\"Problem 1.1: implement double\\")' in blank.read_text()
    assert {p.name: p.read_bytes() for p in mini.notebooks.iterdir()} == notebooks_before
    # regenerating an untouched copy is fine
    assert mini.build_cmd("blank").returncode == 0
    # a student's edit is protected ...
    edited = blank.read_text().replace("implement double", "implement double (my notes)")
    blank.write_text(edited)
    result = mini.build_cmd("blank")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr  # one clear message, no Python traceback
    assert "were edited since they were generated" in result.stderr and str(blank) in result.stderr
    assert "make blank FORCE=1" in result.stderr
    assert blank.read_text() == edited
    # ... unless forced
    assert mini.build_cmd("blank", "--force=1").returncode == 0
    assert blank.read_text() != edited


# --- every check fails when its exercise is left blank ------------------------------------------------


# --- make check reads an executed notebook ---------------------------------------------------------


def _executed(*cells):
    """(source, execution_count, outputs) triples as an executed notebook."""
    return {"metadata": {"papermill": {}}, "cells": [
        {"cell_type": "code", "source": src, "execution_count": count, "outputs": outputs, "metadata": {}} for src, count, outputs in cells
    ]}


def _stream(text):
    return [{"output_type": "stream", "name": "stdout", "text": text}]


def test_check_finds_gaps_errors_and_failed_checks_all_at_once():
    from workbook.check import NotebookStatus, inspect_executed

    status = NotebookStatus("nb")
    inspect_executed(_executed(
        ("a = 1", 1, _stream("[PASS] one: fine\n")),
        ("b = 2", 2, _stream("[FAIL] two: max abs error 3 > bound 1\n")),
        ("c = 3", 3, [{"output_type": "error", "ename": "ValueError", "evalue": "boom", "traceback": []}]),
        ("d = 4", 5, []),
    ), status)
    assert status.checks_passed == 1
    assert status.problems == [
        "cell 2: check failed: two: max abs error 3 > bound 1",
        "cell 3: error: ValueError: boom",
        "cell 4: not executed top to bottom in one fresh kernel (execution count 5, expected 4)",
    ]


def test_check_finds_cells_never_executed():
    from workbook.check import NotebookStatus, inspect_executed

    status = NotebookStatus("nb")
    inspect_executed(_executed(("a = 1", 1, []), ("", None, []), ("b = 2", None, [])), status)
    assert status.problems == ["cell 3: not executed top to bottom in one fresh kernel (never executed)"]


def test_a_clean_executed_notebook_has_no_problems():
    from workbook.check import NotebookStatus, inspect_executed

    status = NotebookStatus("nb")
    inspect_executed(_executed(("a = 1", 1, _stream("[PASS] x: ok\n[PASS] y: ok\n")), ("b = 2", 2, [])), status)
    assert status.problems == [] and status.checks_passed == 2


def test_cover_page_sets_names_as_text_never_as_typst_markup(tmp_path):
    """Names are user input: Typst's markup characters in them must come out as typed."""
    from workbook import submission
    from workbook.check import Report

    name = 'Jürgen "Q" Müller #x [a] $y$ \\z *b* _c_ @d <e> //f'
    config = submission.Config(students=[submission.Student(name, "123456")], group="Group #2 [Tue]")
    target = tmp_path / "cover.pdf"
    submission._cover_page(target, config, [], Report(notebooks=[]), partial=True)
    text = PdfReader(target).pages[0].extract_text()
    print(text)
    assert name in text and "student ID 123456" in text and "Group #2 [Tue]" in text
    assert "PARTIAL SUBMISSION" in text


def test_the_copied_example_config_is_named_as_what_to_edit(tmp_path, capsys):
    """A submission.toml still holding the example's names: the fix is to edit it, not to copy it again."""
    from workbook.submission import EXAMPLE_CONFIG, load_config

    config = tmp_path / "submission.toml"
    config.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    load_config(config)
    warning = capsys.readouterr().err
    assert "lists no real student names" in warning
    assert "replace the example entries in submission.toml" in warning and "copy " not in warning
