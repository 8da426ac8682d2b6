"""The build's commands, each a straight pipeline: execute -> check -> export -> merge.

``run`` executes; ``check`` executes and checks; ``pdf`` executes, checks,
exports each notebook as soon as it has executed, and merges the submission;
``zip`` adds the zip; ``blank`` writes the student copies. Every command takes
:class:`~workbook.options.Options` and a :class:`~workbook.events.Reporter`,
and raises a :class:`~workbook.errors.WorkbookError` that says what to fix.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any


from . import check, environment, execute, export, submission
from .errors import BuildError
from .events import Event, Reporter
from .iorw import read_json, write_json
from .options import Options


def check_environment() -> None:
    """Fail with one clear message when the environment lacks a package the build needs."""
    def importable(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            return False

    missing = [name for name in execute.REQUIRED_MODULES if not importable(name)]
    if missing:
        raise BuildError(
            f"the environment is missing the package(s) {', '.join(missing)} (Python: {sys.executable}).\n"
            "Fix: run `make setup` (or delete .venv/.installed and run it) to install the pinned requirements."
        )


def check_build_dir_writable(build: Path) -> None:
    try:
        build.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=build, prefix=".write-test.", delete=True)
        probe.close()
    except OSError as err:
        raise BuildError(
            f"cannot write to the build directory {build}: {err.strerror}.\n"
            f"Fix: make it writable (`chmod -R u+w {build}`) or build elsewhere with WORKBOOK_BUILD_DIR=/some/writable/dir."
        ) from err


def check_folder(reporter: Reporter) -> None:
    """This folder's code and data in every kernel; a clear word when the environment is another folder's."""
    environment.use_this_folder()
    message, fatal = environment.foreign_environment()
    if message and fatal:
        raise BuildError(message)
    if message:
        reporter.line(f"warning: {message}\n  (This build uses this folder's notebooks, helpers and data all the same.)")


def save_record(command: str, options: Options, reporter: Reporter) -> None:
    """Keep this build's events beside the execution times (``build/executed/timings.json``)."""
    path = execute.timings_path()
    record = read_json(path)
    record = record if isinstance(record, dict) else {}
    record["last_build"] = {"command": command, "parameters": options.parameters, **reporter.record()}
    write_json(path, record)


def _failure_details(failures: list[execute.ExecutionFailure]) -> str:
    return "".join(f.message + "\n\n" for f in failures)


def cmd_run(options: Options, reporter: Reporter) -> None:
    reporter.line(f"executing notebooks (quick={options.quick}, seed={options.seed}, device={options.device}) "
                  f"into {execute.executed_dir()}")
    _, failures = execute.run(options, reporter)
    if failures:
        raise BuildError("\n\n".join(f.message for f in failures))


def cmd_check(options: Options, reporter: Reporter) -> check.Report:
    _, failures = execute.run(options, reporter)
    report = check.check_notebooks(options.notebooks, failures)
    reporter.line(report.table())
    if not report.ok:
        raise BuildError(_failure_details(failures) + report.summary())
    return report


def _timed_export(executed: Path, engine: str, metadata: dict, mark: bool) -> tuple[Path, float | None]:
    """Export in a worker; the seconds it took, or None when the PDF was up to date."""
    start = time.perf_counter()
    target, written = export.export_notebook(executed, engine, metadata, mark_problems=mark)
    return target, (time.perf_counter() - start) if written else None


def current_sources(options: Options) -> dict[str, Any]:
    """What each notebook would be executed from now: the key that tells a stale submission PDF."""
    common = execute.common_inputs()
    sources = {}
    for name in options.notebooks:
        try:
            sources[name] = execute.execution_inputs(name, options, common)
        except OSError:
            sources[name] = None  # a missing notebook: nothing built earlier can match it
    return sources


def report_export(reporter: Reporter, name: str, future: Future) -> None:
    """Report how one background export ended; a cancelled one (the build stopped first) ends silently."""
    if future.cancelled():
        return
    error = future.exception()
    if error is None:
        seconds = future.result()[1]
        if seconds is not None:  # None: an up-to-date PDF, already reported with its notebook
            reporter(Event("exported", name, seconds=round(seconds, 3)))
    else:
        reporter(Event("export_failed", name, message=(str(error).splitlines() or [type(error).__name__])[0]))


def cmd_pdf(options: Options, reporter: Reporter, keep_zip: bool = False) -> Path:
    """Execute, check, export (each notebook as soon as it has executed) and merge the submission.

    Refuses while anything is wrong, unless ``options.partial``: then every cell
    runs, also after an error, and the PDF marks what is unfinished. After any
    failure (a refusal, a broken ``submission.toml``, an engine or merge error,
    Ctrl-C) an earlier ``submission.pdf`` that no longer matches the notebooks is
    renamed ``submission.stale.pdf``, and ``submission.zip`` with it. A new PDF
    retires the zip of the old one, unless ``keep_zip`` (``make zip`` writes a
    new zip at once).
    """
    try:
        target, written = _build_pdf(options, reporter)
    except (export.ExportError, BuildError) as err:
        raise BuildError(str(err) + _retire_note(options)) from err
    except BaseException:  # an interruption or an internal error: still no stale PDF under its name
        print(_retire_note(options).strip(), file=sys.stderr)
        raise
    if written and not keep_zip:
        note = submission.retire_zip("it holds the PDF of an earlier build")
        if note:
            reporter.line(note)
    return target


def _retire_note(options: Options) -> str:
    """Retire a stale submission after a failure; the sentence for the message. Never raises:
    the failure that brought us here is the one to report."""
    try:
        return submission.retire_stale(current_sources(options))
    except Exception as err:  # noqa: BLE001
        return (f"\nCould not check whether build/submission.pdf is stale ({type(err).__name__}: {err}); "
                "do not hand it in before a build succeeds.")


def _build_pdf(options: Options, reporter: Reporter) -> tuple[Path, bool]:
    # what the notebooks are executed from, taken before they run: a notebook saved during the
    # build then makes this PDF stale, as it is
    sources = current_sources(options)
    engine = export.choose_engine()  # fail before any work when no PDF engine exists
    reporter.line(f"PDF engine: {engine.description}" + ("; partial submission (PARTIAL=1)" if options.partial else ""))
    config = submission.load_config(strict=options.strict)
    pool = ProcessPoolExecutor(max_workers=2)
    exports: dict[str, Future] = {}

    def start_export(result: execute.Executed) -> None:  # export a notebook while the next one executes
        future = pool.submit(_timed_export, result.path, engine.name, config.metadata(), options.partial)

        future.add_done_callback(lambda f, name=result.name: report_export(reporter, name, f))
        exports[result.name] = future

    try:
        _, failures = execute.run(options, reporter, on_executed=start_export)
        report = check.check_notebooks(options.notebooks, failures)
        reporter.line(report.table())
        if failures or (not report.ok and not options.partial):
            raise BuildError(_failure_details(failures) + report.summary())
        pdfs = []
        for name in options.notebooks:
            try:
                pdfs.append(exports[name].result()[0])
            except export.ExportError as err:
                raise BuildError(str(err)) from err
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    target, written = submission.merge(pdfs, config, report, sources=sources, partial=options.partial)
    if options.partial and not report.ok:
        unfinished = "; ".join(f"{n.name}: {n.count_line()}" + ("; exercise markers broken" if n.markers else "")
                               for n in report.notebooks if n.unfinished)
        reporter.line(f"PARTIAL submission: {unfinished or 'problems listed above'}")
    reporter.line(f"submission {'written' if written else 'up to date'}: {target}")
    if options.quick:
        reporter.line("QUICK=1: a smoke run with very little training, and its cover says so; "
                      "run `make pdf` without QUICK=1 for the PDF you hand in")
    return target, written


def cmd_zip(options: Options, reporter: Reporter) -> None:
    pdf = cmd_pdf(options, reporter, keep_zip=True)
    try:
        target = submission.make_zip(pdf, [execute.executed_dir() / f"{n}.ipynb" for n in options.notebooks])
    except BaseException:
        note = submission.retire_zip("the new zip could not be written; it held an earlier PDF")
        if note:
            print(note.strip(), file=sys.stderr)
        raise
    reporter.line(f"zip written: {target}")


def cmd_blank(options: Options, reporter: Reporter) -> None:
    from .blank import write_blanks

    for target in write_blanks(force=options.force):
        reporter.line(f"  blank copy: {target}")


COMMANDS = {"run": cmd_run, "check": cmd_check, "pdf": cmd_pdf, "zip": cmd_zip, "blank": cmd_blank}
