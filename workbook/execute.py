"""Executing notebooks: a fresh kernel each, in parallel, only when their inputs changed.

A notebook is executed again only when something it can read changed: its
source, the ``helpers`` package it imports, the data, the pinned requirements,
or its parameters (content hashes in ``build/executed/<name>.inputs.json``).
The build tool itself (this package) is not among them: changing how the
submission is built re-executes no notebook.

Workers report :class:`~workbook.events.Event` records (started, each cell,
executed, failed) to the main process, which alone prints them.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from helpers import paths

from .errors import UNREADABLE, BuildError, cell_error_text
from .events import Event, Forwarder
from .iorw import atomic_write, content_hash, load_notebook_json, notebook_source, read_json, tree_hash, write_json
from .options import Options

#: Seconds one cell may run before the build gives up on it.
CELL_TIMEOUT_S = 900
#: Packages the build needs; checked up front so a broken environment gets one clear message.
REQUIRED_MODULES = ("papermill", "nbformat", "nbconvert", "nbclient", "pypdf", "ipykernel", "matplotlib", "numpy", "torch")

# nbformat validates notebooks with jsonschema, and jsonschema's optional checker for the "iri"
# string format imports rfc3987_syntax, which compiles a grammar on import: about 2 s in every
# build process, for a format that no notebook schema uses. Marking the module absent makes
# jsonschema skip that one checker; only the build and the workers it starts are affected (the
# kernels are separate processes). tests/test_build.py checks that notebooks are still validated.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]


@dataclass
class Executed:
    """An executed notebook, ready to check and export."""

    name: str
    path: Path
    with_errors: bool = False  # partial mode: executed to the end, some cells failed


@dataclass
class ExecutionFailure:
    name: str
    message: str


def executed_dir() -> Path:
    return paths.build_dir() / "executed"


def timings_path() -> Path:
    return executed_dir() / "timings.json"


# --- what a notebook can read --------------------------------------------------------------------


def helpers_fingerprint() -> str:
    """Hash of the whole ``helpers`` package: everything a notebook can import from the workbook."""
    return tree_hash(paths.HELPERS, "*.py")


def data_fingerprint() -> str:
    """Hash of every shipped data file (so a corrupted file re-runs, and fails, the notebooks)."""
    return tree_hash(paths.DATA, "*")


def common_inputs() -> dict[str, str]:
    return {
        "helpers": helpers_fingerprint(),
        "data": data_fingerprint(),
        "requirements": content_hash(paths.REQUIREMENTS.read_bytes()),
    }


def execution_inputs(name: str, options: Options, common: dict[str, str]) -> dict[str, Any]:
    return {"notebook": content_hash(notebook_source(name).read_bytes()), "parameters": options.parameters,
            "partial": options.partial, **common}


# --- one notebook, in a worker ---------------------------------------------------------------------

_send: Forwarder = Forwarder(None)


def _init_worker(queue: Any) -> None:
    global _send
    _send = Forwarder(queue)


#: How often a kernel that dies as it starts, before any cell ran, is started again. Jupyter's
#: client picks the kernel's five TCP ports and the kernel binds them a moment later; in between,
#: another process can take one (two notebooks start at once here), and the kernel exits with
#: "ZMQError: Address already in use" (the race is described in posit-dev/positron#5799).
KERNEL_START_ATTEMPTS = 3
KERNEL_DIED_AT_START = "Kernel died before replying to kernel_info"  # jupyter_client's wording


def kernel_died_at_start(err: BaseException) -> bool:
    return isinstance(err, RuntimeError) and str(err).startswith(KERNEL_DIED_AT_START)


def _reporting_engine(name: str) -> str:
    """Register (once per process) a papermill engine that reports each finished cell, and starts a
    kernel again (new ports) when one dies before any cell ran; return the engine's name."""
    from papermill.engines import NBClientEngine, papermill_engines

    class ReportingEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            total = len(nb_man.nb.cells)
            begin, finish = nb_man.cell_start, nb_man.cell_complete
            cells_started = 0

            def cell_start(cell, cell_index=None, **kw):
                nonlocal cells_started
                cells_started += 1
                return begin(cell, cell_index=cell_index, **kw)

            def cell_complete(cell, cell_index=None, **kw):
                result = finish(cell, cell_index=cell_index, **kw)
                _send(Event("cell", name, cell=(cell_index or 0) + 1, cells=total))
                return result

            nb_man.cell_start, nb_man.cell_complete = cell_start, cell_complete
            for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
                _send(Event("started", name, cells=total))
                try:
                    return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
                except RuntimeError as err:
                    if cells_started or not kernel_died_at_start(err) or attempt == KERNEL_START_ATTEMPTS:
                        raise
                    _send(Event("kernel_retry", name, message=(
                        f"the kernel died as it started (attempt {attempt} of {KERNEL_START_ATTEMPTS}; "
                        "its error is above); starting a new one")))
            raise AssertionError("unreachable")

    engine = f"workbook-{name}"
    papermill_engines.register(engine, ReportingEngine)
    return engine


def _injected_before(executed: Path, cell_index: int) -> bool:
    """Whether papermill inserted its parameters cell before cell ``cell_index`` of ``executed``."""
    nb = read_json(executed) or {}
    return any("injected-parameters" in c.get("metadata", {}).get("tags", []) for c in nb.get("cells", [])[:cell_index])


def describe_failure(name: str, err: Exception, failed_copy: Path) -> str:
    """One message naming the notebook, the cell and the error."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        first_line = next((ln.strip() for ln in err.source.splitlines() if ln.strip()), "")
        if len(first_line) > 70:
            first_line = first_line[:69] + "…"  # cut visibly, not in the middle of a word as if it ended there
        # papermill counts its injected-parameters cell; number cells as the student's notebook does
        cell = err.cell_index + (0 if _injected_before(failed_copy, err.cell_index) else 1)
        message = (
            f"{name}.ipynb failed in cell {cell} (In [{err.exec_count}]: {first_line})\n"
            f"  {err.ename}: {cell_error_text(err.ename, str(err.evalue))}"
        )
        if err.ename in UNREADABLE:
            message += ("\n  Python could not read this cell, so none of it ran: fix the line named above "
                        "(counted from the cell's first line).")
        elif err.ename == "NotImplementedError":
            message += "\n  This is an exercise that is not filled in yet: write its solution, then run the build again."
        elif err.ename == "CheckFailed":
            message += "\n  A check failed: the line above says what was compared; fix the exercise before it."
        elif err.ename == "DataError":
            message += "\n  See the data error above for how to restore the file."
    else:
        message = f"{name}.ipynb could not be executed: {type(err).__name__}: {err}"
        if kernel_died_at_start(err):
            message += (
                f"\n  The kernel died {KERNEL_START_ATTEMPTS} times as it started, before running any cell; "
                "its own error is printed above.\n"
                "  'Address already in use': other programs keep taking the kernel's ports; run the build again.\n"
                "  Anything else: the kernel's environment is broken; remove .venv and run `make setup` again."
            )
    if failed_copy.exists():  # none when the kernel never ran a cell
        message += f"\n  The executed copy with the full traceback: {failed_copy}"
    return message


def execute(name: str, options: Options, inputs: dict[str, Any]) -> tuple[float, bool]:
    """Execute one notebook with papermill in a fresh kernel.

    Returns (seconds, with_errors). In partial mode every cell runs even after
    an error, and the executed copy is kept with its errors (``with_errors``).
    """
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel
    from papermill.exceptions import PapermillExecutionError

    out_dir = executed_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.ipynb"
    failed_copy = out_dir / f"{name}.failed.ipynb"
    start = time.perf_counter()
    os.environ["WORKBOOK_BUILD_DIR"] = str(paths.build_dir())  # the kernel inherits it
    with_errors = False

    def run_papermill(tmp: Path) -> None:
        """Execute into ``tmp``; atomic_write renames it into place only when this returns."""
        nonlocal with_errors
        try:
            papermill.execute_notebook(
                str(notebook_source(name)),
                str(tmp),
                parameters=options.parameters,
                kernel_name=paths.KERNEL_NAME,
                engine_name=_reporting_engine(name),
                cwd=str(paths.NOTEBOOKS),
                progress_bar=False,
                execution_timeout=CELL_TIMEOUT_S,
                # papermill would otherwise rewrite the whole notebook, images included, before and after
                # every cell: about 0.1 s a cell. It still writes the notebook once at the end, and on a
                # cell's error.
                request_save_on_cell_execute=False,
                # Once the last cell has run, its outputs are collected and every file the notebook writes
                # is already in place (atomic writes), so the kernel is stopped at once instead of waiting
                # for Python to tear down torch and matplotlib: 3 s less per notebook (make bench, 2 cores).
                shutdown_kernel="immediate",
                # partial mode: run every cell even after an error (nbclient's allow_errors)
                **({"allow_errors": True} if options.partial else {}),
            )
        except NoSuchKernel as err:
            raise BuildError(f"the Jupyter kernel '{paths.KERNEL_NAME}' is not installed.\n"
                             "Fix: run `make setup`.") from err
        except PapermillExecutionError as err:
            if not (options.partial and tmp.exists() and tmp.stat().st_size):
                _keep_failed(tmp, failed_copy)
                raise BuildError(describe_failure(name, err, failed_copy)) from err
            with_errors = True  # every cell ran; the errors stay in the executed copy and are reported
        except BaseException as err:
            if not isinstance(err, KeyboardInterrupt):
                _keep_failed(tmp, failed_copy)
            if isinstance(err, Exception) and not isinstance(err, BuildError):
                raise BuildError(describe_failure(name, err, failed_copy)) from err
            raise

    atomic_write(target, run_papermill)
    if not with_errors:
        failed_copy.unlink(missing_ok=True)
    write_json(out_dir / f"{name}.inputs.json", {**inputs, "with_errors": with_errors})
    return time.perf_counter() - start, with_errors


def _keep_failed(tmp: Path, failed_copy: Path) -> None:
    if tmp.exists() and tmp.stat().st_size:
        os.chmod(tmp, 0o644)  # readable like the executed copies (the temporary file was private)
        os.replace(tmp, failed_copy)
    else:  # nothing ran: an earlier run's failed copy would describe another failure
        failed_copy.unlink(missing_ok=True)
    tmp.unlink(missing_ok=True)


def _execute_and_report(name: str, options: Options, inputs: dict[str, Any]) -> tuple[float, bool]:
    """The worker's job: execute, and report the outcome as an event."""
    try:
        seconds, with_errors = execute(name, options, inputs)
    except BuildError as err:
        _send(Event("failed", name, message=str(err).splitlines()[0]))
        raise
    _send(Event("executed", name, seconds=round(seconds, 3), message="with errors" if with_errors else None))
    return seconds, with_errors


# --- all notebooks ------------------------------------------------------------------------------


def parallel_jobs(count: int) -> int:
    """How many notebooks to execute at once: ``$WORKBOOK_JOBS``, else one per CPU core."""
    wanted = int(os.environ.get("WORKBOOK_JOBS", "0") or 0) or (os.cpu_count() or 1)
    return max(1, min(wanted, count))


#: Full-mode execution seconds on 2 CPU cores (make bench): the order of a cold build, before
#: build/executed/timings.json holds this machine's own times. The slowest must start first.
TYPICAL_SECONDS = {"03_exercise_mnist1d": 80.0, "01_inclass_pytorch": 19.0, "02_homework_linear_vs_relu": 9.0}


def recorded_seconds() -> dict[str, float]:
    """The last execution time of each notebook on this machine (``timings.json``)."""
    record = read_json(timings_path()) or {}
    seconds = record.get("execute_s", {}) if isinstance(record, dict) else {}
    return {k: float(v) for k, v in seconds.items() if isinstance(v, (int, float))}


def slowest_first(names: Iterable[str], timings: dict[str, float]) -> list[str]:
    """``names`` ordered by their last recorded execution time, else their typical one, slowest first."""
    return sorted(names, key=lambda n: -float(timings.get(n, TYPICAL_SECONDS.get(n, 0.0))))


def _listen(queue: Any, report: Callable[[Event], None]) -> None:
    while True:
        event = queue.get()
        if event is None:
            return
        report(event)


def run(options: Options, report: Callable[[Event], None],
        on_executed: Callable[[Executed], None] | None = None) -> tuple[list[Executed], list[ExecutionFailure]]:
    """Execute every notebook whose inputs changed. Keeps going after a failure, so all are reported.

    Notebooks run in parallel, one per CPU core, slowest first; each kernel is
    then limited to one BLAS/OpenMP thread so that the kernels do not fight over
    the cores. ``on_executed`` is called as each notebook is ready (to start its
    export while the others still run).
    """
    common = common_inputs()
    results: dict[str, Executed] = {}
    failures: dict[str, ExecutionFailure] = {}
    todo: dict[str, dict[str, Any]] = {}
    for name in options.notebooks:
        try:
            load_notebook_json(notebook_source(name))  # a broken file is reported before papermill sees it
        except BuildError as err:
            failures[name] = ExecutionFailure(name, str(err))
            report(Event("failed", name, message="not a valid notebook"))
            continue
        inputs = execution_inputs(name, options, common)
        target = executed_dir() / f"{name}.ipynb"
        stamp = read_json(executed_dir() / f"{name}.inputs.json") or {}
        if target.exists() and {k: v for k, v in stamp.items() if k != "with_errors"} == inputs:
            results[name] = Executed(name, target, bool(stamp.get("with_errors")))
            report(Event("up_to_date", name))
            if on_executed:
                on_executed(results[name])
        else:
            todo[name] = inputs
    if not todo:
        return [results[n] for n in options.notebooks if n in results], [failures[n] for n in options.notebooks if n in failures]

    timings = recorded_seconds()
    order = slowest_first(todo, timings)
    jobs = parallel_jobs(len(order))
    if jobs > 1:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")  # inherited by every kernel
    for name in order:
        report(Event("queued", name))
    context = multiprocessing.get_context()
    queue = context.Queue()
    listener = threading.Thread(target=_listen, args=(queue, report), daemon=True)
    listener.start()
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=(queue,))
    try:
        futures = {pool.submit(_execute_and_report, name, options, todo[name]): name for name in order}
        for future in as_completed(futures):
            name = futures[future]
            try:
                seconds, with_errors = future.result()
            except BuildError as err:
                failures[name] = ExecutionFailure(name, str(err))
                continue
            results[name] = Executed(name, executed_dir() / f"{name}.ipynb", with_errors)
            timings[name] = round(seconds, 2)
            if on_executed:
                on_executed(results[name])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        queue.put(None)
        listener.join(timeout=10)
    record = read_json(timings_path())
    record = record if isinstance(record, dict) else {}
    record["execute_s"] = timings
    write_json(timings_path(), record)
    done = [results[n] for n in options.notebooks if n in results]
    return done, [failures[n] for n in options.notebooks if n in failures]
