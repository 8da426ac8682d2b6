"""Progress as data: the events a build records, and the lines its one printer writes."""

from __future__ import annotations

import io
import json
import re
import threading

import pytest

from workbook.events import Event, Reporter, notebook_times

PLAIN_LINE = re.compile(r"^\[\s*\d+\.\d s\] \S+: (executing \(\d+ cells\)|cell \d+/\d+|executed in \d+\.\d s|FAILED \(.*\)|PDF written \(\d+\.\d s\)|up to date)$")


def test_plain_lines_never_interleave_when_workers_report_at_once():
    stream = io.StringIO()
    reporter = Reporter(stream, live=False)
    names = [f"notebook_{i}" for i in range(4)]

    def worker(name: str) -> None:
        reporter(Event("started", name, cells=50))
        for cell in range(1, 51):
            reporter(Event("cell", name, cell=cell, cells=50, wall=reporter.start + cell))  # 1 s a cell
        reporter(Event("executed", name, seconds=50.0))

    threads = [threading.Thread(target=worker, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = stream.getvalue().splitlines()
    print("\n".join(lines[:8]))
    bad = [line for line in lines if not PLAIN_LINE.match(line)]
    assert not bad, bad
    for name in names:
        mine = [line for line in lines if f" {name}: " in line]
        assert mine[0].endswith(f"{name}: executing (50 cells)") and mine[-1].endswith(f"{name}: executed in 50.0 s")
        progress = [line for line in mine if ": cell " in line]
        assert 3 <= len(progress) <= 6, progress  # one line every 10 s of a 50 s notebook, not one per cell
    assert len(reporter.events) == 4 * 52


def test_the_record_gives_each_notebooks_times():
    reporter = Reporter(io.StringIO(), live=False)
    t0 = reporter.start
    for kind, wall, seconds in [("started", 1.0, None), ("executed", 21.0, 20.0), ("exported", 23.5, 2.5)]:
        reporter(Event(kind, "nb", wall=t0 + wall, seconds=seconds, cells=3 if kind == "started" else None))
    record = json.loads(json.dumps(reporter.record()))  # what timings.json holds
    assert notebook_times(record) == {"nb": {"started_at": 1.0, "executed_at": 21.0, "execute_s": 20.0,
                                             "exported_at": 23.5, "export_s": 2.5}}


def test_unknown_event_kind_is_refused():
    with pytest.raises(ValueError, match="unknown event kind 'finished'"):
        Event("finished", "nb")


def test_live_mode_draws_one_line_per_notebook():
    stream = io.StringIO()
    reporter = Reporter(stream, live=True)
    reporter(Event("started", "a", cells=4))
    reporter(Event("started", "b", cells=2))
    for cell in range(1, 5):
        reporter(Event("cell", "a", cell=cell, cells=4))
    reporter(Event("executed", "a", seconds=1.5))
    reporter.close()
    text = stream.getvalue()
    assert "4/4 cells" in text and "executed in 1.5 s" in text and "0/2 cells" in text


def test_a_build_saves_its_events(mini_built):
    """The mini build's record: every notebook started, ran its cells, executed and was exported, in that order."""
    record = json.loads((mini_built.build / "executed" / "timings.json").read_text(encoding="utf-8"))
    assert record["last_build"]["command"] == "pdf"
    times = notebook_times(record["last_build"])
    for name, entry in times.items():
        print(name, entry)
        assert entry["started_at"] <= entry["executed_at"] <= entry["exported_at"]
        assert entry["execute_s"] > 0 and entry["export_s"] > 0
    events = record["last_build"]["events"]
    cells = [e for e in events if e["kind"] == "cell" and e["notebook"] == "01_inclass_pytorch"]
    assert [e["cell"] for e in cells] == list(range(1, cells[0]["cells"] + 1))
    assert set(record["execute_s"]) == set(times)


def test_an_export_cancelled_by_a_stopping_build_reports_nothing_and_raises_nothing():
    """A build that stops on an error cancels exports not yet begun; their callbacks must stay quiet."""
    from concurrent.futures import Future

    from workbook.commands import report_export

    reporter = Reporter(io.StringIO(), live=False)
    cancelled = Future()
    assert cancelled.cancel()
    report_export(reporter, "nb_cancelled", cancelled)  # before the fix: CancelledError and a traceback
    finished, failed = Future(), Future()
    finished.set_result(("nb.pdf", 0.25))
    failed.set_exception(RuntimeError("typst: bad input\nmore detail"))
    report_export(reporter, "nb_done", finished)
    report_export(reporter, "nb_failed", failed)
    seen = [(e.kind, e.notebook) for e in reporter.events]
    print(seen)
    assert seen == [("exported", "nb_done"), ("export_failed", "nb_failed")]
    assert reporter.events[1].message == "typst: bad input"


@pytest.mark.parametrize("live", [False, True])
def test_a_kernel_retry_is_one_whole_line_in_both_modes(live):
    stream = io.StringIO()
    reporter = Reporter(stream, live=live)
    retry = "the kernel died as it started (attempt 1 of 3; its error is above); starting a new one"
    for event in (Event("started", "nb", cells=3), Event("kernel_retry", "nb", message=retry),
                  Event("started", "nb", cells=3), Event("cell", "nb", cell=3, cells=3)):
        reporter(event)
    reporter.close()
    lines = [part.strip() for part in re.split(r"[\r\n]", stream.getvalue()) if part.strip()]
    said = [line for line in lines if "kernel died" in line]
    expected = re.escape(f"nb: {retry}")
    assert len(said) == 1 and re.fullmatch(expected if live else r"\[\s*\d+\.\d s\] " + expected, said[0]), said
    assert [e.kind for e in reporter.events] == ["started", "kernel_retry", "started", "cell"]
